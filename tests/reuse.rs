//! Rescoring an edit from its first changed token (`Scorer::score_record_reusing`) gives the numbers of scoring
//! the edited record from scratch, and reuses what it says it reuses.

use crate::util::model;
use creditlens::data::Record;
use creditlens::model::Dtype;
use creditlens::score::{RecordScore, ResponseScore, ScoreMemo, ScoreOptions, Scorer};
use creditlens::tokenize::TokenizationMode;

fn pair(prompt: &str, chosen: &str, rejected: &str) -> Record {
    Record::Pair {
        prompt: prompt.into(),
        chosen: chosen.into(),
        rejected: rejected.into(),
        error_spans: Vec::new(),
        chat: None,
    }
}

fn responses(score: &RecordScore) -> Vec<&ResponseScore> {
    match score {
        RecordScore::Pair(p) => vec![&p.chosen, &p.rejected],
        RecordScore::Unpaired(u) => vec![&u.response],
    }
}

/// Every token's id and numbers in `a` equal `b`'s (log-probs, KL and entropies to 1e-5, ranks and top-k ids
/// exactly).
fn assert_same(ctx: &str, a: &RecordScore, b: &RecordScore) {
    for (ra, rb) in responses(a).into_iter().zip(responses(b)) {
        assert_eq!(ra.tokens.len(), rb.tokens.len(), "{ctx}");
        for (i, (ta, tb)) in ra.tokens.iter().zip(&rb.tokens).enumerate() {
            assert_eq!(ta.id, tb.id, "{ctx}: token {i}");
            for (what, x, y) in [
                ("log pi", ta.logp_policy, tb.logp_policy),
                ("log pi_ref", ta.logp_reference, tb.logp_reference),
                ("kl", ta.kl, tb.kl),
                ("entropy", ta.entropy_policy, tb.entropy_policy),
            ] {
                assert!((x - y).abs() < 1e-5, "{ctx}: token {i} {what}: {x} vs {y}");
            }
            assert_eq!(ta.rank_policy, tb.rank_policy, "{ctx}: token {i}");
            let ids = |t: &creditlens::score::TokenScore| -> Vec<u32> {
                t.top_policy.iter().map(|a| a.id).collect()
            };
            assert_eq!(ids(ta), ids(tb), "{ctx}: token {i}");
        }
        assert!((ra.reward - rb.reward).abs() < 1e-5, "{ctx}");
    }
}

/// A run of edits as a user makes them in the app, each rescored through one memo and from scratch.
fn check_edits(policy: &str, reference: &str, mode: TokenizationMode) {
    let scorer = Scorer::load(
        &model(policy),
        &model(reference),
        Dtype::F32,
        ScoreOptions {
            mode,
            top_k: 3,
            ..ScoreOptions::default()
        },
    )
    .expect("load");
    let prompt = "Question: What is the capital of Australia? Answer briefly.\nAnswer:";
    let edits = [
        // The first scoring: nothing to reuse.
        (
            pair(
                prompt,
                " The capital is Canberra.",
                " The capital is Sydney.",
            ),
            false,
        ),
        // The last word of the rejected response.
        (
            pair(
                prompt,
                " The capital is Canberra.",
                " The capital is Melbourne.",
            ),
            true,
        ),
        // Unchanged: everything is reused.
        (
            pair(
                prompt,
                " The capital is Canberra.",
                " The capital is Melbourne.",
            ),
            true,
        ),
        // A word appended to the chosen response, another changed in the middle of the rejected one.
        (
            pair(
                prompt,
                " The capital is Canberra, of course.",
                " The city is Melbourne.",
            ),
            true,
        ),
        // The end of the prompt.
        (
            pair(
                &prompt.replace("briefly", "in one line"),
                " The capital is Canberra, of course.",
                " The city is Melbourne.",
            ),
            true,
        ),
        // A shorter response.
        (
            pair(
                &prompt.replace("briefly", "in one line"),
                " Canberra.",
                " The city is Melbourne.",
            ),
            true,
        ),
        // Another record altogether (at most its leading special tokens are shared).
        (pair("7 + 5 =", " 12", " 13"), false),
    ];
    let mut memo = ScoreMemo::new();
    for (step, (record, reuses)) in edits.iter().enumerate() {
        let ctx = format!("{policy} ({mode:?}), edit {step}");
        let reused = scorer
            .score_record_reusing(0, record, &mut memo)
            .expect("reusing");
        let fresh = scorer.score_record(0, record).expect("fresh");
        assert_same(&ctx, &reused, &fresh);
        let last = memo.last().expect("a call was made");
        // More than two leading special tokens of each response reused.
        assert_eq!(last.reused > 4, *reuses, "{ctx}: {last:?}");
        if step == 2 {
            assert_eq!(last.computed, 0, "{ctx}: an unchanged record runs no model");
        }
    }
}

#[test]
fn edits_rescore_to_the_numbers_of_a_full_scoring() {
    check_edits("llama", "llama_ref", TokenizationMode::Trl);
    check_edits("llama", "llama_ref", TokenizationMode::Joint);
}

#[test]
fn edits_rescore_exactly_across_families() {
    // Sliding windows and soft-capping (Gemma 2), learned positions (GPT-2), parallel residual (GPT-NeoX), LongRoPE
    // whose factors follow the length (Phi-3), and a policy that is its own reference.
    for (policy, reference) in [
        ("gemma2", "gemma2_ref"),
        ("gpt2", "gpt2_ref"),
        ("gpt_neox", "gpt_neox_ref"),
        ("phi3_longrope", "phi3_longrope_ref"),
        ("qwen3", "qwen3"),
    ] {
        check_edits(policy, reference, TokenizationMode::Trl);
    }
}

/// An edit near the end of a long response after a long prompt runs the models over a few positions only.
#[test]
fn an_edit_at_the_end_reruns_only_its_tail() {
    let scorer = Scorer::load(
        &model("llama"),
        &model("llama_ref"),
        Dtype::F32,
        ScoreOptions::default(),
    )
    .expect("load");
    let prompt = "Summarise the following post. ".repeat(12);
    let response =
        " The post says that the city council will vote on the new park next week and that";
    let mut memo = ScoreMemo::new();
    let first = pair(
        &prompt,
        &format!("{response} people agree."),
        &format!("{response} nobody cares."),
    );
    scorer
        .score_record_reusing(0, &first, &mut memo)
        .expect("first");
    let edited = pair(
        &prompt,
        &format!("{response} people agree."),
        &format!("{response} nobody minds."),
    );
    let reused = scorer
        .score_record_reusing(0, &edited, &mut memo)
        .expect("edit");
    let last = memo.last().expect("last");
    assert!(last.computed <= 8, "{last:?}");
    assert!(last.reused > 100, "{last:?}");
    assert_same(
        "tail edit",
        &reused,
        &scorer.score_record(0, &edited).expect("fresh"),
    );
}

/// A memo never reuses another scorer's caches, even when the models it kept were dropped and others loaded in
/// their place.
#[test]
fn another_scorers_caches_are_never_reused() {
    let load = |policy: &str, reference: &str| {
        Scorer::load(
            &model(policy),
            &model(reference),
            Dtype::F32,
            ScoreOptions::default(),
        )
        .expect("load")
    };
    let record = pair(
        "Q: What is the capital of Australia?\nA:",
        " Canberra.",
        " Sydney.",
    );
    let mut memo = ScoreMemo::new();
    let first = load("llama", "llama_ref");
    first
        .score_record_reusing(0, &record, &mut memo)
        .expect("first");
    drop(first);
    for (policy, reference) in [("llama_ref", "llama"), ("llama", "llama")] {
        let other = load(policy, reference);
        let reused = other
            .score_record_reusing(0, &record, &mut memo)
            .expect("other");
        assert_eq!(
            memo.last().expect("last").reused,
            0,
            "{policy} / {reference}"
        );
        assert_same(
            policy,
            &reused,
            &other.score_record(0, &record).expect("fresh"),
        );
        drop(other);
    }
}
