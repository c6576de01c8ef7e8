//! What a family file builds from its checkpoint: the [`Parts`] and the blocks under their usual tensor names
//! (Llama-style attention, norms and gated MLP, the LM head), and the decoder made from them.

use super::attention::{Attention, SCORE_ELEMENTS};
use super::layer::{Layer, Mlp};
use super::linear::{Linear, Projections};
use super::norm::Norm;
use super::{Decoder, Kernels};
use crate::error::Result;
use crate::model::config::{DecoderConfig, MlpKind, NormKind};
use crate::model::matrix::Matrix;
use crate::model::rope::Rope;
use crate::model::weights::TensorSource;
use candle_core::Tensor;

/// The parts a family's loader reads from a checkpoint.
pub(in crate::model) struct Parts {
    pub(in crate::model) embed: Matrix,
    pub(in crate::model) layers: Vec<Layer>,
    pub(in crate::model) norm: Norm,
    pub(in crate::model) lm_head: Matrix,
    /// Learned position embeddings `(positions, hidden)` added to the token embeddings (GPT-2).
    pub(in crate::model) positions: Option<Tensor>,
}

impl Parts {
    /// The parts of a decoder without learned positions, its LM head the embedding matrix when `cfg` ties them,
    /// else the tensor `head`.
    pub(in crate::model) fn new(
        cfg: &DecoderConfig,
        src: &dyn TensorSource,
        embed: Matrix,
        layers: Vec<Layer>,
        norm: Norm,
        head: &str,
    ) -> Result<Self> {
        let lm_head = lm_head(cfg, src, &embed, head)?;
        Ok(Self {
            embed,
            layers,
            norm,
            lm_head,
            positions: None,
        })
    }
}

impl Decoder {
    /// The decoder for `cfg` from the parts its family's loader read.
    pub(in crate::model) fn from_parts(
        cfg: &DecoderConfig,
        parts: Parts,
        kernels: Kernels,
    ) -> Result<Self> {
        // Norm weights always come in the compute dtype; the embeddings may be held narrower.
        let dtype = parts.norm.weight.dtype();
        let tied = parts.lm_head.same_as(&parts.embed);
        Ok(Self {
            dtype,
            device: parts.norm.weight.device().clone(),
            cfg: cfg.clone(),
            embed: parts.embed,
            layers: parts.layers,
            norm: parts.norm,
            // A head tied to the embeddings multiplies by their transpose in place: no second copy of the
            // vocabulary matrix.
            lm_head: if tied {
                Linear::new(parts.lm_head, None, Kernels::Differentiable)?
            } else {
                Linear::new(parts.lm_head, None, kernels)?
            },
            positions: parts.positions,
            ropes: Rope::tables(cfg),
            kernels,
            score_elements: SCORE_ELEMENTS,
            bf16_products: false,
        })
    }
}

/// The attention of layer `l` from the usual tensor names `{prefix}.{q,k,v,o}_proj` (Llama, Gemma, ...), with the
/// given q/k norms; window, RoPE table, scale and soft-capping as `cfg` says (a sliding-window layer of a model with
/// a local RoPE base uses the second table).
pub(in crate::model) fn standard_attention(
    src: &dyn TensorSource,
    prefix: &str,
    cfg: &DecoderConfig,
    l: usize,
    (q_norm, k_norm): (Option<Norm>, Option<Norm>),
    kernels: Kernels,
) -> Result<Attention> {
    let (h, nh, nkv, hd) = (
        cfg.hidden_size,
        cfg.num_attention_heads,
        cfg.num_key_value_heads,
        cfg.head_dim,
    );
    let window = cfg.sliding_window.get(l).copied().flatten();
    Ok(Attention {
        qkv: Projections::load(
            src,
            &[
                (format!("{prefix}.q_proj"), nh * hd),
                (format!("{prefix}.k_proj"), nkv * hd),
                (format!("{prefix}.v_proj"), nkv * hd),
            ],
            h,
            cfg.qkv_bias,
            kernels,
        )?,
        o: Linear::load(
            src,
            &format!("{prefix}.o_proj"),
            (h, nh * hd),
            cfg.o_bias,
            kernels,
        )?,
        q_norm,
        k_norm,
        heads: nh,
        kv_heads: nkv,
        head_dim: hd,
        rotary_dim: cfg.rotary_dim,
        sliding_window: window,
        rope: usize::from(cfg.rope_local_theta.is_some() && window.is_some()),
        scale: cfg.attention_scale(),
        softcap: cfg.attn_softcap,
    })
}

/// The two RMSNorms of a Llama-style layer with prefix `p`: `{p}.input_layernorm` (before attention) and
/// `{p}.post_attention_layernorm` (before the MLP).
pub(in crate::model) fn llama_norms(
    src: &dyn TensorSource,
    p: &str,
    cfg: &DecoderConfig,
) -> Result<(Option<Norm>, Option<Norm>)> {
    let h = cfg.hidden_size;
    let eps = cfg.rms_norm_eps;
    Ok((
        Some(Norm::load(
            src,
            &format!("{p}.input_layernorm"),
            h,
            NormKind::Rms,
            eps,
        )?),
        Some(Norm::load(
            src,
            &format!("{p}.post_attention_layernorm"),
            h,
            NormKind::Rms,
            eps,
        )?),
    ))
}

/// The gated MLP of layer prefix `p` from the usual names `{p}.mlp.{gate,up,down}_proj` (biases as `cfg.mlp_bias`).
pub(in crate::model) fn gated_mlp(
    src: &dyn TensorSource,
    p: &str,
    cfg: &DecoderConfig,
    kind: MlpKind,
    kernels: Kernels,
) -> Result<Mlp> {
    let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
    Ok(Mlp {
        up: Projections::load(
            src,
            &[
                (format!("{p}.mlp.gate_proj"), i),
                (format!("{p}.mlp.up_proj"), i),
            ],
            h,
            cfg.mlp_bias,
            kernels,
        )?,
        down: Linear::load(
            src,
            &format!("{p}.mlp.down_proj"),
            (h, i),
            cfg.mlp_bias,
            kernels,
        )?,
        kind,
    })
}

/// The LM head: the embedding matrix when tied, else the tensor `name`.
fn lm_head(
    cfg: &DecoderConfig,
    src: &dyn TensorSource,
    embed: &Matrix,
    name: &str,
) -> Result<Matrix> {
    if cfg.tie_word_embeddings {
        Ok(embed.clone())
    } else {
        src.matrix(name, &[cfg.vocab_size, cfg.hidden_size])
    }
}
