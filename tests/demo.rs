//! The embedded demo: `creditlens eval` with no arguments measures the committed checkpoints on the committed
//! held-out pairs, and the figures must be those printed in docs/results.md.

use crate::util::{creditlens, temp};
use serde_json::Value;
use std::path::Path;

#[test]
fn readme_demo_figures_are_reproduced_by_eval() {
    let dir = temp();
    let run = creditlens(dir.path(), &["eval", "--json"]).ok();
    let v: Value = serde_json::from_str(run.stdout().trim()).expect("one JSON object");
    let f = |k: &str| {
        v[k].as_f64()
            .unwrap_or_else(|| panic!("{k} missing in {v}"))
    };
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/results.md"))
            .expect("docs/results.md");
    let start = readme
        .find("<!-- demo-figures -->")
        .expect("docs/results.md marks the demo figures");
    let end = readme
        .find("<!-- /demo-figures -->")
        .expect("docs/results.md marks the end of the demo figures");
    let section = &readme[start..end];
    let row = |key: &str, name: &str| {
        let at = |unit: &str| {
            v["signals"]
                .as_array()
                .and_then(|a| a.iter().find(|f| f["key"] == key && f["unit"] == unit))
                .map(|f| {
                    format!(
                        "{:.3} | {:.3} | {:.3}",
                        f["top1"].as_f64().unwrap_or(f64::NAN),
                        f["within_k"].as_f64().unwrap_or(f64::NAN),
                        f["auroc"].as_f64().unwrap_or(f64::NAN)
                    )
                })
                .unwrap_or_else(|| panic!("no {key} {unit} figures in {v}"))
        };
        format!("| {name} | {} | {} |", at("token"), at("word"))
    };
    let expected = [
        format!(
            "| {} held-out pairs | token top-1 | within {k} | AUROC | word top-1 | within {k} | AUROC |",
            v["pairs"],
            k = v["within_k"]
        ),
        row("reward", "implicit reward r_t"),
        row("reward-per-entropy", "r_t / (1 + H_ref)"),
        row("centred-log-ratio", "r_t - beta*KL"),
        row("surprisal-policy", "surprisal under the policy"),
        row("surprisal-reference", "surprisal under the reference"),
        format!(
            "Reward accuracy {:.3}, mean margin {:.4}, standard deviation of r_t over non-error tokens {:.4}.",
            f("reward_accuracy"),
            f("mean_margin"),
            f("nonerror_reward_std")
        ),
    ];
    // The headline figures are the token rows' r_t and surprisal.
    assert!(row("reward", "r").contains(&format!("{:.3} |", f("top1"))));
    for line in expected {
        assert!(
            section.contains(&line),
            "docs/results.md lacks {line:?}; its section reads:\n{section}"
        );
    }
    assert!(v["pairs"].as_u64().unwrap_or(0) >= 200);
}

/// `render` without models or data draws the demo's first pair with the demo's models; `score --demo` scores a
/// typed record with them (without --demo, a typed record needs --policy: `tests/models.rs`).
#[test]
fn score_and_render_default_to_the_demo() {
    let dir = temp();
    let run = creditlens(
        dir.path(),
        &[
            "score",
            "--demo",
            "--prompt",
            "Q: What is twice 7?\nA:",
            "--response",
            " 14.",
        ],
    )
    .ok();
    let v: Value = serde_json::from_str(run.stdout().trim()).expect("JSON");
    assert!(v["response"]["num_tokens"].as_u64().unwrap_or(0) >= 2);
    creditlens(dir.path(), &["render", "--out", "demo.png"]).ok();
    assert!(image::open(dir.path().join("demo.png")).is_ok());
    // Only one of the two models is an error, not a silent fallback to the demo.
    creditlens(dir.path(), &["eval", "--policy", "x"]).fails_with("--reference");
}

#[test]
fn demo_train_names_the_reference_data_choices() {
    let dir = temp();
    creditlens(
        dir.path(),
        &[
            "demo",
            "train",
            "--out",
            "x",
            "--reference-data",
            "rejected",
        ],
    )
    .fails_with("both, chosen");
    assert!(!dir.path().join("x").exists());
}
