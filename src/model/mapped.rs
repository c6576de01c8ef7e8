//! A checkpoint file memory-mapped read-only, remembering its size and modification time when mapped, so that
//! weights used in place ([`super::amx::Tiles::in_place`]) can refuse to read a file saved over since: reading
//! the pages of a file truncated under a mapping kills the process (SIGBUS), and a trainer saving its final model
//! into the folder the app has open does exactly that.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A file mapped read-only, with what it was when mapped.
#[derive(Debug)]
pub struct MappedFile {
    map: memmap2::Mmap,
    file: std::fs::File,
    path: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
}

impl MappedFile {
    /// Maps `path`.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::File::open(path)?;
        let meta = file.metadata()?;
        // SAFETY: the file is mapped read-only; like every safetensors reader (candle, transformers) we rely on it
        // not being modified while mapped, and check before reading weights in place that it was not
        // (`unchanged`).
        let map = unsafe { memmap2::Mmap::map(&file) }?;
        Ok(Self {
            map,
            file,
            path: path.to_path_buf(),
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }

    /// The mapping.
    pub fn map(&self) -> &memmap2::Mmap {
        &self.map
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An error naming the file if its size or modification time differ from when it was mapped (saved over,
    /// truncated): its pages must then not be read.
    pub fn unchanged(&self) -> Result<(), String> {
        let same = self
            .file
            .metadata()
            .is_ok_and(|m| m.len() == self.len && m.modified().ok() == self.modified);
        if same {
            Ok(())
        } else {
            Err(format!(
                "{} changed on disk since the model was opened (saved over?): open the model again",
                self.path.display()
            ))
        }
    }
}

impl std::ops::Deref for MappedFile {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.map
    }
}
