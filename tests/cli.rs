//! The `creditlens score` command line, run as a user would.

use crate::util::{creditlens, model, s, temp};
use serde_json::Value;

fn base_args(policy: &str, reference: &str) -> Vec<String> {
    vec![
        "score".into(),
        "--policy".into(),
        s(&model(policy)),
        "--reference".into(),
        s(&model(reference)),
    ]
}

fn run(dir: &std::path::Path, args: &[String]) -> crate::util::Run {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    creditlens(dir, &refs)
}

const DATA: &str = r#"{"prompt":"Q: What is 2+2?\nA:","chosen":" 4","rejected":" 5"}
{"prompt":"Tell me a color.","completion":" Blue."}
{"prompt":"Q: Capital?\nA:","chosen":" Velmora","rejected":" Paris"}
"#;

#[test]
fn scores_jsonl_to_stdout_with_documented_schema() {
    let dir = temp();
    std::fs::write(dir.path().join("d.jsonl"), DATA).unwrap();
    let mut args = base_args("qwen2", "qwen2_ref");
    args.extend([
        "--data".into(),
        "d.jsonl".into(),
        "--top-k".into(),
        "2".into(),
    ]);
    let out = run(dir.path(), &args).ok();
    let lines: Vec<Value> = out
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    let pair = &lines[0];
    for key in [
        "index",
        "prompt",
        "chosen",
        "rejected",
        "margin",
        "preference_prob",
    ] {
        assert!(pair.get(key).is_some(), "pair lacks {key}");
    }
    let resp = &pair["chosen"];
    for key in [
        "text",
        "num_tokens",
        "reward",
        "logp_policy",
        "logp_reference",
        "tokens",
    ] {
        assert!(resp.get(key).is_some(), "response lacks {key}");
    }
    let tok = &resp["tokens"][0];
    for key in [
        "id",
        "text",
        "start",
        "end",
        "logp_policy",
        "logp_reference",
        "reward",
        "cum_reward",
        "kl",
        "entropy_policy",
        "entropy_reference",
        "rank_policy",
        "rank_reference",
        "top_policy",
        "top_reference",
    ] {
        assert!(tok.get(key).is_some(), "token lacks {key}");
    }
    assert_eq!(tok["top_policy"].as_array().unwrap().len(), 2);
    let margin =
        pair["chosen"]["reward"].as_f64().unwrap() - pair["rejected"]["reward"].as_f64().unwrap();
    assert!((pair["margin"].as_f64().unwrap() - margin).abs() < 1e-12);
    assert_eq!(lines[1]["index"], 1);
    assert!(lines[1].get("response").is_some());
    // The appended EOS is scored with an empty span at the end of the response.
    let toks = lines[1]["response"]["tokens"].as_array().unwrap();
    let last = toks.last().unwrap();
    assert_eq!(last["start"], 6);
    assert_eq!(last["end"], 6);
    // It is a special token, marked as such; the text's own tokens are not, and the prompt's tokens are listed.
    assert_eq!(last["template"], true);
    assert!(toks[0].get("template").is_none());
    assert!(
        lines[1]["prompt_tokens"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
    );
    assert!(
        out.stderr().contains("scored 3 record(s)"),
        "{}",
        out.stderr()
    );
}

#[test]
fn csv_output_and_no_silent_overwrite() {
    let dir = temp();
    std::fs::write(dir.path().join("d.jsonl"), DATA).unwrap();
    let mut args = base_args("llama", "llama_ref");
    args.extend([
        "--data".into(),
        "d.jsonl".into(),
        "--out".into(),
        "o.csv".into(),
    ]);
    run(dir.path(), &args).ok();
    let csv = std::fs::read_to_string(dir.path().join("o.csv")).unwrap();
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("index,response,position,id,text,start,end,logp_policy")
    );
    assert!(csv.lines().any(|l| l.starts_with("0,rejected,")));
    assert!(csv.lines().any(|l| l.starts_with("1,response,")));
    run(dir.path(), &args).fails_with("already exists");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("o.csv")).unwrap(),
        csv,
        "file untouched"
    );
    args.push("--force".into());
    run(dir.path(), &args).ok();
}

#[test]
fn shard_selects_every_nth_record() {
    let dir = temp();
    std::fs::write(dir.path().join("d.jsonl"), DATA).unwrap();
    let mut args = base_args("qwen3", "qwen3_ref");
    args.extend([
        "--data".into(),
        "d.jsonl".into(),
        "--shard".into(),
        "1/2".into(),
    ]);
    let out = run(dir.path(), &args).ok();
    let idx: Vec<u64> = out
        .stdout()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["index"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(idx, vec![1]);
    let mut bad = base_args("qwen3", "qwen3_ref");
    bad.extend([
        "--data".into(),
        "d.jsonl".into(),
        "--shard".into(),
        "2/2".into(),
    ]);
    run(dir.path(), &bad).fails_with("0 <= I < N");
}

#[test]
fn bad_record_stops_with_file_line_and_keeps_finished_lines() {
    let dir = temp();
    let data = format!(
        "{DATA}{{\"prompt\":\"x\",\"chosen\":\" y\"}}\n{{\"prompt\":\"ok\",\"completion\":\" fine\"}}\n"
    );
    std::fs::write(dir.path().join("d.jsonl"), data).unwrap();
    let mut args = base_args("qwen2", "qwen2_ref");
    args.extend([
        "--data".into(),
        "d.jsonl".into(),
        "--out".into(),
        "o.jsonl".into(),
    ]);
    run(dir.path(), &args).fails_with("d.jsonl:4: has `chosen` but no `rejected`");
    // The stopped run's complete lines are in o.jsonl.partial; o.jsonl is only written by a run that completes.
    assert!(!dir.path().join("o.jsonl").exists());
    let written = std::fs::read_to_string(dir.path().join("o.jsonl.partial")).unwrap();
    assert_eq!(written.lines().count(), 3);
    for l in written.lines() {
        serde_json::from_str::<Value>(l).unwrap();
    }
    args.extend(["--skip-bad".into(), "--force".into()]);
    let out = run(dir.path(), &args).ok();
    assert!(
        out.stderr().contains("skipped 1 bad record"),
        "{}",
        out.stderr()
    );
    let written = std::fs::read_to_string(dir.path().join("o.jsonl")).unwrap();
    assert_eq!(written.lines().count(), 4);
}

#[test]
fn single_prompt_response_and_pair() {
    let dir = temp();
    let mut args = base_args("mistral", "mistral_ref");
    args.extend([
        "--prompt".into(),
        "Hello".into(),
        "--response".into(),
        " world".into(),
    ]);
    let out = run(dir.path(), &args).ok();
    let v: Value = serde_json::from_str(out.stdout().trim()).unwrap();
    assert!(v["response"]["num_tokens"].as_u64().unwrap() >= 2);
    let mut args = base_args("mistral", "mistral_ref");
    args.extend([
        "--prompt".into(),
        "Hello".into(),
        "--chosen".into(),
        " world".into(),
        "--rejected".into(),
        " there".into(),
        "--tokenization".into(),
        "joint".into(),
    ]);
    let out = run(dir.path(), &args).ok();
    let v: Value = serde_json::from_str(out.stdout().trim()).unwrap();
    let p = v["preference_prob"].as_f64().unwrap();
    assert!(p > 0.0 && p < 1.0);
}

#[test]
fn long_sequences_are_truncated_with_a_warning() {
    let dir = temp();
    let long = " word".repeat(300);
    let mut args = base_args("qwen2", "qwen2_ref");
    args.extend([
        "--prompt".into(),
        "Say:".into(),
        "--response".into(),
        long.clone(),
    ]);
    let out = run(dir.path(), &args).ok();
    assert!(out.stderr().contains("truncated"), "{}", out.stderr());
    let v: Value = serde_json::from_str(out.stdout().trim()).unwrap();
    let n = v["response"]["num_tokens"].as_u64().unwrap();
    let mut args = base_args("qwen2", "qwen2_ref");
    args.extend([
        "--prompt".into(),
        "Say:".into(),
        "--response".into(),
        long,
        "--max-length".into(),
        "20".into(),
    ]);
    let out = run(dir.path(), &args).ok();
    let v: Value = serde_json::from_str(out.stdout().trim()).unwrap();
    let m = v["response"]["num_tokens"].as_u64().unwrap();
    assert!(m < n && m > 0 && m <= 20, "{m} vs {n}");
}

#[test]
fn eval_agrees_with_scores_recomputed_here() {
    let dir = temp();
    let data = r#"{"prompt":"Q: What is the capital of France?\nA:","chosen":" The capital of France is Paris.","rejected":" I think it is Lyon, but I am not sure.","error_spans":[[12,16]]}
{"prompt":"Q: What is 2+2?\nA:","chosen":" It is 4.","rejected":" It is 5, I think.","error_spans":[[7,8]]}
{"prompt":"Q: Name a color.\nA:","chosen":"Blue.","rejected":"Red and green."}
"#;
    std::fs::write(dir.path().join("lab.jsonl"), data).unwrap();
    let mut args = vec![
        "eval".to_string(),
        "--policy".into(),
        s(&model("llama")),
        "--reference".into(),
    ];
    args.extend([
        s(&model("llama_ref")),
        "--data".into(),
        "lab.jsonl".into(),
        "--json".into(),
    ]);
    let eval: Value = serde_json::from_str(run(dir.path(), &args).ok().stdout().trim()).unwrap();
    let mut args = base_args("llama", "llama_ref");
    args.extend(["--data".into(), "lab.jsonl".into()]);
    let scores = run(dir.path(), &args).ok().stdout();
    let lines: Vec<Value> = scores
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let spans = [(12u64, 16u64), (7, 8)];
    let mut hits = 0;
    for (line, (s0, e0)) in lines.iter().zip(spans) {
        let toks = line["rejected"]["tokens"].as_array().unwrap();
        let worst = toks
            .iter()
            .min_by(|a, b| {
                a["reward"]
                    .as_f64()
                    .unwrap()
                    .total_cmp(&b["reward"].as_f64().unwrap())
            })
            .unwrap();
        let (st, en) = (
            worst["start"].as_u64().unwrap(),
            worst["end"].as_u64().unwrap(),
        );
        hits += usize::from(st < en && st < e0 && s0 < en);
    }
    assert_eq!(eval["pairs"], 2);
    assert_eq!(eval["top1"].as_f64().unwrap(), hits as f64 / 2.0);
    let accuracy = lines
        .iter()
        .filter(|l| l["margin"].as_f64().unwrap() > 0.0)
        .count() as f64
        / 3.0;
    assert!((eval["reward_accuracy"].as_f64().unwrap() - accuracy).abs() < 1e-12);
    for key in [
        "auroc",
        "auroc_surprisal_policy",
        "auroc_surprisal_reference",
    ] {
        let v = eval[key].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{key} = {v}");
    }
}

/// `creditlens drift` on the demo run: one row per checkpoint, each checkpoint's means equal to the means of
/// `creditlens score` with that checkpoint as the policy, and trainer_state.json's logged values beside them.
#[test]
fn drift_rows_equal_scoring_each_checkpoint() {
    let dir = temp();
    let demo = creditlens::demo_assets::DemoAssets::locate().expect("demo");
    let out = dir.path().join("drift.csv");
    creditlens(
        dir.path(),
        &["drift", "--max-pairs", "4", "--out", &s(&out)],
    )
    .ok();
    let mut reader = csv::Reader::from_path(&out).expect("CSV");
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    assert_eq!(
        header[..8],
        [
            "step",
            "checkpoint",
            "pairs",
            "beta",
            "rewards/chosen",
            "rewards/rejected",
            "rewards/margins",
            "rewards/accuracies"
        ]
    );
    assert!(header.contains(&"trainer/rewards/margins".to_string()));
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    let steps = creditlens::checkpoint::training_checkpoints(&demo.checkpoints());
    assert_eq!(rows.len(), steps.len());
    // The first four pairs, scored with the first checkpoint by `creditlens score`.
    let pairs: Vec<String> = std::fs::read_to_string(demo.pairs())
        .expect("pairs")
        .lines()
        .take(4)
        .map(String::from)
        .collect();
    let data = dir.path().join("four.jsonl");
    std::fs::write(&data, pairs.join("\n") + "\n").expect("write");
    let scores = dir.path().join("scores.jsonl");
    creditlens(
        dir.path(),
        &[
            "score",
            "--policy",
            &s(&steps[0].dir),
            "--reference",
            &s(&demo.reference()),
            "--data",
            &s(&data),
            "--out",
            &s(&scores),
            "--top-k",
            "0",
        ],
    )
    .ok();
    let chosen: Vec<f64> = std::fs::read_to_string(&scores)
        .expect("scores")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
            v["chosen"]["reward"].as_f64().expect("reward")
        })
        .collect();
    let mean = chosen.iter().sum::<f64>() / chosen.len() as f64;
    let row = &rows[0];
    assert_eq!(row[0].parse::<usize>().expect("step"), steps[0].step);
    assert_eq!(&row[2], "4");
    let ours: f64 = row[4].parse().expect("rewards/chosen");
    assert!((ours - mean).abs() < 1e-9, "{ours} vs {mean}");
    let logged: f64 = rows[rows.len() - 1][10]
        .parse()
        .expect("trainer/rewards/margins");
    assert!(logged.is_finite());
    // Bad input: a folder without checkpoints, an unknown output type, an existing file.
    creditlens(
        dir.path(),
        &[
            "drift",
            "--policy",
            &s(dir.path()),
            "--reference",
            &s(&demo.reference()),
            "--data",
            &s(&data),
        ],
    )
    .fails_with("no checkpoint-N/ folders");
    creditlens(dir.path(), &["drift", "--out", "d.txt"]).fails_with("must end in .jsonl or .csv");
    creditlens(
        dir.path(),
        &["drift", "--max-pairs", "1", "--out", &s(&out)],
    )
    .fails_with("already exists");
}

/// `gui --beta` takes DPO's beta for the models opened, and refuses one that is not a positive number before any
/// window opens (issue 28, defect 4).
#[cfg(feature = "gui")]
#[test]
fn gui_beta_is_checked() {
    let dir = temp();
    for bad in ["0", "-0.1", "nan", "x"] {
        creditlens(dir.path(), &["gui", &format!("--beta={bad}")]).fails_with("beta");
    }
    let help = creditlens(dir.path(), &["gui", "--help"]).ok().stdout();
    assert!(
        help.contains("--beta") && help.contains("--checkpoint"),
        "{help}"
    );
}

/// Credit per word on the command line (issue 29): `score --unit word` writes words in place of tokens, each the
/// sum of its tokens; `render --unit word` draws one chip per word; `eval --unit word --json` reports word figures.
#[test]
fn words_on_the_command_line() {
    let dir = temp();
    let p = dir.path();
    let pair = [
        "--demo",
        "--prompt",
        "Q: What is the capital of Ostvia?\nA:",
        "--chosen",
        " The capital of Ostvia is Marford, my friend.",
        "--rejected",
        " The capital of Ostvia is Kelbrook, my friend.",
        "--top-k",
        "0",
    ];
    let by = |unit: &str| -> Value {
        let mut args = vec!["score", "--unit", unit];
        args.extend(pair);
        serde_json::from_str(creditlens(p, &args).ok().stdout().trim()).expect("JSON")
    };
    let (tokens, words) = (by("token"), by("word"));
    assert_eq!(words["unit"], "word");
    assert!(tokens.get("unit").is_none(), "token output is unchanged");
    let texts = |v: &Value| -> Vec<String> {
        v["rejected"]["tokens"]
            .as_array()
            .expect("tokens")
            .iter()
            .map(|t| t["text"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let w = texts(&words);
    assert!(w.contains(&"Kelbrook,".to_string()), "{w:?}");
    assert!(w.iter().all(|t| !t.contains(' ')), "{w:?}");
    for side in ["chosen", "rejected"] {
        let sum = |v: &Value, key: &str| -> f64 {
            v[side]["tokens"]
                .as_array()
                .expect("tokens")
                .iter()
                .map(|t| t[key].as_f64().unwrap_or(f64::NAN))
                .sum()
        };
        for key in ["reward", "logp_policy", "logp_reference", "kl"] {
            assert!(
                (sum(&words, key) - sum(&tokens, key)).abs() < 1e-9,
                "{side} {key}"
            );
        }
        assert_eq!(words[side]["num_tokens"], tokens[side]["num_tokens"]);
    }
    let out = creditlens(p, &["render", "--demo", "--unit", "word", "--out", "w.png"]).ok();
    assert!(out.stderr().contains(" words,"), "{}", out.stderr());
    let eval: Value = serde_json::from_str(
        creditlens(p, &["eval", "--unit", "word", "--json", "--within", "1"])
            .ok()
            .stdout()
            .trim(),
    )
    .expect("JSON");
    assert_eq!(eval["within_k"], 1);
    let signals = eval["signals"].as_array().expect("signals");
    assert_eq!(signals.len(), 5);
    assert!(signals.iter().all(|f| f["unit"] == "word"));
    assert!(
        signals
            .iter()
            .all(|f| f["within_k"].as_f64() >= f["top1"].as_f64())
    );
}
