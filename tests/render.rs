//! The PNG heatmap: `creditlens render` as a user runs it, and its pixels checked against the colormap at the
//! rewards the scorer computed.

use crate::util::{creditlens, fixtures, model, s, temp};
use creditlens::data::read_entries;
use creditlens::heatmap::{Colormap, Metric, Rgb, ScaleMode, Theme};
use creditlens::render::{HeatmapSpec, RenderOptions, render};
use creditlens::score::{ScoreOptions, Scorer};

fn pixel(img: &image::RgbaImage, x: u32, y: u32) -> Rgb {
    let p = img.get_pixel(x, y).0;
    Rgb(p[0], p[1], p[2])
}

fn close(a: Rgb, b: Rgb) -> bool {
    let d = |x: u8, y: u8| (i16::from(x) - i16::from(y)).abs();
    d(a.0, b.0) <= 2 && d(a.1, b.1) <= 2 && d(a.2, b.2) <= 2
}

#[test]
fn render_writes_a_png_whose_token_boxes_have_the_colormap_colours() {
    let dir = temp();
    let out = dir.path().join("heatmap.png");
    let data = fixtures().join("records.jsonl");
    creditlens(
        dir.path(),
        &[
            "render",
            "--policy",
            &s(&model("llama")),
            "--reference",
            &s(&model("llama_ref")),
            "--data",
            &s(&data),
            "--index",
            "0",
            "--out",
            &s(&out),
        ],
    )
    .ok();
    let png = image::open(&out).expect("decode the PNG").to_rgba8();

    // The same record scored in-process gives the rewards and the layout; the file must match it exactly.
    let scorer = Scorer::load(
        &model("llama"),
        &model("llama_ref"),
        "f32",
        ScoreOptions {
            top_k: 0,
            ..ScoreOptions::default()
        },
    )
    .expect("load");
    let entries = read_entries(&data).expect("read");
    let record = entries[0].record.as_ref().expect("record");
    let scored = scorer.score_record(0, record).expect("score");
    let spec = HeatmapSpec::for_record(&scored, Metric::Reward, ScaleMode::default());
    let rendered = render(&spec, &RenderOptions::default()).expect("render");
    assert_eq!(png.dimensions(), rendered.image.dimensions());
    let cmap = Colormap::for_theme(Theme::Light);
    let responses = scored.responses();
    assert!(!rendered.boxes.is_empty());
    let mut distinct = std::collections::HashSet::new();
    for b in &rendered.boxes {
        let reward = responses[b.response].1.tokens[b.token].reward;
        let expected = cmap.at(reward / spec.scale.limit);
        // A pixel in the chip's padding (no glyph there).
        let got = pixel(&png, b.rect[0] + 1, b.rect[1] + 1);
        assert!(
            close(got, expected),
            "token {} of response {}: reward {reward:.4} should be {expected:?}, the PNG has {got:?}",
            b.token,
            b.response
        );
        distinct.insert(got);
    }
    assert!(
        distinct.len() > 3,
        "the tokens should not all have one colour"
    );

    // The colour bar: its ends are the colormap's ends, its middle the neutral colour.
    let [x0, y0, x1, y1] = rendered.colorbar;
    let y = (y0 + y1) / 2;
    assert!(close(pixel(&png, x0, y), cmap.at(-1.0)));
    assert!(close(pixel(&png, x1 - 1, y), cmap.at(1.0)));
    assert!(close(pixel(&png, (x0 + x1) / 2, y), cmap.neutral()));
}

#[test]
fn render_never_overwrites_without_force_and_checks_the_index() {
    let dir = temp();
    let out = dir.path().join("keep.png");
    std::fs::write(&out, b"precious").unwrap();
    let args = |extra: &[&str]| {
        let mut v = vec![
            "render".to_string(),
            "--policy".into(),
            s(&model("llama")),
            "--reference".into(),
            s(&model("llama_ref")),
            "--data".into(),
            s(&fixtures().join("records.jsonl")),
            "--out".into(),
            s(&out),
        ];
        v.extend(extra.iter().map(|x| x.to_string()));
        v
    };
    let run = |v: Vec<String>| {
        let refs: Vec<&str> = v.iter().map(String::as_str).collect();
        creditlens(dir.path(), &refs)
    };
    run(args(&[])).fails_with("already exists");
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    run(args(&["--index", "999", "--force"])).fails_with("out of range");
    run(args(&["--metric", "nope", "--force"])).fails_with("unknown metric");
    run(args(&["--scale=0", "--force"])).fails_with("not a scale");
    run(args(&["--force", "--metric", "kl", "--theme", "dark"])).ok();
    assert!(image::open(&out).is_ok());
}

#[test]
fn render_draws_any_script() {
    let dir = temp();
    let out = dir.path().join("u.png");
    creditlens(
        dir.path(),
        &[
            "render",
            "--policy",
            &s(&model("qwen2")),
            "--reference",
            &s(&model("qwen2_ref")),
            "--prompt",
            "Übersetze: 你好, мир, مرحبا",
            "--response",
            " 日本語 한국어 ελληνικά 😀",
            "--out",
            &s(&out),
        ],
    )
    .ok();
    assert!(image::open(&out).is_ok());
}

/// A one-signed metric's colour bar runs from neutral (0) to red, not symmetric around 0 (issue 15, item 6); the
/// chips use the same half of the colormap.
#[test]
fn one_signed_metrics_get_a_sequential_colour_bar() {
    let scorer = Scorer::load(
        &model("llama"),
        &model("llama_ref"),
        "f32",
        ScoreOptions {
            top_k: 0,
            ..ScoreOptions::default()
        },
    )
    .expect("load");
    let entries = read_entries(&fixtures().join("records.jsonl")).expect("read");
    let scored = scorer
        .score_record(0, entries[0].record.as_ref().expect("record"))
        .expect("score");
    let cmap = Colormap::for_theme(Theme::Light);
    for metric in [Metric::Kl, Metric::LogpPolicy, Metric::SurprisalReference] {
        let spec = HeatmapSpec::for_record(&scored, metric, ScaleMode::default());
        let rendered = render(&spec, &RenderOptions::default()).expect("render");
        let [x0, y0, x1, y1] = rendered.colorbar;
        let y = (y0 + y1) / 2;
        let png = &rendered.image;
        assert!(
            close(pixel(png, x0, y), cmap.neutral()),
            "{metric:?}: left end neutral"
        );
        assert!(
            close(pixel(png, x1 - 1, y), cmap.at(-1.0)),
            "{metric:?}: right end red"
        );
        assert!(
            !close(pixel(png, (x0 + x1) / 2, y), cmap.neutral()),
            "{metric:?}: no neutral middle"
        );
    }
}
