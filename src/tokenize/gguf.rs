//! The tokenizer of a GGUF file, rebuilt from its `tokenizer.ggml.*` metadata as a `tokenizers` byte-level BPE
//! (the `gpt2` tokenizer model llama.cpp uses for Llama 3, Qwen and SmolLM), with the pre-tokenizer llama.cpp
//! selects by `tokenizer.ggml.pre`. A `tokenizer.json` next to the file takes precedence.

use super::TextTokenizer;
use crate::error::{Error, Result};
use crate::model::gguf::GgufFile;
use serde_json::{Value as Json, json};

/// Llama 3's split regex (llama.cpp `llama-bpe`).
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen 2's split regex (llama.cpp `qwen2`).
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The `tokenizer.ggml.pre` values understood.
pub const GGUF_PRE_TOKENIZERS: &[&str] = &[
    "default",
    "gpt-2",
    "smollm",
    "llama-bpe",
    "llama3",
    "qwen2",
    "deepseek-r1-qwen",
];

fn byte_level(use_regex: bool) -> Json {
    json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex})
}

fn split_then_bytes(regex: &str) -> Json {
    json!({"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": false},
        byte_level(false),
    ]})
}

fn pre_tokenizer(pre: &str) -> Option<Json> {
    Some(match pre {
        "default" | "gpt-2" => byte_level(true),
        // llama.cpp's SMOLLM: single digits, then the GPT-2 split.
        "smollm" => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true},
            byte_level(true),
        ]}),
        "llama-bpe" | "llama3" => split_then_bytes(LLAMA3_SPLIT),
        "qwen2" | "deepseek-r1-qwen" => split_then_bytes(QWEN2_SPLIT),
        _ => return None,
    })
}

/// Builds the tokenizer of `file` from its metadata.
pub fn from_gguf(file: &GgufFile) -> Result<TextTokenizer> {
    let path = file.path();
    let err = |message: String| Error::Tokenizer {
        path: path.to_path_buf(),
        message,
    };
    let hint = "put the model's tokenizer.json (and tokenizer_config.json) next to the .gguf file";
    let string = |key: &str| file.metadata(key).and_then(|v| v.to_string().ok()).cloned();
    let model = string("tokenizer.ggml.model")
        .ok_or_else(|| err(format!("metadata tokenizer.ggml.model is missing; {hint}")))?;
    if model != "gpt2" {
        return Err(err(format!(
            "tokenizer.ggml.model is `{model}`; creditlens rebuilds only byte-level BPE (`gpt2`) tokenizers from GGUF metadata; {hint}"
        )));
    }
    let pre = string("tokenizer.ggml.pre").unwrap_or_else(|| "default".into());
    let pre_tokenizer = pre_tokenizer(&pre).ok_or_else(|| {
        err(format!(
            "tokenizer.ggml.pre is `{pre}`, whose split rule creditlens does not know (known: {}); {hint}",
            GGUF_PRE_TOKENIZERS.join(", ")
        ))
    })?;
    let strings = |key: &str| -> Result<Vec<String>> {
        let v = file
            .metadata(key)
            .and_then(|v| v.to_vec().ok())
            .ok_or_else(|| err(format!("metadata {key} is missing; {hint}")))?;
        v.iter()
            .map(|x| {
                x.to_string()
                    .cloned()
                    .map_err(|_| err(format!("{key} holds a non-string")))
            })
            .collect()
    };
    let tokens = strings("tokenizer.ggml.tokens")?;
    let merges = strings("tokenizer.ggml.merges")?;
    let types: Vec<i64> = file
        .metadata("tokenizer.ggml.token_type")
        .and_then(|v| v.to_vec().ok())
        .map(|v| {
            v.iter()
                .map(|x| x.to_i32().map(i64::from).unwrap_or(1))
                .collect()
        })
        .unwrap_or_default();
    let mut vocab = serde_json::Map::new();
    let mut added = Vec::new();
    for (id, token) in tokens.iter().enumerate() {
        vocab.insert(token.clone(), json!(id));
        // 3 is CONTROL (special, e.g. <|endoftext|>), 4 USER_DEFINED (matched whole, not special).
        match types.get(id) {
            Some(3) | Some(4) => added.push(json!({
                "id": id, "content": token, "single_word": false, "lstrip": false, "rstrip": false,
                "normalized": false, "special": types.get(id) == Some(&3),
            })),
            _ => {}
        }
    }
    let id_token = |key: &str| {
        file.metadata(key)
            .and_then(|v| v.to_u32().ok())
            .and_then(|id| tokens.get(id as usize).cloned())
    };
    let bos = id_token("tokenizer.ggml.bos_token_id");
    let add_bos = file
        .metadata("tokenizer.ggml.add_bos_token")
        .and_then(|v| v.to_bool().ok())
        .unwrap_or(false);
    let post_processor = match (&bos, add_bos) {
        (Some(b), true) => {
            let bos_id = tokens.iter().position(|t| t == b).unwrap_or(0);
            json!({"type": "Sequence", "processors": [
                {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
                {"type": "TemplateProcessing",
                 "single": [{"SpecialToken": {"id": b, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                 "pair": [{"SpecialToken": {"id": b, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                          {"SpecialToken": {"id": b, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                 "special_tokens": {b.as_str(): {"id": b, "ids": [bos_id], "tokens": [b]}}},
            ]})
        }
        _ => {
            json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true})
        }
    };
    let tokenizer_json = json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added, "normalizer": null,
        "pre_tokenizer": pre_tokenizer, "post_processor": post_processor,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": merges},
    });
    let inner: tokenizers::Tokenizer = tokenizer_json.to_string().parse().map_err(|e| {
        err(format!(
            "cannot build the tokenizer from the metadata: {e}; {hint}"
        ))
    })?;
    let tokenizer = TextTokenizer::from_parts(
        inner,
        path.to_path_buf(),
        id_token("tokenizer.ggml.eos_token_id"),
        bos,
    );
    let chat_template = match string("tokenizer.chat_template") {
        Some(source) => Some(
            crate::chat::ChatTemplate::new(
                source,
                format!("{} metadata tokenizer.chat_template", path.display()),
                None,
                tokenizer.template_tokens(),
            )
            .map_err(err)?,
        ),
        None => None,
    };
    Ok(tokenizer.with_chat_template(chat_template))
}
