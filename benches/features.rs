//! `creditlens features --scores` over 10,000 scored pairs (issue 29's goal: under 10 s).
//!
//! Scores the embedded demo's 305 pairs with `creditlens score --demo` (top-k lists of 5 per model and token, as
//! `score` writes by default), repeats its lines (renumbered) into a 10,000-pair scores file, and times the
//! command a user runs on it, end to end (process start, reading, parsing, aggregation, the table on stdout),
//! for words, tokens and word 1-3-grams, and words with `--out words.csv` and `--chart words.png`. Reports the
//! median of `ROUNDS` runs (default 3) and the file's size. `cargo bench --bench features`; `PAIRS=N` changes
//! the number of pairs.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

fn creditlens(dir: &Path, args: &[&str]) -> f64 {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_creditlens"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run creditlens");
    let secs = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "creditlens {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    secs
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let pairs = env_usize("PAIRS", 10_000);
    let rounds = env_usize("ROUNDS", 3).max(1);
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/pairs.jsonl");
    let small = dir.path().join("demo_scores.jsonl");
    creditlens(
        dir.path(),
        &[
            "score",
            "--demo",
            "--data",
            &demo.display().to_string(),
            "--out",
            &small.display().to_string(),
        ],
    );
    let text = std::fs::read_to_string(&small).expect("demo scores");
    let lines: Vec<&str> = text.lines().collect();
    let mut big = String::with_capacity(text.len() / lines.len() * pairs + 1024);
    for i in 0..pairs {
        // Every line starts with {"index":N, — renumber it.
        let line = lines[i % lines.len()];
        let rest = line.split_once(',').map_or(line, |(_, r)| r);
        big.push_str(&format!("{{\"index\":{i},{rest}\n"));
    }
    let scores = dir.path().join("scores.jsonl");
    std::fs::write(&scores, &big).expect("write the scores file");
    let s = scores.display().to_string();
    println!(
        "{pairs} pairs, {:.0} MB scores file (the demo's {} pairs repeated), {} CPU(s), median of {rounds} run(s)",
        big.len() as f64 / 1e6,
        lines.len(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    drop(big);
    // Warm the page cache, as a user's second look at a file would.
    creditlens(dir.path(), &["features", "--scores", &s]);
    let out = dir.path().join("words.csv").display().to_string();
    let chart = dir.path().join("words.png").display().to_string();
    let cases: [(&str, Vec<&str>); 4] = [
        ("words (table)", vec![]),
        ("tokens (table)", vec!["--unit", "token"]),
        ("word 1-3-grams (table)", vec!["--unit", "ngram"]),
        (
            "words, --out CSV and --chart PNG",
            vec!["--out", &out, "--chart", &chart, "--force"],
        ),
    ];
    println!("case | seconds");
    for (name, extra) in cases {
        let mut args = vec!["features", "--scores", &s];
        args.extend(extra.iter().copied());
        let times: Vec<f64> = (0..rounds).map(|_| creditlens(dir.path(), &args)).collect();
        println!("{name} | {:.2}", median(times));
    }
}
