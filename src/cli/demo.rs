//! `creditlens demo train`: trains the demo reference and policy from scratch and reports how well the policy's
//! per-token rewards localise the labelled errors of held-out pairs.

use clap::{Args, Subcommand, ValueEnum};
use creditlens::train::{DemoConfig, Progress, ReferenceData, train_demo};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::time::Duration;

/// `creditlens demo ...`
#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Train the demo checkpoints (tokenizer, SFT reference, DPO policy with checkpoints) into a new directory.
    Train(TrainArgs),
}

/// Arguments of `creditlens demo train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// A new (or empty) directory for reference/, policy/, checkpoints/ and heldout.jsonl.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The scaled-down run used by CI (a few minutes on two cores) instead of the full demo.
    #[arg(long)]
    small: bool,
    /// What the SFT reference is trained on: `both` responses of every training pair (the shipped demo; an SFT
    /// model that has seen wrong answers), or the `chosen` ones only (then surprisal under the reference already
    /// flags most errors; see the README).
    #[arg(long, value_enum, default_value = "both", value_name = "DATA")]
    reference_data: ReferenceChoice,
    /// Print the localisation figures as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// `--reference-data` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ReferenceChoice {
    /// Chosen and rejected responses.
    Both,
    /// Chosen responses only.
    Chosen,
}

pub fn run(cmd: DemoCommand) -> anyhow::Result<()> {
    let DemoCommand::Train(args) = cmd;
    let mut cfg = if args.small {
        DemoConfig::small()
    } else {
        DemoConfig::full()
    };
    cfg.reference_data = match args.reference_data {
        ReferenceChoice::Both => ReferenceData::Both,
        ReferenceChoice::Chosen => ReferenceData::Chosen,
    };
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut stage = String::new();
    let report = train_demo(&cfg, &args.out, &mut |p| match p {
        Progress::Stage(s) => {
            if bar.is_hidden() {
                eprintln!("{s}");
            } else {
                bar.println(&s);
            }
            stage = s;
            bar.set_message(stage.clone());
        }
        Progress::Log(kind, e) => {
            let get = |k: &str| e.get(k).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
            let step = e.get("step").and_then(|v| v.as_u64()).unwrap_or(0);
            let msg = if kind == "dpo" {
                format!(
                    "{stage}: step {step} loss {:.4} reward accuracy {:.3} margin {:.3}",
                    get("loss"),
                    get("rewards/accuracies"),
                    get("rewards/margins")
                )
            } else {
                format!("{stage}: step {step} loss {:.4}", get("loss"))
            };
            if bar.is_hidden() {
                eprintln!("{msg}");
            }
            bar.set_message(msg);
        }
    })?;
    bar.finish_and_clear();
    let l = &report.localisation;
    if args.json {
        println!("{}", serde_json::to_string(l)?);
    } else {
        println!("held-out labelled pairs {}", l.pairs);
        println!(
            "top-1 {:.3} (surprisal: policy {:.3}, reference {:.3})",
            l.top1, l.top1_surprisal_policy, l.top1_surprisal_reference
        );
        println!(
            "AUROC {:.3} (surprisal: policy {:.3}, reference {:.3})",
            l.auroc, l.auroc_surprisal_policy, l.auroc_surprisal_reference
        );
        println!(
            "non-error reward std {:.4}, reward accuracy {:.3}, mean margin {:.4}",
            l.nonerror_reward_std, l.reward_accuracy, l.mean_margin
        );
    }
    eprintln!("step  mean R_chosen  mean R_rejected  margin");
    for (step, c, r, m) in &report.drift {
        eprintln!("{step:>4}  {c:>13.4}  {r:>15.4}  {m:>6.4}");
    }
    Ok(())
}
