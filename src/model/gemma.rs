//! The Gemma family after transformers' `modeling_gemma.py`, `modeling_gemma2.py` and `modeling_gemma3.py`:
//! `GemmaForCausalLM`, `Gemma2ForCausalLM` and `Gemma3ForCausalLM` (the text model). Shared: embeddings scaled by
//! sqrt(hidden_size), RMSNorm scaling by `1 + weight`, a gated MLP with tanh-approximated GELU, tied embeddings.
//! Gemma 2 adds a norm after attention and after the MLP (four a layer), `query_pre_attn_scalar`, soft-capping of
//! attention scores and final logits, and sliding-window attention on alternate layers; Gemma 3 drops the
//! soft-capping, adds per-head q/k norms, and gives its sliding-window layers their own RoPE base. Tensors are named
//! as the Llama family's, plus `pre_feedforward_layernorm`, `post_feedforward_layernorm` and `self_attn.{q,k}_norm`.

use super::config::{DecoderConfig, Family, MlpKind, NormKind, QkNorm, RopeScaling};
use super::config_json::{Common, HeadDim, read, windows_by_type};
use super::decoder::{Kernels, Layer, Norm, Parts, gated_mlp, standard_attention};
use super::rope;
use super::weights::TensorSource;
use crate::error::{Error, Result};
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

impl Family {
    /// `GemmaForCausalLM`.
    pub const GEMMA: Family = Family::new("GemmaForCausalLM");
    /// `Gemma2ForCausalLM`.
    pub const GEMMA2: Family = Family::new("Gemma2ForCausalLM");
    /// `Gemma3ForCausalLM`.
    pub const GEMMA3: Family = Family::new("Gemma3ForCausalLM");
}

/// The fields of config.json the Gemma family reads besides the common ones (defaults per version below). Unknown
/// fields are ignored.
#[derive(Debug, Deserialize)]
struct GemmaConfig {
    #[serde(flatten)]
    common: Common,
    rope_local_base_freq: Option<f64>,
    hidden_activation: Option<String>,
    query_pre_attn_scalar: Option<f64>,
    // Present as `null` to switch soft-capping off, so absent and null differ.
    #[serde(default, deserialize_with = "some_or_null")]
    attn_logit_softcapping: Option<Option<f64>>,
    #[serde(default, deserialize_with = "some_or_null")]
    final_logit_softcapping: Option<Option<f64>>,
    #[serde(default, deserialize_with = "some_or_null")]
    sliding_window: Option<Option<usize>>,
    sliding_window_pattern: Option<usize>,
    use_bidirectional_attention: Option<bool>,
}

/// A field given as a value or as `null` (`Some(None)`), told apart from an absent one (`None`).
fn some_or_null<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Reads a Gemma, Gemma 2 or Gemma 3 (text) config.json.
pub(super) fn config(json: &Value, family: Family, path: &Path) -> Result<DecoderConfig> {
    let raw: GemmaConfig = read(json, path)?;
    let c = &raw.common;
    let v2_or_3 = matches!(family, Family::GEMMA2 | Family::GEMMA3);
    if raw.use_bidirectional_attention == Some(true) {
        return Err(Error::config(
            path,
            "use_bidirectional_attention is true: an encoder, not a causal language model",
        ));
    }
    let shape = c.shape(HeadDim::Field(Some(256)), path)?;
    rope::rotary_dim("head_dim", 1.0, shape.head_dim, path)?;
    // Gemma 1 names it hidden_act (its legacy "gelu" meant the tanh approximation); Gemma 2 and 3 hidden_activation.
    let (field, act) = if v2_or_3 {
        ("hidden_activation", raw.hidden_activation.as_deref())
    } else {
        ("hidden_act", c.hidden_act.as_deref())
    };
    match act {
        None | Some("gelu_pytorch_tanh") => {}
        Some("gelu") if !v2_or_3 => {}
        Some(other) => {
            return Err(Error::config(
                path,
                format!(
                    "{field} `{other}` is not supported; the Gemma family uses `gelu_pytorch_tanh`"
                ),
            ));
        }
    }
    let (rope_theta, rope_scaling, rope_local_theta) = gemma_rope(&raw, family, path)?;
    let softcap = |given: Option<Option<f64>>, default: f64| match (given, family) {
        (Some(v), _) => v,
        (None, Family::GEMMA2) => Some(default),
        (None, _) => None,
    };
    let attention_bias = c.attention_bias.unwrap_or(false);
    let cfg = DecoderConfig {
        rms_norm_eps: c.rms_norm_eps.unwrap_or(1e-6),
        mlp: MlpKind::GatedGeluTanh,
        norm_unit_offset: true,
        sandwich_norms: v2_or_3,
        embed_scale: Some((shape.hidden_size as f64).sqrt()),
        query_pre_attn_scalar: v2_or_3.then(|| raw.query_pre_attn_scalar.unwrap_or(256.0)),
        attn_softcap: softcap(raw.attn_logit_softcapping, 50.0),
        final_softcap: softcap(raw.final_logit_softcapping, 30.0),
        rope_local_theta,
        rope_theta,
        rope_scaling,
        max_position_embeddings: c.max_position_embeddings.unwrap_or(8192),
        tie_word_embeddings: c.tie_word_embeddings.unwrap_or(true),
        qkv_bias: attention_bias,
        o_bias: attention_bias,
        qk_norm: if family == Family::GEMMA3 {
            QkNorm::PerHead
        } else {
            QkNorm::None
        },
        sliding_window: sliding_windows(&raw, family, shape.num_hidden_layers, path)?,
        ..DecoderConfig::new(family, shape)
    };
    for (name, v) in [
        ("attn_logit_softcapping", cfg.attn_softcap),
        ("final_logit_softcapping", cfg.final_softcap),
    ] {
        if v.is_some_and(|c| c.is_nan() || c <= 0.0) {
            return Err(Error::config(
                path,
                format!("{name} must be positive (or null to switch it off)"),
            ));
        }
    }
    Ok(cfg)
}

/// Sliding windows per layer: none for Gemma 1; for Gemma 2 and 3 `sliding_window` (4096 unless given, `null` for
/// none) on the layers `layer_types` names, or else on all but every `sliding_window_pattern`-th layer (Gemma 2:
/// every other layer; Gemma 3: five in six unless the pattern says otherwise).
fn sliding_windows(
    raw: &GemmaConfig,
    family: Family,
    layers: usize,
    path: &Path,
) -> Result<Vec<Option<usize>>> {
    let window = match raw.sliding_window {
        Some(w) => w,
        None if family != Family::GEMMA => Some(4096),
        None => None,
    };
    match (window, family) {
        (None, _) | (_, Family::GEMMA) => Ok(vec![None; layers]),
        (Some(0), _) => Err(Error::config(
            path,
            "sliding_window is 0; it must be positive",
        )),
        (Some(w), _) => Ok(match &raw.common.layer_types {
            Some(types) => windows_by_type(types, w, layers),
            None => {
                let pattern = match family {
                    Family::GEMMA2 => 2,
                    _ => raw.sliding_window_pattern.unwrap_or(6).max(1),
                };
                (0..layers)
                    .map(|i| ((i + 1) % pattern != 0).then_some(w))
                    .collect()
            }
        }),
    }
}

/// The global RoPE base and scaling, and Gemma 3's local base for sliding-window layers: transformers 4 layout
/// (`rope_theta`, `rope_scaling`, `rope_local_base_freq`) or transformers 5's `rope_parameters`, which for Gemma 3
/// holds one entry per layer type.
fn gemma_rope(
    raw: &GemmaConfig,
    family: Family,
    path: &Path,
) -> Result<(f32, RopeScaling, Option<f32>)> {
    let c = &raw.common;
    if family != Family::GEMMA3 {
        let (theta, scaling) = rope::read(c, 10_000.0, path)?;
        return Ok((theta, scaling, None));
    }
    let per_type = |key: &str| c.rope_parameters.as_ref().and_then(|p| p.get(key));
    let (theta, scaling) = rope::parse_rope(
        c.rope_theta,
        c.rope_scaling.as_ref(),
        per_type("full_attention"),
        1_000_000.0,
        path,
    )?;
    let (local, local_scaling) = rope::parse_rope(
        raw.rope_local_base_freq,
        None,
        per_type("sliding_attention"),
        10_000.0,
        path,
    )?;
    if local_scaling != RopeScaling::Default {
        return Err(Error::config(
            path,
            "rope_parameters.sliding_attention: only the default RoPE type is supported for the local layers",
        ));
    }
    Ok((theta, scaling, Some(local)))
}

/// Loads a Gemma-family checkpoint's tensors.
pub(super) fn load(cfg: &DecoderConfig, src: &dyn TensorSource, kernels: Kernels) -> Result<Parts> {
    let (h, v) = (cfg.hidden_size, cfg.vocab_size);
    let hd = cfg.head_dim;
    let eps = cfg.rms_norm_eps;
    let norm = |name: &str, size: usize| -> Result<Norm> {
        Norm::load(src, name, size, NormKind::Rms, eps)?.plus_one()
    };
    let embed = src.matrix("model.embed_tokens.weight", &[v, h])?;
    let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
    for l in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{l}");
        let a = format!("{p}.self_attn");
        let qk_norm = |name: &str| {
            (cfg.qk_norm == QkNorm::PerHead)
                .then(|| norm(&format!("{a}.{name}"), hd))
                .transpose()
        };
        let norms = (qk_norm("q_norm")?, qk_norm("k_norm")?);
        let attn = standard_attention(src, &a, cfg, l, norms, kernels)?;
        let (attn_out_norm, post_norm, mlp_out_norm) = if cfg.sandwich_norms {
            (
                Some(norm(&format!("{p}.post_attention_layernorm"), h)?),
                norm(&format!("{p}.pre_feedforward_layernorm"), h)?,
                Some(norm(&format!("{p}.post_feedforward_layernorm"), h)?),
            )
        } else {
            (
                None,
                norm(&format!("{p}.post_attention_layernorm"), h)?,
                None,
            )
        };
        layers.push(Layer {
            input_norm: Some(norm(&format!("{p}.input_layernorm"), h)?),
            attn,
            attn_out_norm,
            post_norm: Some(post_norm),
            mlp: gated_mlp(src, &p, cfg, MlpKind::GatedGeluTanh, kernels)?,
            mlp_out_norm,
            parallel: false,
        });
    }
    let final_norm = norm("model.norm", h)?;
    Parts::new(cfg, src, embed, layers, final_norm, "lm_head.weight")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<DecoderConfig> {
        DecoderConfig::from_json(json, Path::new("config.json"))
    }

    const BASE: &str = r#""hidden_size":64,"intermediate_size":128,"vocab_size":100,"num_hidden_layers":4,
        "num_attention_heads":4,"num_key_value_heads":2,"head_dim":16"#;

    #[test]
    fn versions_and_their_defaults() {
        let g1 = parse(&format!(
            r#"{{"architectures":["GemmaForCausalLM"],{BASE},"hidden_act":"gelu"}}"#
        ))
        .unwrap();
        assert!(
            !g1.sandwich_norms && g1.attn_softcap.is_none() && g1.query_pre_attn_scalar.is_none()
        );
        assert_eq!(g1.sliding_window, vec![None; 4]);
        assert_eq!(g1.embed_scale, Some(8.0));
        let g2 = parse(&format!(
            r#"{{"architectures":["Gemma2ForCausalLM"],{BASE},"sliding_window":8}}"#
        ))
        .unwrap();
        assert_eq!(
            (g2.attn_softcap, g2.final_softcap),
            (Some(50.0), Some(30.0))
        );
        assert_eq!(g2.sliding_window, vec![Some(8), None, Some(8), None]);
        assert_eq!(g2.attention_scale(), 1.0 / 16.0);
        let off = parse(&format!(
            r#"{{"architectures":["Gemma2ForCausalLM"],{BASE},"final_logit_softcapping":null}}"#
        ))
        .unwrap();
        assert_eq!(off.final_softcap, None);
        let g3 = parse(&format!(
            r#"{{"architectures":["Gemma3ForCausalLM"],{BASE},"sliding_window":8,"sliding_window_pattern":2,
            "rope_parameters":{{"full_attention":{{"rope_type":"linear","factor":8.0,"rope_theta":1000000.0}},
            "sliding_attention":{{"rope_type":"default","rope_theta":10000.0}}}}}}"#
        ))
        .unwrap();
        assert!(g3.qk_norm == QkNorm::PerHead && g3.attn_softcap.is_none());
        assert_eq!(g3.rope_local_theta, Some(10_000.0));
        assert_eq!(g3.rope_scaling, RopeScaling::Linear { factor: 8.0 });
        assert_eq!(g3.sliding_window, vec![Some(8), None, Some(8), None]);
    }

    #[test]
    fn unsupported_values_are_named() {
        let err = parse(&format!(
            r#"{{"architectures":["Gemma2ForCausalLM"],{BASE},"hidden_activation":"relu"}}"#
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("hidden_activation `relu`"), "{err}");
        let err = parse(&format!(
            r#"{{"architectures":["Gemma3ForCausalLM"],{BASE},"rope_scaling":{{"rope_type":"yarn","factor":2.0}}}}"#
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("yarn"), "{err}");
        let err = parse(&format!(
            r#"{{"architectures":["Gemma2ForCausalLM"],{BASE},"attn_logit_softcapping":-1}}"#
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("attn_logit_softcapping must be positive"),
            "{err}"
        );
    }
}
