//! Command-line definitions and dispatch.

mod demo;
mod drift;
mod eval;
mod features;
#[cfg(feature = "gui")]
mod gui;
mod merge;
mod render;
mod score;
mod search;
mod watch;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use creditlens::chat::Conversation;
use creditlens::data::{Entry, Record};
use creditlens::defaults;
use creditlens::demo_assets::DemoAssets;
use creditlens::model::Dtype;
use creditlens::score::{RecordScore, ScoreOptions, Scorer};
use creditlens::tokenize::TokenizationMode;
use indicatif::{ProgressBar, ProgressStyle};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Token-level implicit rewards of DPO-trained language models.
#[derive(Debug, Parser)]
#[command(name = "creditlens", version, about, long_about = None)]
struct Cli {
    /// Without a command, the desktop app opens on the embedded demo.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Score responses token by token with a policy and its reference.
    Score(score::ScoreArgs),
    /// Measure how well per-token rewards localise labelled errors (records with "error_spans").
    Eval(eval::EvalArgs),
    /// Credit across a dataset: each word's (token's, n-gram's) count and summed r_t in chosen and rejected, its
    /// reward by position and the length bias, from a `score` file (--scores) or scored on the fly.
    Features(features::FeaturesArgs),
    /// Open the desktop app (the embedded demo unless --policy and --reference are given).
    #[cfg(feature = "gui")]
    Gui(gui::GuiArgs),
    /// Draw the heatmap of one record (a response or a pair) as a PNG, for papers; needs no display.
    Render(render::RenderArgs),
    /// Likelihood search with the policy: greedy, beam search of several widths and sampling, every candidate
    /// scored token by token against the reference; `--experiment` runs the paper's beam experiment on the demo.
    Search(search::SearchArgs),
    /// Mean implicit rewards of every checkpoint of a training run, next to its trainer_state.json curves.
    Drift(drift::DriftArgs),
    /// Join the outputs of a sharded `score` run (`--shard`, e.g. a Slurm array) in record order: the same file as
    /// one unsharded run; refuses missing or repeated shards and records, and outputs of different runs.
    Merge(merge::MergeArgs),
    /// Follow a training run while it trains: score each new complete checkpoint-N/ on probe pairs and append its
    /// drift row (as `drift` writes them); a restart scores nothing twice.
    Watch(watch::WatchArgs),
    /// The demo: train its checkpoints from scratch.
    #[command(subcommand)]
    Demo(demo::DemoCommand),
}

/// The models and scoring settings every scoring command takes.
#[derive(Debug, Args)]
struct ModelArgs {
    /// The trained policy: a Hugging Face checkpoint folder, a PEFT LoRA adapter folder, a GGUF file, a training
    /// folder of checkpoint-N/ subfolders (the last one, or --checkpoint N), or a Hub id (ORG/NAME[@REVISION])
    /// found in the local Hugging Face cache; a local path wins over a Hub id.
    #[arg(long, value_name = "MODEL")]
    policy: Option<PathBuf>,
    /// The reference (usually the SFT model DPO started from), in any form --policy takes [default: for a LoRA
    /// adapter policy, its base model].
    #[arg(long, value_name = "MODEL", requires = "policy")]
    reference: Option<PathBuf>,
    /// Use the embedded demo's models (a small DPO policy and its SFT reference) on the records given. Without
    /// --policy, the demo's models are used only on the demo's own data; on your --data or --prompt they need
    /// --demo, so that a forgotten --policy is an error, not plausible numbers.
    #[arg(long, conflicts_with_all = ["policy", "reference"])]
    demo: bool,
    /// With a training folder as --policy: use its checkpoint-N instead of the last.
    #[arg(long, value_name = "N", requires = "policy")]
    checkpoint: Option<usize>,
    /// With a Hub id as --policy: the revision (branch, tag, refs/pr/N or commit) [default: main; ORG/NAME@REV
    /// says the same].
    #[arg(long, value_name = "REV", requires = "policy")]
    revision: Option<String>,
    /// With a Hub id as --reference: its revision [default: main].
    #[arg(long, value_name = "REV", requires = "reference")]
    reference_revision: Option<String>,
    /// DPO's beta: r_t = beta * (log pi - log pi_ref).
    #[arg(long, default_value_t = defaults::BETA, allow_negative_numbers = true)]
    beta: f64,
    /// `trl`: exactly what TRL's DPOTrainer scores (EOS appended); `joint`: prompt+response as one string.
    #[arg(long, value_name = "MODE", default_value_t = defaults::TOKENIZATION)]
    tokenization: TokenizationMode,
    /// Longest sequence (prompt included); longer ones lose their end, as with TRL's max_length.
    #[arg(long, value_name = "N")]
    max_length: Option<usize>,
    /// Compute dtype: f32 (exact, the default), bf16 (bf16 weights and matrix products, f32 sums and activations;
    /// on AMX tiles where the CPU has them) or f16.
    #[arg(long, default_value_t = defaults::DTYPE)]
    dtype: Dtype,
    /// Most memory to use, e.g. 16G [default: what the machine has available]: a load or a record estimated to
    /// need more is refused before any work, with the estimate and what would fit.
    #[arg(long, value_name = "SIZE", value_parser = parse_memory)]
    max_memory: Option<u64>,
    /// A Jinja chat template file for conversational records and --chat, instead of the tokenizer's own
    /// (chat_template.jinja or tokenizer_config.json's chat_template; a GGUF file's tokenizer.chat_template).
    #[arg(long, value_name = "FILE")]
    chat_template: Option<PathBuf>,
}

/// `--max-memory`'s value in bytes.
fn parse_memory(text: &str) -> Result<u64, String> {
    creditlens::memory::parse_size(text).map_err(|e| e.to_string())
}

impl ModelArgs {
    /// The models and settings as given, for a shard's sidecar ([`creditlens::shard::RunInfo`]): shards of one run
    /// agree on every one.
    fn settings(
        &self,
        top_k: usize,
        unit: creditlens::words::Unit,
    ) -> std::collections::BTreeMap<String, serde_json::Value> {
        let path =
            |p: &Option<PathBuf>| serde_json::json!(p.as_ref().map(|p| p.display().to_string()));
        [
            ("policy", path(&self.policy)),
            ("reference", path(&self.reference)),
            ("demo", serde_json::json!(self.demo)),
            ("checkpoint", serde_json::json!(self.checkpoint)),
            ("revision", serde_json::json!(self.revision)),
            (
                "reference_revision",
                serde_json::json!(self.reference_revision),
            ),
            ("beta", serde_json::json!(self.beta)),
            (
                "tokenization",
                serde_json::json!(self.tokenization.to_string()),
            ),
            ("max_length", serde_json::json!(self.max_length)),
            ("dtype", serde_json::json!(self.dtype.to_string())),
            ("chat_template", path(&self.chat_template)),
            ("top_k", serde_json::json!(top_k)),
            ("unit", serde_json::json!(unit)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn options(&self, top_k: usize) -> ScoreOptions {
        ScoreOptions {
            beta: self.beta,
            mode: self.tokenization,
            top_k,
            max_length: self.max_length,
            max_memory: self.max_memory,
        }
    }

    /// The policy and reference to load: the given ones (training folders and Hub ids made concrete, with a note
    /// on stderr saying which checkpoint of a training folder is used), or the embedded demo's. `own` names the
    /// records the user gave (`--data`, `--prompt`), which the demo's models score only with `--demo`.
    fn paths(&self, own: Option<&str>) -> anyhow::Result<(PathBuf, PathBuf)> {
        self.check(own)?;
        let Some(policy) = &self.policy else {
            let demo = DemoAssets::locate()?;
            return Ok((demo.policy(), demo.reference()));
        };
        let located = locate(
            policy,
            self.revision.as_deref(),
            self.checkpoint,
            "--checkpoint N",
        )
        .with_context(|| match &self.reference {
            Some(_) => "--policy".to_string(),
            None => "--policy (given without --reference)".to_string(),
        })?;
        let reference = match &self.reference {
            Some(r) => {
                locate(r, self.reference_revision.as_deref(), None, "").context("--reference")?
            }
            None => creditlens::source::default_reference(&located)?,
        };
        Ok((located, reference))
    }

    /// Refuses the user's own records (`own`: `--data`, `--prompt`) without models or `--demo`; called before any
    /// work.
    fn check(&self, own: Option<&str>) -> anyhow::Result<()> {
        match own {
            Some(what) if self.policy.is_none() && !self.demo => bail_without_models(what),
            _ => Ok(()),
        }
    }

    fn load(&self, top_k: usize, own: Option<&str>) -> anyhow::Result<Scorer> {
        let template = self.template_file()?;
        let (policy, reference) = self.paths(own)?;
        let scorer = Scorer::load(&policy, &reference, self.dtype, self.options(top_k))
            .context("cannot load the models")?;
        // An adapter applied to a GGUF reference it does not name: say so.
        if let Ok(source) = creditlens::source::ModelSource::resolve(&policy, Some(&reference))
            && let Some(note) = source.note()
        {
            eprintln!("note: {note}");
        }
        Ok(match template {
            Some(t) => {
                scorer.with_chat_template(t.with_special(scorer.tokenizer().template_tokens()))
            }
            None => scorer,
        })
    }

    /// The `--chat-template` file, read before the models so that a bad file fails at once.
    fn template_file(&self) -> anyhow::Result<Option<creditlens::chat::ChatTemplate>> {
        self.chat_template
            .as_deref()
            .map(|p| creditlens::chat::load::from_file(p, Default::default()))
            .transpose()
            .context("cannot read --chat-template")
    }
}

/// The error for records of the user's own (`what`: `--data`, `--prompt`) given without models.
fn bail_without_models(what: &str) -> anyhow::Result<()> {
    anyhow::bail!(
        "{what} gives your own records, but no models were given: pass --policy and --reference (your DPO policy and the model it started from), or --demo to score them with the embedded demo's models"
    )
}

/// The model `spec` names, made concrete (see `creditlens::source::locate`); when a training folder's checkpoint is
/// picked, a note on stderr says which, and that `other` (a flag) picks another.
fn locate(
    spec: &Path,
    revision: Option<&str>,
    checkpoint: Option<usize>,
    other: &str,
) -> anyhow::Result<PathBuf> {
    let located = creditlens::source::locate(spec, revision, checkpoint)?;
    if let Some(run) = &located.run {
        let how = if other.is_empty() {
            "pass its checkpoint-N/ folder for another".to_string()
        } else {
            format!("{other} for another")
        };
        eprintln!("note: {} ({how})", run.describe());
    }
    Ok(located.path)
}

/// One record typed on the command line: `--prompt` with `--response` (unpaired), or with `--chosen` and
/// `--rejected` (a pair).
#[derive(Debug, Args)]
struct TextRecordArgs {
    /// A prompt to score one response (--response) or one pair (--chosen/--rejected) after.
    #[arg(long, value_name = "TEXT")]
    prompt: Option<String>,
    /// The response after --prompt.
    #[arg(long, value_name = "TEXT", requires = "prompt", conflicts_with_all = ["chosen", "rejected"])]
    response: Option<String>,
    /// The preferred response of a pair (with --rejected).
    #[arg(long, value_name = "TEXT", requires_all = ["prompt", "rejected"])]
    chosen: Option<String>,
    /// The dispreferred response of a pair (with --chosen).
    #[arg(long, value_name = "TEXT", requires_all = ["prompt", "chosen"])]
    rejected: Option<String>,
    /// Score --prompt as one user message and each response as an assistant message, through the chat template.
    #[arg(long, requires = "prompt")]
    chat: bool,
    /// With --chat: a system message before the prompt.
    #[arg(long, value_name = "TEXT", requires = "chat")]
    system: Option<String>,
}

impl TextRecordArgs {
    /// The record, or `None` without `--prompt`.
    fn record(&self) -> anyhow::Result<Option<Record>> {
        let Some(prompt) = self.prompt.clone() else {
            return Ok(None);
        };
        let chat = |responses: &[&str]| {
            self.chat.then(|| {
                Box::new(Conversation::from_texts(
                    self.system.as_deref(),
                    &prompt,
                    responses,
                ))
            })
        };
        Ok(Some(match (&self.response, &self.chosen, &self.rejected) {
            (Some(r), None, None) => Record::Unpaired {
                chat: chat(&[r]),
                prompt,
                completion: r.clone(),
            },
            (None, Some(c), Some(r)) => Record::Pair {
                chat: chat(&[c, r]),
                prompt,
                chosen: c.clone(),
                rejected: r.clone(),
                error_spans: Vec::new(),
            },
            _ => anyhow::bail!(
                "with --prompt give either --response, or both --chosen and --rejected"
            ),
        }))
    }
}

/// An output: a file written through its `.partial` companion (renamed when [`Out::finish`] is called, locked
/// against a second writer), or stdout.
struct Out {
    file: Option<creditlens::partial_file::PartialFile>,
    stdout: std::io::Stdout,
}

impl Out {
    /// `path` (refused if it exists without `force`, or is one of `inputs`), or stdout.
    fn create(path: Option<&Path>, force: bool, inputs: &[&Path]) -> anyhow::Result<Self> {
        if let Some(p) = path
            && let Some(input) = inputs
                .iter()
                .find(|i| creditlens::partial_file::same_file(p, i))
        {
            anyhow::bail!(
                "--out {} is the input {}: writing it would destroy what is being read; choose another --out",
                p.display(),
                input.display()
            );
        }
        let file = match path {
            Some(p) => Some(creditlens::partial_file::PartialFile::create(p, force, false)?.0),
            None => None,
        };
        Ok(Self {
            file,
            stdout: std::io::stdout(),
        })
    }

    /// Where to write.
    fn writer(&mut self) -> &mut dyn std::io::Write {
        match &mut self.file {
            Some(f) => f.file(),
            None => &mut self.stdout,
        }
    }

    /// The run completed: the file takes its name.
    fn finish(self) -> anyhow::Result<()> {
        if let Some(f) = self.file {
            f.finish()?;
        }
        Ok(())
    }
}

/// A progress bar on stderr over `len` records. Where stderr is not a terminal (a log file, a notebook cell, CI) the
/// bar cannot be drawn, and [`Progress::step`] prints a plain line instead: when the work starts and then every
/// [`PLAIN_EVERY`].
fn progress_bar(len: usize, what: &str) -> Progress {
    let bar = ProgressBar::new(len as u64);
    let template = format!(
        "{{spinner}} {what} [{{bar:30}}] {{pos}}/{{len}} records {{per_sec}} eta {{eta}} {{msg}}"
    );
    bar.set_style(
        ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let plain = bar.is_hidden().then(|| {
        eprintln!("{what}: 0/{len} records");
        PlainProgress {
            what: what.to_string(),
            started: Instant::now(),
            last: Cell::new(Instant::now()),
        }
    });
    Progress { bar, plain }
}

/// How often [`Progress::step`] prints a line where no bar can be drawn.
const PLAIN_EVERY: Duration = Duration::from_secs(10);

/// A progress bar, or plain lines where stderr is not a terminal (see [`progress_bar`]).
struct Progress {
    bar: ProgressBar,
    plain: Option<PlainProgress>,
}

/// The state of the plain progress lines.
struct PlainProgress {
    what: String,
    started: Instant,
    last: Cell<Instant>,
}

impl Progress {
    /// One more record done.
    fn step(&self) {
        self.bar.inc(1);
        let Some(p) = &self.plain else { return };
        if p.last.get().elapsed() < PLAIN_EVERY {
            return;
        }
        p.last.set(Instant::now());
        let (done, len) = (self.bar.position(), self.bar.length().unwrap_or(0));
        let seconds = p.started.elapsed().as_secs_f64();
        let eta = if done > 0 {
            format!(
                ", about {:.0} s left",
                seconds / done as f64 * len.saturating_sub(done) as f64
            )
        } else {
            String::new()
        };
        eprintln!("{}: {done}/{len} records, {seconds:.0} s{eta}", p.what);
    }
}

impl std::ops::Deref for Progress {
    type Target = ProgressBar;

    fn deref(&self) -> &ProgressBar {
        &self.bar
    }
}

/// Parses the command line and runs the chosen command.
pub fn run() -> anyhow::Result<()> {
    match Cli::parse().command {
        #[cfg(feature = "gui")]
        None => gui::run(gui::GuiArgs::default()),
        #[cfg(not(feature = "gui"))]
        None => anyhow::bail!(
            "this creditlens was built without the desktop app (cargo feature `gui`); see `creditlens --help` for its commands"
        ),
        Some(command) => match command {
            #[cfg(feature = "gui")]
            Command::Gui(args) => gui::run(args),
            Command::Score(args) => score::run(args),
            Command::Eval(args) => eval::run(args),
            Command::Features(args) => features::run(args),
            Command::Render(args) => render::run(args),
            Command::Drift(args) => drift::run(args),
            Command::Merge(args) => merge::run(args),
            Command::Watch(args) => watch::run(args),
            Command::Search(args) => search::run(args),
            Command::Demo(cmd) => demo::run(cmd),
        },
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
        bar.step();
    }
    bar.finish_and_clear();
    Ok(skipped)
}
