//! Command-line definitions and dispatch.

mod demo;
mod eval;
mod score;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use creditlens::data::{Entry, Record};
use creditlens::score::{RecordScore, ScoreOptions, Scorer};
use creditlens::tokenize::TokenizationMode;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};

/// Token-level implicit rewards of DPO-trained language models.
#[derive(Debug, Parser)]
#[command(name = "creditlens", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Score responses token by token with a policy and its reference.
    Score(score::ScoreArgs),
    /// Measure how well per-token rewards localise labelled errors (records with "error_spans").
    Eval(eval::EvalArgs),
    /// The demo: train its checkpoints from scratch.
    #[command(subcommand)]
    Demo(demo::DemoCommand),
}

/// The models and scoring settings every scoring command takes.
#[derive(Debug, Args)]
struct ModelArgs {
    /// The trained policy: a Hugging Face checkpoint directory.
    #[arg(long, value_name = "DIR")]
    policy: PathBuf,
    /// The reference (usually the SFT model DPO started from).
    #[arg(long, value_name = "DIR")]
    reference: PathBuf,
    /// DPO's beta: r_t = beta * (log pi - log pi_ref).
    #[arg(long, default_value_t = 0.1)]
    beta: f64,
    /// `trl`: exactly what TRL's DPOTrainer scores (EOS appended); `joint`: prompt+response as one string.
    #[arg(long, value_name = "MODE", default_value = "trl")]
    tokenization: TokenizationMode,
    /// Longest sequence (prompt included); longer ones lose their end, as with TRL's max_length.
    #[arg(long, value_name = "N")]
    max_length: Option<usize>,
    /// Compute dtype: f32, f16 or bf16.
    #[arg(long, default_value = "f32")]
    dtype: String,
}

impl ModelArgs {
    fn options(&self, top_k: usize) -> ScoreOptions {
        ScoreOptions {
            beta: self.beta,
            mode: self.tokenization,
            top_k,
            max_length: self.max_length,
        }
    }

    fn load(&self, top_k: usize) -> anyhow::Result<Scorer> {
        Scorer::load(
            &self.policy,
            &self.reference,
            &self.dtype,
            self.options(top_k),
        )
        .context("cannot load the models")
    }
}

/// A progress bar on stderr over `len` records (hidden when stderr is not a terminal).
fn progress_bar(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    let template = format!(
        "{{spinner}} {what} [{{bar:30}}] {{pos}}/{{len}} records {{per_sec}} eta {{eta}} {{msg}}"
    );
    bar.set_style(
        ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// Parses the command line and runs the chosen command.
pub fn run() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Score(args) => score::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Demo(cmd) => demo::run(cmd),
    }
}

/// Scores `entries` of the data file `data` with a progress bar, handing each scored record to `sink` (warnings go
/// to stderr with `file:line`). A record that cannot be read or scored stops the run, naming `file:line`, or with
/// `skip_bad` is reported and counted. Returns how many were skipped.
fn score_entries(
    scorer: &Scorer,
    entries: Vec<Entry>,
    data: &Path,
    skip_bad: bool,
    what: &str,
    mut sink: impl FnMut(&Record, RecordScore) -> anyhow::Result<()>,
) -> anyhow::Result<usize> {
    let name = data.display();
    let bar = progress_bar(entries.len(), what);
    let mut skipped = 0;
    for entry in entries {
        let line = entry.line;
        let result = match entry.record {
            Ok(record) => scorer
                .score_record(entry.index, &record)
                .map(|scored| (record, scored))
                .map_err(|e| anyhow::anyhow!("{name}:{line}: {e}")),
            Err(e) => Err(anyhow::Error::new(e)),
        };
        match result {
            Ok((record, scored)) => {
                for w in scored.warnings() {
                    bar.suspend(|| eprintln!("{name}:{line}: warning: {w}"));
                }
                sink(&record, scored)?;
            }
            Err(e) if skip_bad => {
                skipped += 1;
                bar.suspend(|| eprintln!("skipped: {e:#}"));
            }
            Err(e) => {
                bar.abandon();
                return Err(
                    e.context("stopped (pass --skip-bad to skip records that cannot be scored)")
                );
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(skipped)
}
