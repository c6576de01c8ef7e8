//! `creditlens score`: per-token implicit rewards for a data file or a single prompt/response.

use super::{ModelArgs, TextRecordArgs, score_entries};
use anyhow::bail;
use clap::Args;
use creditlens::data::{Entry, read_entries};
use creditlens::output::ScoreWriter;
use creditlens::score::{RecordScore, Scorer};
use creditlens::shard::{DataFile, RunInfo, Shard};
use creditlens::words::{Unit, record_by_words};
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `creditlens score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    models: ModelArgs,
    /// A JSONL file (or JSON array) of {"prompt","chosen","rejected"} or {"prompt","completion"} records.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["prompt", "response", "chosen", "rejected"])]
    data: Option<PathBuf>,
    #[command(flatten)]
    text: TextRecordArgs,
    /// Alternatives reported per model and token.
    #[arg(long, default_value_t = creditlens::defaults::TOP_K)]
    top_k: usize,
    /// Write here (.jsonl or .csv) instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Overwrite --out if it exists.
    #[arg(long)]
    force: bool,
    /// Continue an interrupted run: keep the records already in `<out>.partial` and score the rest (JSON lines).
    #[arg(long, requires = "out", requires = "data")]
    resume: bool,
    /// Score only records I, I+N, I+2N, ... (0-based), to split a dataset across jobs; `auto` takes I and N from
    /// the scheduler (a Slurm job array's SLURM_ARRAY_TASK_ID and _COUNT), `auto/N` takes I from it with N given
    /// (a Kubernetes Indexed Job's JOB_COMPLETION_INDEX). With --out, a sidecar <out>.run.json records the run
    /// for `creditlens merge`.
    #[arg(long, value_name = "I/N|auto|auto/N", value_parser = parse_shard)]
    shard: Option<Shard>,
    /// Skip records that cannot be scored (reported on stderr) instead of stopping.
    #[arg(long)]
    skip_bad: bool,
    /// `word`: each response's `tokens` are its words (whitespace words, punctuation attached), each the sum of its
    /// tokens' log-probabilities and rewards, and every record carries `"unit": "word"` (a CSV a `unit` column).
    #[arg(long, value_enum, default_value_t = Unit::Token)]
    unit: Unit,
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    Shard::parse(s, |name| std::env::var(name).ok())
}

/// Running totals for the closing summary.
#[derive(Default)]
struct Totals {
    records: usize,
    pairs: usize,
    correct: usize,
    margin: f64,
    skipped: usize,
    /// Indices of the records written.
    written: Vec<usize>,
}

impl Totals {
    fn add(&mut self, r: &RecordScore) {
        self.records += 1;
        self.written.push(r.index());
        if let RecordScore::Pair(p) = r {
            self.pairs += 1;
            self.margin += p.margin;
            self.correct += usize::from(p.margin > 0.0);
        }
    }
}

pub fn run(args: ScoreArgs) -> anyhow::Result<()> {
    args.models.options(args.top_k).validate()?;
    let single = args.text.record()?;
    if args.shard.is_some() && args.data.is_none() {
        bail!("--shard splits a --data file; give --data");
    }
    let (entries, own) = match (&args.data, &single) {
        (Some(path), _) => (Some(read_entries(path)?), "--data"),
        (None, Some(_)) => (None, "--prompt"),
        (None, None) => {
            bail!("give --data FILE, or --prompt with --response (or --chosen and --rejected)")
        }
    };
    args.models.check(Some(own))?;
    let total_records = entries.as_ref().map_or(0, Vec::len);
    // Open the output before the (slow) model load, so that a bad --out fails at once.
    if let (Some(out), Some(data)) = (&args.out, &args.data)
        && creditlens::partial_file::same_file(out, data)
    {
        bail!(
            "--out {} is the --data file: writing it would destroy the records being scored; choose another --out",
            out.display()
        );
    }
    let (writer, done) = match &args.out {
        Some(path) => {
            if args.resume
                && creditlens::output::Format::from_path(path)? != creditlens::output::Format::Jsonl
            {
                bail!("--resume continues JSON-lines output; give a .jsonl --out");
            }
            let (w, kept) = ScoreWriter::open(path, args.force, args.resume)?;
            (w, done_indices(&kept))
        }
        None => (ScoreWriter::stdout(), std::collections::HashSet::new()),
    };
    let mut writer = match args.unit {
        Unit::Token => writer,
        Unit::Word => writer.with_context(vec![("unit".into(), "word".into())]),
    };
    let entries = entries.map(|e| {
        if !done.is_empty() {
            eprintln!("resuming: {} record(s) already scored", done.len());
        }
        e.into_iter()
            .filter(|e| !done.contains(&e.index))
            .collect::<Vec<_>>()
    });
    // A shard's sidecar describes the whole data file (merge checks every record is somewhere).
    let data_file = match (&args.shard, &args.out, &args.data, &entries) {
        (Some(_), Some(_), Some(path), Some(_)) => Some(DataFile::of(path, total_records)?),
        _ => None,
    };
    let started = Instant::now();
    let scorer = args.models.load(args.top_k, Some(own))?;
    let mut totals = Totals::default();
    match (entries, single) {
        (Some(entries), _) => score_file(&args, &scorer, entries, &mut writer, &mut totals)?,
        (None, Some(record)) => {
            let scored = scorer.score_record(0, &record)?;
            for w in scored.warnings() {
                eprintln!("warning: {w}");
            }
            write_in(&mut writer, &scored, args.unit)?;
            totals.add(&scored);
        }
        (None, None) => unreachable!("checked above"),
    }
    writer.finish()?;
    if let (Some(shard), Some(out), Some(data)) = (args.shard, &args.out, data_file) {
        // Records of this shard not written: skipped now, or (resumed) not in the kept lines either.
        let written: std::collections::HashSet<usize> = totals
            .written
            .iter()
            .copied()
            .chain(done.iter().copied())
            .collect();
        let skipped = (0..data.records)
            .filter(|&i| shard.takes(i) && !written.contains(&i))
            .collect();
        RunInfo {
            creditlens: env!("CARGO_PKG_VERSION").into(),
            settings: args.models.settings(args.top_k, args.unit),
            data,
            shard,
            skipped,
        }
        .write(out)?;
    }
    summary(&totals, started.elapsed().as_secs_f64());
    Ok(())
}

/// The `index` of every complete record line an interrupted run wrote.
fn done_indices(lines: &[String]) -> std::collections::HashSet<usize> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("index")?.as_u64())
        .map(|i| i as usize)
        .collect()
}

fn score_file(
    args: &ScoreArgs,
    scorer: &Scorer,
    entries: Vec<Entry>,
    writer: &mut ScoreWriter,
    totals: &mut Totals,
) -> anyhow::Result<()> {
    let selected: Vec<Entry> = match args.shard {
        Some(shard) => entries
            .into_iter()
            .filter(|e| shard.takes(e.index))
            .collect(),
        None => entries,
    };
    let data = args.data.as_deref().unwrap_or(std::path::Path::new("-"));
    totals.skipped = score_entries(
        scorer,
        selected,
        data,
        args.skip_bad,
        "scoring",
        |_, scored| {
            write_in(writer, &scored, args.unit)?;
            totals.add(&scored);
            Ok(())
        },
    )?;
    Ok(())
}

/// Writes `scored` per token, or per word.
fn write_in(writer: &mut ScoreWriter, scored: &RecordScore, unit: Unit) -> anyhow::Result<()> {
    match unit {
        Unit::Token => writer.write(scored)?,
        Unit::Word => writer.write(&record_by_words(scored))?,
    }
    Ok(())
}

fn summary(t: &Totals, seconds: f64) {
    let mut line = format!("scored {} record(s) in {seconds:.1} s", t.records);
    if t.pairs > 0 {
        line += &format!(
            "; {} pair(s): mean margin {:.4}, reward accuracy {:.3}",
            t.pairs,
            t.margin / t.pairs as f64,
            t.correct as f64 / t.pairs as f64
        );
    }
    if t.skipped > 0 {
        line += &format!("; skipped {} bad record(s)", t.skipped);
    }
    eprintln!("{line}");
}
