//! What the benchmark programs share: the seeded id stream (the same generator as their Python anchors), encoded
//! sequences of ids, peak memory, and the start of `main`. Each program uses part of it.
#![allow(dead_code)]

use creditlens::model::Model;
use creditlens::score::{ScoreOptions, Scorer};
use creditlens::tokenize::{EncodedSequence, ScoredToken, TextTokenizer};
use std::sync::Arc;
use std::time::Instant;

/// A deterministic stream of token ids (the Python anchors use the same generator).
pub struct Lcg(pub u64);

impl Lcg {
    /// The next number below `bound`.
    pub fn next(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % bound
    }

    /// `n` ids below `vocab`.
    pub fn ids(&mut self, n: usize, vocab: usize) -> Vec<u32> {
        (0..n).map(|_| self.next(vocab) as u32).collect()
    }
}

/// `prompt` followed by `response`, the response's tokens scored.
pub fn sequence(prompt: &[u32], response: &[u32]) -> EncodedSequence {
    let ids: Vec<u32> = prompt.iter().chain(response).copied().collect();
    let tokens = response
        .iter()
        .map(|&id| ScoredToken {
            id,
            text: String::new(),
            start: 0,
            end: 0,
            template: false,
        })
        .collect();
    EncodedSequence {
        ids,
        scored_start: prompt.len(),
        tokens,
    }
}

/// This process's peak resident memory in MB.
pub fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Sizes candle's thread pool as the programs do ([`creditlens::threads`]) and returns the arguments other than
/// cargo's flags (`--bench`). Call it first in `main`, before any thread exists.
pub fn start() -> Vec<String> {
    // SAFETY: called first in main, before any thread exists (see above).
    unsafe { creditlens::threads::configure() };
    std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect()
}

/// A scorer with `model` as the policy and a second instance of it as the reference, computed separately as TRL
/// does (their weights' storage is shared: the speed is that of two models). The tokenizer is not used when
/// scoring ids.
pub fn twin_scorer(model: Model) -> Scorer {
    let policy = Arc::new(model);
    let reference = Arc::new((*policy).clone());
    let tok = tokenizers::Tokenizer::new(tokenizers::models::bpe::BPE::default());
    let tokenizer = Arc::new(TextTokenizer::from_parts(tok, "none".into(), None, None));
    Scorer::new(policy, reference, tokenizer, ScoreOptions::default()).expect("scorer")
}

/// Scores `pairs` one after the other: the scored tokens and the seconds it took.
pub fn timed(scorer: &Scorer, pairs: &[Vec<EncodedSequence>]) -> (usize, f64) {
    let start = Instant::now();
    let mut tokens = 0;
    for pair in pairs {
        let m = scorer.score_sequences(pair).expect("score");
        tokens += m.iter().map(Vec::len).sum::<usize>();
    }
    (tokens, start.elapsed().as_secs_f64())
}
