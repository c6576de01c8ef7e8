//! `creditlens search`: likelihood search with the policy (greedy, beam search of several widths, sampling), each
//! candidate scored token by token against the reference; and `--experiment`, the paper's beam experiment on the
//! embedded demo.

use super::{ModelArgs, Out, progress_bar};
use anyhow::{Context, bail};
use clap::Args;
use creditlens::chat::{Message, messages_from_json};
use creditlens::search::{
    ExperimentSettings, SampleSettings, SearchPrompt, SearchRun, SearchSettings, Searcher,
    run_experiment,
};
use std::path::{Path, PathBuf};

/// Arguments of `creditlens search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    models: ModelArgs,
    /// The prompt to continue.
    #[arg(long, value_name = "TEXT", conflicts_with_all = ["data", "experiment"])]
    prompt: Option<String>,
    /// A JSONL file of records with a `prompt` (a string, or a list of messages); other fields are ignored.
    #[arg(long, value_name = "FILE", conflicts_with = "experiment")]
    data: Option<PathBuf>,
    /// Wrap a string prompt as one user message through the chat template (with the generation prompt).
    #[arg(long)]
    chat: bool,
    /// With --chat: a system message before the prompt.
    #[arg(long, value_name = "TEXT", requires = "chat")]
    system: Option<String>,
    /// Beam widths to run, comma-separated (1 is greedy decoding).
    #[arg(
        long,
        value_name = "K,K,...",
        value_delimiter = ',',
        default_value = "1,2,4,8,16"
    )]
    beams: Vec<usize>,
    /// Most tokens generated after the prompt.
    #[arg(long, value_name = "N", default_value_t = 64)]
    max_new_tokens: usize,
    /// Length normalisation alpha: candidates are ranked by sum log pi / length^alpha (transformers'
    /// length_penalty; 0 ranks by the plain sum).
    #[arg(
        long,
        value_name = "ALPHA",
        default_value_t = 1.0,
        allow_negative_numbers = true
    )]
    length_norm: f32,
    /// Also draw N samples (a control for the beams).
    #[arg(long, value_name = "N")]
    sample: Option<usize>,
    /// Sampling temperature.
    #[arg(long, value_name = "T", default_value_t = 1.0)]
    temperature: f64,
    /// Sampling: keep the most likely tokens whose probabilities sum to P.
    #[arg(long, value_name = "P", default_value_t = 1.0)]
    top_p: f64,
    /// Sampling: keep only the K most likely tokens (0: all).
    #[arg(long = "sample-top-k", value_name = "K", default_value_t = 0)]
    sample_top_k: usize,
    /// Seed of the sampling.
    #[arg(long, value_name = "S", default_value_t = 0)]
    seed: u64,
    /// Alternatives reported per model and token in the candidates' scores.
    #[arg(long, default_value_t = creditlens::defaults::TOP_K)]
    top_k: usize,
    /// Write the runs here as JSON lines instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Overwrite --out if it exists.
    #[arg(long)]
    force: bool,
    /// The paper's beam experiment on the embedded demo's held-out prompts: per width, the share of answers the
    /// demo task's checker marks correct, mean length, mean implicit reward and mean log pi.
    #[arg(long)]
    experiment: bool,
    /// With --experiment: how many held-out prompts.
    #[arg(long, value_name = "N", default_value_t = 100, requires = "experiment")]
    prompts: usize,
}

/// The prompts of `--data`: each line's `prompt`, a string or a list of messages.
fn read_prompts(
    path: &Path,
    chat: bool,
    system: Option<&str>,
) -> anyhow::Result<Vec<SearchPrompt>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut prompts = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{}:{}", path.display(), i + 1);
        let value: serde_json::Value = serde_json::from_str(line).with_context(|| {
            format!("{at}: not a JSON object (the file must hold one record per line)")
        })?;
        let prompt = match value.get("prompt") {
            Some(serde_json::Value::String(s)) => as_prompt(s, chat, system),
            Some(v @ serde_json::Value::Array(_)) => SearchPrompt::Messages(
                messages_from_json("prompt", v).map_err(|e| anyhow::anyhow!("{at}: {e}"))?,
            ),
            Some(other) => bail!(
                "{at}: `prompt` must be a string or a list of messages, not {}",
                creditlens::chat::kind(other)
            ),
            None => bail!("{at}: the record has no `prompt` field"),
        };
        prompts.push(prompt);
    }
    if prompts.is_empty() {
        bail!("{}: no records", path.display());
    }
    Ok(prompts)
}

/// A string prompt, as one user message (after an optional system one) when `chat`.
fn as_prompt(text: &str, chat: bool, system: Option<&str>) -> SearchPrompt {
    if !chat {
        return SearchPrompt::Text(text.to_string());
    }
    let mut messages = Vec::new();
    if let Some(s) = system.filter(|s| !s.is_empty()) {
        messages.push(Message::new("system", s));
    }
    messages.push(Message::new("user", text));
    SearchPrompt::Messages(messages)
}

pub fn run(args: SearchArgs) -> anyhow::Result<()> {
    if args.beams.is_empty() || args.beams.contains(&0) {
        bail!("--beams takes widths of at least 1, e.g. --beams 1,2,4 (1 is greedy decoding)");
    }
    if args.experiment {
        return experiment(&args);
    }
    let (prompts, own) = match (&args.prompt, &args.data) {
        (Some(p), None) => (
            vec![as_prompt(p, args.chat, args.system.as_deref())],
            "--prompt",
        ),
        (None, Some(path)) => (
            read_prompts(path, args.chat, args.system.as_deref())?,
            "--data",
        ),
        _ => bail!("give --prompt TEXT or --data FILE (or --experiment)"),
    };
    args.models.check(Some(own))?;
    let inputs: Vec<&Path> = args.data.iter().map(PathBuf::as_path).collect();
    let mut out = Out::create(args.out.as_deref(), args.force, &inputs)?;
    let scorer = args.models.load(args.top_k, Some(own))?;
    let searcher = Searcher::new(&scorer)?;
    let runs = args.beams.len() + usize::from(args.sample.is_some());
    let bar = progress_bar(prompts.len() * runs, "searching");
    for (index, prompt) in prompts.iter().enumerate() {
        let at = |e: anyhow::Error| match &args.data {
            Some(p) => e.context(format!("{}: record {}", p.display(), index + 1)),
            None => e,
        };
        let (ids, text) = searcher.encode(prompt).map_err(|e| at(e.into()))?;
        let settings = |beams| SearchSettings {
            beams,
            max_new_tokens: args.max_new_tokens,
            eos: Vec::new(),
            length_penalty: args.length_norm,
        };
        let mut step = |s: usize, of: usize| {
            bar.set_message(format!("token {s}/{of}"));
            true
        };
        for &beams in &args.beams {
            let (candidates, cancelled) = searcher
                .beams(&ids, &settings(beams), &mut step)
                .map_err(|e| at(e.into()))?;
            let run = SearchRun {
                index,
                prompt: text.clone(),
                beams,
                samples: None,
                candidates,
                cancelled,
            };
            let w = out.writer();
            writeln!(w, "{}", serde_json::to_string(&run)?)?;
            w.flush()?;
            bar.step();
        }
        if let Some(n) = args.sample {
            let sampling = SampleSettings {
                n,
                temperature: args.temperature,
                top_k: args.sample_top_k,
                top_p: args.top_p,
                seed: args.seed,
            };
            let (candidates, cancelled) = searcher
                .samples(&ids, &settings(1), &sampling, &mut step)
                .map_err(|e| at(e.into()))?;
            let run = SearchRun {
                index,
                prompt: text.clone(),
                beams: 0,
                samples: Some(n),
                candidates,
                cancelled,
            };
            let w = out.writer();
            writeln!(w, "{}", serde_json::to_string(&run)?)?;
            w.flush()?;
            bar.step();
        }
    }
    bar.finish_and_clear();
    out.finish()
}

/// `--experiment`: the beam experiment on the demo, as a table on stdout (and the runs in `--out`).
fn experiment(args: &SearchArgs) -> anyhow::Result<()> {
    let mut out = match &args.out {
        Some(path) => Some(Out::create(Some(path), args.force, &[])?),
        None => None,
    };
    let demo = creditlens::demo_assets::DemoAssets::locate()?;
    let scorer = args.models.load(args.top_k, None)?;
    let settings = ExperimentSettings {
        prompts: args.prompts,
        beams: args.beams.clone(),
        max_new_tokens: args.max_new_tokens,
        length_penalty: args.length_norm,
        samples: args.sample.unwrap_or(0),
        temperature: args.temperature,
        seed: args.seed,
    };
    let bar = progress_bar(settings.prompts, "experiment");
    let rows = run_experiment(&scorer, &demo, &settings, &mut |done, run| {
        bar.set_position(done as u64);
        if let (Some(out), Some(run)) = (out.as_mut(), run) {
            let line = serde_json::to_string(run)
                .map_err(|e| creditlens::Error::Output(format!("cannot serialise a run: {e}")))?;
            writeln!(out.writer(), "{line}")
                .map_err(|e| creditlens::Error::Output(format!("cannot write --out: {e}")))?;
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    if let Some(out) = out {
        out.finish()?;
    }
    println!("| decoding | correct | mean length (tokens) | mean implicit reward | mean log pi |");
    println!("| --- | --- | --- | --- | --- |");
    for r in rows {
        println!(
            "| {} | {:.3} | {:.1} | {:.3} | {:.2} |",
            r.label, r.correct, r.mean_length, r.mean_reward, r.mean_logp
        );
    }
    Ok(())
}
