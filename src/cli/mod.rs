//! Command-line definitions and dispatch.

mod demo;
mod drift;
mod eval;
#[cfg(feature = "gui")]
mod gui;
mod render;
mod score;
mod search;

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
use std::path::{Path, PathBuf};

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
    /// The demo: train its checkpoints from scratch.
    #[command(subcommand)]
    Demo(demo::DemoCommand),
}

/// The models and scoring settings every scoring command takes.
#[derive(Debug, Args)]
struct ModelArgs {
    /// The trained policy: a Hugging Face checkpoint directory or a PEFT LoRA adapter directory [default: the
    /// embedded demo's policy].
    #[arg(long, value_name = "DIR")]
    policy: Option<PathBuf>,
    /// The reference (usually the SFT model DPO started from) [default: the embedded demo's reference; for a LoRA
    /// adapter policy, its base model].
    #[arg(long, value_name = "DIR", requires = "policy")]
    reference: Option<PathBuf>,
    /// DPO's beta: r_t = beta * (log pi - log pi_ref).
    #[arg(long, default_value_t = defaults::BETA, allow_negative_numbers = true)]
    beta: f64,
    /// `trl`: exactly what TRL's DPOTrainer scores (EOS appended); `joint`: prompt+response as one string.
    #[arg(long, value_name = "MODE", default_value_t = defaults::TOKENIZATION)]
    tokenization: TokenizationMode,
    /// Longest sequence (prompt included); longer ones lose their end, as with TRL's max_length.
    #[arg(long, value_name = "N")]
    max_length: Option<usize>,
    /// Compute dtype: f32, f16 or bf16.
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
    fn options(&self, top_k: usize) -> ScoreOptions {
        ScoreOptions {
            beta: self.beta,
            mode: self.tokenization,
            top_k,
            max_length: self.max_length,
            max_memory: self.max_memory,
        }
    }

    /// The policy and reference directories: the given ones, or the embedded demo's.
    fn paths(&self) -> anyhow::Result<(PathBuf, PathBuf)> {
        match (&self.policy, &self.reference) {
            (Some(p), Some(r)) => Ok((p.clone(), r.clone())),
            (Some(p), None) => Ok((p.clone(), creditlens::source::default_reference(p)?)),
            _ => {
                let demo = DemoAssets::locate()?;
                Ok((demo.policy(), demo.reference()))
            }
        }
    }

    fn load(&self, top_k: usize) -> anyhow::Result<Scorer> {
        let template = self.template_file()?;
        let (policy, reference) = self.paths()?;
        let scorer = Scorer::load(&policy, &reference, self.dtype, self.options(top_k))
            .context("cannot load the models")?;
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
            Command::Render(args) => render::run(args),
            Command::Drift(args) => drift::run(args),
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
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(skipped)
}
