//! Conversational records against TRL 1.16 and transformers (`fixtures/make_chat_fixtures.py`): the rendered
//! template text, TRL's token ids and prompt length, per-token log-probs and TRL's summed rewards, in both
//! tokenisation modes, for ChatML and Llama-3 templates read from tokenizer_config.json, two templates given as
//! files (tools with `tojson`, a Gemma-style template that raises), and the real SmolLM2-135M-Instruct.

use crate::golden::{check_trl_metrics, floats, golden, ints, max_diff, smollm2_path};
use crate::util::{Run, creditlens, fixtures, s as path_str, temp};
use creditlens::chat::{ChatTemplate, RenderOptions, load};
use creditlens::data::{Record, read_entries};
use creditlens::model::Dtype;
use creditlens::score::{ScoreOptions, Scorer};
use creditlens::tokenize::{TokenizationMode, encode_conversation};
use serde_json::Value;
use std::path::Path;

const TOL: f64 = 1e-4;

fn records() -> Vec<Record> {
    read_entries(&fixtures().join("chat/records.jsonl"))
        .expect("records")
        .into_iter()
        .map(|e| e.record.expect("fixture record"))
        .collect()
}

fn scorer(
    policy: &Path,
    reference: &Path,
    template: Option<&str>,
    mode: TokenizationMode,
) -> Scorer {
    let options = ScoreOptions {
        beta: 0.1,
        mode,
        top_k: 2,
        max_length: None,
        max_memory: None,
    };
    let s = Scorer::load(policy, reference, Dtype::F32, options).expect("load");
    match template {
        Some(file) => {
            let t = load::from_file(
                &fixtures().join("chat/templates").join(file),
                Default::default(),
            )
            .expect("template file");
            let t = t.with_special(s.tokenizer().template_tokens());
            s.with_chat_template(t)
        }
        None => s,
    }
}

fn keys(rec: &Record) -> Vec<&'static str> {
    if rec.is_pair() {
        vec!["chosen", "rejected"]
    } else {
        vec!["completion"]
    }
}

fn check_case(name: &str, policy: &Path, reference: &Path) {
    let g = golden(name);
    let template = g["template"].as_str();
    let recs = records();
    let mut worst = 0f64;
    for mode in [TokenizationMode::Trl, TokenizationMode::Joint] {
        let s = scorer(policy, reference, template, mode);
        let expected = g["modes"][mode.to_string()].as_array().expect("mode");
        assert_eq!(expected.len(), recs.len(), "{name} {mode}: record count");
        for (rec, exp) in recs.iter().zip(expected) {
            let i = exp["index"].as_u64().expect("index") as usize;
            let ctx = format!("{name} {mode} record {i}");
            let conv = rec.chat().expect("conversational");
            if let Some(err) = exp.get("error").and_then(Value::as_str) {
                let ours = s.score_record(i, rec).expect_err(&ctx).to_string();
                assert!(ours.contains(err), "{ctx}: {ours:?} should contain {err:?}");
                assert!(ours.contains("template line 1"), "{ctx}: {ours}");
                assert!(
                    ours.contains(template.unwrap_or("chat_template")),
                    "{ctx}: {ours}"
                );
                continue;
            }
            let t = s.chat_template().expect("template");
            if let Some(texts) = exp.get("texts") {
                check_texts(&ctx, t, conv, texts);
            }
            let enc = encode_conversation(s.tokenizer(), t, mode, conv, None).expect(&ctx);
            let scored = s
                .score_record(i, rec)
                .unwrap_or_else(|e| panic!("{ctx}: {e}"));
            for ((key, seq), (_, resp)) in
                keys(rec).iter().zip(&enc.sequences).zip(scored.responses())
            {
                let e = &exp["responses"][key];
                let ctx = format!("{ctx} {key}");
                let ids: Vec<u64> = seq.ids.iter().map(|&x| u64::from(x)).collect();
                assert_eq!(ids, ints(&e["input_ids"]), "{ctx}: token ids");
                assert_eq!(
                    seq.scored_start as u64,
                    e["prompt_len"].as_u64().expect("len"),
                    "{ctx}: prompt_len"
                );
                for (field, ours) in [
                    (
                        "logp_policy",
                        resp.tokens
                            .iter()
                            .map(|t| t.logp_policy)
                            .collect::<Vec<_>>(),
                    ),
                    (
                        "logp_reference",
                        resp.tokens.iter().map(|t| t.logp_reference).collect(),
                    ),
                    ("kl", resp.tokens.iter().map(|t| t.kl).collect()),
                ] {
                    let d = max_diff(&ours, &floats(&e[field]));
                    worst = worst.max(d);
                    assert!(
                        d <= TOL,
                        "{ctx}: {field} differs from transformers by {d:e}"
                    );
                }
                // The completion's text is found in what is shown, and the template's own tokens are marked.
                if mode == TokenizationMode::Trl {
                    let start = resp
                        .content_start
                        .unwrap_or_else(|| panic!("{ctx}: content located"));
                    let text =
                        rec.responses()[keys(rec).iter().position(|k| k == key).unwrap_or(0)];
                    // The template may strip the message (Llama-3's `trim`).
                    let shown: String = resp.text.chars().skip(start).collect();
                    assert!(
                        shown.starts_with(text) || shown.starts_with(text.trim()),
                        "{ctx}: content_start {start} in {:?}",
                        resp.text
                    );
                    assert!(
                        resp.tokens.iter().any(|t| t.template),
                        "{ctx}: end-of-turn marked"
                    );
                    assert!(
                        resp.tokens.iter().any(|t| !t.template),
                        "{ctx}: content unmarked"
                    );
                }
            }
            let prompt = scored.prompt_tokens();
            assert_eq!(
                prompt.len(),
                enc.sequences[0].scored_start,
                "{ctx}: prompt tokens"
            );
            assert!(
                prompt.iter().any(|t| t.template) && prompt.iter().any(|t| !t.template),
                "{ctx}"
            );
            check_trl_metrics(&ctx, exp, &scored);
        }
    }
    eprintln!("{name}: worst |diff| vs transformers {worst:e}");
}

/// The template renders the very text transformers' `apply_chat_template` renders.
fn check_texts(ctx: &str, t: &ChatTemplate, conv: &creditlens::chat::Conversation, texts: &Value) {
    let opts = |add_generation_prompt| RenderOptions {
        add_generation_prompt,
        tools: conv.tools.as_ref(),
        kwargs: Some(&conv.kwargs),
    };
    let prompt = t.render(&conv.prompt, opts(true)).expect(ctx);
    assert_eq!(
        prompt,
        texts["prompt"].as_str().expect("prompt"),
        "{ctx}: rendered prompt"
    );
    let names = if conv.completions.len() == 2 {
        vec!["chosen", "rejected"]
    } else {
        vec!["completion"]
    };
    for (name, completion) in names.iter().zip(&conv.completions) {
        let all: Vec<_> = conv.prompt.iter().chain(completion).cloned().collect();
        let full = t.render(&all, opts(false)).expect(ctx);
        assert_eq!(
            full,
            texts[name].as_str().expect("text"),
            "{ctx}: rendered {name}"
        );
    }
}

fn model(name: &str) -> std::path::PathBuf {
    fixtures().join("models").join(name)
}

#[test]
fn chatml_template_from_tokenizer_config_matches_trl() {
    check_case("chat_qwen2", &model("qwen2"), &model("qwen2_ref"));
}

#[test]
fn llama3_template_with_bos_inside_matches_trl() {
    check_case("chat_llama", &model("llama"), &model("llama_ref"));
}

#[test]
fn tools_template_file_with_tojson_and_kwargs_matches_trl() {
    check_case("chat_qwen2_tools", &model("qwen2"), &model("qwen2_ref"));
}

/// Qwen-3 style with thinking off: the generation prompt's empty think block is not in the conversation, so the
/// prompt is not a token prefix; the boundary moves back exactly as in TRL, with TRL's warning on every record.
#[test]
fn generation_prompt_that_is_not_a_prefix_moves_the_boundary_as_trl() {
    check_case("chat_qwen2_think", &model("qwen2"), &model("qwen2_ref"));
    let s = scorer(
        &model("qwen2"),
        &model("qwen2_ref"),
        Some("think.jinja"),
        TokenizationMode::Trl,
    );
    for (i, rec) in records().iter().enumerate() {
        let scored = s.score_record(i, rec).expect("scored");
        assert!(
            scored
                .warnings()
                .iter()
                .any(|w| w.contains("not a prefix of the tokenised prompt+completion")),
            "record {i}: {:?}",
            scored.warnings()
        );
    }
}

#[test]
fn gemma_style_template_raises_on_system_and_matches_trl_otherwise() {
    check_case("chat_llama_gemma", &model("llama"), &model("llama_ref"));
}

/// The real SmolLM2-135M-Instruct with its own template from the GGUF metadata.
#[test]
fn smollm2_own_template_matches_transformers() {
    let path = smollm2_path();
    check_case("chat_smollm2", &path, &path);
}

/// `creditlens score` on the conversational file gives TRL's summed rewards; a labelled error in a conversation
/// lands on its token.
#[test]
fn score_command_on_conversational_data() {
    let dir = temp();
    let out = dir.path().join("out.jsonl");
    creditlens(
        dir.path(),
        &[
            "score",
            "--policy",
            &path_str(&model("llama")),
            "--reference",
            &path_str(&model("llama_ref")),
            "--data",
            &path_str(&fixtures().join("chat/records.jsonl")),
            "--out",
            &path_str(&out),
        ],
    )
    .ok();
    let g = golden("chat_llama");
    let lines: Vec<Value> = std::fs::read_to_string(&out)
        .expect("out")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), records().len());
    for (line, exp) in lines.iter().zip(g["modes"]["trl"].as_array().expect("trl")) {
        if let Some(trl) = exp.get("trl_metrics") {
            let margin = line["margin"].as_f64().expect("margin");
            assert!((margin - trl["rewards/margins"].as_f64().expect("m")).abs() <= TOL);
        }
        assert!(
            line["prompt_tokens"]
                .as_array()
                .is_some_and(|p| !p.is_empty())
        );
    }
    // Record 1's rejected says "6 legs": the error span [10, 11] lands on the token holding "6".
    let rejected = &lines[1]["rejected"];
    let start = rejected["content_start"].as_u64().expect("content_start");
    let hit: Vec<&str> = rejected["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .filter(|t| t["start"].as_u64() < Some(start + 11) && t["end"].as_u64() > Some(start + 10))
        .map(|t| t["text"].as_str().unwrap_or(""))
        .collect();
    assert!(hit.iter().any(|t| t.contains('6')), "{hit:?}");
}

/// `--chat` wraps --prompt as a user message (and --system as a system message) through the template.
#[test]
fn chat_switch_on_the_command_line() {
    let dir = temp();
    let (p, r) = (path_str(&model("llama")), path_str(&model("llama_ref")));
    let run = |extra: &[&str]| -> Value {
        let mut args = vec![
            "score",
            "--policy",
            &p,
            "--reference",
            &r,
            "--prompt",
            "What is the capital of France?",
            "--chosen",
            "Paris is the capital.",
            "--rejected",
            "Lyon is the capital.",
        ];
        args.extend_from_slice(extra);
        let out = creditlens(dir.path(), &args).ok();
        serde_json::from_str(out.stdout().trim()).expect("json")
    };
    let chat = run(&["--chat"]);
    let g = golden("chat_llama");
    let trl = &g["modes"]["trl"][0]["trl_metrics"];
    let margin = chat["margin"].as_f64().expect("margin");
    assert!(
        (margin - trl["rewards/margins"].as_f64().expect("m")).abs() <= TOL,
        "{margin}"
    );
    let plain = run(&[]);
    assert!(
        (plain["margin"].as_f64().expect("m") - margin).abs() > 1e-6,
        "plain text differs"
    );
    let system = run(&["--chat", "--system", "You answer in one short sentence."]);
    let prompt: String = system["prompt_tokens"]
        .as_array()
        .expect("prompt tokens")
        .iter()
        .map(|t| t["text"].as_str().unwrap_or(""))
        .collect();
    assert!(
        prompt.contains("<|start_header_id|>system<|end_header_id|>\n\nYou answer in one short sentence.<|eot_id|>"),
        "{prompt:?}"
    );
}

/// Bad conversational input: each a clear line naming file:line (or the template file) and the field.
#[test]
fn bad_conversational_input_is_named() {
    let dir = temp();
    let data = dir.path().join("bad.jsonl");
    std::fs::write(
        &data,
        concat!(
            r#"{"prompt":[{"role":"user","content":"q"}],"chosen":"a","rejected":[{"role":"assistant","content":"b"}]}"#, "\n",
            r#"{"prompt":[{"role":"user"}],"completion":[{"role":"assistant","content":"b"}]}"#, "\n",
            r#"{"prompt":[{"role":"boss","content":"q"}],"completion":[{"role":"assistant","content":"b"}]}"#, "\n",
            r#"{"prompt":[{"role":"system","content":"s"},{"role":"user","content":"q"}],"completion":[{"role":"assistant","content":"b"}]}"#, "\n",
            r#"{"prompt":[{"role":"user","content":"q"}],"completion":[{"role":"assistant","content":"fine"}]}"#, "\n",
        ),
    )
    .expect("write");
    let (p, r, d) = (
        path_str(&model("llama")),
        path_str(&model("llama_ref")),
        path_str(&data),
    );
    let score = |extra: &[&str]| -> Run {
        let mut args = vec!["score", "--policy", &p, "--reference", &r, "--data", &d];
        args.extend_from_slice(extra);
        creditlens(dir.path(), &args)
    };
    let err = score(&[]).fails_with("bad.jsonl:1").stderr();
    assert!(
        err.contains("bad.jsonl:1") && err.contains("mixes plain text and messages"),
        "{err}"
    );
    let gemma = fixtures().join("chat/templates/gemma.jinja");
    let r = score(&["--skip-bad", "--chat-template", &path_str(&gemma)]).ok();
    let err = r.stderr();
    assert!(
        err.contains("bad.jsonl:2") && err.contains("message 1 of `prompt` has no `content`"),
        "{err}"
    );
    assert!(
        err.contains("bad.jsonl:3") && err.contains("unknown role `boss`"),
        "{err}"
    );
    assert!(
        err.contains("bad.jsonl:4") && err.contains("System role not supported"),
        "{err}"
    );
    assert!(err.contains("gemma.jinja, template line 1"), "{err}");
    assert_eq!(r.stdout().lines().count(), 1, "the good record is scored");

    // A template file that is not UTF-8, and one that does not parse.
    let bad = dir.path().join("bad.jinja");
    std::fs::write(&bad, b"{{ bos_token }}\xff").expect("write");
    let err = score(&["--chat-template", &path_str(&bad)])
        .fails_with("bad.jinja")
        .stderr();
    assert!(err.contains("not valid UTF-8"), "{err}");
    std::fs::write(
        &bad,
        "{% for m in messages %}\n{{ m.content }\n{% endfor %}",
    )
    .expect("write");
    let err = score(&["--chat-template", &path_str(&bad)])
        .fails_with("bad.jinja, template line 2")
        .stderr();
    assert!(err.contains("syntax error"), "{err}");
}

/// A variable the template reads but nothing defines renders empty (as in transformers) with a warning naming it;
/// `chat_template_kwargs` defines it.
#[test]
fn undefined_template_variables_are_warned_about() {
    let dir = temp();
    let template = dir.path().join("greeting.jinja");
    std::fs::write(
        &template,
        "{{ bos_token }}{{ greeting }}{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}",
    )
    .expect("write");
    let data = dir.path().join("d.jsonl");
    std::fs::write(
        &data,
        concat!(
            r#"{"prompt":[{"role":"user","content":"Hi?"}],"completion":[{"role":"assistant","content":"Hello."}]}"#,
            "\n",
            r#"{"prompt":[{"role":"user","content":"Hi?"}],"completion":[{"role":"assistant","content":"Hello."}],"chat_template_kwargs":{"greeting":"Hey "}}"#,
            "\n",
        ),
    )
    .expect("write");
    let (p, r) = (path_str(&model("llama")), path_str(&model("llama_ref")));
    let out = creditlens(
        dir.path(),
        &[
            "score",
            "--policy",
            &p,
            "--reference",
            &r,
            "--data",
            &path_str(&data),
            "--chat-template",
            &path_str(&template),
        ],
    )
    .ok();
    let err = out.stderr();
    assert!(
        err.contains(
            "d.jsonl:1: warning: the chat template reads `greeting` which nothing defines"
        ),
        "{err}"
    );
    assert!(!err.contains("d.jsonl:2: warning"), "{err}");
    let lines: Vec<Value> = out
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let prompt = |i: usize| -> String {
        lines[i]["prompt_tokens"]
            .as_array()
            .expect("prompt tokens")
            .iter()
            .map(|t| t["text"].as_str().unwrap_or(""))
            .collect()
    };
    assert!(prompt(1).contains("Hey user: Hi?"), "{}", prompt(1));
    assert!(
        prompt(0).contains("<|begin_of_text|>user: Hi?"),
        "{}",
        prompt(0)
    );
}

/// `creditlens eval` on labelled conversational pairs: error spans index the message text and are moved onto the
/// rendered completion; the figures equal those recomputed here from `creditlens score`'s output.
#[test]
fn eval_reads_labelled_conversational_pairs() {
    let dir = temp();
    let (p, r) = (path_str(&model("llama")), path_str(&model("llama_ref")));
    let data = path_str(&fixtures().join("chat/records.jsonl"));
    let out = creditlens(
        dir.path(),
        &[
            "eval",
            "--policy",
            &p,
            "--reference",
            &r,
            "--data",
            &data,
            "--json",
        ],
    )
    .ok();
    let figures: Value = serde_json::from_str(out.stdout().trim()).expect("json");
    assert_eq!(figures["pairs"], 2, "the two labelled pairs: {figures}");
    // Recomputed: in each labelled pair, is the lowest-reward rejected token inside the (moved) error span?
    let scored = creditlens(
        dir.path(),
        &["score", "--policy", &p, "--reference", &r, "--data", &data],
    )
    .ok();
    let recs = records();
    let mut hits = 0;
    for (line, rec) in scored.stdout().lines().zip(&recs) {
        let Record::Pair { error_spans, .. } = rec else {
            continue;
        };
        if error_spans.is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).expect("json");
        let k = v["rejected"]["content_start"]
            .as_u64()
            .expect("content_start");
        let tokens = v["rejected"]["tokens"].as_array().expect("tokens");
        let lowest = tokens
            .iter()
            .min_by(|a, b| {
                a["reward"]
                    .as_f64()
                    .unwrap_or(0.0)
                    .total_cmp(&b["reward"].as_f64().unwrap_or(0.0))
            })
            .expect("a token");
        let (s, e) = (
            lowest["start"].as_u64().expect("s"),
            lowest["end"].as_u64().expect("e"),
        );
        if error_spans
            .iter()
            .any(|&(a, b)| s < b as u64 + k && a as u64 + k < e)
        {
            hits += 1;
        }
    }
    let top1 = figures["top1"].as_f64().expect("top1");
    assert!(
        (top1 - f64::from(hits) / 2.0).abs() < 1e-12,
        "{top1} vs {hits}/2"
    );
}

/// A tokenizer without a chat template, given conversational records, says so and names --chat-template.
#[test]
fn no_template_names_the_flag() {
    let dir = temp();
    let ckpt = dir.path().join("m");
    crate::util::copy_model("qwen2", &ckpt);
    let cfg = ckpt.join("tokenizer_config.json");
    let mut json: Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg).expect("cfg")).expect("json");
    json.as_object_mut()
        .expect("object")
        .remove("chat_template");
    std::fs::write(&cfg, json.to_string()).expect("write");
    let c = path_str(&ckpt);
    let data = path_str(&fixtures().join("chat/records.jsonl"));
    let err = creditlens(
        dir.path(),
        &["score", "--policy", &c, "--reference", &c, "--data", &data],
    )
    .fails_with("has no chat template")
    .stderr();
    assert!(
        err.contains("records.jsonl:1") && err.contains("--chat-template"),
        "{err}"
    );
}
