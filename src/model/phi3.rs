//! Phi-3 (`Phi3ForCausalLM`), after transformers' `modeling_phi3.py`: the Llama block with q, k and v in one
//! `self_attn.qkv_proj` (q's rows, then k's, then v's) and gate and up in one `mlp.gate_up_proj` (gate's rows first),
//! no biases, RoPE on `partial_rotary_factor` of each head, and `sliding_window` (when set) on every layer. Its
//! config.json is read by the Llama family's reader; `longrope` scaling is refused there by name.

use super::config::Family;
use super::config::{DecoderConfig, MlpKind, NormKind};
use super::decoder::{
    Attention, Kernels, Layer, Linear, Mlp, Norm, Parts, Projections, llama_norms,
};
use super::weights::TensorSource;
use crate::error::Result;

impl Family {
    /// `Phi3ForCausalLM`.
    pub const PHI3: Family = Family::new("Phi3ForCausalLM");
}

/// Loads a Phi-3 checkpoint's tensors.
pub(super) fn load(cfg: &DecoderConfig, src: &dyn TensorSource, kernels: Kernels) -> Result<Parts> {
    let (h, i, v) = (cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size);
    let (nh, nkv, hd) = (
        cfg.num_attention_heads,
        cfg.num_key_value_heads,
        cfg.head_dim,
    );
    let eps = cfg.rms_norm_eps;
    let embed = src.matrix("model.embed_tokens.weight", &[v, h])?;
    let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
    for l in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{l}");
        let qkv = src.tensor(
            &format!("{p}.self_attn.qkv_proj.weight"),
            &[(nh + 2 * nkv) * hd, h],
        )?;
        let split = |t: &candle_core::Tensor,
                     sizes: &[usize]|
         -> Result<Vec<(candle_core::Tensor, Option<candle_core::Tensor>)>> {
            let mut at = 0;
            sizes
                .iter()
                .map(|&n| {
                    let part = t.narrow(0, at, n)?.contiguous()?;
                    at += n;
                    Ok((part, None))
                })
                .collect()
        };
        let window = cfg.sliding_window.get(l).copied().flatten();
        let attn = Attention {
            qkv: Projections::from_tensors(split(&qkv, &[nh * hd, nkv * hd, nkv * hd])?, kernels)?,
            o: Linear::load(
                src,
                &format!("{p}.self_attn.o_proj"),
                (h, nh * hd),
                false,
                kernels,
            )?,
            q_norm: None,
            k_norm: None,
            heads: nh,
            kv_heads: nkv,
            head_dim: hd,
            rotary_dim: cfg.rotary_dim,
            sliding_window: window,
            rope: 0,
            scale: cfg.attention_scale(),
            softcap: None,
        };
        let gate_up = src.tensor(&format!("{p}.mlp.gate_up_proj.weight"), &[2 * i, h])?;
        let (input_norm, post_norm) = llama_norms(src, &p, cfg)?;
        layers.push(Layer {
            input_norm,
            attn,
            attn_out_norm: None,
            post_norm,
            mlp: Mlp {
                up: Projections::from_tensors(split(&gate_up, &[i, i])?, kernels)?,
                down: Linear::load(src, &format!("{p}.mlp.down_proj"), (h, i), false, kernels)?,
                kind: MlpKind::GatedSilu,
            },
            mlp_out_norm: None,
            parallel: false,
        });
    }
    let final_norm = Norm::load(src, "model.norm", h, NormKind::Rms, eps)?;
    Parts::new(cfg, src, embed, layers, final_norm, "lm_head.weight")
}
