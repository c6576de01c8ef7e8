//! What every family's config.json reader shares: the fields under transformers' common names ([`Common`], which a
//! family's own serde struct takes in with `#[serde(flatten)]`), the sizes read from them with each one checked
//! ([`Common::shape`]), and the errors that name the field. A family's file adds only the fields it alone reads.

use super::config::Shape;
use crate::error::{Error, Result};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::Path;

/// The fields of config.json more than one family reads, named as transformers' configs name them. Each is
/// optional here; the family's reader says which are required and what a missing one defaults to.
#[derive(Debug, Deserialize)]
pub(super) struct Common {
    /// Width of the residual stream.
    pub(super) hidden_size: Option<usize>,
    /// Width of the MLP.
    pub(super) intermediate_size: Option<usize>,
    /// Vocabulary size.
    pub(super) vocab_size: Option<usize>,
    /// Decoder layers.
    pub(super) num_hidden_layers: Option<usize>,
    /// Query heads.
    pub(super) num_attention_heads: Option<usize>,
    /// Key/value heads (grouped-query attention).
    pub(super) num_key_value_heads: Option<usize>,
    /// Width of one head, where the family lets it differ from hidden_size / num_attention_heads.
    pub(super) head_dim: Option<usize>,
    /// Context length.
    pub(super) max_position_embeddings: Option<usize>,
    /// Whether the LM head is the embedding matrix.
    pub(super) tie_word_embeddings: Option<bool>,
    /// The MLP's activation.
    pub(super) hidden_act: Option<String>,
    /// RMSNorm's epsilon (Llama, Gemma).
    pub(super) rms_norm_eps: Option<f64>,
    /// LayerNorm's epsilon (StableLM, GPT-NeoX).
    pub(super) layer_norm_eps: Option<f64>,
    /// Biases on the attention projections.
    pub(super) attention_bias: Option<bool>,
    /// Attention and MLP read the same input (StableLM, GPT-NeoX).
    pub(super) use_parallel_residual: Option<bool>,
    /// Per-layer attention type, `sliding_attention` or `full_attention` (transformers 5).
    pub(super) layer_types: Option<Vec<String>>,
    /// RoPE base (transformers 4).
    pub(super) rope_theta: Option<f64>,
    /// RoPE scaling (transformers 4).
    pub(super) rope_scaling: Option<Value>,
    /// RoPE base, scaling and partial factor (transformers 5).
    pub(super) rope_parameters: Option<Value>,
    /// Share of each head that RoPE rotates (transformers 4).
    pub(super) partial_rotary_factor: Option<f64>,
}

/// Where the width of a head comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HeadDim {
    /// `head_dim` if given, else this default (Gemma's 256, Qwen 3's 128), else hidden_size / num_attention_heads.
    Field(Option<usize>),
    /// Always hidden_size / num_attention_heads: the family has no `head_dim`.
    Split,
}

/// config.json (parsed) as a family's serde struct, or an error naming the file.
pub(super) fn read<T: DeserializeOwned>(json: &Value, path: &Path) -> Result<T> {
    T::deserialize(json).map_err(|e| Error::config(path, format!("not valid config.json: {e}")))
}

impl Common {
    /// The sizes, each required, positive and within bounds; key/value heads default to the query heads and must
    /// divide them; the head width as `head_dim` says.
    pub(super) fn shape(&self, head_dim: HeadDim, path: &Path) -> Result<Shape> {
        let hidden_size = require(self.hidden_size, "hidden_size", path)?;
        let heads = require(self.num_attention_heads, "num_attention_heads", path)?;
        let kv_heads = match self.num_key_value_heads {
            None => heads,
            v => require(v, "num_key_value_heads", path)?,
        };
        if heads % kv_heads != 0 {
            return Err(Error::config(
                path,
                format!(
                    "num_attention_heads ({heads}) is not a multiple of num_key_value_heads ({kv_heads})"
                ),
            ));
        }
        let head_dim = match (head_dim, self.head_dim) {
            (HeadDim::Field(_), Some(d)) => require(Some(d), "head_dim", path)?,
            (HeadDim::Field(Some(d)), None) => d,
            (rule, _) if hidden_size % heads != 0 => {
                return Err(Error::config(
                    path,
                    format!(
                        "hidden_size ({hidden_size}) is not a multiple of num_attention_heads ({heads}){}",
                        if rule == HeadDim::Split {
                            ""
                        } else {
                            " and head_dim is not given"
                        }
                    ),
                ));
            }
            _ => hidden_size / heads,
        };
        let num_hidden_layers = require_layers(self.num_hidden_layers, "num_hidden_layers", path)?;
        Ok(Shape {
            hidden_size,
            intermediate_size: require(self.intermediate_size, "intermediate_size", path)?,
            vocab_size: require(self.vocab_size, "vocab_size", path)?,
            num_hidden_layers,
            num_attention_heads: heads,
            num_key_value_heads: kv_heads,
            head_dim,
        })
    }

    /// Refuses an activation other than `expected` (an absent one is the family's default), naming the family.
    pub(super) fn expect_act(&self, expected: &str, family: &str, path: &Path) -> Result<()> {
        match self.hidden_act.as_deref() {
            Some(act) if act != expected => Err(Error::config(
                path,
                format!("hidden_act `{act}` is not supported; {family} uses `{expected}`"),
            )),
            _ => Ok(()),
        }
    }
}

/// The largest size field accepted: far above any real model's width, vocabulary or context, and small
/// enough that the products computed from sizes cannot overflow.
const MAX_SIZE: usize = 1 << 24;

/// The most layers accepted; per-layer settings are allocated before any weight is read.
const MAX_LAYERS: usize = 10_000;

/// A positive size field of config.json, or an error naming it.
pub(super) fn require(value: Option<usize>, field: &str, path: &Path) -> Result<usize> {
    match value {
        Some(0) => Err(Error::config(
            path,
            format!("field `{field}` is 0; it must be positive"),
        )),
        Some(v) if v > MAX_SIZE => Err(Error::config(
            path,
            format!(
                "field `{field}` is {v}, beyond any model's size (at most {MAX_SIZE}); check the value"
            ),
        )),
        Some(v) => Ok(v),
        None => Err(Error::config(
            path,
            format!("required field `{field}` is missing"),
        )),
    }
}

/// A positive layer count of config.json, or an error naming the field.
pub(super) fn require_layers(value: Option<usize>, field: &str, path: &Path) -> Result<usize> {
    match require(value, field, path)? {
        n if n > MAX_LAYERS => Err(Error::config(
            path,
            format!(
                "field `{field}` is {n}, more layers than any model has (at most {MAX_LAYERS}); check the value"
            ),
        )),
        n => Ok(n),
    }
}

/// Sliding windows per layer from transformers 5's `layer_types`: `window` on each `sliding_attention` layer.
pub(super) fn windows_by_type(
    types: &[String],
    window: usize,
    layers: usize,
) -> Vec<Option<usize>> {
    (0..layers)
        .map(|i| (types.get(i).map(String::as_str) == Some("sliding_attention")).then_some(window))
        .collect()
}
