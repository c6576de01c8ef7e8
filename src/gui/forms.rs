//! The choices the views' forms hold, as an [`super::Action`] carries them to [`super::App::apply`] and the app
//! keeps them: the plots panel's tab, the credit tab's table, the search window's request. They live apart from
//! the views that draw them so that actions, the app and the views all depend on them and not on one another.

use crate::features::{Side, SortKey};

/// Which plot the bottom panel shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlotTab {
    /// Per-token bars and cumulative reward.
    Tokens,
    /// Rewards across checkpoints.
    Drift,
    /// Token x checkpoint heatmap.
    TokenByCheckpoint,
    /// The words that carry the most credit across the data file.
    Credit,
}

/// The tab's choices, as an [`Action::SetCredit`] carries them.
#[derive(Debug, Clone, PartialEq)]
pub struct CreditForm {
    /// The side whose figures rank the words.
    pub side: Side,
    /// Sort key within the side (its summed reward by default: the most penalised first).
    pub sort: CreditSort,
    /// Fewest occurrences on the side for a word to be listed.
    pub min_count: usize,
    /// Where "Save" writes: `.csv`/`.jsonl` the table, `.png`/`.svg` the chart.
    pub path: String,
}

impl Default for CreditForm {
    fn default() -> Self {
        Self {
            side: Side::Rejected,
            sort: CreditSort::Sum,
            min_count: 2,
            path: "credit.csv".into(),
        }
    }
}

/// The table's sort columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreditSort {
    /// Summed reward on the side, most negative first.
    Sum,
    /// Mean reward per occurrence on the side, most negative first.
    Mean,
    /// Occurrences on the side, most first.
    Count,
    /// Mean chosen reward - mean rejected reward, largest first.
    Diff,
    /// Share of all |reward|, largest first.
    Share,
}

impl CreditSort {
    /// The features' sort key for this column on `side`.
    pub fn key(self, side: Side) -> SortKey {
        match self {
            CreditSort::Sum => SortKey::SideSum(side),
            CreditSort::Mean => SortKey::SideMean(side),
            CreditSort::Count => SortKey::SideCount(side),
            CreditSort::Diff => SortKey::Diff,
            CreditSort::Share => SortKey::Share,
        }
    }
}

/// The request as typed, as an [`Action::SetSearch`] carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchForm {
    /// The prompt to continue.
    pub prompt: String,
    /// Through the chat template.
    pub chat: bool,
    /// Beam widths, comma-separated.
    pub widths: String,
    /// Most new tokens.
    pub max_new_tokens: usize,
    /// Length normalisation alpha.
    pub length_norm: f32,
}
