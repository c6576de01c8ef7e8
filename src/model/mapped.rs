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

/// A checkpoint weight `(rows, cols)` stored row-major (`(out, in)`), left where it lies in its memory-mapped
/// file(s): parts of consecutive rows, stacked by rows as fused projections (q/k/v, gate/up) multiply, so no
/// stacked copy is made. The products read it in place ([`super::amx::Tiles::in_place`] for bf16 on AMX,
/// [`super::matrix::Matrix::InPlace`] for the exact f32 path), so loading copies no weight and the model's memory
/// is the files' cached, shared pages.
#[derive(Debug, Clone)]
pub struct MappedRows {
    parts: Vec<RowsPart>,
    rows: usize,
    cols: usize,
    dtype: candle_core::DType,
}

/// Consecutive rows of a weight in one mapped file.
#[derive(Debug, Clone)]
struct RowsPart {
    map: std::sync::Arc<MappedFile>,
    /// Byte offset of its first value in the file (aligned to the dtype's size).
    offset: usize,
    rows: usize,
}

impl MappedRows {
    /// The weight `(rows, cols)` of `dtype` at byte `offset` of `map`. `None` where the values do not lie in the
    /// file or are not aligned to their size (a safetensors file lays tensors end to end, so a tensor after one of
    /// an odd number of bf16 values can be misaligned for f32).
    pub fn new(
        map: std::sync::Arc<MappedFile>,
        offset: usize,
        (rows, cols): (usize, usize),
        dtype: candle_core::DType,
    ) -> Option<Self> {
        let size = dtype.size_in_bytes();
        let end = offset.checked_add(rows.checked_mul(cols)?.checked_mul(size)?)?;
        if end > map.len() || !(map.as_ptr() as usize + offset).is_multiple_of(size) {
            return None;
        }
        let part = RowsPart { map, offset, rows };
        Some(Self {
            parts: vec![part],
            rows,
            cols,
            dtype,
        })
    }

    /// `parts` stacked by rows (one product over all, nothing copied). `None` unless they share columns and dtype.
    pub fn stack(parts: &[&MappedRows]) -> Option<Self> {
        let first = parts.first()?;
        let (cols, dtype) = (first.cols, first.dtype);
        let mut stacked = Vec::new();
        for p in parts {
            if p.cols != cols || p.dtype != dtype {
                return None;
            }
            stacked.extend(p.parts.iter().cloned());
        }
        Some(Self {
            rows: stacked.iter().map(|p| p.rows).sum(),
            parts: stacked,
            cols,
            dtype,
        })
    }

    /// `(rows, cols)`.
    pub fn dims(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// The dtype its values are stored in.
    pub fn dtype(&self) -> candle_core::DType {
        self.dtype
    }

    /// Bytes of its values in the file(s).
    pub fn bytes(&self) -> u64 {
        (self.rows * self.cols * self.dtype.size_in_bytes()) as u64
    }

    /// An error naming the file if one it lies in changed on disk since it was mapped ([`MappedFile::unchanged`]):
    /// its pages must not be read then.
    pub fn readable(&self) -> Result<(), String> {
        for (i, p) in self.parts.iter().enumerate() {
            if !self.parts[..i]
                .iter()
                .any(|q| std::sync::Arc::ptr_eq(&q.map, &p.map))
            {
                p.map.unchanged()?;
            }
        }
        Ok(())
    }

    /// Its parts as `(first row, bytes of their rows)`, in row order. Call [`Self::readable`] first.
    pub fn parts(&self) -> impl Iterator<Item = (usize, &[u8])> {
        let row_bytes = self.cols * self.dtype.size_in_bytes();
        self.parts.iter().scan(0, move |row, p| {
            let first = *row;
            *row += p.rows;
            Some((first, &p.map[p.offset..p.offset + p.rows * row_bytes]))
        })
    }

    /// The bytes of row `j` (`None` past the last). Call [`Self::readable`] first.
    pub fn row(&self, j: usize) -> Option<&[u8]> {
        let row_bytes = self.cols * self.dtype.size_in_bytes();
        self.parts()
            .find(|(first, bytes)| j >= *first && j < first + bytes.len() / row_bytes.max(1))
            .map(|(first, bytes)| &bytes[(j - first) * row_bytes..][..row_bytes])
    }
}
