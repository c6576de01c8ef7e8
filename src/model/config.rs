//! Architecture configuration: the normalised description of a decoder ([`DecoderConfig`]) that every family's
//! `config.json` is read into, and the one table ([`FAMILIES`]) that maps `architectures[0]` to the family's file:
//! its config reader and its weight loader. Adding a family is a new file under `src/model/` plus one row.

use super::decoder::{Kernels, Parts};
use super::weights::TensorSource;
use crate::error::{Error, Result};
use std::path::Path;

/// What one family provides: how to read its config.json, and how to load its weights into the decoder's blocks.
pub struct FamilySpec {
    /// The family.
    pub family: Family,
    /// `architectures[0]` in config.json.
    pub architecture: &'static str,
    /// The family's name for people, as the model card shows it.
    pub name: &'static str,
    /// Reads config.json (parsed) into a [`DecoderConfig`]; `path` names the file in errors.
    pub config: fn(&serde_json::Value, Family, &Path) -> Result<DecoderConfig>,
    /// Loads the weights of a checkpoint of this family.
    pub(super) load: fn(&DecoderConfig, &dyn TensorSource, Kernels) -> Result<Parts>,
}

/// Every family creditlens runs: one row each.
pub static FAMILIES: &[FamilySpec] = &[
    FamilySpec {
        family: Family::Llama,
        architecture: "LlamaForCausalLM",
        name: "Llama",
        config: super::llama::config,
        load: super::llama::load,
    },
    FamilySpec {
        family: Family::Mistral,
        architecture: "MistralForCausalLM",
        name: "Mistral",
        config: super::llama::config,
        load: super::llama::load,
    },
    FamilySpec {
        family: Family::Qwen2,
        architecture: "Qwen2ForCausalLM",
        name: "Qwen 2",
        config: super::llama::config,
        load: super::llama::load,
    },
    FamilySpec {
        family: Family::Qwen3,
        architecture: "Qwen3ForCausalLM",
        name: "Qwen 3",
        config: super::llama::config,
        load: super::llama::load,
    },
    FamilySpec {
        family: Family::Phi3,
        architecture: "Phi3ForCausalLM",
        name: "Phi-3",
        config: super::llama::config,
        load: super::phi3::load,
    },
    FamilySpec {
        family: Family::Olmo2,
        architecture: "Olmo2ForCausalLM",
        name: "OLMo 2",
        config: super::llama::config,
        load: super::olmo2::load,
    },
    FamilySpec {
        family: Family::Gemma,
        architecture: "GemmaForCausalLM",
        name: "Gemma",
        config: super::gemma::config,
        load: super::gemma::load,
    },
    FamilySpec {
        family: Family::Gemma2,
        architecture: "Gemma2ForCausalLM",
        name: "Gemma 2",
        config: super::gemma::config,
        load: super::gemma::load,
    },
    FamilySpec {
        family: Family::Gemma3,
        architecture: "Gemma3ForCausalLM",
        name: "Gemma 3 (text)",
        config: super::gemma::config,
        load: super::gemma::load,
    },
    FamilySpec {
        family: Family::StableLm,
        architecture: "StableLmForCausalLM",
        name: "StableLM",
        config: super::stablelm::config,
        load: super::stablelm::load,
    },
    FamilySpec {
        family: Family::Gpt2,
        architecture: "GPT2LMHeadModel",
        name: "GPT-2",
        config: super::gpt2::config,
        load: super::gpt2::load,
    },
    FamilySpec {
        family: Family::GptNeoX,
        architecture: "GPTNeoXForCausalLM",
        name: "GPT-NeoX (Pythia)",
        config: super::gpt_neox::config,
        load: super::gpt_neox::load,
    },
];

/// The architectures creditlens runs, as named in config.json's `architectures`.
pub const SUPPORTED_ARCHITECTURES: &[&str] = &[
    "LlamaForCausalLM",
    "MistralForCausalLM",
    "Qwen2ForCausalLM",
    "Qwen3ForCausalLM",
    "Phi3ForCausalLM",
    "Olmo2ForCausalLM",
    "GemmaForCausalLM",
    "Gemma2ForCausalLM",
    "Gemma3ForCausalLM",
    "StableLmForCausalLM",
    "GPT2LMHeadModel",
    "GPTNeoXForCausalLM",
];

/// Which family a checkpoint belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `LlamaForCausalLM` (Llama 2/3, SmolLM, TinyLlama, ...).
    Llama,
    /// `MistralForCausalLM`.
    Mistral,
    /// `Qwen2ForCausalLM`: biases on q/k/v.
    Qwen2,
    /// `Qwen3ForCausalLM`: RMSNorm on queries and keys per head.
    Qwen3,
    /// `Phi3ForCausalLM`: fused `qkv_proj` and `gate_up_proj`, optional partial rotary, sliding window.
    Phi3,
    /// `Olmo2ForCausalLM`: norms after attention and MLP (none before), q/k RMSNorm over the whole projection.
    Olmo2,
    /// `GemmaForCausalLM`: scaled embeddings, (1 + w) RMSNorm, tanh-GELU gated MLP.
    Gemma,
    /// `Gemma2ForCausalLM`: four norms a layer, soft-capping, alternating sliding windows.
    Gemma2,
    /// `Gemma3ForCausalLM` (text): per-head q/k norms, a local RoPE base for sliding-window layers.
    Gemma3,
    /// `StableLmForCausalLM`: LayerNorm, partial rotary, optional q/k/v biases and parallel residual.
    StableLm,
    /// `GPT2LMHeadModel`: learned positions, Conv1D projections, LayerNorm, tanh-GELU MLP.
    Gpt2,
    /// `GPTNeoXForCausalLM` (Pythia): fused per-head q/k/v, LayerNorm, partial rotary, parallel residual.
    GptNeoX,
}

impl Family {
    /// The family's row of [`FAMILIES`].
    pub fn spec(self) -> &'static FamilySpec {
        FAMILIES
            .iter()
            .find(|s| s.family == self)
            .unwrap_or(&FAMILIES[0])
    }

    /// The family's name as it appears in config.json.
    pub fn architecture(self) -> &'static str {
        self.spec().architecture
    }

    /// The family's name for people (`Gemma 2`, `GPT-NeoX (Pythia)`).
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    fn from_architecture(name: &str) -> Option<Family> {
        FAMILIES
            .iter()
            .find(|s| s.architecture == name)
            .map(|s| s.family)
    }
}

/// Which normalisation the layers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormKind {
    /// RMSNorm with a weight (Llama, Qwen).
    Rms,
    /// LayerNorm with a weight and a bias (GPT-NeoX).
    Layer,
}

/// The feed-forward block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MlpKind {
    /// `down(silu(gate(x)) * up(x))`, no biases unless `mlp_bias` (Llama).
    GatedSilu,
    /// `down(gelu(up(x)))` with exact (erf) GELU and biases (GPT-NeoX).
    Gelu,
    /// `down(gelu_tanh(gate(x)) * up(x))` (Gemma's `gelu_pytorch_tanh`).
    GatedGeluTanh,
    /// `down(gelu_tanh(up(x)))` with biases (GPT-2's `gelu_new`).
    GeluTanh,
}

/// How rotary position frequencies are scaled.
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    /// Plain RoPE.
    Default,
    /// Position interpolation: every frequency divided by `factor`.
    Linear {
        /// Interpolation factor.
        factor: f32,
    },
    /// Llama 3's piecewise frequency scaling.
    Llama3 {
        /// Overall factor.
        factor: f32,
        /// Wavelengths longer than `original / low_freq_factor` are fully scaled.
        low_freq_factor: f32,
        /// Wavelengths shorter than `original / high_freq_factor` are kept.
        high_freq_factor: f32,
        /// Context length the model was pre-trained with.
        original_max_position_embeddings: usize,
    },
    /// LongRoPE (Phi-3 128k, Phi-3.5, Phi-4-mini): per-frequency divisors, `short_factor` for sequences up to
    /// `original_max_position_embeddings` tokens and `long_factor` beyond, with cos/sin scaled by
    /// `attention_factor`. As in transformers, the whole sequence's length picks the set.
    LongRope {
        /// Divisors of the inverse frequencies for sequences up to the original length.
        short_factor: Vec<f32>,
        /// Divisors for longer sequences.
        long_factor: Vec<f32>,
        /// Context length the model was pre-trained with.
        original_max_position_embeddings: usize,
        /// Multiplier of cos and sin.
        attention_factor: f32,
    },
}

/// The normalised configuration of a decoder-only transformer.
#[derive(Debug, Clone, PartialEq)]
pub struct DecoderConfig {
    /// Which family the checkpoint belongs to.
    pub family: Family,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// Rows of the embedding and LM-head matrices.
    pub vocab_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention when smaller than the query heads).
    pub num_key_value_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// The layers' normalisation.
    pub norm: NormKind,
    /// Epsilon of the normalisation (RMSNorm's or LayerNorm's).
    pub rms_norm_eps: f64,
    /// Features of each head that rotary embeddings rotate (the head's first ones; all unless partial rotary).
    pub rotary_dim: usize,
    /// Attention and MLP both read the layer's input and add to it (GPT-NeoX); otherwise one after the other.
    pub parallel_residual: bool,
    /// The feed-forward block.
    pub mlp: MlpKind,
    /// Norms are `1 + weight` (Gemma), folded into the weight at load.
    pub norm_unit_offset: bool,
    /// A norm on the output of attention and of the MLP besides the ones before them (Gemma 2 and 3).
    pub sandwich_norms: bool,
    /// Multiplies the embeddings (Gemma: sqrt(hidden_size)).
    pub embed_scale: Option<f64>,
    /// Attention scores are scaled by `1 / sqrt(this)` instead of `1 / sqrt(head_dim)` (Gemma 2/3's
    /// `query_pre_attn_scalar`).
    pub query_pre_attn_scalar: Option<f64>,
    /// Soft-capping of the attention scores (Gemma 2's `attn_logit_softcapping`).
    pub attn_softcap: Option<f64>,
    /// Soft-capping of the final logits (Gemma 2's `final_logit_softcapping`).
    pub final_softcap: Option<f64>,
    /// RoPE base of the sliding-window layers, when it differs from `rope_theta` (Gemma 3).
    pub rope_local_theta: Option<f32>,
    /// RoPE base.
    pub rope_theta: f32,
    /// RoPE frequency scaling.
    pub rope_scaling: RopeScaling,
    /// Longest sequence the model accepts.
    pub max_position_embeddings: usize,
    /// Whether the LM head shares the embedding matrix.
    pub tie_word_embeddings: bool,
    /// Bias on the q/k/v projections.
    pub qkv_bias: bool,
    /// Bias on the output projection.
    pub o_bias: bool,
    /// Bias on the MLP projections.
    pub mlp_bias: bool,
    /// Per-head RMSNorm of queries and keys (Qwen3).
    pub qk_norm: bool,
    /// Sliding attention window per layer (`None`: full attention).
    pub sliding_window: Vec<Option<usize>>,
}

impl DecoderConfig {
    /// Reads and normalises `config.json` at `path`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&text, path)
    }

    /// Parses config.json text; `path` is only used in error messages.
    pub fn from_json(text: &str, path: &Path) -> Result<Self> {
        let raw: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::config(path, format!("not valid config.json: {e}")))?;
        Self::from_value(&raw, path)
    }

    /// Reads config.json fields already parsed (or built in code, as for GGUF metadata); `path` names the source
    /// in errors.
    pub fn from_value(raw: &serde_json::Value, path: &Path) -> Result<Self> {
        let arch = raw
            .get("architectures")
            .and_then(|a| a.as_array())
            .and_then(|a| a.first())
            .and_then(|a| a.as_str())
            .ok_or_else(|| {
                Error::config(
                    path,
                    format!(
                        "field `architectures` is missing or empty; set it to one of: {}",
                        SUPPORTED_ARCHITECTURES.join(", ")
                    ),
                )
            })?;
        let family =
            Family::from_architecture(arch).ok_or_else(|| Error::UnsupportedArchitecture {
                path: path.to_path_buf(),
                arch: arch.to_string(),
                supported: SUPPORTED_ARCHITECTURES.join(", "),
            })?;
        let cfg = (family.spec().config)(raw, family, path)?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// Refuses values no model can have been trained with (a non-positive epsilon, RoPE base or scaling factor,
    /// a zero window or context): they would compute numbers without an error, and
    /// every one of them would be wrong. `path` names the source in the message.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let bad = |field: &str, value: String, fix: &str| {
            Err(Error::config(
                path,
                format!("field `{field}` is {value}; {fix}"),
            ))
        };
        let positive = |v: f64| v.is_finite() && v > 0.0;
        let eps_field = match self.norm {
            NormKind::Rms => "rms_norm_eps",
            NormKind::Layer => "layer_norm_eps",
        };
        if !positive(self.rms_norm_eps) {
            return bad(
                eps_field,
                self.rms_norm_eps.to_string(),
                "the normalisation epsilon must be a small positive number such as 1e-5 or 1e-6",
            );
        }
        if self.max_position_embeddings == 0 {
            return bad(
                "max_position_embeddings",
                "0".into(),
                "it is the model's context length and must be positive (2048, 8192, ...)",
            );
        }
        if self.rotary_dim > self.head_dim || !self.rotary_dim.is_multiple_of(2) {
            return bad(
                "partial_rotary_factor",
                format!("a rotary width of {}", self.rotary_dim),
                &format!(
                    "the rotated features must be an even number no larger than the head width ({})",
                    self.head_dim
                ),
            );
        }
        if self.rotary_dim > 0 {
            for (field, theta) in [
                ("rope_theta", Some(self.rope_theta)),
                ("rope_local_base_freq", self.rope_local_theta),
            ] {
                if let Some(t) = theta.filter(|t| !positive(f64::from(*t))) {
                    return bad(
                        field,
                        t.to_string(),
                        "the RoPE base must be positive (10000, 500000, ...)",
                    );
                }
            }
            self.validate_rope_scaling(path)?;
        }
        if let Some(layer) = self.sliding_window.iter().position(|w| *w == Some(0)) {
            return bad(
                "sliding_window",
                format!("0 (layer {layer})"),
                "a window must be positive, or null for full attention",
            );
        }
        for (field, value) in [
            ("query_pre_attn_scalar", self.query_pre_attn_scalar),
            ("attn_logit_softcapping", self.attn_softcap),
            ("final_logit_softcapping", self.final_softcap),
            ("embedding scale", self.embed_scale),
        ] {
            if let Some(v) = value.filter(|v| !positive(*v)) {
                return bad(field, v.to_string(), "it must be positive, or null");
            }
        }
        Ok(())
    }

    fn validate_rope_scaling(&self, path: &Path) -> Result<()> {
        let bad = |key: &str, value: String, fix: &str| {
            Err(Error::config(
                path,
                format!("`rope_scaling` (or `rope_parameters`) `{key}` is {value}; {fix}"),
            ))
        };
        let positive = |v: f32| v.is_finite() && v > 0.0;
        match &self.rope_scaling {
            RopeScaling::Default => Ok(()),
            RopeScaling::Linear { factor } if !positive(*factor) => bad(
                "factor",
                factor.to_string(),
                "the interpolation factor must be positive (2.0, 4.0, ...)",
            ),
            RopeScaling::Linear { .. } => Ok(()),
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            } => {
                for (key, v) in [
                    ("factor", factor),
                    ("low_freq_factor", low_freq_factor),
                    ("high_freq_factor", high_freq_factor),
                ] {
                    if !positive(*v) {
                        return bad(
                            key,
                            v.to_string(),
                            "Llama 3's factors must be positive (Llama 3.1: factor 8, low 1, high 4)",
                        );
                    }
                }
                if high_freq_factor <= low_freq_factor {
                    return bad(
                        "high_freq_factor",
                        high_freq_factor.to_string(),
                        &format!("it must be larger than low_freq_factor ({low_freq_factor})"),
                    );
                }
                if *original_max_position_embeddings == 0 {
                    return bad(
                        "original_max_position_embeddings",
                        "0".into(),
                        "it is the pre-training context length and must be positive (8192 for Llama 3.1)",
                    );
                }
                Ok(())
            }
            RopeScaling::LongRope {
                short_factor,
                long_factor,
                original_max_position_embeddings,
                attention_factor,
            } => {
                let half = self.rotary_dim / 2;
                for (key, list) in [("short_factor", short_factor), ("long_factor", long_factor)] {
                    if list.len() != half {
                        return bad(
                            key,
                            format!("a list of {}", list.len()),
                            &format!("it needs one divisor per rotated frequency pair ({half})"),
                        );
                    }
                    if let Some(v) = list.iter().find(|v| !positive(**v)) {
                        return bad(
                            key,
                            format!("a list holding {v}"),
                            "every divisor must be positive",
                        );
                    }
                }
                if *original_max_position_embeddings == 0 {
                    return bad(
                        "original_max_position_embeddings",
                        "0".into(),
                        "it must be positive",
                    );
                }
                if !positive(*attention_factor) {
                    return bad(
                        "attention_factor",
                        attention_factor.to_string(),
                        "it must be positive",
                    );
                }
                Ok(())
            }
        }
    }

    /// The attention scores' scale: `1 / sqrt(query_pre_attn_scalar)`, or `1 / sqrt(head_dim)`.
    pub fn attention_scale(&self) -> f64 {
        1.0 / self
            .query_pre_attn_scalar
            .unwrap_or(self.head_dim as f64)
            .sqrt()
    }

    /// Number of query heads sharing one key/value head.
    pub fn kv_groups(&self) -> usize {
        self.num_attention_heads / self.num_key_value_heads
    }

    /// Number of parameters implied by this configuration (the tied LM head counted once), saturating.
    pub fn num_parameters(&self) -> usize {
        let wide = |n: usize| n as u128;
        let (h, i, v) = (
            wide(self.hidden_size),
            wide(self.intermediate_size),
            wide(self.vocab_size),
        );
        let head_dim = wide(self.head_dim);
        let q = wide(self.num_attention_heads) * head_dim;
        let kv = wide(self.num_key_value_heads) * head_dim;
        let mut attn = h * q + 2 * h * kv + q * h;
        if self.qkv_bias {
            attn += q + 2 * kv;
        }
        if self.o_bias {
            attn += h;
        }
        if self.qk_norm {
            // OLMo 2 normalises the whole projections, the others each head.
            attn += if self.family == Family::Olmo2 {
                q + kv
            } else {
                2 * head_dim
            };
        }
        let gated = matches!(self.mlp, MlpKind::GatedSilu | MlpKind::GatedGeluTanh);
        let mut mlp = if gated { 3 * h * i } else { 2 * h * i };
        if self.mlp_bias {
            mlp += if gated { 2 * i + h } else { i + h };
        }
        let norm = match self.norm {
            NormKind::Rms => h,
            NormKind::Layer => 2 * h,
        };
        let norms = if self.sandwich_norms { 4 } else { 2 };
        let layer = attn + mlp + norms * norm;
        let head = if self.tie_word_embeddings { 0 } else { v * h };
        // GPT-2 learns its positions instead of rotating (rotary_dim 0).
        let positions = if self.rotary_dim == 0 {
            wide(self.max_position_embeddings) * h
        } else {
            0
        };
        let total = v * h + positions + wide(self.num_hidden_layers) * layer + norm + head;
        usize::try_from(total).unwrap_or(usize::MAX)
    }
}

impl DecoderConfig {
    /// The configuration as a Hugging Face `config.json` (transformers 4 layout, which both 4.x and 5.x read),
    /// with the given special token ids. Used when saving trained checkpoints, which are of the Llama family.
    pub fn to_hf_json(
        &self,
        bos_token_id: Option<u32>,
        eos_token_id: Option<u32>,
    ) -> Result<serde_json::Value> {
        super::llama::hf_json(self, bos_token_id, eos_token_id)
    }
}

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

/// The largest size field accepted: far above any real model's width, vocabulary or context, and small
/// enough that the products computed from sizes cannot overflow.
const MAX_SIZE: usize = 1 << 24;

/// The most layers accepted; per-layer settings are allocated before any weight is read.
const MAX_LAYERS: usize = 10_000;

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

/// RoPE base and scaling, from `rope_theta` + `rope_scaling` (transformers 4) or `rope_parameters` (transformers 5).
/// `default_theta` applies when neither gives one.
pub(super) fn parse_rope(
    rope_theta: Option<f64>,
    rope_scaling: Option<&serde_json::Value>,
    rope_parameters: Option<&serde_json::Value>,
    default_theta: f64,
    path: &Path,
) -> Result<(f32, RopeScaling)> {
    let params = rope_parameters.or(rope_scaling);
    let theta_in_params = params
        .and_then(|p| p.get("rope_theta"))
        .and_then(|v| v.as_f64());
    let theta = rope_theta.or(theta_in_params).unwrap_or(default_theta) as f32;
    let Some(params) = params.filter(|p| !p.is_null()) else {
        return Ok((theta, RopeScaling::Default));
    };
    let field = if rope_parameters.is_some() {
        "rope_parameters"
    } else {
        "rope_scaling"
    };
    let kind = params
        .get("rope_type")
        .or_else(|| params.get("type"))
        .and_then(|v| v.as_str())
        .unwrap_or("default");
    let number = |key: &str| -> Result<f32> {
        params
            .get(key)
            .and_then(|v| v.as_f64())
            .map(|v| v as f32)
            .ok_or_else(|| {
                Error::config(
                    path,
                    format!("`{field}` of type `{kind}` needs a numeric `{key}`"),
                )
            })
    };
    let scaling = match kind {
        "default" => RopeScaling::Default,
        "linear" => RopeScaling::Linear {
            factor: number("factor")?,
        },
        "llama3" => RopeScaling::Llama3 {
            factor: number("factor")?,
            low_freq_factor: number("low_freq_factor")?,
            high_freq_factor: number("high_freq_factor")?,
            original_max_position_embeddings: number("original_max_position_embeddings")? as usize,
        },
        other => {
            return Err(Error::config(
                path,
                format!(
                    "`{field}` type `{other}` is not supported; supported: default, linear, llama3"
                ),
            ));
        }
    };
    Ok((theta, scaling))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<DecoderConfig> {
        DecoderConfig::from_json(json, Path::new("config.json"))
    }

    const LLAMA: &str = r#"{"architectures":["LlamaForCausalLM"],"hidden_size":64,"intermediate_size":128,
        "vocab_size":100,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
        "rms_norm_eps":1e-5,"max_position_embeddings":256,"tie_word_embeddings":true}"#;

    #[test]
    fn llama_defaults() {
        let c = parse(LLAMA).unwrap();
        assert_eq!(c.family, Family::Llama);
        assert_eq!(c.head_dim, 16);
        assert_eq!(c.kv_groups(), 2);
        assert_eq!(c.rope_theta, 10_000.0);
        assert_eq!(c.rope_scaling, RopeScaling::Default);
        assert!(!c.qkv_bias && !c.qk_norm);
    }

    #[test]
    fn unknown_architecture_lists_supported() {
        let err = parse(r#"{"architectures":["BertForMaskedLM"]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("BertForMaskedLM"), "{err}");
        assert!(
            err.contains("LlamaForCausalLM") && err.contains("GPTNeoXForCausalLM"),
            "{err}"
        );
    }

    #[test]
    fn missing_field_is_named() {
        let err = parse(r#"{"architectures":["LlamaForCausalLM"],"hidden_size":8}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("num_attention_heads"), "{err}");
    }

    #[test]
    fn rope_parameters_of_transformers_5() {
        let json = LLAMA.replace(
            "\"tie_word_embeddings\":true",
            r#""rope_parameters":{"rope_type":"llama3","rope_theta":500000.0,"factor":8.0,
            "low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":32}"#,
        );
        let c = parse(&json).unwrap();
        assert_eq!(c.rope_theta, 500_000.0);
        assert!(matches!(c.rope_scaling, RopeScaling::Llama3 { factor, .. } if factor == 8.0));
        assert!(!c.tie_word_embeddings);
    }

    #[test]
    fn unsupported_rope_type() {
        let json = LLAMA.replace(
            "\"tie_word_embeddings\":true",
            r#""rope_scaling":{"type":"yarn","factor":4.0}"#,
        );
        let err = parse(&json).unwrap_err().to_string();
        assert!(err.contains("yarn"), "{err}");
    }

    /// Each value no model can be trained with is refused, naming the field (each one was accepted before).
    #[test]
    fn impossible_values_are_refused_naming_the_field() {
        let with = |extra: &str| {
            let json = LLAMA.replace("\"tie_word_embeddings\":true", extra);
            parse(&json).map(|_| ()).unwrap_err().to_string()
        };
        let cases = [
            (r#""rms_norm_eps":-1"#, "`rms_norm_eps` is -1"),
            (r#""rms_norm_eps":0"#, "`rms_norm_eps` is 0"),
            (r#""rope_theta":0"#, "`rope_theta` is 0"),
            (r#""rope_theta":-10000"#, "`rope_theta` is -10000"),
            (
                r#""max_position_embeddings":0"#,
                "`max_position_embeddings` is 0",
            ),
            (
                r#""architectures":["MistralForCausalLM"],"sliding_window":0"#,
                "`sliding_window` is 0",
            ),
            (
                r#""rope_scaling":{"rope_type":"llama3","factor":-8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192}"#,
                "`factor` is -8",
            ),
            (
                r#""rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":0}"#,
                "`original_max_position_embeddings` is 0",
            ),
            (
                r#""rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":4.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192}"#,
                "`high_freq_factor` is 4",
            ),
            (
                r#""rope_scaling":{"type":"linear","factor":0.0}"#,
                "`factor` is 0",
            ),
        ];
        for (extra, expected) in cases {
            let err = with(extra);
            assert!(err.contains(expected), "{extra}: {err}");
            assert!(err.contains("config.json"), "{extra}: {err}");
        }
    }

    #[test]
    fn qwen_quirks() {
        let q2 = parse(&LLAMA.replace("LlamaForCausalLM", "Qwen2ForCausalLM")).unwrap();
        assert!(q2.qkv_bias && !q2.o_bias);
        let q3 = parse(&LLAMA.replace("LlamaForCausalLM", "Qwen3ForCausalLM")).unwrap();
        assert!(q3.qk_norm);
        assert_eq!(q3.head_dim, 128);
    }

    #[test]
    fn hf_json_round_trips() {
        let json = LLAMA.replace(
            "\"tie_word_embeddings\":true",
            r#""tie_word_embeddings":true,"rope_scaling":{"rope_type":"llama3","factor":8.0,
            "low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":32}"#,
        );
        let c = parse(&json).unwrap();
        let back = parse(&c.to_hf_json(Some(1), Some(2)).unwrap().to_string()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn parameter_count_of_smollm2_135m() {
        let json = r#"{"architectures":["LlamaForCausalLM"],"hidden_size":576,"intermediate_size":1536,
            "vocab_size":49152,"num_hidden_layers":30,"num_attention_heads":9,"num_key_value_heads":3,
            "tie_word_embeddings":true}"#;
        // SmolLM2-135M has 134,515,008 parameters.
        assert_eq!(parse(json).unwrap().num_parameters(), 134_515_008);
    }
    /// The parameter count of sizes whose product passes 2^64 saturates instead of wrapping to a small number.
    #[test]
    fn parameter_count_saturates() {
        let json = r#"{"architectures":["LlamaForCausalLM"],"hidden_size":16777216,"intermediate_size":16777216,
            "vocab_size":16777216,"num_hidden_layers":10000,"num_attention_heads":4096,"head_dim":4096}"#;
        assert_eq!(parse(json).unwrap().num_parameters(), usize::MAX);
    }
}
