//! `creditlens eval`: error-localisation figures of a policy/reference pair on labelled preference pairs.

use super::{ModelArgs, progress_bar};
use anyhow::{Context, bail};
use clap::Args;
use creditlens::data::{Record, read_entries};
use creditlens::eval::{Localisation, localisation};
use creditlens::score::RecordScore;
use std::path::PathBuf;

/// Arguments of `creditlens eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    models: ModelArgs,
    /// Labelled pairs: {"prompt","chosen","rejected","error_spans":[[start,end],...]} (character offsets into
    /// rejected).
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,
    /// Skip records that cannot be scored instead of stopping.
    #[arg(long)]
    skip_bad: bool,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let entries = read_entries(&args.data)?;
    let scorer = args.models.load(0)?;
    let name = args.data.display().to_string();
    let bar = progress_bar(entries.len(), "evaluating");
    let mut scored = Vec::new();
    let mut skipped = 0;
    for entry in entries {
        let result = entry.record.map_err(anyhow::Error::new).and_then(|record| {
            let spans = match &record {
                Record::Pair { error_spans, .. } => error_spans.clone(),
                Record::Unpaired { .. } => return Ok(None),
            };
            match scorer.score_record(entry.index, &record)? {
                RecordScore::Pair(p) => Ok(Some((p, spans))),
                RecordScore::Unpaired(_) => Ok(None),
            }
        });
        match result.with_context(|| format!("{name}:{}", entry.line)) {
            Ok(Some(pair)) => scored.push(pair),
            Ok(None) => {}
            Err(e) if args.skip_bad => {
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
    if scored.is_empty() {
        bail!("{name}: no preference pairs to evaluate");
    }
    let figures = localisation(&scored);
    if figures.pairs == 0 {
        eprintln!(
            "warning: no pair has `error_spans`; only reward accuracy and margin are meaningful"
        );
    }
    if skipped > 0 {
        eprintln!("skipped {skipped} bad record(s)");
    }
    if args.json {
        println!("{}", serde_json::to_string(&figures)?);
    } else {
        print_table(&figures);
    }
    Ok(())
}

fn print_table(l: &Localisation) {
    println!("labelled pairs                         {}", l.pairs);
    println!("                                       top-1    AUROC");
    println!(
        "implicit reward r_t                    {:.3}    {:.3}",
        l.top1, l.auroc
    );
    println!(
        "surprisal under the policy -log pi     {:.3}    {:.3}",
        l.top1_surprisal_policy, l.auroc_surprisal_policy
    );
    println!(
        "surprisal under the reference          {:.3}    {:.3}",
        l.top1_surprisal_reference, l.auroc_surprisal_reference
    );
    println!(
        "std of r_t over non-error tokens       {:.4}",
        l.nonerror_reward_std
    );
    println!(
        "reward accuracy                        {:.3}",
        l.reward_accuracy
    );
    println!(
        "mean margin                            {:.4}",
        l.mean_margin
    );
}
