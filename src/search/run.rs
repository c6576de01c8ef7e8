//! A search as the command line and the app run it: a prompt (text, or messages through the chat template) is
//! tokenised as transformers does, continued by beam search or sampling with the policy, and every candidate is
//! scored against the reference like any response (per-token log-probs, rewards, KL, ranks).

use super::sample::SampleSettings;
use super::{Candidate, Progress, SearchSettings, beam_search, sample};
use crate::chat::{Message, RenderOptions};
use crate::error::{Error, Result};
use crate::model::Decoder;
use crate::score::{ResponseScore, Scorer};
use crate::tokenize::{EncodedSequence, ScoredToken, TextTokenizer};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The prompt to continue.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchPrompt {
    /// Plain text, tokenised with the tokenizer's own special tokens (transformers' default).
    Text(String),
    /// Messages, rendered by the chat template with the generation prompt (`add_generation_prompt=True`).
    Messages(Vec<Message>),
}

/// One candidate of a search: a response scored like any other, with its beam score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchCandidate {
    /// The continuation scored token by token (its text, rewards, log-probs, per-token fields).
    #[serde(flatten)]
    pub response: ResponseScore,
    /// The beam score: summed policy log-prob over length^alpha, as the search ranked it.
    pub score: f64,
    /// Whether it stopped at an EOS / end-of-turn token.
    pub finished: bool,
}

/// The candidates of one prompt at one beam width (or one sampling run), best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchRun {
    /// Which prompt (line of the data file, or 0).
    pub index: usize,
    /// The prompt as the model saw it (for messages: the rendered template).
    pub prompt: String,
    /// The beam width (1: greedy); 0 for sampling.
    pub beams: usize,
    /// Number of samples drawn, for a sampling run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<usize>,
    /// The candidates, best first (sampling: in the order drawn).
    pub candidates: Vec<SearchCandidate>,
    /// Whether the run was stopped before it ended.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancelled: bool,
}

/// Runs searches with a scorer's policy and scores their candidates with both of its models.
pub struct Searcher<'a> {
    scorer: &'a Scorer,
    eos: Vec<u32>,
    /// The policy with quantised weights dequantised once, when it has any (decoding runs on it).
    dense: Option<Decoder>,
}

/// The token ids that end a generation for the checkpoint in `dir`: generation_config.json's `eos_token_id`
/// (a number or a list), else config.json's, else the tokenizer's EOS token (as transformers builds its
/// generation config).
pub fn eos_ids(dir: &Path, tok: &TextTokenizer) -> Vec<u32> {
    let read = |name: &str| -> Option<Vec<u32>> {
        let text = std::fs::read_to_string(dir.join(name)).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        match json.get("eos_token_id")? {
            serde_json::Value::Number(n) => Some(vec![n.as_u64()? as u32]),
            serde_json::Value::Array(a) => a.iter().map(|v| v.as_u64().map(|x| x as u32)).collect(),
            _ => None,
        }
    };
    let dir_ids = if dir.is_dir() {
        read("generation_config.json").or_else(|| read("config.json"))
    } else {
        None
    };
    dir_ids
        .filter(|ids| !ids.is_empty())
        .or_else(|| tok.eos_id().map(|id| vec![id]))
        .unwrap_or_default()
}

/// Spans of each generated token in `text` (the continuation decoded), by decoding growing prefixes: a token
/// that adds no text (an EOS, a partial character) gets an empty span where it stands.
pub fn decode_spans(tok: &TextTokenizer, ids: &[u32]) -> Result<(String, Vec<ScoredToken>)> {
    let decode = |ids: &[u32]| -> Result<String> {
        tok.inner()
            .decode(ids, true)
            .map_err(|e| Error::InvalidArgument(format!("cannot decode generated ids: {e}")))
    };
    let text = decode(ids)?;
    let total = text.chars().count();
    let mut tokens = Vec::with_capacity(ids.len());
    let mut start = 0;
    for i in 0..ids.len() {
        let end = decode(&ids[..=i])?.chars().count().clamp(start, total);
        tokens.push(ScoredToken {
            id: ids[i],
            text: tok.token_text(ids[i]),
            start,
            end,
            template: tok.is_special(ids[i]),
        });
        start = end;
    }
    Ok((text, tokens))
}

/// Runs `f` with a progress that passes steps on to `progress` and remembers whether it asked to stop.
fn watching<T>(
    progress: &mut dyn Progress,
    f: impl FnOnce(&mut dyn Progress) -> Result<T>,
) -> Result<(T, bool)> {
    let mut cancelled = false;
    let found = {
        let mut watch = |step: usize, of: usize| {
            let go = progress.step(step, of);
            cancelled |= !go;
            go
        };
        f(&mut watch)?
    };
    Ok((found, cancelled))
}

impl<'a> Searcher<'a> {
    /// A searcher over `scorer`'s models, stopping at the policy checkpoint's EOS ids. A policy held quantised
    /// (GGUF) is dequantised once for the search (the same numbers; each decoding step would otherwise dequantise
    /// every projection for one token per beam).
    pub fn new(scorer: &'a Scorer) -> Result<Self> {
        let eos = eos_ids(&scorer.policy().info().path, scorer.tokenizer());
        let dense = scorer.policy().lm().densified()?;
        Ok(Self { scorer, eos, dense })
    }

    /// The policy the search decodes with.
    pub fn policy(&self) -> &Decoder {
        match &self.dense {
            Some(d) => d,
            None => self.scorer.policy().lm(),
        }
    }

    /// The ids that end a hypothesis.
    pub fn eos(&self) -> &[u32] {
        &self.eos
    }

    /// The prompt's ids and its text as the model sees it.
    pub fn encode(&self, prompt: &SearchPrompt) -> Result<(Vec<u32>, String)> {
        let tok = self.scorer.tokenizer();
        let text = match prompt {
            SearchPrompt::Text(t) => t.clone(),
            SearchPrompt::Messages(messages) => {
                let template = self.scorer.chat_template().ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "the prompt is a conversation but the tokenizer ({}) has no chat template; give one with --chat-template FILE",
                        self.scorer.policy().info().path.display()
                    ))
                })?;
                template
                    .render(
                        messages,
                        RenderOptions {
                            add_generation_prompt: true,
                            tools: None,
                            kwargs: None,
                        },
                    )
                    .map_err(Error::InvalidArgument)?
            }
        };
        let special = matches!(prompt, SearchPrompt::Text(_));
        let ids = tok.encode_with(&text, special)?.ids;
        if ids.is_empty() {
            return Err(Error::InvalidArgument(
                "the prompt is empty: give some text (or a message) to continue".into(),
            ));
        }
        Ok((ids, text))
    }

    /// Beam search of `settings.beams` beams (1: greedy) from `prompt_ids`, candidates scored.
    pub fn beams(
        &self,
        prompt_ids: &[u32],
        settings: &SearchSettings,
        progress: &mut dyn Progress,
    ) -> Result<(Vec<SearchCandidate>, bool)> {
        let settings = self.with_eos(settings);
        let (found, cancelled) = watching(progress, |watch| {
            beam_search(self.policy(), prompt_ids, &settings, watch)
        })?;
        Ok((self.score(prompt_ids, &found)?, cancelled))
    }

    /// `sampling.n` sampled continuations of `prompt_ids`, scored.
    pub fn samples(
        &self,
        prompt_ids: &[u32],
        settings: &SearchSettings,
        sampling: &SampleSettings,
        progress: &mut dyn Progress,
    ) -> Result<(Vec<SearchCandidate>, bool)> {
        let settings = self.with_eos(settings);
        let (found, cancelled) = watching(progress, |watch| {
            sample(self.policy(), prompt_ids, &settings, sampling, watch)
        })?;
        Ok((self.score(prompt_ids, &found)?, cancelled))
    }

    /// The settings with this checkpoint's EOS ids when they name none.
    fn with_eos(&self, settings: &SearchSettings) -> SearchSettings {
        let mut s = settings.clone();
        if s.eos.is_empty() {
            s.eos = self.eos.clone();
        }
        s
    }

    /// Scores each candidate's ids after the prompt with both models.
    pub fn score(&self, prompt_ids: &[u32], found: &[Candidate]) -> Result<Vec<SearchCandidate>> {
        let tok = self.scorer.tokenizer();
        let mut texts = Vec::with_capacity(found.len());
        let mut seqs = Vec::with_capacity(found.len());
        for c in found.iter().filter(|c| !c.ids.is_empty()) {
            let (text, tokens) = decode_spans(tok, &c.ids)?;
            let mut ids = prompt_ids.to_vec();
            ids.extend(&c.ids);
            seqs.push(EncodedSequence {
                ids,
                scored_start: prompt_ids.len(),
                tokens,
            });
            texts.push((text, c));
        }
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let metrics = self.scorer.score_sequences(&seqs)?;
        Ok(seqs
            .iter()
            .zip(metrics)
            .zip(texts)
            .map(|((seq, m), (text, c))| SearchCandidate {
                response: self.scorer.response_score(&text, seq, &m),
                score: f64::from(c.score),
                finished: c.finished,
            })
            .collect())
    }
}
