//! GGUF files (llama.cpp's format): the model configuration from the `{arch}.*` metadata, and the tensors under
//! their Hugging Face names, dequantised to the compute dtype, with what llama.cpp's converter changed undone
//! (see [`gguf_arch`](super::gguf_arch)), so each family's own loader runs them.

use super::config::DecoderConfig;
use super::gguf_arch::{self, GgufArch, Heads, Metadata, Undo};
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
        let content = Content::read(&mut Cursor::new(&mmap[..]))
            .map_err(crate::error::without_backtrace)
            .map_err(|e| Error::Safetensors {
            path: path.to_path_buf(),
            message: format!(
                "not a readable GGUF file ({e}); it is probably truncated or not GGUF: download or convert it again"
            ),
        })?;
        let gguf = Self {
            path: path.to_path_buf(),
            content,
            mmap,
        };
        // Every tensor's data must lie inside the file.
        for (name, info) in &gguf.content.tensor_infos {
            let elems = info.shape.elem_count();
            let bytes = elems / info.ggml_dtype.block_size() * info.ggml_dtype.type_size();
            let end = gguf.content.tensor_data_offset + info.offset + bytes as u64;
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

    /// The row of [`GGUF_ARCHS`] for this file's `general.architecture`.
    pub fn arch(&self) -> Result<&'static GgufArch> {
        gguf_arch::find(&self.architecture()?, &self.path)
    }

    /// The decoder configuration: the file's metadata read as the config.json transformers would write for this
    /// model, by the Hugging Face family's own reader.
    pub fn config(&self) -> Result<DecoderConfig> {
        let arch = self.arch()?;
        if self.content.tensor_infos.contains_key("rope_freqs.weight") {
            return Err(self.config_error(
                "the file carries rope_freqs.weight (Llama 3.1-style RoPE frequency factors), which creditlens does not read from GGUF; open the safetensors checkpoint instead".into(),
            ));
        }
        DecoderConfig::from_value(&arch.config_json(self)?, &self.path)
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
}

/// Undoes llama.cpp's `permute(w, n_head)`: rows (head, pair, 2) back to (head, 2, pair).
fn unpermute_rows(t: &Tensor, heads: usize) -> Result<Tensor> {
    let dims = t.dims().to_vec();
    let rows = dims[0];
    let half = rows / heads / 2;
    let rest: Vec<usize> = dims[1..].to_vec();
    let mut shape = vec![heads, half, 2];
    shape.extend(&rest);
    let t = t.reshape(shape)?.transpose(1, 2)?.contiguous()?;
    Ok(t.reshape(dims)?)
}

/// Puts GPT-NeoX's fused qkv rows back from the converter's `q | k | v` (each all heads) to per-head
/// `(q, k, v)` groups.
fn interleave_qkv(t: &Tensor, heads: usize) -> Result<Tensor> {
    let dims = t.dims().to_vec();
    let head_dim = dims[0] / 3 / heads.max(1);
    let mut shape = vec![3, heads, head_dim];
    shape.extend(&dims[1..]);
    let t = t.reshape(shape)?.transpose(0, 1)?.contiguous()?;
    Ok(t.reshape(dims)?)
}

impl TensorSource for GgufWeights<'_> {
    fn tensor(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
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
                path: path.clone(),
                name: plan.name,
                expected: stored,
                got: info.shape.dims().to_vec(),
            });
        }
        let q = info.read(
            &mut Cursor::new(&self.file.mmap[..]),
            self.file.content.tensor_data_offset,
            &self.device,
        )?;
        let t = q.dequantize(&self.device)?;
        let t = match plan.undo {
            Undo::Nothing => t,
            Undo::Unpermute(heads) => unpermute_rows(&t, heads)?,
            Undo::MinusOne => t.affine(1.0, -1.0)?,
            Undo::Transpose => t.t()?.contiguous()?,
            Undo::Interleave(heads) => interleave_qkv(&t, heads)?,
        };
        Ok(t.to_dtype(self.dtype)?)
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

    #[test]
    fn unpermute_inverts_llama_cpp_permute() -> Result<()> {
        // 2 heads of dim 4 (2 pairs each), 1 input column: llama.cpp's permute maps HF rows
        // [h0: a0 a1 b0 b1] to [a0 b0 a1 b1] per head.
        let permuted =
            Tensor::from_vec(vec![0f32, 2., 1., 3., 4., 6., 5., 7.], (8, 1), &Device::Cpu)?;
        let back = unpermute_rows(&permuted, 2)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        assert_eq!(back, vec![0., 1., 2., 3., 4., 5., 6., 7.]);
        Ok(())
    }
}
