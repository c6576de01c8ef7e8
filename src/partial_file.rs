//! Output files that are never half-written or interleaved: lines go to `<name>.partial` (flushed as they come,
//! so progress can be read, and locked against a second run writing the same output), which is renamed onto the
//! name only when the run completes. An interrupted run leaves the `.partial` file with its complete lines, from
//! which `--resume` continues; the previous output, if any, stays untouched until then.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A file being written through its `.partial` companion.
#[derive(Debug)]
pub struct PartialFile {
    path: PathBuf,
    partial: PathBuf,
    file: File,
}

/// `<path>.partial`.
pub fn partial_path(path: &Path) -> PathBuf {
    suffixed(path, ".partial")
}

/// `path` with `suffix` appended to its file name (`out.jsonl` -> `out.jsonl.run.json`).
pub fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

/// Whether `a` and `b` name the same file (an output that is an input would destroy it).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

impl PartialFile {
    /// Starts writing `path`: refused when it exists and neither `overwrite` nor `resume` is set, or when another
    /// run holds its `.partial` file. With `resume`, an interrupted run's `.partial` is continued: its complete
    /// lines are kept (returned) and an incomplete last line is dropped.
    pub fn create(path: &Path, overwrite: bool, resume: bool) -> Result<(Self, Vec<String>)> {
        if path.is_dir() {
            return Err(Error::InvalidArgument(format!(
                "{}: is a folder; give a file name for the output",
                path.display()
            )));
        }
        let partial = partial_path(path);
        if resume && !partial.exists() {
            return Err(Error::InvalidArgument(format!(
                "--resume: there is no {} to continue (an interrupted run leaves it; {})",
                partial.display(),
                if path.exists() {
                    "the output is complete"
                } else {
                    "start without --resume"
                }
            )));
        }
        if path.exists() && !overwrite && !resume {
            return Err(Error::InvalidArgument(format!(
                "{}: already exists; choose another --out or pass --force to overwrite it",
                path.display()
            )));
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&partial)
            .map_err(|e| Error::io(&partial, e))?;
        if file.try_lock().is_err() {
            return Err(Error::InvalidArgument(format!(
                "{}: another creditlens run is writing this output now ({} is locked); wait for it or choose another --out",
                path.display(),
                partial.display()
            )));
        }
        let mut kept = Vec::new();
        if resume {
            let mut text = String::new();
            file.read_to_string(&mut text)
                .map_err(|e| Error::io(&partial, e))?;
            let complete = text.rfind('\n').map_or(0, |i| i + 1);
            kept = text[..complete].lines().map(str::to_string).collect();
            file.set_len(complete as u64)
                .map_err(|e| Error::io(&partial, e))?;
            file.seek(SeekFrom::End(0))
                .map_err(|e| Error::io(&partial, e))?;
        } else {
            file.set_len(0).map_err(|e| Error::io(&partial, e))?;
        }
        Ok((
            Self {
                path: path.to_path_buf(),
                partial,
                file,
            },
            kept,
        ))
    }

    /// The file the lines go to.
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Where the lines go until the run completes.
    pub fn partial(&self) -> &Path {
        &self.partial
    }

    /// The run completed: the `.partial` file becomes the output (one rename, so a reader never sees half of it).
    pub fn finish(mut self) -> Result<()> {
        self.file
            .flush()
            .and_then(|_| self.file.sync_all())
            .map_err(|e| Error::io(&self.partial, e))?;
        std::fs::rename(&self.partial, &self.path).map_err(|e| Error::io(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_under_partial_then_renamed_and_locked_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("o.jsonl");
        std::fs::write(&out, "old\n").unwrap();
        assert!(PartialFile::create(&out, false, false).is_err());
        let (mut f, kept) = PartialFile::create(&out, true, false).unwrap();
        assert!(kept.is_empty());
        writeln!(f.file(), "{{\"index\":0}}").unwrap();
        // A second writer of the same output is refused while the first holds it.
        let err = PartialFile::create(&out, true, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("another creditlens run"), "{err}");
        // Until the end the old output is untouched.
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "old\n");
        f.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "{\"index\":0}\n");
        assert!(!partial_path(&out).exists());
    }

    #[test]
    fn resume_keeps_complete_lines_and_drops_a_torn_one() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("o.jsonl");
        std::fs::write(partial_path(&out), "a\nb\nhalf").unwrap();
        let (mut f, kept) = PartialFile::create(&out, false, true).unwrap();
        assert_eq!(kept, vec!["a", "b"]);
        writeln!(f.file(), "c").unwrap();
        f.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "a\nb\nc\n");
        let err = PartialFile::create(&out, false, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("the output is complete"), "{err}");
    }
}
