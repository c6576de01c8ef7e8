//! Drift across training checkpoints: each `checkpoint-N/` of a run scored as the policy against one reference on
//! the same preference pairs, giving the mean implicit rewards per step, which sit next to the curves TRL logged
//! in `trainer_state.json`. The desktop app's drift plot and `creditlens drift` both call [`drift`].

use crate::checkpoint::TrainingCheckpoint;
use crate::data::Record;
use crate::error::{Error, Result};
use crate::model::Dtype;
use crate::score::{RecordScore, Scorer, rescale_rewards};
use crate::source::ModelSource;
use candle_core::Device;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// One checkpoint's means over the pairs.
#[derive(Debug, Clone, Serialize)]
pub struct DriftPoint {
    /// Training step (N of `checkpoint-N`).
    pub step: usize,
    /// The checkpoint folder.
    pub checkpoint: PathBuf,
    /// Pairs averaged (those that scored).
    pub pairs: usize,
    /// Mean R_chosen (TRL's `rewards/chosen`).
    pub chosen: f64,
    /// Mean R_rejected (`rewards/rejected`).
    pub rejected: f64,
    /// Mean margin (`rewards/margins`).
    pub margin: f64,
    /// Share of pairs whose margin is positive (`rewards/accuracies`).
    pub accuracy: f64,
    /// The beta the rewards are for.
    pub beta: f64,
    /// The selected record scored with this checkpoint (for the app's token x checkpoint heatmap).
    #[serde(skip)]
    pub selected: Option<RecordScore>,
}

impl DriftPoint {
    /// The rewards for another beta ([`rescale_rewards`]): no checkpoint is scored again.
    pub fn set_beta(&mut self, beta: f64) {
        rescale_rewards(
            self.beta,
            beta,
            [&mut self.chosen, &mut self.rejected, &mut self.margin],
        );
        if let Some(s) = &mut self.selected {
            s.set_beta(beta);
        }
        self.beta = beta;
    }
}

/// What to score: the reference and settings of `scorer`, each checkpoint as the policy, on `pairs` (unpaired
/// records are skipped), and `selected` in full for each checkpoint.
pub struct DriftRun<'a> {
    /// Reference, tokenizer and options (its policy is replaced by each checkpoint).
    pub scorer: &'a Scorer,
    /// The checkpoints, in order.
    pub checkpoints: &'a [TrainingCheckpoint],
    /// The pairs to average over.
    pub pairs: &'a [Record],
    /// A record to score in full at every checkpoint.
    pub selected: Option<&'a Record>,
    /// Compute dtype of the checkpoints.
    pub dtype: Dtype,
    /// Set to stop between records.
    pub cancel: &'a AtomicBool,
}

/// Scores every checkpoint of `run` and hands each point to `on_point` as it is done (return false to stop).
/// A checkpoint that does not load, or whose vocabulary differs from the reference's, is an error naming it.
pub fn drift(run: &DriftRun<'_>, mut on_point: impl FnMut(DriftPoint) -> bool) -> Result<()> {
    let base = run.scorer.reference().info().path.clone();
    let beta = run.scorer.options().beta;
    for ck in run.checkpoints {
        if run.cancel.load(Ordering::Relaxed) {
            return Ok(());
        }
        // Adapter checkpoints (TRL + PEFT) apply to the reference when their base is not local; one whose base is
        // the reference loads only the adapter, applied unmerged on the reference's weights.
        let model = ModelSource::resolve(&ck.dir, Some(&base)).and_then(|src| {
            let reference = run.scorer.reference();
            if reference.lm().compute_dtype() == run.dtype
                && let Some(m) = src.adapter_on(reference)?
            {
                return Ok(m);
            }
            src.load_model(run.dtype.candle(), &Device::Cpu)
        })?;
        let scorer = run
            .scorer
            .with_policy(Arc::new(model))
            .map_err(|e| Error::InvalidArgument(format!("{}: {e}", ck.dir.display())))?;
        let (mut chosen, mut rejected, mut right, mut n) = (0.0, 0.0, 0usize, 0usize);
        for (i, rec) in run.pairs.iter().enumerate() {
            if run.cancel.load(Ordering::Relaxed) {
                return Ok(());
            }
            if let Ok(RecordScore::Pair(p)) = scorer.score_record(i, rec) {
                chosen += p.chosen.reward;
                rejected += p.rejected.reward;
                right += usize::from(p.margin > 0.0);
                n += 1;
            }
        }
        let selected = run
            .selected
            .and_then(|rec| scorer.score_record(0, rec).ok());
        let k = n.max(1) as f64;
        let point = DriftPoint {
            step: ck.step,
            checkpoint: ck.dir.clone(),
            pairs: n,
            chosen: chosen / k,
            rejected: rejected / k,
            margin: (chosen - rejected) / k,
            accuracy: right as f64 / k,
            beta,
            selected,
        };
        if !on_point(point) {
            return Ok(());
        }
    }
    Ok(())
}

/// One curve of a `trainer_state.json`: (step, value) points of a logged metric.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainerCurve {
    /// The metric, e.g. `rewards/chosen`.
    pub name: String,
    /// (step, value).
    pub points: Vec<[f64; 2]>,
}

impl TrainerCurve {
    /// Whether this curve holds the evaluation points (`eval_rewards/...`, logged at each evaluation on the eval
    /// set) rather than the training batches' (`rewards/...`).
    pub fn is_eval(&self) -> bool {
        self.name.starts_with(EVAL_PREFIX)
    }

    /// The metric without the evaluation prefix: `rewards/margins` for both `rewards/margins` and
    /// `eval_rewards/margins`.
    pub fn metric(&self) -> &str {
        self.name.strip_prefix(EVAL_PREFIX).unwrap_or(&self.name)
    }
}

/// What TRL (through transformers' Trainer) puts before a metric logged on the eval set.
pub const EVAL_PREFIX: &str = "eval_";

/// The metrics of a DPO training log that drift compares with.
pub const TRAINER_METRICS: [&str; 4] = [
    "rewards/chosen",
    "rewards/rejected",
    "rewards/margins",
    "rewards/accuracies",
];

/// The same metrics logged on the eval set at each evaluation (TRL's `eval_` prefix, [`EVAL_PREFIX`]).
pub const TRAINER_EVAL_METRICS: [&str; 4] = [
    "eval_rewards/chosen",
    "eval_rewards/rejected",
    "eval_rewards/margins",
    "eval_rewards/accuracies",
];

/// The reward curves of a `trainer_state.json` (empty if it is missing or has none): those of
/// [`TRAINER_METRICS`], logged on the training batches, then those of [`TRAINER_EVAL_METRICS`], logged at each
/// evaluation ([`TrainerCurve::is_eval`]); only the metrics logged at least once.
pub fn trainer_curves(path: &Path) -> Vec<TrainerCurve> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    trainer_curves_of(&text)
}

/// The reward curves of the `trainer_state.json` text `text` (empty if it is not one or has none), as
/// [`trainer_curves`] orders them.
pub fn trainer_curves_of(text: &str) -> Vec<TrainerCurve> {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    let Some(history) = json.get("log_history").and_then(|h| h.as_array()) else {
        return Vec::new();
    };
    TRAINER_METRICS
        .iter()
        .chain(&TRAINER_EVAL_METRICS)
        .map(|&name| TrainerCurve {
            name: name.to_string(),
            points: history
                .iter()
                .filter_map(|e| Some([e.get("step")?.as_f64()?, e.get(name)?.as_f64()?]))
                .collect(),
        })
        .filter(|c| !c.points.is_empty())
        .collect()
}

/// The value a curve logged last at or before `step`, if any.
pub fn at_step(curve: &TrainerCurve, step: usize) -> Option<f64> {
    curve
        .points
        .iter()
        .filter(|p| p[0] <= step as f64)
        .max_by(|a, b| a[0].total_cmp(&b[0]))
        .map(|p| p[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `trainer_state.json` as TRL 1.x writes it with evaluation every 40 steps: train entries with
    /// `rewards/...` every `logging_steps`, eval entries with `eval_rewards/...`, and the closing entry with only
    /// `train_loss`/`train_runtime`.
    const TRL_STATE: &str = r#"{"global_step": 80, "logging_steps": 20, "eval_steps": 40, "log_history": [
        {"epoch": 0.25, "grad_norm": 1.5, "learning_rate": 5e-07, "logps/chosen": -40.0, "loss": 0.69,
         "rewards/accuracies": 0.5, "rewards/chosen": 0.01, "rewards/margins": 0.1, "rewards/rejected": -0.09,
         "step": 20},
        {"epoch": 0.5, "loss": 0.6, "rewards/accuracies": 0.75, "rewards/chosen": -0.05, "rewards/margins": 0.3,
         "rewards/rejected": -0.35, "step": 40},
        {"epoch": 0.5, "eval_logps/chosen": -41.0, "eval_logps/rejected": -44.0, "eval_loss": 0.62,
         "eval_rewards/accuracies": 0.75, "eval_rewards/chosen": -0.0625, "eval_rewards/margins": 0.25,
         "eval_rewards/rejected": -0.3125, "eval_runtime": 1.5, "step": 40},
        {"epoch": 1.0, "loss": 0.45, "rewards/accuracies": 0.95, "rewards/chosen": -0.15, "rewards/margins": 0.7,
         "rewards/rejected": -0.85, "step": 80},
        {"epoch": 1.0, "eval_loss": 0.55, "eval_rewards/accuracies": 0.875, "eval_rewards/chosen": -0.125,
         "eval_rewards/margins": 0.5, "eval_rewards/rejected": -0.625, "step": 80},
        {"epoch": 1.0, "step": 80, "train_loss": 0.56, "train_runtime": 12.5}
    ]}"#;

    /// Train and eval points are separate curves (issue 28, defect 11): the eval ones are named
    /// `eval_rewards/...` and say so, and entries with neither (the closing `train_runtime` one) add no point.
    #[test]
    fn eval_points_are_curves_of_their_own() {
        let curves = trainer_curves_of(TRL_STATE);
        let names: Vec<&str> = curves.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "rewards/chosen",
                "rewards/rejected",
                "rewards/margins",
                "rewards/accuracies",
                "eval_rewards/chosen",
                "eval_rewards/rejected",
                "eval_rewards/margins",
                "eval_rewards/accuracies",
            ]
        );
        let margins = &curves[2];
        assert_eq!(margins.points, [[20.0, 0.1], [40.0, 0.3], [80.0, 0.7]]);
        let eval = &curves[6];
        assert_eq!(eval.points, [[40.0, 0.25], [80.0, 0.5]]);
        assert!(eval.is_eval() && !margins.is_eval());
        assert_eq!(eval.metric(), "rewards/margins");
        assert_eq!(margins.metric(), "rewards/margins");
        assert_eq!(at_step(eval, 79), Some(0.25));
        assert_eq!(at_step(eval, 39), None);
        // A log with evaluation only.
        let only_eval = r#"{"log_history": [{"eval_rewards/margins": 0.2, "step": 10}]}"#;
        let curves = trainer_curves_of(only_eval);
        assert_eq!(curves.len(), 1);
        assert_eq!(curves[0].name, "eval_rewards/margins");
    }
}
