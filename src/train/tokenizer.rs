//! Training a byte-level BPE tokenizer (GPT-2/Qwen style) with the `tokenizers` crate, and the
//! tokenizer_config.json that declares its special tokens.

use crate::error::{Error, Result};
use crate::tokenize::TextTokenizer;
use std::path::PathBuf;
use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

/// The end-of-text token of trained tokenizers: EOS and padding.
pub const END_OF_TEXT: &str = "<|endoftext|>";

/// A trained tokenizer: tokenizer.json and tokenizer_config.json contents, and the loaded tokenizer.
pub struct TrainedTokenizer {
    /// The contents of tokenizer.json.
    pub tokenizer_json: String,
    /// The contents of tokenizer_config.json.
    pub tokenizer_config_json: String,
    /// The tokenizer, ready to encode.
    pub tokenizer: TextTokenizer,
}

fn tok_err(message: String) -> Error {
    Error::Tokenizer {
        path: PathBuf::from("<trained tokenizer>"),
        message,
    }
}

/// Trains a byte-level BPE with about `vocab_size` entries on `texts` (deterministic for the same texts).
pub fn train_tokenizer(texts: &[String], vocab_size: usize) -> Result<TrainedTokenizer> {
    let mut tok = Tokenizer::new(BPE::default());
    tok.with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)));
    tok.with_post_processor(Some(ByteLevel::default().trim_offsets(false)));
    tok.with_decoder(Some(ByteLevel::default()));
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(vec![AddedToken::from(END_OF_TEXT, true)])
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build()
        .into();
    tok.train(&mut trainer, texts.iter())
        .map_err(|e| tok_err(format!("BPE training failed: {e}")))?;
    tok.add_special_tokens(&[AddedToken::from(END_OF_TEXT, true)]);
    let tokenizer_json = tok
        .to_string(true)
        .map_err(|e| tok_err(format!("cannot serialise the tokenizer: {e}")))?;
    let tokenizer_config_json = serde_json::to_string_pretty(&serde_json::json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": null,
        "eos_token": END_OF_TEXT,
        "pad_token": END_OF_TEXT,
        "unk_token": null,
        "model_max_length": 256,
        "clean_up_tokenization_spaces": false,
    }))
    .map_err(|e| tok_err(format!("cannot serialise tokenizer_config.json: {e}")))?;
    let reloaded: Tokenizer = tokenizer_json
        .parse()
        .map_err(|e| tok_err(format!("the trained tokenizer does not reload: {e}")))?;
    let tokenizer = TextTokenizer::from_parts(
        reloaded,
        PathBuf::from("tokenizer.json"),
        Some(END_OF_TEXT.to_string()),
        None,
    );
    Ok(TrainedTokenizer {
        tokenizer_json,
        tokenizer_config_json,
        tokenizer,
    })
}
