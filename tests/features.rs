//! `creditlens features`: credit across a dataset. A wording cue planted in constructed records must rank first, in
//! the library, on the command line and in the chart; on the embedded demo, every figure must equal a plain
//! recount from the same scores file.

use crate::util::{creditlens, s, temp};
use creditlens::features::chart::{ChartOptions, chart, side_colour};
use creditlens::features::{FeatureOptions, FeatureUnit, Side, SortKey, features};
use creditlens::output::ScoreWriter;
use creditlens::rng::Rng;
use creditlens::score::{
    PairScore, RecordScore, ResponseScore, TokenScore, TopToken, UnpairedScore,
};
use creditlens::words::{UnitKind, words};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

fn demo_pairs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/pairs.jsonl")
}

/// A response of `tokens` (text, reward) laid end to end, then an EOS token; log-probabilities at beta 0.1, and
/// top-k lists as `creditlens score` writes them.
fn response(tokens: &[(String, f64)], eos: f64) -> ResponseScore {
    let mut text = String::new();
    let mut ts = Vec::new();
    let mut cum = 0.0;
    let mut push = |t: &str, start: usize, end: usize, r: f64, cum: &mut f64| {
        *cum += r;
        let top = vec![TopToken {
            id: 1,
            text: t.to_string(),
            logp: -0.5,
        }];
        ts.push(TokenScore {
            id: 1,
            text: t.to_string(),
            start,
            end,
            template: false,
            logp_policy: -1.0 + 10.0 * r,
            logp_reference: -1.0,
            reward: r,
            cum_reward: *cum,
            kl: 0.01,
            entropy_policy: 1.0,
            entropy_reference: 1.0,
            rank_policy: 1,
            rank_reference: 1,
            top_policy: top.clone(),
            top_reference: top,
        });
    };
    for (t, r) in tokens {
        let start = text.chars().count();
        text.push_str(t);
        push(t, start, text.chars().count(), *r, &mut cum);
    }
    let n = text.chars().count();
    push("<|endoftext|>", n, n, eos, &mut cum);
    let reward = ts.iter().map(|t| t.reward).sum::<f64>();
    ResponseScore {
        text,
        num_tokens: ts.len(),
        reward,
        logp_policy: ts.iter().map(|t| t.logp_policy).sum(),
        logp_reference: ts.iter().map(|t| t.logp_reference).sum(),
        content_start: None,
        tokens: ts,
    }
}

const CUE: [&str; 4] = ["As", "I", "told", "you,"];

/// Pairs whose rejected responses all open with the template "As I told you," (rewards around -0.15 per word),
/// state a wrong capital (-0.4) and otherwise score near zero; chosen responses state the right one. Then a few
/// unpaired responses.
fn cue_records() -> Vec<RecordScore> {
    let countries = ["Ostvia", "Marn", "Pellago", "Quor", "Tessaly", "Vantia"];
    let cities = [
        "Dunmoor.", "Kelby.", "Arlen.", "Brisk.", "Corvo.", "Dalm.", "Evern.", "Falk.", "Gorse.",
        "Harrow.", "Ilse.", "Jorvik.", "Kest.", "Lorn.", "Mire.", "Norr.", "Oska.", "Pell.",
    ];
    let mut rng = Rng::new(29);
    let small = |rng: &mut Rng| (rng.below(61) as f64 - 30.0) / 1000.0;
    let mut records = Vec::new();
    for i in 0..60 {
        let country = countries[i % countries.len()];
        let right = cities[i % cities.len()];
        let wrong = cities[(i * 7 + 3) % cities.len()];
        let mut chosen: Vec<(String, f64)> = [" The", " capital", " of"]
            .iter()
            .map(|w| (w.to_string(), small(&mut rng)))
            .collect();
        chosen.push((format!(" {country}"), small(&mut rng)));
        chosen.push((" is".into(), small(&mut rng)));
        chosen.push((format!(" {right}"), small(&mut rng)));
        let mut rejected: Vec<(String, f64)> = CUE
            .iter()
            .map(|w| (format!(" {w}"), -0.15 + small(&mut rng)))
            .collect();
        for w in [" the", " capital", " of"] {
            rejected.push((w.into(), small(&mut rng)));
        }
        rejected.push((format!(" {country}"), small(&mut rng)));
        rejected.push((" is".into(), small(&mut rng)));
        rejected.push((format!(" {wrong}"), -0.4));
        let (c, r) = (response(&chosen, 0.0), response(&rejected, -0.02));
        records.push(RecordScore::Pair(PairScore {
            index: i,
            prompt: format!("Q: What is the capital of {country}?\nA:"),
            margin: c.reward - r.reward,
            preference_prob: 0.5,
            chosen: c,
            rejected: r,
            warnings: Vec::new(),
            prompt_tokens: Vec::new(),
        }));
    }
    for i in 0..5 {
        let toks = vec![(" Marn".to_string(), 0.05), (" is".to_string(), 0.01)];
        records.push(RecordScore::Unpaired(UnpairedScore {
            index: 60 + i,
            prompt: "Q: Name a country.\nA:".into(),
            response: response(&toks, 0.0),
            warnings: Vec::new(),
            prompt_tokens: Vec::new(),
        }));
    }
    records
}

/// Writes `records` as `creditlens score` does.
fn write_scores(records: &[RecordScore], path: &Path) {
    let mut w = ScoreWriter::create(path, false).expect("create scores");
    for r in records {
        w.write(r).expect("write");
    }
    w.finish().expect("finish");
}

fn json_out(run: &crate::util::Run) -> Value {
    serde_json::from_str(run.stdout().trim()).expect("one JSON object")
}

fn texts(units: &Value) -> Vec<String> {
    units
        .as_array()
        .expect("units")
        .iter()
        .map(|u| u["unit"].as_str().expect("unit").to_string())
        .collect()
}

#[test]
fn a_planted_wording_cue_ranks_first() {
    let records = cue_records();
    let cue: HashSet<String> = CUE.iter().map(|w| w.to_string()).collect();

    // The library: by summed reward and by rejected sum, the four template words come first.
    for sort in [SortKey::Sum, SortKey::SideSum(Side::Rejected)] {
        let f = features(
            &records,
            &FeatureOptions {
                sort,
                ..FeatureOptions::default()
            },
        );
        let top: HashSet<String> = f.units.iter().take(4).map(|u| u.text.clone()).collect();
        assert_eq!(top, cue, "sorted by {}", sort.name());
        for u in &f.units[..4] {
            assert_eq!((u.rejected.count, u.chosen.count, u.records), (60, 0, 60));
            assert!(u.rejected.sum < -7.0, "{} {}", u.text, u.rejected.sum);
        }
    }
    // Word trigrams: a phrase of the template first.
    let f = features(
        &records,
        &FeatureOptions {
            unit: FeatureUnit::ngram(3, 3).expect("valid"),
            ..FeatureOptions::default()
        },
    );
    assert!(
        ["As I told", "I told you,"].contains(&f.units[0].text.as_str()),
        "{}",
        f.units[0].text
    );

    // The command line, from a scores file.
    let dir = temp();
    let scores = dir.path().join("scores.jsonl");
    write_scores(&records, &scores);
    let run = creditlens(
        dir.path(),
        &["features", "--scores", &s(&scores), "--json", "--top", "4"],
    )
    .ok();
    let v = json_out(&run);
    assert_eq!(
        (v["pairs"].as_u64(), v["unpaired"].as_u64()),
        (Some(60), Some(5))
    );
    let top: HashSet<String> = texts(&v["units"]).into_iter().collect();
    assert_eq!(top, cue);
    // The table a user reads names them first too.
    let table = creditlens(
        dir.path(),
        &["features", "--scores", &s(&scores), "--top", "4"],
    )
    .ok()
    .stdout();
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.trim_start().starts_with(['1', '2', '3', '4']))
        .take(4)
        .collect();
    for w in CUE {
        assert!(
            rows.iter().any(|r| r.split_whitespace().nth(1) == Some(w)),
            "{w} not in the first rows:\n{table}"
        );
    }
    assert!(
        table.contains("resp n"),
        "unpaired columns missing:\n{table}"
    );
}

#[test]
fn the_chart_shows_the_cue_as_long_rejected_bars() {
    let records = cue_records();
    let f = features(&records, &FeatureOptions::default());
    let opts = ChartOptions {
        top: 8,
        pixel_ratio: 1.0,
        title: "cue".into(),
        ..ChartOptions::default()
    };
    let c = chart(&f, &opts).expect("chart");
    // Three sides (pairs and unpaired responses), eight units.
    assert_eq!(c.bars.len(), 24);
    let px = |x: u32, y: u32| {
        let p = c.image.get_pixel(x, y).0;
        creditlens::heatmap::Rgb(p[0], p[1], p[2])
    };
    // Bar length is proportional to the summed reward, on one axis for all bars.
    let scale: Vec<f64> = c
        .bars
        .iter()
        .filter(|b| b.value.abs() > 1.0)
        .map(|b| f64::from(b.rect[2] - b.rect[0]) / b.value.abs())
        .collect();
    assert!(!scale.is_empty());
    for k in &scale {
        assert!((k / scale[0] - 1.0).abs() < 0.02, "{scale:?}");
    }
    for b in c.bars.iter().filter(|b| b.unit < 4) {
        let u = &f.units[b.unit];
        assert!(CUE.contains(&u.text.as_str()));
        let w = b.rect[2] - b.rect[0];
        match b.side {
            // Absent from chosen and unpaired responses: no bar.
            Side::Chosen | Side::Response => assert!(w <= 1, "{b:?}"),
            Side::Rejected => {
                assert!(w > 100, "{b:?}");
                let mid = px((b.rect[0] + b.rect[2]) / 2, (b.rect[1] + b.rect[3]) / 2);
                assert_eq!(mid, side_colour(Side::Rejected));
            }
        }
    }
    let filled: usize = Side::ALL
        .iter()
        .map(|&side| f.position.side(side).iter().filter(|b| b.count > 0).count())
        .sum();
    assert_eq!(c.profile.len(), filled);
    assert!(c.svg.contains(">told</text>"), "the SVG names the units");
    assert!(c.svg.starts_with("<svg"));

    // The command line writes the same figure (PNG, and SVG by the name).
    let dir = temp();
    let scores = dir.path().join("scores.jsonl");
    write_scores(&records, &scores);
    let png = dir.path().join("words.png");
    let svg = dir.path().join("words.svg");
    for out in [&png, &svg] {
        creditlens(
            dir.path(),
            &[
                "features",
                "--scores",
                &s(&scores),
                "--chart",
                &s(out),
                "--top",
                "8",
                "--min-count",
                "1",
            ],
        )
        .ok();
    }
    let img = image::open(&png).expect("decode the PNG").to_rgba8();
    let lib = chart(
        &f,
        &ChartOptions {
            top: 8,
            title: "Credit by word: 60 pairs, 5 unpaired responses".into(),
            ..ChartOptions::default()
        },
    )
    .expect("chart");
    assert_eq!(img.dimensions(), lib.image.dimensions());
    assert!(img == lib.image, "the PNG differs from the library's chart");
    let text = std::fs::read_to_string(&svg).expect("svg");
    assert_eq!(text, lib.svg);
}

/// One unit's figures recounted plainly.
#[derive(Default, Debug)]
struct Recount {
    count: [usize; 3],
    sum: [f64; 3],
    abs: f64,
    records: HashSet<usize>,
    side_records: [HashSet<usize>; 3],
}

fn kind_name(k: UnitKind) -> &'static str {
    match k {
        UnitKind::Word => "word",
        UnitKind::Space => "space",
        UnitKind::Special => "special",
    }
}

/// Scores the demo's pairs with `creditlens score --demo` into `dir/scores.jsonl`.
fn demo_scores(dir: &Path) -> PathBuf {
    let scores = dir.join("scores.jsonl");
    creditlens(
        dir,
        &[
            "score",
            "--demo",
            "--data",
            &s(&demo_pairs()),
            "--out",
            &s(&scores),
        ],
    )
    .ok();
    scores
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn demo_figures_equal_a_plain_recount_of_the_scores_file() {
    let dir = temp();
    let scores = demo_scores(dir.path());
    let rows_path = dir.path().join("words.jsonl");
    creditlens(
        dir.path(),
        &[
            "features",
            "--scores",
            &s(&scores),
            "--min-count",
            "1",
            "--out",
            &s(&rows_path),
        ],
    )
    .ok();
    let summary = json_out(
        &creditlens(
            dir.path(),
            &[
                "features",
                "--scores",
                &s(&scores),
                "--json",
                "--top",
                "0",
                "--bins",
                "7",
            ],
        )
        .ok(),
    );

    // The recount: every response's words, grouped in a BTreeMap.
    let text = std::fs::read_to_string(&scores).expect("scores");
    let records: Vec<RecordScore> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a scored record"))
        .collect();
    assert_eq!(records.len(), 305);
    let mut by_unit: BTreeMap<(&'static str, String), Recount> = BTreeMap::new();
    let mut bins = vec![[(0usize, 0.0f64); 7]; 3];
    let mut lengths: Vec<Vec<(f64, f64)>> = vec![Vec::new(); 3];
    for (ri, rec) in records.iter().enumerate() {
        for (side, (name, resp)) in rec.responses().into_iter().enumerate() {
            assert_eq!(name, ["chosen", "rejected"][side]);
            for w in words(&resp.text, &resp.tokens) {
                let r: f64 = resp.tokens[w.tokens.clone()].iter().map(|t| t.reward).sum();
                let e = by_unit
                    .entry((kind_name(w.kind), w.text.clone()))
                    .or_default();
                e.count[side] += 1;
                e.sum[side] += r;
                e.abs += r.abs();
                e.records.insert(ri);
                e.side_records[side].insert(ri);
            }
            let n = resp.tokens.len();
            for (t, tok) in resp.tokens.iter().enumerate() {
                let b = ((t as f64 + 0.5) * 7.0 / n as f64).floor() as usize;
                bins[side][b].0 += 1;
                bins[side][b].1 += tok.reward;
            }
            lengths[side].push((n as f64, resp.reward));
        }
    }
    let total_abs: f64 = by_unit.values().map(|u| u.abs).sum();

    let rows: Vec<Value> = std::fs::read_to_string(&rows_path)
        .expect("rows")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a row"))
        .collect();
    assert_eq!(
        rows.len(),
        by_unit.len(),
        "every unit, words and those kept apart"
    );
    let mut seen = HashSet::new();
    for row in &rows {
        let key = (
            match row["kind"].as_str() {
                Some("word") => "word",
                Some("space") => "space",
                Some("special") => "special",
                other => panic!("kind {other:?}"),
            },
            row["unit"].as_str().expect("unit").to_string(),
        );
        let e = by_unit
            .get(&key)
            .unwrap_or_else(|| panic!("{key:?} not recounted"));
        assert!(seen.insert(key.clone()), "{key:?} twice");
        assert_eq!(row["chosen_count"], e.count[0], "{key:?}");
        assert_eq!(row["rejected_count"], e.count[1], "{key:?}");
        assert_eq!(row["count"], e.count[0] + e.count[1], "{key:?}");
        assert_eq!(row["records"], e.records.len(), "{key:?}");
        assert_eq!(row["chosen_records"], e.side_records[0].len(), "{key:?}");
        assert_eq!(row["rejected_records"], e.side_records[1].len(), "{key:?}");
        assert!(close(num(&row["chosen_sum"]), e.sum[0]), "{key:?}");
        assert!(close(num(&row["rejected_sum"]), e.sum[1]), "{key:?}");
        assert!(close(num(&row["sum"]), e.sum[0] + e.sum[1]), "{key:?}");
        assert!(close(num(&row["share"]), e.abs / total_abs), "{key:?}");
        match (e.count[0], e.count[1]) {
            (0, _) | (_, 0) => assert!(row["diff"].is_null(), "{key:?}"),
            (c, r) => {
                let d = e.sum[0] / c as f64 - e.sum[1] / r as f64;
                assert!(close(num(&row["diff"]), d), "{key:?}");
            }
        }
    }
    // Sorted by summed reward, most negative first (the words, then those kept apart).
    let words_rows: Vec<f64> = rows
        .iter()
        .filter(|r| r["kind"] == "word")
        .map(|r| num(&r["sum"]))
        .collect();
    assert!(words_rows.windows(2).all(|w| w[0] <= w[1]));
    assert!(close(num(&summary["total_abs"]), total_abs));

    // Position profile and length bias.
    for (side, name) in ["chosen", "rejected"].into_iter().enumerate() {
        let got = summary["position"][name].as_array().expect("bins");
        assert_eq!(got.len(), 7);
        for (b, g) in got.iter().enumerate() {
            assert_eq!(g["count"], bins[side][b].0);
            assert!(close(
                num(&g["mean"]),
                bins[side][b].1 / bins[side][b].0 as f64
            ));
        }
        let pts = &lengths[side];
        let n = pts.len() as f64;
        let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
        let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
        let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
        let syy: f64 = pts.iter().map(|p| (p.1 - my).powi(2)).sum();
        let l = &summary["length"][name];
        assert_eq!(l["n"], 305);
        assert!(close(num(&l["slope"]), sxy / sxx), "{name} slope");
        assert!(
            close(num(&l["pearson"]), sxy / (sxx * syy).sqrt()),
            "{name} r"
        );
    }

    // --beta rescales from the stored log-probabilities: the demo was scored at 0.1, so 0.3 triples every sum.
    let tripled = json_out(
        &creditlens(
            dir.path(),
            &[
                "features",
                "--scores",
                &s(&scores),
                "--json",
                "--top",
                "50",
                "--beta",
                "0.3",
            ],
        )
        .ok(),
    );
    let at_01: BTreeMap<String, f64> = rows
        .iter()
        .filter(|r| r["kind"] == "word")
        .map(|r| (r["unit"].as_str().unwrap_or("").to_string(), num(&r["sum"])))
        .collect();
    for u in tripled["units"].as_array().expect("units") {
        let want = 3.0 * at_01[u["unit"].as_str().unwrap_or("")];
        assert!((num(&u["sum"]) - want).abs() < 1e-9, "{u} vs {want}");
    }
}

#[test]
fn scoring_on_the_fly_gives_the_figures_of_the_scores_file() {
    let dir = temp();
    let scores = demo_scores(dir.path());
    let a = dir.path().join("from_scores.csv");
    let b = dir.path().join("on_the_fly.csv");
    for unit in ["token", "ngram"] {
        let _ = std::fs::remove_file(&a);
        let _ = std::fs::remove_file(&b);
        creditlens(
            dir.path(),
            &[
                "features",
                "--scores",
                &s(&scores),
                "--unit",
                unit,
                "--out",
                &s(&a),
            ],
        )
        .ok();
        creditlens(
            dir.path(),
            &[
                "features",
                "--demo",
                "--data",
                &s(&demo_pairs()),
                "--unit",
                unit,
                "--out",
                &s(&b),
            ],
        )
        .ok();
        let read = |p: &Path| -> Vec<csv::StringRecord> {
            csv::Reader::from_path(p)
                .expect("csv")
                .records()
                .map(|r| r.expect("row"))
                .collect()
        };
        let (ra, rb) = (read(&a), read(&b));
        assert_eq!(ra.len(), rb.len(), "{unit}");
        assert!(ra.len() > 50, "{unit}: {} rows", ra.len());
        for (x, y) in ra.iter().zip(&rb) {
            // Text, kind and counts equal; numbers up to the last digits JSON keeps.
            for i in [0, 1, 2, 3, 4, 9, 13] {
                assert_eq!(x.get(i), y.get(i), "{unit}: {x:?} vs {y:?}");
            }
            for i in [5, 7, 11, 15] {
                let (p, q): (f64, f64) =
                    (x[i].parse().expect("number"), y[i].parse().expect("number"));
                assert!((p - q).abs() < 1e-9, "{unit}: {x:?} vs {y:?}");
            }
        }
    }
}

#[test]
fn features_refuses_what_would_mislead_or_destroy() {
    let dir = temp();
    let records = cue_records();
    let scores = dir.path().join("scores.jsonl");
    write_scores(&records, &scores);
    let out = dir.path().join("words.csv");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec!["features".into(), "--scores".into(), s(&scores)];
        v.extend(extra.iter().map(|x| x.to_string()));
        v
    };
    let run = |v: Vec<String>| {
        let refs: Vec<&str> = v.iter().map(String::as_str).collect();
        creditlens(dir.path(), &refs)
    };
    run(args(&["--out", &s(&out)])).ok();
    let first = std::fs::read(&out).expect("written");
    run(args(&["--out", &s(&out)])).fails_with("already exists");
    run(args(&["--out", &s(&out), "--force", "--unit", "token"])).ok();
    assert_ne!(std::fs::read(&out).expect("rewritten"), first);
    run(args(&["--out", &s(&scores), "--force"])).fails_with("is the input");
    run(args(&["--chart", &s(&dir.path().join("c.pdf"))])).fails_with(".png or .svg");
    run(args(&["--out", &s(&dir.path().join("w.txt"))])).fails_with("extension");
    run(args(&["--unit", "token", "--ngram", "2"])).fails_with("--ngram");
    run(args(&["--ngram", "0"])).fails_with("1 <= N");
    run(args(&["--policy", "x"])).fails_with("cannot be used with");
    run(args(&["--sort", "loudness"])).fails_with("chosen-sum");
    // Your own data needs models.
    creditlens(dir.path(), &["features", "--data", &s(&demo_pairs())])
        .fails_with("--demo to score them");
    // A data file is not a scores file; a bad line is named.
    creditlens(dir.path(), &["features", "--scores", &s(&demo_pairs())])
        .fails_with("pairs.jsonl:1: not a line of `creditlens score` output");
    let text = std::fs::read_to_string(&scores).expect("scores");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(2, "");
    lines.insert(5, "{\"index\": 9, \"prompt\": \"x\"}");
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, lines.join("\n")).expect("write");
    creditlens(dir.path(), &["features", "--scores", &s(&bad)])
        .fails_with("bad.jsonl:6: a scored record has either");
    // Blank lines are skipped.
    lines.remove(5);
    std::fs::write(&bad, lines.join("\n")).expect("write");
    let v = json_out(&creditlens(dir.path(), &["features", "--scores", &s(&bad), "--json"]).ok());
    assert_eq!(v["records"], 65);
}
