//! Writing scores as they are computed: JSON lines (one record per line) or CSV (one row per token). Every record
//! is flushed when written, so an interrupted run leaves only complete lines behind. Existing files are never
//! overwritten unless asked.

use crate::error::{Error, Result};
use crate::partial_file::PartialFile;
use crate::score::RecordScore;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per record and line.
    Jsonl,
    /// One row per scored token.
    Csv,
}

impl Format {
    /// The format implied by a file name: `.csv` is CSV, `.jsonl`/`.json`/`.ndjson` JSON lines.
    pub fn from_path(path: &Path) -> Result<Self> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("csv") => Ok(Format::Csv),
            Some("jsonl") | Some("json") | Some("ndjson") => Ok(Format::Jsonl),
            _ => Err(Error::InvalidArgument(format!(
                "{}: cannot tell the output format from the extension; use .jsonl or .csv",
                path.display()
            ))),
        }
    }
}

/// The CSV columns, one row per scored token.
pub const CSV_HEADER: [&str; 16] = [
    "index",
    "response",
    "position",
    "id",
    "text",
    "start",
    "end",
    "logp_policy",
    "logp_reference",
    "reward",
    "cum_reward",
    "kl",
    "entropy_policy",
    "entropy_reference",
    "rank_policy",
    "rank_reference",
];

/// Writes scored records to a file (through its `.partial` companion until [`ScoreWriter::finish`]) or stdout.
pub struct ScoreWriter {
    out: Box<dyn Write>,
    file: Option<PartialFile>,
    format: Format,
    path: Option<PathBuf>,
    wrote_header: bool,
    context: Vec<(String, String)>,
}

impl ScoreWriter {
    /// Writes JSON lines to standard output.
    pub fn stdout() -> Self {
        Self {
            out: Box::new(std::io::stdout()),
            file: None,
            format: Format::Jsonl,
            path: None,
            wrote_header: false,
            context: Vec::new(),
        }
    }

    /// Creates `path` (format from its extension), written as `<path>.partial` until [`ScoreWriter::finish`]
    /// renames it. An existing file is an error unless `overwrite`; another run writing it, always.
    pub fn create(path: &Path, overwrite: bool) -> Result<Self> {
        Ok(Self::open(path, overwrite, false)?.0)
    }

    /// [`ScoreWriter::create`], or with `resume` the continuation of an interrupted run's `<path>.partial`: its
    /// complete lines are kept and returned (a torn last line is dropped).
    pub fn open(path: &Path, overwrite: bool, resume: bool) -> Result<(Self, Vec<String>)> {
        let format = Format::from_path(path)?;
        let (file, kept) = PartialFile::create(path, overwrite, resume)?;
        Ok((
            Self {
                out: Box::new(std::io::sink()),
                file: Some(file),
                format,
                path: Some(path.to_path_buf()),
                wrote_header: format == Format::Csv && !kept.is_empty(),
                context: Vec::new(),
            },
            kept,
        ))
    }

    /// The run completed: a file output takes its name (nothing to do for stdout). Without this call a file
    /// output stays `<path>.partial`.
    pub fn finish(self) -> Result<()> {
        match self.file {
            Some(f) => f.finish(),
            None => Ok(()),
        }
    }

    /// Adds fields that hold for every record written (the app's export: `beta`, `policy`, `reference`): JSON
    /// objects get them as keys, CSV rows as trailing columns.
    pub fn with_context(mut self, context: Vec<(String, String)>) -> Self {
        self.context = context;
        self
    }

    fn io_error(&self, e: std::io::Error) -> Error {
        Error::io(
            self.path
                .clone()
                .unwrap_or_else(|| PathBuf::from("<stdout>")),
            e,
        )
    }

    /// Writes one record and flushes it.
    pub fn write(&mut self, record: &RecordScore) -> Result<()> {
        let bytes = match self.format {
            Format::Jsonl => {
                let value = record_json(record, &self.context)?;
                let mut line = serde_json::to_vec(&value)
                    .map_err(|e| Error::Output(format!("cannot serialise scores: {e}")))?;
                line.push(b'\n');
                line
            }
            Format::Csv => self.csv_rows(record)?,
        };
        let out: &mut dyn Write = match &mut self.file {
            Some(f) => f.file(),
            None => &mut self.out,
        };
        let result = out.write_all(&bytes).and_then(|_| out.flush());
        result.map_err(|e| self.io_error(e))
    }

    fn csv_rows(&mut self, record: &RecordScore) -> Result<Vec<u8>> {
        let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
        let err = |e: csv::Error| Error::Output(format!("cannot write CSV: {e}"));
        if !self.wrote_header {
            let header = CSV_HEADER
                .iter()
                .map(|h| h.to_string())
                .chain(self.context.iter().map(|(k, _)| k.clone()));
            w.write_record(header).map_err(err)?;
            self.wrote_header = true;
        }
        for (name, resp) in record.responses() {
            for (pos, t) in resp.tokens.iter().enumerate() {
                w.write_record(
                    [
                        record.index().to_string(),
                        name.to_string(),
                        pos.to_string(),
                        t.id.to_string(),
                        t.text.clone(),
                        t.start.to_string(),
                        t.end.to_string(),
                        t.logp_policy.to_string(),
                        t.logp_reference.to_string(),
                        t.reward.to_string(),
                        t.cum_reward.to_string(),
                        t.kl.to_string(),
                        t.entropy_policy.to_string(),
                        t.entropy_reference.to_string(),
                        t.rank_policy.to_string(),
                        t.rank_reference.to_string(),
                    ]
                    .into_iter()
                    .chain(self.context.iter().map(|(_, v)| v.clone())),
                )
                .map_err(err)?;
            }
        }
        w.into_inner()
            .map_err(|e| Error::Output(format!("cannot write CSV: {e}")))
    }
}

/// A scored record as a JSON object, with the `context` fields added as keys.
pub fn record_json(
    record: &RecordScore,
    context: &[(String, String)],
) -> Result<serde_json::Value> {
    let mut value = serde_json::to_value(record)
        .map_err(|e| Error::Output(format!("cannot serialise scores: {e}")))?;
    if let Some(obj) = value.as_object_mut() {
        for (k, v) in context {
            obj.insert(k.clone(), context_value(v));
        }
    }
    Ok(value)
}

/// A context value in JSON: a number when it reads as one, else a string.
fn context_value(v: &str) -> serde_json::Value {
    v.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or_else(
            || serde_json::Value::String(v.to_string()),
            serde_json::Value::Number,
        )
}
