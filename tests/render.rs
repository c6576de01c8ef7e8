//! The PNG heatmap: `creditlens render` as a user runs it, and its pixels checked against the colormap at the
//! rewards the scorer computed.

use crate::util::{creditlens, fixtures, model, s, temp};
use creditlens::data::read_entries;
use creditlens::heatmap::{Colormap, Metric, Rgb, ScaleMode, Theme};
use creditlens::model::Dtype;
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

/// The tiny Llama fixture against its reference, without top-k alternatives.
fn llama_scorer() -> Scorer {
    scorer_for(&model("llama"), &model("llama_ref"))
}

fn scorer_for(policy: &std::path::Path, reference: &std::path::Path) -> Scorer {
    let options = ScoreOptions {
        top_k: 0,
        ..ScoreOptions::default()
    };
    Scorer::load(policy, reference, Dtype::F32, options).expect("load")
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
    let scorer = llama_scorer();
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
    let scorer = llama_scorer();
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

/// The figure keeps what the app shows: labelled error tokens framed, a pair's differing words underlined; it is
/// as wide as its content; its ticks are round; and the same figure comes as SVG (issue 15, item 8).
#[test]
fn figure_frames_errors_underlines_differences_and_comes_as_svg() {
    let demo = creditlens::demo_assets::DemoAssets::locate().expect("demo");
    let scorer = scorer_for(&demo.policy(), &demo.reference());
    let entries = read_entries(&demo.pairs()).expect("pairs");
    let (i, record, spans) = entries
        .iter()
        .find_map(|e| match e.record.as_ref().ok()? {
            r @ creditlens::data::Record::Pair { error_spans, .. } if !error_spans.is_empty() => {
                Some((e.index, r.clone(), error_spans.clone()))
            }
            _ => None,
        })
        .expect("a labelled pair");
    let scored = scorer.score_record(i, &record).expect("score");
    let spec =
        HeatmapSpec::for_record_with_errors(&scored, Metric::Reward, ScaleMode::default(), &spans);
    let rendered = render(&spec, &RenderOptions::default()).expect("render");
    let png = &rendered.image;
    let fg = Rgb(25, 25, 25);
    let quiet = Rgb(120, 120, 120);
    let responses = scored.responses();
    let rejected = &responses[1].1;
    let (mut framed, mut plain, mut underlined) = (0, 0, 0);
    for b in &rendered.boxes {
        let t = &responses[b.response].1.tokens[b.token];
        let [x0, y0, x1, y1] = b.rect;
        let left = pixel(png, x0 - 1, (y0 + y1) / 2);
        let in_error = b.response == 1
            && rejected
                .locate_spans(&spans)
                .iter()
                .any(|&(s, e)| t.start < e && s < t.end);
        if in_error {
            assert!(close(left, fg), "error token {} is framed", b.token);
            framed += 1;
        } else if !close(left, fg) {
            plain += 1;
        }
        if close(pixel(png, (x0 + x1) / 2, y1 + 1), quiet) {
            underlined += 1;
        }
    }
    assert!(
        framed > 0 && plain > framed,
        "framed {framed}, plain {plain}"
    );
    assert!(underlined > 0, "the differing words are underlined");
    // As wide as the content: a one-word response leaves no empty right half.
    let short = scorer.score_prompted("Q: 2+2?", &[" 4."]).expect("score");
    let record = creditlens::score::RecordScore::Unpaired(creditlens::score::UnpairedScore {
        index: 0,
        prompt: "Q: 2+2?".into(),
        response: short.responses[0].clone(),
        warnings: vec![],
        prompt_tokens: vec![],
    });
    let small = render(
        &HeatmapSpec::for_record(&record, Metric::Reward, ScaleMode::Fixed(0.131)),
        &RenderOptions::default(),
    )
    .expect("render");
    assert!(
        small.image.width() < 1800 * 3 / 4,
        "width {}",
        small.image.width()
    );
    // SVG: the same chips (their fill colours), the gradient and the text, in a well-formed document.
    let svg = &rendered.svg;
    assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("linearGradient"));
    for b in rendered.boxes.iter().take(20) {
        let hex = format!("#{:02x}{:02x}{:02x}", b.fill.0, b.fill.1, b.fill.2);
        assert!(svg.contains(&hex), "chip colour {hex}");
    }
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    let dir = temp();
    let out = dir.path().join("fig.svg");
    creditlens(
        dir.path(),
        &[
            "render",
            "--policy",
            &s(&demo.policy()),
            "--reference",
            &s(&demo.reference()),
            "--data",
            &s(&demo.pairs()),
            "--index",
            &i.to_string(),
            "--out",
            &s(&out),
        ],
    )
    .ok();
    let text = std::fs::read_to_string(&out).expect("svg written");
    assert!(text.starts_with("<svg "), "{}", &text[..80.min(text.len())]);
}
