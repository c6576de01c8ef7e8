//! `creditlens render`: the heatmap of one record as a PNG or SVG, headless.

use super::{ModelArgs, TextRecordArgs};
use anyhow::{Context, bail};
use clap::Args;
use creditlens::data::read_entries;
use creditlens::demo_assets::DemoAssets;
use creditlens::heatmap::{Metric, ScaleMode, Theme};
use creditlens::render::{RenderOptions, write_figure};
use creditlens::words::{Unit, record_by_words};
use std::path::PathBuf;

/// Arguments of `creditlens render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    models: ModelArgs,
    /// A data file (JSONL or JSON array) [default: the embedded demo's pairs; without --policy, with the demo's
    /// models, which your own --data or --prompt needs --demo for].
    #[arg(long, value_name = "FILE", conflicts_with_all = ["prompt", "search"])]
    data: Option<PathBuf>,
    /// Which record of --data, or which line (run) of --search (0-based).
    #[arg(long, default_value_t = 0)]
    index: usize,
    /// Output of `creditlens search`: draw a candidate from its stored scores (no model is loaded).
    #[arg(long, value_name = "FILE", conflicts_with = "prompt")]
    search: Option<PathBuf>,
    /// With --search: which candidate of the run (0 = the best).
    #[arg(long, value_name = "N", default_value_t = 0, requires = "search")]
    candidate: usize,
    /// With --search: draw the candidate as a pair against this other candidate of the run (it as rejected).
    #[arg(long, value_name = "N", requires = "search")]
    against: Option<usize>,
    #[command(flatten)]
    text: TextRecordArgs,
    /// The figure to write: PNG, or SVG (vector) when the name ends in .svg.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Overwrite --out if it exists.
    #[arg(long)]
    force: bool,
    /// `word`: one chip per word (whitespace words, punctuation attached), coloured by the sum over its tokens.
    #[arg(long, value_enum, default_value_t = Unit::Token)]
    unit: Unit,
    /// What colours the tokens: reward, reward-per-entropy (r_t / (1 + H_ref)), log-ratio, centred-log-ratio
    /// (log-ratio - KL), logp-policy, logp-reference, kl, surprisal-policy, surprisal-reference.
    #[arg(long, default_value = "reward", value_parser = parse_metric)]
    metric: Metric,
    /// Colour limit: `robust` (98th percentile of |value|), `robust:P`, or a fixed number such as `0.5`.
    #[arg(long, default_value = "robust", value_parser = parse_scale)]
    scale: ScaleMode,
    /// light or dark.
    #[arg(long, default_value = "light", value_parser = parse_theme)]
    theme: Theme,
    /// Width in logical pixels (200 to 8000).
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u32).range(200..=8000))]
    width: u32,
    /// Device pixels per logical pixel (2 for print; 0.5 to 8).
    #[arg(long, default_value_t = 2.0, value_parser = parse_pixel_ratio)]
    pixel_ratio: f32,
}

fn parse_pixel_ratio(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(k) if (0.5..=8.0).contains(&k) => Ok(k),
        Ok(k) => Err(format!("{k} is not in 0.5..=8 (2 for print)")),
        Err(e) => Err(format!("not a number: {e}")),
    }
}

fn parse_metric(s: &str) -> Result<Metric, String> {
    Metric::from_key(s).ok_or_else(|| {
        let keys: Vec<&str> = Metric::ALL.iter().map(|m| m.key()).collect();
        format!("unknown metric `{s}`; choose one of {}", keys.join(", "))
    })
}

/// Parses `robust`, `robust:P` or a positive number.
pub fn parse_scale(s: &str) -> Result<ScaleMode, String> {
    ScaleMode::parse(s)
}

fn parse_theme(s: &str) -> Result<Theme, String> {
    match s {
        "light" => Ok(Theme::Light),
        "dark" => Ok(Theme::Dark),
        _ => Err(format!("unknown theme `{s}`; use light or dark")),
    }
}

pub fn run(args: RenderArgs) -> anyhow::Result<()> {
    let ext = args
        .out
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase());
    if !matches!(ext.as_deref(), Some("png" | "svg")) {
        bail!(
            "--out {}: figures are written as PNG or SVG; end the name in .png or .svg",
            args.out.display()
        );
    }
    if args.out.exists() && !args.force {
        bail!(
            "{} already exists; choose another name or pass --force to overwrite it",
            args.out.display()
        );
    }
    if let Some(path) = &args.search {
        let runs = creditlens::search::read_runs(path)?;
        let count = runs.len();
        let run = runs.get(args.index).with_context(|| {
            format!(
                "{}: --index {} is out of range (the file has {count} run(s), numbered from 0)",
                path.display(),
                args.index
            )
        })?;
        let scored = run
            .record(
                args.candidate,
                args.against.map(|b| (run, b)),
                args.models.beta,
            )
            .with_context(|| format!("{}: run {}", path.display(), args.index))?;
        return draw(&args, &scored, &[]);
    }
    let own = if args.data.is_some() {
        Some("--data")
    } else {
        args.text.prompt.is_some().then_some("--prompt")
    };
    args.models.check(own)?;
    let record = match args.text.record()? {
        Some(r) => r,
        None => {
            let data = match &args.data {
                Some(d) => d.clone(),
                None => DemoAssets::locate()?.pairs(),
            };
            let entries = read_entries(&data)?;
            let count = entries.len();
            let entry = entries.into_iter().nth(args.index).with_context(|| {
                format!(
                    "{}: --index {} is out of range (the file has {count} record(s), numbered from 0)",
                    data.display(),
                    args.index
                )
            })?;
            let line = entry.line;
            entry
                .record
                .with_context(|| format!("{}:{line}", data.display()))?
        }
    };
    let scorer = args.models.load(0, own)?;
    let scored = scorer.score_record(args.index, &record)?;
    for w in scored.warnings() {
        eprintln!("warning: {w}");
    }
    let errors = match &record {
        creditlens::data::Record::Pair { error_spans, .. } => error_spans.clone(),
        creditlens::data::Record::Unpaired { .. } => Vec::new(),
    };
    draw(&args, &scored, &errors)
}

/// Draws `scored` (with `errors` marked in rejected) to `--out`.
fn draw(
    args: &RenderArgs,
    scored: &creditlens::score::RecordScore,
    errors: &[(usize, usize)],
) -> anyhow::Result<()> {
    let words;
    let scored = match args.unit {
        Unit::Token => scored,
        Unit::Word => {
            words = record_by_words(scored);
            &words
        }
    };
    let opts = RenderOptions {
        width: args.width,
        pixel_ratio: args.pixel_ratio,
        theme: args.theme,
        ..RenderOptions::default()
    };
    let (rendered, scale) = write_figure(
        scored,
        errors,
        (args.metric, args.scale),
        &opts,
        &args.out,
        args.force,
    )?;
    eprintln!(
        "wrote {} ({}x{} pixels, {} {}, colour limit ±{})",
        args.out.display(),
        rendered.image.width(),
        rendered.image.height(),
        rendered.boxes.len(),
        match args.unit {
            Unit::Token => "tokens",
            Unit::Word => "words",
        },
        creditlens::render::fmt_num(scale.limit)
    );
    Ok(())
}
