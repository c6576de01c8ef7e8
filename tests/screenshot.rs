//! The real binary's window under Xvfb (Mesa's software OpenGL): `creditlens gui --screenshot` opens on the
//! embedded demo, saves a screenshot once the first scores are drawn, and exits. The screenshot must show the
//! heatmap. Needs `xvfb-run` (installed by `.ci/run`).

use crate::util::{s, temp};
use creditlens::heatmap::{Colormap, Rgb, Theme};
use std::collections::HashSet;
use std::process::Command;

#[test]
fn gui_screenshot_under_xvfb_shows_the_heatmap() {
    let dir = temp();
    let shot = dir.path().join("shot.png");
    let runtime = dir.path().join("xdg");
    std::fs::create_dir_all(&runtime).unwrap();
    let output = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1600x1000x24"])
        .arg(env!("CARGO_BIN_EXE_creditlens"))
        .args(["gui", "--screenshot", &s(&shot)])
        .env("XDG_RUNTIME_DIR", &runtime)
        .current_dir(dir.path())
        .output()
        .expect("xvfb-run is needed for this test: apt-get install xvfb xauth (see .ci/run)");
    assert!(
        output.status.success(),
        "the app failed under Xvfb\n--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let img = image::open(&shot).expect("a PNG screenshot").to_rgb8();
    assert!(
        img.width() >= 700 && img.height() >= 450,
        "{:?}",
        img.dimensions()
    );
    let colours: HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    assert!(
        colours.len() > 50,
        "the screenshot looks blank ({} colours)",
        colours.len()
    );
    // Chip fills are exact colormap colours; count pixels of saturated ones (|t| >= 0.4), red and blue, below
    // the toolbar (whose colour bar has them too).
    let cmap = Colormap::for_theme(Theme::Light);
    let ramp = |range: std::ops::RangeInclusive<i32>| -> HashSet<[u8; 3]> {
        range
            .map(|k| {
                let Rgb(r, g, b) = cmap.at(f64::from(k) / 1000.0);
                [r, g, b]
            })
            .collect()
    };
    let (red, blue) = (ramp(-1000..=-400), ramp(400..=1000));
    let below_toolbar = || {
        img.enumerate_pixels()
            .filter(|(_, y, _)| *y > 80)
            .map(|(_, _, p)| p.0)
    };
    let red_px = below_toolbar().filter(|p| red.contains(p)).count();
    let blue_px = below_toolbar().filter(|p| blue.contains(p)).count();
    assert!(
        red_px > 300,
        "no strongly negative (red) token chips in the screenshot: {red_px} pixels"
    );
    assert!(red_px + blue_px > 300);
}
