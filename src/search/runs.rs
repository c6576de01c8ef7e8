//! Reading `creditlens search` output back (for `render` and the app) and turning its candidates into scored
//! records: one candidate as a response, two as a pair (the first as chosen).

use super::SearchRun;
use crate::error::{Error, Result};
use crate::score::{PairScore, RecordScore, UnpairedScore};
use std::path::Path;

/// Whether the file at `path` looks like search output: its first record is an object with `candidates`.
pub fn is_search_output(path: &Path) -> bool {
    crate::jsonl::first_value(path)
        .is_some_and(|v| v.get("candidates").is_some() && v.get("beams").is_some())
}

/// The runs of a search output file (one JSON object per line), naming `file:line` when one cannot be read.
pub fn read_runs(path: &Path) -> Result<Vec<SearchRun>> {
    let runs = crate::jsonl::read(
        path,
        "`creditlens search` output",
        "no search runs in the file",
    )?;
    Ok(runs.into_iter().map(|(_, run)| run).collect())
}

impl SearchRun {
    /// What the run is called in tables: `greedy`, `beam 4`, `8 samples`.
    pub fn label(&self) -> String {
        match (self.beams, self.samples) {
            (0, Some(n)) => format!("{n} samples"),
            (1, _) => "greedy".into(),
            (k, _) => format!("beam {k}"),
        }
    }

    /// Candidate `a` as a scored response, or with `b` as a pair (`a` as chosen, `b` as rejected), with rewards
    /// for `beta`.
    pub fn record(
        &self,
        a: usize,
        b: Option<(&SearchRun, usize)>,
        beta: f64,
    ) -> Result<RecordScore> {
        let pick = |run: &SearchRun, i: usize| {
            run.candidates.get(i).map(|c| c.response.clone()).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "candidate {i} is out of range: the run ({}) has {} candidate(s), numbered from 0",
                    run.label(),
                    run.candidates.len()
                ))
            })
        };
        let mut first = pick(self, a)?;
        first.set_beta(beta);
        Ok(match b {
            None => RecordScore::Unpaired(UnpairedScore {
                index: self.index,
                prompt: self.prompt.clone(),
                response: first,
                warnings: Vec::new(),
                prompt_tokens: Vec::new(),
            }),
            Some((run, i)) => {
                let mut second = pick(run, i)?;
                second.set_beta(beta);
                let margin = first.reward - second.reward;
                RecordScore::Pair(PairScore {
                    index: self.index,
                    prompt: self.prompt.clone(),
                    chosen: first,
                    rejected: second,
                    margin,
                    preference_prob: 1.0 / (1.0 + (-margin).exp()),
                    warnings: Vec::new(),
                    prompt_tokens: Vec::new(),
                })
            }
        })
    }
}
