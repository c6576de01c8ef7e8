//! StableLM (`StableLmForCausalLM`: StableLM 2, StableLM-3B-4E1T), after transformers' `modeling_stablelm.py`:
//! LayerNorm with biases, RoPE on `partial_rotary_factor` (0.25 by default) of each head, optional q/k/v biases
//! (`use_qkv_bias`), a gated SiLU MLP, untied head, and attention and MLP either one after the other or in parallel
//! from the same normed input (`use_parallel_residual`, which drops `post_attention_layernorm`). Tensors are named
//! as the Llama family's. The per-head q/k LayerNorms of `qk_layernorm` are refused by name.

use super::config::{
    DecoderConfig, Family, MlpKind, NormKind, parse_rope, require, require_layers,
};
use super::decoder::{Kernels, Layer, Norm, Parts, gated_mlp, lm_head, standard_attention};
use super::weights::TensorSource;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::Path;

/// The fields of config.json StableLM reads, with transformers' `StableLmConfig` defaults.
#[derive(Debug, Deserialize)]
struct StableLmConfig {
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    vocab_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    num_key_value_heads: Option<usize>,
    layer_norm_eps: Option<f64>,
    partial_rotary_factor: Option<f64>,
    rope_theta: Option<f64>,
    rope_scaling: Option<serde_json::Value>,
    rope_parameters: Option<serde_json::Value>,
    max_position_embeddings: Option<usize>,
    tie_word_embeddings: Option<bool>,
    use_qkv_bias: Option<bool>,
    qk_layernorm: Option<bool>,
    use_parallel_residual: Option<bool>,
    hidden_act: Option<String>,
}

/// Reads a StableLM config.json.
pub(super) fn config(
    json: &serde_json::Value,
    family: Family,
    path: &Path,
) -> Result<DecoderConfig> {
    let raw = StableLmConfig::deserialize(json)
        .map_err(|e| Error::config(path, format!("not valid config.json: {e}")))?;
    if raw.qk_layernorm == Some(true) {
        return Err(Error::config(
            path,
            "qk_layernorm is true (per-head q/k LayerNorms); creditlens does not run it yet",
        ));
    }
    if let Some(act) = raw.hidden_act.as_deref()
        && act != "silu"
    {
        return Err(Error::config(
            path,
            format!("hidden_act `{act}` is not supported; StableLM uses `silu`"),
        ));
    }
    let hidden_size = require(raw.hidden_size, "hidden_size", path)?;
    let heads = require(raw.num_attention_heads, "num_attention_heads", path)?;
    let kv_heads = match raw.num_key_value_heads {
        None => heads,
        v => require(v, "num_key_value_heads", path)?,
    };
    if hidden_size % heads != 0 || heads % kv_heads != 0 {
        return Err(Error::config(
            path,
            format!(
                "hidden_size ({hidden_size}), num_attention_heads ({heads}) and num_key_value_heads ({kv_heads}) do not divide"
            ),
        ));
    }
    let head_dim = hidden_size / heads;
    let factor = raw
        .rope_parameters
        .as_ref()
        .and_then(|p| p.get("partial_rotary_factor"))
        .and_then(|v| v.as_f64())
        .or(raw.partial_rotary_factor)
        .unwrap_or(0.25);
    let rotary_dim = (head_dim as f64 * factor) as usize;
    if !(factor > 0.0 && factor <= 1.0) || rotary_dim == 0 || !rotary_dim.is_multiple_of(2) {
        return Err(Error::config(
            path,
            format!(
                "partial_rotary_factor {factor} of head size {head_dim} gives {rotary_dim} rotated features; it must be in (0, 1] and give an even number"
            ),
        ));
    }
    let (rope_theta, rope_scaling) = parse_rope(
        raw.rope_theta,
        raw.rope_scaling.as_ref(),
        raw.rope_parameters.as_ref(),
        10_000.0,
        path,
    )?;
    let num_hidden_layers = require_layers(raw.num_hidden_layers, "num_hidden_layers", path)?;
    let qkv_bias = raw.use_qkv_bias.unwrap_or(false);
    Ok(DecoderConfig {
        family,
        hidden_size,
        intermediate_size: require(raw.intermediate_size, "intermediate_size", path)?,
        vocab_size: require(raw.vocab_size, "vocab_size", path)?,
        num_hidden_layers,
        num_attention_heads: heads,
        num_key_value_heads: kv_heads,
        head_dim,
        norm: NormKind::Layer,
        rms_norm_eps: raw.layer_norm_eps.unwrap_or(1e-5),
        rotary_dim,
        parallel_residual: raw.use_parallel_residual.unwrap_or(false),
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
        max_position_embeddings: raw.max_position_embeddings.unwrap_or(4096),
        tie_word_embeddings: raw.tie_word_embeddings.unwrap_or(false),
        qkv_bias,
        o_bias: false,
        mlp_bias: false,
        qk_norm: false,
        sliding_window: vec![None; num_hidden_layers],
    })
}

/// Loads a StableLM checkpoint's tensors.
pub(super) fn load(cfg: &DecoderConfig, src: &dyn TensorSource, kernels: Kernels) -> Result<Parts> {
    let (h, v) = (cfg.hidden_size, cfg.vocab_size);
    let eps = cfg.rms_norm_eps;
    let norm = |name: String| Norm::load(src, &name, h, NormKind::Layer, eps);
    let embed = src.matrix("model.embed_tokens.weight", &[v, h])?;
    let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
    for l in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{l}");
        let input_norm = norm(format!("{p}.input_layernorm"))?;
        // In parallel mode the MLP reads the same normed input as attention.
        let post_norm = if cfg.parallel_residual {
            input_norm.clone()
        } else {
            norm(format!("{p}.post_attention_layernorm"))?
        };
        layers.push(Layer {
            input_norm: Some(input_norm),
            attn: standard_attention(
                src,
                &format!("{p}.self_attn"),
                cfg,
                l,
                (None, None),
                kernels,
            )?,
            attn_out_norm: None,
            post_norm: Some(post_norm),
            mlp: gated_mlp(src, &p, cfg, MlpKind::GatedSilu, kernels)?,
            mlp_out_norm: None,
            parallel: cfg.parallel_residual,
        });
    }
    let final_norm = norm("model.norm".into())?;
    let lm_head = lm_head(cfg, src, &embed, "lm_head.weight")?;
    Ok(Parts {
        embed,
        layers,
        norm: final_norm,
        lm_head,
        positions: None,
    })
}
