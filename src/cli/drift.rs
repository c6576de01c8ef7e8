//! `creditlens drift`: the mean implicit rewards of every `checkpoint-N/` of a training run against one reference,
//! next to the curves TRL logged in its `trainer_state.json`, as JSON lines or CSV, headless.

use super::Out;
use anyhow::{Context, bail};
use clap::Args;
use creditlens::checkpoint::training_checkpoints;
use creditlens::data::{Record, read_entries};
use creditlens::defaults;
use creditlens::demo_assets::DemoAssets;
use creditlens::drift::{
    DriftPoint, DriftRun, TRAINER_EVAL_METRICS, TRAINER_METRICS, at_step, drift, trainer_curves,
};
use creditlens::model::Dtype;
use creditlens::score::Scorer;
use creditlens::tokenize::TokenizationMode;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// Arguments of `creditlens drift`.
#[derive(Debug, Args)]
pub struct DriftArgs {
    /// The training run: a folder of `checkpoint-N/` subfolders (full checkpoints or LoRA adapters, as TRL saves
    /// them), or a Hub id (ORG/NAME[@REVISION]) of one in the local Hugging Face cache [default: the embedded
    /// demo's].
    #[arg(long, value_name = "RUN_DIR")]
    policy: Option<PathBuf>,
    /// The reference (usually the SFT model): a checkpoint folder, a GGUF file or a Hub id [default: the embedded
    /// demo's reference].
    #[arg(long, value_name = "MODEL", requires = "policy")]
    reference: Option<PathBuf>,
    /// Use the embedded demo's run and reference. Without --policy, the demo's models are used only on the demo's
    /// own pairs; on your --data they need --demo.
    #[arg(long, conflicts_with_all = ["policy", "reference"])]
    demo: bool,
    /// With a Hub id as --policy: the revision [default: main].
    #[arg(long, value_name = "REV", requires = "policy")]
    revision: Option<String>,
    /// With a Hub id as --reference: the revision [default: main].
    #[arg(long, value_name = "REV", requires = "reference")]
    reference_revision: Option<String>,
    /// Preference pairs (JSONL or JSON array) [default: the embedded demo's pairs].
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
    #[command(flatten)]
    probe: ProbeArgs,
    /// Write here (.jsonl or .csv) instead of JSON lines on stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Overwrite --out if it exists.
    #[arg(long)]
    force: bool,
}

/// The probe pairs and how checkpoints are scored on them (`drift` and `watch`).
#[derive(Debug, Args)]
pub(super) struct ProbeArgs {
    /// Average over the first N pairs of --data.
    #[arg(long, value_name = "N", default_value_t = defaults::DRIFT_PAIRS)]
    max_pairs: usize,
    /// DPO's beta.
    #[arg(long, default_value_t = defaults::BETA, allow_negative_numbers = true)]
    beta: f64,
    /// `trl` or `joint` tokenisation.
    #[arg(long, value_name = "MODE", default_value_t = defaults::TOKENIZATION)]
    tokenization: TokenizationMode,
    /// Compute dtype: f32 (exact, the default), bf16 (bf16 weights and matrix products, f32 sums and activations;
    /// on AMX tiles where the CPU has them) or f16.
    #[arg(long, default_value_t = defaults::DTYPE)]
    dtype: Dtype,
}

impl ProbeArgs {
    /// The first --max-pairs preference pairs of `data` (unpaired and bad records left out).
    pub(super) fn pairs(&self, data: &Path) -> anyhow::Result<Vec<Record>> {
        let pairs: Vec<Record> = read_entries(data)?
            .into_iter()
            .filter_map(|e| e.record.ok())
            .filter(|r| matches!(r, Record::Pair { .. }))
            .take(self.max_pairs)
            .collect();
        if pairs.is_empty() {
            bail!("{}: no preference pairs", data.display());
        }
        Ok(pairs)
    }

    /// A scorer of `policy` against `reference` with these settings.
    pub(super) fn scorer(&self, policy: &Path, reference: &Path) -> anyhow::Result<Scorer> {
        let options = creditlens::score::ScoreOptions {
            beta: self.beta,
            mode: self.tokenization,
            top_k: 0,
            max_length: None,
            max_memory: None,
        };
        Scorer::load(policy, reference, self.dtype, options).context("cannot load the models")
    }

    /// The compute dtype.
    pub(super) fn dtype(&self) -> Dtype {
        self.dtype
    }
}

/// trainer_state.json's metrics written next to ours: the training batches' (`rewards/...`), then the eval set's
/// (`eval_rewards/...`, logged at each evaluation).
fn logged_metrics() -> impl Iterator<Item = &'static str> {
    TRAINER_METRICS.iter().chain(&TRAINER_EVAL_METRICS).copied()
}

/// The columns, one row per checkpoint: ours, then trainer_state.json's value at that step (`trainer/...`,
/// `trainer/eval_...`).
fn header() -> Vec<String> {
    let mut h: Vec<String> = ["step", "checkpoint", "pairs", "beta"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    h.extend(TRAINER_METRICS.iter().map(|m| m.to_string()));
    h.extend(logged_metrics().map(|m| format!("trainer/{m}")));
    h
}

pub fn run(args: DriftArgs) -> anyhow::Result<()> {
    let (run_dir, reference, data) = match (&args.policy, &args.reference) {
        (Some(p), Some(r)) => {
            let data = args
                .data
                .clone()
                .context("--data is required with --policy")?;
            let (run_dir, _) =
                creditlens::source::model_path(p, args.revision.as_deref()).context("--policy")?;
            let reference = super::locate(r, args.reference_revision.as_deref(), None, "")
                .context("--reference")?;
            (run_dir, reference, data)
        }
        (Some(p), None) => bail!(
            "{}: give --reference (the model DPO started from)",
            p.display()
        ),
        _ => {
            if args.data.is_some() && !args.demo {
                super::bail_without_models("--data")?;
            }
            let demo = DemoAssets::locate()?;
            (
                demo.checkpoints(),
                demo.reference(),
                args.data.clone().unwrap_or_else(|| demo.pairs()),
            )
        }
    };
    let checkpoints = training_checkpoints(&run_dir);
    let Some(last) = checkpoints.last() else {
        bail!(
            "{}: no checkpoint-N/ folders with a config.json or adapter_config.json; point --policy at the run's output_dir",
            run_dir.display()
        );
    };
    let pairs = args.probe.pairs(&data)?;
    let mut out = Output::open(args.out.as_deref(), args.force, &data)?;
    let scorer = args.probe.scorer(&last.dir, &reference)?;
    let curves = trainer_curves(&last.dir.join("trainer_state.json"));
    let cancel = AtomicBool::new(false);
    let run = DriftRun {
        scorer: &scorer,
        checkpoints: &checkpoints,
        pairs: &pairs,
        selected: None,
        dtype: args.probe.dtype(),
        cancel: &cancel,
    };
    let mut failed = None;
    drift(&run, |p| {
        eprintln!(
            "step {}: margin {:+.4}, accuracy {:.3} over {} pairs",
            p.step, p.margin, p.accuracy, p.pairs
        );
        let logged = logged_at(&curves, p.step);
        match out.row(&p, &logged) {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        }
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    out.out.finish()?;
    if curves.is_empty() {
        eprintln!(
            "note: {} has no trainer_state.json with reward logs; the trainer/ columns are empty",
            last.dir.display()
        );
    }
    Ok(())
}

/// One checkpoint's JSON line: ours, then trainer_state.json's values at its step.
pub(super) fn json_row(
    p: &DriftPoint,
    logged: &[Option<f64>],
) -> serde_json::Map<String, serde_json::Value> {
    let ours = [p.chosen, p.rejected, p.margin, p.accuracy];
    let mut obj = serde_json::Map::new();
    obj.insert("step".into(), p.step.into());
    obj.insert(
        "checkpoint".into(),
        p.checkpoint.display().to_string().into(),
    );
    obj.insert("pairs".into(), p.pairs.into());
    obj.insert("beta".into(), p.beta.into());
    for (m, v) in TRAINER_METRICS.iter().zip(ours) {
        obj.insert(m.to_string(), v.into());
    }
    for (m, v) in logged_metrics().zip(logged) {
        obj.insert(format!("trainer/{m}"), (*v).into());
    }
    obj
}

/// trainer_state.json's values of the metrics [`json_row`] writes, at `step`.
pub(super) fn logged_at(
    curves: &[creditlens::drift::TrainerCurve],
    step: usize,
) -> Vec<Option<f64>> {
    logged_metrics()
        .map(|m| {
            curves
                .iter()
                .find(|c| c.name == m)
                .and_then(|c| at_step(c, step))
        })
        .collect()
}

/// JSON lines or CSV, to a file (through its `.partial` companion until the run completes) or stdout.
struct Output {
    out: Out,
    csv: bool,
    wrote_header: bool,
}

impl Output {
    fn open(path: Option<&Path>, force: bool, data: &Path) -> anyhow::Result<Self> {
        let csv = match path.map(|p| p.extension().and_then(|e| e.to_str())) {
            None => false,
            Some(Some("csv")) => true,
            Some(Some("jsonl") | Some("json")) => false,
            Some(_) => bail!(
                "{}: the name must end in .jsonl or .csv",
                path.map(|p| p.display().to_string()).unwrap_or_default()
            ),
        };
        Ok(Self {
            out: Out::create(path, force, &[data])?,
            csv,
            wrote_header: false,
        })
    }

    fn row(&mut self, p: &DriftPoint, logged: &[Option<f64>]) -> anyhow::Result<()> {
        let ours = [p.chosen, p.rejected, p.margin, p.accuracy];
        if self.csv {
            let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
            if !self.wrote_header {
                w.write_record(header())?;
                self.wrote_header = true;
            }
            let mut rec = vec![
                p.step.to_string(),
                p.checkpoint.display().to_string(),
                p.pairs.to_string(),
                p.beta.to_string(),
            ];
            rec.extend(ours.iter().map(|v| v.to_string()));
            rec.extend(
                logged
                    .iter()
                    .map(|v| v.map(|x| x.to_string()).unwrap_or_default()),
            );
            w.write_record(rec)?;
            self.out.writer().write_all(&w.into_inner()?)?;
        } else {
            let w = self.out.writer();
            serde_json::to_writer(&mut *w, &json_row(p, logged))?;
            w.write_all(b"\n")?;
        }
        self.out.writer().flush()?;
        Ok(())
    }
}
