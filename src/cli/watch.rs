//! `creditlens watch`: follows a training run while it trains, scoring each new complete `checkpoint-N/` on probe
//! pairs and appending its drift row, as `creditlens drift` writes them.

use super::drift::{ProbeArgs, json_row, logged_at};
use anyhow::{Context, bail};
use clap::Args;
use creditlens::drift::{DriftRun, drift, trainer_curves};
use creditlens::score::Scorer;
use creditlens::watch::{Follow, scored_steps};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// Arguments of `creditlens watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The training run's output_dir, where the trainer saves `checkpoint-N/` folders (it may hold none yet).
    #[arg(value_name = "RUN_DIR")]
    run: PathBuf,
    /// The reference (usually the SFT model): a checkpoint folder or a GGUF file.
    #[arg(long, value_name = "MODEL")]
    reference: PathBuf,
    /// Probe preference pairs (JSONL or JSON array) to score at every checkpoint.
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// Append each checkpoint's row here (.jsonl; created if missing). Steps already in it are not scored again,
    /// so a restarted watcher continues where it stopped.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    probe: ProbeArgs,
    /// Seconds between looks at the run folder.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    interval: f64,
    /// Stop once no new checkpoint has appeared for this many seconds after the last was scored [default: follow
    /// until interrupted].
    #[arg(long, value_name = "SECS")]
    idle_exit: Option<f64>,
    /// Score the complete checkpoints not yet in --out, then stop.
    #[arg(long, conflicts_with = "idle_exit")]
    once: bool,
}

pub fn run(args: WatchArgs) -> anyhow::Result<()> {
    if !args.run.is_dir() {
        bail!(
            "{}: no such folder; give the training run's output_dir (it may hold no checkpoint yet)",
            args.run.display()
        );
    }
    if !(args.interval > 0.0 && args.interval.is_finite()) {
        bail!(
            "--interval {}: give a positive number of seconds",
            args.interval
        );
    }
    let reference = super::locate(&args.reference, None, None, "").context("--reference")?;
    let pairs = args.probe.pairs(&args.data)?;
    let done = match &args.out {
        Some(out) => scored_steps(out)?,
        None => Default::default(),
    };
    if !done.is_empty() {
        eprintln!(
            "following {}: {} checkpoint(s) already in the output",
            args.run.display(),
            done.len()
        );
    } else {
        eprintln!("following {} (Ctrl-C to stop)", args.run.display());
    }
    let mut out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("{}: cannot open for appending", path.display()))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let mut follow = Follow::new(&args.run, done);
    let mut scorer: Option<Scorer> = None;
    let mut last_new = Instant::now();
    let cancel = AtomicBool::new(false);
    loop {
        let new = follow.poll();
        let any = !new.is_empty();
        for ck in new {
            if !ck.dir.is_dir() {
                eprintln!(
                    "checkpoint-{} was deleted before it was scored; skipped",
                    ck.step
                );
                continue;
            }
            if scorer.is_none() {
                scorer = Some(args.probe.scorer(&ck.dir, &reference)?);
            }
            let Some(scorer) = &scorer else { continue };
            let checkpoints = [ck.clone()];
            let run = DriftRun {
                scorer,
                checkpoints: &checkpoints,
                pairs: &pairs,
                selected: None,
                dtype: args.probe.dtype(),
                cancel: &cancel,
            };
            let mut point = None;
            match drift(&run, |p| {
                point = Some(p);
                true
            }) {
                Ok(()) => {}
                // save_total_limit removed it while it was being read.
                Err(_) if !ck.dir.is_dir() => {
                    eprintln!(
                        "checkpoint-{} was deleted while it was scored; skipped",
                        ck.step
                    );
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            let Some(p) = point else { continue };
            let curves = trainer_curves(&ck.dir.join("trainer_state.json"));
            eprintln!(
                "step {}: margin {:+.4}, accuracy {:.3} over {} pairs",
                p.step, p.margin, p.accuracy, p.pairs
            );
            serde_json::to_writer(&mut out, &json_row(&p, &logged_at(&curves, p.step)))?;
            out.write_all(b"\n")?;
            out.flush()?;
        }
        if any {
            // Idle time counts from the end of the last scoring.
            last_new = Instant::now();
        }
        if args.once {
            return Ok(());
        }
        if let Some(idle) = args.idle_exit
            && last_new.elapsed().as_secs_f64() >= idle
        {
            eprintln!("no new checkpoint for {idle} s; stopped");
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs_f64(args.interval));
    }
}
