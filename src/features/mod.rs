//! Credit across a dataset: which words (tokens, word n-grams) carry the implicit reward r_t over many scored
//! records, on which side of the pairs, where in the responses, and whether the sequence reward follows length.
//!
//! One record shows where *it* puts credit; a learned cue (a template phrase the policy penalises wherever it
//! appears) only shows as a pattern across records. For every unit this module counts its occurrences in chosen,
//! rejected and unpaired ("response") responses, the records holding it, its summed and mean reward on each side,
//! its share of all |reward|, and how differently the same unit is scored in chosen and in rejected.
//!
//! - A **word** is a whitespace word with its punctuation attached ([`crate::words`]); its reward is the sum of its
//!   tokens' r_t. A **token** unit is a token's text (`" the"` and `"the"` are different units). A **word n-gram**
//!   is `n` consecutive words (joined by one space), its reward the sum of its words' rewards; n-grams do not
//!   cross a template or special token (white space tokens between words do not break them).
//! - Tokens of the chat template, special tokens (an appended EOS) and tokens of white space only are **kept
//!   apart**: they are no word and no n-gram, and are reported in [`Features::apart`] (by token text), so that
//!   credit on an end-of-turn token is seen without crowding the word table.
//! - Unit rewards are summed per occurrence; a unit's **share** is the sum of |reward| over its occurrences divided
//!   by the same sum over every occurrence of every unit (the table's and those kept apart), so shares add to 1.
//!   For tokens this is the unit's share of all |r_t|.
//!
//! [`features`] aggregates scored records in memory (the app); [`features_of_scores_file`] reads the JSON lines
//! `creditlens score` writes, without the top-k lists it does not need, in parallel. Both give the same numbers,
//! bit for bit, whatever the number of threads: records are summed in fixed chunks of [`CHUNK`], merged in order.

mod accumulate;
pub mod chart;
mod read;
mod shape;
mod sort;
mod stats;
mod units;

use accumulate::{Partial, sides_of};
pub use read::features_of_scores_file;
use shape::Moments;
pub use shape::{LengthBias, LengthFit, PositionBin, PositionProfile};
use sort::kind_rank;
pub use sort::{SortKey, sort_units};
pub use stats::{SideStats, UnitRow, UnitStats, kind_name};
pub use units::{UnitSpan, unit_spans};

use crate::error::{Error, Result};
use crate::score::{RecordScore, ResponseScore};
use crate::words::{UnitKind, words};
use rayon::prelude::*;
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::ops::Range;

/// Records summed into one partial result before it is merged (the merge order, and so the rounding, never
/// depends on threads).
pub const CHUNK: usize = 64;

/// The longest word n-gram counted.
pub const MAX_NGRAM: usize = 8;

/// The unit credit is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FeatureUnit {
    /// Each token, by its text.
    Token,
    /// Each whitespace word (punctuation attached): the sum of its tokens' r_t.
    #[default]
    Word,
    /// Runs of `min..=max` consecutive words: the sum of their words' rewards.
    Ngram {
        /// Fewest words.
        min: usize,
        /// Most words.
        max: usize,
    },
}

impl FeatureUnit {
    /// Word n-grams of `min..=max` words (1 <= min <= max <= [`MAX_NGRAM`]).
    pub fn ngram(min: usize, max: usize) -> Result<Self> {
        if min == 0 || min > max || max > MAX_NGRAM {
            return Err(Error::InvalidArgument(format!(
                "n-grams of {min} to {max} words: need 1 <= N <= {MAX_NGRAM} (e.g. 3, or a range such as 1-3)"
            )));
        }
        Ok(FeatureUnit::Ngram { min, max })
    }

    /// Its name in tables and files: `token`, `word`, `3-gram`, `1-3-gram`.
    pub fn name(self) -> String {
        match self {
            FeatureUnit::Token => "token".into(),
            FeatureUnit::Word => "word".into(),
            FeatureUnit::Ngram { min, max } if min == max => format!("{min}-gram"),
            FeatureUnit::Ngram { min, max } => format!("{min}-{max}-gram"),
        }
    }
}

/// Which response of a record a unit occurs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The preferred response of a pair.
    Chosen,
    /// The dispreferred response of a pair.
    Rejected,
    /// The response of an unpaired record.
    Response,
}

impl Side {
    /// Every side, in table order.
    pub const ALL: [Side; 3] = [Side::Chosen, Side::Rejected, Side::Response];

    /// `chosen`, `rejected` or `response`.
    pub fn name(self) -> &'static str {
        match self {
            Side::Chosen => "chosen",
            Side::Rejected => "rejected",
            Side::Response => "response",
        }
    }

    /// The side named `name` (as [`Side::name`] writes it).
    pub fn from_name(name: &str) -> Option<Side> {
        Side::ALL.into_iter().find(|s| s.name() == name)
    }

    fn index(self) -> usize {
        match self {
            Side::Chosen => 0,
            Side::Rejected => 1,
            Side::Response => 2,
        }
    }
}

/// What to count and how to present it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureOptions {
    /// Words (default), tokens or word n-grams.
    pub unit: FeatureUnit,
    /// Units occurring fewer times (all sides together) are left out of the tables.
    pub min_count: usize,
    /// What the tables are sorted by.
    pub sort: SortKey,
    /// Reverse the key's natural order.
    pub reverse: bool,
    /// Number of relative-position bins of the position profile (at least 1).
    pub bins: usize,
}

impl Default for FeatureOptions {
    fn default() -> Self {
        Self {
            unit: FeatureUnit::Word,
            min_count: 1,
            sort: SortKey::Sum,
            reverse: false,
            bins: 10,
        }
    }
}

/// The credit of a dataset, unit by unit (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// What the units are.
    pub unit: FeatureUnit,
    /// The options it was made with.
    pub options: FeatureOptions,
    /// Records read.
    pub records: usize,
    /// Of which pairs.
    pub pairs: usize,
    /// Of which unpaired responses.
    pub unpaired: usize,
    /// Scored tokens per side (chosen, rejected, response).
    pub tokens: [usize; 3],
    /// Sum of |reward| over every occurrence of every unit (the denominator of the shares).
    pub total_abs: f64,
    /// Distinct units of the table before the minimum count.
    pub distinct: usize,
    /// The units (words, tokens of words or n-grams) occurring at least `min_count` times, sorted.
    pub units: Vec<UnitStats>,
    /// The units kept apart (white space, template and special tokens, by token text), same filter and order.
    pub apart: Vec<UnitStats>,
    /// Reward against relative position.
    pub position: PositionProfile,
    /// Sequence reward against length.
    pub length: LengthBias,
}

impl Features {
    /// The figures for rewards computed with beta `from` made what they are with beta `to`
    /// ([`crate::score::rescale_rewards`]: rewards are linear in beta); counts, shares and correlations do not
    /// change. Both betas are positive, so the order is kept.
    pub fn set_beta(&mut self, from: f64, to: f64) {
        let mut rewards: Vec<&mut f64> = Vec::new();
        for u in self.units.iter_mut().chain(self.apart.iter_mut()) {
            for s in [&mut u.chosen, &mut u.rejected, &mut u.response] {
                rewards.extend([&mut s.sum, &mut s.abs_sum]);
            }
        }
        rewards.push(&mut self.total_abs);
        let p = &mut self.position;
        for b in p
            .chosen
            .iter_mut()
            .chain(&mut p.rejected)
            .chain(&mut p.response)
        {
            rewards.extend([&mut b.sum, &mut b.abs_sum]);
        }
        let l = &mut self.length;
        for f in [&mut l.chosen, &mut l.rejected, &mut l.response, &mut l.all] {
            rewards.push(&mut f.mean_reward);
            rewards.extend(f.slope.as_mut());
            rewards.extend(f.intercept.as_mut());
        }
        crate::score::rescale_rewards(from, to, rewards);
    }

    /// Whether any response of `side` was read.
    pub fn has_side(&self, side: Side) -> bool {
        match side {
            Side::Chosen | Side::Rejected => self.pairs > 0,
            Side::Response => self.unpaired > 0,
        }
    }

    /// Sorts both tables again.
    pub fn sort(&mut self, key: SortKey, reverse: bool) {
        sort_units(&mut self.units, key, reverse);
        sort_units(&mut self.apart, key, reverse);
        self.options.sort = key;
        self.options.reverse = reverse;
    }

    /// Writes the figures to `path`, as its extension says: `.csv` or `.jsonl` (every unit's row) or `.png` or
    /// `.svg` (the chart drawn with `chart`). An existing file is refused unless `overwrite`; the file appears
    /// only once complete.
    pub fn save(
        &self,
        path: &std::path::Path,
        overwrite: bool,
        chart: &chart::ChartOptions,
    ) -> Result<()> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        let bytes: Vec<u8> = match ext.as_str() {
            "csv" => {
                let mut v = Vec::new();
                self.write_csv(&mut v)?;
                v
            }
            "jsonl" => {
                let mut v = Vec::new();
                self.write_jsonl(&mut v)?;
                v
            }
            "png" => chart::chart(self, chart)?.png()?,
            "svg" => chart::chart(self, chart)?.svg.into_bytes(),
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "{}: give a .csv or .jsonl name for the table, or .png or .svg for the chart",
                    path.display()
                )));
            }
        };
        let (mut file, _) = crate::partial_file::PartialFile::create(path, overwrite, false)?;
        std::io::Write::write_all(file.file(), &bytes).map_err(|e| Error::io(path, e))?;
        file.finish()
    }

    /// The table's rows then the kept-apart units' rows, each ranked from 1.
    pub fn rows(&self) -> Vec<UnitRow> {
        let rank = |v: &[UnitStats]| -> Vec<UnitRow> {
            v.iter().enumerate().map(|(i, u)| u.row(i + 1)).collect()
        };
        let mut rows = rank(&self.units);
        rows.extend(rank(&self.apart));
        rows
    }

    /// Writes [`Features::rows`] as CSV (a header, then one row per unit) to `w`.
    pub fn write_csv(&self, w: &mut dyn std::io::Write) -> Result<()> {
        let mut out = csv::Writer::from_writer(w);
        for row in self.rows() {
            out.serialize(row)
                .map_err(|e| Error::Output(format!("cannot write CSV: {e}")))?;
        }
        out.flush()
            .map_err(|e| Error::Output(format!("cannot write CSV: {e}")))
    }

    /// Writes [`Features::rows`] as JSON lines to `w`.
    pub fn write_jsonl(&self, w: &mut dyn std::io::Write) -> Result<()> {
        for row in self.rows() {
            let mut line = serde_json::to_vec(&row)
                .map_err(|e| Error::Output(format!("cannot serialise a unit: {e}")))?;
            line.push(b'\n');
            w.write_all(&line)
                .map_err(|e| Error::Output(format!("cannot write: {e}")))?;
        }
        Ok(())
    }

    /// The whole result as one JSON object: the counts, the first `top` units of the table (all with `None`),
    /// the units kept apart, the position profile and the length bias.
    pub fn to_json(&self, top: Option<usize>) -> serde_json::Value {
        let take = top.unwrap_or(usize::MAX);
        let rows = |v: &[UnitStats]| -> Vec<UnitRow> {
            v.iter()
                .take(take)
                .enumerate()
                .map(|(i, u)| u.row(i + 1))
                .collect()
        };
        let bins = |v: &[PositionBin]| -> Vec<serde_json::Value> {
            v.iter()
                .map(|b| {
                    serde_json::json!({
                        "from": b.from, "to": b.to, "count": b.count, "sum": b.sum,
                        "mean": b.mean(), "mean_abs": b.mean_abs(),
                    })
                })
                .collect()
        };
        serde_json::json!({
            "unit": self.unit.name(),
            "records": self.records,
            "pairs": self.pairs,
            "unpaired": self.unpaired,
            "tokens": {"chosen": self.tokens[0], "rejected": self.tokens[1], "response": self.tokens[2]},
            "min_count": self.options.min_count,
            "sort": self.options.sort.name(),
            "reverse": self.options.reverse,
            "total_abs": self.total_abs,
            "distinct": self.distinct,
            "kept": self.units.len(),
            "units": rows(&self.units),
            "apart": rows(&self.apart),
            "position": {
                "bins": self.position.bins,
                "chosen": bins(&self.position.chosen),
                "rejected": bins(&self.position.rejected),
                "response": bins(&self.position.response),
            },
            "length": self.length,
        })
    }
}

/// Aggregates records one at a time (as they are scored), in chunks of [`CHUNK`], giving the same numbers as
/// [`features`] on the same records.
#[derive(Debug, Clone)]
pub struct FeatureBuilder {
    options: FeatureOptions,
    done: Partial,
    current: Partial,
    in_current: usize,
}

impl FeatureBuilder {
    /// An empty aggregate.
    pub fn new(options: &FeatureOptions) -> Self {
        Self {
            options: *options,
            done: Partial::new(options),
            current: Partial::new(options),
            in_current: 0,
        }
    }

    /// Adds one scored record.
    pub fn add(&mut self, record: &RecordScore) {
        self.current.add_record(&sides_of(record));
        self.in_current += 1;
        if self.in_current == CHUNK {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let full = std::mem::replace(&mut self.current, Partial::new(&self.options));
        self.done.merge(full);
        self.in_current = 0;
    }

    /// The figures of every record added.
    pub fn finish(mut self) -> Features {
        self.flush();
        self.done.finish(&self.options)
    }

    /// Merges one chunk's partial figures (for the parallel readers; chunks must come in order).
    fn merge_chunk(&mut self, chunk: Partial) {
        self.flush();
        self.done.merge(chunk);
    }
}

/// The credit of `records` unit by unit, aggregated in parallel (see the module documentation).
pub fn features(records: &[RecordScore], options: &FeatureOptions) -> Features {
    let partials: Vec<Partial> = records
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut p = Partial::new(options);
            for r in chunk {
                p.add_record(&sides_of(r));
            }
            p
        })
        .collect();
    let mut builder = FeatureBuilder::new(options);
    for p in partials {
        builder.merge_chunk(p);
    }
    builder.finish()
}

/// The positions in `records` of the records holding `text` as a unit of `unit` of kind `kind` (the app's filter).
pub fn records_holding(
    records: &[RecordScore],
    unit: FeatureUnit,
    text: &str,
    kind: UnitKind,
) -> Vec<usize> {
    records
        .par_iter()
        .enumerate()
        .filter(|(_, r)| {
            sides_of(r).iter().any(|(_, resp)| {
                unit_spans(resp, unit)
                    .iter()
                    .any(|s| s.kind == kind && s.text == text)
            })
        })
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests;
