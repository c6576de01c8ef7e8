//! Architecture configuration: reads a Hugging Face `config.json` and normalises the supported decoder-only
//! families (Llama, Mistral, Qwen2, Qwen3) into one [`DecoderConfig`]. Dispatch is one table keyed by
//! `architectures[0]`, so adding a family is one row plus its quirks below.
//!
//! Field names and defaults follow transformers' `LlamaConfig`, `MistralConfig`, `Qwen2Config` and `Qwen3Config`.

use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::Path;

/// The architectures creditlens runs, as named in config.json's `architectures`.
pub const SUPPORTED_ARCHITECTURES: &[&str] = &[
    "LlamaForCausalLM",
    "MistralForCausalLM",
    "Qwen2ForCausalLM",
    "Qwen3ForCausalLM",
];

/// Which family a checkpoint belongs to; decides the few places where the families differ.
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
}

impl Family {
    /// The family's name as it appears in config.json.
    pub fn architecture(self) -> &'static str {
        match self {
            Family::Llama => "LlamaForCausalLM",
            Family::Mistral => "MistralForCausalLM",
            Family::Qwen2 => "Qwen2ForCausalLM",
            Family::Qwen3 => "Qwen3ForCausalLM",
        }
    }

    fn from_architecture(name: &str) -> Option<Family> {
        [Family::Llama, Family::Mistral, Family::Qwen2, Family::Qwen3]
            .into_iter()
            .find(|f| f.architecture() == name)
    }
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
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
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

/// The raw fields of config.json that any supported family may use. Unknown fields are ignored.
#[derive(Debug, Deserialize)]
struct RawConfig {
    #[serde(default)]
    architectures: Vec<String>,
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    vocab_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    rms_norm_eps: Option<f64>,
    rope_theta: Option<f64>,
    rope_scaling: Option<serde_json::Value>,
    rope_parameters: Option<serde_json::Value>,
    max_position_embeddings: Option<usize>,
    tie_word_embeddings: Option<bool>,
    attention_bias: Option<bool>,
    mlp_bias: Option<bool>,
    hidden_act: Option<String>,
    sliding_window: Option<usize>,
    use_sliding_window: Option<bool>,
    max_window_layers: Option<usize>,
    layer_types: Option<Vec<String>>,
}

impl DecoderConfig {
    /// Reads and normalises `config.json` at `path`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&text, path)
    }

    /// Parses config.json text; `path` is only used in error messages.
    pub fn from_json(text: &str, path: &Path) -> Result<Self> {
        let raw: RawConfig = serde_json::from_str(text)
            .map_err(|e| Error::config(path, format!("not valid config.json: {e}")))?;
        let arch = raw.architectures.first().ok_or_else(|| {
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
                arch: arch.clone(),
                supported: SUPPORTED_ARCHITECTURES.join(", "),
            })?;
        normalise(raw, family, path)
    }

    /// Number of query heads sharing one key/value head.
    pub fn kv_groups(&self) -> usize {
        self.num_attention_heads / self.num_key_value_heads
    }

    /// Number of parameters implied by this configuration (the tied LM head counted once).
    pub fn num_parameters(&self) -> usize {
        let (h, i, v) = (self.hidden_size, self.intermediate_size, self.vocab_size);
        let q = self.num_attention_heads * self.head_dim;
        let kv = self.num_key_value_heads * self.head_dim;
        let mut attn = h * q + 2 * h * kv + q * h;
        if self.qkv_bias {
            attn += q + 2 * kv;
        }
        if self.o_bias {
            attn += h;
        }
        if self.qk_norm {
            attn += 2 * self.head_dim;
        }
        let mut mlp = 3 * h * i;
        if self.mlp_bias {
            mlp += 2 * i + h;
        }
        let layer = attn + mlp + 2 * h;
        let head = if self.tie_word_embeddings { 0 } else { v * h };
        v * h + self.num_hidden_layers * layer + h + head
    }
}

impl DecoderConfig {
    /// The configuration as a Hugging Face `config.json` (transformers 4 layout, which both 4.x and 5.x read),
    /// with the given special token ids. Used when saving trained checkpoints.
    pub fn to_hf_json(
        &self,
        bos_token_id: Option<u32>,
        eos_token_id: Option<u32>,
    ) -> serde_json::Value {
        let model_type = match self.family {
            Family::Llama => "llama",
            Family::Mistral => "mistral",
            Family::Qwen2 => "qwen2",
            Family::Qwen3 => "qwen3",
        };
        let rope_scaling = match &self.rope_scaling {
            RopeScaling::Default => serde_json::Value::Null,
            RopeScaling::Linear { factor } => {
                serde_json::json!({"rope_type": "linear", "factor": factor})
            }
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            } => serde_json::json!({
                "rope_type": "llama3", "factor": factor, "low_freq_factor": low_freq_factor,
                "high_freq_factor": high_freq_factor,
                "original_max_position_embeddings": original_max_position_embeddings,
            }),
        };
        serde_json::json!({
            "architectures": [self.family.architecture()],
            "model_type": model_type,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "vocab_size": self.vocab_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "rope_scaling": rope_scaling,
            "max_position_embeddings": self.max_position_embeddings,
            "tie_word_embeddings": self.tie_word_embeddings,
            "attention_bias": self.qkv_bias,
            "mlp_bias": self.mlp_bias,
            "hidden_act": "silu",
            "bos_token_id": bos_token_id,
            "eos_token_id": eos_token_id,
            "torch_dtype": "float32",
        })
    }
}

fn require(value: Option<usize>, field: &str, path: &Path) -> Result<usize> {
    match value {
        Some(0) => Err(Error::config(
            path,
            format!("field `{field}` is 0; it must be positive"),
        )),
        Some(v) => Ok(v),
        None => Err(Error::config(
            path,
            format!("required field `{field}` is missing"),
        )),
    }
}

fn normalise(raw: RawConfig, family: Family, path: &Path) -> Result<DecoderConfig> {
    let hidden_size = require(raw.hidden_size, "hidden_size", path)?;
    let num_attention_heads = require(raw.num_attention_heads, "num_attention_heads", path)?;
    let num_key_value_heads = match raw.num_key_value_heads {
        None => num_attention_heads,
        v => require(v, "num_key_value_heads", path)?,
    };
    if num_attention_heads % num_key_value_heads != 0 {
        return Err(Error::config(
            path,
            format!(
                "num_attention_heads ({num_attention_heads}) is not a multiple of num_key_value_heads ({num_key_value_heads})"
            ),
        ));
    }
    let head_dim = match (raw.head_dim, family) {
        (Some(d), _) if d > 0 => d,
        // transformers' Qwen3Config defaults head_dim to 128, not hidden/heads.
        (None, Family::Qwen3) => 128,
        _ => {
            if hidden_size % num_attention_heads != 0 {
                return Err(Error::config(
                    path,
                    "hidden_size is not a multiple of num_attention_heads and head_dim is not given",
                ));
            }
            hidden_size / num_attention_heads
        }
    };
    if head_dim % 2 != 0 {
        return Err(Error::config(
            path,
            format!("head_dim {head_dim} is odd; rotary embeddings need an even head_dim"),
        ));
    }
    if let Some(act) = &raw.hidden_act
        && act != "silu"
    {
        return Err(Error::config(
            path,
            format!("hidden_act `{act}` is not supported; the supported families use `silu`"),
        ));
    }
    let num_hidden_layers = require(raw.num_hidden_layers, "num_hidden_layers", path)?;
    let (rope_theta, rope_scaling) = parse_rope(&raw, path)?;
    let attention_bias = raw.attention_bias.unwrap_or(false);
    let (qkv_bias, o_bias) = match family {
        Family::Qwen2 => (true, false),
        _ => (attention_bias, attention_bias),
    };
    let sliding_window = sliding_windows(&raw, family, num_hidden_layers);
    Ok(DecoderConfig {
        family,
        hidden_size,
        intermediate_size: require(raw.intermediate_size, "intermediate_size", path)?,
        vocab_size: require(raw.vocab_size, "vocab_size", path)?,
        num_hidden_layers,
        num_attention_heads,
        num_key_value_heads,
        head_dim,
        rms_norm_eps: raw.rms_norm_eps.unwrap_or(1e-6),
        rope_theta,
        rope_scaling,
        max_position_embeddings: raw.max_position_embeddings.unwrap_or(2048),
        tie_word_embeddings: raw.tie_word_embeddings.unwrap_or(false),
        qkv_bias,
        o_bias,
        mlp_bias: raw.mlp_bias.unwrap_or(false),
        qk_norm: family == Family::Qwen3,
        sliding_window,
    })
}

/// Per-layer sliding windows: transformers 5 lists `layer_types`; Mistral applies `sliding_window` everywhere;
/// Qwen2/Qwen3 only with `use_sliding_window`, from layer `max_window_layers` on.
fn sliding_windows(raw: &RawConfig, family: Family, layers: usize) -> Vec<Option<usize>> {
    let Some(window) = raw.sliding_window else {
        return vec![None; layers];
    };
    if let Some(types) = &raw.layer_types {
        return (0..layers)
            .map(|i| {
                (types.get(i).map(String::as_str) == Some("sliding_attention")).then_some(window)
            })
            .collect();
    }
    match family {
        Family::Mistral => vec![Some(window); layers],
        Family::Qwen2 | Family::Qwen3 if raw.use_sliding_window == Some(true) => {
            let from = raw.max_window_layers.unwrap_or(layers);
            (0..layers).map(|i| (i >= from).then_some(window)).collect()
        }
        _ => vec![None; layers],
    }
}

/// RoPE base and scaling, from `rope_theta` + `rope_scaling` (transformers 4) or `rope_parameters` (transformers 5).
fn parse_rope(raw: &RawConfig, path: &Path) -> Result<(f32, RopeScaling)> {
    let params = raw.rope_parameters.as_ref().or(raw.rope_scaling.as_ref());
    let theta_in_params = params
        .and_then(|p| p.get("rope_theta"))
        .and_then(|v| v.as_f64());
    let theta = raw.rope_theta.or(theta_in_params).unwrap_or(10_000.0) as f32;
    let Some(params) = params.filter(|p| !p.is_null()) else {
        return Ok((theta, RopeScaling::Default));
    };
    let field = if raw.rope_parameters.is_some() {
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
        let err = parse(r#"{"architectures":["GPT2LMHeadModel"]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("GPT2LMHeadModel"), "{err}");
        assert!(
            err.contains("LlamaForCausalLM") && err.contains("Qwen3ForCausalLM"),
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
        let back = parse(&c.to_hf_json(Some(1), Some(2)).to_string()).unwrap();
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
}
