//! The dataset browser: the records of a data file with their scores as they arrive, sortable by any column,
//! filterable to the pairs where the reward disagrees with the label, searchable; only visible rows are laid out.

use super::job::Job;
use super::worker::RowScore;
use crate::data::{Entry, Record};
use std::path::PathBuf;

/// A sortable column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Record index in the file.
    Index,
    /// R_chosen - R_rejected.
    Margin,
    /// R_chosen.
    Chosen,
    /// R_rejected.
    Rejected,
    /// Whether the reward prefers chosen.
    Correct,
    /// Tokens of chosen.
    LenChosen,
    /// Tokens of rejected.
    LenRejected,
}

/// One record of the file.
pub struct Row {
    /// Line in the file (1-based).
    pub line: usize,
    /// The record, or why it could not be read.
    pub record: Result<Record, String>,
    /// Its scores once computed (or why scoring failed).
    pub score: Option<Result<RowScore, String>>,
    /// Lower-cased text for searching.
    pub(super) haystack: String,
    /// The prompt as the table shows it (for a conversation, its last user message), on one line.
    pub prompt: String,
}

/// `text` on one line (line breaks as spaces), cut after `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let mut out: String = text
        .trim()
        .chars()
        .take(max)
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    if text.trim().chars().count() > max {
        out.push('…');
    }
    out
}

/// The loaded data file and the browser's state.
pub struct Dataset {
    /// The file.
    pub path: PathBuf,
    /// Its records.
    pub rows: Vec<Row>,
    /// Scoring the file's records.
    pub job: Job,
    /// Rows scored so far in this run.
    pub done: usize,
    /// Seconds the last completed run took.
    pub seconds: Option<f64>,
    /// Sort column and direction.
    pub sort: (SortKey, bool),
    /// The beta the shown rewards are for.
    pub beta: f64,
    /// Only pairs whose margin is negative.
    pub only_disagreements: bool,
    /// Text search.
    pub search: String,
    /// Rows in display order (indices into `rows`); rebuilt when inputs change.
    view: Vec<usize>,
    view_key: Option<(SortKey, bool, bool, String, usize)>,
}

impl Dataset {
    /// The browser over `entries` of `path`.
    pub fn new(path: PathBuf, entries: Vec<Entry>, beta: f64) -> Self {
        let rows = entries
            .into_iter()
            .map(|e| {
                let haystack = match &e.record {
                    Ok(Record::Pair {
                        prompt,
                        chosen,
                        rejected,
                        ..
                    }) => format!("{prompt}\n{chosen}\n{rejected}").to_lowercase(),
                    Ok(Record::Unpaired {
                        prompt, completion, ..
                    }) => format!("{prompt}\n{completion}").to_lowercase(),
                    Err(_) => String::new(),
                };
                let prompt = match &e.record {
                    Ok(r) => one_line(r.prompt(), 200),
                    Err(_) => String::new(),
                };
                Row {
                    line: e.line,
                    record: e.record.map_err(|err| err.to_string()),
                    score: None,
                    haystack,
                    prompt,
                }
            })
            .collect();
        Self {
            path,
            rows,
            job: Job::default(),
            done: 0,
            seconds: None,
            sort: (SortKey::Index, true),
            beta,
            only_disagreements: false,
            search: String::new(),
            view: Vec::new(),
            view_key: None,
        }
    }

    /// The records that can be scored, with their row numbers.
    pub fn scorable(&self) -> Vec<(usize, Record)> {
        self.rows
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.record.as_ref().ok().map(|rec| (i, rec.clone())))
            .collect()
    }

    /// Forgets all scores (before rescoring with other settings).
    pub fn clear_scores(&mut self) {
        for r in &mut self.rows {
            r.score = None;
        }
        self.done = 0;
        self.view_key = None;
    }

    /// The scoring run tagged `generation` ended (after `seconds`, or cancelled): the rows take their sorted
    /// places. A stale run's end changes nothing.
    pub fn finish(&mut self, generation: u64, seconds: Option<f64>) {
        if !self.job.finish(generation, None) {
            return;
        }
        if seconds.is_some() {
            self.seconds = seconds;
        }
        self.view_key = None;
    }

    /// Shows the rewards for `beta`, rescaling the scores already in (rewards are linear in beta).
    pub fn set_beta(&mut self, beta: f64) {
        self.beta = beta;
        for r in &mut self.rows {
            if let Some(Ok(s)) = &mut r.score {
                s.set_beta(beta);
            }
        }
        self.view_key = None;
    }

    /// Records a row's score (for the beta in force, whatever beta it was computed with).
    pub fn set_score(&mut self, row: usize, mut score: Result<RowScore, String>) {
        if let Ok(s) = &mut score {
            s.set_beta(self.beta);
        }
        if let Some(r) = self.rows.get_mut(row) {
            r.score = Some(score);
            self.done += 1;
            // Sorting by a score column must see it, but not while scores pour in (rows would jump under the
            // pointer): the order is rebuilt when the run ends. The index order needs no rebuild.
            if !self.job.running() && (self.sort.0 != SortKey::Index || self.only_disagreements) {
                self.view_key = None;
            }
        }
    }

    fn key(&self, row: usize) -> f64 {
        let r = &self.rows[row];
        let s = r.score.as_ref().and_then(|s| s.as_ref().ok());
        match self.sort.0 {
            SortKey::Index => row as f64,
            SortKey::Margin => s.map_or(f64::NAN, |s| s.margin),
            SortKey::Chosen => s.map_or(f64::NAN, |s| s.reward_chosen),
            SortKey::Rejected => s.map_or(f64::NAN, |s| s.reward_rejected),
            SortKey::Correct => s.map_or(f64::NAN, |s| f64::from(u8::from(s.margin > 0.0))),
            SortKey::LenChosen => s.map_or(f64::NAN, |s| s.len_chosen as f64),
            SortKey::LenRejected => s.map_or(f64::NAN, |s| s.len_rejected as f64),
        }
    }

    /// Rows in display order after filter, search and sort (unscored rows last).
    pub fn view(&mut self) -> &[usize] {
        let key = (
            self.sort.0,
            self.sort.1,
            self.only_disagreements,
            self.search.clone(),
            self.rows.len(),
        );
        if self.view_key.as_ref() != Some(&key) {
            let needle = self.search.to_lowercase();
            let mut view: Vec<usize> = (0..self.rows.len())
                .filter(|&i| needle.is_empty() || self.rows[i].haystack.contains(&needle))
                .filter(|&i| {
                    !self.only_disagreements
                        || matches!(&self.rows[i].score, Some(Ok(s)) if s.margin < 0.0)
                })
                .collect();
            let ascending = self.sort.1;
            let keys: Vec<f64> = (0..self.rows.len()).map(|i| self.key(i)).collect();
            view.sort_by(|&a, &b| {
                let (ka, kb) = (keys[a], keys[b]);
                match (ka.is_nan(), kb.is_nan()) {
                    (true, true) => a.cmp(&b),
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ if ascending => ka.total_cmp(&kb).then(a.cmp(&b)),
                    _ => kb.total_cmp(&ka).then(a.cmp(&b)),
                }
            });
            self.view = view;
            self.view_key = Some(key);
        }
        &self.view
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset(n: usize) -> Dataset {
        let entries = (0..n)
            .map(|i| Entry {
                index: i,
                line: i + 1,
                record: Ok(Record::Pair {
                    prompt: format!("p{i}"),
                    chosen: format!("c{i}"),
                    rejected: "r".into(),
                    error_spans: vec![],
                    chat: None,
                }),
            })
            .collect();
        Dataset::new(PathBuf::from("x.jsonl"), entries, 0.1)
    }

    fn score(margin: f64) -> RowScore {
        RowScore {
            reward_chosen: margin,
            reward_rejected: 0.0,
            margin,
            len_chosen: 1,
            len_rejected: 1,
            beta: 0.1,
        }
    }

    #[test]
    fn sorts_filters_and_searches() {
        let mut d = dataset(4);
        d.set_score(0, Ok(score(1.0)));
        d.set_score(1, Ok(score(-2.0)));
        d.set_score(2, Ok(score(0.5)));
        d.sort = (SortKey::Margin, true);
        assert_eq!(d.view(), &[1, 2, 0, 3]);
        d.sort = (SortKey::Margin, false);
        assert_eq!(d.view(), &[0, 2, 1, 3]);
        d.only_disagreements = true;
        assert_eq!(d.view(), &[1]);
        d.only_disagreements = false;
        d.search = "C2".into();
        assert_eq!(d.view(), &[2]);
    }

    /// While a run fills the table, rows keep their places under the pointer; they sort when it ends.
    #[test]
    fn the_order_holds_while_scores_arrive() {
        let mut d = dataset(3);
        d.sort = (SortKey::Margin, true);
        let ticket = d.job.start();
        assert_eq!(d.view(), &[0, 1, 2]);
        d.set_score(2, Ok(score(-1.0)));
        d.set_score(0, Ok(score(1.0)));
        assert_eq!(d.view(), &[0, 1, 2], "no re-sort while filling");
        d.finish(ticket.generation, Some(1.0));
        assert_eq!(d.view(), &[2, 0, 1]);
    }

    /// A new beta rescales the rewards in place (they are linear in beta), also those scored with the old one
    /// that arrive later, and the order follows.
    #[test]
    fn beta_rescales_without_rescoring() {
        let mut d = dataset(2);
        d.set_score(0, Ok(score(1.0)));
        d.set_beta(0.3);
        let s = |d: &Dataset, i: usize| d.rows[i].score.clone().unwrap().unwrap();
        assert!((s(&d, 0).margin - 3.0).abs() < 1e-12);
        d.set_score(1, Ok(score(-2.0)));
        assert!((s(&d, 1).margin + 6.0).abs() < 1e-12);
        assert_eq!(s(&d, 1).beta, 0.3);
    }
}
