//! Issue 18's remaining cases: configs checked field by field against the weights, GGUF messages that name the
//! tensor and type, special tokens that are not in the vocabulary, data read from stdin, outputs the program cannot
//! write, and TRL's empty responses. Each test failed before its fix.

use crate::util::{copy_model, creditlens, edit_json, model, model_with_config, s, temp};
use creditlens::model::Dtype;
use creditlens::score::{ScoreOptions, Scorer};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn load_err(policy: &Path, reference: &Path) -> String {
    Scorer::load(policy, reference, Dtype::F32, ScoreOptions::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_else(|| panic!("{} should not load", policy.display()))
}

/// A config.json that says fewer layers than the weights hold is refused with the count to set; before, the
/// model ran with its last layers silently dropped.
#[test]
fn fewer_layers_in_the_config_than_in_the_weights_are_refused() {
    let dir = temp();
    let m = model_with_config("llama", &dir.path().join("m"), |c| {
        c["num_hidden_layers"] = 1.into()
    });
    let err = load_err(&m, &model("llama_ref"));
    assert!(
        err.contains("config.json")
            && err.contains("`num_hidden_layers` is 1")
            && err.contains("layers up to 1")
            && err.contains("set it to 2"),
        "{err}"
    );
}

/// A tensor the configured architecture has no place for is refused, naming it; transformers' skipped buffers
/// (rotary `inv_freq`) and TRL's value head are not.
#[test]
fn tensors_the_config_has_no_place_for_are_named() {
    let dir = temp();
    let add = |name: &str, extra: &[&str]| {
        let m = dir.path().join(name);
        copy_model("llama", &m);
        let file = m.join("model.safetensors");
        let bytes = std::fs::read(&file).expect("read");
        let st = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors");
        let zeros = vec![0u8; 4 * 4];
        let mut views: Vec<(String, safetensors::tensor::TensorView)> = st
            .tensors()
            .into_iter()
            .map(|(n, v)| (n.to_string(), v))
            .collect();
        for e in extra {
            views.push((
                e.to_string(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![4], &zeros)
                    .expect("view"),
            ));
        }
        let out = safetensors::serialize(views, None).expect("serialize");
        std::fs::write(&file, out).expect("write");
        m
    };
    let bad = add("bad", &["model.layers.0.self_attn.q_norm.weight"]);
    let err = load_err(&bad, &model("llama_ref"));
    assert!(
        err.contains("config.json")
            && err.contains("model.safetensors holds 1 tensor(s)")
            && err.contains("`model.layers.0.self_attn.q_norm.weight`")
            && err.contains("LlamaForCausalLM"),
        "{err}"
    );
    let benign = add(
        "benign",
        &[
            "model.layers.0.self_attn.rotary_emb.inv_freq",
            "v_head.summary.weight",
        ],
    );
    Scorer::load(
        &benign,
        &model("llama_ref"),
        Dtype::F32,
        ScoreOptions::default(),
    )
    .expect("buffers transformers skips are skipped here too");
}

/// Values no model is trained with, through the command line: each names config.json and the field; a context
/// of 0 was blamed on the data before.
#[test]
fn impossible_config_values_are_refused_at_load() {
    let dir = temp();
    let cases: [(&str, serde_json::Value, &str); 3] = [
        ("rms_norm_eps", (-1).into(), "`rms_norm_eps` is -1"),
        ("rope_theta", 0.into(), "`rope_theta` is 0"),
        (
            "max_position_embeddings",
            0.into(),
            "`max_position_embeddings` is 0",
        ),
    ];
    for (i, (field, value, expected)) in cases.into_iter().enumerate() {
        let m = model_with_config("llama", &dir.path().join(format!("m{i}")), |c| {
            c[field] = value
        });
        creditlens(
            dir.path(),
            &[
                "score",
                "--policy",
                &s(&m),
                "--reference",
                &s(&model("llama_ref")),
                "--prompt",
                "Hi",
                "--response",
                " there",
            ],
        )
        .fails_with(expected)
        .fails_with("config.json");
    }
}

/// Byte offset just after the string `name` (a metadata key or a tensor's name) in a GGUF file's header.
fn after_name(bytes: &[u8], name: &str) -> usize {
    let mut pattern = (name.len() as u64).to_le_bytes().to_vec();
    pattern.extend(name.as_bytes());
    bytes
        .windows(pattern.len())
        .position(|w| w == pattern.as_slice())
        .map(|p| p + pattern.len())
        .unwrap_or_else(|| panic!("{name} not in the table"))
}

/// `creditlens score` of GGUF `policy` with `RUST_BACKTRACE=1`.
fn score_with_backtrace(policy: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_creditlens"))
        .args([
            "score",
            "--policy",
            &s(policy),
            "--reference",
            &s(&model("gguf_base")),
            "--prompt",
            "Hi",
            "--response",
            " there",
        ])
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run")
}

/// GGUF: an unreadable storage type names the tensor, the type and the readable ones (was "unknown dtype 16");
/// a shape that disagrees with the metadata blames the metadata, not a config.json the user does not have; with
/// RUST_BACKTRACE set the message is still one line.
#[test]
fn gguf_messages_name_the_tensor_type_and_metadata() {
    let dir = temp();
    let good = model("gguf").join("tiny-llama.gguf");
    let bytes = std::fs::read(&good).expect("read");
    let name = "blk.0.attn_q.weight";
    let at = after_name(&bytes, name);
    let dims = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("dims")) as usize;
    let type_at = at + 4 + 8 * dims;

    let mut iq2 = bytes.clone();
    iq2[type_at..type_at + 4].copy_from_slice(&16u32.to_le_bytes());
    let iq2_path = dir.path().join("iq2.gguf");
    std::fs::write(&iq2_path, iq2).expect("write");
    // A header cut inside its tensor table fails in candle's reader, which attaches a backtrace under
    // RUST_BACKTRACE: the message stays one line.
    let cut_path = dir.path().join("cut.gguf");
    std::fs::write(&cut_path, &bytes[..type_at]).expect("write");
    let run = score_with_backtrace(&cut_path);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(
        err.contains("cut.gguf") && err.contains("not a readable GGUF file"),
        "{err}"
    );
    assert!(
        err.trim().lines().count() <= 2 && !err.to_lowercase().contains("backtrace"),
        "{err}"
    );
    let run = score_with_backtrace(&iq2_path);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(
        err.contains("iq2.gguf")
            && err.contains(&format!("`{name}`"))
            && err.contains("IQ2_XXS (ggml type 16)")
            && err.contains("Q4_K"),
        "{err}"
    );
    assert!(
        err.trim().lines().count() <= 2 && !err.to_lowercase().contains("backtrace"),
        "{err}"
    );

    // Half the rows: the data still lies inside the file, the shape no longer fits the metadata.
    let mut narrow = bytes.clone();
    let rows_at = at + 4 + 8;
    let rows = u64::from_le_bytes(narrow[rows_at..rows_at + 8].try_into().expect("rows"));
    narrow[rows_at..rows_at + 8].copy_from_slice(&(rows / 2).to_le_bytes());
    let narrow_path = dir.path().join("narrow.gguf");
    std::fs::write(&narrow_path, narrow).expect("write");
    let err = load_err(&narrow_path, &model("gguf_base"));
    assert!(
        err.contains("narrow.gguf") && err.contains(name) && err.contains("the file's metadata"),
        "{err}"
    );
    assert!(!err.contains("config.json"), "{err}");

    // Fewer blocks in the metadata than in the tensor table.
    let mut short = bytes.clone();
    let value_at = after_name(&short, "llama.block_count") + 4;
    let blocks = u32::from_le_bytes(short[value_at..value_at + 4].try_into().expect("count"));
    short[value_at..value_at + 4].copy_from_slice(&(blocks - 1).to_le_bytes());
    let short_path = dir.path().join("short.gguf");
    std::fs::write(&short_path, short).expect("write");
    let err = load_err(&short_path, &model("gguf_base"));
    assert!(
        err.contains("short.gguf")
            && err.contains(&format!("`llama.block_count` is {}", blocks - 1))
            && err.contains(&format!("blocks up to {}", blocks - 1)),
        "{err}"
    );
}

/// A layer count far beyond the weights is refused before per-layer settings are allocated; before, a
/// config.json or GGUF header claiming billions of layers aborted the process (found by fuzzing the GGUF reader).
#[test]
fn absurd_layer_counts_are_refused_before_allocating() {
    let dir = temp();
    let m = model_with_config("llama", &dir.path().join("m"), |c| {
        c["num_hidden_layers"] = 4_000_000_000u64.into()
    });
    let err = load_err(&m, &model("llama_ref"));
    assert!(
        err.contains("config.json") && err.contains("`num_hidden_layers` is 4000000000"),
        "{err}"
    );

    let bytes = std::fs::read(model("gguf").join("tiny-llama.gguf")).expect("read");
    let mut huge = bytes.clone();
    let value_at = after_name(&huge, "llama.block_count") + 4;
    huge[value_at..value_at + 4].copy_from_slice(&0xf800_0002u32.to_le_bytes());
    let huge_path = dir.path().join("huge.gguf");
    std::fs::write(&huge_path, huge).expect("write");
    let err = load_err(&huge_path, &model("gguf_base"));
    assert!(
        err.contains("huge.gguf") && err.contains("`llama.block_count` is 4160749570"),
        "{err}"
    );
}

/// An eos_token that is not in the vocabulary is refused in TRL mode, naming it and how many pieces it would
/// split into; before, it was appended as six ordinary text tokens and scored.
#[test]
fn an_eos_token_missing_from_the_vocabulary_is_refused() {
    let dir = temp();
    let m = dir.path().join("m");
    let r = dir.path().join("r");
    copy_model("llama", &m);
    copy_model("llama_ref", &r);
    for d in [&m, &r] {
        edit_json(&d.join("tokenizer_config.json"), |c| {
            c["eos_token"] = "<|no-such-token|>".into()
        });
    }
    creditlens(
        dir.path(),
        &[
            "score",
            "--policy",
            &s(&m),
            "--reference",
            &s(&r),
            "--prompt",
            "Hi",
            "--response",
            " there",
        ],
    )
    .fails_with("\"<|no-such-token|>\" of tokenizer_config.json is not in this vocabulary")
    .fails_with("ordinary token(s)");
}

/// Tokenizers whose EOS differs are named with the tokens, not Rust's `Some("...")`.
#[test]
fn an_eos_mismatch_reads_as_words() {
    let dir = temp();
    let r = dir.path().join("r");
    copy_model("llama_ref", &r);
    let mut eos = serde_json::Value::Null;
    edit_json(&r.join("tokenizer_config.json"), |c| {
        eos = c["eos_token"].take();
    });
    std::fs::remove_file(r.join("generation_config.json")).ok();
    let err = load_err(&model("llama"), &r);
    assert!(
        err.contains(&format!(
            "EOS token {eos} (policy) vs none declared (reference)"
        )),
        "{err}"
    );
    assert!(!err.contains("Some("), "{err}");
}

/// A shard index entry that points outside the checkpoint is refused before anything is read.
#[test]
fn a_shard_outside_the_checkpoint_is_refused() {
    let dir = temp();
    let m = dir.path().join("ckpt").join("m");
    copy_model("llama", &m);
    std::fs::copy(
        m.join("model.safetensors"),
        dir.path().join("x.safetensors"),
    )
    .expect("copy");
    std::fs::remove_file(m.join("model.safetensors")).expect("rm");
    let index = serde_json::json!({
        "metadata": {},
        "weight_map": {"model.embed_tokens.weight": "../../x.safetensors"}
    });
    std::fs::write(m.join("model.safetensors.index.json"), index.to_string()).expect("write");
    let err = load_err(&m, &model("llama_ref"));
    assert!(
        err.contains("model.safetensors.index.json")
            && err.contains("`../../x.safetensors`")
            && err.contains("not a file inside the checkpoint directory"),
        "{err}"
    );
}

/// `"prompt": null` says null, not "missing field".
#[test]
fn a_null_prompt_is_named_as_null() {
    let record = serde_json::json!({"prompt": null, "chosen": "a", "rejected": "b"});
    let err = creditlens::data::Record::from_json(&record).unwrap_err();
    assert!(err.contains("field `prompt` is null"), "{err}");
}

/// `--data -` reads the records from standard input.
#[test]
fn data_from_standard_input() {
    let dir = temp();
    let mut child = Command::new(env!("CARGO_BIN_EXE_creditlens"))
        .args([
            "score",
            "--policy",
            &s(&model("llama")),
            "--reference",
            &s(&model("llama_ref")),
            "--data",
            "-",
            "--out",
            "o.jsonl",
        ])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"{\"prompt\":\"Hi\",\"chosen\":\" there\",\"rejected\":\" you\"}\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("o.jsonl")).expect("output");
    assert_eq!(text.lines().count(), 1, "{text}");
}

/// `render`: a width out of range is an error naming the range (was adjusted silently), and a name that is not
/// .png or .svg is refused before any work (a .jpg got PNG bytes).
#[test]
fn render_refuses_a_zero_width_and_a_jpeg_name() {
    let dir = temp();
    let base = [
        "render",
        "--prompt",
        "Q: What is twice 7?\nA:",
        "--response",
        " 14.",
    ];
    let with = |extra: &[&str]| {
        let mut args: Vec<&str> = base.to_vec();
        args.extend(extra);
        creditlens(dir.path(), &args)
    };
    with(&["--out", "a.png", "--width", "0"]).fails_with("200..=8000");
    with(&["--out", "a.png", "--pixel-ratio", "0"]).fails_with("0.5..=8");
    with(&["--out", "a.jpg"]).fails_with("end the name in .png or .svg");
    assert!(!dir.path().join("a.jpg").exists());
}

/// `demo train --out` under a file fails at once, before minutes of training.
#[test]
fn demo_train_checks_its_output_directory_first() {
    let dir = temp();
    std::fs::write(dir.path().join("file"), b"x").expect("write");
    let started = std::time::Instant::now();
    creditlens(
        dir.path(),
        &["demo", "train", "--small", "--out", "file/run"],
    )
    .fails_with("cannot be written");
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
}

/// In TRL mode an empty response is a valid record, as in TRL: its one scored token is the EOS TRL appends, with
/// the log-probabilities the models give that token after the prompt.
#[test]
fn an_empty_trl_response_scores_its_eos() {
    let scorer = Scorer::load(
        &model("llama"),
        &model("llama_ref"),
        Dtype::F32,
        ScoreOptions::default(),
    )
    .expect("load");
    let record = creditlens::data::Record::from_json(&serde_json::json!({
        "prompt": "Hi there", "chosen": "", "rejected": " you"
    }))
    .expect("record");
    let scored = scorer
        .score_record(0, &record)
        .expect("an empty response scores");
    let chosen = scored.responses()[0].1;
    let eos = scorer.tokenizer().eos_id().expect("eos");
    assert_eq!(chosen.tokens.len(), 1);
    assert_eq!(chosen.tokens[0].id, eos);
    // The same log-probability from a plain forward pass over the prompt's ids: log-softmax at its last position.
    let ids = scorer.tokenizer().encode("Hi there").expect("encode").ids;
    let lm = scorer.policy().lm();
    let x = candle_core::Tensor::new(ids.as_slice(), lm.device())
        .and_then(|t| t.unsqueeze(0))
        .expect("ids");
    let hidden = lm.forward_hidden(&x, &mut lm.new_cache()).expect("forward");
    let last = hidden.narrow(1, ids.len() - 1, 1).expect("last");
    let logits: Vec<f32> = lm
        .logits(&last)
        .and_then(|t| Ok(t.flatten_all()?.to_vec1()?))
        .expect("logits");
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
    let lp = logits[eos as usize] as f64 - max - sum.ln();
    assert!(
        (lp - chosen.tokens[0].logp_policy).abs() < 1e-5,
        "{lp} vs {}",
        chosen.tokens[0].logp_policy
    );
}
