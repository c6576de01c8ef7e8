//! Both models over encoded sequences: the prefix they share once, the continuations packed into one forward,
//! the vocabulary-wide logits in chunks of positions, and the per-position metrics.

use super::metrics::{PositionMetrics, position_metrics};
use super::{Scorer, SequenceMetrics};
use crate::error::{Error, Result};
use crate::model::{KvCache, Model};
use crate::tensor_values::with_values;
use crate::tokenize::EncodedSequence;
use candle_core::Tensor;
use rayon::prelude::*;
use std::sync::Arc;

impl Scorer {
    /// Runs both models over `seqs` and returns the metrics of each sequence's scored tokens. The longest prefix
    /// the sequences share is computed once per model.
    pub fn score_sequences(&self, seqs: &[EncodedSequence]) -> Result<Vec<SequenceMetrics>> {
        self.check_sequences(seqs)?;
        let (policy, reference) = self.both(|model| scored_hidden(model, seqs, false))?;
        let targets = scored_targets(seqs.iter().map(|s| (s, s.scored_start)));
        let out = self.metrics_of(
            (&policy.0, reference.as_ref().map(|r| &r.0)),
            &targets,
            seqs.iter().map(|s| s.ids.len() - s.scored_start).collect(),
        )?;
        check_finite(seqs, &out)?;
        Ok(out)
    }

    /// Refuses sequences with nothing to score or with ids outside the vocabulary, and records that would not
    /// fit in memory.
    pub(super) fn check_sequences(&self, seqs: &[EncodedSequence]) -> Result<()> {
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
        self.check_record_memory(seqs)
    }

    /// `run` for the policy and for the reference, side by side (the serial stretches of one, norms, attention
    /// and copies, overlap the other's matrix products); the reference's is `None` when it is the policy.
    pub(super) fn both<T: Send>(
        &self,
        run: impl Fn(&Model) -> Result<T> + Sync,
    ) -> Result<(T, Option<T>)> {
        if Arc::ptr_eq(&self.policy, &self.reference) {
            return Ok((run(&self.policy)?, None));
        }
        let (p, r) = rayon::join(|| run(&self.policy), || run(&self.reference));
        Ok((p?, Some(r?)))
    }

    /// The metrics of `targets` (sequence, target token), whose predicting hidden states are the rows of
    /// `hidden` (the policy's and, unless it is the policy, the reference's) in the same order, appended to
    /// `out[sequence]` (created with the given capacities).
    pub(super) fn metrics_of(
        &self,
        (policy, reference): (&Tensor, Option<&Tensor>),
        targets: &[(usize, u32)],
        capacities: Vec<usize>,
    ) -> Result<Vec<SequenceMetrics>> {
        let vocab = self.policy.info().vocab_size;
        let k = self.options.top_k;
        let mut out: Vec<SequenceMetrics> =
            capacities.into_iter().map(Vec::with_capacity).collect();
        // The vocabulary-wide work runs over chunks of positions, so its memory does not grow with the length of
        // the text: the logits of at most LOGIT_ROWS positions per model exist at a time.
        let mut at = 0;
        while at < targets.len() {
            let n = self.logit_rows.min(targets.len() - at);
            let (p, r) = match reference {
                None => (chunk_logits(&self.policy, policy, at, n)?, None),
                Some(reference) => {
                    let (p, r) = rayon::join(
                        || chunk_logits(&self.policy, policy, at, n),
                        || chunk_logits(&self.reference, reference, at, n),
                    );
                    (p?, Some(r?))
                }
            };
            let r = r.as_ref().unwrap_or(&p);
            // The logits are read where the products wrote them (no copy of 50 MB per chunk and model).
            let metrics: Vec<PositionMetrics> = with_values(&[&p, r], |v: &[&[f32]]| {
                v[0].par_chunks(vocab)
                    .zip(v[1].par_chunks(vocab))
                    .zip(targets[at..at + n].par_iter())
                    .map(|((pr, rr), &(_, t))| position_metrics(pr, rr, t as usize, k))
                    .collect()
            })?;
            for (m, &(seq, _)) in metrics.into_iter().zip(&targets[at..at + n]) {
                out[seq].push(m);
            }
            at += n;
        }
        Ok(out)
    }
}

/// Every target of each (sequence, first target) in order: (index of the sequence, target token id).
pub(super) fn scored_targets<'a>(
    seqs: impl Iterator<Item = (&'a EncodedSequence, usize)>,
) -> Vec<(usize, u32)> {
    seqs.enumerate()
        .flat_map(|(i, (s, from))| s.ids[from..].iter().map(move |&t| (i, t)))
        .collect()
}

/// Refuses metrics that are not all finite (a model whose values overflow, e.g. in f16): a NaN written as `null`
/// beside plausible numbers would be silently wrong. Names the first such token and what to do.
pub(super) fn check_finite(seqs: &[EncodedSequence], metrics: &[SequenceMetrics]) -> Result<()> {
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

/// Positions whose logits (over the whole vocabulary, per model) are held at once: 256 x 49,152 f32 is 50 MB.
pub(super) const LOGIT_ROWS: usize = 256;

/// The logits `(n, vocab)` of rows `at..at + n` of `hidden`.
fn chunk_logits(model: &Model, hidden: &Tensor, at: usize, n: usize) -> Result<Tensor> {
    model.lm().logits(&hidden.narrow(0, at, n)?)
}

/// The final hidden states `(total scored, hidden)` of the positions predicting each sequence's scored tokens,
/// sequence after sequence, and with `keep` each sequence's KV cache (every position but the last). The prefix
/// shared by all sequences (up to the position before the first scored token) runs once; the sequences then
/// continue from it together, packed into one forward ([`crate::model::Decoder::forward_tree`]). The last token of
/// a sequence is never fed in: nothing after it is scored.
///
/// With LongRoPE, a sequence's own length picks its factors (as in transformers' forward of it alone), so
/// sequences on both sides of the switch are run apart.
pub(super) fn scored_hidden(
    model: &Model,
    seqs: &[EncodedSequence],
    keep: bool,
) -> Result<(Tensor, Vec<KvCache>)> {
    let decoder = model.lm();
    let long: Vec<bool> = seqs
        .iter()
        .map(|s| decoder.rope_is_long(s.ids.len()))
        .collect();
    if long.iter().any(|&l| l != long[0]) {
        let mut parts = Vec::with_capacity(seqs.len());
        let mut caches = Vec::new();
        for s in seqs {
            let (h, c) = scored_hidden(model, std::slice::from_ref(s), keep)?;
            parts.push(h);
            caches.extend(c);
        }
        return Ok((Tensor::cat(&parts, 0)?, caches));
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
    let (hidden, caches) = if keep {
        decoder.forward_tree_keeping(&first[..shared], &segments, &base)?
    } else {
        (
            decoder.forward_tree(&first[..shared], &segments, &base)?,
            Vec::new(),
        )
    };
    // The rows predicting scored tokens.
    let mut rows = Vec::with_capacity(seqs.len());
    let mut offset = shared;
    for (s, seg) in seqs.iter().zip(&segments) {
        let n = s.ids.len() - s.scored_start;
        rows.push(hidden.narrow(0, offset + s.scored_start - 1 - shared, n)?);
        offset += seg.len();
    }
    Ok((Tensor::cat(&rows, 0)?, caches))
}
