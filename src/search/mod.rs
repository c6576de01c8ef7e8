//! Likelihood search with the policy (the paper's section 5.2: a DPO policy is a Q-function, so beam search on
//! its likelihood searches on the implicit reward): greedy decoding, sampling and beam search over the policy's
//! KV cache, each candidate then scored token by token against the reference like any response.
//!
//! The decoding follows transformers' `generate()` (see `fixtures/SEARCH_NOTES.md`), so that on the same
//! checkpoint and prompt the same token ids come out.

mod beam;
mod experiment;

mod run;
mod runs;
mod sample;

pub use beam::beam_search;
pub use experiment::{ExperimentRow, ExperimentSettings, run_experiment};

pub use run::{SearchCandidate, SearchPrompt, SearchRun, Searcher, decode_spans, eos_ids};
pub use runs::{is_search_output, read_runs};
pub use sample::SampleSettings;
pub use sample::sample;

use crate::error::{Error, Result};

/// How to decode: beam width, length, stopping tokens and length normalisation.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchSettings {
    /// Beam width (1: greedy decoding).
    pub beams: usize,
    /// Most tokens generated after the prompt.
    pub max_new_tokens: usize,
    /// Token ids that end a hypothesis (EOS, end-of-turn).
    pub eos: Vec<u32>,
    /// The exponent alpha of the length normalisation: a finished hypothesis scores `sum log pi / length^alpha`
    /// (transformers' `length_penalty`; 0 ranks by the plain sum, 1 by the mean).
    pub length_penalty: f32,
}

impl SearchSettings {
    /// Beams kept per step, as transformers keeps them: `max(2, 1 + number of EOS ids) * beams`.
    fn candidates_kept(&self) -> usize {
        2.max(1 + self.eos.len()) * self.beams
    }

    /// Checks the settings against a model with `vocab` tokens and `context` positions, for a prompt of
    /// `prompt` tokens.
    pub fn validate(&self, vocab: usize, context: usize, prompt: usize) -> Result<()> {
        if self.beams == 0 {
            return Err(Error::InvalidArgument(
                "--beams must be at least 1 (1 is greedy decoding)".into(),
            ));
        }
        if self.candidates_kept() > vocab {
            return Err(Error::InvalidArgument(format!(
                "a beam width of {} keeps {} candidates per step, more than the model's {vocab} tokens; use a width of at most {}",
                self.beams,
                self.candidates_kept(),
                vocab / 2.max(1 + self.eos.len())
            )));
        }
        if self.max_new_tokens == 0 {
            return Err(Error::InvalidArgument(
                "--max-new-tokens must be at least 1".into(),
            ));
        }
        if prompt == 0 {
            return Err(Error::InvalidArgument(
                "the prompt is empty: give some text (or a message) to continue".into(),
            ));
        }
        if prompt + self.max_new_tokens > context {
            return Err(Error::InvalidArgument(format!(
                "the prompt's {prompt} tokens and --max-new-tokens {} exceed the model's context of {context} tokens; lower --max-new-tokens to at most {}",
                self.max_new_tokens,
                context.saturating_sub(prompt)
            )));
        }
        if !self.length_penalty.is_finite() {
            return Err(Error::InvalidArgument(
                "--length-norm must be a finite number".into(),
            ));
        }
        Ok(())
    }
}

/// One generated continuation.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The generated ids (an ending EOS included).
    pub ids: Vec<u32>,
    /// The policy's log-prob of each generated id, as the search computed it.
    pub logps: Vec<f32>,
    /// Their sum, accumulated in f32 as the search ranks running beams.
    pub sum_logp: f32,
    /// The beam score: `sum_logp / length^alpha`.
    pub score: f32,
    /// Whether it ended with an EOS / end-of-turn token (else it reached `max_new_tokens` or was cancelled).
    pub finished: bool,
}

/// Told of each decoding step; returning `false` stops the search with what it has.
pub trait Progress {
    /// Step `step` of at most `of` is done.
    fn step(&mut self, step: usize, of: usize) -> bool;
}

impl<F: FnMut(usize, usize) -> bool> Progress for F {
    fn step(&mut self, step: usize, of: usize) -> bool {
        self(step, of)
    }
}
