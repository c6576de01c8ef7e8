//! One GGUF architecture ([`GgufArch`]) as llama.cpp's converter (`convert_hf_to_gguf.py`) writes it: for each
//! Hugging Face tensor name the GGUF tensor that holds it and the change that undoes the converter's, and which
//! function of `gguf_meta.rs` turns its metadata into config.json. Which family runs which `general.architecture`
//! is the family's row of the registry ([`FAMILIES`](super::registry::FAMILIES)), which holds its `GgufArch`s.

use super::gguf_meta::{self, Metadata, Writer};
use crate::error::Result;
use serde_json::Value;

/// How the Hugging Face tensor names of a family map to GGUF's `blk.N.*` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Names {
    /// `model.layers.N.*` (Llama, Qwen, Gemma 1, Phi-3, StableLM): `post_attention_layernorm` is `ffn_norm`.
    Llama,
    /// Gemma 2/3 and OLMo 2: `post_attention_layernorm` is `post_attention_norm`, `pre_feedforward_layernorm`
    /// is `ffn_norm` and `post_feedforward_layernorm` is `post_ffw_norm`.
    Sandwich,
    /// `gpt_neox.layers.N.*`.
    GptNeoX,
    /// `[transformer.]h.N.*`.
    Gpt2,
}

/// One GGUF architecture creditlens runs: part of its family's row of the registry.
#[derive(Debug)]
pub struct GgufArch {
    /// `general.architecture`.
    pub name: &'static str,
    names: Names,
    /// The converter stores Gemma's RMSNorm weights with the `+ 1` already added.
    norm_plus_one: bool,
    /// The converter permutes q/k rows into GGML's interleaved rotary order (its `llama` architecture only).
    permuted_qk: bool,
    /// Adds to config.json what only this architecture's metadata says (the sizes are added for all).
    config: Writer,
}

impl GgufArch {
    /// Architecture `name`, its tensors named as `names` says, its own config.json fields written by `config`.
    pub(super) const fn new(name: &'static str, names: Names, config: Writer) -> Self {
        Self {
            name,
            names,
            norm_plus_one: false,
            permuted_qk: false,
            config,
        }
    }

    /// The same, with RMSNorm weights stored `1 + w` (Gemma).
    pub(super) const fn norm_plus_one(self) -> Self {
        Self {
            norm_plus_one: true,
            ..self
        }
    }

    /// The same, with q/k rows permuted into GGML's rotary order (llama.cpp's `llama`).
    pub(super) const fn permuted_qk(self) -> Self {
        Self {
            permuted_qk: true,
            ..self
        }
    }

    /// The config.json the reader of Hugging Face architecture `architecture` gets for a file of this
    /// architecture: the sizes, and what only this architecture's metadata says.
    pub fn config_json(&self, architecture: &str, m: &dyn Metadata) -> Result<Value> {
        gguf_meta::config_json(self.name, self.config, architecture, m)
    }
}

/// What must be done to a stored GGUF tensor to give the Hugging Face tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undo {
    /// Nothing.
    Nothing,
    /// Put q/k rows permuted for GGML's rotary layout back in rotate-half order, for this many heads.
    Unpermute(usize),
    /// Subtract the 1 the converter added to a Gemma norm weight.
    MinusOne,
    /// Transpose a 2-D weight (GPT-2's Conv1D weights are stored `(in, out)` by Hugging Face).
    Transpose,
    /// Interleave q, k, v per head again (GPT-NeoX's fused qkv, which the converter splits into q | k | v), for
    /// this many heads.
    Interleave(usize),
}

/// Where a Hugging Face tensor lives in the file, and how to undo the converter's change to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The GGUF tensor name.
    pub name: String,
    /// The change to undo.
    pub undo: Undo,
}

/// Head counts, needed to undo per-head changes.
#[derive(Debug, Clone, Copy)]
pub struct Heads {
    /// Query heads.
    pub q: usize,
    /// Key/value heads.
    pub kv: usize,
}

impl GgufArch {
    /// The GGUF tensor holding Hugging Face tensor `hf`, and the change to undo; None for a name this
    /// architecture does not store.
    pub fn plan(&self, hf: &str, heads: Heads) -> Option<Plan> {
        let (module, kind) = hf.rsplit_once('.')?;
        let (layer, module) = match self.layer(module) {
            Some((l, m)) => (Some(l), m),
            None => (None, module),
        };
        let g = match layer {
            None => self.global(module)?,
            Some(_) => self.block(module)?,
        };
        let name = match layer {
            Some(l) => format!("blk.{l}.{g}.{kind}"),
            None => format!("{g}.{kind}"),
        };
        let undo = if self.norm_plus_one && kind == "weight" && g.ends_with("norm") {
            Undo::MinusOne
        } else if self.permuted_qk && g == "attn_q" {
            Undo::Unpermute(heads.q)
        } else if self.permuted_qk && g == "attn_k" {
            Undo::Unpermute(heads.kv)
        } else if self.names == Names::GptNeoX && g == "attn_qkv" {
            Undo::Interleave(heads.q)
        } else if self.names == Names::Gpt2
            && kind == "weight"
            && matches!(g, "attn_qkv" | "attn_output" | "ffn_up" | "ffn_down")
        {
            Undo::Transpose
        } else {
            Undo::Nothing
        };
        Some(Plan { name, undo })
    }

    /// `(layer, module within the layer)` of a per-layer Hugging Face module name.
    fn layer<'a>(&self, module: &'a str) -> Option<(&'a str, &'a str)> {
        let rest = match self.names {
            Names::Llama | Names::Sandwich => module.strip_prefix("model.layers.")?,
            Names::GptNeoX => module.strip_prefix("gpt_neox.layers.")?,
            Names::Gpt2 => module
                .strip_prefix("transformer.h.")
                .or_else(|| module.strip_prefix("h."))?,
        };
        rest.split_once('.')
    }

    /// The GGUF name of a model-level module.
    fn global(&self, module: &str) -> Option<&'static str> {
        let module = match self.names {
            Names::Gpt2 => module.strip_prefix("transformer.").unwrap_or(module),
            _ => module,
        };
        Some(match (self.names, module) {
            (Names::GptNeoX, "gpt_neox.embed_in") => "token_embd",
            (Names::GptNeoX, "gpt_neox.final_layer_norm") => "output_norm",
            (Names::GptNeoX, "embed_out") => "output",
            (Names::Gpt2, "wte") => "token_embd",
            (Names::Gpt2, "wpe") => "position_embd",
            (Names::Gpt2, "ln_f") => "output_norm",
            (Names::Llama | Names::Sandwich, "model.embed_tokens") => "token_embd",
            (Names::Llama | Names::Sandwich, "model.norm") => "output_norm",
            (Names::Llama | Names::Sandwich | Names::Gpt2, "lm_head") => "output",
            _ => return None,
        })
    }

    /// The GGUF name of a module inside a layer.
    fn block(&self, module: &str) -> Option<&'static str> {
        Some(match (self.names, module) {
            (Names::GptNeoX, "input_layernorm") | (Names::Gpt2, "ln_1") => "attn_norm",
            (Names::GptNeoX, "post_attention_layernorm") | (Names::Gpt2, "ln_2") => "ffn_norm",
            (Names::GptNeoX, "attention.query_key_value") | (Names::Gpt2, "attn.c_attn") => {
                "attn_qkv"
            }
            (Names::GptNeoX, "attention.dense") | (Names::Gpt2, "attn.c_proj") => "attn_output",
            (Names::GptNeoX, "mlp.dense_h_to_4h") | (Names::Gpt2, "mlp.c_fc") => "ffn_up",
            (Names::GptNeoX, "mlp.dense_4h_to_h") | (Names::Gpt2, "mlp.c_proj") => "ffn_down",
            (Names::GptNeoX | Names::Gpt2, _) => return None,
            (_, "input_layernorm") => "attn_norm",
            (Names::Llama, "post_attention_layernorm") => "ffn_norm",
            (Names::Sandwich, "post_attention_layernorm") => "post_attention_norm",
            (Names::Sandwich, "pre_feedforward_layernorm") => "ffn_norm",
            (Names::Sandwich, "post_feedforward_layernorm") => "post_ffw_norm",
            (_, "self_attn.q_proj") => "attn_q",
            (_, "self_attn.k_proj") => "attn_k",
            (_, "self_attn.v_proj") => "attn_v",
            (_, "self_attn.o_proj") => "attn_output",
            (_, "self_attn.qkv_proj") => "attn_qkv",
            (_, "self_attn.q_norm") => "attn_q_norm",
            (_, "self_attn.k_norm") => "attn_k_norm",
            (_, "mlp.gate_proj") => "ffn_gate",
            (_, "mlp.up_proj") | (_, "mlp.gate_up_proj") => "ffn_up",
            (_, "mlp.down_proj") => "ffn_down",
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn get(name: &str) -> &'static GgufArch {
        crate::model::registry::gguf(name, Path::new("x.gguf"))
            .unwrap()
            .1
    }

    const HEADS: Heads = Heads { q: 4, kv: 2 };

    fn plan(arch: &str, hf: &str) -> Option<(String, Undo)> {
        get(arch).plan(hf, HEADS).map(|p| (p.name, p.undo))
    }

    #[test]
    fn names_and_undo_follow_the_converter() {
        let n = |s: &str| s.to_string();
        assert_eq!(
            plan("llama", "model.layers.12.self_attn.q_proj.weight"),
            Some((n("blk.12.attn_q.weight"), Undo::Unpermute(4)))
        );
        assert_eq!(
            plan("llama", "model.layers.0.self_attn.k_proj.bias"),
            Some((n("blk.0.attn_k.bias"), Undo::Unpermute(2)))
        );
        assert_eq!(
            plan("qwen2", "model.layers.1.post_attention_layernorm.weight"),
            Some((n("blk.1.ffn_norm.weight"), Undo::Nothing))
        );
        assert_eq!(
            plan("gemma2", "model.layers.1.post_attention_layernorm.weight"),
            Some((n("blk.1.post_attention_norm.weight"), Undo::MinusOne))
        );
        assert_eq!(
            plan("gemma3", "model.layers.1.pre_feedforward_layernorm.weight"),
            Some((n("blk.1.ffn_norm.weight"), Undo::MinusOne))
        );
        assert_eq!(
            plan("gemma3", "model.layers.0.self_attn.q_norm.weight"),
            Some((n("blk.0.attn_q_norm.weight"), Undo::MinusOne))
        );
        assert_eq!(
            plan("olmo2", "model.layers.0.post_feedforward_layernorm.weight"),
            Some((n("blk.0.post_ffw_norm.weight"), Undo::Nothing))
        );
        assert_eq!(
            plan("phi3", "model.layers.0.mlp.gate_up_proj.weight"),
            Some((n("blk.0.ffn_up.weight"), Undo::Nothing))
        );
        assert_eq!(
            plan(
                "gptneox",
                "gpt_neox.layers.3.attention.query_key_value.bias"
            ),
            Some((n("blk.3.attn_qkv.bias"), Undo::Interleave(4)))
        );
        assert_eq!(
            plan("gptneox", "embed_out.weight"),
            Some((n("output.weight"), Undo::Nothing))
        );
        assert_eq!(
            plan("gpt2", "transformer.h.0.mlp.c_fc.weight"),
            Some((n("blk.0.ffn_up.weight"), Undo::Transpose))
        );
        assert_eq!(
            plan("gpt2", "h.0.mlp.c_fc.bias"),
            Some((n("blk.0.ffn_up.bias"), Undo::Nothing))
        );
        assert_eq!(
            plan("gpt2", "transformer.h.1.ln_2.weight"),
            Some((n("blk.1.ffn_norm.weight"), Undo::Nothing))
        );
        assert_eq!(
            plan("gpt2", "transformer.wpe.weight"),
            Some((n("position_embd.weight"), Undo::Nothing))
        );
        assert_eq!(plan("llama", "model.layers.1.mystery.weight"), None);
        assert_eq!(
            plan("gptneox", "model.layers.0.self_attn.q_proj.weight"),
            None
        );
    }
}
