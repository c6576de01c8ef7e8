//! `creditlens features`: credit across a dataset, word by word (or token, or word n-gram), from a `score` file or
//! scored on the fly; a table, CSV/JSON lines, and a figure.

use super::{ModelArgs, Out, score_entries};
use anyhow::{Context, bail};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, FromArgMatches};
use creditlens::data::read_entries;
use creditlens::demo_assets::DemoAssets;
use creditlens::features::chart::{ChartOptions, chart, display_text};
use creditlens::features::{
    FeatureBuilder, FeatureOptions, FeatureUnit, Features, LengthFit, Side, SortKey, UnitStats,
    features_of_scores_file,
};
use creditlens::heatmap::Theme;
use creditlens::output::Format;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Which units `--unit` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum UnitArg {
    /// Whitespace words, punctuation attached: a word's r is the sum of its tokens' r_t.
    Word,
    /// Tokens, by their text.
    Token,
    /// Runs of consecutive words (--ngram; default 1-3).
    Ngram,
}

/// Arguments of `creditlens features`.
#[derive(Debug, Args)]
pub struct Inner {
    #[command(flatten)]
    models: ModelArgs,
    /// The JSON lines `creditlens score` wrote: no model is loaded, the rewards in the file are used (or rescaled
    /// from its log-probabilities by --beta).
    #[arg(long, value_name = "FILE", conflicts_with_all = [
        "data", "policy", "reference", "demo", "checkpoint", "revision", "reference_revision", "max_length",
        "max_memory", "chat_template", "skip_bad",
    ])]
    scores: Option<PathBuf>,
    /// A data file to score first (JSONL or JSON array of pairs or {"prompt","completion"} records) [default: the
    /// embedded demo's pairs; without --policy, with the demo's models, which your own --data needs --demo for].
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
    /// What credit is counted in: word (default), token or ngram.
    #[arg(long, value_enum, value_name = "UNIT")]
    unit: Option<UnitArg>,
    /// Word n-grams of N words, or of A to B words (`1-3`, the default with --unit ngram); implies --unit ngram.
    #[arg(long, value_name = "N|A-B", value_parser = parse_ngram)]
    ngram: Option<(usize, usize)>,
    /// Leave out units occurring fewer times (chosen, rejected and unpaired together).
    #[arg(long, value_name = "N", default_value_t = 3)]
    min_count: usize,
    /// Sort by: sum (default: the most negative summed r first, what the policy penalises most), mean, share,
    /// count, records, diff (mean chosen r - mean rejected r, largest first), text, or one side's sum, mean or
    /// count: chosen-sum, rejected-sum, response-sum, chosen-mean, ..., chosen-count, ...
    #[arg(long, value_name = "KEY", default_value = "sum", value_parser = parse_sort)]
    sort: SortKey,
    /// Reverse the sort order.
    #[arg(long)]
    reverse: bool,
    /// Units in the terminal table, --json and the chart.
    #[arg(long, value_name = "N", default_value_t = 20)]
    top: usize,
    /// Bins of relative position in the response.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=100))]
    bins: u16,
    /// Write every unit kept (and then those kept apart) as CSV (.csv) or JSON lines (.jsonl).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Draw the top units and the position profile as a PNG, or SVG when the name ends in .svg.
    #[arg(long, value_name = "FILE")]
    chart: Option<PathBuf>,
    /// Overwrite --out and --chart if they exist.
    #[arg(long)]
    force: bool,
    /// Print the figures as one JSON object (the top units, those kept apart, the position profile and the
    /// length bias) instead of the table.
    #[arg(long)]
    json: bool,
    /// The chart's theme: light or dark.
    #[arg(long, default_value = "light", value_parser = parse_theme)]
    theme: Theme,
    /// The chart's device pixels per logical pixel (2 for print; 0.5 to 8).
    #[arg(long, default_value_t = 2.0, value_parser = parse_pixel_ratio)]
    pixel_ratio: f32,
    /// With --data: skip records that cannot be scored instead of stopping.
    #[arg(long)]
    skip_bad: bool,
}

/// [`Inner`] and whether `--beta` was typed (with --scores, only a typed --beta rescales the file's rewards).
#[derive(Debug)]
pub struct FeaturesArgs {
    inner: Inner,
    beta_given: bool,
}

impl FromArgMatches for FeaturesArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(Self {
            inner: Inner::from_arg_matches(m)?,
            beta_given: m.value_source("beta") == Some(ValueSource::CommandLine),
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        self.inner.update_from_arg_matches(m)?;
        self.beta_given = m.value_source("beta") == Some(ValueSource::CommandLine);
        Ok(())
    }
}

impl Args for FeaturesArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        Inner::augment_args(cmd)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Inner::augment_args_for_update(cmd)
    }
}

fn parse_ngram(s: &str) -> Result<(usize, usize), String> {
    let num = |t: &str| {
        t.trim()
            .parse::<usize>()
            .map_err(|_| format!("`{s}` is not N or A-B (e.g. 3, or 1-3)"))
    };
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let n = num(s)?;
            (n, n)
        }
    };
    FeatureUnit::ngram(a, b).map_err(|e| e.to_string())?;
    Ok((a, b))
}

fn parse_sort(s: &str) -> Result<SortKey, String> {
    s.parse()
}

fn parse_theme(s: &str) -> Result<Theme, String> {
    match s {
        "light" => Ok(Theme::Light),
        "dark" => Ok(Theme::Dark),
        _ => Err(format!("unknown theme `{s}`; use light or dark")),
    }
}

fn parse_pixel_ratio(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(k) if (0.5..=8.0).contains(&k) => Ok(k),
        Ok(k) => Err(format!("{k} is not in 0.5..=8 (2 for print)")),
        Err(e) => Err(format!("not a number: {e}")),
    }
}

impl Inner {
    fn unit(&self) -> anyhow::Result<FeatureUnit> {
        Ok(match (self.unit, self.ngram) {
            (None | Some(UnitArg::Word), None) => FeatureUnit::Word,
            (Some(UnitArg::Token), None) => FeatureUnit::Token,
            (Some(UnitArg::Ngram), None) => FeatureUnit::ngram(1, 3)?,
            (None | Some(UnitArg::Ngram), Some((a, b))) => FeatureUnit::ngram(a, b)?,
            (Some(u), Some(_)) => bail!(
                "--ngram counts word n-grams, but --unit {} was given; drop one of them",
                if u == UnitArg::Token { "token" } else { "word" }
            ),
        })
    }

    fn options(&self) -> anyhow::Result<FeatureOptions> {
        Ok(FeatureOptions {
            unit: self.unit()?,
            min_count: self.min_count,
            sort: self.sort,
            reverse: self.reverse,
            bins: usize::from(self.bins),
        })
    }
}

pub fn run(args: FeaturesArgs) -> anyhow::Result<()> {
    let FeaturesArgs {
        inner: a,
        beta_given,
    } = args;
    let options = a.options()?;
    if let Some(out) = &a.out {
        Format::from_path(out).context("--out")?;
    }
    if let Some(c) = &a.chart {
        let ext = c.extension().map(|e| e.to_string_lossy().to_lowercase());
        if !matches!(ext.as_deref(), Some("png" | "svg")) {
            bail!(
                "--chart {}: charts are written as PNG or SVG; end the name in .png or .svg",
                c.display()
            );
        }
        if a.out
            .as_deref()
            .is_some_and(|o| creditlens::partial_file::same_file(o, c))
        {
            bail!("--out and --chart name the same file; give them different names");
        }
    }
    a.models.options(0).validate()?;
    let started = Instant::now();
    let (features, input) = match &a.scores {
        Some(path) => {
            // Open the outputs first, so that a bad --out fails at once.
            let outs = open_outputs(&a, path)?;
            let beta = beta_given.then_some(a.models.beta);
            let f = features_of_scores_file(path, beta, &options)?;
            finish(&a, &f, outs)?;
            (f, path.display().to_string())
        }
        None => {
            let own = a.data.is_some().then_some("--data");
            a.models.check(own)?;
            let data = match &a.data {
                Some(d) => d.clone(),
                None => DemoAssets::locate()?.pairs(),
            };
            let entries = read_entries(&data)?;
            let outs = open_outputs(&a, &data)?;
            let scorer = a.models.load(0, own)?;
            let mut builder = FeatureBuilder::new(&options);
            let skipped = score_entries(
                &scorer,
                entries,
                &data,
                a.skip_bad,
                "scoring",
                |_, scored| {
                    builder.add(&scored);
                    Ok(())
                },
            )?;
            if skipped > 0 {
                eprintln!("skipped {skipped} bad record(s)");
            }
            let f = builder.finish();
            finish(&a, &f, outs)?;
            (f, data.display().to_string())
        }
    };
    if features.records == 0 {
        eprintln!("warning: {input}: no scored records");
    }
    if a.json {
        println!("{}", serde_json::to_string(&features.to_json(Some(a.top)))?);
    } else {
        print_report(&features, a.top, &input);
    }
    eprintln!(
        "{} record(s) in {:.2} s",
        features.records,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The `--out` and `--chart` outputs, opened (refused if they exist without --force, or are the input).
struct Outputs {
    out: Option<Out>,
    chart: Option<Out>,
}

fn open_outputs(a: &Inner, input: &Path) -> anyhow::Result<Outputs> {
    let out = match &a.out {
        Some(p) => Some(Out::create(Some(p), a.force, &[input])?),
        None => None,
    };
    let chart = match &a.chart {
        Some(p) => Some(Out::create(Some(p), a.force, &[input])?),
        None => None,
    };
    Ok(Outputs { out, chart })
}

/// Writes `--out` and `--chart`.
fn finish(a: &Inner, f: &Features, outs: Outputs) -> anyhow::Result<()> {
    if let (Some(mut out), Some(path)) = (outs.out, &a.out) {
        let w = out.writer();
        match Format::from_path(path)? {
            Format::Csv => f.write_csv(w)?,
            Format::Jsonl => f.write_jsonl(w)?,
        }
        out.finish()?;
        eprintln!(
            "wrote {} {}s and {} unit(s) kept apart to {}",
            f.units.len(),
            f.unit.name(),
            f.apart.len(),
            path.display()
        );
    }
    if let (Some(mut out), Some(path)) = (outs.chart, &a.chart) {
        let opts = ChartOptions {
            top: a.top,
            theme: a.theme,
            pixel_ratio: a.pixel_ratio,
            title: title(f),
            ..ChartOptions::default()
        };
        let drawn = chart(f, &opts)?;
        let svg = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
        let bytes = if svg {
            drawn.svg.into_bytes()
        } else {
            drawn.png()?
        };
        out.writer()
            .write_all(&bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
        out.finish()?;
        eprintln!(
            "wrote {} ({}x{} pixels)",
            path.display(),
            drawn.image.width(),
            drawn.image.height()
        );
    }
    Ok(())
}

/// The chart's title.
fn title(f: &Features) -> String {
    let mut what = Vec::new();
    if f.pairs > 0 {
        what.push(format!("{} pairs", f.pairs));
    }
    if f.unpaired > 0 {
        what.push(format!("{} unpaired responses", f.unpaired));
    }
    format!(
        "Credit by {}: {}",
        f.unit.name(),
        if what.is_empty() {
            "no records".to_string()
        } else {
            what.join(", ")
        }
    )
}

/// A number for the table: sign and four decimals, or `-` for none.
fn num(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:+.4}"))
}

fn print_report(f: &Features, top: usize, input: &str) {
    let unit = f.unit.name();
    println!(
        "{input}: {} pair(s), {} unpaired; credit by {unit} ({}); {} distinct, {} with at least {} occurrence(s); sorted by {}{}",
        f.pairs,
        f.unpaired,
        match f.unit {
            FeatureUnit::Token => "by token text",
            FeatureUnit::Word => "a word's r is the sum of its tokens' r_t",
            FeatureUnit::Ngram { .. } => "an n-gram's r is the sum of its words' r",
        },
        f.distinct,
        f.units.len(),
        f.options.min_count,
        f.options.sort.name(),
        if f.options.reverse { " (reversed)" } else { "" }
    );
    let sides: Vec<Side> = Side::ALL.into_iter().filter(|&s| f.has_side(s)).collect();
    println!();
    print_units(&f.units, top, &sides, &unit, f.pairs > 0);
    if !f.apart.is_empty() {
        println!();
        println!("kept apart (template, special and white-space tokens, by token text):");
        print_units(&f.apart, top, &sides, "token", f.pairs > 0);
    }
    println!();
    print_position(f, &sides);
    println!();
    print_length(f, &sides);
}

fn print_units(units: &[UnitStats], top: usize, sides: &[Side], unit: &str, diff: bool) {
    let shown: Vec<&UnitStats> = units.iter().take(top).collect();
    let texts: Vec<String> = shown.iter().map(|u| display_text(&u.text)).collect();
    let w = texts
        .iter()
        .map(|t| t.chars().count())
        .chain([unit.chars().count()])
        .max()
        .unwrap_or(4);
    let pad = |t: &str| format!("{t}{}", " ".repeat(w.saturating_sub(t.chars().count())));
    let mut head = format!(
        "{:>4}  {}  {:>6} {:>7} {:>9} {:>9} {:>6}",
        "#",
        pad(unit),
        "count",
        "records",
        "sum r",
        "mean r",
        "share"
    );
    for s in sides {
        head += &format!(
            " | {:>8} {:>9} {:>9}",
            format!("{} n", short(*s)),
            "sum",
            "mean"
        );
    }
    if diff {
        head += &format!(" | {:>9}", "ch-rej");
    }
    println!("{head}");
    for (i, (u, t)) in shown.iter().zip(&texts).enumerate() {
        let mut row = format!(
            "{:>4}  {}  {:>6} {:>7} {:>9} {:>9} {:>5.1}%",
            i + 1,
            pad(t),
            u.count(),
            u.records,
            num(Some(u.sum())),
            num(u.mean()),
            100.0 * u.share
        );
        for &s in sides {
            let st = u.side(s);
            row += &format!(
                " | {:>8} {:>9} {:>9}",
                st.count,
                num((st.count > 0).then_some(st.sum)),
                num(st.mean())
            );
        }
        if diff {
            row += &format!(" | {:>9}", num(u.diff()));
        }
        println!("{row}");
    }
    if units.len() > shown.len() {
        println!(
            "      ... {} more (--top N shows more; --out FILE.csv writes all)",
            units.len() - shown.len()
        );
    }
    if units.is_empty() {
        println!("      (none; --min-count lower keeps rarer units)");
    }
}

fn short(s: Side) -> &'static str {
    match s {
        Side::Chosen => "chosen",
        Side::Rejected => "rej",
        Side::Response => "resp",
    }
}

fn print_position(f: &Features, sides: &[Side]) {
    let p = &f.position;
    println!(
        "mean r_t by relative position in the response ({} bins of (t + 1/2) / length, all scored tokens):",
        p.bins
    );
    let mut head = format!("{:<9}", "");
    for b in p.side(Side::Chosen) {
        head += &format!(
            " {:>8}",
            format!("{:.0}-{:.0}%", 100.0 * b.from, 100.0 * b.to)
        );
    }
    println!("{head}");
    for &s in sides {
        let mut row = format!("{:<9}", s.name());
        for b in p.side(s) {
            row += &format!(" {:>8}", num(b.mean()));
        }
        println!("{row}");
    }
}

fn print_length(f: &Features, sides: &[Side]) {
    println!(
        "sequence reward R against length (least squares over responses; a length bias if the slope is clear):"
    );
    println!(
        "{:<9} {:>9} {:>11} {:>9} {:>12} {:>9}",
        "", "responses", "mean tokens", "mean R", "slope/token", "Pearson r"
    );
    let row = |name: &str, l: &LengthFit| {
        println!(
            "{:<9} {:>9} {:>11.1} {:>9} {:>12} {:>9}",
            name,
            l.n,
            l.mean_tokens,
            num(Some(l.mean_reward)),
            l.slope.map_or("-".into(), |s| format!("{s:+.5}")),
            l.pearson.map_or("-".into(), |r| format!("{r:+.3}"))
        );
    };
    for &s in sides {
        row(s.name(), f.length.side(s));
    }
    if sides.len() > 1 {
        row("all", &f.length.all);
    }
}
