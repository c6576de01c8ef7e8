//! Scoring: runs the policy and the reference over prompt+response sequences (the shared prompt once per model,
//! through the KV cache) and turns their logits into per-token implicit rewards and the other metrics.
//!
//! - this file: the settings ([`ScoreOptions`]) and the [`Scorer`] (a policy, its reference, their tokenizer);
//! - `load`: loading the pair (an adapter on its base shares the base) and the memory checks;
//! - `forward`: both models over encoded sequences (a shared prefix once, continuations packed), logits in
//!   chunks, per-position metrics ([`metrics`]);
//! - `record`: a record's responses tokenised, scored and assembled into a [`RecordScore`] ([`result`]);
//! - `reuse`: rescoring an edit from its first changed token, on the caches of the last scoring ([`ScoreMemo`]);
//! - `reward`: the implicit reward and how rewards follow a change of beta.

mod forward;
mod load;
pub mod metrics;
mod record;
pub mod result;
mod reuse;
mod reward;

pub use metrics::{PositionMetrics, position_metrics, sigmoid};
pub use result::{
    PairScore, PromptToken, RecordScore, ResponseScore, TokenScore, TopToken, UnpairedScore,
};
pub use reuse::{Reuse, ScoreMemo};
pub use reward::{implicit_reward, rescale_rewards};

use crate::chat::ChatTemplate;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::tokenize::{TextTokenizer, TokenizationMode};
use std::sync::Arc;

/// Settings of a scoring run.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreOptions {
    /// DPO's beta: r_t = beta * (log pi - log pi_ref). TRL's default is 0.1.
    pub beta: f64,
    /// How prompt and response are tokenised.
    pub mode: TokenizationMode,
    /// Alternatives reported per model and position.
    pub top_k: usize,
    /// Longest sequence scored (prompt included); longer ones are cut at the end, like TRL's `keep_start`.
    pub max_length: Option<usize>,
    /// Most memory the run may use (`--max-memory`); `None`: what the machine has available. A load or a record
    /// whose estimate exceeds it is refused before any work ([`crate::memory`]).
    pub max_memory: Option<u64>,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        Self {
            beta: crate::defaults::BETA,
            mode: crate::defaults::TOKENIZATION,
            top_k: crate::defaults::TOP_K,
            max_length: None,
            max_memory: None,
        }
    }
}

/// The most alternatives per token and model a run may ask for.
pub const MAX_TOP_K: usize = 1000;

/// The largest beta accepted: far above any DPO run's, small enough that rewards and margins of any finite
/// log-probs stay finite.
pub const MAX_BETA: f64 = 1000.0;

impl ScoreOptions {
    /// Checks that the values make sense.
    pub fn validate(&self) -> Result<()> {
        if !self.beta.is_finite() || self.beta <= 0.0 || self.beta > MAX_BETA {
            return Err(Error::InvalidArgument(format!(
                "beta must be a positive number of at most {MAX_BETA} (DPO uses 0.01 to 1), got {}",
                self.beta
            )));
        }
        if self.top_k > MAX_TOP_K {
            return Err(Error::InvalidArgument(format!(
                "--top-k {} is too many: the alternatives are written for every token of both models (at most {MAX_TOP_K})",
                self.top_k
            )));
        }
        if self.max_length == Some(0) {
            return Err(Error::InvalidArgument(
                "max length must be at least 2".into(),
            ));
        }
        Ok(())
    }
}

/// The per-position metrics of one sequence's scored tokens.
pub type SequenceMetrics = Vec<PositionMetrics>;

/// A policy, its reference, their shared tokenizer and the scoring settings.
#[derive(Debug, Clone)]
pub struct Scorer {
    policy: Arc<Model>,
    reference: Arc<Model>,
    tokenizer: Arc<TextTokenizer>,
    options: ScoreOptions,
    chat_template: Option<Arc<ChatTemplate>>,
    /// Positions whose vocabulary-wide logits are held at once per model ([`LOGIT_ROWS`] unless set).
    logit_rows: usize,
}

/// The scores of one record's responses, the warnings met, and the prompt's tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredTexts {
    /// One score per response, in order.
    pub responses: Vec<ResponseScore>,
    /// Things the user should know (truncation, boundary merges, ...).
    pub warnings: Vec<String>,
    /// The tokens the responses are predicted from (for a conversation: the rendered template).
    pub prompt_tokens: Vec<PromptToken>,
}

impl Scorer {
    /// The same scorer computing logits and metrics over chunks of `rows` positions (at least one). The numbers do
    /// not change; tests use small chunks to check that, and a memory budget could use it to hold less.
    pub fn with_logit_rows(&self, rows: usize) -> Self {
        Self {
            logit_rows: rows.max(1),
            ..self.clone()
        }
    }

    /// Both models attending in blocks of query rows beyond `elements` scores per layer (see
    /// [`Model::with_attention_block`]); the numbers do not change.
    pub fn with_attention_block(&self, elements: usize) -> Self {
        let policy = Arc::new(self.policy.with_attention_block(elements));
        let reference = if Arc::ptr_eq(&self.policy, &self.reference) {
            policy.clone()
        } else {
            Arc::new(self.reference.with_attention_block(elements))
        };
        Self {
            policy,
            reference,
            ..self.clone()
        }
    }

    /// The same models rendering conversations with `template` instead of the tokenizer's own (`--chat-template`).
    pub fn with_chat_template(&self, template: ChatTemplate) -> Self {
        Self {
            chat_template: Some(Arc::new(template)),
            ..self.clone()
        }
    }

    /// The chat template conversations are rendered with: the one given, else the tokenizer's.
    pub fn chat_template(&self) -> Option<&ChatTemplate> {
        self.chat_template
            .as_deref()
            .or(self.tokenizer.chat_template())
    }

    /// The same models with other settings (nothing is reloaded).
    pub fn with_options(&self, options: ScoreOptions) -> Result<Self> {
        options.validate()?;
        let vocab = self.policy.info().vocab_size;
        if options.top_k > vocab {
            return Err(Error::InvalidArgument(format!(
                "--top-k {} is more than the model's vocabulary of {vocab} tokens; use at most {vocab}",
                options.top_k
            )));
        }
        Ok(Self {
            options,
            ..self.clone()
        })
    }

    /// Another policy against the same reference and tokenizer, e.g. an intermediate checkpoint; its vocabulary
    /// must match.
    pub fn with_policy(&self, policy: Arc<Model>) -> Result<Self> {
        Ok(Self {
            chat_template: self.chat_template.clone(),
            logit_rows: self.logit_rows,
            ..Self::new(
                policy,
                self.reference.clone(),
                self.tokenizer.clone(),
                self.options.clone(),
            )?
        })
    }

    /// The policy model.
    pub fn policy(&self) -> &Model {
        &self.policy
    }

    /// The reference model.
    pub fn reference(&self) -> &Model {
        &self.reference
    }

    /// The shared tokenizer.
    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    /// The scoring settings.
    pub fn options(&self) -> &ScoreOptions {
        &self.options
    }

    /// The longest sequence that will be scored: `--max-length` and both models' context lengths.
    pub fn max_length(&self) -> usize {
        let ctx = self
            .policy
            .info()
            .context_length
            .min(self.reference.info().context_length);
        self.options.max_length.map_or(ctx, |m| m.min(ctx))
    }
}
