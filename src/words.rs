//! Credit per word: a response's tokens grouped into the words a reader sees, so that a multi-token word ("Kuala
//! Lumpur" is " K" "uala" " L" "umpur") carries the sum of its tokens' rewards.
//!
//! Words are split at white space, punctuation attached (`Sydney.` is one word): the same rule whatever the
//! tokenizer, so words compare across models. Each token belongs to the word holding its first character that is
//! not white space; tokens of white space only (`\n`), an appended EOS (empty span) and chat-template or special
//! tokens are units of their own, marked, so that a word table can leave them apart.

use crate::score::{RecordScore, ResponseScore, TokenScore};
use std::ops::Range;

/// What a unit of a response is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// A word of the text (one or more tokens).
    Word,
    /// A token of white space only.
    Space,
    /// A token that is no text of the response: an appended EOS, a chat-template or special token.
    Special,
}

/// A run of consecutive tokens that make one word (or one token that is no word).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The word as written (for a special or space token, the token's text).
    pub text: String,
    /// Its tokens: indices into the response's tokens.
    pub tokens: Range<usize>,
    /// What it is.
    pub kind: UnitKind,
}

impl Word {
    /// The sum of `f` over the word's tokens (`f = |t| t.reward` gives the word's reward).
    pub fn sum(&self, tokens: &[TokenScore], f: impl Fn(&TokenScore) -> f64) -> f64 {
        tokens
            .get(self.tokens.clone())
            .map_or(0.0, |ts| ts.iter().map(f).sum())
    }

    /// The word's reward: the sum of its tokens' r_t.
    pub fn reward(&self, tokens: &[TokenScore]) -> f64 {
        self.sum(tokens, |t| t.reward)
    }
}

/// The words of `text` as character ranges: runs of characters that are neither white space nor `apart` (the
/// characters of template tokens, which end a word like a space does).
fn word_spans(chars: &[char], apart: &[bool]) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in chars.iter().enumerate() {
        let breaks = c.is_whitespace() || apart.get(i).copied().unwrap_or(false);
        match (breaks, start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                spans.push(s..i);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push(s..chars.len());
    }
    spans
}

/// The words of a response whose text is `text` and whose tokens are `tokens` (character offsets into `text`), in
/// order; every token belongs to exactly one unit.
pub fn words(text: &str, tokens: &[TokenScore]) -> Vec<Word> {
    let chars: Vec<char> = text.chars().collect();
    let mut apart = vec![false; chars.len()];
    for t in tokens.iter().filter(|t| t.template) {
        for a in apart.iter_mut().take(t.end).skip(t.start) {
            *a = true;
        }
    }
    let spans = word_spans(&chars, &apart);
    // Which word each token belongs to (`None`: a unit of its own, with its kind).
    let owner = |t: &TokenScore| -> Result<usize, UnitKind> {
        if t.template || t.start >= t.end {
            return Err(UnitKind::Special);
        }
        let end = t.end.min(chars.len());
        let first = (t.start..end).find(|&i| !chars[i].is_whitespace());
        match first {
            None if t.start < chars.len() => Err(UnitKind::Space),
            None => Err(UnitKind::Special),
            Some(p) => spans
                .iter()
                .position(|s| s.contains(&p))
                .ok_or(UnitKind::Special),
        }
    };
    let mut out: Vec<Word> = Vec::new();
    let mut last_word: Option<usize> = None;
    for (i, t) in tokens.iter().enumerate() {
        match owner(t) {
            Ok(w) if last_word == Some(w) => {
                if let Some(prev) = out.last_mut() {
                    prev.tokens.end = i + 1;
                }
            }
            Ok(w) => {
                out.push(Word {
                    text: chars[spans[w].clone()].iter().collect(),
                    tokens: i..i + 1,
                    kind: UnitKind::Word,
                });
                last_word = Some(w);
            }
            Err(kind) => {
                out.push(Word {
                    text: t.text.clone(),
                    tokens: i..i + 1,
                    kind,
                });
                last_word = None;
            }
        }
    }
    out
}

/// One word as if it were a token, so everything that shows tokens shows words the same way: its log-probabilities,
/// reward, log-ratio and KL are the sums over its tokens (a word's log-probability is the sum of its tokens'); its
/// entropies the means over its positions; its rank the worst of its tokens'; its id and top-k alternatives those of
/// its first position (what else could have started the word); its span from its first token's start to its last
/// token's end; its running reward the last token's.
pub fn word_score(word: &Word, tokens: &[TokenScore]) -> TokenScore {
    let ts = tokens.get(word.tokens.clone()).unwrap_or(&[]);
    let n = ts.len().max(1) as f64;
    let sum = |f: fn(&TokenScore) -> f64| ts.iter().map(f).sum::<f64>();
    let first = ts.first();
    TokenScore {
        id: first.map_or(0, |t| t.id),
        text: word.text.clone(),
        start: first.map_or(0, |t| t.start),
        end: ts.last().map_or(0, |t| t.end),
        template: ts.iter().any(|t| t.template),
        logp_policy: sum(|t| t.logp_policy),
        logp_reference: sum(|t| t.logp_reference),
        reward: sum(|t| t.reward),
        cum_reward: ts.last().map_or(0.0, |t| t.cum_reward),
        kl: sum(|t| t.kl),
        entropy_policy: sum(|t| t.entropy_policy) / n,
        entropy_reference: sum(|t| t.entropy_reference) / n,
        rank_policy: ts.iter().map(|t| t.rank_policy).max().unwrap_or(0),
        rank_reference: ts.iter().map(|t| t.rank_reference).max().unwrap_or(0),
        top_policy: first.map(|t| t.top_policy.clone()).unwrap_or_default(),
        top_reference: first.map(|t| t.top_reference.clone()).unwrap_or_default(),
    }
}

/// A response with its words in place of its tokens ([`word_score`] each); the text, sequence figures and
/// `num_tokens` (the scored tokens) are unchanged.
pub fn response_by_words(response: &ResponseScore) -> ResponseScore {
    let tokens = words(&response.text, &response.tokens)
        .iter()
        .map(|w| word_score(w, &response.tokens))
        .collect();
    ResponseScore {
        tokens,
        ..response.clone()
    }
}

/// A scored record with each response's words in place of its tokens (see [`response_by_words`]).
pub fn record_by_words(record: &RecordScore) -> RecordScore {
    let mut out = record.clone();
    match &mut out {
        RecordScore::Pair(p) => {
            p.chosen = response_by_words(&p.chosen);
            p.rejected = response_by_words(&p.rejected);
        }
        RecordScore::Unpaired(u) => u.response = response_by_words(&u.response),
    }
    out
}

/// Which unit credit is counted in: each token, or each word (its tokens' sum).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Each token.
    #[default]
    Token,
    /// Each whitespace word, punctuation attached: the sum over its tokens.
    Word,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(text: &str, start: usize, end: usize, reward: f64) -> TokenScore {
        TokenScore::for_test(text, start, end, reward)
    }

    #[test]
    fn tokens_group_into_whitespace_words_with_punctuation() {
        // " It is Kuala Lumpur.\n" + EOS, tokenised as a BPE tokenizer would.
        let text = " It is Kuala Lumpur.\n";
        let tokens = vec![
            tok(" It", 0, 3, 0.1),
            tok(" is", 3, 6, 0.0),
            tok(" K", 6, 8, -0.2),
            tok("uala", 8, 12, -0.1),
            tok(" L", 12, 14, -0.3),
            tok("umpur", 14, 19, 0.05),
            tok(".", 19, 20, 0.01),
            tok("\n", 20, 21, 0.02),
            tok("<|endoftext|>", 21, 21, -0.4),
        ];
        let w = words(text, &tokens);
        let got: Vec<(&str, Range<usize>, UnitKind)> = w
            .iter()
            .map(|w| (w.text.as_str(), w.tokens.clone(), w.kind))
            .collect();
        assert_eq!(
            got,
            [
                ("It", 0..1, UnitKind::Word),
                ("is", 1..2, UnitKind::Word),
                ("Kuala", 2..4, UnitKind::Word),
                ("Lumpur.", 4..7, UnitKind::Word),
                ("\n", 7..8, UnitKind::Space),
                ("<|endoftext|>", 8..9, UnitKind::Special),
            ]
        );
        assert!((w[2].reward(&tokens) + 0.3).abs() < 1e-12);
        let kuala = word_score(&w[2], &tokens);
        assert_eq!(
            (kuala.start, kuala.end, kuala.text.as_str()),
            (6, 12, "Kuala")
        );
        assert!((kuala.reward + 0.3).abs() < 1e-12);
        let eos = word_score(&w[5], &tokens);
        assert_eq!((eos.start, eos.end, eos.reward), (21, 21, -0.4));
        assert!((w[3].reward(&tokens) + 0.24).abs() < 1e-12);
        // Every token in exactly one unit, in order.
        let covered: Vec<usize> = w.iter().flat_map(|w| w.tokens.clone()).collect();
        assert_eq!(covered, (0..tokens.len()).collect::<Vec<_>>());
    }

    #[test]
    fn template_tokens_and_multibyte_text_stay_apart() {
        let text = "<|im_start|>Café crème<|im_end|>";
        let mut header = tok("<|im_start|>", 0, 12, 0.0);
        header.template = true;
        let mut end = tok("<|im_end|>", 22, 32, 0.0);
        end.template = true;
        let tokens = vec![
            header,
            tok("Caf", 12, 15, 0.1),
            tok("é", 15, 16, 0.1),
            tok(" cr", 16, 19, 0.1),
            tok("ème", 19, 22, 0.1),
            end,
        ];
        let w = words(text, &tokens);
        let texts: Vec<&str> = w.iter().map(|w| w.text.as_str()).collect();
        // The template tokens touch the words without white space: they are still units of their own, and the
        // words are cut to what the template leaves.
        assert_eq!(texts, ["<|im_start|>", "Café", "crème", "<|im_end|>"]);
        assert_eq!(w[0].kind, UnitKind::Special);
        assert_eq!(w[1].tokens, 1..3);
        assert_eq!(w[2].tokens, 3..5);
        assert_eq!(w[3].kind, UnitKind::Special);
    }
}
