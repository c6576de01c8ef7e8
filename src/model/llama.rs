//! The Llama family: `LlamaForCausalLM`, `MistralForCausalLM` (sliding window), `Qwen2ForCausalLM` (q/k/v biases)
//! and `Qwen3ForCausalLM` (per-head q/k RMSNorm), after transformers' `modeling_llama.py` and its copies. Its
//! config.json reader also serves Phi-3 and OLMo 2, whose configs are Llama's with a few fields more (their
//! tensors are loaded by `phi3.rs` and `olmo2.rs`). Tensors
//! are named `model.embed_tokens`, `model.layers.N.{input_layernorm, self_attn.{q,k,v,o}_proj, post_attention_layernorm,
//! mlp.{gate,up,down}_proj}`, `model.norm`, `lm_head`.

use super::config::{
    DecoderConfig, Family, MlpKind, NormKind, RopeScaling, parse_rope, require, require_layers,
};
use super::decoder::{
    Kernels, Layer, Norm, Parts, gated_mlp, llama_norms, lm_head, standard_attention,
};
use super::weights::TensorSource;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::Path;

/// The fields of config.json the family reads (field names and defaults as transformers' `LlamaConfig`,
/// `MistralConfig`, `Qwen2Config`, `Qwen3Config`). Unknown fields are ignored.
#[derive(Debug, Deserialize)]
struct LlamaConfig {
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
    partial_rotary_factor: Option<f64>,
    original_max_position_embeddings: Option<usize>,
}

/// Reads a Llama-family config.json.
pub(super) fn config(
    json: &serde_json::Value,
    family: Family,
    path: &Path,
) -> Result<DecoderConfig> {
    let raw = LlamaConfig::deserialize(json)
        .map_err(|e| Error::config(path, format!("not valid config.json: {e}")))?;
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
            format!("hidden_act `{act}` is not supported; the Llama family uses `silu`"),
        ));
    }
    let num_hidden_layers = require_layers(raw.num_hidden_layers, "num_hidden_layers", path)?;
    let rotary_dim = rotary_dim(&raw, head_dim, path)?;
    let (rope_theta, rope_scaling) = match longrope(&raw, family, rotary_dim, path)? {
        Some(pair) => pair,
        None => parse_rope(
            raw.rope_theta,
            raw.rope_scaling.as_ref(),
            raw.rope_parameters.as_ref(),
            10_000.0,
            path,
        )?,
    };
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
        norm: NormKind::Rms,
        rms_norm_eps: raw.rms_norm_eps.unwrap_or(match family {
            Family::Phi3 | Family::Olmo2 => 1e-5,
            _ => 1e-6,
        }),
        rotary_dim,
        parallel_residual: false,
        mlp: MlpKind::GatedSilu,
        norm_unit_offset: false,
        sandwich_norms: false,
        embed_scale: None,
        query_pre_attn_scalar: None,
        attn_softcap: None,
        final_softcap: None,
        rope_local_theta: None,
        rope_theta,
        rope_scaling,
        max_position_embeddings: raw.max_position_embeddings.unwrap_or(2048),
        tie_word_embeddings: raw.tie_word_embeddings.unwrap_or(false),
        qkv_bias,
        o_bias,
        mlp_bias: raw.mlp_bias.unwrap_or(false),
        qk_norm: matches!(family, Family::Qwen3 | Family::Olmo2),
        sliding_window,
    })
}

/// Phi-3's LongRoPE (`rope_type` `longrope`, or the older `su` and `yarn` that transformers reads as it):
/// `short_factor` and `long_factor` (one per rotated frequency), `original_max_position_embeddings` (in the
/// parameters or at the top level), and `attention_factor`, by default sqrt(1 + ln(factor) / ln(original)) where
/// `factor` (by default max_position_embeddings / original) exceeds 1. None for any other RoPE.
fn longrope(
    raw: &LlamaConfig,
    family: Family,
    rotary_dim: usize,
    path: &Path,
) -> Result<Option<(f32, RopeScaling)>> {
    let field = if raw.rope_parameters.is_some() {
        "rope_parameters"
    } else {
        "rope_scaling"
    };
    let Some(p) = raw
        .rope_parameters
        .as_ref()
        .or(raw.rope_scaling.as_ref())
        .filter(|p| p.is_object())
    else {
        return Ok(None);
    };
    let kind = p
        .get("rope_type")
        .or_else(|| p.get("type"))
        .and_then(|v| v.as_str())
        .unwrap_or("default");
    if family != Family::Phi3 || !matches!(kind, "longrope" | "su" | "yarn") {
        return Ok(None);
    }
    let factors = |key: &str| -> Result<Vec<f32>> {
        let list = p.get(key).and_then(|v| v.as_array()).ok_or_else(|| {
            Error::config(
                path,
                format!("`{field}` of type `{kind}` needs a list `{key}`"),
            )
        })?;
        let values: Option<Vec<f32>> = list.iter().map(|v| v.as_f64().map(|x| x as f32)).collect();
        match values {
            Some(v) if v.len() == rotary_dim / 2 => Ok(v),
            _ => Err(Error::config(
                path,
                format!(
                    "`{field}.{key}` must hold {} numbers (one per rotated frequency pair)",
                    rotary_dim / 2
                ),
            )),
        }
    };
    let original = p
        .get("original_max_position_embeddings")
        .and_then(|v| v.as_u64())
        .map(|v| v as usize)
        .or(raw.original_max_position_embeddings)
        .filter(|&v| v > 1)
        .ok_or_else(|| {
            Error::config(
                path,
                format!("`{field}` of type `{kind}` needs original_max_position_embeddings"),
            )
        })?;
    let factor = p.get("factor").and_then(|v| v.as_f64()).unwrap_or_else(|| {
        raw.max_position_embeddings.unwrap_or(original) as f64 / original as f64
    });
    let attention_factor = match p.get("attention_factor").and_then(|v| v.as_f64()) {
        Some(a) => a,
        None if factor <= 1.0 => 1.0,
        None => (1.0 + factor.ln() / (original as f64).ln()).sqrt(),
    };
    let theta = raw
        .rope_theta
        .or_else(|| p.get("rope_theta").and_then(|v| v.as_f64()))
        .unwrap_or(10_000.0);
    Ok(Some((
        theta as f32,
        RopeScaling::LongRope {
            short_factor: factors("short_factor")?,
            long_factor: factors("long_factor")?,
            original_max_position_embeddings: original,
            attention_factor: attention_factor as f32,
        },
    )))
}

/// Features of each head that RoPE rotates: `partial_rotary_factor` (top level, or in `rope_parameters`) of the
/// head, as transformers' `int(head_dim * factor)`.
fn rotary_dim(raw: &LlamaConfig, head_dim: usize, path: &Path) -> Result<usize> {
    let factor = raw
        .rope_parameters
        .as_ref()
        .and_then(|p| p.get("partial_rotary_factor"))
        .and_then(|v| v.as_f64())
        .or(raw.partial_rotary_factor)
        .unwrap_or(1.0);
    let dim = (head_dim as f64 * factor) as usize;
    if !(factor > 0.0 && factor <= 1.0) || dim == 0 || !dim.is_multiple_of(2) {
        return Err(Error::config(
            path,
            format!(
                "partial_rotary_factor {factor} of head_dim {head_dim} gives {dim} rotated features; it must be in (0, 1] and give an even number"
            ),
        ));
    }
    Ok(dim)
}

/// Per-layer sliding windows: transformers 5 lists `layer_types`; Mistral applies `sliding_window` everywhere;
/// Qwen2/Qwen3 only with `use_sliding_window`, from layer `max_window_layers` on.
fn sliding_windows(raw: &LlamaConfig, family: Family, layers: usize) -> Vec<Option<usize>> {
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
        Family::Mistral | Family::Phi3 => vec![Some(window); layers],
        Family::Qwen2 | Family::Qwen3 if raw.use_sliding_window == Some(true) => {
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
        let qk_norm = |name: &str| -> Result<Option<Norm>> {
            if cfg.qk_norm {
                Ok(Some(Norm::load(
                    src,
                    &format!("{a}.{name}"),
                    hd,
                    NormKind::Rms,
                    eps,
                )?))
            } else {
                Ok(None)
            }
        };
        let attn = standard_attention(
            src,
            &a,
            cfg,
            l,
            (qk_norm("q_norm")?, qk_norm("k_norm")?),
            kernels,
        )?;
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
    let norm = Norm::load(src, "model.norm", h, NormKind::Rms, eps)?;
    let lm_head = lm_head(cfg, src, &embed, "lm_head.weight")?;
    Ok(Parts {
        embed,
        layers,
        norm,
        lm_head,
        positions: None,
    })
}

/// A Llama-family configuration as a Hugging Face `config.json` (transformers 4 layout, which both 4.x and 5.x
/// read), with the given special token ids.
pub(super) fn hf_json(
    cfg: &DecoderConfig,
    bos_token_id: Option<u32>,
    eos_token_id: Option<u32>,
) -> Result<serde_json::Value> {
    let model_type = match cfg.family {
        Family::Llama => "llama",
        Family::Mistral => "mistral",
        Family::Qwen2 => "qwen2",
        Family::Qwen3 => "qwen3",
        other => {
            return Err(Error::InvalidArgument(format!(
                "saving a {} checkpoint is not supported; creditlens trains Llama-family models",
                other.architecture()
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
        "architectures": [cfg.family.architecture()],
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
