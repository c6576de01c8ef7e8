//! The orders the unit table can be sorted in.

use super::*;

/// What the units are sorted by. Sums and means sort ascending (the most negative first: what the policy
/// penalises most); counts, records and share descending; `diff` descending (what is scored higher in chosen than
/// in rejected first); `text` alphabetically. Units without a value (a mean or difference on a side where they do
/// not occur) come last; ties go by text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Summed reward, every side.
    #[default]
    Sum,
    /// Mean reward per occurrence, every side.
    Mean,
    /// Share of all |reward|.
    Share,
    /// Occurrences, every side.
    Count,
    /// Records holding the unit.
    Records,
    /// Mean chosen reward - mean rejected reward.
    Diff,
    /// The unit's text.
    Text,
    /// Summed reward on one side.
    SideSum(Side),
    /// Mean reward on one side.
    SideMean(Side),
    /// Occurrences on one side.
    SideCount(Side),
}

impl SortKey {
    /// Every key, in the order `--help` lists them.
    pub fn all() -> Vec<SortKey> {
        let mut keys = vec![
            SortKey::Sum,
            SortKey::Mean,
            SortKey::Share,
            SortKey::Count,
            SortKey::Records,
            SortKey::Diff,
            SortKey::Text,
        ];
        for side in Side::ALL {
            keys.extend([
                SortKey::SideSum(side),
                SortKey::SideMean(side),
                SortKey::SideCount(side),
            ]);
        }
        keys
    }

    /// Its name: `sum`, `mean`, `share`, `count`, `records`, `diff`, `text`, `chosen-sum`, `rejected-mean`, ...
    pub fn name(self) -> String {
        match self {
            SortKey::Sum => "sum".into(),
            SortKey::Mean => "mean".into(),
            SortKey::Share => "share".into(),
            SortKey::Count => "count".into(),
            SortKey::Records => "records".into(),
            SortKey::Diff => "diff".into(),
            SortKey::Text => "text".into(),
            SortKey::SideSum(s) => format!("{}-sum", s.name()),
            SortKey::SideMean(s) => format!("{}-mean", s.name()),
            SortKey::SideCount(s) => format!("{}-count", s.name()),
        }
    }

    /// Whether its natural order is ascending (sums, means, text) rather than descending.
    pub fn ascending(self) -> bool {
        matches!(
            self,
            SortKey::Sum
                | SortKey::Mean
                | SortKey::Text
                | SortKey::SideSum(_)
                | SortKey::SideMean(_)
        )
    }

    /// The number `u` is sorted by (`None`: no value; `text` has none either).
    pub fn value(self, u: &UnitStats) -> Option<f64> {
        match self {
            SortKey::Sum => Some(u.sum()),
            SortKey::Mean => u.mean(),
            SortKey::Share => Some(u.share),
            SortKey::Count => Some(u.count() as f64),
            SortKey::Records => Some(u.records as f64),
            SortKey::Diff => u.diff(),
            SortKey::Text => None,
            SortKey::SideSum(s) => {
                let side = u.side(s);
                (side.count > 0).then_some(side.sum)
            }
            SortKey::SideMean(s) => u.side(s).mean(),
            SortKey::SideCount(s) => Some(u.side(s).count as f64),
        }
    }

    /// How `a` and `b` compare under this key (`reverse` flips the natural order; missing values stay last).
    pub fn compare(self, a: &UnitStats, b: &UnitStats, reverse: bool) -> Ordering {
        let by_text = || {
            a.text
                .cmp(&b.text)
                .then(kind_rank(a.kind).cmp(&kind_rank(b.kind)))
        };
        if self == SortKey::Text {
            let o = by_text();
            return if reverse { o.reverse() } else { o };
        }
        let ord = match (self.value(a), self.value(b)) {
            (Some(x), Some(y)) => {
                let o = x.total_cmp(&y);
                let o = if self.ascending() { o } else { o.reverse() };
                if reverse { o.reverse() } else { o }
            }
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        ord.then_with(by_text)
    }
}

impl std::str::FromStr for SortKey {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        SortKey::all()
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<String> = SortKey::all().into_iter().map(SortKey::name).collect();
                format!("unknown sort key `{s}`; choose one of {}", names.join(", "))
            })
    }
}

pub(super) fn kind_rank(k: UnitKind) -> u8 {
    match k {
        UnitKind::Word => 0,
        UnitKind::Space => 1,
        UnitKind::Special => 2,
    }
}

/// Sorts `units` by `key` (see [`SortKey`]).
pub fn sort_units(units: &mut [UnitStats], key: SortKey, reverse: bool) {
    units.sort_by(|a, b| key.compare(a, b, reverse));
}
