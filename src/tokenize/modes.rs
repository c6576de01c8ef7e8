//! The two tokenisation modes: `trl` reproduces TRL 1.x's DPOTrainer (`_prepare_dataset`: EOS appended to each
//! completion as text, prompt and prompt+completion tokenised separately, the prompt being their common prefix,
//! `keep_start` truncation); `joint` tokenises prompt+response as one string and scores the tokens that start at or
//! after the end of the prompt.

use super::{Encoding, TextTokenizer};
use crate::error::{Error, Result};

/// How a prompt and a response become a sequence of token ids and a set of scored tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenizationMode {
    /// Exactly what TRL 1.x's DPOTrainer scores: EOS appended, common-prefix prompt.
    #[default]
    Trl,
    /// Prompt and response as one string, no EOS added.
    Joint,
}

impl std::str::FromStr for TokenizationMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "trl" => Ok(Self::Trl),
            "joint" => Ok(Self::Joint),
            other => Err(Error::InvalidArgument(format!(
                "unknown tokenization mode `{other}`; use `trl` or `joint`"
            ))),
        }
    }
}

impl std::fmt::Display for TokenizationMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Trl => "trl",
            Self::Joint => "joint",
        })
    }
}

/// One scored token: its id, how it reads, and where it sits in the response (characters, end exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoredToken {
    /// Token id.
    pub id: u32,
    /// The token as a person should see it.
    pub text: String,
    /// First character of the response the token covers.
    pub start: usize,
    /// One past the last character it covers (`start == end` for an appended EOS).
    pub end: usize,
    /// Whether the token comes from the chat template (role headers, end-of-turn) or is a special token, rather
    /// than from the message text.
    pub template: bool,
}

/// One token of the prompt (the context the scored tokens are predicted from), as shown before the response.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PromptToken {
    /// Token id.
    pub id: u32,
    /// The token as a person should see it.
    pub text: String,
    /// Whether it comes from the chat template or is a special token (BOS, role headers, end-of-turn).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub template: bool,
}

/// One prompt+response sequence ready for the models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedSequence {
    /// All ids, prompt included, after truncation.
    pub ids: Vec<u32>,
    /// Index in `ids` of the first scored token.
    pub scored_start: usize,
    /// The scored tokens, `ids[scored_start..]`.
    pub tokens: Vec<ScoredToken>,
}

/// The sequences of one record (one per response) and any warnings met while encoding them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedRecord {
    /// One sequence per response, in the order given.
    pub sequences: Vec<EncodedSequence>,
    /// Things the user should know (truncation, a token straddling the prompt boundary, ...).
    pub warnings: Vec<String>,
    /// The text each sequence's token spans refer to: the response as given, or for a conversation the
    /// rendered completion from the first scored token on (template tokens included).
    pub texts: Vec<String>,
    /// Where each response's own text (the completion's message text) starts in `texts`, when found there:
    /// labelled error spans are shifted by it.
    pub content_offsets: Vec<Option<usize>>,
    /// The tokens before the first scored token (of the first sequence).
    pub prompt: Vec<PromptToken>,
}

pub(super) fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

pub(super) fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// Tokenises `prompt` with each of `responses` according to `mode`, keeping at most `max_length` ids per sequence
/// (TRL's `keep_start`: the end of the response is cut). Fails when a response yields no scored token.
pub fn encode_record<'a>(
    tok: &TextTokenizer,
    mode: TokenizationMode,
    prompt: &'a str,
    responses: &[&'a str],
    max_length: Option<usize>,
) -> Result<EncodedRecord> {
    let mut warnings = Vec::new();
    // A text far longer than max_length tokens could need (a 200 MB data line) is cut before it is tokenised:
    // its end would be dropped anyway, and tokenising it whole could take gigabytes.
    let cut = |text: &'a str, what: &str, warnings: &mut Vec<String>| -> &'a str {
        match max_length.and_then(|m| tok.enough_for(text, m)) {
            Some(end) => {
                warnings.push(format!(
                    "{what} is {} bytes long; only its first {end} bytes were tokenised (they hold more than the {} tokens scored)",
                    text.len(),
                    max_length.unwrap_or(0)
                ));
                &text[..end]
            }
            None => text,
        }
    };
    let prompt = cut(prompt, "the prompt", &mut warnings);
    let responses: Vec<&str> = responses
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let what = if responses.len() > 1 {
                format!("response {}", i + 1)
            } else {
                "the response".to_string()
            };
            cut(r, &what, &mut warnings)
        })
        .collect();
    let responses = responses.as_slice();
    let sequences = match mode {
        TokenizationMode::Trl => encode_trl(tok, prompt, responses, &mut warnings)?,
        TokenizationMode::Joint => responses
            .iter()
            .map(|r| encode_joint(tok, prompt, r, true, &mut warnings))
            .collect::<Result<Vec<_>>>()?,
    };
    let prompt_enc = tok.encode(prompt)?;
    let prompt_tokens = prompt_tokens(tok, &sequences, &prompt_enc, &[]);
    finish(
        sequences,
        warnings,
        responses.iter().map(|r| r.to_string()).collect(),
        vec![Some(0); responses.len()],
        prompt_tokens,
        max_length,
    )
}

/// The prompt tokens of the first sequence: its ids before the first scored token, marked as template when
/// special or outside every span of `content` (character ranges of the messages' texts in `prompt_enc`'s text).
pub(super) fn prompt_tokens(
    tok: &TextTokenizer,
    sequences: &[EncodedSequence],
    prompt_enc: &Encoding,
    content: &[(usize, usize)],
) -> Vec<PromptToken> {
    let Some(first) = sequences.first() else {
        return Vec::new();
    };
    first.ids[..first.scored_start]
        .iter()
        .enumerate()
        .map(|(i, &id)| {
            let span = prompt_enc
                .offsets
                .get(i)
                .copied()
                .filter(|_| prompt_enc.ids.get(i) == Some(&id));
            let special = tok.is_special(id) || prompt_enc.special.get(i).copied().unwrap_or(false);
            let template = special
                || (!content.is_empty()
                    && !span.is_some_and(|(s, e)| content.iter().any(|&(a, b)| s < b && a < e)));
            PromptToken {
                id,
                text: tok.token_text(id),
                template,
            }
        })
        .collect()
}

/// What every mode does last: a sequence that starts with a scored token loses it (nothing predicts it),
/// sequences longer than `max_length` lose their end (TRL's `keep_start`), and a response left with no scored
/// token is an error.
pub(super) fn finish(
    mut sequences: Vec<EncodedSequence>,
    mut warnings: Vec<String>,
    texts: Vec<String>,
    content_offsets: Vec<Option<usize>>,
    prompt: Vec<PromptToken>,
    max_length: Option<usize>,
) -> Result<EncodedRecord> {
    let n = sequences.len();
    for (i, seq) in sequences.iter_mut().enumerate() {
        let which = if n > 1 {
            format!("response {} ", i + 1)
        } else {
            String::new()
        };
        if seq.scored_start == 0 {
            // The first token of a sequence has no context to be predicted from.
            seq.scored_start = 1;
            seq.tokens.remove(0);
            warnings.push(format!(
                "{which}starts the sequence (empty prompt, no BOS): its first token cannot be scored"
            ));
        }
        if let Some(max) = max_length
            && seq.ids.len() > max
        {
            if seq.scored_start >= max {
                return Err(Error::Record(format!(
                    "the prompt alone fills the maximum length ({} tokens >= {max}); nothing of the response is left to score (TRL drops such records)",
                    seq.scored_start
                )));
            }
            warnings.push(format!(
                "{which}truncated from {} to {max} tokens (keep_start, as TRL); its last {} token(s) are not scored",
                seq.ids.len(),
                seq.ids.len() - max
            ));
            seq.ids.truncate(max);
            seq.tokens.truncate(max - seq.scored_start);
        }
        if seq.tokens.is_empty() {
            return Err(Error::Record(format!(
                "{which}has no token to score (empty response); give it some text or drop the record"
            )));
        }
    }
    Ok(EncodedRecord {
        sequences,
        warnings,
        texts,
        content_offsets,
        prompt,
    })
}

fn encode_trl(
    tok: &TextTokenizer,
    prompt: &str,
    responses: &[&str],
    warnings: &mut Vec<String>,
) -> Result<Vec<EncodedSequence>> {
    let eos = tok.eos_token().ok_or_else(|| {
        Error::Record(
            "the tokenizer declares no eos_token (tokenizer_config.json), which TRL appends to every completion; add it there or use --tokenization joint".into(),
        )
    })?;
    if tok.eos_id().is_none() {
        let pieces = tok.encode_with(eos, false)?.ids.len();
        return Err(Error::Tokenizer {
            path: tok.path().to_path_buf(),
            message: format!(
                "the eos_token {eos:?} of tokenizer_config.json is not in this vocabulary: TRL appends it to every completion as text, which here splits into {pieces} ordinary token(s) that would be scored as the response's end; set eos_token to the model's end token, or use --tokenization joint"
            ),
        });
    }
    let prompt_ids = tok.encode(prompt)?.ids;
    let prompt_chars = char_len(prompt);
    let mut fulls = Vec::with_capacity(responses.len());
    for response in responses {
        // An empty response is a valid record for TRL: it scores the EOS it appends.
        let text = if !response.ends_with(eos) {
            format!("{prompt}{response}{eos}")
        } else {
            format!("{prompt}{response}")
        };
        fulls.push(tok.encode(&text)?);
    }
    let prompt_len = fulls
        .iter()
        .map(|f| common_prefix(&prompt_ids, &f.ids))
        .min()
        .unwrap_or(0);
    if prompt_len < prompt_ids.len() {
        warnings.push(format!(
            "the tokenised prompt is not a prefix of prompt+response (tokens merge across the boundary); as in TRL, the last {} prompt token(s) are scored as part of the response",
            prompt_ids.len() - prompt_len
        ));
    }
    Ok(fulls
        .into_iter()
        .zip(responses)
        .map(|(full, response)| {
            let len = char_len(response);
            let tokens = (prompt_len..full.ids.len())
                .map(|i| scored_token(tok, &full, i, prompt_chars, len))
                .collect();
            EncodedSequence {
                ids: full.ids,
                scored_start: prompt_len,
                tokens,
            }
        })
        .collect())
}

/// `joint`: prompt + response as one string (with the tokenizer's default special tokens when `add_special`);
/// the scored tokens are those that start at or after the end of the prompt.
pub(super) fn encode_joint(
    tok: &TextTokenizer,
    prompt: &str,
    response: &str,
    add_special: bool,
    warnings: &mut Vec<String>,
) -> Result<EncodedSequence> {
    let full = tok.encode_with(&format!("{prompt}{response}"), add_special)?;
    let prompt_end = char_len(prompt);
    let len = char_len(response);
    let start = (0..full.ids.len())
        .find(|&i| !full.special[i] && full.offsets[i].0 >= prompt_end)
        .unwrap_or(full.ids.len());
    if start > 0 && !full.special[start - 1] && full.offsets[start - 1].1 > prompt_end {
        let text = tok.token_text(full.ids[start - 1]);
        warnings.push(format!(
            "token {text:?} straddles the end of the prompt; it is counted as prompt and not scored (end the prompt on a token boundary, or use --tokenization trl)"
        ));
    }
    let tokens = (start..full.ids.len())
        .map(|i| scored_token(tok, &full, i, prompt_end, len))
        .collect();
    Ok(EncodedSequence {
        ids: full.ids,
        scored_start: start,
        tokens,
    })
}

/// Token `i` of `full` with its span in the response: a special token without text of its own (added by the
/// post-processor) sits at the end; every other token keeps its offsets, shifted by the prompt's length and clamped
/// into the response. That puts an appended EOS, whose text lies after the response, at `[len, len]`, and keeps an
/// EOS typed in the response on its characters.
pub(super) fn scored_token(
    tok: &TextTokenizer,
    full: &Encoding,
    i: usize,
    prompt_chars: usize,
    len: usize,
) -> ScoredToken {
    let id = full.ids[i];
    let (s, e) = full.offsets[i];
    let (start, end) = if full.special[i] && s == e {
        (len, len)
    } else {
        (
            s.saturating_sub(prompt_chars).min(len),
            e.saturating_sub(prompt_chars).min(len),
        )
    };
    ScoredToken {
        id,
        text: tok.token_text(id),
        start,
        end,
        template: full.special[i] || tok.is_special(id),
    }
}
