//! A unit's figures across the dataset, per side, and the flat row written to CSV and JSON lines.

use super::*;

/// A unit's figures on one side.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct SideStats {
    /// Occurrences.
    pub count: usize,
    /// Responses (on this side) holding it at least once.
    pub records: usize,
    /// Sum of its reward over its occurrences.
    pub sum: f64,
    /// Sum of |reward| over its occurrences.
    pub abs_sum: f64,
}

impl SideStats {
    /// Mean reward per occurrence (`None` when it does not occur on this side).
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    pub(super) fn merge(&mut self, o: &SideStats) {
        self.count += o.count;
        self.records += o.records;
        self.sum += o.sum;
        self.abs_sum += o.abs_sum;
    }
}

/// Everything known about one unit across the dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitStats {
    /// The unit's text.
    pub text: String,
    /// [`UnitKind::Word`] for the table's units; `Space` or `Special` for the units kept apart.
    pub kind: UnitKind,
    /// In chosen responses.
    pub chosen: SideStats,
    /// In rejected responses.
    pub rejected: SideStats,
    /// In unpaired responses.
    pub response: SideStats,
    /// Records holding it in any response.
    pub records: usize,
    /// Its share of all |reward|: its sum of |reward| over the sum of |reward| of every occurrence of every unit.
    pub share: f64,
}

impl UnitStats {
    /// Its figures on `side`.
    pub fn side(&self, side: Side) -> &SideStats {
        match side {
            Side::Chosen => &self.chosen,
            Side::Rejected => &self.rejected,
            Side::Response => &self.response,
        }
    }

    /// Occurrences on every side.
    pub fn count(&self) -> usize {
        self.chosen.count + self.rejected.count + self.response.count
    }

    /// Summed reward on every side.
    pub fn sum(&self) -> f64 {
        self.chosen.sum + self.rejected.sum + self.response.sum
    }

    /// Summed |reward| on every side.
    pub fn abs_sum(&self) -> f64 {
        self.chosen.abs_sum + self.rejected.abs_sum + self.response.abs_sum
    }

    /// Mean reward per occurrence, every side together.
    pub fn mean(&self) -> Option<f64> {
        let n = self.count();
        (n > 0).then(|| self.sum() / n as f64)
    }

    /// How differently it is scored in chosen and in rejected: mean chosen reward - mean rejected reward
    /// (`None` unless it occurs on both sides).
    pub fn diff(&self) -> Option<f64> {
        Some(self.chosen.mean()? - self.rejected.mean()?)
    }

    /// The flat row written to CSV and JSON lines (`rank`: its 1-based place in its table).
    pub fn row(&self, rank: usize) -> UnitRow {
        UnitRow {
            rank,
            unit: self.text.clone(),
            kind: kind_name(self.kind),
            count: self.count(),
            records: self.records,
            sum: self.sum(),
            mean: self.mean(),
            share: self.share,
            diff: self.diff(),
            chosen_count: self.chosen.count,
            chosen_records: self.chosen.records,
            chosen_sum: self.chosen.sum,
            chosen_mean: self.chosen.mean(),
            rejected_count: self.rejected.count,
            rejected_records: self.rejected.records,
            rejected_sum: self.rejected.sum,
            rejected_mean: self.rejected.mean(),
            response_count: self.response.count,
            response_records: self.response.records,
            response_sum: self.response.sum,
            response_mean: self.response.mean(),
        }
    }
}

/// `word`, `space` or `special`.
pub fn kind_name(kind: UnitKind) -> &'static str {
    match kind {
        UnitKind::Word => "word",
        UnitKind::Space => "space",
        UnitKind::Special => "special",
    }
}

/// One unit as a row of `creditlens features --out` (CSV columns and JSON keys, in this order); means and the
/// difference are empty (CSV) or `null` (JSON) where the unit does not occur on the side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnitRow {
    /// 1-based place in the sorted table (the units kept apart are ranked among themselves).
    pub rank: usize,
    /// The unit's text.
    pub unit: String,
    /// `word` (words, tokens of words, n-grams), `space` or `special`.
    pub kind: &'static str,
    /// Occurrences on every side.
    pub count: usize,
    /// Records holding it.
    pub records: usize,
    /// Summed reward, every side.
    pub sum: f64,
    /// Mean reward per occurrence, every side.
    pub mean: Option<f64>,
    /// Share of all |reward|.
    pub share: f64,
    /// Mean chosen reward - mean rejected reward.
    pub diff: Option<f64>,
    /// Occurrences in chosen responses.
    pub chosen_count: usize,
    /// Chosen responses holding it.
    pub chosen_records: usize,
    /// Summed reward in chosen responses.
    pub chosen_sum: f64,
    /// Mean reward in chosen responses.
    pub chosen_mean: Option<f64>,
    /// Occurrences in rejected responses.
    pub rejected_count: usize,
    /// Rejected responses holding it.
    pub rejected_records: usize,
    /// Summed reward in rejected responses.
    pub rejected_sum: f64,
    /// Mean reward in rejected responses.
    pub rejected_mean: Option<f64>,
    /// Occurrences in unpaired responses.
    pub response_count: usize,
    /// Unpaired responses holding it.
    pub response_records: usize,
    /// Summed reward in unpaired responses.
    pub response_sum: f64,
    /// Mean reward in unpaired responses.
    pub response_mean: Option<f64>,
}
