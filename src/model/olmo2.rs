//! OLMo 2 (`Olmo2ForCausalLM`), after transformers' `modeling_olmo2.py`: the Llama block with no norm before
//! attention or the MLP but one on each branch's output (`post_attention_layernorm`, `post_feedforward_layernorm`),
//! and RMSNorm on the whole query and key projections (`self_attn.{q,k}_norm`, heads * head_dim wide) before RoPE.
//! Its config.json is read by the Llama family's reader.

use super::config::Family;
use super::config::{DecoderConfig, MlpKind, NormKind};
use super::decoder::{Kernels, Layer, Norm, Parts, gated_mlp, standard_attention};
use super::weights::TensorSource;
use crate::error::Result;

impl Family {
    /// `Olmo2ForCausalLM`.
    pub const OLMO2: Family = Family::new("Olmo2ForCausalLM");
}

/// Loads an OLMo 2 checkpoint's tensors.
pub(super) fn load(cfg: &DecoderConfig, src: &dyn TensorSource, kernels: Kernels) -> Result<Parts> {
    let (h, v) = (cfg.hidden_size, cfg.vocab_size);
    let (q, kv) = (
        cfg.num_attention_heads * cfg.head_dim,
        cfg.num_key_value_heads * cfg.head_dim,
    );
    let eps = cfg.rms_norm_eps;
    let norm = |name: String, size: usize| Norm::load(src, &name, size, NormKind::Rms, eps);
    let embed = src.matrix("model.embed_tokens.weight", &[v, h])?;
    let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
    for l in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{l}");
        let a = format!("{p}.self_attn");
        let norms = (
            Some(norm(format!("{a}.q_norm"), q)?),
            Some(norm(format!("{a}.k_norm"), kv)?),
        );
        layers.push(Layer {
            input_norm: None,
            attn: standard_attention(src, &a, cfg, l, norms, kernels)?,
            attn_out_norm: Some(norm(format!("{p}.post_attention_layernorm"), h)?),
            post_norm: None,
            mlp: gated_mlp(src, &p, cfg, MlpKind::GatedSilu, kernels)?,
            mlp_out_norm: Some(norm(format!("{p}.post_feedforward_layernorm"), h)?),
            parallel: false,
        });
    }
    let final_norm = norm("model.norm".into(), h)?;
    Parts::new(cfg, src, embed, layers, final_norm, "lm_head.weight")
}
