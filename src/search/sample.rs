//! Sampling from the policy (the control of the beam experiment): `n` continuations drawn with temperature,
//! top-k and top-p by candle-transformers' `LogitsProcessor`, all advancing in one batched forward pass per step;
//! a continuation that draws an EOS stops and leaves the batch.

use super::{Candidate, Progress, SearchSettings};
use crate::error::Result;
use crate::model::Decoder;
use candle_core::{D, DType, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};

/// How to draw each token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleSettings {
    /// Continuations to draw.
    pub n: usize,
    /// Softmax temperature (0: greedy).
    pub temperature: f64,
    /// Keep only the `top_k` most likely tokens (0: all).
    pub top_k: usize,
    /// Keep the most likely tokens whose probabilities sum to `top_p` (1: all).
    pub top_p: f64,
    /// Seed of the random draws.
    pub seed: u64,
}

impl SampleSettings {
    fn sampling(&self) -> Sampling {
        let temperature = self.temperature;
        let top_k = self.top_k > 0;
        let top_p = self.top_p < 1.0;
        if temperature <= 0.0 {
            Sampling::ArgMax
        } else if top_k && top_p {
            Sampling::TopKThenTopP {
                k: self.top_k,
                p: self.top_p,
                temperature,
            }
        } else if top_k {
            Sampling::TopK {
                k: self.top_k,
                temperature,
            }
        } else if top_p {
            Sampling::TopP {
                p: self.top_p,
                temperature,
            }
        } else {
            Sampling::All { temperature }
        }
    }
}

/// Draws `sampling.n` continuations of `prompt`, each up to `settings.max_new_tokens` tokens or its first EOS
/// (`settings.beams` is not used). Candidates come in the order drawn, scored like beam hypotheses
/// (`sum / length^alpha`). `progress` may stop the draw: the continuations so far are returned.
pub fn sample(
    lm: &Decoder,
    prompt: &[u32],
    settings: &SearchSettings,
    sampling: &SampleSettings,
    progress: &mut dyn Progress,
) -> Result<Vec<Candidate>> {
    let check = SearchSettings {
        beams: 1,
        ..settings.clone()
    };
    check.validate(
        lm.config().vocab_size,
        lm.config().max_position_embeddings,
        prompt.len(),
    )?;
    let n = sampling.n.max(1);
    let device = lm.device().clone();
    let mut processor = LogitsProcessor::from_sampling(sampling.seed, sampling.sampling());
    let mut cache = lm.new_cache();
    let ids = Tensor::new(prompt, &device)?.unsqueeze(0)?;
    let hidden = lm.forward_hidden(&ids, &mut cache)?;
    let mut logits = last_logits(lm, &hidden)?;
    // Every continuation starts from the one prompt row.
    let mut rows: Vec<usize> = vec![0; n];
    let mut active: Vec<usize> = (0..n).collect();
    let mut out: Vec<Candidate> = (0..n)
        .map(|_| Candidate {
            ids: Vec::new(),
            logps: Vec::new(),
            sum_logp: 0.0,
            score: 0.0,
            finished: false,
        })
        .collect();
    for step in 0..settings.max_new_tokens {
        let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let mut next = Vec::with_capacity(active.len());
        for (&c, &row) in active.iter().zip(&rows) {
            let token = processor.sample(&logits.get(row)?)?;
            let lp = logp.get(row)?.get(token as usize)?.to_scalar::<f32>()?;
            let cand = &mut out[c];
            cand.ids.push(token);
            cand.logps.push(lp);
            cand.sum_logp += lp;
            if settings.eos.contains(&token) {
                cand.finished = true;
            } else {
                next.push((c, row, token));
            }
        }
        if next.is_empty() || !progress.step(step + 1, settings.max_new_tokens) {
            break;
        }
        if step + 1 == settings.max_new_tokens {
            break;
        }
        let parents: Vec<u32> = next.iter().map(|&(_, row, _)| row as u32).collect();
        cache = cache.select(&parents)?;
        active = next.iter().map(|&(c, _, _)| c).collect();
        rows = (0..active.len()).collect();
        let tokens: Vec<u32> = next.iter().map(|&(_, _, t)| t).collect();
        let ids = Tensor::new(tokens.as_slice(), &device)?.unsqueeze(1)?;
        let hidden = lm.forward_hidden(&ids, &mut cache)?;
        logits = last_logits(lm, &hidden)?;
    }
    for c in &mut out {
        let len = c.ids.len().max(1) as f64;
        c.score = (f64::from(c.sum_logp) / len.powf(f64::from(settings.length_penalty))) as f32;
    }
    out.retain(|c| !c.ids.is_empty());
    Ok(out)
}

/// The f32 logits `(rows, vocab)` of the last position of `hidden` `(rows, t, hidden)`.
fn last_logits(lm: &Decoder, hidden: &Tensor) -> Result<Tensor> {
    let t = hidden.dim(1)?;
    let last = hidden.narrow(1, t - 1, 1)?.squeeze(1)?;
    Ok(lm.logits(&last)?.to_dtype(DType::F32)?)
}
