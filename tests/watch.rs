//! Following a training run while it trains (issue 32): `creditlens watch` while checkpoints appear, half-written
//! and whole, and disappear, as a TRL trainer with `save_total_limit` makes them.

use crate::util::{creditlens, demo_dir as demo, s, save_demo_checkpoint, temp};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

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

/// The reference and probe pairs both commands take.
fn probe() -> Vec<String> {
    [
        "--reference".into(),
        s(&demo().join("reference")),
        "--data".into(),
        s(&demo().join("pairs.jsonl")),
        "--max-pairs".into(),
        "4".into(),
    ]
    .into()
}

fn args(run: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec!["watch".into(), s(run)];
    a.extend(probe());
    a.extend(["--out".into(), s(out)]);
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
    save_demo_checkpoint(&run, 40, false);
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        steps(&out).is_empty(),
        "a checkpoint without trainer_state.json is still being written"
    );
    save_demo_checkpoint(&run, 40, true);
    wait_for("checkpoint-40's row", || steps(&out) == [40]);
    // The next save, and one that save_total_limit deletes before it completes.
    save_demo_checkpoint(&run, 120, false);
    save_demo_checkpoint(&run, 80, false);
    save_demo_checkpoint(&run, 80, true);
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
    save_demo_checkpoint(&run, 160, false);
    save_demo_checkpoint(&run, 160, true);
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
    let mut drift_args = vec!["drift".to_string(), "--policy".into(), s(&run)];
    drift_args.extend(probe());
    let drift = creditlens(
        dir.path(),
        &drift_args.iter().map(String::as_str).collect::<Vec<_>>(),
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
