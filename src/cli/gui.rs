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
    /// Open the window at this size in logical pixels, e.g. 1024x640 [default: 1400x880, or the remembered size].
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    window_size: Option<[f32; 2]>,
    /// DPO's beta for the models opened [default: the beta last used with this policy, else 0.1, TRL's default].
    #[arg(long, value_parser = parse_beta)]
    beta: Option<f64>,
    /// With a training folder as the policy: open its checkpoint-N/ [default: the last one].
    #[arg(long, value_name = "N", requires = "policy")]
    checkpoint: Option<usize>,
}

/// `--beta`: a positive, finite number.
fn parse_beta(text: &str) -> Result<f64, String> {
    let beta: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if beta.is_finite() && beta > 0.0 {
        Ok(beta)
    } else {
        Err(format!(
            "beta must be a positive number (DPO's beta, e.g. 0.1), not {text}"
        ))
    }
}

/// Parses `WIDTHxHEIGHT` (at least the window's smallest size, 720x480).
fn parse_size(text: &str) -> Result<[f32; 2], String> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("`{text}` is not WIDTHxHEIGHT, e.g. 1024x640"))?;
    let parse = |v: &str| {
        v.trim()
            .parse::<u32>()
            .map_err(|_| format!("`{v}` in `{text}` is not a whole number of pixels"))
    };
    let (w, h) = (parse(w)?, parse(h)?);
    if w < 720 || h < 480 {
        return Err(format!(
            "{w}x{h} is smaller than the window's smallest size, 720x480"
        ));
    }
    Ok([w as f32, h as f32])
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
        window_size: args.window_size,
        file_dialogs: Default::default(),
        beta: args.beta,
        checkpoint: args.checkpoint,
    })?;
    Ok(())
}
