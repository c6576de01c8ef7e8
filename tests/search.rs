//! Likelihood search against transformers' `generate()` (issue 17): greedy and beam search give the same token ids
//! and beam scores as transformers 5.24 on the demo checkpoint and on the real SmolLM2-135M-Instruct
//! (`fixtures/make_search_fixtures.py`, rules in `fixtures/SEARCH_NOTES.md`), and the candidates re-scored by the
//! scorer carry the log-probs the search accumulated.

use crate::golden::{golden, ints, smollm2_path};
use creditlens::model::Dtype;
use creditlens::score::{ScoreOptions, Scorer};
use creditlens::search::{SearchSettings, Searcher, beam_search};
use std::path::Path;

const TOL: f64 = 1e-4;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= TOL * (1.0 + b.abs())
}

/// Runs every case and configuration of a golden file and compares ids, scores and log-probs.
fn check_search(name: &str, policy: &Path, reference: &Path) {
    let g = golden(name);
    let scorer =
        Scorer::load(policy, reference, Dtype::F32, ScoreOptions::default()).expect("load");
    let searcher = Searcher::new(&scorer).expect("searcher");
    let eos: Vec<u32> = ints(&g["eos_token_ids"])
        .into_iter()
        .map(|x| x as u32)
        .collect();
    assert_eq!(
        searcher.eos(),
        eos.as_slice(),
        "{name}: EOS ids as transformers reads them"
    );
    let max_new = g["max_new_tokens"].as_u64().expect("max_new_tokens") as usize;
    let mut runs = 0;
    for case in g["cases"].as_array().expect("cases") {
        let prompt: Vec<u32> = ints(&case["prompt_ids"])
            .into_iter()
            .map(|x| x as u32)
            .collect();
        // The prompt as the app and the CLI tokenise it.
        let text = case["prompt"].as_str().expect("prompt");
        let (ids, _) = searcher
            .encode(&if case["kind"] == "chat" {
                let messages = case["messages"].clone();
                creditlens::search::SearchPrompt::Messages(
                    creditlens::chat::messages_from_json("prompt", &messages).expect("messages"),
                )
            } else {
                creditlens::search::SearchPrompt::Text(text.to_string())
            })
            .expect("encode");
        assert_eq!(ids, prompt, "{name}: prompt ids of {text:?}");
        for run in case["runs"].as_array().expect("runs") {
            let cfg = &run["config"];
            let settings = SearchSettings {
                beams: cfg["num_beams"].as_u64().expect("beams") as usize,
                max_new_tokens: max_new,
                eos: eos.clone(),
                length_penalty: cfg["length_penalty"].as_f64().unwrap_or(1.0) as f32,
            };
            let ctx = format!("{name}: {text:?} {cfg}");
            let found = beam_search(searcher.policy(), &prompt, &settings, &mut |_, _| true)
                .unwrap_or_else(|e| panic!("{ctx}: {e}"));
            let expected = run["sequences"].as_array().expect("sequences");
            assert_eq!(found.len(), expected.len(), "{ctx}: number of sequences");
            for (i, (f, e)) in found.iter().zip(expected).enumerate() {
                let want: Vec<u32> = ints(&e["ids"]).into_iter().map(|x| x as u32).collect();
                assert_eq!(f.ids, want, "{ctx}: sequence {i}");
                assert_eq!(
                    f.finished,
                    e["finished_eos"].as_bool().expect("finished"),
                    "{ctx}"
                );
                if let Some(score) = e["sequence_score"].as_f64() {
                    assert!(
                        close(f64::from(f.score), score),
                        "{ctx}: score {} vs {score}",
                        f.score
                    );
                }
                for (a, b) in f.logps.iter().zip(crate::golden::floats(&e["logp_policy"])) {
                    assert!(close(f64::from(*a), b), "{ctx}: logp {a} vs {b}");
                }
            }
            // Re-scored by the scorer: the log-probs accumulated during the search, and the reference's.
            let scored = searcher.score(&prompt, &found).expect("score");
            for (s, e) in scored.iter().zip(expected) {
                let ids: Vec<u32> = s.response.tokens.iter().map(|t| t.id).collect();
                assert_eq!(
                    ids,
                    ints(&e["ids"])
                        .into_iter()
                        .map(|x| x as u32)
                        .collect::<Vec<_>>()
                );
                for (t, (p, r)) in s.response.tokens.iter().zip(
                    crate::golden::floats(&e["logp_policy"])
                        .into_iter()
                        .zip(crate::golden::floats(&e["logp_reference"])),
                ) {
                    assert!(
                        close(t.logp_policy, p),
                        "{ctx}: re-scored {} vs {p}",
                        t.logp_policy
                    );
                    assert!(
                        close(t.logp_reference, r),
                        "{ctx}: reference {} vs {r}",
                        t.logp_reference
                    );
                }
                assert!(close(
                    s.response.logp_policy,
                    e["sum_logp_policy"].as_f64().expect("sum")
                ));
            }
            runs += 1;
        }
    }
    assert!(runs >= 10, "{name}: only {runs} runs");
}

#[test]
fn beam_search_matches_transformers_generate_on_the_demo() {
    let demo = creditlens::demo_assets::DemoAssets::locate().expect("demo");
    check_search("search_demo", &demo.policy(), &demo.reference());
}

#[test]
fn beam_search_matches_transformers_generate_on_smollm2() {
    let path = smollm2_path();
    check_search("search_smollm2", &path, &path);
}

/// Greedy decoding the plain way: the argmax of the logits (the lowest id on ties), the whole sequence recomputed at
/// every step without a cache, until an `eos` id or `max` tokens.
fn greedy_without_cache(
    lm: &creditlens::model::Decoder,
    prompt: &[u32],
    max: usize,
    eos: &[u32],
) -> Vec<u32> {
    let mut ids = prompt.to_vec();
    for _ in 0..max {
        let mut cache = lm.new_cache();
        let x = candle_core::Tensor::new(ids.as_slice(), lm.device())
            .and_then(|t| t.unsqueeze(0))
            .expect("ids");
        let hidden = lm.forward_hidden(&x, &mut cache).expect("forward");
        let last = hidden.narrow(1, ids.len() - 1, 1).expect("last");
        let logits: Vec<f32> = lm
            .logits(&last)
            .expect("logits")
            .flatten_all()
            .and_then(|t| t.to_vec1())
            .expect("vec");
        let best = (0..logits.len())
            .max_by(|&a, &b| logits[a].total_cmp(&logits[b]).then(b.cmp(&a)))
            .expect("argmax") as u32;
        ids.push(best);
        if eos.contains(&best) {
            break;
        }
    }
    ids[prompt.len()..].to_vec()
}

/// Greedy decoding is beam search of width 1: the same ids as stepping by the argmax of the policy's logits over
/// the whole sequence recomputed at every step (no cache).
#[test]
fn greedy_is_the_argmax_without_a_cache() {
    let demo = creditlens::demo_assets::DemoAssets::locate().expect("demo");
    let scorer = Scorer::load(
        &demo.policy(),
        &demo.reference(),
        Dtype::F32,
        ScoreOptions::default(),
    )
    .expect("load");
    let searcher = Searcher::new(&scorer).expect("searcher");
    let lm = scorer.policy().lm();
    let (prompt, _) = searcher
        .encode(&creditlens::search::SearchPrompt::Text(
            "Q: What is twice 6?\nA:".into(),
        ))
        .expect("encode");
    let settings = SearchSettings {
        beams: 1,
        max_new_tokens: 20,
        eos: searcher.eos().to_vec(),
        length_penalty: 1.0,
    };
    let found = beam_search(lm, &prompt, &settings, &mut |_, _| true).expect("search");
    let brute = greedy_without_cache(lm, &prompt, settings.max_new_tokens, &settings.eos);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].ids, brute);
}

/// Bad settings get a clear error naming the option.
#[test]
fn bad_search_settings_are_refused_with_the_option_named() {
    let demo = creditlens::demo_assets::DemoAssets::locate().expect("demo");
    let scorer = Scorer::load(
        &demo.policy(),
        &demo.reference(),
        Dtype::F32,
        ScoreOptions::default(),
    )
    .expect("load");
    let lm = scorer.policy().lm();
    let ok = SearchSettings {
        beams: 2,
        max_new_tokens: 8,
        eos: vec![0],
        length_penalty: 1.0,
    };
    let err = |s: SearchSettings, prompt: &[u32]| {
        beam_search(lm, prompt, &s, &mut |_, _| true)
            .expect_err("refused")
            .to_string()
    };
    assert!(
        err(
            SearchSettings {
                beams: 0,
                ..ok.clone()
            },
            &[5]
        )
        .contains("--beams")
    );
    assert!(
        err(
            SearchSettings {
                beams: 5000,
                ..ok.clone()
            },
            &[5]
        )
        .contains("vocabulary")
            || err(
                SearchSettings {
                    beams: 5000,
                    ..ok.clone()
                },
                &[5]
            )
            .contains("tokens")
    );
    assert!(
        err(
            SearchSettings {
                max_new_tokens: 100_000,
                ..ok.clone()
            },
            &[5]
        )
        .contains("--max-new-tokens")
    );
    assert!(err(ok.clone(), &[]).contains("empty"));
}

/// The task's checker agrees with the demo's held-out labels: every chosen answer is correct and every rejected
/// one (one wrong fact) is not, for the world the demo was trained on.
#[test]
fn the_checker_judges_the_demo_heldout_pairs_as_labelled() {
    let demo = creditlens::demo_assets::DemoAssets::locate().expect("demo");
    let world = creditlens::task::World::new(creditlens::train::DemoConfig::full().seed);
    let text = std::fs::read_to_string(demo.heldout()).expect("heldout");
    let mut n = 0;
    for line in text.lines() {
        let p: creditlens::task::LabelledPair = serde_json::from_str(line).expect("pair");
        let check = |r: &str| creditlens::task::check::is_correct(&world, &p.kind, &p.prompt, r);
        assert_eq!(check(&p.chosen), Some(true), "{p:?}");
        assert_eq!(check(&p.rejected), Some(false), "{p:?}");
        n += 1;
    }
    assert_eq!(n, 300);
}

/// `creditlens search` writes one JSON line per beam width (and one for the samples), candidates best first with
/// the scoring schema's fields, refuses to overwrite without --force and names a bad width.
#[test]
fn the_search_command_writes_scored_candidates() {
    use crate::util::{creditlens, s, temp};
    let dir = temp();
    let out = dir.path().join("runs.jsonl");
    let args = [
        "search",
        "--demo",
        "--prompt",
        "Q: What is twice 6?\nA:",
        "--beams",
        "1,3",
        "--max-new-tokens",
        "16",
        "--sample",
        "2",
        "--seed",
        "7",
        "--out",
        &s(&out),
    ];
    creditlens(dir.path(), &args).ok();
    let text = std::fs::read_to_string(&out).expect("out");
    let runs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[0]["beams"], 1);
    assert_eq!(runs[1]["beams"], 3);
    assert_eq!(runs[2]["samples"], 2);
    assert_eq!(
        runs[0]["candidates"].as_array().expect("candidates").len(),
        1
    );
    assert!(
        !runs[1]["candidates"]
            .as_array()
            .expect("candidates")
            .is_empty()
    );
    for run in &runs {
        assert_eq!(run["prompt"], "Q: What is twice 6?\nA:");
        let cands = run["candidates"].as_array().expect("candidates");
        for c in cands {
            for key in [
                "text",
                "num_tokens",
                "reward",
                "logp_policy",
                "logp_reference",
                "score",
                "finished",
            ] {
                assert!(c.get(key).is_some(), "{key} missing in {c}");
            }
            let tokens = c["tokens"].as_array().expect("tokens");
            assert_eq!(tokens.len() as u64, c["num_tokens"].as_u64().expect("n"));
            let sum: f64 = tokens
                .iter()
                .map(|t| t["reward"].as_f64().expect("reward"))
                .sum();
            assert!((sum - c["reward"].as_f64().expect("reward")).abs() < 1e-6);
        }
        if run["beams"] != 0 {
            let scores: Vec<f64> = cands
                .iter()
                .map(|c| c["score"].as_f64().expect("score"))
                .collect();
            assert!(
                scores.windows(2).all(|w| w[0] >= w[1]),
                "best first: {scores:?}"
            );
        }
    }
    // `render` draws a candidate, or two as a pair, from the stored scores.
    let png = dir.path().join("pair.png");
    creditlens(
        dir.path(),
        &[
            "render",
            "--search",
            &s(&out),
            "--index",
            "1",
            "--candidate",
            "0",
            "--against",
            "1",
            "--out",
            &s(&png),
        ],
    )
    .ok();
    assert!(std::fs::metadata(&png).expect("png").len() > 1000);
    creditlens(
        dir.path(),
        &[
            "render",
            "--search",
            &s(&out),
            "--index",
            "1",
            "--candidate",
            "9",
            "--out",
            &s(&dir.path().join("x.png")),
        ],
    )
    .fails_with("out of range");
    let again = creditlens(dir.path(), &args);
    assert!(!again.output.status.success());
    assert!(again.stderr().contains("--force"), "{}", again.stderr());
    let bad = creditlens(dir.path(), &["search", "--prompt", "Q:", "--beams", "0"]);
    assert!(!bad.output.status.success());
    assert!(bad.stderr().contains("--beams"), "{}", bad.stderr());
    creditlens(
        dir.path(),
        &[
            "search", "--demo", "--prompt", "hi", "--chat", "--beams", "1",
        ],
    )
    .fails_with("has no chat template");
    let raising = dir.path().join("raise.jinja");
    std::fs::write(&raising, "{{ raise_exception('no user messages here') }}").expect("write");
    creditlens(
        dir.path(),
        &[
            "search",
            "--demo",
            "--prompt",
            "hi",
            "--chat",
            "--chat-template",
            &s(&raising),
            "--beams",
            "1",
        ],
    )
    .fails_with("no user messages here");
    creditlens(
        dir.path(),
        &[
            "search",
            "--demo",
            "--prompt",
            "hi",
            "--beams",
            "1",
            "--max-new-tokens",
            "100000",
        ],
    )
    .fails_with("context of 256 tokens");
    let empty = creditlens(
        dir.path(),
        &["search", "--demo", "--prompt", "", "--beams", "1"],
    );
    assert!(!empty.output.status.success());
    assert!(empty.stderr().contains("empty"), "{}", empty.stderr());
}

/// The beam experiment at a scaled-down size (10 held-out prompts): its greedy row is what plain greedy decoding
/// (argmax at every step, recomputed without a cache) gives, judged by the checker, and every row's means are
/// those of the runs it writes.
#[test]
fn the_beam_experiment_reproduces_at_a_small_size() {
    use creditlens::search::{ExperimentSettings, run_experiment};
    let demo = creditlens::demo_assets::DemoAssets::locate().expect("demo");
    let scorer = Scorer::load(
        &demo.policy(),
        &demo.reference(),
        Dtype::F32,
        ScoreOptions::default(),
    )
    .expect("load");
    let settings = ExperimentSettings {
        prompts: 10,
        beams: vec![1, 4],
        max_new_tokens: 40,
        length_penalty: 1.0,
        samples: 1,
        temperature: 1.0,
        seed: 3,
    };
    let mut runs = Vec::new();
    let rows = run_experiment(&scorer, &demo, &settings, &mut |_, run| {
        if let Some(run) = run {
            runs.push(run.clone());
        }
        Ok(())
    })
    .expect("experiment");
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].label, "greedy");
    assert_eq!(rows[1].label, "beam 4");
    assert_eq!(runs.len(), 30);
    // Every row's mean length and reward are those of the best candidates written.
    for (row, beams) in rows.iter().zip([1usize, 4, 0]) {
        let best: Vec<_> = runs
            .iter()
            .filter(|r| r.beams == beams)
            .map(|r| &r.candidates[0].response)
            .collect();
        assert_eq!(best.len(), 10);
        let mean = |f: &dyn Fn(&creditlens::score::ResponseScore) -> f64| {
            best.iter().map(|r| f(r)).sum::<f64>() / 10.0
        };
        assert!((row.mean_length - mean(&|r| r.num_tokens as f64)).abs() < 1e-9);
        assert!((row.mean_reward - mean(&|r| r.reward)).abs() < 1e-9);
        assert!((row.mean_logp - mean(&|r| r.logp_policy)).abs() < 1e-9);
    }
    // Greedy, independently: argmax without a cache, judged by the checker.
    let world = creditlens::task::World::new(creditlens::train::DemoConfig::full().seed);
    let text = std::fs::read_to_string(demo.heldout()).expect("heldout");
    let tok = scorer.tokenizer();
    let lm = scorer.policy().lm();
    let mut correct = 0;
    for line in text.lines().take(10) {
        let p: creditlens::task::LabelledPair = serde_json::from_str(line).expect("pair");
        let ids = tok.encode_with(&p.prompt, true).expect("encode").ids;
        let generated = greedy_without_cache(lm, &ids, settings.max_new_tokens, &[0]);
        let answer = tok.inner().decode(&generated, true).expect("decode");
        if creditlens::task::check::is_correct(&world, &p.kind, &p.prompt, &answer) == Some(true) {
            correct += 1;
        }
    }
    assert!(
        (rows[0].correct - correct as f64 / 10.0).abs() < 1e-9,
        "{} vs {correct}/10",
        rows[0].correct
    );
}

/// `search --data` takes records whose `prompt` is a string or a list of messages (rendered by the chat template
/// with the generation prompt), names the line of a bad record, and `--chat` wraps string prompts as user messages.
#[test]
fn search_reads_string_and_message_prompts_from_a_data_file() {
    use crate::util::{creditlens, model, s, temp};
    let dir = temp();
    let data = dir.path().join("prompts.jsonl");
    std::fs::write(
        &data,
        concat!(
            "{\"prompt\": \"The cat sat on\"}\n",
            "{\"prompt\": [{\"role\": \"user\", \"content\": \"Where did the cat sit?\"}], \"chosen\": \"ignored\"}\n",
        ),
    )
    .expect("write");
    let out = dir.path().join("runs.jsonl");
    let (policy, reference) = (s(&model("llama")), s(&model("llama_ref")));
    let (data_s, out_s, chat_out) = (s(&data), s(&out), dir.path().join("chat.jsonl"));
    let chat_s = s(&chat_out);
    let base = [
        "search",
        "--policy",
        &policy,
        "--reference",
        &reference,
        "--beams",
        "2",
        "--max-new-tokens",
        "6",
    ];
    let mut args = base.to_vec();
    args.extend(["--data", &data_s, "--out", &out_s]);
    creditlens(dir.path(), &args).ok();
    let runs: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .expect("out")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["index"], 0);
    assert_eq!(runs[0]["prompt"], "The cat sat on");
    assert_eq!(runs[1]["index"], 1);
    let rendered = runs[1]["prompt"].as_str().expect("prompt");
    assert!(
        rendered.contains("<|start_header_id|>user<|end_header_id|>")
            && rendered.ends_with("<|start_header_id|>assistant<|end_header_id|>\n\n"),
        "{rendered:?}"
    );
    // --chat: the string prompt becomes the same conversation.
    let mut args = base.to_vec();
    args.extend([
        "--prompt",
        "Where did the cat sit?",
        "--chat",
        "--out",
        &chat_s,
    ]);
    creditlens(dir.path(), &args).ok();
    let chat: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&chat_out)
            .expect("out")
            .lines()
            .next()
            .expect("line"),
    )
    .expect("json");
    assert_eq!(chat["prompt"], runs[1]["prompt"]);
    assert_eq!(chat["candidates"], runs[1]["candidates"]);
    // A record without a prompt is named by its line.
    std::fs::write(&data, "{\"prompt\": \"a\"}\n{\"text\": \"b\"}\n").expect("write");
    let mut args = base.to_vec();
    args.extend(["--data", &data_s]);
    creditlens(dir.path(), &args).fails_with("prompts.jsonl:2: the record has no `prompt` field");
}
