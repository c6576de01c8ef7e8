//! Every input that can be wrong gives one clear line naming the file or field, and a non-zero exit.

use crate::util::{copy_model, creditlens, edit_json, model, model_with_config, s, temp};
use creditlens::model::Dtype;
use creditlens::score::{ScoreOptions, Scorer};
use serde_json::json;
use std::path::Path;

/// The embedded demo's models, loaded as the library does.
fn demo_scorer() -> Scorer {
    let demo = creditlens::demo_assets::DemoAssets::locate().expect("demo");
    Scorer::load(
        &demo.policy(),
        &demo.reference(),
        Dtype::F32,
        ScoreOptions::default(),
    )
    .expect("load")
}

fn load_err(policy: &Path, reference: &Path) -> String {
    Scorer::load(policy, reference, Dtype::F32, ScoreOptions::default())
        .expect_err("load should fail")
        .to_string()
}

fn score_cli(dir: &Path, policy: &Path, reference: &Path) -> crate::util::Run {
    score_cli_with(dir, policy, reference, &[])
}

/// `creditlens score` of one prompt and response with `extra` options.
fn score_cli_with(dir: &Path, policy: &Path, reference: &Path, extra: &[&str]) -> crate::util::Run {
    let (policy, reference) = (s(policy), s(reference));
    let mut args = vec![
        "score",
        "--policy",
        &policy,
        "--reference",
        &reference,
        "--prompt",
        "Hi",
        "--response",
        " there",
    ];
    args.extend_from_slice(extra);
    creditlens(dir, &args)
}

#[test]
fn missing_path_and_file_instead_of_directory() {
    let dir = temp();
    let missing = dir.path().join("nope");
    assert!(load_err(&missing, &missing).contains("no such file or directory"));
    score_cli(dir.path(), &missing, &model("llama")).fails_with("nope: no such file or directory");
    let file = model("llama").join("config.json");
    score_cli(dir.path(), &file, &model("llama"))
        .fails_with("is a file, but a checkpoint is a directory");
}

#[test]
fn missing_tokenizer_and_weights_are_named() {
    let dir = temp();
    let m = dir.path().join("m");
    copy_model("qwen2", &m);
    std::fs::remove_file(m.join("tokenizer.json")).unwrap();
    assert!(load_err(&m, &m).contains("missing tokenizer.json"));
    copy_model("qwen2", &m);
    std::fs::remove_file(m.join("model.safetensors")).unwrap();
    assert!(load_err(&m, &m).contains("missing model.safetensors"));
    let sharded = dir.path().join("s");
    copy_model("mistral", &sharded);
    let shard = std::fs::read_dir(&sharded)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("-of-"))
        .expect("a shard");
    std::fs::remove_file(&shard).unwrap();
    assert!(load_err(&sharded, &sharded).contains("missing shard"));
}

#[test]
fn truncated_safetensors() {
    let dir = temp();
    let m = dir.path().join("m");
    copy_model("qwen2", &m);
    let f = m.join("model.safetensors");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_err(&m, &m);
    assert!(
        err.contains("model.safetensors") && err.contains("truncated or corrupt"),
        "{err}"
    );
    score_cli(dir.path(), &m, &m).fails_with("truncated or corrupt");
    std::fs::write(&f, b"garbage").unwrap();
    assert!(load_err(&m, &m).contains("truncated or corrupt"));
}

#[test]
fn shape_disagreeing_with_config() {
    let dir = temp();
    let m = model_with_config("qwen3", &dir.path().join("m"), |c| {
        c["intermediate_size"] = json!(48)
    });
    let err = load_err(&m, &m);
    assert!(
        err.contains("mlp.gate_proj.weight") && err.contains("config.json implies"),
        "{err}"
    );
}

#[test]
fn unsupported_dtype() {
    let dir = temp();
    let m = dir.path().join("m");
    copy_model("qwen2", &m);
    let f = m.join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&f, &candle_core::Device::Cpu).unwrap();
    let norm = tensors.get_mut("model.norm.weight").unwrap();
    *norm = norm.to_dtype(candle_core::DType::F64).unwrap();
    candle_core::safetensors::save(&tensors, &f).unwrap();
    let err = load_err(&m, &m);
    assert!(
        err.contains("model.norm.weight") && err.contains("F64"),
        "{err}"
    );
}

#[test]
fn unknown_architecture_lists_supported() {
    let dir = temp();
    let m = model_with_config("llama", &dir.path().join("m"), |c| {
        c["architectures"] = json!(["BertForMaskedLM"])
    });
    let err = score_cli(dir.path(), &m, &m)
        .fails_with("architecture `BertForMaskedLM` is not supported; supported architectures: LlamaForCausalLM")
        .stderr();
    for family in [
        "GemmaForCausalLM",
        "Phi3ForCausalLM",
        "GPT2LMHeadModel",
        "GPTNeoXForCausalLM",
    ] {
        assert!(err.contains(family), "{err}");
    }
    std::fs::write(m.join("config.json"), "{ not json").unwrap();
    assert!(load_err(&m, &m).contains("config.json: not valid config.json"));
}

/// A config.json that names a family whose tensors the checkpoint does not have: the missing tensor is named.
#[test]
fn family_that_contradicts_the_weights_names_the_tensor() {
    let dir = temp();
    for (arch, missing) in [
        (
            "Phi3ForCausalLM",
            "model.layers.0.self_attn.qkv_proj.weight",
        ),
        ("Olmo2ForCausalLM", "model.layers.0.self_attn.q_norm.weight"),
    ] {
        let m = model_with_config("llama", &dir.path().join(arch), |c| {
            c["architectures"] = json!([arch])
        });
        score_cli(dir.path(), &m, &m).fails_with(&format!("tensor `{missing}` is missing"));
    }
}

#[test]
fn different_tokenizers_are_refused() {
    let err = load_err(&model("llama"), &model("qwen2"));
    assert!(err.contains("tokenizers differ"), "{err}");
    let dir = temp();
    score_cli(dir.path(), &model("qwen2"), &model("llama")).fails_with("tokenizers differ");
    // The tokenizers load beside the weights; their disagreement is still the error reported when the weights
    // are broken too.
    let m = dir.path().join("m");
    copy_model("qwen2", &m);
    let f = m.join("model.safetensors");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_err(&model("llama"), &m);
    assert!(err.contains("tokenizers differ"), "{err}");
}

#[test]
fn bad_data_files() {
    let dir = temp();
    let p = dir.path();
    let run = |file: &str| {
        creditlens(
            p,
            &[
                "score",
                "--policy",
                &s(&model("qwen2")),
                "--reference",
                &s(&model("qwen2_ref")),
                "--data",
                file,
            ],
        )
    };
    std::fs::write(
        p.join("latin1.jsonl"),
        b"{\"prompt\":\"caf\xe9\",\"completion\":\" x\"}\n",
    )
    .unwrap();
    run("latin1.jsonl").fails_with("latin1.jsonl:1: not valid UTF-8");
    std::fs::write(
        p.join("bad.jsonl"),
        "{\"prompt\":\"a\",\"completion\":\" b\"}\n{\"prompt\": \n",
    )
    .unwrap();
    run("bad.jsonl").fails_with("bad.jsonl:2: not valid JSON");
    std::fs::write(p.join("nofield.jsonl"), "{\"question\":\"a\"}\n").unwrap();
    run("nofield.jsonl").fails_with("nofield.jsonl:1: missing field `prompt`");
    std::fs::write(p.join("empty.jsonl"), "\n").unwrap();
    run("empty.jsonl").fails_with("the file is empty");
    run("absent.jsonl").fails_with("absent.jsonl: no such file or directory");
}

#[test]
fn bad_options() {
    let dir = temp();
    let q = model("qwen2");
    let score = |extra: &[&str]| score_cli_with(dir.path(), &q, &q, extra);
    score(&["--beta", "0"]).fails_with("beta must be a positive number");
    // A negative beta reaches the check that explains it (clap took `-1` for an option before, issue 18).
    score(&["--beta", "-1"])
        .fails_with("beta must be a positive number of at most 1000 (DPO uses 0.01 to 1), got -1");
    score(&["--tokenization", "bpe"]).fails_with("unknown tokenization mode");
    score(&["--out", "x.txt"]).fails_with("use .jsonl or .csv");
    let q = s(&q);
    creditlens(dir.path(), &["score", "--policy", &q, "--reference", &q])
        .fails_with("give --data FILE");
    score(&["--dtype", "int8"]).fails_with("unknown dtype");
}

#[test]
fn bad_lora_adapters_are_refused_with_the_field() {
    let dir = temp();
    let a = dir.path().join("adapter");
    copy_model("llama_lora_rs", &a);
    let base = model("llama_ref");
    let config = a.join("adapter_config.json");
    let original = std::fs::read_to_string(&config).unwrap();
    // Its base "../llama_ref" does not exist next to the copy: the reference stands in, so it loads.
    Scorer::load(&a, &base, Dtype::F32, ScoreOptions::default()).expect("reference as base");
    for (field, value, expect) in [
        ("use_dora", json!(true), "`use_dora` is true"),
        ("peft_type", json!("IA3"), "only LoRA adapters"),
        ("bias", json!("all"), "bias is `all`"),
        (
            "r",
            json!(8),
            "rank 4 but adapter_config.json implies r = 8",
        ),
        (
            "r",
            json!("four"),
            "field `r` is missing or not a positive integer",
        ),
    ] {
        std::fs::write(&config, &original).unwrap();
        edit_json(&config, |c| {
            assert!(c.get(field).is_some(), "{field}");
            c[field] = value;
        });
        let err = load_err(&a, &base);
        assert!(err.contains("adapter") && err.contains(expect), "{err}");
    }
    std::fs::write(&config, "{ not json").unwrap();
    assert!(load_err(&a, &base).contains("adapter_config.json: not valid JSON"));
    std::fs::write(&config, &original).unwrap();
    std::fs::remove_file(a.join("adapter_model.safetensors")).unwrap();
    assert!(load_err(&a, &base).contains("missing adapter_model.safetensors"));
    // An adapter's reference cannot be another adapter's hub base.
    let err = load_err(&model("llama_lora"), &model("llama_lora"));
    assert!(err.contains("not a local checkpoint directory"), "{err}");
    // The command line names the flag to add.
    score_cli(dir.path(), &model("llama_lora"), &base).ok();
    creditlens(
        dir.path(),
        &[
            "score",
            "--policy",
            &s(&model("llama")),
            "--prompt",
            "Hi",
            "--response",
            " x",
        ],
    )
    .fails_with("give the reference too");
}

#[test]
fn bad_gguf_files_are_named() {
    let dir = temp();
    let good = model("gguf").join("tiny-llama.gguf");
    let base = model("gguf_base");
    let bytes = std::fs::read(&good).unwrap();
    // Truncated: the header is readable, the tensor data is not all there.
    let cut = dir.path().join("cut.gguf");
    std::fs::write(&cut, &bytes[..bytes.len() - 1000]).unwrap();
    let err = load_err(&cut, &base);
    assert!(
        err.contains("cut.gguf") && err.contains("truncated"),
        "{err}"
    );
    // Not GGUF at all, though named so.
    let fake = dir.path().join("fake.gguf");
    std::fs::write(&fake, b"this is not a model").unwrap();
    let err = load_err(&fake, &base);
    assert!(
        err.contains("fake.gguf") && err.contains("not a readable GGUF file"),
        "{err}"
    );
    // A tokenizer.json next to the file is used instead of the metadata (and must fit the reference).
    let side = dir.path().join("side");
    std::fs::create_dir_all(&side).unwrap();
    std::fs::copy(&good, side.join("m.gguf")).unwrap();
    std::fs::copy(
        model("llama").join("tokenizer.json"),
        side.join("tokenizer.json"),
    )
    .unwrap();
    let err = load_err(&side.join("m.gguf"), &base);
    assert!(err.contains("tokenizers differ"), "{err}");
    // An unsupported architecture is named with the supported ones.
    let arch = dir.path().join("arch.gguf");
    let mut patched = bytes.clone();
    let at = patched
        .windows(5)
        .position(|w| w == b"llama")
        .expect("architecture string");
    patched[at..at + 5].copy_from_slice(b"mamba");
    std::fs::write(&arch, patched).unwrap();
    let err = load_err(&arch, &base);
    assert!(
        err.contains("GGUF architecture `mamba` is not supported")
            && err.contains(
                "llama, qwen2, qwen3, gemma, gemma2, gemma3, phi3, olmo2, stablelm, gptneox, gpt2"
            ),
        "{err}"
    );
}

/// A response of 64 MB (a broken data line) is cut before it is tokenised (issue 16): it scores at once, says so,
/// and its scored tokens are exactly those of a short prefix of it, both truncated to the model's context.
#[test]
fn an_absurdly_long_response_is_cut_before_tokenising() {
    let scorer = demo_scorer();
    let unit = " Twice 7 is 14, and 3 doubled makes 6.";
    let huge: String = unit.repeat(64 * 1024 * 1024 / unit.len());
    let prefix = &huge[..20_000];
    let started = std::time::Instant::now();
    let (long, warnings) = scorer
        .score_texts("Q: What is twice 7?\nA:", &[&huge])
        .expect("scored");
    assert!(
        started.elapsed().as_secs() < 20,
        "took {:?}",
        started.elapsed()
    );
    assert!(
        warnings.iter().any(|w| w.contains("only its first")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("truncated")),
        "{warnings:?}"
    );
    let (short, _) = scorer
        .score_texts("Q: What is twice 7?\nA:", &[prefix])
        .expect("scored");
    let ids =
        |r: &creditlens::score::ResponseScore| r.tokens.iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(ids(&long[0]), ids(&short[0]));
    assert_eq!(long[0].logp_policy, short[0].logp_policy);
}

/// A conversation with an absurdly long message is cut before the chat template renders it (issue 16): the same
/// ids and numbers as its first 20,000 bytes, with a warning, in seconds.
#[test]
fn an_absurdly_long_message_is_cut_before_rendering() {
    let template = creditlens::chat::ChatTemplate::new(
        "{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}".into(),
        "test.jinja".into(),
        None,
        Default::default(),
    )
    .expect("template");
    let scorer = demo_scorer().with_chat_template(template);
    let unit = " Twice 7 is 14, and 3 doubled makes 6.";
    let huge: String = unit.repeat(64 * 1024 * 1024 / unit.len());
    let conv = |answer: &str| {
        creditlens::chat::Conversation::from_texts(None, "Q: What is twice 7?", &[answer])
    };
    let started = std::time::Instant::now();
    let long = scorer.score_conversation(&conv(&huge)).expect("scored");
    let warnings = &long.warnings;
    assert!(
        started.elapsed().as_secs() < 20,
        "took {:?}",
        started.elapsed()
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("assistant message") && w.contains("only its first")),
        "{warnings:?}"
    );
    let short = scorer
        .score_conversation(&conv(&huge[..20_000]))
        .expect("scored");
    let ids =
        |r: &creditlens::score::ResponseScore| r.tokens.iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(ids(&long.responses[0]), ids(&short.responses[0]));
    assert_eq!(
        long.responses[0].logp_policy,
        short.responses[0].logp_policy
    );
}

/// Memory known before loading (issue 16): a budget smaller than the estimate refuses the load with both figures
/// and what would fit, and a record that would not fit is refused before its forward pass.
#[test]
fn a_memory_budget_below_the_estimate_is_refused_before_loading() {
    let dir = temp();
    let err = creditlens(
        dir.path(),
        &[
            "score",
            "--demo",
            "--prompt",
            "Q: What is twice 7?\nA:",
            "--response",
            " 14.",
            "--max-memory",
            "50M",
        ],
    )
    .fails_with("needs an estimated")
    .stderr();
    assert!(
        err.contains("52 MB of --max-memory") && err.contains("--dtype bf16"),
        "{err}"
    );
    creditlens(
        dir.path(),
        &[
            "score",
            "--prompt",
            "Hi",
            "--response",
            " there",
            "--max-memory",
            "lots",
        ],
    )
    .fails_with("not a size");

    let scorer = demo_scorer();
    let tight = scorer
        .with_options(ScoreOptions {
            max_memory: Some(1),
            ..ScoreOptions::default()
        })
        .expect("options");
    let err = tight
        .score_texts("Q: What is twice 7?\nA:", &[" 14."])
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("working memory") && err.contains("--max-length"),
        "{err}"
    );
}

/// Overwrites values of tensor `name` in a safetensors file: `values` (little-endian bytes of one value each) from
/// flat index `at`.
fn poison(file: &std::path::Path, name: &str, at: usize, values: &[&[u8]]) {
    let mut bytes = std::fs::read(file).expect("read");
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("header size")) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).expect("header");
    let start = header[name]["data_offsets"][0].as_u64().expect("offsets") as usize;
    let size = match header[name]["dtype"].as_str() {
        Some("F32") => 4,
        _ => 2,
    };
    for (i, v) in values.iter().enumerate() {
        let o = 8 + n + start + (at + i) * size;
        bytes[o..o + size].copy_from_slice(v);
    }
    std::fs::write(file, bytes).expect("write");
}

/// Non-finite weights (issue 18): a NaN in q_proj or down_proj, an infinity in a norm, one NaN row of a bf16 LM head
/// are refused at load, naming the tensor and where, with exit status 1; before, rewards became null while `kl`
/// read 0.0 and `rank_policy` 1.
#[test]
fn non_finite_weights_are_refused_at_load_naming_the_tensor() {
    let nan = f32::NAN.to_le_bytes();
    let inf = f32::INFINITY.to_le_bytes();
    let bf16_nan = [0xc0u8, 0x7f];
    let row: Vec<&[u8]> = vec![&bf16_nan[..]; 32];
    /// (fixture, tensor, flat index, values written there, the index the message names)
    type Case<'a> = (&'a str, &'a str, usize, Vec<&'a [u8]>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "llama",
            "model.layers.0.self_attn.q_proj.weight",
            5,
            vec![&nan[..]],
            "[0, 5]",
        ),
        (
            "llama",
            "model.layers.1.mlp.down_proj.weight",
            70,
            vec![&nan[..]],
            "[1, 6]",
        ),
        (
            "llama",
            "model.layers.0.input_layernorm.weight",
            3,
            vec![&inf[..]],
            "[3]",
        ),
        ("llama_untied", "lm_head.weight", 32 * 7, row, "[7, 0]"),
    ];
    for (fixture, name, at, values, index) in cases {
        let dir = temp();
        let bad = dir.path().join("bad");
        copy_model(fixture, &bad);
        poison(&bad.join("model.safetensors"), name, at, &values);
        let reference = s(&model(&format!("{fixture}_ref")));
        let run = creditlens(
            dir.path(),
            &[
                "score",
                "--policy",
                &s(&bad),
                "--reference",
                &reference,
                "--prompt",
                "Hi",
                "--response",
                "there",
            ],
        )
        .fails_with(&format!(
            "tensor `{name}` holds {} non-finite value(s)",
            values.len()
        ));
        assert!(run.stderr().contains(index), "{}", run.stderr());
        assert_eq!(run.output.status.code(), Some(1));
    }
}

/// Finite weights whose products overflow (one LM-head row of 3e38) give non-finite log-probs: the record is
/// refused, naming the token, instead of writing nulls beside plausible numbers.
#[test]
fn non_finite_computed_values_are_reported_not_written() {
    let dir = temp();
    let bad = dir.path().join("big");
    copy_model("llama", &bad);
    let big = 3e38f32.to_le_bytes();
    // The tied embeddings are the LM head: token 5's row overflows every logit product.
    poison(
        &bad.join("model.safetensors"),
        "model.embed_tokens.weight",
        5 * 32,
        &vec![&big[..]; 32],
    );
    let out = dir.path().join("out.jsonl");
    creditlens(
        dir.path(),
        &[
            "score",
            "--policy",
            &s(&bad),
            "--reference",
            &s(&model("llama_ref")),
            "--prompt",
            "Hi",
            "--response",
            "there",
            "--out",
            &s(&out),
        ],
    )
    .fails_with("computed a non-finite value");
    let written = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(!written.contains("null"), "{written}");
}

/// A beta far beyond any DPO run's (1e308: margins overflow) and a top-k beyond the vocabulary or writing gigabytes
/// are refused with what is allowed.
#[test]
fn absurd_beta_and_top_k_are_refused() {
    let dir = temp();
    let args = |extra: &[&str]| {
        let mut a = vec![
            "score",
            "--prompt",
            "Q: What is twice 2?\nA:",
            "--response",
            " 4.",
        ];
        a.extend_from_slice(extra);
        a.iter().map(|x| x.to_string()).collect::<Vec<_>>()
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        creditlens(
            dir.path(),
            &a.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };
    run(&["--beta", "1e308"]).fails_with("at most 1000");
    run(&["--top-k", "100000"]).fails_with("too many");
    let (policy, reference) = (s(&model("llama")), s(&model("llama_ref")));
    run(&[
        "--policy",
        &policy,
        "--reference",
        &reference,
        "--top-k",
        "600",
    ])
    .fails_with("vocabulary of 505 tokens");
    run(&["--demo", "--top-k", "3"]).ok();
}

/// Never lost or corrupted data (issue 18): `--out` naming the `--data` file is refused even with --force (the
/// records stay); the output is written as `<out>.partial`, locked against a second run, and renamed when complete;
/// `--resume` continues an interrupted run from its complete lines and gives the same file as an uninterrupted run.
#[test]
fn outputs_are_never_the_input_never_interleaved_and_resumable() {
    let dir = temp();
    let data = dir.path().join("pairs.jsonl");
    std::fs::copy(crate::util::fixtures().join("records.jsonl"), &data).expect("copy");
    let before = std::fs::read(&data).expect("data");
    let d = s(&data);
    creditlens(
        dir.path(),
        &["score", "--demo", "--data", &d, "--out", &d, "--force"],
    )
    .fails_with("is the --data file");
    creditlens(
        dir.path(),
        &[
            "search", "--demo", "--data", &d, "--out", &d, "--force", "--beams", "1",
        ],
    )
    .fails_with("is the input");
    assert_eq!(
        std::fs::read(&data).expect("data"),
        before,
        "the data file is intact"
    );

    let policy = s(&model("llama"));
    let reference = s(&model("llama_ref"));
    let full = dir.path().join("full.jsonl");
    let score = |out: &std::path::Path, extra: &[&str]| {
        let o = s(out);
        let mut a = vec![
            "score",
            "--policy",
            &policy,
            "--reference",
            &reference,
            "--data",
            &d,
            "--top-k",
            "2",
            "--out",
            &o,
        ];
        a.extend_from_slice(extra);
        creditlens(dir.path(), &a)
    };
    score(&full, &[]).ok();
    let lines: Vec<String> = std::fs::read_to_string(&full)
        .expect("full")
        .lines()
        .map(str::to_string)
        .collect();
    assert!(lines.len() >= 5);
    assert!(!creditlens::partial_file::partial_path(&full).exists());

    // Another run holding the output: a second one is refused instead of interleaving lines.
    let busy = dir.path().join("busy.jsonl");
    let held =
        std::fs::File::create(creditlens::partial_file::partial_path(&busy)).expect("partial");
    held.try_lock().expect("lock");
    score(&busy, &[]).fails_with("another creditlens run is writing this output");
    drop(held);

    // An interrupted run: two complete lines and a torn third.
    let resumed = dir.path().join("resumed.jsonl");
    let torn = format!(
        "{}\n{}\n{}",
        lines[0],
        lines[1],
        &lines[2][..lines[2].len() / 2]
    );
    std::fs::write(creditlens::partial_file::partial_path(&resumed), torn).expect("partial");
    let run = score(&resumed, &["--resume"]).ok();
    assert!(
        run.stderr().contains("2 record(s) already scored"),
        "{}",
        run.stderr()
    );
    assert_eq!(
        std::fs::read_to_string(&resumed).expect("resumed"),
        std::fs::read_to_string(&full).expect("full")
    );
    score(&resumed, &["--resume"]).fails_with("the output is complete");
}
