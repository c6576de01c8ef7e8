//! The real binary's window under Xvfb (Mesa's software OpenGL): `creditlens gui --screenshot` opens on the
//! embedded demo, saves a screenshot once the first scores are drawn, and exits. The screenshot must show the
//! heatmap. Needs `xvfb-run` (installed by `.ci/run`).

use crate::util::{s, temp};
use creditlens::heatmap::{Colormap, Rgb, Theme};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `creditlens gui --screenshot DIR/shot.png ARGS` under Xvfb in `dir` with `envs`, asserting success; the
/// screenshot's path. Without `xvfb-run`, the test is skipped outside CI (`CI=true` makes it required).
fn screenshot(dir: &Path, args: &[&str], envs: &[(&str, &Path)]) -> Option<PathBuf> {
    let shot = dir.join("shot.png");
    let runtime = dir.join("xdg");
    std::fs::create_dir_all(&runtime).unwrap();
    let mut command = Command::new("xvfb-run");
    command
        .args(["-a", "-s", "-screen 0 1600x1000x24"])
        .arg(env!("CARGO_BIN_EXE_creditlens"))
        .args(["gui", "--screenshot", &s(&shot)])
        .args(args)
        .env("XDG_RUNTIME_DIR", &runtime)
        .current_dir(dir);
    for (k, v) in envs {
        command.env(k, v);
    }
    let output = match command.output() {
        Ok(o) => o,
        Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!(
                "skipped: xvfb-run is needed ({e}): apt-get install xvfb xauth (see .ci/run)"
            );
            return None;
        }
        Err(e) => panic!(
            "xvfb-run is needed for this test ({e}): apt-get install xvfb xauth (see .ci/run)"
        ),
    };
    assert!(
        output.status.success(),
        "the app failed under Xvfb\n--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Some(shot)
}

#[test]
fn gui_screenshot_under_xvfb_shows_the_heatmap() {
    let dir = temp();
    let Some(shot) = screenshot(dir.path(), &[], &[]) else {
        return;
    };
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

/// `--window-size` wins over the size eframe remembers from the last run (issue 28, defect 5).
#[test]
fn the_window_size_given_wins_over_the_remembered_one() {
    let dir = temp();
    // What eframe writes when a 1400x880 window closes: its storage file with the window's geometry.
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("creditlens")).unwrap();
    let window = "(normal_geometry:(outer_position_pixels:Some((x:0.0,y:0.0)),scale_factor:1.0,inner_size_points:(x:1400.0,y:880.0)),fullscreen:false,maximized:false)";
    std::fs::write(
        data.join("creditlens/app.ron"),
        format!("{{\"window\":{window:?}}}"),
    )
    .unwrap();
    let Some(shot) = screenshot(
        dir.path(),
        &["--window-size", "900x560"],
        &[("XDG_DATA_HOME", data.as_path())],
    ) else {
        return;
    };
    let img = image::open(&shot).expect("a PNG screenshot");
    assert_eq!((img.width(), img.height()), (900, 560));
}
