//! Reading back `creditlens score` output (JSON lines of scored records): the app opens such a file, or the
//! `creditlens/checkpoint-N.jsonl` the TRL callback writes, and shows the stored scores without any model.

use crate::data::Record;
use crate::error::Result;
use crate::score::RecordScore;
use std::path::Path;

/// Whether `path` holds scored records (`creditlens score --out x.jsonl`) rather than records to score: its first
/// line is a JSON object whose response (`chosen` or `response`) carries per-token scores.
pub fn is_scores_output(path: &Path) -> bool {
    crate::jsonl::first_value(path).is_some_and(|v| {
        ["chosen", "response"].iter().any(|side| {
            v.get(side)
                .and_then(|r| r.get("tokens"))
                .is_some_and(|t| t.is_array())
        })
    })
}

/// The scored records of a `creditlens score` output file, each with the 1-based line it is on; a line that is
/// not a scored record is an error naming `file:line`.
pub fn read_scores(path: &Path) -> Result<Vec<(usize, RecordScore)>> {
    crate::jsonl::read(
        path,
        "`creditlens score` output (JSON lines)",
        "no scored records in the file",
    )
}

/// The record a scored record was scored from, as plain text (a conversation's rendered texts): what the app's
/// editor shows, and rescores when it is edited.
pub fn record_of(score: &RecordScore) -> Record {
    match score {
        RecordScore::Pair(p) => Record::Pair {
            prompt: p.prompt.clone(),
            chosen: p.chosen.text.clone(),
            rejected: p.rejected.text.clone(),
            error_spans: Vec::new(),
            chat: None,
        },
        RecordScore::Unpaired(u) => Record::Unpaired {
            prompt: u.prompt.clone(),
            completion: u.response.text.clone(),
            chat: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scored records written as `creditlens score` writes them (the tiny Llama fixture on the fixture records,
    /// pairs and unpaired) read back equal; records to score are not taken for scores; a bad line is named.
    #[test]
    fn scores_read_back_as_written() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let scorer = crate::score::Scorer::load(
            &root.join("models/llama"),
            &root.join("models/llama_ref"),
            crate::model::Dtype::F32,
            crate::score::ScoreOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let entries = crate::data::read_entries(&root.join("records.jsonl"))
            .unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("scores.jsonl");
        let (mut w, _) =
            crate::output::ScoreWriter::open(&path, false, false).unwrap_or_else(|e| panic!("{e}"));
        let mut written = Vec::new();
        for e in entries {
            let record = e.record.unwrap_or_else(|e| panic!("{e}"));
            let s = scorer
                .score_record(e.index, &record)
                .unwrap_or_else(|e| panic!("{e}"));
            w.write(&s).unwrap_or_else(|e| panic!("{e}"));
            written.push((record, s));
        }
        w.finish().unwrap_or_else(|e| panic!("{e}"));
        assert!(is_scores_output(&path));
        let scores = read_scores(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(scores.len(), written.len());
        assert!(
            written
                .iter()
                .any(|(_, s)| matches!(s, RecordScore::Unpaired(_)))
        );
        for ((line, got), (record, want)) in scores.iter().zip(&written) {
            assert_eq!(*line, want.index() + 1);
            // What is written (warnings are not) reads back to the same JSON, to the last bit of every number.
            let json = |s: &RecordScore| {
                crate::output::record_json(s, &[]).unwrap_or_else(|e| panic!("{e}"))
            };
            assert!(
                json(got) == json(want),
                "record {} reads back otherwise",
                want.index()
            );
            assert_eq!(record_of(got).prompt(), record.prompt());
            assert_eq!(record_of(got).responses(), record.responses());
        }
        assert!(!is_scores_output(&root.join("records.jsonl")));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
        let first = text.lines().next().unwrap_or_default();
        std::fs::write(&path, format!("{first}\n{{\"chosen\":{{\"tokens\":3}}}}\n"))
            .unwrap_or_else(|e| panic!("{e}"));
        let err = read_scores(&path)
            .err()
            .unwrap_or_else(|| panic!("read a bad line"))
            .to_string();
        assert!(
            err.contains("scores.jsonl:2") && err.contains("creditlens score"),
            "{err}"
        );
    }
}
