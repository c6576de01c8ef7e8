//! Fuzz targets: each feeds arbitrary bytes to one reader of user-supplied files, as the product runs it. A target
//! may return any error (that is the reader doing its job); it must never panic, hang or allocate without bound.
//! The libFuzzer harness in `tests/fuzz/` runs them for millions of inputs; the test suite replays their corpus
//! (`fixtures/fuzz/<target>/`, seeded from the fixtures) and mutations of it on every run.

use crate::chat::{ChatTemplate, Message, RenderOptions, messages_from_json};
use crate::model::config::DecoderConfig;
use crate::model::gguf::GgufFile;
use crate::model::lora::LoraConfig;
use std::collections::HashMap;
use std::path::Path;

/// One fuzz target: a name (its corpus folder) and what it runs.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The target's name, as `cargo fuzz run <name>` and `fixtures/fuzz/<name>/` know it.
    pub name: &'static str,
    /// Runs the input through the reader.
    pub run: fn(&[u8]),
}

/// Every fuzz target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "safetensors_header",
        run: safetensors_header,
    },
    Target {
        name: "shard_index",
        run: shard_index,
    },
    Target {
        name: "gguf",
        run: gguf,
    },
    Target {
        name: "config",
        run: config,
    },
    Target {
        name: "adapter_config",
        run: adapter_config,
    },
    Target {
        name: "data_records",
        run: data_records,
    },
    Target {
        name: "trainer_state",
        run: trainer_state,
    },
    Target {
        name: "chat_template",
        run: chat_template,
    },
];

/// The target named `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A safetensors file's header and tensor table, checked as a checkpoint's shard is.
pub fn safetensors_header(bytes: &[u8]) {
    let (mut tensors, mut dtypes) = (HashMap::new(), Vec::new());
    let _ = crate::model::weights::validate_bytes(
        bytes,
        Path::new("model.safetensors"),
        0,
        &mut tensors,
        &mut dtypes,
    );
}

/// `model.safetensors.index.json`.
pub fn shard_index(bytes: &[u8]) {
    let _ = crate::checkpoint::shard_names(&text(bytes), Path::new("index.json"));
}

/// The tensor data a GGUF header may claim, at most: beyond this the input is not mapped (it would be refused as
/// truncated, which is a real file's error too).
const GGUF_MAX_DATA: u64 = 1 << 30;

/// A GGUF file's metadata and tensor table, then the model configuration and the tokenizer built from them. The
/// input is the file's header: the tensor data it points to reads as zeros (an anonymous mapping, touched only
/// where read), so that short inputs reach the configuration and tokenizer readers.
pub fn gguf(bytes: &[u8]) {
    let _ = super::model::gguf_header::tensor_table(bytes);
    let _ = super::model::gguf_header::unreadable_type(bytes);
    let needed = candle_core::quantized::gguf_file::Content::read(&mut std::io::Cursor::new(bytes))
        .ok()
        .and_then(|c| {
            c.tensor_infos
                .values()
                .map(|t| crate::model::gguf::tensor_end(&c, t))
                .try_fold(0u64, |m, e| e.map(|e| m.max(e)))
        })
        .unwrap_or(0)
        .min(GGUF_MAX_DATA);
    let len = (bytes.len() as u64).max(needed).max(1) as usize;
    let Ok(mut map) = memmap2::MmapMut::map_anon(len) else {
        return;
    };
    map[..bytes.len()].copy_from_slice(bytes);
    let Ok(map) = map.make_read_only() else {
        return;
    };
    let Ok(file) = GgufFile::from_mmap(Path::new("model.gguf"), map) else {
        return;
    };
    let _ = file.config();
    let _ = file.stored_dtypes();
    let _ = crate::tokenize::gguf::from_gguf(&file);
}

/// config.json, normalised for every family.
pub fn config(bytes: &[u8]) {
    if let Ok(cfg) = DecoderConfig::from_json(&text(bytes), Path::new("config.json")) {
        let _ = cfg.num_parameters();
        let _ = cfg.attention_scale();
    }
}

/// adapter_config.json.
pub fn adapter_config(bytes: &[u8]) {
    if let Ok(cfg) = LoraConfig::from_json(&text(bytes), Path::new("adapter_config.json")) {
        let _ = cfg.scale("q_proj");
    }
}

/// A data file: JSONL or a JSON array of plain or conversational records.
pub fn data_records(bytes: &[u8]) {
    let Ok(entries) = crate::data::parse_entries("data.jsonl", bytes.to_vec()) else {
        return;
    };
    for entry in entries {
        if let Ok(record) = entry.record {
            let _ = record.prompt();
            let _ = record.responses();
        }
    }
}

/// trainer_state.json's reward curves.
pub fn trainer_state(bytes: &[u8]) {
    for curve in crate::drift::trainer_curves_of(&text(bytes)) {
        let _ = crate::drift::at_step(&curve, 10);
    }
}

/// A chat template (the input up to its first NUL byte) rendering a conversation (the JSON list of messages
/// after it, or a fixed one), with the limits the product sets on work, recursion and output.
pub fn chat_template(bytes: &[u8]) {
    let (source, rest) = match bytes.iter().position(|&b| b == 0) {
        Some(at) => (&bytes[..at], &bytes[at + 1..]),
        None => (bytes, &[][..]),
    };
    let special: serde_json::Map<String, serde_json::Value> =
        [("bos_token", "<s>"), ("eos_token", "</s>")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.into()))
            .collect();
    let Ok(template) = ChatTemplate::new(text(source), "fuzz".into(), None, special) else {
        return;
    };
    let messages = serde_json::from_slice::<serde_json::Value>(rest)
        .ok()
        .and_then(|v| messages_from_json("messages", &v).ok())
        .unwrap_or_else(|| {
            vec![
                Message::new("system", "Be brief."),
                Message::new("user", "What is twice 7?"),
                Message::new("assistant", "14."),
            ]
        });
    for add_generation_prompt in [false, true] {
        let _ = template.render(
            &messages,
            RenderOptions {
                add_generation_prompt,
                ..RenderOptions::default()
            },
        );
    }
}
