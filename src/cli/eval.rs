//! `creditlens eval`: error-localisation figures of a policy/reference pair on labelled preference pairs.

use super::{ModelArgs, score_entries};
use anyhow::bail;
use clap::Args;
use creditlens::data::{Record, read_entries};
use creditlens::demo_assets::DemoAssets;
use creditlens::eval::{Localisation, WITHIN_K, localisation_at};
use creditlens::score::RecordScore;
use creditlens::words::Unit;
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
    /// Count credit per token or per word (whitespace words, punctuation attached: the sum over their tokens)
    /// [default: both].
    #[arg(long, value_enum)]
    unit: Option<Unit>,
    /// The k of the "within k after" hit rate: the most suspicious unit counts when it is an error or one of the
    /// k units after one (credit spilling onto what follows an error).
    #[arg(long, value_name = "K", default_value_t = WITHIN_K)]
    within: usize,
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
    let units = match args.unit {
        Some(u) => vec![u],
        None => vec![Unit::Token, Unit::Word],
    };
    let figures = localisation_at(&scored, &units, args.within);
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
    let units: Vec<Unit> = l.signals.iter().fold(Vec::new(), |mut v, f| {
        if !v.contains(&f.unit) {
            v.push(f.unit);
        }
        v
    });
    for unit in units {
        let name = match unit {
            Unit::Token => "per token",
            Unit::Word => "per word (sum over its tokens)",
        };
        println!();
        println!("{name:<38} top-1    within {}    AUROC", l.within_k);
        for f in l.signals.iter().filter(|f| f.unit == unit) {
            println!(
                "{:<38} {:.3}    {:.3}       {:.3}",
                signal_name(&f.key, &f.signal),
                f.top1,
                f.within_k,
                f.auroc
            );
        }
    }
    println!();
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

/// A signal's row name in the table.
fn signal_name(key: &str, label: &str) -> String {
    match key {
        "reward" => "implicit reward r_t".into(),
        "reward-per-entropy" => "r_t / (1 + H_ref)".into(),
        "centred-log-ratio" => "r_t - beta*KL (as log-ratio - KL)".into(),
        "surprisal-policy" => "surprisal under the policy -log pi".into(),
        "surprisal-reference" => "surprisal under the reference".into(),
        _ => label.into(),
    }
}
