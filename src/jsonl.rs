//! JSON-lines files creditlens writes (`score`, `search` output), read back: one object per non-empty line, a
//! byte-order mark tolerated, errors naming `file:line`.

use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use std::path::Path;

/// The first non-empty line of `path` as JSON; `None` when the file cannot be read or that line is not JSON.
pub fn first_value(path: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| !l.trim().is_empty())?;
    serde_json::from_str(line.trim_start_matches('\u{feff}')).ok()
}

/// Every non-empty line of `path` as a `T`, with its 1-based line number. A line that is not one is an error
/// naming `file:line` and saying it is not a line of `what` (`creditlens search` output); a file without any is
/// an error saying `none`.
pub fn read<T: DeserializeOwned>(path: &Path, what: &str, none: &str) -> Result<Vec<(usize, T)>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut values = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(line).map_err(|e| Error::Data {
            location: format!("{}:{}", path.display(), i + 1),
            message: format!("not a line of {what}: {e}"),
        })?;
        values.push((i + 1, value));
    }
    if values.is_empty() {
        return Err(Error::Data {
            location: path.display().to_string(),
            message: none.into(),
        });
    }
    Ok(values)
}
