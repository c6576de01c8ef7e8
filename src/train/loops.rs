//! The training loops: supervised fine-tuning on responses, and DPO against a frozen reference, with AdamW,
//! seeded shuffling, and logs under TRL's field names (`loss`, `rewards/chosen`, `rewards/rejected`,
//! `rewards/margins`, `rewards/accuracies`, `logps/chosen`, `logps/rejected`).

use super::batch::make_batch;
use super::loss::{dpo_loss, sequence_logps, sft_loss};
use super::trainable::TrainableModel;
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::tokenize::EncodedSequence;
use candle_core::{Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

/// Settings of one training run.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Optimiser steps.
    pub steps: usize,
    /// Sequences (SFT) or pairs (DPO) per step.
    pub batch_size: usize,
    /// Peak learning rate (linear warm-up over the first 5% of steps, then constant).
    pub lr: f64,
    /// Seed of the data order.
    pub seed: u64,
    /// DPO's beta (unused by SFT).
    pub beta: f64,
    /// Steps between log entries.
    pub log_every: usize,
}

/// One entry of `trainer_state.json`'s `log_history`: `step`, `epoch`, `loss`, and for DPO the reward fields.
pub type LogEntry = serde_json::Map<String, serde_json::Value>;

fn entry(step: usize, epoch: f64, fields: &[(&str, f64)]) -> LogEntry {
    let mut m = LogEntry::new();
    m.insert("step".into(), step.into());
    m.insert("epoch".into(), epoch.into());
    for (k, v) in fields {
        m.insert((*k).into(), (*v).into());
    }
    m
}

/// Yields batches of indices over `n` items, reshuffled each epoch with `rng`.
struct Order {
    rng: Rng,
    items: Vec<usize>,
    at: usize,
    epochs: usize,
}

impl Order {
    fn new(n: usize, seed: u64) -> Self {
        Self {
            rng: Rng::new(seed),
            items: (0..n).collect(),
            at: n,
            epochs: 0,
        }
    }

    fn next(&mut self, size: usize) -> Vec<usize> {
        let mut out = Vec::with_capacity(size);
        while out.len() < size && !self.items.is_empty() {
            if self.at == self.items.len() {
                self.rng.shuffle(&mut self.items);
                self.at = 0;
                self.epochs += 1;
            }
            out.push(self.items[self.at]);
            self.at += 1;
        }
        out
    }

    fn epoch(&self) -> f64 {
        (self.epochs.saturating_sub(1)) as f64 + self.at as f64 / self.items.len().max(1) as f64
    }
}

fn optimiser(model: &TrainableModel, cfg: &TrainConfig) -> Result<AdamW> {
    if cfg.steps == 0 || cfg.batch_size == 0 {
        return Err(Error::InvalidArgument(
            "training needs at least one step and a batch size of at least 1".into(),
        ));
    }
    Ok(AdamW::new(
        model.vars(),
        ParamsAdamW {
            lr: cfg.lr,
            weight_decay: 0.0,
            ..Default::default()
        },
    )?)
}

fn warmup_lr(cfg: &TrainConfig, step: usize) -> f64 {
    let warm = (cfg.steps / 20).max(1);
    cfg.lr * ((step + 1) as f64 / warm as f64).min(1.0)
}

/// Summed log-probabilities of each sequence's scored tokens under `model`, `(n,)`.
pub fn batch_logps(model: &TrainableModel, seqs: &[&EncodedSequence], pad: u32) -> Result<Tensor> {
    let b = make_batch(seqs, pad, &Device::Cpu)?;
    let d = model.decoder();
    let hidden = d.forward_hidden(&b.ids, &mut d.new_cache())?;
    sequence_logps(&d.logits(&hidden)?, &b.targets, &b.mask)
}

/// Supervised fine-tuning on `seqs` (loss on their scored tokens). `on_log` receives each log entry.
pub fn train_sft(
    model: &TrainableModel,
    seqs: &[EncodedSequence],
    pad: u32,
    cfg: &TrainConfig,
    mut on_log: impl FnMut(&LogEntry),
) -> Result<Vec<LogEntry>> {
    let mut opt = optimiser(model, cfg)?;
    let mut order = Order::new(seqs.len(), cfg.seed);
    let mut history = Vec::new();
    let mut running = 0.0;
    for step in 1..=cfg.steps {
        opt.set_learning_rate(warmup_lr(cfg, step - 1));
        let batch: Vec<&EncodedSequence> = order
            .next(cfg.batch_size)
            .into_iter()
            .map(|i| &seqs[i])
            .collect();
        let b = make_batch(&batch, pad, &Device::Cpu)?;
        let d = model.decoder();
        let hidden = d.forward_hidden(&b.ids, &mut d.new_cache())?;
        let loss = sft_loss(&d.logits(&hidden)?, &b.targets, &b.mask)?;
        running += f64::from(loss.to_scalar::<f32>()?);
        opt.backward_step(&loss)?;
        if step % cfg.log_every == 0 || step == cfg.steps {
            let n = if step % cfg.log_every == 0 {
                cfg.log_every
            } else {
                step % cfg.log_every
            };
            let e = entry(
                step,
                order.epoch(),
                &[
                    ("loss", running / n as f64),
                    ("learning_rate", opt.learning_rate()),
                ],
            );
            running = 0.0;
            on_log(&e);
            history.push(e);
        }
    }
    Ok(history)
}

/// A preference pair ready for DPO: the encoded chosen and rejected sequences and their summed log-probabilities
/// under the frozen reference.
pub struct DpoPair {
    /// prompt + chosen.
    pub chosen: EncodedSequence,
    /// prompt + rejected.
    pub rejected: EncodedSequence,
    /// Reference log-probability of chosen's scored tokens.
    pub reference_chosen: f32,
    /// Reference log-probability of rejected's scored tokens.
    pub reference_rejected: f32,
}

/// DPO (sigmoid loss) of `policy` on `pairs`. After every `save_every` steps (and the last) `on_checkpoint` gets
/// the step, the policy and the log so far, to save `checkpoint-N/`.
pub fn train_dpo(
    policy: &TrainableModel,
    pairs: &[DpoPair],
    pad: u32,
    cfg: &TrainConfig,
    save_every: usize,
    mut on_log: impl FnMut(&LogEntry),
    mut on_checkpoint: impl FnMut(usize, &TrainableModel, &[LogEntry]) -> Result<()>,
) -> Result<Vec<LogEntry>> {
    let mut opt = optimiser(policy, cfg)?;
    let mut order = Order::new(pairs.len(), cfg.seed);
    let mut history = Vec::new();
    let names = [
        "loss",
        "rewards/chosen",
        "rewards/rejected",
        "rewards/margins",
        "rewards/accuracies",
        "logps/chosen",
        "logps/rejected",
    ];
    let mut sums = [0f64; 7];
    let mut count = 0usize;
    for step in 1..=cfg.steps {
        opt.set_learning_rate(warmup_lr(cfg, step - 1));
        let idx = order.next(cfg.batch_size);
        let chosen: Vec<&EncodedSequence> = idx.iter().map(|&i| &pairs[i].chosen).collect();
        let rejected: Vec<&EncodedSequence> = idx.iter().map(|&i| &pairs[i].rejected).collect();
        let rc: Vec<f32> = idx.iter().map(|&i| pairs[i].reference_chosen).collect();
        let rr: Vec<f32> = idx.iter().map(|&i| pairs[i].reference_rejected).collect();
        let pc = batch_logps(policy, &chosen, pad)?;
        let pr = batch_logps(policy, &rejected, pad)?;
        let n = idx.len();
        let rc = Tensor::from_vec(rc, n, &Device::Cpu)?;
        let rr = Tensor::from_vec(rr, n, &Device::Cpu)?;
        let (loss, rew_c, rew_r) = dpo_loss(&pc, &pr, &rc, &rr, cfg.beta)?;
        let rew_c = rew_c.to_vec1::<f32>()?;
        let rew_r = rew_r.to_vec1::<f32>()?;
        let mean = |v: &[f32]| v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len().max(1) as f64;
        let acc = rew_c.iter().zip(&rew_r).filter(|(c, r)| c > r).count() as f64 / n.max(1) as f64;
        let values = [
            f64::from(loss.to_scalar::<f32>()?),
            mean(&rew_c),
            mean(&rew_r),
            mean(&rew_c) - mean(&rew_r),
            acc,
            mean(&pc.detach().to_vec1::<f32>()?),
            mean(&pr.detach().to_vec1::<f32>()?),
        ];
        for (s, v) in sums.iter_mut().zip(values) {
            *s += v;
        }
        count += 1;
        opt.backward_step(&loss)?;
        if step % cfg.log_every == 0 || step == cfg.steps {
            let fields: Vec<(&str, f64)> = names
                .iter()
                .zip(&sums)
                .map(|(k, s)| (*k, s / count as f64))
                .collect();
            let mut e = entry(step, order.epoch(), &fields);
            e.insert("learning_rate".into(), opt.learning_rate().into());
            sums = [0.0; 7];
            count = 0;
            on_log(&e);
            history.push(e);
        }
        if step % save_every.max(1) == 0 || step == cfg.steps {
            on_checkpoint(step, policy, &history)?;
        }
    }
    Ok(history)
}

/// `trainer_state.json` for a checkpoint at `step` of `max_steps`, with the log so far.
pub fn trainer_state(
    step: usize,
    max_steps: usize,
    cfg: &TrainConfig,
    history: &[LogEntry],
) -> String {
    let state = serde_json::json!({
        "global_step": step,
        "max_steps": max_steps,
        "logging_steps": cfg.log_every,
        "train_batch_size": cfg.batch_size,
        "log_history": history,
    });
    serde_json::to_string_pretty(&state).unwrap_or_else(|_| "{}".into())
}
