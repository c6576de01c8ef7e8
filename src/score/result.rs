//! The scores creditlens reports, with the JSON schema of `creditlens score` (documented in the README).

use super::reward::implicit_reward;
pub use crate::tokenize::PromptToken;
use serde::{Deserialize, Serialize};

/// One of the most likely tokens at a position under one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopToken {
    /// Token id.
    pub id: u32,
    /// The token as a person should see it.
    pub text: String,
    /// Its log-probability (nats).
    pub logp: f64,
}

/// Everything known about one scored token of a response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenScore {
    /// Token id.
    pub id: u32,
    /// The token as a person should see it (bytes that are not whole characters as `<0xNN>`).
    pub text: String,
    /// First character of the response it covers.
    pub start: usize,
    /// One past the last character it covers (an appended EOS has `start == end == len(response)`).
    pub end: usize,
    /// Whether the token comes from the chat template (role header, end-of-turn) or is a special token.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub template: bool,
    /// log pi(y_t | s_t).
    pub logp_policy: f64,
    /// log pi_ref(y_t | s_t).
    pub logp_reference: f64,
    /// r_t = beta * (logp_policy - logp_reference).
    pub reward: f64,
    /// Sum of r_1..r_t.
    pub cum_reward: f64,
    /// KL(pi(.|s_t) || pi_ref(.|s_t)) over the whole vocabulary.
    pub kl: f64,
    /// Entropy of pi(.|s_t).
    pub entropy_policy: f64,
    /// Entropy of pi_ref(.|s_t).
    pub entropy_reference: f64,
    /// Rank of y_t under the policy (1 = most likely).
    pub rank_policy: usize,
    /// Rank of y_t under the reference.
    pub rank_reference: usize,
    /// The policy's top-k next tokens.
    pub top_policy: Vec<TopToken>,
    /// The reference's top-k next tokens.
    pub top_reference: Vec<TopToken>,
}

#[cfg(test)]
impl TokenScore {
    /// A token for unit tests: `text` over characters `start..end` with reward `reward` at beta 0.1 (log pi =
    /// 10 * reward, log pi_ref = 0), no KL, entropy or alternatives.
    pub(crate) fn for_test(text: &str, start: usize, end: usize, reward: f64) -> Self {
        Self {
            id: 0,
            text: text.into(),
            start,
            end,
            template: false,
            logp_policy: reward * 10.0,
            logp_reference: 0.0,
            reward,
            cum_reward: 0.0,
            kl: 0.0,
            entropy_policy: 0.0,
            entropy_reference: 0.0,
            rank_policy: 1,
            rank_reference: 1,
            top_policy: Vec::new(),
            top_reference: Vec::new(),
        }
    }
}

/// The scores of one response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseScore {
    /// The response text as given (without an appended EOS).
    pub text: String,
    /// Number of scored tokens.
    pub num_tokens: usize,
    /// Sequence implicit reward: sum of r_t (TRL's `rewards/chosen` or `rewards/rejected`).
    pub reward: f64,
    /// Sum of log pi over the scored tokens.
    pub logp_policy: f64,
    /// Sum of log pi_ref over the scored tokens.
    pub logp_reference: f64,
    /// For a conversation, where the completion's own text starts in `text` (which is the rendered completion,
    /// template tokens included); labelled error spans are relative to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_start: Option<usize>,
    /// Per-token scores.
    pub tokens: Vec<TokenScore>,
}

impl ResponseScore {
    /// Recomputes every reward for `beta` from the stored log-probabilities: r_t = beta * (log pi - log pi_ref),
    /// their running sum, and the sequence reward. Rewards are linear in beta, so no model runs.
    pub fn set_beta(&mut self, beta: f64) {
        let mut cum = 0.0;
        for t in &mut self.tokens {
            t.reward = implicit_reward(beta, t.logp_policy, t.logp_reference);
            cum += t.reward;
            t.cum_reward = cum;
        }
        self.reward = implicit_reward(beta, self.logp_policy, self.logp_reference);
    }

    /// Labelled spans of the response's own text moved onto `text`: for a conversation, whose `text` is the
    /// rendered completion, they are shifted to where the message text starts in it.
    pub fn locate_spans(&self, spans: &[(usize, usize)]) -> Vec<(usize, usize)> {
        let k = self.content_start.unwrap_or(0);
        spans.iter().map(|&(a, b)| (a + k, b + k)).collect()
    }
}

/// A scored preference pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairScore {
    /// Index of the record in its data file (0-based).
    pub index: usize,
    /// The prompt.
    pub prompt: String,
    /// The preferred response.
    pub chosen: ResponseScore,
    /// The dispreferred response.
    pub rejected: ResponseScore,
    /// R_chosen - R_rejected (TRL's `rewards/margins`).
    pub margin: f64,
    /// sigmoid(margin): Bradley-Terry probability that chosen beats rejected.
    pub preference_prob: f64,
    /// Warnings met while scoring (truncation, boundary merges, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The prompt's tokens (for a conversation, the rendered template with its role headers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompt_tokens: Vec<PromptToken>,
}

/// A scored single response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnpairedScore {
    /// Index of the record in its data file (0-based).
    pub index: usize,
    /// The prompt.
    pub prompt: String,
    /// The response.
    pub response: ResponseScore,
    /// Warnings met while scoring.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The prompt's tokens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompt_tokens: Vec<PromptToken>,
}

/// One line of `creditlens score` output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RecordScore {
    /// A preference pair.
    Pair(PairScore),
    /// A single response.
    Unpaired(UnpairedScore),
}

impl RecordScore {
    /// Recomputes all rewards, margins and preference probabilities for `beta` (see [`ResponseScore::set_beta`]).
    pub fn set_beta(&mut self, beta: f64) {
        match self {
            RecordScore::Pair(p) => {
                p.chosen.set_beta(beta);
                p.rejected.set_beta(beta);
                p.margin = p.chosen.reward - p.rejected.reward;
                p.preference_prob = super::metrics::sigmoid(p.margin);
            }
            RecordScore::Unpaired(u) => u.response.set_beta(beta),
        }
    }

    /// Sets the record's index in its data file (the app scores what the editor holds, then files it under the
    /// selected row).
    pub fn set_index(&mut self, index: usize) {
        match self {
            RecordScore::Pair(p) => p.index = index,
            RecordScore::Unpaired(u) => u.index = index,
        }
    }

    /// The record's index in its data file.
    pub fn index(&self) -> usize {
        match self {
            RecordScore::Pair(p) => p.index,
            RecordScore::Unpaired(u) => u.index,
        }
    }

    /// The responses with their names (`chosen`/`rejected` or `response`).
    pub fn responses(&self) -> Vec<(&'static str, &ResponseScore)> {
        match self {
            RecordScore::Pair(p) => vec![("chosen", &p.chosen), ("rejected", &p.rejected)],
            RecordScore::Unpaired(u) => vec![("response", &u.response)],
        }
    }

    /// The prompt's tokens.
    pub fn prompt_tokens(&self) -> &[PromptToken] {
        match self {
            RecordScore::Pair(p) => &p.prompt_tokens,
            RecordScore::Unpaired(u) => &u.prompt_tokens,
        }
    }

    /// Warnings met while scoring the record.
    pub fn warnings(&self) -> &[String] {
        match self {
            RecordScore::Pair(p) => &p.warnings,
            RecordScore::Unpaired(u) => &u.warnings,
        }
    }
}
