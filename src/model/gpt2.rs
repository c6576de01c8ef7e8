//! GPT-2 (`GPT2LMHeadModel`), after transformers' `modeling_gpt2.py`: learned position embeddings (`wpe`) instead
//! of rotary ones, LayerNorm, `Conv1D` projections whose weights are stored `(in, out)` (transposed here to the
//! usual `(out, in)`), q, k and v in one `attn.c_attn`, a plain MLP with `gelu_new` (tanh GELU), biases everywhere,
//! and the head tied to `wte`. Tensors are named `transformer.{wte, wpe, h.N.{ln_1, attn.{c_attn, c_proj}, ln_2,
//! mlp.{c_fc, c_proj}}, ln_f}`, or without the `transformer.` prefix as in the original OpenAI checkpoints.

use super::config::{DecoderConfig, Family, MlpKind, NormKind, Shape};
use super::config_json::{read, require, require_layers};
use super::decoder::{Attention, Kernels, Layer, Linear, Mlp, Norm, Parts, Projections};
use super::weights::TensorSource;
use crate::error::{Error, Result};
use candle_core::Tensor;
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

impl Family {
    /// `GPT2LMHeadModel`.
    pub const GPT2: Family = Family::new("GPT2LMHeadModel");
}

/// The fields of config.json GPT-2 reads, with transformers' `GPT2Config` defaults. GPT-2 names its sizes its own
/// way (`n_embd`, `n_layer`, ...), so it reads none of the other families' common fields but `vocab_size` and
/// `tie_word_embeddings`.
#[derive(Debug, Deserialize)]
struct Gpt2Config {
    #[serde(alias = "hidden_size")]
    n_embd: Option<usize>,
    #[serde(alias = "num_hidden_layers")]
    n_layer: Option<usize>,
    #[serde(alias = "num_attention_heads")]
    n_head: Option<usize>,
    n_inner: Option<usize>,
    #[serde(alias = "max_position_embeddings")]
    n_positions: Option<usize>,
    vocab_size: Option<usize>,
    layer_norm_epsilon: Option<f64>,
    activation_function: Option<String>,
    scale_attn_weights: Option<bool>,
    scale_attn_by_inverse_layer_idx: Option<bool>,
    add_cross_attention: Option<bool>,
    tie_word_embeddings: Option<bool>,
}

/// Reads a GPT-2 config.json.
pub(super) fn config(json: &Value, family: Family, path: &Path) -> Result<DecoderConfig> {
    let raw: Gpt2Config = read(json, path)?;
    for (field, on) in [
        (
            "scale_attn_by_inverse_layer_idx",
            raw.scale_attn_by_inverse_layer_idx,
        ),
        ("add_cross_attention", raw.add_cross_attention),
    ] {
        if on == Some(true) {
            return Err(Error::config(
                path,
                format!("{field} is true; creditlens runs GPT-2 without it"),
            ));
        }
    }
    match raw.activation_function.as_deref() {
        None | Some("gelu_new") | Some("gelu_pytorch_tanh") => {}
        Some(other) => {
            return Err(Error::config(
                path,
                format!("activation_function `{other}` is not supported; GPT-2 uses `gelu_new`"),
            ));
        }
    }
    let hidden_size = require(raw.n_embd.or(Some(768)), "n_embd", path)?;
    let heads = require(raw.n_head.or(Some(12)), "n_head", path)?;
    if hidden_size % heads != 0 {
        return Err(Error::config(
            path,
            format!("n_embd ({hidden_size}) is not a multiple of n_head ({heads})"),
        ));
    }
    let shape = Shape {
        hidden_size,
        intermediate_size: match raw.n_inner {
            None => 4 * hidden_size,
            v => require(v, "n_inner", path)?,
        },
        vocab_size: require(raw.vocab_size.or(Some(50257)), "vocab_size", path)?,
        num_hidden_layers: require_layers(raw.n_layer.or(Some(12)), "n_layer", path)?,
        num_attention_heads: heads,
        num_key_value_heads: heads,
        head_dim: hidden_size / heads,
    };
    Ok(DecoderConfig {
        norm: NormKind::Layer,
        rms_norm_eps: raw.layer_norm_epsilon.unwrap_or(1e-5),
        // Learned positions, no rotation.
        rotary_dim: 0,
        mlp: MlpKind::GeluTanh,
        // Without scale_attn_weights the scores are not scaled at all: 1 / sqrt(1).
        query_pre_attn_scalar: (raw.scale_attn_weights == Some(false)).then_some(1.0),
        max_position_embeddings: require(raw.n_positions.or(Some(1024)), "n_positions", path)?,
        tie_word_embeddings: raw.tie_word_embeddings.unwrap_or(true),
        qkv_bias: true,
        o_bias: true,
        mlp_bias: true,
        ..DecoderConfig::new(family, shape)
    })
}

/// A `Conv1D` weight stored `(inp, out)` as a `(out, inp)` tensor, and its bias.
fn conv1d(src: &dyn TensorSource, name: &str, inp: usize, out: usize) -> Result<(Tensor, Tensor)> {
    let w = src.tensor(&format!("{name}.weight"), &[inp, out])?;
    let b = src.tensor(&format!("{name}.bias"), &[out])?;
    Ok((w.t()?.contiguous()?, b))
}

/// Loads a GPT-2 checkpoint's tensors.
pub(super) fn load(cfg: &DecoderConfig, src: &dyn TensorSource, kernels: Kernels) -> Result<Parts> {
    let (h, i, v) = (cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size);
    let eps = cfg.rms_norm_eps;
    let prefix = if src.contains("wte.weight") && !src.contains("transformer.wte.weight") {
        ""
    } else {
        "transformer."
    };
    let norm = |name: String| Norm::load(src, &name, h, NormKind::Layer, eps);
    let embed = src.matrix(&format!("{prefix}wte.weight"), &[v, h])?;
    let positions = src.tensor(
        &format!("{prefix}wpe.weight"),
        &[cfg.max_position_embeddings, h],
    )?;
    let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
    for l in 0..cfg.num_hidden_layers {
        let p = format!("{prefix}h.{l}");
        let (w, b) = conv1d(src, &format!("{p}.attn.c_attn"), h, 3 * h)?;
        let parts = (0..3)
            .map(|k| Ok((w.narrow(0, k * h, h)?, Some(b.narrow(0, k * h, h)?))))
            .collect::<Result<Vec<_>>>()?;
        let (wo, bo) = conv1d(src, &format!("{p}.attn.c_proj"), h, h)?;
        let (wf, bf) = conv1d(src, &format!("{p}.mlp.c_fc"), h, i)?;
        let (wd, bd) = conv1d(src, &format!("{p}.mlp.c_proj"), i, h)?;
        layers.push(Layer {
            input_norm: Some(norm(format!("{p}.ln_1"))?),
            attn: Attention {
                qkv: Projections::from_tensors(parts, kernels)?,
                o: Linear::new(wo, Some(bo), kernels)?,
                q_norm: None,
                k_norm: None,
                heads: cfg.num_attention_heads,
                kv_heads: cfg.num_key_value_heads,
                head_dim: cfg.head_dim,
                rotary_dim: 0,
                sliding_window: None,
                rope: 0,
                scale: cfg.attention_scale(),
                softcap: None,
            },
            attn_out_norm: None,
            post_norm: Some(norm(format!("{p}.ln_2"))?),
            mlp: Mlp {
                up: Projections::from_tensors(vec![(wf, Some(bf))], kernels)?,
                down: Linear::new(wd, Some(bd), kernels)?,
                kind: MlpKind::GeluTanh,
            },
            mlp_out_norm: None,
            parallel: false,
        });
    }
    let final_norm = norm(format!("{prefix}ln_f"))?;
    let lm_head = if cfg.tie_word_embeddings {
        embed.clone()
    } else {
        src.tensor("lm_head.weight", &[v, h])?.into()
    };
    Ok(Parts {
        embed,
        layers,
        norm: final_norm,
        lm_head,
        positions: Some(positions),
    })
}
