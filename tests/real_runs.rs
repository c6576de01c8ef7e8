//! The real DPO runs of `fixtures/real_runs/` (TRL 1.16 `DPOTrainer` + PEFT LoRA on SmolLM2-135M-Instruct, the
//! Q4_1 GGUF dequantised): creditlens opens each committed adapter on the GGUF file as the reference, and its
//! per-token values and `eval` figures reproduce the ones transformers + PEFT computed
//! (`fixtures/real_runs/make_golden.py`, never creditlens).
//!
//! They need SmolLM2-135M-Instruct.Q4_1.gguf: `CREDITLENS_SMOLLM2_GGUF`, else `target/models/` (fetched there by
//! `.ci/fetch-smollm2` when missing). Without it (no network) they are skipped, except under `CI=true`, where they
//! fail.

use crate::golden::{floats, ints, max_diff};
use crate::util::{creditlens, fixtures, s, temp};
use creditlens::data::{Record, read_entries};
use creditlens::model::Dtype;
use creditlens::score::{RecordScore, ScoreOptions, Scorer};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Per-token log-probs: creditlens computes the GGUF model in f32 with its own kernels, transformers in f32 with
/// PyTorch's (measured: at most 5e-5 nats apart, r_t 4e-6, sequence rewards 1e-5).
const LOGP_TOL: f64 = 1e-3;
/// Rewards are beta (0.1) times a difference of two log-probs.
const REWARD_TOL: f64 = 2e-4;

/// The runs and what is in them.
const RUNS: [&str; 2] = ["run_a", "run_b"];

/// SmolLM2-135M-Instruct.Q4_1.gguf, or `None` (with a note) when it cannot be had outside CI.
fn smollm2() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CREDITLENS_SMOLLM2_GGUF") {
        return Some(PathBuf::from(p));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/models");
    let file = dir.join("SmolLM2-135M-Instruct.Q4_1.gguf");
    if file.is_file() {
        return Some(file);
    }
    let fetched = std::process::Command::new("bash")
        .arg(root.join(".ci/fetch-smollm2"))
        .arg(&dir)
        .output();
    match fetched {
        Ok(out) if out.status.success() && file.is_file() => Some(file),
        other => {
            let why = match other {
                Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
                Err(e) => e.to_string(),
            };
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "cannot fetch SmolLM2 (needs network, curl and sha256sum): {why}"
            );
            eprintln!(
                "skipped: SmolLM2-135M-Instruct.Q4_1.gguf is not in target/models and cannot be fetched ({why})"
            );
            None
        }
    }
}

fn run_dir(run: &str) -> PathBuf {
    fixtures().join("real_runs").join(run)
}

fn golden(run: &str) -> Value {
    let path = run_dir(run).join("golden.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("golden json")
}

/// creditlens' tokens, spans, log-probs and rewards of the records whose per-token values the goldens hold, and
/// the sequence rewards of those records, against transformers + PEFT (TRL tokenisation).
#[test]
fn real_runs_match_transformers_and_peft_per_token() {
    let Some(base) = smollm2() else { return };
    for run in RUNS {
        let g = golden(run);
        let adapter = run_dir(run).join("adapter");
        let scorer = Scorer::load(&adapter, &base, Dtype::F32, ScoreOptions::default())
            .unwrap_or_else(|e| panic!("{run}: {e}"));
        let card = scorer.policy().info().adapter.clone().unwrap_or_default();
        assert!(
            card.contains("unmerged") && card.contains("SmolLM2-135M-Instruct.Q4_1.gguf"),
            "{run}: the policy is not the adapter on the GGUF file: {card}"
        );
        let records: Vec<Record> = read_entries(&run_dir(run).join("heldout.jsonl"))
            .expect("held-out pairs")
            .into_iter()
            .map(|e| e.record.expect("record"))
            .collect();
        let (mut logp_diff, mut reward_diff, mut sum_diff) = (0.0f64, 0.0f64, 0.0f64);
        for d in g["detailed"].as_array().expect("detailed") {
            let i = d["index"].as_u64().expect("index") as usize;
            let RecordScore::Pair(p) = scorer.score_record(i, &records[i]).expect("score") else {
                panic!("{run} record {i}: not a pair")
            };
            let summary = &g["records"][i];
            for (side, resp) in [("chosen", &p.chosen), ("rejected", &p.rejected)] {
                let exp = &d[side];
                let ctx = format!("{run} record {i} {side}");
                let ids = ints(&exp["input_ids"]);
                let plen = exp["prompt_len"].as_u64().expect("prompt_len") as usize;
                let ours: Vec<u64> = resp.tokens.iter().map(|t| u64::from(t.id)).collect();
                assert_eq!(ours, ids[plen..], "{ctx}: scored ids differ from TRL's");
                let spans: Vec<Vec<u64>> = exp["offsets"]
                    .as_array()
                    .expect("offsets")
                    .iter()
                    .map(ints)
                    .collect();
                let ours: Vec<Vec<u64>> = resp
                    .tokens
                    .iter()
                    .map(|t| vec![t.start as u64, t.end as u64])
                    .collect();
                assert_eq!(ours, spans, "{ctx}: token spans");
                let lp: Vec<f64> = resp.tokens.iter().map(|t| t.logp_policy).collect();
                let lr: Vec<f64> = resp.tokens.iter().map(|t| t.logp_reference).collect();
                let r: Vec<f64> = resp.tokens.iter().map(|t| t.reward).collect();
                logp_diff = logp_diff
                    .max(max_diff(&lp, &floats(&exp["logp_policy"])))
                    .max(max_diff(&lr, &floats(&exp["logp_reference"])));
                reward_diff = reward_diff.max(max_diff(&r, &floats(&exp["reward"])));
                let total = summary[format!("reward_{side}")].as_f64().expect("reward");
                sum_diff = sum_diff.max((resp.reward - total).abs());
            }
            let margin = summary["margin"].as_f64().expect("margin");
            sum_diff = sum_diff.max((p.margin - margin).abs());
        }
        eprintln!(
            "{run}: max |log-prob diff| {logp_diff:.2e}, |r_t diff| {reward_diff:.2e}, |sequence reward diff| {sum_diff:.2e}"
        );
        assert!(
            logp_diff <= LOGP_TOL,
            "{run}: log-probs differ by {logp_diff}"
        );
        assert!(
            reward_diff <= REWARD_TOL,
            "{run}: r_t differ by {reward_diff}"
        );
        assert!(
            sum_diff <= 10.0 * REWARD_TOL,
            "{run}: sequence rewards differ by {sum_diff}"
        );
    }
}

/// `creditlens eval --policy RUN/adapter --reference SmolLM2-135M-Instruct.Q4_1.gguf --data RUN/heldout.jsonl`
/// reproduces the figures computed from transformers + PEFT: counts and top-1 exactly, AUROC and means to rounding.
#[test]
fn real_runs_eval_reproduces_the_python_figures() {
    let Some(base) = smollm2() else { return };
    let dir = temp();
    for run in RUNS {
        let exp = &golden(run)["figures"];
        let out = creditlens(
            dir.path(),
            &[
                "eval",
                "--policy",
                &s(&run_dir(run).join("adapter")),
                "--reference",
                &s(&base),
                "--data",
                &s(&run_dir(run).join("heldout.jsonl")),
                "--json",
            ],
        )
        .ok();
        // The adapter names the checkpoint it was trained on, not the GGUF file: a note says it is applied to it.
        assert!(
            out.stderr()
                .contains("note: the LoRA adapter's base_model_name_or_path"),
            "{run}: no note on the base\n{}",
            out.stderr()
        );
        let got: Value = serde_json::from_str(out.stdout().trim()).expect("eval --json");
        let pairs = exp["pairs"].as_u64().expect("pairs");
        assert_eq!(got["pairs"].as_u64(), Some(pairs), "{run}: labelled pairs");
        let f = |v: &Value, k: &str| {
            v[k].as_f64()
                .unwrap_or_else(|| panic!("{run}: `{k}` missing"))
        };
        // Shares of the labelled pairs: compared as counts, exactly.
        for (key, hits) in [
            ("top1", "top1_hits"),
            ("top1_surprisal_policy", "top1_surprisal_policy_hits"),
            ("top1_surprisal_reference", "top1_surprisal_reference_hits"),
        ] {
            let ours = (f(&got, key) * pairs as f64).round() as u64;
            assert_eq!(Some(ours), exp[hits].as_u64(), "{run}: {key}");
        }
        let n = golden(run)["records"].as_array().expect("records").len() as f64;
        let right = (f(&got, "reward_accuracy") * n).round();
        assert_eq!(
            right,
            (f(exp, "reward_accuracy") * n).round(),
            "{run}: reward accuracy"
        );
        let mut report = Vec::new();
        // Measured here: AUROC identical, the means within 1e-6. AUROC moves only when rounding swaps an error
        // token and another one, by 1 / (error tokens x other tokens), about 1.3e-5 per swap on these runs: two
        // swaps are allowed, for other CPUs.
        for (key, tol) in [
            ("auroc", 3e-5),
            ("auroc_surprisal_policy", 3e-5),
            ("auroc_surprisal_reference", 3e-5),
            ("nonerror_reward_std", 1e-6),
            ("mean_margin", 1e-5),
        ] {
            let d = (f(&got, key) - f(exp, key)).abs();
            report.push(format!("{key} {d:.1e}"));
            assert!(d <= tol, "{run}: {key} {} vs {}", f(&got, key), f(exp, key));
        }
        eprintln!("{run}: |creditlens - Python|: {}", report.join(", "));
        readme_signal_rows(run, &got);
    }
}

/// docs/results.md's table of every signal at both units has `run`'s rows as `eval --json` (`got`) reports them.
fn readme_signal_rows(run: &str, got: &Value) {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/results.md"))
            .expect("docs/results.md");
    let start = readme
        .find("<!-- real-signals -->")
        .expect("docs/results.md marks the table");
    let end = readme
        .find("<!-- /real-signals -->")
        .expect("docs/results.md marks its end");
    let table = &readme[start..end];
    let keys = [
        "reward",
        "reward-per-entropy",
        "centred-log-ratio",
        "surprisal-policy",
        "surprisal-reference",
    ];
    for unit in ["token", "word"] {
        let cells: Vec<String> = keys
            .iter()
            .map(|k| {
                let f = got["signals"]
                    .as_array()
                    .and_then(|a| a.iter().find(|f| f["key"] == *k && f["unit"] == unit))
                    .unwrap_or_else(|| panic!("{run}: no {k} {unit} figures"));
                let v = |name: &str| f[name].as_f64().unwrap_or(f64::NAN);
                format!(
                    "{:.3} / {:.3} / {:.3}",
                    v("top1"),
                    v("within_k"),
                    v("auroc")
                )
            })
            .collect();
        let row = format!("| {run} | {unit} | {} |", cells.join(" | "));
        assert!(
            table.contains(&row),
            "docs/results.md lacks {row:?}:\n{table}"
        );
    }
}

/// A LoRA adapter on the tiny GGUF fixture (Q4_1 attention with llama.cpp's permuted q/k rows, Q8_0 MLP), made by
/// `fixtures/real_runs/make_tiny.py`: applied to the GGUF file it names (as the default reference, and given
/// explicitly), creditlens' ids and log-probs are the unmerged PeftModel's on transformers' dequantised file, in
/// both tokenisation modes. Needs no download.
#[test]
fn lora_on_a_gguf_file_matches_peft() {
    let adapter = fixtures().join("real_runs/tiny_gguf_lora");
    let gguf = fixtures().join("models/gguf/tiny-llama.gguf");
    // adapter_config.json names the file: it is the reference when none is given, and there is nothing to note.
    let base = creditlens::source::default_reference(&adapter).expect("the named GGUF file");
    assert_eq!(
        base.canonicalize().expect("base"),
        gguf.canonicalize().expect("gguf")
    );
    let source = creditlens::source::ModelSource::resolve(&adapter, Some(&gguf)).expect("resolve");
    assert!(
        matches!(
            source,
            creditlens::source::ModelSource::AdapterOnGguf { .. }
        ),
        "{source:?}"
    );
    assert_eq!(source.note(), None);
    let text = std::fs::read_to_string(adapter.join("golden.json")).expect("golden");
    let g: Value = serde_json::from_str(&text).expect("golden json");
    let records: Vec<Record> = read_entries(&fixtures().join("records.jsonl"))
        .expect("records")
        .into_iter()
        .map(|e| e.record.expect("record"))
        .collect();
    let mut worst = 0f64;
    for mode in [
        creditlens::tokenize::TokenizationMode::Trl,
        creditlens::tokenize::TokenizationMode::Joint,
    ] {
        let options = ScoreOptions {
            mode,
            ..ScoreOptions::default()
        };
        let scorer = Scorer::load(&adapter, &base, Dtype::F32, options).expect("load");
        let card = scorer.policy().info().adapter.clone().unwrap_or_default();
        assert!(card.contains("unmerged"), "{card}");
        for exp in g["modes"][mode.to_string()].as_array().expect("mode") {
            let i = exp["index"].as_u64().expect("index") as usize;
            let scored = scorer.score_record(i, &records[i]).expect("score");
            let responses: Vec<(&str, &creditlens::score::ResponseScore)> = match &scored {
                RecordScore::Pair(p) => vec![("chosen", &p.chosen), ("rejected", &p.rejected)],
                RecordScore::Unpaired(u) => vec![("completion", &u.response)],
            };
            for (side, resp) in responses {
                let e = &exp["responses"][side];
                let ctx = format!("{mode} record {i} {side}");
                let plen = e["prompt_len"].as_u64().expect("prompt_len") as usize;
                let ids: Vec<u64> = resp.tokens.iter().map(|t| u64::from(t.id)).collect();
                assert_eq!(ids, ints(&e["input_ids"])[plen..], "{ctx}: ids");
                let lp: Vec<f64> = resp.tokens.iter().map(|t| t.logp_policy).collect();
                let lr: Vec<f64> = resp.tokens.iter().map(|t| t.logp_reference).collect();
                worst = worst
                    .max(max_diff(&lp, &floats(&e["logp_policy"])))
                    .max(max_diff(&lr, &floats(&e["logp_reference"])));
            }
        }
    }
    assert!(worst <= 1e-4, "log-probs differ by {worst}");
}

/// An adapter trained on another model is refused on a GGUF reference, naming the weight whose shape differs.
#[test]
fn adapter_of_another_model_on_a_gguf_reference_is_refused() {
    // models/llama_lora adapts a hidden-32 Llama; tiny-llama.gguf is hidden 64.
    let err = Scorer::load(
        &fixtures().join("models/llama_lora"),
        &fixtures().join("models/gguf/tiny-llama.gguf"),
        Dtype::F32,
        ScoreOptions::default(),
    )
    .expect_err("shapes differ")
    .to_string();
    assert!(
        err.contains("q_proj.weight (its LoRA update B A)") && err.contains("[64, 64]"),
        "{err}"
    );
}

/// `creditlens features` on the real runs (issue 29): run B's planted cue (" Rest assured.", only in rejected
/// responses) is what the policy penalises most, first and second by word; on run A, whose pairs differ only in the
/// error, the words only rejected responses hold (the wrong answers) are mostly penalised, and the end-of-turn token is
/// penalised more after a wrong answer than after a right one (credit spilling past the error).
#[test]
fn features_rank_the_planted_cue_first() {
    let Some(gguf) = smollm2() else {
        return;
    };
    let dir = temp();
    let features = |run: &str| -> Value {
        let r = run_dir(run);
        let out = creditlens(
            dir.path(),
            &[
                "features",
                "--policy",
                &s(&r.join("adapter")),
                "--reference",
                &s(&gguf),
                "--data",
                &s(&r.join("heldout.jsonl")),
                "--json",
                "--top",
                "1000",
            ],
        )
        .ok();
        serde_json::from_str(out.stdout().trim()).expect("one JSON object")
    };
    let b = features("run_b");
    let units = b["units"].as_array().expect("units");
    let names: Vec<&str> = units
        .iter()
        .take(2)
        .filter_map(|u| u["unit"].as_str())
        .collect();
    assert_eq!(names, ["assured.", "Rest"], "run B's top words");
    for u in units.iter().take(2) {
        assert_eq!(u["chosen_count"], 0);
        assert_eq!(
            u["rejected_records"], b["pairs"],
            "in every rejected response"
        );
    }
    let a = features("run_a");
    let only_rejected: Vec<f64> = a["units"]
        .as_array()
        .expect("units")
        .iter()
        .filter(|u| u["chosen_count"] == 0 && u["rejected_count"].as_u64() >= Some(3))
        .filter_map(|u| u["rejected_mean"].as_f64())
        .collect();
    assert!(!only_rejected.is_empty());
    // Most, not all: measured 4 of 5 such words with a negative mean (one at +0.03).
    let negative = only_rejected.iter().filter(|&&m| m < 0.0).count();
    assert!(
        4 * negative >= 3 * only_rejected.len(),
        "wrong answers penalised: {only_rejected:?}"
    );
    let eot = a["apart"]
        .as_array()
        .and_then(|u| u.iter().find(|u| u["unit"] == "<|im_end|>"))
        .expect("the end-of-turn token");
    assert!(
        eot["rejected_mean"].as_f64() < eot["chosen_mean"].as_f64(),
        "{eot}"
    );
}

/// The app's credit tab on run B (issue 29): the held-out pairs scored in the app put the planted cue at the top of
/// the rejected side, and clicking it keeps every record (all their rejected responses hold it).
#[cfg(feature = "gui")]
#[test]
fn the_apps_credit_tab_shows_run_bs_cue() {
    use crate::gui::{app, app_mut, open, wait};
    use creditlens::gui::{Action, Launch, PlotTab};
    let Some(gguf) = smollm2() else { return };
    let dir = temp();
    // The first 30 held-out pairs: enough for the pattern, quick to score.
    let text = std::fs::read_to_string(run_dir("run_b").join("heldout.jsonl")).expect("pairs");
    let data = dir.path().join("some.jsonl");
    let some: Vec<&str> = text.lines().take(30).collect();
    std::fs::write(&data, some.join("\n") + "\n").expect("write");
    let mut h = open(Launch {
        policy: Some(run_dir("run_b").join("adapter")),
        reference: Some(gguf),
        data: Some(data),
        plot: Some(PlotTab::Credit),
        ..Launch::default()
    });
    wait(&mut h, "the pairs scored", |a| {
        a.dataset()
            .is_some_and(|d| !d.job.running() && d.done == 30 && d.credit.is_some())
    });
    let credit = app(&h)
        .dataset()
        .and_then(|d| d.credit.clone())
        .expect("credit");
    let state = creditlens::gui::credit_view::CreditForm::default();
    let listed = creditlens::gui::credit_view::listed(&credit, &state);
    let top: Vec<&str> = listed.iter().take(2).map(|u| u.text.as_str()).collect();
    assert_eq!(top, ["assured.", "Rest"]);
    app_mut(&mut h).apply(Action::HoldWord(Some("assured.".into())));
    let d = app(&h).dataset().expect("data");
    assert_eq!(d.view().len(), 30);
}
