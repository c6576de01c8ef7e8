//! The Llama family: `LlamaForCausalLM`, `MistralForCausalLM` (sliding window), `Qwen2ForCausalLM` (q/k/v biases)
//! and `Qwen3ForCausalLM` (per-head q/k RMSNorm), after transformers' `modeling_llama.py` and its copies. Its
//! config.json reader also serves Phi-3 and OLMo 2, whose configs are Llama's with a few fields more (their
//! tensors are loaded by `phi3.rs` and `olmo2.rs`). Tensors
//! are named `model.embed_tokens`, `model.layers.N.{input_layernorm, self_attn.{q,k,v,o}_proj, post_attention_layernorm,
//! mlp.{gate,up,down}_proj}`, `model.norm`, `lm_head`.

use super::config::{DecoderConfig, Family, MlpKind, NormKind, QkNorm, RopeScaling};
use super::config_json::{Common, HeadDim, read, windows_by_type};
use super::decoder::{Kernels, Layer, Norm, Parts, gated_mlp, llama_norms, standard_attention};
use super::rope;
use super::weights::{MemoryWeights, TensorSource};
use crate::error::{Error, Result};
use candle_core::{DType, Device};
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

impl Family {
    /// `LlamaForCausalLM`.
    pub const LLAMA: Family = Family::new("LlamaForCausalLM");
    /// `MistralForCausalLM`.
    pub const MISTRAL: Family = Family::new("MistralForCausalLM");
    /// `Qwen2ForCausalLM`.
    pub const QWEN2: Family = Family::new("Qwen2ForCausalLM");
    /// `Qwen3ForCausalLM`.
    pub const QWEN3: Family = Family::new("Qwen3ForCausalLM");
}

/// The fields of config.json the family reads besides the common ones (field names and defaults as transformers'
/// `LlamaConfig`, `MistralConfig`, `Qwen2Config`, `Qwen3Config`, `Phi3Config`, `Olmo2Config`). Unknown fields are
/// ignored.
#[derive(Debug, Deserialize)]
struct LlamaConfig {
    #[serde(flatten)]
    common: Common,
    mlp_bias: Option<bool>,
    sliding_window: Option<usize>,
    use_sliding_window: Option<bool>,
    max_window_layers: Option<usize>,
    original_max_position_embeddings: Option<usize>,
}

/// Reads a Llama-family config.json.
pub(super) fn config(json: &Value, family: Family, path: &Path) -> Result<DecoderConfig> {
    let raw: LlamaConfig = read(json, path)?;
    let c = &raw.common;
    // transformers' Qwen3Config defaults head_dim to 128, not hidden/heads.
    let shape = c.shape(
        HeadDim::Field((family == Family::QWEN3).then_some(128)),
        path,
    )?;
    c.expect_act("silu", "the Llama family", path)?;
    let factor = rope::rotary_factor(c, c.partial_rotary_factor, 1.0);
    let rotary_dim = rope::rotary_dim("partial_rotary_factor", factor, shape.head_dim, path)?;
    let longrope = match family {
        Family::PHI3 => rope::longrope(c, raw.original_max_position_embeddings, rotary_dim, path)?,
        _ => None,
    };
    let (rope_theta, rope_scaling) = match longrope {
        Some(pair) => pair,
        None => rope::read(c, 10_000.0, path)?,
    };
    // Qwen 2 always has biases on q/k/v and none on the output.
    let attention_bias = c.attention_bias.unwrap_or(false);
    Ok(DecoderConfig {
        rms_norm_eps: c.rms_norm_eps.unwrap_or(match family {
            Family::PHI3 | Family::OLMO2 => 1e-5,
            _ => 1e-6,
        }),
        rotary_dim,
        rope_theta,
        rope_scaling,
        max_position_embeddings: c.max_position_embeddings.unwrap_or(2048),
        tie_word_embeddings: c.tie_word_embeddings.unwrap_or(false),
        qkv_bias: attention_bias || family == Family::QWEN2,
        o_bias: attention_bias && family != Family::QWEN2,
        mlp_bias: raw.mlp_bias.unwrap_or(false),
        qk_norm: match family {
            Family::QWEN3 => QkNorm::PerHead,
            Family::OLMO2 => QkNorm::Whole,
            _ => QkNorm::None,
        },
        sliding_window: sliding_windows(&raw, family, shape.num_hidden_layers),
        ..DecoderConfig::new(family, shape)
    })
}

/// Per-layer sliding windows: transformers 5 lists `layer_types`; Mistral and Phi-3 apply `sliding_window`
/// everywhere; Qwen2/Qwen3 only with `use_sliding_window`, from layer `max_window_layers` on.
fn sliding_windows(raw: &LlamaConfig, family: Family, layers: usize) -> Vec<Option<usize>> {
    let Some(window) = raw.sliding_window else {
        return vec![None; layers];
    };
    if let Some(types) = &raw.common.layer_types {
        return windows_by_type(types, window, layers);
    }
    match family {
        Family::MISTRAL | Family::PHI3 => vec![Some(window); layers],
        Family::QWEN2 | Family::QWEN3 if raw.use_sliding_window == Some(true) => {
            let from = raw.max_window_layers.unwrap_or(layers);
            (0..layers).map(|i| (i >= from).then_some(window)).collect()
        }
        _ => vec![None; layers],
    }
}

/// Loads a Llama-family checkpoint's tensors.
pub(super) fn load(cfg: &DecoderConfig, src: &dyn TensorSource, kernels: Kernels) -> Result<Parts> {
    let (h, v) = (cfg.hidden_size, cfg.vocab_size);
    let hd = cfg.head_dim;
    let eps = cfg.rms_norm_eps;
    let embed = src.matrix("model.embed_tokens.weight", &[v, h])?;
    let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
    for l in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{l}");
        let a = format!("{p}.self_attn");
        let qk_norm = |name: &str| {
            (cfg.qk_norm == QkNorm::PerHead)
                .then(|| Norm::load(src, &format!("{a}.{name}"), hd, NormKind::Rms, eps))
                .transpose()
        };
        let norms = (qk_norm("q_norm")?, qk_norm("k_norm")?);
        let attn = standard_attention(src, &a, cfg, l, norms, kernels)?;
        let (input_norm, post_norm) = llama_norms(src, &p, cfg)?;
        layers.push(Layer {
            input_norm,
            attn,
            attn_out_norm: None,
            post_norm,
            mlp: gated_mlp(src, &p, cfg, MlpKind::GatedSilu, kernels)?,
            mlp_out_norm: None,
            parallel: false,
        });
    }
    let final_norm = Norm::load(src, "model.norm", h, NormKind::Rms, eps)?;
    Parts::new(cfg, src, embed, layers, final_norm, "lm_head.weight")
}

impl MemoryWeights {
    /// Random weights for a Llama-family `cfg`, its tensors named as a Llama checkpoint names them
    /// ([`MemoryWeights::random_tensors`]): the starting point of training, and the model of benchmarks that need a
    /// shape rather than a trained model. Other families are refused.
    pub fn random(cfg: &DecoderConfig, dtype: DType, device: &Device, seed: u64) -> Result<Self> {
        if !matches!(
            cfg.family,
            Family::LLAMA | Family::MISTRAL | Family::QWEN2 | Family::QWEN3
        ) {
            return Err(Error::InvalidArgument(
                "random initialisation is for Llama-family models (training and benchmarks)".into(),
            ));
        }
        let (h, i, v) = (cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size);
        let (q, kv) = (
            cfg.num_attention_heads * cfg.head_dim,
            cfg.num_key_value_heads * cfg.head_dim,
        );
        let mut shapes: Vec<(String, Vec<usize>)> = vec![
            ("model.embed_tokens.weight".into(), vec![v, h]),
            ("model.norm.weight".into(), vec![h]),
        ];
        if !cfg.tie_word_embeddings {
            shapes.push(("lm_head.weight".into(), vec![v, h]));
        }
        for l in 0..cfg.num_hidden_layers {
            let p = format!("model.layers.{l}");
            let a = format!("{p}.self_attn");
            shapes.extend([
                (format!("{p}.input_layernorm.weight"), vec![h]),
                (format!("{p}.post_attention_layernorm.weight"), vec![h]),
                (format!("{a}.q_proj.weight"), vec![q, h]),
                (format!("{a}.k_proj.weight"), vec![kv, h]),
                (format!("{a}.v_proj.weight"), vec![kv, h]),
                (format!("{a}.o_proj.weight"), vec![h, q]),
                (format!("{p}.mlp.gate_proj.weight"), vec![i, h]),
                (format!("{p}.mlp.up_proj.weight"), vec![i, h]),
                (format!("{p}.mlp.down_proj.weight"), vec![h, i]),
            ]);
            if cfg.qkv_bias {
                shapes.extend([
                    (format!("{a}.q_proj.bias"), vec![q]),
                    (format!("{a}.k_proj.bias"), vec![kv]),
                    (format!("{a}.v_proj.bias"), vec![kv]),
                ]);
            }
            if cfg.qk_norm == QkNorm::PerHead {
                shapes.extend([
                    (format!("{a}.q_norm.weight"), vec![cfg.head_dim]),
                    (format!("{a}.k_norm.weight"), vec![cfg.head_dim]),
                ]);
            }
        }
        Self::random_tensors(shapes, dtype, device, seed)
    }
}

/// A Llama-family configuration as a Hugging Face `config.json` (transformers 4 layout, which both 4.x and 5.x
/// read), with the given special token ids; `architecture` is the family's `architectures[0]`.
pub(super) fn hf_json(
    cfg: &DecoderConfig,
    bos_token_id: Option<u32>,
    eos_token_id: Option<u32>,
) -> Result<serde_json::Value> {
    let architecture = cfg.family.architecture();
    let model_type = match cfg.family {
        Family::LLAMA => "llama",
        Family::MISTRAL => "mistral",
        Family::QWEN2 => "qwen2",
        Family::QWEN3 => "qwen3",
        _ => {
            return Err(Error::InvalidArgument(format!(
                "saving a {architecture} checkpoint is not supported; creditlens trains Llama-family models"
            )));
        }
    };
    let rope_scaling = match &cfg.rope_scaling {
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
        RopeScaling::LongRope { .. } => {
            return Err(Error::InvalidArgument(
                "saving a LongRoPE checkpoint is not supported".into(),
            ));
        }
    };
    Ok(serde_json::json!({
        "architectures": [architecture],
        "model_type": model_type,
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "vocab_size": cfg.vocab_size,
        "num_hidden_layers": cfg.num_hidden_layers,
        "num_attention_heads": cfg.num_attention_heads,
        "num_key_value_heads": cfg.num_key_value_heads,
        "head_dim": cfg.head_dim,
        "rms_norm_eps": cfg.rms_norm_eps,
        "rope_theta": cfg.rope_theta,
        "rope_scaling": rope_scaling,
        "max_position_embeddings": cfg.max_position_embeddings,
        "tie_word_embeddings": cfg.tie_word_embeddings,
        "attention_bias": cfg.qkv_bias,
        "mlp_bias": cfg.mlp_bias,
        "hidden_act": "silu",
        "bos_token_id": bos_token_id,
        "eos_token_id": eos_token_id,
        "torch_dtype": "float32",
    }))
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
        assert_eq!(c.family, Family::LLAMA);
        assert_eq!(c.head_dim, 16);
        assert_eq!(c.kv_groups(), 2);
        assert_eq!(c.rope_theta, 10_000.0);
        assert_eq!(c.rope_scaling, RopeScaling::Default);
        assert!(!c.qkv_bias && c.qk_norm == QkNorm::None);
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
        assert_eq!(q3.qk_norm, QkNorm::PerHead);
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

    const PHI3: &str = r#""architectures":["Phi3ForCausalLM"],"hidden_size":32,"intermediate_size":64,
        "vocab_size":100,"num_hidden_layers":2,"num_attention_heads":4,"max_position_embeddings":4096"#;

    #[test]
    fn longrope_is_read_with_its_defaults() {
        // transformers 4 layout: `rope_scaling` of type `su`, the original length at the top level.
        let cfg = parse(&format!(
            r#"{{{PHI3},"original_max_position_embeddings":1024,
            "rope_scaling":{{"type":"su","short_factor":[1,1,1,1],"long_factor":[1,2,3,4]}}}}"#
        ))
        .unwrap();
        let RopeScaling::LongRope {
            long_factor,
            original_max_position_embeddings,
            attention_factor,
            ..
        } = &cfg.rope_scaling
        else {
            panic!("{:?}", cfg.rope_scaling);
        };
        assert_eq!(long_factor, &vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(*original_max_position_embeddings, 1024);
        let expected = (1.0 + 4f64.ln() / 1024f64.ln()).sqrt() as f32;
        assert!((attention_factor - expected).abs() < 1e-6);
    }

    #[test]
    fn longrope_errors_name_the_field() {
        let err = parse(&format!(
            r#"{{{PHI3},"rope_parameters":{{"rope_type":"longrope","short_factor":[1,1],
            "long_factor":[1,2,3,4],"original_max_position_embeddings":1024}}}}"#
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("config.json")
                && err.contains("rope_parameters.short_factor")
                && err.contains("4 numbers"),
            "{err}"
        );
        let err = parse(&format!(
            r#"{{{PHI3},"rope_parameters":{{"rope_type":"longrope","short_factor":[1,1,1,1],
            "long_factor":[1,2,3,4]}}}}"#
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("original_max_position_embeddings"), "{err}");
        // Only Phi-3 reads LongRoPE; a Llama config with it is refused by name.
        let err = parse(
            r#"{"architectures":["LlamaForCausalLM"],"hidden_size":32,"intermediate_size":64,"vocab_size":100,
            "num_hidden_layers":2,"num_attention_heads":4,"rope_scaling":{"rope_type":"longrope","factor":2}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("longrope"), "{err}");
    }
}
