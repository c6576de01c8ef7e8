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

/// Every number in `texts` as the byte-level pre-tokenizer cuts it (` 1956`, `42`), sorted.
pub fn numbers(texts: &[String]) -> Vec<String> {
    let mut out = std::collections::BTreeSet::new();
    for t in texts {
        let chars: Vec<char> = t.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            if chars[i].is_ascii_digit() {
                let start = if i > 0 && chars[i - 1] == ' ' {
                    i - 1
                } else {
                    i
                };
                let mut end = i;
                while end < chars.len() && chars[end].is_ascii_digit() {
                    end += 1;
                }
                out.insert(chars[start..end].iter().collect::<String>());
                i = end;
            } else {
                i += 1;
            }
        }
    }
    out.into_iter().collect()
}

/// Appends merges (and vocabulary entries) to the BPE in `json` until every string of `words` is one token.
fn merge_whole(json: &str, words: &[String]) -> Result<String> {
    let mut value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| tok_err(format!("cannot read the trained tokenizer: {e}")))?;
    for word in words {
        loop {
            let tok: Tokenizer = value
                .to_string()
                .parse()
                .map_err(|e| tok_err(format!("cannot rebuild the tokenizer: {e}")))?;
            let enc = tok
                .encode(word.as_str(), false)
                .map_err(|e| tok_err(format!("cannot encode {word:?}: {e}")))?;
            let pieces = enc.get_tokens();
            if pieces.len() < 2 {
                break;
            }
            let (a, b) = (pieces[0].clone(), pieces[1].clone());
            let model = value
                .get_mut("model")
                .ok_or_else(|| tok_err("tokenizer.json has no model".into()))?;
            let vocab = model
                .get_mut("vocab")
                .and_then(|v| v.as_object_mut())
                .ok_or_else(|| tok_err("tokenizer.json has no vocab".into()))?;
            let joined = format!("{a}{b}");
            if !vocab.contains_key(&joined) {
                let next = vocab
                    .values()
                    .filter_map(|v| v.as_u64())
                    .max()
                    .map_or(0, |m| m + 1);
                vocab.insert(joined, serde_json::json!(next));
            }
            model
                .get_mut("merges")
                .and_then(|m| m.as_array_mut())
                .ok_or_else(|| tok_err("tokenizer.json has no merges".into()))?
                .push(serde_json::json!([a, b]));
        }
    }
    serde_json::to_string_pretty(&value)
        .map_err(|e| tok_err(format!("cannot serialise the tokenizer: {e}")))
}

fn tok_err(message: String) -> Error {
    Error::Tokenizer {
        path: PathBuf::from("<trained tokenizer>"),
        message,
    }
}

/// Trains a byte-level BPE with about `vocab_size` entries on `texts` (deterministic for the same texts). Every
/// string of `whole` (a word with its leading space, as the byte-level split cuts it, e.g. ` 1956` or ` baker`;
/// see [`numbers`]) also becomes one token, through merges appended after the trained ones, as the tokenizers of
/// large models hold common words and numbers whole.
pub fn train_tokenizer(
    texts: &[String],
    vocab_size: usize,
    whole: &[String],
) -> Result<TrainedTokenizer> {
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
    let mut tokenizer_json = tok
        .to_string(true)
        .map_err(|e| tok_err(format!("cannot serialise the tokenizer: {e}")))?;
    if !whole.is_empty() {
        tokenizer_json = merge_whole(&tokenizer_json, whole)?;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_cut_like_the_byte_level_split() {
        let texts = vec![
            "Born in 1956, aged 7.".to_string(),
            "42 and 1956".to_string(),
        ];
        assert_eq!(numbers(&texts), vec![" 1956", " 7", "42"]);
    }

    #[test]
    fn whole_numbers_become_single_tokens() -> Result<()> {
        let texts: Vec<String> = (0..200)
            .map(|i| format!("Q: What is {i} plus 3? A: It is {}. 42", i + 3))
            .collect();
        let plain = train_tokenizer(&texts, 300, &[])?;
        let whole = train_tokenizer(&texts, 300, &numbers(&texts))?;
        let count = |t: &TrainedTokenizer, s: &str| -> Result<usize> {
            Ok(t.tokenizer.encode(s)?.ids.len())
        };
        assert!(count(&plain, " 187")? > 1, "the small BPE splits numbers");
        for n in [" 187", " 202", " 5", " 42"] {
            assert_eq!(count(&whole, n)?, 1, "{n:?}");
        }
        // Text without numbers is cut exactly as before, and the tokenizer still round-trips.
        let s = "Q: What is it? A: It is.";
        assert_eq!(
            plain.tokenizer.encode(s)?.ids,
            whole.tokenizer.encode(s)?.ids
        );
        let enc = whole.tokenizer.encode(" It is 187.")?;
        assert_eq!(enc.ids.len(), 4);
        Ok(())
    }
}
