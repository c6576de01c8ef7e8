//! GGUF files (llama.cpp's format): the model configuration from the `{arch}.*` metadata, and the tensors under
//! their Hugging Face names, dequantised to the compute dtype, with the query/key rows llama.cpp's converter
//! permutes for its rotary layout put back in Hugging Face order, so the one decoder runs them.

use super::config::DecoderConfig;
use super::weights::TensorSource;
use crate::error::{Error, Result};
use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::{DType, Device, Tensor};
use std::collections::BTreeSet;
use std::io::Cursor;
use std::path::{Path, PathBuf};

/// The GGUF architectures creditlens runs, with the Hugging Face architecture each corresponds to.
pub const GGUF_ARCHITECTURES: &[(&str, &str)] = &[
    ("llama", "LlamaForCausalLM"),
    ("qwen2", "Qwen2ForCausalLM"),
    ("qwen3", "Qwen3ForCausalLM"),
];

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
        let content = Content::read(&mut Cursor::new(&mmap[..])).map_err(|e| Error::Safetensors {
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

    /// The decoder configuration, as the config.json transformers would write for this model.
    pub fn config(&self) -> Result<DecoderConfig> {
        let arch = self.architecture()?;
        let hf = GGUF_ARCHITECTURES
            .iter()
            .find(|(g, _)| *g == arch)
            .map(|(_, h)| *h)
            .ok_or_else(|| {
                self.config_error(format!(
                    "GGUF architecture `{arch}` is not supported; supported: {}",
                    GGUF_ARCHITECTURES
                        .iter()
                        .map(|(g, _)| *g)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        let need = |key: &str| -> Result<f64> {
            self.number(&format!("{arch}.{key}")).ok_or_else(|| {
                self.config_error(format!(
                    "metadata `{arch}.{key}` is missing or not a number"
                ))
            })
        };
        let hidden = need("embedding_length")? as usize;
        let heads = need("attention.head_count")? as usize;
        let kv_heads = self
            .number(&format!("{arch}.attention.head_count_kv"))
            .map_or(heads, |v| v as usize);
        let head_dim = self
            .number(&format!("{arch}.attention.key_length"))
            .or_else(|| self.number(&format!("{arch}.rope.dimension_count")))
            .map_or(hidden / heads.max(1), |v| v as usize);
        let vocab = match self.number(&format!("{arch}.vocab_size")) {
            Some(v) => v as usize,
            None => self
                .metadata("tokenizer.ggml.tokens")
                .and_then(|v| v.to_vec().ok())
                .map(|v| v.len())
                .ok_or_else(|| {
                    self.config_error(format!(
                        "neither `{arch}.vocab_size` nor `tokenizer.ggml.tokens` is present"
                    ))
                })?,
        };
        if self.content.tensor_infos.contains_key("rope_freqs.weight") {
            return Err(self.config_error(
                "the file carries rope_freqs.weight (Llama 3.1-style RoPE frequency factors), which creditlens does not read from GGUF; open the safetensors checkpoint instead".into(),
            ));
        }
        let mut json = serde_json::json!({
            "architectures": [hf],
            "hidden_size": hidden,
            "intermediate_size": need("feed_forward_length")? as usize,
            "num_hidden_layers": need("block_count")? as usize,
            "num_attention_heads": heads,
            "num_key_value_heads": kv_heads,
            "head_dim": head_dim,
            "vocab_size": vocab,
            "rms_norm_eps": need("attention.layer_norm_rms_epsilon")?,
            "rope_theta": self.number(&format!("{arch}.rope.freq_base")).unwrap_or(10000.0),
            "max_position_embeddings": need("context_length")? as usize,
            "tie_word_embeddings": !self.content.tensor_infos.contains_key("output.weight"),
        });
        let scaling = self
            .metadata(&format!("{arch}.rope.scaling.type"))
            .and_then(|v| v.to_string().ok())
            .cloned();
        match scaling.as_deref() {
            None | Some("none") => {}
            Some("linear") => {
                json["rope_scaling"] = serde_json::json!({
                    "rope_type": "linear",
                    "factor": need("rope.scaling.factor")?,
                });
            }
            Some(other) => {
                return Err(self.config_error(format!(
                    "RoPE scaling `{other}` is not supported for GGUF files; open the safetensors checkpoint instead"
                )));
            }
        }
        DecoderConfig::from_value(&json, &self.path)
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
        let arch = self.architecture()?;
        let cfg = self.config()?;
        Ok(GgufWeights {
            file: self,
            dtype,
            device: device.clone(),
            // llama.cpp's converter permutes q/k rows only for the architectures whose rotary embedding is the
            // interleaved ("normal") kind.
            unpermute: arch == "llama",
            heads: cfg.num_attention_heads,
            kv_heads: cfg.num_key_value_heads,
        })
    }
}

/// The Hugging Face name's GGUF counterpart (`model.layers.3.mlp.up_proj.weight` -> `blk.3.ffn_up.weight`).
pub fn gguf_name(hf: &str) -> Option<String> {
    match hf {
        "model.embed_tokens.weight" => return Some("token_embd.weight".into()),
        "model.norm.weight" => return Some("output_norm.weight".into()),
        "lm_head.weight" => return Some("output.weight".into()),
        _ => {}
    }
    let rest = hf.strip_prefix("model.layers.")?;
    let (layer, rest) = rest.split_once('.')?;
    let (module, kind) = rest.rsplit_once('.')?;
    let g = match module {
        "input_layernorm" => "attn_norm",
        "post_attention_layernorm" => "ffn_norm",
        "self_attn.q_proj" => "attn_q",
        "self_attn.k_proj" => "attn_k",
        "self_attn.v_proj" => "attn_v",
        "self_attn.o_proj" => "attn_output",
        "self_attn.q_norm" => "attn_q_norm",
        "self_attn.k_norm" => "attn_k_norm",
        "mlp.gate_proj" => "ffn_gate",
        "mlp.up_proj" => "ffn_up",
        "mlp.down_proj" => "ffn_down",
        _ => return None,
    };
    Some(format!("blk.{layer}.{g}.{kind}"))
}

/// A GGUF file's tensors as a [`TensorSource`].
pub struct GgufWeights<'a> {
    file: &'a GgufFile,
    dtype: DType,
    device: Device,
    unpermute: bool,
    heads: usize,
    kv_heads: usize,
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

impl TensorSource for GgufWeights<'_> {
    fn tensor(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let path = &self.file.path;
        let missing = || Error::MissingTensor {
            dir: path.clone(),
            name: gguf_name(name).unwrap_or_else(|| name.to_string()),
        };
        let g = gguf_name(name).ok_or_else(missing)?;
        let info = self.file.content.tensor_infos.get(&g).ok_or_else(missing)?;
        if info.shape.dims() != shape {
            return Err(Error::ShapeMismatch {
                path: path.clone(),
                name: g,
                expected: shape.to_vec(),
                got: info.shape.dims().to_vec(),
            });
        }
        let q = info.read(
            &mut Cursor::new(&self.file.mmap[..]),
            self.file.content.tensor_data_offset,
            &self.device,
        )?;
        let mut t = q.dequantize(&self.device)?;
        if self.unpermute {
            if name.ends_with("self_attn.q_proj.weight") || name.ends_with("self_attn.q_proj.bias")
            {
                t = unpermute_rows(&t, self.heads)?;
            } else if name.ends_with("self_attn.k_proj.weight")
                || name.ends_with("self_attn.k_proj.bias")
            {
                t = unpermute_rows(&t, self.kv_heads)?;
            }
        }
        Ok(t.to_dtype(self.dtype)?)
    }

    fn contains(&self, name: &str) -> bool {
        gguf_name(name).is_some_and(|g| self.file.content.tensor_infos.contains_key(&g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_like_llama_cpp() {
        assert_eq!(
            gguf_name("model.layers.12.self_attn.o_proj.weight").as_deref(),
            Some("blk.12.attn_output.weight")
        );
        assert_eq!(
            gguf_name("model.layers.0.self_attn.q_proj.bias").as_deref(),
            Some("blk.0.attn_q.bias")
        );
        assert_eq!(
            gguf_name("model.layers.1.post_attention_layernorm.weight").as_deref(),
            Some("blk.1.ffn_norm.weight")
        );
        assert_eq!(
            gguf_name("lm_head.weight").as_deref(),
            Some("output.weight")
        );
        assert_eq!(gguf_name("model.layers.1.mystery.weight"), None);
    }

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
