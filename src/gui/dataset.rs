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
    /// Its scores as a scores file stored them ([`Dataset::from_scores`]), shown without rescoring.
    pub stored: Option<std::sync::Arc<crate::score::RecordScore>>,
    /// Lower-cased text for searching.
    pub(super) haystack: String,
    /// The prompt as the table shows it (for a conversation, its last user message), on one line, without the
    /// text that most prompts of the file share at their start and end ([`Dataset::shared`]).
    pub prompt: String,
}

/// Least share of a file's prompts that must share a start (or an end) for the table to leave it out.
const SHARED_QUORUM: f64 = 0.8;

/// How many characters at each end of a prompt are compared with the other prompts' (a longer shared template is
/// left out in part).
const SHARED_CHARS: usize = 400;

/// How many characters of a prompt the table keeps (it is cut to the column's width anyway).
const PROMPT_CHARS: usize = 200;

/// The longest start shared by at least `quorum` of `texts`, cut back to just after whitespace so that it ends
/// between words ("Question: Wh" -> "Question: ").
fn shared_start(texts: &[Vec<char>], quorum: usize) -> Vec<char> {
    if quorum < 2 || texts.len() < quorum {
        return Vec::new();
    }
    let mut sorted: Vec<&[char]> = texts.iter().map(Vec::as_slice).collect();
    sorted.sort_unstable();
    // Texts sharing a start are neighbours once sorted: a window of `quorum` of them shares the common start of
    // its first and last.
    let common = |a: &[char], b: &[char]| a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (i, n) = (0..=sorted.len() - quorum)
        .map(|i| (i, common(sorted[i], sorted[i + quorum - 1])))
        .max_by_key(|&(_, n)| n)
        .unwrap_or((0, 0));
    let start = &sorted[i][..n];
    let cut = start
        .iter()
        .rposition(|c| c.is_whitespace())
        .map_or(0, |k| k + 1);
    start[..cut].to_vec()
}

/// The text most prompts of a file share at their start and end (e.g. a "Question: " ... " Answer:" template),
/// which the table leaves out so that the column shows what differs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharedText {
    /// Shared start.
    pub prefix: String,
    /// Shared end.
    pub suffix: String,
}

impl SharedText {
    /// The start and end shared by at least 80% of `prompts` (as the table shows them: trimmed, on one line),
    /// whole words only, each looked for in the first and last [`SHARED_CHARS`] characters; none for fewer than two
    /// prompts.
    pub fn of<'a>(prompts: impl IntoIterator<Item = &'a str>) -> Self {
        let line = |c: char| if c == '\n' || c == '\r' { ' ' } else { c };
        let (forward, backward): (Vec<Vec<char>>, Vec<Vec<char>>) = prompts
            .into_iter()
            .map(|p| {
                let p = p.trim();
                (
                    p.chars().take(SHARED_CHARS).map(line).collect(),
                    p.chars().rev().take(SHARED_CHARS).map(line).collect(),
                )
            })
            .unzip();
        let quorum = ((forward.len() as f64 * SHARED_QUORUM).ceil() as usize).max(2);
        Self {
            prefix: shared_start(&forward, quorum).into_iter().collect(),
            suffix: shared_start(&backward, quorum).into_iter().rev().collect(),
        }
    }

    /// Whether there is anything to leave out.
    pub fn is_empty(&self) -> bool {
        self.prefix.trim().is_empty() && self.suffix.trim().is_empty()
    }

    /// `prompt` (on one line) without the shared start and end; whole when nothing would be left.
    pub fn strip<'a>(&self, prompt: &'a str) -> &'a str {
        let has = |part: &str, yes: bool| !part.trim().is_empty() && yes;
        let start = if has(&self.prefix, prompt.starts_with(self.prefix.as_str())) {
            self.prefix.len()
        } else {
            0
        };
        let end = if has(&self.suffix, prompt.ends_with(self.suffix.as_str())) {
            prompt.len() - self.suffix.len()
        } else {
            prompt.len()
        };
        // Both are char boundaries: the prompt starts with the prefix and ends with the suffix.
        match prompt.get(start..end).map(str::trim) {
            Some(rest) if start < end && !rest.is_empty() => rest,
            _ => prompt,
        }
    }
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
    /// The start and end most prompts share, left out of the prompt column.
    pub shared: SharedText,
    /// Whether the rows' scores were read from a scores file (`creditlens score` output, the TRL callback's
    /// `creditlens/checkpoint-N.jsonl`) rather than computed: the file is not rescored.
    pub from_scores: bool,
    /// Only the records holding this word (chosen in the credit window).
    pub holding: Option<String>,
    /// The credit across the records scored (words), at the beta in force.
    pub credit: Option<crate::features::Features>,
    /// Rows in display order (indices into `rows`), and what they were computed for: a cache, rebuilt when the
    /// sort, filters or rows change.
    view: std::cell::RefCell<(Vec<usize>, Option<ViewKey>)>,
}

/// What a row order is computed for: sort, direction, the filter, the search, the number of rows, the word held.
type ViewKey = (SortKey, bool, bool, String, usize, Option<String>);

impl Dataset {
    /// The browser over `entries` of `path`.
    pub fn new(path: PathBuf, entries: Vec<Entry>, beta: f64) -> Self {
        let shared = SharedText::of(
            entries
                .iter()
                .filter_map(|e| e.record.as_ref().ok())
                .map(|r| r.prompt()),
        );
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
                    Ok(r) => one_line(
                        shared.strip(&one_line(r.prompt(), usize::MAX)),
                        PROMPT_CHARS,
                    ),
                    Err(_) => String::new(),
                };
                Row {
                    line: e.line,
                    record: e.record.map_err(|err| err.to_string()),
                    score: None,
                    stored: None,
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
            shared,
            from_scores: false,
            holding: None,
            credit: None,
            view: Default::default(),
        }
    }

    /// The browser over the scored records of a scores file `path` (each with its line), shown with rewards for
    /// `beta` (recomputed from the stored log-probabilities) and never rescored; the texts are the records'.
    pub fn from_scores(
        path: PathBuf,
        scores: Vec<(usize, crate::score::RecordScore)>,
        beta: f64,
    ) -> Self {
        let entries = scores
            .iter()
            .map(|(line, s)| Entry {
                index: s.index(),
                line: *line,
                record: Ok(crate::scores_file::record_of(s)),
            })
            .collect();
        let mut d = Self::new(path, entries, beta);
        for (row, (_, s)) in d.rows.iter_mut().zip(scores) {
            let mut s = s;
            s.set_beta(beta);
            row.score = Some(Ok(RowScore::of(&s, beta)));
            row.stored = Some(std::sync::Arc::new(s));
        }
        d.done = d.rows.len();
        d.from_scores = true;
        d
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
        self.credit = None;
        self.done = 0;
        self.view.borrow_mut().1 = None;
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
        self.view.borrow_mut().1 = None;
    }

    /// Shows the rewards for `beta`, rescaling the scores already in (rewards are linear in beta).
    pub fn set_beta(&mut self, beta: f64) {
        if let Some(c) = &mut self.credit {
            c.set_beta(self.beta, beta);
        }
        self.beta = beta;
        for r in &mut self.rows {
            if let Some(Ok(s)) = &mut r.score {
                s.set_beta(beta);
            }
        }
        self.view.borrow_mut().1 = None;
    }

    /// Takes the credit across the rows scored so far, computed at `beta`, shown at the beta in force.
    pub fn set_credit(&mut self, mut credit: crate::features::Features, beta: f64) {
        credit.set_beta(beta, self.beta);
        self.credit = Some(credit);
    }

    /// Shows only the records holding `word` (`None`: all).
    pub fn set_holding(&mut self, word: Option<String>) {
        self.holding = word;
        self.view.borrow_mut().1 = None;
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
                self.view.borrow_mut().1 = None;
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
    pub fn view(&self) -> Vec<usize> {
        let key = (
            self.sort.0,
            self.sort.1,
            self.only_disagreements,
            self.search.clone(),
            self.rows.len(),
            self.holding.clone(),
        );
        let mut cache = self.view.borrow_mut();
        if cache.1.as_ref() != Some(&key) {
            let needle = self.search.to_lowercase();
            let mut view: Vec<usize> = (0..self.rows.len())
                .filter(|&i| needle.is_empty() || self.rows[i].haystack.contains(&needle))
                .filter(|&i| {
                    !self.only_disagreements
                        || matches!(&self.rows[i].score, Some(Ok(s)) if s.margin < 0.0)
                })
                .filter(|&i| match &self.holding {
                    None => true,
                    Some(w) => matches!(&self.rows[i].score, Some(Ok(s)) if s.words.binary_search(w).is_ok()),
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
            *cache = (view, Some(key));
        }
        cache.0.clone()
    }

    /// Sorts by `key`, ascending or not.
    pub fn set_sort(&mut self, key: SortKey, ascending: bool) {
        self.sort = (key, ascending);
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
            words: Vec::new(),
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

    /// The prompt column leaves out what most prompts share at their start and end, in whole words, and shows a
    /// prompt whole when nothing else would be left.
    #[test]
    fn prompts_lose_the_text_most_of_them_share() {
        let prompts: Vec<String> = [
            "Question: What is the capital of France? Answer:",
            "Question: Who wrote Hamlet? Answer:",
            "Question: What is twice 7? Answer:",
            "Question: Which planet is the largest? Answer:",
            "Translate into French: cat",
        ]
        .map(String::from)
        .to_vec();
        let shared = SharedText::of(prompts.iter().map(String::as_str));
        assert_eq!(shared.prefix, "Question: ");
        assert_eq!(shared.suffix, " Answer:");
        assert_eq!(shared.strip(&prompts[0]), "What is the capital of France?");
        assert_eq!(shared.strip(&prompts[4]), "Translate into French: cat");
        assert_eq!(shared.strip("Question: Answer:"), "Question: Answer:");
        // Too few share anything (2 of 4 < 80%), or a single prompt: nothing is left out.
        let few: Vec<String> = ["Q: a?", "Q: b?", "x", "y"].map(String::from).to_vec();
        assert!(SharedText::of(few.iter().map(String::as_str)).is_empty());
        assert!(SharedText::of(prompts[..1].iter().map(String::as_str)).is_empty());
        // A start that ends inside a word is cut back to the last whole word.
        let words: Vec<String> = ["Q: What is a", "Q: Whence b"].map(String::from).to_vec();
        assert_eq!(
            SharedText::of(words.iter().map(String::as_str)).prefix,
            "Q: "
        );
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
