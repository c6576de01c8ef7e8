//! Loading a policy and its reference (once when they are the same; an adapter on its reference's base shares
//! the base's weights), the checks that they belong together, and the memory checks before any work.

use super::forward::LOGIT_ROWS;
use super::{ScoreOptions, Scorer};
use crate::error::{Error, Result};
use crate::model::{Dtype, Model};
use crate::source::ModelSource;
use crate::tokenize::{EncodedSequence, TextTokenizer};
use candle_core::Device;
use std::path::Path;
use std::sync::Arc;

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
        let ps = ModelSource::resolve(policy, Some(reference))?;
        let rs = ModelSource::resolve(reference, None)?;
        let same = rs == ps;
        // The tokenizer(s) load beside the weights (parsing tokenizer.json is one thread's work of a tenth of a
        // second or more); a tokenizer's error still comes first, before any about the weights or memory.
        let (tokenizer, models) = std::thread::scope(|scope| {
            let tokenizer = scope.spawn(|| shared_tokenizer(&ps, &rs, same));
            let models = load_models((&ps, &rs, same), dtype, &options, report);
            (joined(tokenizer.join()), models)
        });
        let tokenizer = Arc::new(tokenizer?);
        let (policy_model, reference_model) = models?;
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

    /// Refuses sequences longer than the load-time estimate covered when their working memory (both models)
    /// would not fit in `--max-memory` or the memory available now.
    pub(super) fn check_record_memory(&self, seqs: &[EncodedSequence]) -> Result<()> {
        let tokens: usize = seqs.iter().map(|s| s.ids.len()).sum();
        if tokens <= ESTIMATE_TOKENS && self.options.max_memory.is_none() {
            return Ok(());
        }
        let dtype = self.policy.lm().compute_dtype();
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
}

/// The tokenizer of a policy and reference: read once when their tokenizer files are the same, else both read at
/// once and checked to agree.
fn shared_tokenizer(ps: &ModelSource, rs: &ModelSource, same: bool) -> Result<TextTokenizer> {
    if same || ps.same_tokenizer_files(rs) {
        return ps.load_tokenizer();
    }
    let (policy, reference) = std::thread::scope(|scope| {
        let reference = scope.spawn(|| rs.load_tokenizer());
        (ps.load_tokenizer(), reference.join())
    });
    let tokenizer = policy?;
    tokenizer.check_compatible(&joined(reference)?)?;
    Ok(tokenizer)
}

/// The policy and reference models (one, shared, when they are the same; an adapter on its reference's base
/// shares the base's weights), after checking that what the run will hold fits in memory.
fn load_models(
    (ps, rs, same): (&ModelSource, &ModelSource, bool),
    dtype: Dtype,
    options: &ScoreOptions,
    report: &dyn Fn(f32),
) -> Result<(Arc<Model>, Arc<Model>)> {
    // Before any weights: what the run will hold, against what there is.
    let reference_cfg = rs.config()?;
    let policy_cfg = if same { None } else { Some(ps.config()?) };
    let tokens = load_estimate_tokens(options, &reference_cfg);
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
    let device = Device::Cpu;
    // A LoRA policy whose reference is its own base: the base is loaded once and the adapter applied
    // unmerged on top of it (PEFT's forward), unless it changes something only a merge applies.
    let mut preloaded = None;
    if shares_base {
        let reference_model = Arc::new(rs.load_model_reporting(dtype, &device, report)?);
        if let Some(policy) = ps.adapter_on(&reference_model)? {
            return Ok((Arc::new(policy), reference_model));
        }
        preloaded = Some(reference_model);
    }
    Ok(match (same, preloaded) {
        (true, _) => {
            let model = Arc::new(ps.load_model_reporting(dtype, &device, report)?);
            (model.clone(), model)
        }
        (false, Some(r)) => (
            Arc::new(ps.load_model_reporting(dtype, &device, report)?),
            r,
        ),
        (false, None) => {
            // Both models load at once (mapping them, checking every weight, building the decoders: each
            // mostly one thread's work); the progress follows the policy's.
            let (policy, reference) = std::thread::scope(|scope| {
                let reference = scope.spawn(|| rs.load_model(dtype, &device));
                (
                    ps.load_model_reporting(dtype, &device, report),
                    reference.join(),
                )
            });
            (Arc::new(policy?), Arc::new(joined(reference)?))
        }
    })
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

/// The result of a loading thread, or its panic passed on (loading returns errors; it does not panic).
fn joined<T>(result: std::thread::Result<Result<T>>) -> Result<T> {
    match result {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
