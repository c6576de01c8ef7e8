//! Scoring: runs the policy and the reference over prompt+response sequences (the shared prompt once per model,
//! through the KV cache) and turns their logits into per-token implicit rewards and the other metrics.

pub mod metrics;
pub mod result;

pub use metrics::{PositionMetrics, position_metrics, sigmoid};
pub use result::{
    PairScore, PromptToken, RecordScore, ResponseScore, TokenScore, TopToken, UnpairedScore,
};

use crate::chat::{ChatTemplate, Conversation};
use crate::data::Record;
use crate::error::{Error, Result};
use crate::model::{Dtype, Model};
use crate::source::ModelSource;
use crate::tokenize::{
    EncodedRecord, EncodedSequence, TextTokenizer, TokenizationMode, encode_conversation,
    encode_record,
};
use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;
use std::path::Path;
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
    /// Loads policy and reference (once, if they are the same), checks they share a tokenizer, and computes in
    /// `dtype` on the CPU. Each path is a Hugging Face checkpoint directory or a LoRA
    /// adapter directory; an adapter whose base is not a local directory is applied to the reference (TRL + PEFT:
    /// the reference is the base with the adapter disabled).
    pub fn load(
        policy: &Path,
        reference: &Path,
        dtype: Dtype,
        options: ScoreOptions,
    ) -> Result<Self> {
        Self::load_reporting(policy, reference, dtype, options, &|_| {})
    }

    /// [`Scorer::load`], calling `report` with the share of the work done (0 to 1): the policy's weights are the
    /// first half, the reference's the second (all of it when both are the same).
    pub fn load_reporting(
        policy: &Path,
        reference: &Path,
        dtype: Dtype,
        options: ScoreOptions,
        report: &dyn Fn(f32),
    ) -> Result<Self> {
        options.validate()?;
        let device = Device::Cpu;
        let ps = ModelSource::resolve(policy, Some(reference))?;
        let rs = ModelSource::resolve(reference, None)?;
        let same = rs == ps;
        let tokenizer = Arc::new(ps.load_tokenizer()?);
        if !same {
            // Before any weights: a mismatch is reported at once.
            tokenizer.check_compatible(&rs.load_tokenizer()?)?;
        }
        // Before any weights: what the run will hold, against what there is.
        let reference_cfg = rs.config()?;
        let policy_cfg = if same { None } else { Some(ps.config()?) };
        let tokens = load_estimate_tokens(&options, &reference_cfg);
        // A LoRA policy on its reference's base shares the base's weights (only the adapter is added).
        let shares_base = matches!(rs, ModelSource::Checkpoint(_) | ModelSource::Gguf(_))
            && ps.is_adapter_on(rs.dir());
        let estimate = crate::memory::estimate(
            policy_cfg.as_ref().map(|c| {
                (
                    c,
                    if shares_base {
                        Some(0)
                    } else {
                        ps.stored_bytes()
                    },
                )
            }),
            (&reference_cfg, rs.stored_bytes()),
            dtype,
            tokens,
        );
        crate::memory::check(&estimate, options.max_memory, dtype)?;
        let dtype = dtype.candle();
        // A LoRA policy whose reference is its own base: the base is loaded once and the adapter applied
        // unmerged on top of it (PEFT's forward), unless it changes something only a merge applies.
        let mut preloaded = None;
        if shares_base {
            let reference_model = Arc::new(rs.load_model_reporting(dtype, &device, report)?);
            if let Some(policy) = ps.adapter_on(&reference_model)? {
                report(1.0);
                return Self::new(Arc::new(policy), reference_model, tokenizer, options);
            }
            preloaded = Some(reference_model);
        }
        let half = if same || preloaded.is_some() {
            1.0
        } else {
            0.5
        };
        let policy_model =
            Arc::new(ps.load_model_reporting(dtype, &device, &|f| report(f * half))?);
        let reference_model = match (same, preloaded) {
            (true, _) => policy_model.clone(),
            (false, Some(r)) => r,
            (false, None) => {
                Arc::new(rs.load_model_reporting(dtype, &device, &|f| report(0.5 + f * 0.5))?)
            }
        };
        report(1.0);
        Self::new(policy_model, reference_model, tokenizer, options)
    }

    /// Builds a scorer from loaded parts; the two models must have the same vocabulary size.
    pub fn new(
        policy: Arc<Model>,
        reference: Arc<Model>,
        tokenizer: Arc<TextTokenizer>,
        options: ScoreOptions,
    ) -> Result<Self> {
        options.validate()?;
        crate::alloc::keep_freed_memory();
        let (pv, rv) = (policy.info().vocab_size, reference.info().vocab_size);
        if pv != rv {
            return Err(Error::TokenizerMismatch(format!(
                "the policy's output layer has {pv} rows, the reference's {rv}"
            )));
        }
        if options.top_k > pv {
            return Err(Error::InvalidArgument(format!(
                "--top-k {} is more than the model's vocabulary of {pv} tokens; use at most {pv}",
                options.top_k
            )));
        }
        if tokenizer.vocab_size() > pv {
            return Err(Error::Tokenizer {
                path: policy.info().path.clone(),
                message: format!(
                    "the tokenizer has {} tokens but the model only {pv}; tokenizer.json does not belong to this model",
                    tokenizer.vocab_size()
                ),
            });
        }
        Ok(Self {
            policy,
            reference,
            tokenizer,
            options,
            chat_template: None,
            logit_rows: LOGIT_ROWS,
        })
    }

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

    /// Scores one record (a conversational one through the chat template).
    pub fn score_record(&self, index: usize, record: &Record) -> Result<RecordScore> {
        let scored = match record.chat() {
            Some(conv) => self.score_conversation(conv)?,
            None => self.score_prompted(record.prompt(), &record.responses())?,
        };
        let ScoredTexts {
            mut responses,
            warnings,
            prompt_tokens,
        } = scored;
        Ok(match record {
            Record::Pair { prompt, .. } => {
                let rejected = responses.pop().ok_or_else(missing_response)?;
                let chosen = responses.pop().ok_or_else(missing_response)?;
                let margin = chosen.reward - rejected.reward;
                RecordScore::Pair(PairScore {
                    index,
                    prompt: prompt.clone(),
                    chosen,
                    rejected,
                    margin,
                    preference_prob: sigmoid(margin),
                    warnings,
                    prompt_tokens,
                })
            }
            Record::Unpaired { prompt, .. } => RecordScore::Unpaired(UnpairedScore {
                index,
                prompt: prompt.clone(),
                response: responses.pop().ok_or_else(missing_response)?,
                warnings,
                prompt_tokens,
            }),
        })
    }

    /// Scores each of `responses` after `prompt`; returns one [`ResponseScore`] per response and the warnings.
    pub fn score_texts(
        &self,
        prompt: &str,
        responses: &[&str],
    ) -> Result<(Vec<ResponseScore>, Vec<String>)> {
        let s = self.score_prompted(prompt, responses)?;
        Ok((s.responses, s.warnings))
    }

    /// Scores each of `responses` after the plain-text `prompt`, with the prompt's tokens.
    pub fn score_prompted(&self, prompt: &str, responses: &[&str]) -> Result<ScoredTexts> {
        let enc = encode_record(
            &self.tokenizer,
            self.options.mode,
            prompt,
            responses,
            Some(self.max_length()),
        )?;
        self.score_encoded(enc, false)
    }

    /// Scores a conversation's completions, rendered with the chat template.
    pub fn score_conversation(&self, conv: &Conversation) -> Result<ScoredTexts> {
        let template = self.chat_template().ok_or_else(|| {
            Error::Record(format!(
                "the record is conversational (lists of messages) but the tokenizer ({}) has no chat template; give one with --chat-template FILE",
                self.policy.info().path.display()
            ))
        })?;
        let enc = encode_conversation(
            &self.tokenizer,
            template,
            self.options.mode,
            conv,
            Some(self.max_length()),
        )?;
        self.score_encoded(enc, true)
    }

    fn score_encoded(&self, enc: EncodedRecord, chat: bool) -> Result<ScoredTexts> {
        let metrics = self.score_sequences(&enc.sequences)?;
        let responses = enc
            .sequences
            .iter()
            .zip(metrics)
            .zip(enc.texts.iter().zip(&enc.content_offsets))
            .map(|((seq, m), (text, offset))| {
                let mut r = self.response_score(text, seq, &m);
                r.content_start = if chat { *offset } else { None };
                r
            })
            .collect();
        Ok(ScoredTexts {
            responses,
            warnings: enc.warnings,
            prompt_tokens: enc.prompt,
        })
    }

    /// Runs both models over `seqs` and returns the metrics of each sequence's scored tokens. The longest prefix
    /// the sequences share is computed once per model.
    pub fn score_sequences(&self, seqs: &[EncodedSequence]) -> Result<Vec<SequenceMetrics>> {
        let vocab = self.policy.info().vocab_size;
        for seq in seqs {
            if seq.scored_start == 0 || seq.scored_start >= seq.ids.len() {
                return Err(Error::Record("a sequence has no scorable token".into()));
            }
            if let Some(id) = seq.ids.iter().find(|&&id| id as usize >= vocab) {
                return Err(Error::Record(format!(
                    "token id {id} is outside the model's vocabulary of {vocab}"
                )));
            }
        }
        self.check_record_memory(seqs)?;
        // The two models run side by side: the serial stretches of one (norms, attention, copies) overlap the
        // other's matrix products.
        let (policy, reference) = if Arc::ptr_eq(&self.policy, &self.reference) {
            (scored_hidden(&self.policy, seqs)?, None)
        } else {
            let (p, r) = rayon::join(
                || scored_hidden(&self.policy, seqs),
                || scored_hidden(&self.reference, seqs),
            );
            (p?, Some(r?))
        };
        // Every scored position of every sequence, in order: (sequence, target token).
        let targets: Vec<(usize, u32)> = seqs
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.ids[s.scored_start..].iter().map(move |&t| (i, t)))
            .collect();
        let k = self.options.top_k;
        let mut out: Vec<SequenceMetrics> = seqs
            .iter()
            .map(|s| Vec::with_capacity(s.ids.len() - s.scored_start))
            .collect();
        // The vocabulary-wide work runs over chunks of positions, so its memory does not grow with the length of
        // the text: the logits of at most LOGIT_ROWS positions per model exist at a time.
        let mut at = 0;
        while at < targets.len() {
            let n = self.logit_rows.min(targets.len() - at);
            let (p, r) = match &reference {
                None => (chunk_logits(&self.policy, &policy, at, n)?, None),
                Some(reference) => {
                    let (p, r) = rayon::join(
                        || chunk_logits(&self.policy, &policy, at, n),
                        || chunk_logits(&self.reference, reference, at, n),
                    );
                    (p?, Some(r?))
                }
            };
            let r = r.as_deref().unwrap_or(&p);
            let metrics: Vec<PositionMetrics> = p
                .par_chunks(vocab)
                .zip(r.par_chunks(vocab))
                .zip(targets[at..at + n].par_iter())
                .map(|((pr, rr), &(_, t))| position_metrics(pr, rr, t as usize, k))
                .collect();
            for (m, &(seq, _)) in metrics.into_iter().zip(&targets[at..at + n]) {
                out[seq].push(m);
            }
            at += n;
        }
        check_finite(seqs, &out)?;
        Ok(out)
    }

    /// Refuses sequences longer than the load-time estimate covered when their working memory (both models)
    /// would not fit in `--max-memory` or the memory available now.
    fn check_record_memory(&self, seqs: &[EncodedSequence]) -> Result<()> {
        let tokens: usize = seqs.iter().map(|s| s.ids.len()).sum();
        if tokens <= ESTIMATE_TOKENS && self.options.max_memory.is_none() {
            return Ok(());
        }
        let dtype = crate::model::Dtype::from_candle(self.policy.lm().dtype());
        let mut need = crate::memory::activation_bytes(self.reference.lm().config(), tokens, dtype);
        if !Arc::ptr_eq(&self.policy, &self.reference) {
            need += crate::memory::activation_bytes(self.policy.lm().config(), tokens, dtype);
        }
        // What the loaded weights hold (as stored: bf16, quantised blocks, an unmerged adapter's factors only).
        let held = self.reference.info().memory
            + if Arc::ptr_eq(&self.policy, &self.reference) {
                0
            } else {
                self.policy.info().memory
            };
        let (room, what) = match self.options.max_memory {
            Some(limit) => (
                limit.saturating_sub(held),
                "of --max-memory after the weights",
            ),
            None => match crate::memory::available() {
                Some(a) => (a, "available"),
                None => return Ok(()),
            },
        };
        if need > room {
            return Err(Error::Record(format!(
                "this record's {tokens} tokens need an estimated {} of working memory, more than the {} {what}; score it with --max-length N (TRL's truncation) or on a machine with more memory",
                crate::memory::human(need),
                crate::memory::human(room)
            )));
        }
        Ok(())
    }

    pub(crate) fn response_score(
        &self,
        text: &str,
        seq: &EncodedSequence,
        m: &[PositionMetrics],
    ) -> ResponseScore {
        let beta = self.options.beta;
        let top = |alts: &[metrics::Alternative]| {
            alts.iter()
                .map(|a| TopToken {
                    id: a.id,
                    text: self.tokenizer.token_text(a.id),
                    logp: a.logp,
                })
                .collect()
        };
        let tokens: Vec<TokenScore> = seq
            .tokens
            .iter()
            .zip(m)
            .map(|(t, pm)| TokenScore {
                id: t.id,
                text: t.text.clone(),
                start: t.start,
                end: t.end,
                template: t.template,
                logp_policy: pm.policy.logp,
                logp_reference: pm.reference.logp,
                reward: 0.0,
                cum_reward: 0.0,
                kl: pm.kl,
                entropy_policy: pm.policy.entropy,
                entropy_reference: pm.reference.entropy,
                rank_policy: pm.policy.rank,
                rank_reference: pm.reference.rank,
                top_policy: top(&pm.policy.top),
                top_reference: top(&pm.reference.top),
            })
            .collect();
        let logp_policy = tokens.iter().map(|t| t.logp_policy).sum::<f64>();
        let logp_reference = tokens.iter().map(|t| t.logp_reference).sum::<f64>();
        let mut score = ResponseScore {
            text: text.to_string(),
            num_tokens: tokens.len(),
            reward: 0.0,
            logp_policy,
            logp_reference,
            content_start: None,
            tokens,
        };
        // The rewards, computed where a change of beta recomputes them.
        score.set_beta(beta);
        score
    }
}

/// Refuses metrics that are not all finite (a model whose values overflow, e.g. in f16): a NaN written as `null`
/// beside plausible numbers would be silently wrong. Names the first such token and what to do.
fn check_finite(seqs: &[EncodedSequence], metrics: &[SequenceMetrics]) -> Result<()> {
    for (i, (seq, ms)) in seqs.iter().zip(metrics).enumerate() {
        for (pos, m) in ms.iter().enumerate() {
            let bad = [
                ("log pi", m.policy.logp),
                ("log pi_ref", m.reference.logp),
                ("the policy's entropy", m.policy.entropy),
                ("the reference's entropy", m.reference.entropy),
                ("KL", m.kl),
            ]
            .into_iter()
            .find(|(_, v)| !v.is_finite());
            if let Some((what, value)) = bad {
                let id = seq.tokens.get(pos).map_or(0, |t| t.id);
                return Err(Error::Record(format!(
                    "{what} is {value} at scored token {pos} (id {id}) of response {}: a model computed a non-finite value (its weights or activations overflow the compute dtype); nothing was written for this record (try --dtype f32, or check the checkpoint)",
                    i + 1
                )));
            }
        }
    }
    Ok(())
}

fn missing_response() -> Error {
    Error::Record("internal error: a response was not scored".into())
}

/// Tokens the estimate made when loading is for, unless `--max-length` says: longer records are checked one by one
/// before they are scored.
const ESTIMATE_TOKENS: usize = 2048;

/// The sequence length the load-time memory estimate is for: `--max-length`, else [`ESTIMATE_TOKENS`], within the
/// model's context.
fn load_estimate_tokens(options: &ScoreOptions, cfg: &crate::model::DecoderConfig) -> usize {
    options
        .max_length
        .unwrap_or(ESTIMATE_TOKENS)
        .min(cfg.max_position_embeddings)
        .max(1)
}

/// Positions whose logits (over the whole vocabulary, per model) are held at once: 256 x 49,152 f32 is 50 MB.
const LOGIT_ROWS: usize = 256;

/// The f32 logits `(n, vocab)` of rows `at..at + n` of `hidden` (as a flat vector, row after row).
fn chunk_logits(model: &Model, hidden: &Tensor, at: usize, n: usize) -> Result<Vec<f32>> {
    let logits = model.lm().logits(&hidden.narrow(0, at, n)?)?;
    Ok(logits
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?)
}

/// The final hidden states `(total scored, hidden)` of the positions predicting each sequence's scored tokens,
/// sequence after sequence. The prefix shared by all sequences (up to the position before the first scored
/// token) runs once; the sequences then continue from it together, packed into one forward
/// ([`crate::model::Decoder::forward_segments`]). The last token of a sequence is never fed in: nothing after it
/// is scored.
///
/// With LongRoPE, a sequence's own length picks its factors (as in transformers' forward of it alone), so
/// sequences on both sides of the switch are run apart.
fn scored_hidden(model: &Model, seqs: &[EncodedSequence]) -> Result<Tensor> {
    let decoder = model.lm();
    let long: Vec<bool> = seqs
        .iter()
        .map(|s| decoder.rope_is_long(s.ids.len()))
        .collect();
    if long.iter().any(|&l| l != long[0]) {
        let parts = seqs
            .iter()
            .map(|s| scored_hidden(model, std::slice::from_ref(s)))
            .collect::<Result<Vec<_>>>()?;
        return Ok(Tensor::cat(&parts, 0)?);
    }
    let first = &seqs[0].ids;
    let shared = seqs
        .iter()
        .map(|s| {
            let common = s.ids.iter().zip(first).take_while(|(a, b)| a == b).count();
            common.min(s.scored_start - 1)
        })
        .min()
        .unwrap_or(0);
    let longest = seqs.iter().map(|s| s.ids.len()).max().unwrap_or(0);
    let base = decoder.new_cache_for(longest);
    let segments: Vec<&[u32]> = seqs
        .iter()
        .map(|s| &s.ids[shared..s.ids.len() - 1])
        .collect();
    // The shared prefix and the continuations in one pass: the prefix's rows come first.
    let hidden = decoder.forward_tree(&first[..shared], &segments, &base)?;
    // The rows predicting scored tokens.
    let mut rows = Vec::with_capacity(seqs.len());
    let mut offset = shared;
    for (s, seg) in seqs.iter().zip(&segments) {
        let n = s.ids.len() - s.scored_start;
        rows.push(hidden.narrow(0, offset + s.scored_start - 1 - shared, n)?);
        offset += seg.len();
    }
    Ok(Tensor::cat(&rows, 0)?)
}
