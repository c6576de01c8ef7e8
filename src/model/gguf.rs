//! GGUF files (llama.cpp's format): the model configuration from the `{arch}.*` metadata, and the tensors under
//! their Hugging Face names, dequantised to the compute dtype, with what llama.cpp's converter changed undone
//! (see [`gguf_arch`](super::gguf_arch) and [`gguf_meta`](super::gguf_meta)), so each family's own loader runs
//! them.

use super::config::DecoderConfig;
use super::gguf_arch::{GgufArch, Heads, Undo};
use super::gguf_meta::Metadata;
use super::matrix::Matrix;
use super::quantized::{self, QuantMatrix};
use super::registry;
use super::weights::TensorSource;
use crate::error::{Error, Result};
use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::{DType, Device, Tensor};
use std::collections::BTreeSet;
use std::io::Cursor;
use std::path::{Path, PathBuf};

/// An opened GGUF file: its metadata and tensor directory, memory-mapped.
pub struct GgufFile {
    path: PathBuf,
    content: Content,
    mmap: memmap2::Mmap,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("tensors", &self.content.tensor_infos.len())
            .finish()
    }
}

/// The byte just past tensor `info`'s data in its file; `None` when its claimed size overflows or is not whole
/// blocks of its type.
pub fn tensor_end(
    content: &Content,
    info: &candle_core::quantized::gguf_file::TensorInfo,
) -> Option<u64> {
    let elems = info
        .shape
        .dims()
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d as u64))?;
    let block = info.ggml_dtype.block_size() as u64;
    if elems % block != 0 {
        return None;
    }
    let bytes = (elems / block).checked_mul(info.ggml_dtype.type_size() as u64)?;
    content
        .tensor_data_offset
        .checked_add(info.offset)?
        .checked_add(bytes)
}

/// Whether `path` is a file starting with the GGUF magic bytes.
pub fn is_gguf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    path.is_file()
        && std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok()
        && &magic == b"GGUF"
}

impl GgufFile {
    /// Opens and parses `path`; a file that is not GGUF, or is truncated, gives an error naming it.
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: read-only map of a file we only read; like llama.cpp and candle we rely on it not being modified
        // while it is open.
        let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        Self::from_mmap(path, mmap)
    }

    /// Parses the GGUF bytes `mmap` (of the file `path`, named in messages).
    pub fn from_mmap(path: &Path, mmap: memmap2::Mmap) -> Result<Self> {
        let content = Content::read(&mut Cursor::new(&mmap[..])).map_err(|e| {
            let message = super::gguf_header::unreadable_type(&mmap).unwrap_or_else(|| {
                format!(
                    "not a readable GGUF file ({}); it is probably truncated or not GGUF: download or convert it again",
                    crate::error::without_backtrace(e)
                )
            });
            Error::Safetensors {
                path: path.to_path_buf(),
                message,
            }
        })?;
        let gguf = Self {
            path: path.to_path_buf(),
            content,
            mmap,
        };
        // Every tensor's data must lie inside the file.
        for (name, info) in &gguf.content.tensor_infos {
            let end = tensor_end(&gguf.content, info).ok_or_else(|| Error::Safetensors {
                path: path.to_path_buf(),
                message: format!(
                    "tensor `{name}` claims the shape {:?}, whose size does not fit in memory (or is not whole blocks of its type); the file is corrupt: download or convert it again",
                    info.shape.dims()
                ),
            })?;
            if end > gguf.mmap.len() as u64 {
                return Err(Error::Safetensors {
                    path: path.to_path_buf(),
                    message: format!(
                        "tensor `{name}` ends at byte {end} but the file has {}; it is truncated: download it again",
                        gguf.mmap.len()
                    ),
                });
            }
        }
        Ok(gguf)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A metadata value.
    pub fn metadata(&self, key: &str) -> Option<&Value> {
        self.content.metadata.get(key)
    }

    fn config_error(&self, message: String) -> Error {
        Error::config(&self.path, message)
    }

    /// `general.architecture`.
    pub fn architecture(&self) -> Result<String> {
        self.metadata("general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .ok_or_else(|| self.config_error("metadata `general.architecture` is missing".into()))
    }

    fn number(&self, key: &str) -> Option<f64> {
        let v = self.metadata(key)?;
        v.to_f64()
            .ok()
            .or_else(|| v.to_f32().ok().map(f64::from))
            .or_else(|| v.to_u64().ok().map(|x| x as f64))
            .or_else(|| v.to_u32().ok().map(f64::from))
            .or_else(|| v.to_i32().ok().map(f64::from))
            .or_else(|| v.to_i64().ok().map(|x| x as f64))
    }

    /// How to read this file's `general.architecture`, from its family's row of
    /// [`FAMILIES`](super::registry::FAMILIES).
    pub fn arch(&self) -> Result<&'static GgufArch> {
        Ok(registry::gguf(&self.architecture()?, &self.path)?.1)
    }

    /// The decoder configuration: the file's metadata read as the config.json transformers would write for this
    /// model, by the Hugging Face family's own reader.
    pub fn config(&self) -> Result<DecoderConfig> {
        let (family, arch) = registry::gguf(&self.architecture()?, &self.path)?;
        if self.content.tensor_infos.contains_key("rope_freqs.weight") {
            return Err(self.config_error(
                "the file carries rope_freqs.weight (Llama 3.1-style RoPE frequency factors), which creditlens does not read from GGUF; open the safetensors checkpoint instead".into(),
            ));
        }
        DecoderConfig::from_value(
            &arch.config_json(family.family.architecture(), self)?,
            &self.path,
        )
    }

    /// The storage types of the tensors, e.g. `q4_1+q8_0+f32`.
    pub fn stored_dtypes(&self) -> String {
        let set: BTreeSet<String> = self
            .content
            .tensor_infos
            .values()
            .map(|t| format!("{:?}", t.ggml_dtype).to_lowercase())
            .collect();
        set.into_iter().collect::<Vec<_>>().join("+")
    }

    /// The tensors under Hugging Face names, dequantised to `dtype` on `device`.
    pub fn weights(&self, dtype: DType, device: &Device) -> Result<GgufWeights<'_>> {
        let cfg = self.config()?;
        Ok(GgufWeights {
            file: self,
            arch: self.arch()?,
            dtype,
            device: device.clone(),
            heads: Heads {
                q: cfg.num_attention_heads,
                kv: cfg.num_key_value_heads,
            },
            read: Default::default(),
        })
    }
}

impl Metadata for GgufFile {
    fn number(&self, key: &str) -> Option<f64> {
        GgufFile::number(self, key)
    }

    fn flag(&self, key: &str) -> Option<bool> {
        self.metadata(key).and_then(|v| v.to_bool().ok())
    }

    fn text(&self, key: &str) -> Option<String> {
        self.metadata(key).and_then(|v| v.to_string().ok()).cloned()
    }

    fn flags(&self, key: &str) -> Option<Vec<bool>> {
        let items = self.metadata(key)?.to_vec().ok()?;
        items.iter().map(|v| v.to_bool().ok()).collect()
    }

    fn has_tensor(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    fn tensor_count(&self) -> usize {
        self.content.tensor_infos.len()
    }

    fn rows(&self, name: &str) -> Option<usize> {
        self.content
            .tensor_infos
            .get(name)
            .and_then(|t| t.shape.dims().first().copied())
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

/// A GGUF file's tensors as a [`TensorSource`].
pub struct GgufWeights<'a> {
    file: &'a GgufFile,
    arch: &'static GgufArch,
    dtype: DType,
    device: Device,
    heads: Heads,
    /// The GGUF names of the tensors read so far.
    read: std::sync::Mutex<BTreeSet<String>>,
}

/// The order in which to take the `rows` stored rows to undo llama.cpp's converter, when it reordered them:
/// `Unpermute` undoes its `permute(w, n_head)` (rows (head, pair, 2) back to (head, 2, pair)); `Interleave` puts
/// GPT-NeoX's fused qkv rows back from `q | k | v` (each all heads) to per-head `(q, k, v)` groups.
fn row_order(undo: Undo, rows: usize) -> Option<Vec<usize>> {
    match undo {
        Undo::Unpermute(heads) => {
            let heads = heads.max(1);
            let half = rows / heads / 2;
            Some(
                (0..rows)
                    .map(|r| {
                        let (h, within) = (r / (2 * half), r % (2 * half));
                        let (s, p) = (within / half.max(1), within % half.max(1));
                        h * 2 * half + p * 2 + s
                    })
                    .collect(),
            )
        }
        Undo::Interleave(heads) => {
            let heads = heads.max(1);
            let head_dim = rows / 3 / heads;
            Some(
                (0..rows)
                    .map(|r| {
                        let (h, within) = (r / (3 * head_dim), r % (3 * head_dim));
                        let (j, d) = (within / head_dim.max(1), within % head_dim.max(1));
                        j * heads * head_dim + h * head_dim + d
                    })
                    .collect(),
            )
        }
        Undo::Nothing | Undo::MinusOne | Undo::Transpose => None,
    }
}

/// Refuses values of tensor `name` (dequantised) that are not all finite.
fn check_finite(t: &Tensor, path: &Path, name: &str) -> Result<()> {
    let values = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    let count = values.iter().filter(|v| !v.is_finite()).count();
    if count == 0 {
        return Ok(());
    }
    let first = values.iter().position(|v| !v.is_finite());
    Err(super::weights::non_finite_error(
        path,
        name,
        t.dims(),
        (count, first),
    ))
}

/// [`check_finite`] for a quantised matrix, dequantised a block of rows (about 1 Mi values) at a time so that no
/// f32 copy of a large matrix (a vocabulary's embeddings) exists at load.
fn check_finite_quantized(q: &QuantMatrix, path: &Path, name: &str) -> Result<()> {
    let (rows, cols) = (q.rows(), q.cols());
    let block = ((1usize << 20) / cols.max(1)).max(1);
    let (mut count, mut first) = (0usize, None);
    let mut at = 0;
    while at < rows {
        let n = block.min(rows - at);
        let values = q.dequantize(at, n)?.flatten_all()?.to_vec1::<f32>()?;
        for (i, v) in values.iter().enumerate() {
            if !v.is_finite() {
                count += 1;
                first.get_or_insert(at * cols + i);
            }
        }
        at += n;
    }
    if count == 0 {
        return Ok(());
    }
    Err(super::weights::non_finite_error(
        path,
        name,
        &[rows, cols],
        (count, first),
    ))
}

impl GgufWeights<'_> {
    /// The stored tensor behind Hugging Face tensor `name` of `shape`, with how to undo the converter's changes.
    fn locate(
        &self,
        name: &str,
        shape: &[usize],
    ) -> Result<(&candle_core::quantized::gguf_file::TensorInfo, Undo)> {
        let path = &self.file.path;
        let plan = self
            .arch
            .plan(name, self.heads)
            .ok_or_else(|| Error::MissingTensor {
                dir: path.clone(),
                name: name.to_string(),
            })?;
        let info = self
            .file
            .content
            .tensor_infos
            .get(&plan.name)
            .ok_or_else(|| Error::MissingTensor {
                dir: path.clone(),
                name: plan.name.clone(),
            })?;
        let stored: Vec<usize> = if plan.undo == Undo::Transpose {
            shape.iter().rev().copied().collect()
        } else {
            shape.to_vec()
        };
        if info.shape.dims() != stored {
            return Err(Error::ShapeMismatch {
                implied_by: "the file's metadata",
                path: path.clone(),
                name: plan.name,
                expected: stored,
                got: info.shape.dims().to_vec(),
            });
        }
        self.read
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(plan.name);
        Ok((info, plan.undo))
    }

    /// Refuses tensors of the file the model built from `cfg` left unread: blocks beyond `{arch}.block_count`,
    /// or tensors the architecture has no place for (llama.cpp refuses such files too).
    pub fn check_all_read(&self, cfg: &DecoderConfig) -> Result<()> {
        let read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        let unread: Vec<&String> = self
            .file
            .content
            .tensor_infos
            .keys()
            .filter(|n| !read.contains(*n))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let Some(first) = unread.first() else {
            return Ok(());
        };
        let block = |n: &str| {
            n.strip_prefix("blk.")
                .and_then(|r| r.split('.').next())
                .and_then(|b| b.parse::<usize>().ok())
        };
        let message = match unread.iter().filter_map(|n| block(n)).max() {
            Some(b) if b >= cfg.num_hidden_layers => format!(
                "metadata `{}.block_count` is {}, but the file holds blocks up to {b}; the file is inconsistent: convert it again",
                self.file.architecture().unwrap_or_default(),
                cfg.num_hidden_layers
            ),
            _ => format!(
                "the file holds {} tensor(s) its architecture has no place for, e.g. `{first}`; it does not match its own metadata: convert it again",
                unread.len()
            ),
        };
        Err(self.file.config_error(message))
    }
}

impl TensorSource for GgufWeights<'_> {
    fn tensor(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let (info, undo) = self.locate(name, shape)?;
        let q = info.read(
            &mut Cursor::new(&self.file.mmap[..]),
            self.file.content.tensor_data_offset,
            &self.device,
        )?;
        let t = q.dequantize(&self.device)?;
        check_finite(&t, &self.file.path, name)?;
        let rows = t.dim(0)?;
        let t = match undo {
            Undo::Nothing => t,
            Undo::MinusOne => t.affine(1.0, -1.0)?,
            Undo::Transpose => t.t()?.contiguous()?,
            Undo::Unpermute(_) | Undo::Interleave(_) => {
                let order: Vec<u32> = row_order(undo, rows)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| r as u32)
                    .collect();
                let index = Tensor::from_vec(order, rows, &self.device)?;
                t.index_select(&index, 0)?
            }
        };
        Ok(t.to_dtype(self.dtype)?)
    }

    /// Block-quantised matrices stay quantised (on the CPU), with the converter's row reordering undone on their
    /// blocks; the rest are read as [`TensorSource::tensor`] reads them.
    fn matrix(&self, name: &str, shape: &[usize]) -> Result<Matrix> {
        let (info, undo) = self.locate(name, shape)?;
        let keep = self.device.is_cpu()
            && shape.len() == 2
            && quantized::is_block_type(info.ggml_dtype)
            && matches!(
                undo,
                Undo::Nothing | Undo::Unpermute(_) | Undo::Interleave(_)
            );
        if keep {
            let dtype = info.ggml_dtype;
            let bytes = info.shape.elem_count() / dtype.block_size() * dtype.type_size();
            let start = (self.file.content.tensor_data_offset + info.offset) as usize;
            let order = row_order(undo, shape[0]);
            if let Some(q) = QuantMatrix::new(
                dtype,
                (shape[0], shape[1]),
                &self.file.mmap[start..start + bytes],
                order.as_deref(),
            )? {
                // The blocks are copied: the file's pages can leave the process.
                super::weights::release_pages(&self.file.mmap, start, start + bytes);
                check_finite_quantized(&q, &self.file.path, name)?;
                return Ok(Matrix::Quantized(q));
            }
        }
        Ok(Matrix::Dense(self.tensor(name, shape)?))
    }

    fn contains(&self, name: &str) -> bool {
        self.arch
            .plan(name, self.heads)
            .is_some_and(|p| self.file.content.tensor_infos.contains_key(&p.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A non-finite block scale past the first block of rows checked is found and placed (row 2500 of 3000).
    #[test]
    fn quantised_matrices_are_checked_block_by_block() {
        use candle_core::quantized::GgmlDType;
        let (rows, cols) = (3000, 512);
        let blocks_per_row = cols / 32;
        let mut bytes = vec![0u8; rows * blocks_per_row * 34];
        for block in bytes.chunks_exact_mut(34) {
            block[..2].copy_from_slice(&half::f16::from_f32(0.5).to_le_bytes());
            block[2..].fill(3);
        }
        let q = QuantMatrix::new(GgmlDType::Q8_0, (rows, cols), &bytes, None)
            .unwrap()
            .unwrap();
        let path = Path::new("model.gguf");
        assert!(check_finite_quantized(&q, path, "w").is_ok());
        let at = (2500 * blocks_per_row + 1) * 34;
        bytes[at..at + 2].copy_from_slice(&half::f16::INFINITY.to_le_bytes());
        let q = QuantMatrix::new(GgmlDType::Q8_0, (rows, cols), &bytes, None)
            .unwrap()
            .unwrap();
        let message = check_finite_quantized(&q, path, "w")
            .unwrap_err()
            .to_string();
        assert!(message.contains("holds 32 non-finite"), "{message}");
        assert!(message.contains("[2500, 32]"), "{message}");
    }

    #[test]
    fn row_orders_invert_llama_cpp_permute_and_fused_qkv() {
        // 2 heads of dim 4 (2 pairs each): llama.cpp's permute maps HF rows [h0: a0 a1 b0 b1] to [a0 b0 a1 b1] per
        // head, so stored rows [0 2 1 3 | 4 6 5 7] hold HF rows 0..8.
        let stored = [0usize, 2, 1, 3, 4, 6, 5, 7];
        let order = row_order(Undo::Unpermute(2), 8).unwrap();
        let back: Vec<usize> = order.iter().map(|&r| stored[r]).collect();
        assert_eq!(back, (0..8).collect::<Vec<_>>());
        // GPT-NeoX qkv, 2 heads of dim 2: stored [q0 q0' q1 q1' | k0 k0' k1 k1' | v...], HF per head (q, k, v).
        let order = row_order(Undo::Interleave(2), 12).unwrap();
        assert_eq!(order, vec![0, 1, 4, 5, 8, 9, 2, 3, 6, 7, 10, 11]);
    }
}
