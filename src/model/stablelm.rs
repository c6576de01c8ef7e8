//! StableLM (`StableLmForCausalLM`: StableLM 2, StableLM-3B-4E1T), after transformers' `modeling_stablelm.py`:
//! LayerNorm with biases, RoPE on `partial_rotary_factor` (0.25 by default) of each head, optional q/k/v biases
//! (`use_qkv_bias`), a gated SiLU MLP, untied head, and attention and MLP either one after the other or in parallel
//! from the same normed input (`use_parallel_residual`, which drops `post_attention_layernorm`). Tensors are named
//! as the Llama family's. The per-head q/k LayerNorms of `qk_layernorm` are refused by name.

use super::config::{DecoderConfig, Family, MlpKind, NormKind};
use super::config_json::{Common, HeadDim, read};
use super::decoder::{Kernels, Layer, Norm, Parts, gated_mlp, standard_attention};
use super::rope;
use super::weights::TensorSource;
use crate::error::{Error, Result};
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

impl Family {
    /// `StableLmForCausalLM`.
    pub const STABLELM: Family = Family::new("StableLmForCausalLM");
}

/// The fields of config.json StableLM reads besides the common ones, with transformers' `StableLmConfig` defaults.
#[derive(Debug, Deserialize)]
struct StableLmConfig {
    #[serde(flatten)]
    common: Common,
    use_qkv_bias: Option<bool>,
    qk_layernorm: Option<bool>,
}

/// Reads a StableLM config.json.
pub(super) fn config(json: &Value, family: Family, path: &Path) -> Result<DecoderConfig> {
    let raw: StableLmConfig = read(json, path)?;
    let c = &raw.common;
    if raw.qk_layernorm == Some(true) {
        return Err(Error::config(
            path,
            "qk_layernorm is true (per-head q/k LayerNorms); creditlens does not run it yet",
        ));
    }
    c.expect_act("silu", "StableLM", path)?;
    let shape = c.shape(HeadDim::Split, path)?;
    let factor = rope::rotary_factor(c, c.partial_rotary_factor, 0.25);
    let (rope_theta, rope_scaling) = rope::read(c, 10_000.0, path)?;
    Ok(DecoderConfig {
        norm: NormKind::Layer,
        rms_norm_eps: c.layer_norm_eps.unwrap_or(1e-5),
        rotary_dim: rope::rotary_dim("partial_rotary_factor", factor, shape.head_dim, path)?,
        parallel_residual: c.use_parallel_residual.unwrap_or(false),
        rope_theta,
        rope_scaling,
        max_position_embeddings: c.max_position_embeddings.unwrap_or(4096),
        tie_word_embeddings: c.tie_word_embeddings.unwrap_or(false),
        qkv_bias: raw.use_qkv_bias.unwrap_or(false),
        ..DecoderConfig::new(family, shape)
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
    Parts::new(cfg, src, embed, layers, final_norm, "lm_head.weight")
}
