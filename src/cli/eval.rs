//! `creditlens eval`: error-localisation figures of a policy/reference pair on labelled preference pairs.

use super::{ModelArgs, score_entries};
use anyhow::bail;
use clap::Args;
use creditlens::data::{Record, read_entries};
use creditlens::demo_assets::DemoAssets;
use creditlens::eval::{Localisation, localisation};
use creditlens::score::RecordScore;
use std::path::PathBuf;

/// Arguments of `creditlens eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    models: ModelArgs,
    /// Labelled pairs: {"prompt","chosen","rejected","error_spans":[[start,end],...]} (character offsets into
    /// rejected) [default: the embedded demo's held-out pairs; without --policy, with the demo's models, which
    /// your own --data needs --demo for].
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,
    /// Skip records that cannot be scored instead of stopping.
    #[arg(long)]
    skip_bad: bool,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let own = args.data.is_some().then_some("--data");
    args.models.check(own)?;
    let data = match &args.data {
        Some(d) => d.clone(),
        None => DemoAssets::locate()?.heldout(),
    };
    let entries = read_entries(&data)?;
    let scorer = args.models.load(0, own)?;
    let name = data.display().to_string();
    let pairs: Vec<_> = entries
        .into_iter()
        .filter(|e| !matches!(e.record, Ok(Record::Unpaired { .. })))
        .collect();
    let mut scored = Vec::new();
    let skipped = score_entries(
        &scorer,
        pairs,
        &data,
        args.skip_bad,
        "evaluating",
        |record, score| {
            if let (Record::Pair { error_spans, .. }, RecordScore::Pair(p)) = (record, score) {
                let spans = p.rejected.locate_spans(error_spans);
                scored.push((p, spans));
            }
            Ok(())
        },
    )?;
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
