//! Sharded scoring on a cluster scheduler (issue 32): `score --shard` in separate processes, as a Slurm array or a
//! Kubernetes Indexed Job runs it, and `creditlens merge` of their outputs.

use crate::util::{creditlens, model, s, temp};
use std::path::Path;
use std::process::Command;

/// Seven records: pairs, single responses and a conversation-free mix, so that every shard of three gets some.
const DATA: &str = r#"{"prompt":"Q: What is 2+2?\nA:","chosen":" 4","rejected":" 5"}
{"prompt":"Tell me a color.","completion":" Blue."}
{"prompt":"Q: Capital?\nA:","chosen":" Velmora","rejected":" Paris"}
{"prompt":"Name a fruit.","chosen":" An apple.","rejected":" A chair."}
{"prompt":"Say hi.","completion":" Hello there!"}
{"prompt":"Q: 3*3?\nA:","chosen":" 9","rejected":" 6"}
{"prompt":"Count to three.","chosen":" 1, 2, 3.","rejected":" 1, 3, 2."}
"#;

fn score_args(out: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "score",
        "--policy",
        &s(&model("qwen3")),
        "--reference",
        &s(&model("qwen3_ref")),
        "--data",
        "d.jsonl",
        "--out",
        out,
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

/// `creditlens` with `args` and environment `env`, started (not waited for).
fn spawn(dir: &Path, args: &[String], env: &[(&str, &str)]) -> std::process::Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_creditlens"));
    cmd.args(args).current_dir(dir);
    for var in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_MIN",
        "SLURM_ARRAY_TASK_COUNT",
        "JOB_COMPLETION_INDEX",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start creditlens")
}

fn wait_ok(child: std::process::Child) {
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Three shards scored at once in separate processes (one told its shard by Slurm, one by Kubernetes, one by
/// hand) and merged: the same bytes as one unsharded run. Then what merge refuses.
#[test]
fn sharded_runs_merge_to_the_unsharded_output_byte_for_byte() {
    let dir = temp();
    let d = dir.path();
    std::fs::write(d.join("d.jsonl"), DATA).unwrap();
    let whole = spawn(d, &score_args("all.jsonl", &[]), &[]);
    let shards = [
        spawn(
            d,
            &score_args("s0.jsonl", &["--shard", "auto"]),
            &[
                ("SLURM_ARRAY_TASK_ID", "1"),
                ("SLURM_ARRAY_TASK_MIN", "1"),
                ("SLURM_ARRAY_TASK_COUNT", "3"),
            ],
        ),
        spawn(
            d,
            &score_args("s1.jsonl", &["--shard", "auto/3"]),
            &[("JOB_COMPLETION_INDEX", "1")],
        ),
        spawn(d, &score_args("s2.jsonl", &["--shard", "2/3"]), &[]),
    ];
    wait_ok(whole);
    for child in shards {
        wait_ok(child);
    }
    let merged = creditlens(
        d,
        &["merge", "merged.jsonl", "s2.jsonl", "s0.jsonl", "s1.jsonl"],
    )
    .ok();
    assert!(
        merged
            .stderr()
            .contains("merged 7 record(s) from 3 shard(s)"),
        "{}",
        merged.stderr()
    );
    let want = std::fs::read(d.join("all.jsonl")).unwrap();
    assert_eq!(want.iter().filter(|&&b| b == b'\n').count(), 7);
    assert!(
        std::fs::read(d.join("merged.jsonl")).unwrap() == want,
        "merged output differs from the unsharded one"
    );
    for (i, n) in [(0, 3), (1, 2), (2, 2)] {
        let text = std::fs::read_to_string(d.join(format!("s{i}.jsonl"))).unwrap();
        assert_eq!(
            text.lines().count(),
            n,
            "shard {i}/3 scores records {i}, {}, ...",
            i + 3
        );
    }

    // The output exists: not overwritten without --force.
    creditlens(
        d,
        &["merge", "merged.jsonl", "s0.jsonl", "s1.jsonl", "s2.jsonl"],
    )
    .fails_with("--force");
    // A shard missing, or given twice.
    creditlens(d, &["merge", "m.jsonl", "s0.jsonl", "s2.jsonl"]).fails_with("shard(s) 1/3 missing");
    creditlens(
        d,
        &[
            "merge", "m.jsonl", "s0.jsonl", "s0.jsonl", "s1.jsonl", "s2.jsonl",
        ],
    )
    .fails_with("are both shard 0/3");
    // A shard of another run: different settings, or split another way.
    wait_ok(spawn(
        d,
        &score_args("b1.jsonl", &["--shard", "1/3", "--beta", "0.2"]),
        &[],
    ));
    creditlens(d, &["merge", "m.jsonl", "s0.jsonl", "b1.jsonl", "s2.jsonl"])
        .fails_with("--beta 0.1 vs 0.2");
    wait_ok(spawn(d, &score_args("h1.jsonl", &["--shard", "1/2"]), &[]));
    creditlens(d, &["merge", "m.jsonl", "s0.jsonl", "h1.jsonl", "s2.jsonl"])
        .fails_with("shard count 0/3 vs 1/2");
    // A shard cut short (an interrupted job): its missing record is named, and no output is written.
    let s1 = std::fs::read_to_string(d.join("s1.jsonl")).unwrap();
    let first = s1.lines().next().unwrap();
    std::fs::write(d.join("s1.jsonl"), format!("{first}\n")).unwrap();
    creditlens(d, &["merge", "m.jsonl", "s0.jsonl", "s1.jsonl", "s2.jsonl"])
        .fails_with("record(s) 4 of d.jsonl");
    // A record in two outputs.
    std::fs::write(d.join("s1.jsonl"), format!("{s1}{first}\n")).unwrap();
    creditlens(d, &["merge", "m.jsonl", "s0.jsonl", "s1.jsonl", "s2.jsonl"])
        .fails_with("record 1 is also in");
    assert!(!d.join("m.jsonl").exists());
    // An output without its sidecar.
    std::fs::copy(d.join("all.jsonl"), d.join("x.jsonl")).unwrap();
    creditlens(d, &["merge", "m.jsonl", "x.jsonl"]).fails_with("x.jsonl.run.json: missing");
    // The scheduler's variables checked.
    let run = |args: Vec<String>, env: &[(&str, &str)]| {
        spawn(d, &args, env).wait_with_output().expect("wait")
    };
    let out = run(score_args("z.jsonl", &["--shard", "auto"]), &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("SLURM_ARRAY_TASK_ID"));
    let out = run(
        score_args("z.jsonl", &["--shard", "auto"]),
        &[("JOB_COMPLETION_INDEX", "0")],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--shard auto/N"));
}
