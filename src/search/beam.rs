//! Beam search on the policy's summed log-prob, step for step as transformers' `generate()` runs it with
//! `num_beams=k, do_sample=False, early_stopping=True, length_penalty=alpha` (the rules, with their source lines,
//! are in `fixtures/SEARCH_NOTES.md`). Greedy decoding is the width-1 case. All beams advance in one batched
//! forward pass per step over a cache that follows them (rows selected after each step), so the prompt is
//! computed once.

use super::{Candidate, Progress, SearchSettings};
use crate::error::{Error, Result};
use crate::model::{Decoder, KvCache};
use candle_core::{D, DType, Tensor};

/// A running beam: its generated ids, each one's log-prob, and their f32 sum (as transformers accumulates it).
#[derive(Debug, Clone)]
struct Beam {
    ids: Vec<u32>,
    logps: Vec<f32>,
    sum: f32,
}

/// One candidate continuation of a step: the beam it extends, the token, its log-prob and the new sum.
#[derive(Debug, Clone, Copy)]
struct Step {
    beam: usize,
    token: u32,
    logp: f32,
    sum: f32,
}

/// The log-softmax rows `(rows, vocab)` of the last position of `hidden` `(rows, t, hidden)`, in f32.
fn last_log_probs(lm: &Decoder, hidden: &Tensor) -> Result<Vec<Vec<f32>>> {
    let t = hidden.dim(1)?;
    let last = hidden.narrow(1, t - 1, 1)?.squeeze(1)?;
    let logits = lm.logits(&last)?.to_dtype(DType::F32)?;
    Ok(candle_nn::ops::log_softmax(&logits, D::Minus1)?.to_vec2::<f32>()?)
}

/// The `keep` best continuations over all beams, best first (ties: the lower beam, then the lower token id).
fn best_steps(beams: &[Beam], rows: &[Vec<f32>], keep: usize) -> Vec<Step> {
    let mut all: Vec<Step> = Vec::with_capacity(beams.len() * keep);
    for (b, (beam, row)) in beams.iter().zip(rows).enumerate() {
        // Each beam's own best `keep` suffice: the overall best `keep` are among them.
        let mut idx: Vec<u32> = (0..row.len() as u32).collect();
        let by_value =
            |a: &u32, c: &u32| row[*c as usize].total_cmp(&row[*a as usize]).then(a.cmp(c));
        if idx.len() > keep {
            idx.select_nth_unstable_by(keep - 1, by_value);
            idx.truncate(keep);
        }
        all.extend(idx.into_iter().map(|token| {
            let logp = row[token as usize];
            Step {
                beam: b,
                token,
                logp,
                sum: beam.sum + logp,
            }
        }));
    }
    all.sort_by(|a, c| {
        c.sum
            .total_cmp(&a.sum)
            .then(a.beam.cmp(&c.beam))
            .then(a.token.cmp(&c.token))
    });
    all.truncate(keep);
    all
}

/// The finished hypothesis of `beam` extended by `step`, scored `sum / generated_length ^ alpha`.
fn finish(beam: &Beam, step: &Step, alpha: f32, eos: bool) -> Candidate {
    let mut ids = beam.ids.clone();
    ids.push(step.token);
    let mut logps = beam.logps.clone();
    logps.push(step.logp);
    let len = ids.len() as f64;
    Candidate {
        score: (f64::from(step.sum) / len.powf(f64::from(alpha))) as f32,
        sum_logp: step.sum,
        ids,
        logps,
        finished: eos,
    }
}

/// Beam search of width `settings.beams` from `prompt` (at least one id): the finished hypotheses, best first
/// (up to `beams` of them). `progress` is told each step and may stop the search: the hypotheses found so far
/// and the running beams are then returned (the latter unfinished), best first.
pub fn beam_search(
    lm: &Decoder,
    prompt: &[u32],
    settings: &SearchSettings,
    progress: &mut dyn Progress,
) -> Result<Vec<Candidate>> {
    let k = settings.beams;
    let vocab = lm.config().vocab_size;
    settings.validate(vocab, lm.config().max_position_embeddings, prompt.len())?;
    let keep = settings.candidates_kept();
    let device = lm.device().clone();
    let mut cache: KvCache = lm.new_cache();
    let ids = Tensor::new(prompt, &device)?.unsqueeze(0)?;
    let hidden = lm.forward_hidden(&ids, &mut cache)?;
    let mut rows = last_log_probs(lm, &hidden)?;
    let mut running = vec![Beam {
        ids: Vec::new(),
        logps: Vec::new(),
        sum: 0.0,
    }];
    let mut finished: Vec<Candidate> = Vec::new();
    for step in 0..settings.max_new_tokens {
        let last = step + 1 == settings.max_new_tokens;
        let steps = best_steps(&running, &rows, keep);
        let mut next: Vec<Step> = Vec::with_capacity(k);
        let mut done: Vec<Candidate> = Vec::new();
        for (rank, s) in steps.iter().enumerate() {
            let eos = settings.eos.contains(&s.token);
            if eos || last {
                // Only hits among the first k candidates become hypotheses; a later one is dropped.
                if rank < k {
                    done.push(finish(&running[s.beam], s, settings.length_penalty, eos));
                }
            } else if next.len() < k {
                next.push(*s);
            }
        }
        // Earlier hypotheses first, then this step's; the best k by normalised score stay (stable on ties).
        finished.extend(done);
        finished.sort_by(|a, b| b.score.total_cmp(&a.score));
        finished.truncate(k);
        let stop = finished.len() >= k || last || next.is_empty();
        if !progress.step(step + 1, settings.max_new_tokens) || stop {
            if !stop {
                // Cancelled: what was found, then the running beams as they stand.
                let mut partial = finished;
                partial.extend(running.iter().map(|b| Candidate {
                    score: b.sum,
                    sum_logp: b.sum,
                    ids: b.ids.clone(),
                    logps: b.logps.clone(),
                    finished: false,
                }));
                return Ok(partial);
            }
            break;
        }
        let parents: Vec<u32> = next.iter().map(|s| s.beam as u32).collect();
        running = next
            .iter()
            .map(|s| {
                let parent = &running[s.beam];
                let mut ids = parent.ids.clone();
                ids.push(s.token);
                let mut logps = parent.logps.clone();
                logps.push(s.logp);
                Beam {
                    ids,
                    logps,
                    sum: s.sum,
                }
            })
            .collect();
        cache = cache.select(&parents)?;
        let tokens: Vec<u32> = next.iter().map(|s| s.token).collect();
        let ids = Tensor::new(tokens.as_slice(), &device)?.unsqueeze(1)?;
        let hidden = lm.forward_hidden(&ids, &mut cache)?;
        rows = last_log_probs(lm, &hidden)?;
    }
    if finished.is_empty() {
        return Err(Error::InvalidArgument(
            "the search found no continuation".into(),
        ));
    }
    Ok(finished)
}
