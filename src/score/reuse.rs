//! Rescoring an edit without recomputing what it left unchanged. Scoring with a [`ScoreMemo`] keeps, per model,
//! the KV cache of each sequence scored (every position but the last) and its metrics; the next call finds, for
//! each sequence, the kept one sharing the longest start with it, keeps the metrics of the targets before the
//! first changed token, and runs the models only from there, on the kept cache cut to that length. A one-word edit
//! at the end of a response after a long prompt then costs a few positions instead of the whole pair. The
//! numbers are those of scoring from scratch (up to the rounding of a differently packed forward; tested).

use super::forward::{check_finite, scored_hidden, scored_targets};
use super::{Scorer, SequenceMetrics};
use crate::error::Result;
use crate::model::{KvCache, Model};
use crate::tokenize::EncodedSequence;
use candle_core::Tensor;
use std::sync::{Arc, Weak};

/// What the last scoring with this memo left for the next: each sequence's ids, caches and metrics, and which
/// models and settings they are for (another scorer's are dropped, never reused).
#[derive(Debug, Default)]
pub struct ScoreMemo {
    owner: Option<Owner>,
    kept: Vec<Kept>,
    last: Option<Reuse>,
}

/// How much of the last call was reused: what the app shows next to the time of the rescoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reuse {
    /// Positions the models ran over, summed over the sequences.
    pub computed: usize,
    /// Positions whose keys and values came from the memo.
    pub reused: usize,
}

/// The models and the setting that change the metrics (top-k); the tokenisation shows in the ids. The models are
/// held weakly: a model dropped and another loaded at the same address is never taken for it.
#[derive(Debug, Clone)]
struct Owner {
    policy: Weak<Model>,
    reference: Weak<Model>,
    top_k: usize,
}

impl Owner {
    fn of(scorer: &Scorer) -> Self {
        Self {
            policy: Arc::downgrade(&scorer.policy),
            reference: Arc::downgrade(&scorer.reference),
            top_k: scorer.options.top_k,
        }
    }

    /// Whether `scorer` scores with these models and settings.
    fn owns(&self, scorer: &Scorer) -> bool {
        self.policy.as_ptr() == Arc::as_ptr(&scorer.policy)
            && self.reference.as_ptr() == Arc::as_ptr(&scorer.reference)
            && self.top_k == scorer.options.top_k
    }
}

#[derive(Debug)]
struct Kept {
    ids: Vec<u32>,
    scored_start: usize,
    policy: KvCache,
    reference: Option<KvCache>,
    metrics: SequenceMetrics,
}

/// How one sequence continues a kept one: from kept sequence `kept`, the models run over positions `feed..len-1`
/// on its cache cut to `feed`, and the targets from `first` on are scored anew (those before keep their metrics).
#[derive(Debug, Clone, Copy)]
struct Plan {
    kept: usize,
    feed: usize,
    first: usize,
}

impl ScoreMemo {
    /// An empty memo.
    pub fn new() -> Self {
        Self::default()
    }

    /// How much the last call reused (`None` before any).
    pub fn last(&self) -> Option<Reuse> {
        self.last
    }

    /// Forgets everything kept (the memory it holds is freed).
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// The best continuation of a kept sequence for `seq` (of length-`len` kinds: see [`Plan`]), if any position
    /// can be reused.
    fn plan(&self, seq: &EncodedSequence, long: impl Fn(usize) -> bool) -> Option<Plan> {
        let (len, ss) = (seq.ids.len(), seq.scored_start);
        self.kept
            .iter()
            .enumerate()
            // LongRoPE's factors follow the sequence's length: reuse only on the same side of the switch.
            .filter(|(_, k)| long(k.ids.len()) == long(len))
            .map(|(i, k)| {
                let common = seq
                    .ids
                    .iter()
                    .zip(&k.ids)
                    .take_while(|(a, b)| a == b)
                    .count();
                // Metrics are kept for the kept sequence's targets only; those before the first change (and
                // before the end) are the same.
                let first = if k.scored_start <= ss {
                    common.min(len).max(ss)
                } else {
                    ss
                };
                // The cache holds every kept position but its last token; the rows predicting targets from
                // `first` on start at `first - 1`.
                let feed = (first - 1).min(common).min(k.ids.len() - 1);
                Plan {
                    kept: i,
                    feed,
                    first,
                }
            })
            .filter(|p| p.feed > 0)
            .max_by_key(|p| (p.feed, p.first))
    }
}

impl Scorer {
    /// [`Self::score_sequences`], reusing what `memo` kept from the last call with this scorer and leaving in it
    /// what the next needs. The metrics equal those of [`Self::score_sequences`] (to rounding).
    pub fn score_sequences_reusing(
        &self,
        seqs: &[EncodedSequence],
        memo: &mut ScoreMemo,
    ) -> Result<Vec<SequenceMetrics>> {
        self.check_sequences(seqs)?;
        if !memo.owner.as_ref().is_some_and(|o| o.owns(self)) {
            memo.clear();
            memo.owner = Some(Owner::of(self));
        }
        let decoder = self.policy.lm();
        let plans: Vec<Option<Plan>> = seqs
            .iter()
            .map(|s| memo.plan(s, |len| decoder.rope_is_long(len)))
            .collect();
        let fresh: Vec<EncodedSequence> = seqs
            .iter()
            .zip(&plans)
            .filter(|(_, p)| p.is_none())
            .map(|(s, _)| s.clone())
            .collect();
        let continued: Vec<(&EncodedSequence, Plan)> = seqs
            .iter()
            .zip(&plans)
            .filter_map(|(s, p)| p.map(|p| (s, p)))
            .collect();
        let kept = &memo.kept;
        // Per model: the hidden rows of the fresh sequences' targets, then of each continued one's new targets;
        // and every sequence's cache, fresh ones first.
        let run = |model: &Model, reference: bool| -> Result<(Option<Tensor>, Vec<KvCache>)> {
            let mut rows = Vec::new();
            let mut caches = Vec::new();
            if !fresh.is_empty() {
                let (h, c) = scored_hidden(model, &fresh, true)?;
                rows.push(h);
                caches.extend(c);
            }
            for (s, plan) in &continued {
                let k = &kept[plan.kept];
                let from = match (reference, &k.reference) {
                    (true, Some(c)) => c,
                    _ => &k.policy,
                };
                let mut cache = from.truncate(plan.feed)?;
                let end = s.ids.len() - 1;
                if plan.first < s.ids.len() {
                    let ids = Tensor::from_slice(
                        &s.ids[plan.feed..end],
                        (1, end - plan.feed),
                        model.lm().device(),
                    )?;
                    let h = model.lm().forward_hidden(&ids, &mut cache)?.squeeze(0)?;
                    let skip = plan.first - 1 - plan.feed;
                    rows.push(h.narrow(0, skip, s.ids.len() - plan.first)?);
                } else if plan.feed < end {
                    // Nothing new to score, but the cache must hold the whole sequence for the next edit.
                    let ids = Tensor::from_slice(
                        &s.ids[plan.feed..end],
                        (1, end - plan.feed),
                        model.lm().device(),
                    )?;
                    model.lm().forward_hidden(&ids, &mut cache)?;
                }
                caches.push(cache);
            }
            let rows = match rows.len() {
                0 => None,
                _ => Some(Tensor::cat(&rows, 0)?),
            };
            Ok((rows, caches))
        };
        let same = Arc::ptr_eq(&self.policy, &self.reference);
        let (policy, reference) = if same {
            (run(&self.policy, false)?, None)
        } else {
            let (p, r) = rayon::join(|| run(&self.policy, false), || run(&self.reference, true));
            (p?, Some(r?))
        };
        // The order the rows were computed in: fresh sequences, then continued ones.
        let order: Vec<(usize, usize)> = seqs
            .iter()
            .zip(&plans)
            .enumerate()
            .filter(|(_, (_, p))| p.is_none())
            .map(|(i, (s, _))| (i, s.scored_start))
            .chain(
                seqs.iter()
                    .zip(&plans)
                    .enumerate()
                    .filter_map(|(i, (_, p))| p.map(|p| (i, p.first))),
            )
            .collect();
        let targets = scored_targets(order.iter().map(|&(i, from)| (&seqs[i], from)));
        let computed = match &policy.0 {
            Some(p) => self.metrics_of(
                (p, reference.as_ref().and_then(|r| r.0.as_ref())),
                &targets,
                order
                    .iter()
                    .map(|&(i, from)| seqs[i].ids.len() - from)
                    .collect(),
            )?,
            None => vec![Vec::new(); order.len()],
        };
        // Each sequence's metrics: the kept ones before its first new target, then the new ones.
        let mut out: Vec<SequenceMetrics> = vec![Vec::new(); seqs.len()];
        for (&(i, from), new) in order.iter().zip(computed) {
            let s = &seqs[i];
            let mut m = Vec::with_capacity(s.ids.len() - s.scored_start);
            if let Some(plan) = plans[i].filter(|_| from > s.scored_start) {
                let k = &kept[plan.kept];
                m.extend_from_slice(
                    &k.metrics[s.scored_start - k.scored_start..from - k.scored_start],
                );
            }
            m.extend(new);
            out[i] = m;
        }
        check_finite(seqs, &out)?;
        let reused: usize = continued.iter().map(|(_, p)| p.feed).sum();
        let total: usize = seqs.iter().map(|s| s.ids.len() - 1).sum();
        memo.last = Some(Reuse {
            computed: total - reused,
            reused,
        });
        let (policy_caches, reference_caches) = (policy.1, reference.map(|r| r.1));
        memo.kept = order
            .iter()
            .enumerate()
            .map(|(j, &(i, _))| Kept {
                ids: seqs[i].ids.clone(),
                scored_start: seqs[i].scored_start,
                policy: policy_caches[j].clone(),
                reference: reference_caches.as_ref().map(|c| c[j].clone()),
                metrics: out[i].clone(),
            })
            .collect();
        Ok(out)
    }
}
