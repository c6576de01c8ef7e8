//! `creditlens gui` (and `creditlens` with no command): the desktop app.

use clap::Args;
use creditlens::gui::{Launch, PlotTab, run as run_gui};
use creditlens::heatmap::Theme;
use std::path::PathBuf;

/// Arguments of `creditlens gui`.
#[derive(Debug, Args, Default)]
pub struct GuiArgs {
    /// The policy: a checkpoint folder, a LoRA adapter folder, or a folder of checkpoint-N/ subfolders (their
    /// drift is plotted) [default: the embedded demo's].
    #[arg(long, value_name = "DIR")]
    policy: Option<PathBuf>,
    /// The reference checkpoint folder [default: the embedded demo's; for a LoRA adapter policy, its base].
    #[arg(long, value_name = "DIR", requires = "policy")]
    reference: Option<PathBuf>,
    /// A data file to open (JSONL or JSON array) [default: the embedded demo's pairs].
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
    /// Save a screenshot (PNG) once the first scores are drawn, then exit (for smoke tests and docs).
    #[arg(long, value_name = "FILE")]
    screenshot: Option<PathBuf>,
    /// Open in this theme (light or dark) instead of the remembered one.
    #[arg(long, value_parser = ["light", "dark"])]
    theme: Option<String>,
    /// Open with this plot shown: tokens, drift or token-by-checkpoint.
    #[arg(long, value_name = "PLOT")]
    plot: Option<PlotTab>,
    /// A Jinja chat template file for conversational records, instead of the tokenizer's own.
    #[arg(long, value_name = "FILE")]
    chat_template: Option<PathBuf>,
}

pub fn run(args: GuiArgs) -> anyhow::Result<()> {
    let reference = match (&args.policy, args.reference) {
        (Some(p), None) => Some(creditlens::source::default_reference(p)?),
        (_, r) => r,
    };
    run_gui(Launch {
        policy: args.policy,
        reference,
        data: args.data,
        screenshot: args.screenshot,
        theme: args.theme.map(|t| {
            if t == "dark" {
                Theme::Dark
            } else {
                Theme::Light
            }
        }),
        plot: args.plot,
        chat_template: args.chat_template,
    })?;
    Ok(())
}
