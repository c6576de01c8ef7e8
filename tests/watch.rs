//! Following a training run while it trains (issue 32): `creditlens watch` while checkpoints appear, half-written
//! and whole, and disappear, as a TRL trainer with `save_total_limit` makes them.

use crate::util::{creditlens, s, temp};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn demo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/demo")
}

/// Copies the demo's checkpoint-`step` into `run`, without its trainer_state.json (the trainer writes it last).
fn save_weights(run: &Path, step: usize) -> PathBuf {
    let from = demo().join(format!("checkpoints/checkpoint-{step}"));
    let to = run.join(format!("checkpoint-{step}"));
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(&from).unwrap().flatten() {
        if entry.file_name() != "trainer_state.json" {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
    to
}

fn finish_saving(run: &Path, step: usize) {
    let from = demo().join(format!("checkpoints/checkpoint-{step}/trainer_state.json"));
    std::fs::copy(
        from,
        run.join(format!("checkpoint-{step}/trainer_state.json")),
    )
    .unwrap();
}

fn steps(out: &Path) -> Vec<u64> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn args(run: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "watch",
        &s(run),
        "--reference",
        &s(&demo().join("reference")),
        "--data",
        &s(&demo().join("pairs.jsonl")),
        "--max-pairs",
        "4",
        "--out",
        &s(out),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    a.extend(extra.iter().map(|e| e.to_string()));
    a
}

#[test]
fn a_watcher_scores_each_complete_checkpoint_once_as_drift_does() {
    let dir = temp();
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    let out = dir.path().join("drift.jsonl");
    let mut watcher = std::process::Command::new(env!("CARGO_BIN_EXE_creditlens"))
        .args(args(&run, &out, &["--interval", "0.1", "--idle-exit", "6"]))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the watcher");
    // Half-saved: weights written, trainer_state.json not yet. Not scored.
    save_weights(&run, 40);
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        steps(&out).is_empty(),
        "a checkpoint without trainer_state.json is still being written"
    );
    finish_saving(&run, 40);
    wait_for("checkpoint-40's row", || steps(&out) == [40]);
    // The next save, and one that save_total_limit deletes before it completes.
    save_weights(&run, 120);
    save_weights(&run, 80);
    finish_saving(&run, 80);
    std::fs::remove_dir_all(run.join("checkpoint-120")).unwrap();
    wait_for("checkpoint-80's row", || steps(&out) == [40, 80]);
    let status = watcher.wait().expect("the watcher stops after --idle-exit");
    let mut stderr = String::new();
    std::io::Read::read_to_string(watcher.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("no new checkpoint for 6 s; stopped"),
        "{stderr}"
    );
    // Restarted: nothing scored twice; a checkpoint saved meanwhile is scored.
    save_weights(&run, 160);
    finish_saving(&run, 160);
    let again = creditlens(
        dir.path(),
        &args(&run, &out, &["--once"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    )
    .ok();
    assert!(
        again
            .stderr()
            .contains("2 checkpoint(s) already in the output"),
        "{}",
        again.stderr()
    );
    assert_eq!(steps(&out), [40, 80, 160]);
    // The same numbers as `creditlens drift` over the same checkpoints.
    let drift = creditlens(
        dir.path(),
        &[
            "drift",
            "--policy",
            &s(&run),
            "--reference",
            &s(&demo().join("reference")),
            "--data",
            &s(&demo().join("pairs.jsonl")),
            "--max-pairs",
            "4",
        ],
    )
    .ok();
    let rows: Vec<Value> = drift
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let watched: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows, watched);
}
