//! Reading `creditlens score` output for [`super::features`] fast: only the fields the figures need are parsed
//! (the top-k lists, KL, entropies and ranks are skipped unparsed), lines are parsed in parallel, and the chunks
//! are merged in file order, so the numbers are those of [`super::features`] on the same records.

use super::{CHUNK, FeatureBuilder, FeatureOptions, Features, Partial, Side};
use crate::error::{Error, Result};
use crate::score::{ResponseScore, TokenScore};
use rayon::prelude::*;
use serde::Deserialize;
use std::path::Path;

/// A line of `creditlens score` output, with what the figures need.
#[derive(Deserialize)]
#[serde(expecting = "a scored record {\"chosen\", \"rejected\"} or {\"response\"}")]
struct LeanRecord {
    chosen: Option<LeanResponse>,
    rejected: Option<LeanResponse>,
    response: Option<LeanResponse>,
}

#[derive(Deserialize)]
#[serde(expecting = "a scored response {\"text\", \"reward\", \"tokens\", ...}")]
struct LeanResponse {
    text: String,
    reward: f64,
    logp_policy: f64,
    logp_reference: f64,
    tokens: Vec<LeanToken>,
}

#[derive(Deserialize)]
#[serde(expecting = "a scored token {\"text\", \"start\", \"end\", \"reward\", ...}")]
struct LeanToken {
    text: String,
    start: usize,
    end: usize,
    #[serde(default)]
    template: bool,
    logp_policy: f64,
    logp_reference: f64,
    reward: f64,
}

impl LeanResponse {
    /// As a [`ResponseScore`] (fields the figures do not read are zero), rescaled to `beta` if given.
    fn into_score(self, beta: Option<f64>) -> ResponseScore {
        let mut cum = 0.0;
        let tokens: Vec<TokenScore> = self
            .tokens
            .into_iter()
            .map(|t| {
                cum += t.reward;
                TokenScore {
                    id: 0,
                    text: t.text,
                    start: t.start,
                    end: t.end,
                    template: t.template,
                    logp_policy: t.logp_policy,
                    logp_reference: t.logp_reference,
                    reward: t.reward,
                    cum_reward: cum,
                    kl: 0.0,
                    entropy_policy: 0.0,
                    entropy_reference: 0.0,
                    rank_policy: 0,
                    rank_reference: 0,
                    top_policy: Vec::new(),
                    top_reference: Vec::new(),
                }
            })
            .collect();
        let mut score = ResponseScore {
            text: self.text,
            num_tokens: tokens.len(),
            reward: self.reward,
            logp_policy: self.logp_policy,
            logp_reference: self.logp_reference,
            content_start: None,
            tokens,
        };
        if let Some(beta) = beta {
            score.set_beta(beta);
        }
        score
    }
}

/// What `--scores` takes, for error messages.
const WHAT: &str = "--scores takes the JSON lines `creditlens score --out FILE.jsonl` writes (a data file goes with --data)";

/// Parses one line into the partial figures `p`; `Err` is the message.
fn add_line(p: &mut Partial, line: &[u8], beta: Option<f64>) -> std::result::Result<(), String> {
    let rec: LeanRecord = serde_json::from_slice(line)
        .map_err(|e| format!("not a line of `creditlens score` output ({e}); {WHAT}"))?;
    match rec {
        LeanRecord {
            chosen: Some(c),
            rejected: Some(r),
            response: None,
        } => {
            let (c, r) = (c.into_score(beta), r.into_score(beta));
            p.add_record(&[(Side::Chosen, &c), (Side::Rejected, &r)]);
        }
        LeanRecord {
            chosen: None,
            rejected: None,
            response: Some(u),
        } => {
            let u = u.into_score(beta);
            p.add_record(&[(Side::Response, &u)]);
        }
        _ => {
            return Err(format!(
                "a scored record has either `chosen` and `rejected` or `response`; {WHAT}"
            ));
        }
    }
    Ok(())
}

/// The file's bytes: memory-mapped where it is a regular file, else read.
enum Bytes {
    Map(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Map(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

fn read_bytes(path: &Path) -> Result<Bytes> {
    if !path.exists() {
        return Err(Error::NotFound {
            path: path.to_path_buf(),
        });
    }
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::InvalidArgument(format!(
            "{}: is a folder; {WHAT}",
            path.display()
        )));
    }
    if meta.is_file() && meta.len() > 0 {
        // SAFETY: a read-only map of a file we only read; like the model loaders we rely on it not being
        // modified while it is read.
        if let Ok(m) = unsafe { memmap2::Mmap::map(&file) } {
            return Ok(Bytes::Map(m));
        }
    }
    std::fs::read(path)
        .map(Bytes::Owned)
        .map_err(|e| Error::io(path, e))
}

/// The figures of a `creditlens score` JSON-lines file (see [`super::features`]); `beta`, if given, rescales every
/// reward from the stored log-probabilities (as [`crate::score::RecordScore::set_beta`]), else the file's rewards
/// (at the beta it was scored with) are used. Blank lines are skipped; a line that is not a scored record is an
/// error naming `file:line`.
pub fn features_of_scores_file(
    path: &Path,
    beta: Option<f64>,
    options: &FeatureOptions,
) -> Result<Features> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        return Err(Error::InvalidArgument(format!(
            "{}: the CSV output of `creditlens score` has no response texts, which words need; {WHAT}",
            path.display()
        )));
    }
    let bytes = read_bytes(path)?;
    // (1-based line number, line) of every non-blank line.
    let lines: Vec<(usize, &[u8])> = bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.trim_ascii().is_empty())
        .map(|(i, l)| (i + 1, l))
        .collect();
    let partials: Vec<std::result::Result<Partial, (usize, String)>> = lines
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut p = Partial::new(options);
            for &(line_no, line) in chunk {
                add_line(&mut p, line, beta).map_err(|e| (line_no, e))?;
            }
            Ok(p)
        })
        .collect();
    let mut builder = FeatureBuilder::new(options);
    for p in partials {
        let p = p.map_err(|(line, message)| Error::Data {
            location: format!("{}:{line}", path.display()),
            message,
        })?;
        builder.merge_chunk(p);
    }
    Ok(builder.finish())
}
