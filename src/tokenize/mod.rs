//! Tokenisation: the checkpoint's fast tokenizer with its special tokens, per-token display text, and the two ways
//! of splitting a prompt/response pair into scored tokens ([`TokenizationMode`]).

mod chat;
mod display;
pub mod gguf;
mod modes;

pub use chat::encode_conversation;
pub use modes::{
    EncodedRecord, EncodedSequence, PromptToken, ScoredToken, TokenizationMode, encode_record,
};

use crate::chat::ChatTemplate;
use crate::checkpoint::CheckpointFiles;
use crate::error::{Error, Result};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// One tokenised text: ids with their character offsets in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoding {
    /// Token ids, special tokens included.
    pub ids: Vec<u32>,
    /// `(start, end)` of each token in the text, in characters; special tokens added by the post-processor have
    /// an empty span.
    pub offsets: Vec<(usize, usize)>,
    /// Whether each token is a special token (added by the post-processor or declared special).
    pub special: Vec<bool>,
}

/// A checkpoint's tokenizer with the special tokens its tokenizer_config.json declares.
pub struct TextTokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
    eos_token: Option<String>,
    bos_token: Option<String>,
    special_ids: HashSet<u32>,
    added_ids: HashSet<u32>,
    pieces: display::PieceDecoder,
    chat_template: Option<ChatTemplate>,
    template_tokens: serde_json::Map<String, serde_json::Value>,
    /// Bytes of the longest vocabulary entry (as stored, which is never shorter than the text it stands for).
    longest_token: usize,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("path", &self.path)
            .field("eos_token", &self.eos_token)
            .finish()
    }
}

/// A special token in tokenizer_config.json: a plain string or an AddedToken object with `content`.
fn token_field(json: &serde_json::Value, key: &str) -> Option<String> {
    match json.get(key)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("content")?.as_str().map(str::to_string),
        _ => None,
    }
}

/// A special token for a message: its text in quotes, or "none declared".
fn shown_token(token: Option<&str>) -> String {
    token.map_or_else(|| "none declared".to_string(), |t| format!("{t:?}"))
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::config(path, format!("not valid JSON: {e}")))
}

impl TextTokenizer {
    /// Loads tokenizer.json and the special tokens of tokenizer_config.json (falling back to
    /// generation_config.json's `eos_token_id`).
    pub fn load(files: &CheckpointFiles) -> Result<Self> {
        let inner =
            tokenizers::Tokenizer::from_file(&files.tokenizer).map_err(|e| Error::Tokenizer {
                path: files.tokenizer.clone(),
                message: format!("cannot load the tokenizer: {e}"),
            })?;
        let (mut eos_token, mut bos_token) = (None, None);
        let mut config = None;
        if let Some(path) = &files.tokenizer_config {
            let json = read_json(path)?;
            eos_token = token_field(&json, "eos_token");
            bos_token = token_field(&json, "bos_token");
            config = Some(json);
        }
        let special_map = crate::chat::load::special_tokens(config.as_ref());
        let dir = files.tokenizer.parent().unwrap_or(&files.dir);
        let chat_template = crate::chat::load::from_checkpoint(
            dir,
            files.tokenizer_config.as_deref(),
            config.as_ref(),
        )?;
        if eos_token.is_none()
            && let Some(path) = &files.generation_config
        {
            let json = read_json(path)?;
            let id = match json.get("eos_token_id") {
                Some(serde_json::Value::Number(n)) => n.as_u64(),
                Some(serde_json::Value::Array(a)) => a.first().and_then(|v| v.as_u64()),
                _ => None,
            };
            eos_token = id.and_then(|id| inner.id_to_token(id as u32));
        }
        Ok(
            Self::from_parts(inner, files.tokenizer.clone(), eos_token, bos_token)
                .with_chat_template(chat_template)
                .with_template_tokens(special_map),
        )
    }

    /// Sets the special tokens a chat template reads (`bos_token`, `eos_token`, `pad_token`, ...).
    pub fn with_template_tokens(
        mut self,
        tokens: serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        self.template_tokens = tokens;
        self
    }

    /// The same tokenizer with another chat template (`None`: without one).
    pub fn with_chat_template(mut self, template: Option<ChatTemplate>) -> Self {
        self.chat_template = template;
        self
    }

    /// The chat template conversational records are rendered with, when the tokenizer has one.
    pub fn chat_template(&self) -> Option<&ChatTemplate> {
        self.chat_template.as_ref()
    }

    /// The special tokens a chat template may read (`bos_token`, `eos_token`, ...).
    pub fn template_tokens(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut map = self.template_tokens.clone();
        for (key, value) in [
            ("bos_token", &self.bos_token),
            ("eos_token", &self.eos_token),
        ] {
            if let Some(v) = value {
                map.entry(key).or_insert_with(|| v.clone().into());
            }
        }
        map
    }

    /// Builds a tokenizer from an in-memory `tokenizers::Tokenizer` and its special tokens.
    pub fn from_parts(
        inner: tokenizers::Tokenizer,
        path: PathBuf,
        eos_token: Option<String>,
        bos_token: Option<String>,
    ) -> Self {
        let added = inner.get_added_tokens_decoder();
        let special_ids = added
            .iter()
            .filter(|(_, t)| t.special)
            .map(|(id, _)| *id)
            .collect();
        let added_ids = added.keys().copied().collect();
        let pieces = display::PieceDecoder::new(&inner);
        let longest_token = inner
            .get_vocab(true)
            .keys()
            .map(String::len)
            .max()
            .unwrap_or(1)
            .max(1);
        Self {
            longest_token,
            inner,
            path,
            eos_token,
            bos_token,
            special_ids,
            added_ids,
            pieces,
            chat_template: None,
            template_tokens: serde_json::Map::new(),
        }
    }

    /// The first bytes of `text` that are sure to hold its first `tokens` tokens (twice the text the longest
    /// vocabulary entries could cover, cut at a character boundary): what is tokenised of an absurdly long text
    /// whose end `max_length` drops anyway. `None` when `text` is within that.
    pub fn enough_for(&self, text: &str, tokens: usize) -> Option<usize> {
        let budget = tokens
            .saturating_mul(self.longest_token)
            .saturating_mul(2)
            .saturating_add(4096);
        if text.len() <= budget {
            return None;
        }
        let mut end = budget;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Some(end)
    }

    /// The tokenizer.json (or GGUF file) it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying `tokenizers` tokenizer.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// The EOS token's text, as tokenizer_config.json declares it.
    pub fn eos_token(&self) -> Option<&str> {
        self.eos_token.as_deref()
    }

    /// The EOS token's id.
    pub fn eos_id(&self) -> Option<u32> {
        self.eos_token
            .as_deref()
            .and_then(|t| self.inner.token_to_id(t))
    }

    /// The BOS token's text, when declared.
    pub fn bos_token(&self) -> Option<&str> {
        self.bos_token.as_deref()
    }

    /// Number of ids the tokenizer can produce (added tokens included).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Tokenises `text` with the tokenizer's default special tokens, with character offsets.
    pub fn encode(&self, text: &str) -> Result<Encoding> {
        self.encode_with(text, true)
    }

    /// Tokenises `text`, adding the post-processor's special tokens (BOS, ...) only when `add_special`: a
    /// rendered chat template carries its own, as `apply_chat_template` tokenises.
    pub fn encode_with(&self, text: &str, add_special: bool) -> Result<Encoding> {
        let enc = self
            .inner
            .encode_char_offsets(text, add_special)
            .map_err(|e| Error::Tokenizer {
                path: self.path.clone(),
                message: format!("cannot tokenise the text: {e}"),
            })?;
        let ids = enc.get_ids().to_vec();
        let special = ids
            .iter()
            .zip(enc.get_special_tokens_mask())
            .map(|(id, m)| *m == 1 || self.special_ids.contains(id))
            .collect();
        Ok(Encoding {
            offsets: enc.get_offsets().to_vec(),
            ids,
            special,
        })
    }

    /// The raw bytes token `id` stands for (byte-level and byte-fallback pieces decoded, `▁` as a space).
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        match self.inner.id_to_token(id) {
            Some(piece) if self.added_ids.contains(&id) => piece.into_bytes(),
            Some(piece) => self.pieces.bytes(&piece),
            None => Vec::new(),
        }
    }

    /// Token `id` as a person should see it: its text, with bytes that are not a whole UTF-8 character on their
    /// own shown as `<0xNN>`.
    pub fn token_text(&self, id: u32) -> String {
        display::bytes_to_display(&self.token_bytes(id))
    }

    /// Whether `id` is a special token.
    pub fn is_special(&self, id: u32) -> bool {
        self.special_ids.contains(&id)
    }

    /// Checks that `other` splits text exactly like `self` (same vocabulary, added tokens and EOS/BOS).
    pub fn check_compatible(&self, other: &TextTokenizer) -> Result<()> {
        let (a, b) = (self.inner.get_vocab(true), other.inner.get_vocab(true));
        if a.len() != b.len() {
            return Err(Error::TokenizerMismatch(format!(
                "the policy's vocabulary has {} tokens, the reference's {}",
                a.len(),
                b.len()
            )));
        }
        let mut diffs: Vec<_> = a
            .iter()
            .filter(|(tok, id)| b.get(*tok) != Some(id))
            .map(|(tok, id)| (*id, tok.clone()))
            .collect();
        if !diffs.is_empty() {
            diffs.sort();
            let (id, tok) = &diffs[0];
            let other_id = b
                .get(tok)
                .map_or("absent".to_string(), |i| format!("id {i}"));
            return Err(Error::TokenizerMismatch(format!(
                "{} tokens differ, e.g. {tok:?} is id {id} in the policy's and {other_id} in the reference's",
                diffs.len()
            )));
        }
        if self.eos_token != other.eos_token {
            return Err(Error::TokenizerMismatch(format!(
                "EOS token {} (policy) vs {} (reference)",
                shown_token(self.eos_token.as_deref()),
                shown_token(other.eos_token.as_deref())
            )));
        }
        if self.bos_token != other.bos_token {
            return Err(Error::TokenizerMismatch(format!(
                "BOS token {} (policy) vs {} (reference)",
                shown_token(self.bos_token.as_deref()),
                shown_token(other.bos_token.as_deref())
            )));
        }
        let probe = "Hello world, 1234!\n";
        if self.encode(probe)?.ids != other.encode(probe)?.ids {
            return Err(Error::TokenizerMismatch(format!(
                "the same vocabulary splits {probe:?} differently (different merges, normaliser or post-processor)"
            )));
        }
        Ok(())
    }
}
