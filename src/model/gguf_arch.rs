//! What a GGUF file means, architecture by architecture, as llama.cpp's converter (`convert_hf_to_gguf.py`) writes
//! it and llama.cpp reads it: which Hugging Face family runs `general.architecture`, the config.json that family's
//! reader gets from the `{arch}.*` metadata (with llama.cpp's defaults for what the file leaves out), and for each
//! Hugging Face tensor name the GGUF tensor that holds it and the change that undoes the converter's.
//!
//! Where llama.cpp deliberately departs from the model the file was converted from (it runs Phi-3 without its
//! sliding window, and GPT-NeoX's exact GELU with the tanh approximation), creditlens runs the model as trained.

use crate::error::{Error, Result};
use serde_json::{Value, json};
use std::path::Path;

/// How the Hugging Face tensor names of a family map to GGUF's `blk.N.*` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Names {
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

/// One GGUF architecture creditlens runs.
#[derive(Debug)]
pub struct GgufArch {
    /// `general.architecture`.
    pub gguf: &'static str,
    /// `architectures[0]` of the Hugging Face family that runs it.
    pub hf: &'static str,
    names: Names,
    /// The converter stores Gemma's RMSNorm weights with the `+ 1` already added.
    norm_plus_one: bool,
    /// The converter permutes q/k rows into GGML's interleaved rotary order (its `llama` architecture only).
    permuted_qk: bool,
}

/// Every GGUF architecture creditlens runs, one row each.
pub static GGUF_ARCHS: &[GgufArch] = &[
    arch("llama", "LlamaForCausalLM", Names::Llama, false, true),
    arch("qwen2", "Qwen2ForCausalLM", Names::Llama, false, false),
    arch("qwen3", "Qwen3ForCausalLM", Names::Llama, false, false),
    arch("gemma", "GemmaForCausalLM", Names::Llama, true, false),
    arch("gemma2", "Gemma2ForCausalLM", Names::Sandwich, true, false),
    arch("gemma3", "Gemma3ForCausalLM", Names::Sandwich, true, false),
    arch("phi3", "Phi3ForCausalLM", Names::Llama, false, false),
    arch("olmo2", "Olmo2ForCausalLM", Names::Sandwich, false, false),
    arch(
        "stablelm",
        "StableLmForCausalLM",
        Names::Llama,
        false,
        false,
    ),
    arch(
        "gptneox",
        "GPTNeoXForCausalLM",
        Names::GptNeoX,
        false,
        false,
    ),
    arch("gpt2", "GPT2LMHeadModel", Names::Gpt2, false, false),
];

const fn arch(
    gguf: &'static str,
    hf: &'static str,
    names: Names,
    norm_plus_one: bool,
    permuted_qk: bool,
) -> GgufArch {
    GgufArch {
        gguf,
        hf,
        names,
        norm_plus_one,
        permuted_qk,
    }
}

/// The row for `general.architecture` = `name`, or an error listing the supported ones.
pub fn find(name: &str, path: &Path) -> Result<&'static GgufArch> {
    GGUF_ARCHS.iter().find(|a| a.gguf == name).ok_or_else(|| {
        Error::config(
            path,
            format!(
                "GGUF architecture `{name}` is not supported; supported: {}",
                GGUF_ARCHS
                    .iter()
                    .map(|a| a.gguf)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })
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

/// Reads a GGUF file's metadata, for [`GgufArch::config_json`].
pub trait Metadata {
    /// The numeric value of `key` (any integer or float type), if present.
    fn number(&self, key: &str) -> Option<f64>;
    /// The boolean value of `key`, if present.
    fn flag(&self, key: &str) -> Option<bool>;
    /// The string value of `key`, if present.
    fn text(&self, key: &str) -> Option<String>;
    /// The boolean array value of `key`, if present.
    fn flags(&self, key: &str) -> Option<Vec<bool>>;
    /// Whether the file holds tensor `name`.
    fn has_tensor(&self, name: &str) -> bool;
    /// How many tensors the file holds.
    fn tensor_count(&self) -> usize;
    /// The row count of tensor `name` (its first dimension, row-major), if present.
    fn rows(&self, name: &str) -> Option<usize>;
    /// The file, for errors.
    fn path(&self) -> &Path;
}

impl GgufArch {
    /// The config.json the Hugging Face family's reader gets for this file: the `{arch}.*` metadata under
    /// transformers' field names, with llama.cpp's defaults where the file is silent.
    pub fn config_json(&self, m: &dyn Metadata) -> Result<Value> {
        let a = self.gguf;
        let key = |k: &str| format!("{a}.{k}");
        let get = |k: &str| m.number(&key(k));
        let need = |k: &str| -> Result<f64> {
            get(k).ok_or_else(|| {
                Error::config(
                    m.path(),
                    format!("metadata `{a}.{k}` is missing or not a number"),
                )
            })
        };
        let hidden = need("embedding_length")? as usize;
        let heads = need("attention.head_count")? as usize;
        if heads == 0 || !hidden.is_multiple_of(heads) {
            return Err(Error::config(
                m.path(),
                format!(
                    "metadata `{a}.attention.head_count` ({heads}) does not divide `{a}.embedding_length` ({hidden})"
                ),
            ));
        }
        let kv_heads = get("attention.head_count_kv").map_or(heads, |v| v as usize);
        let head_dim = get("attention.key_length").map_or(hidden / heads, |v| v as usize);
        let layers = need("block_count")? as usize;
        // Every block stores tensors, so a count beyond the table is a damaged header, refused before any
        // per-layer setting is allocated.
        if layers > m.tensor_count() {
            return Err(Error::config(
                m.path(),
                format!(
                    "metadata `{a}.block_count` is {layers}, but the file holds only {} tensors; \
                     the file is damaged or was not written by a GGUF converter",
                    m.tensor_count()
                ),
            ));
        }
        // The embedding's rows: the converter drops Gemma 3's out-of-vocabulary rows, so count what is stored.
        let vocab = m
            .rows("token_embd.weight")
            .or_else(|| get("vocab_size").map(|v| v as usize))
            .ok_or_else(|| Error::config(m.path(), "the file has no `token_embd.weight` tensor"))?;
        let ff = need("feed_forward_length")? as usize;
        let context = get("context_length").map_or(2048, |v| v as usize);
        let tied = !m.has_tensor("output.weight");
        let theta = get("rope.freq_base").unwrap_or(10_000.0);
        let rotary_fraction = get("rope.dimension_count").map(|d| d / head_dim as f64);
        let rms_eps = || need("attention.layer_norm_rms_epsilon");
        let ln_eps = || need("attention.layer_norm_epsilon");
        let window = get("attention.sliding_window")
            .map(|w| w as usize)
            .filter(|&w| w > 0);
        let mut c = json!({
            "architectures": [self.hf],
            "hidden_size": hidden,
            "intermediate_size": ff,
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "num_key_value_heads": kv_heads,
            "head_dim": head_dim,
            "vocab_size": vocab,
            "max_position_embeddings": context,
            "tie_word_embeddings": tied,
        });
        match self.gguf {
            "llama" | "qwen2" | "qwen3" | "olmo2" => {
                c["rms_norm_eps"] = json!(rms_eps()?);
                c["rope_theta"] = json!(theta);
                c["rope_scaling"] = rope_scaling(m, a)?;
                if self.gguf == "qwen2" {
                    c["attention_bias"] = json!(m.has_tensor("blk.0.attn_q.bias"));
                }
                if self.gguf == "olmo2" && window.is_some() {
                    return Err(Error::config(
                        m.path(),
                        format!(
                            "metadata `{a}.attention.sliding_window`: OLMo 3's sliding window is not supported"
                        ),
                    ));
                }
            }
            "gemma" => {
                c["rms_norm_eps"] = json!(rms_eps()?);
                c["rope_theta"] = json!(theta);
                c["hidden_act"] = json!("gelu_pytorch_tanh");
            }
            "gemma2" | "gemma3" => self.gemma_config(m, &mut c, head_dim, window)?,
            "phi3" => {
                c["rms_norm_eps"] = json!(rms_eps()?);
                c["rope_parameters"] = json!({
                    "rope_type": "default",
                    "rope_theta": theta,
                    "partial_rotary_factor": rotary_fraction.unwrap_or(1.0),
                });
                if m.has_tensor("rope_factors_long.weight")
                    || m.text(&key("rope.scaling.type"))
                        .is_some_and(|t| t != "none")
                {
                    return Err(Error::config(
                        m.path(),
                        "this Phi-3 file carries LongRoPE scaling (rope_factors_long/short), which creditlens does not read from GGUF; open the safetensors checkpoint instead",
                    ));
                }
                c["sliding_window"] = json!(window);
            }
            "stablelm" => {
                c["layer_norm_eps"] = json!(ln_eps()?);
                c["rope_theta"] = json!(theta);
                c["partial_rotary_factor"] = json!(rotary_fraction.unwrap_or(1.0));
                c["use_parallel_residual"] =
                    json!(m.flag(&key("use_parallel_residual")).unwrap_or(false));
                c["use_qkv_bias"] = json!(m.has_tensor("blk.0.attn_q.bias"));
                c["qk_layernorm"] = json!(m.has_tensor("blk.0.attn_q_norm.weight"));
            }
            "gptneox" => {
                c["layer_norm_eps"] = json!(ln_eps()?);
                c["rotary_pct"] = json!(rotary_fraction.unwrap_or(1.0));
                c["rotary_emb_base"] = json!(theta);
                c["use_parallel_residual"] =
                    json!(m.flag(&key("use_parallel_residual")).unwrap_or(true));
                c["attention_bias"] = json!(m.has_tensor("blk.0.attn_qkv.bias"));
                c["hidden_act"] = json!("gelu");
            }
            "gpt2" => {
                c["n_inner"] = json!(ff);
                // GPT-2's reader takes max_position_embeddings as an alias of n_positions.
                c["layer_norm_epsilon"] = json!(ln_eps()?);
                c["activation_function"] = json!("gelu_new");
            }
            other => {
                return Err(Error::config(
                    m.path(),
                    format!("GGUF architecture `{other}` has no configuration reader"),
                ));
            }
        }
        Ok(c)
    }

    /// Gemma 2 and 3: soft-capping, sliding windows and their pattern, the local RoPE base, and the attention
    /// scale, as llama.cpp reads them (Gemma 2: every other layer local, window 4096 unless given; Gemma 3: five
    /// local layers in six unless `attention.sliding_window_pattern` says otherwise, local base 10000 unless
    /// `rope.freq_base_swa`; queries scaled by 1/sqrt(head_dim), or 1/sqrt(hidden/heads) for the 27B models).
    fn gemma_config(
        &self,
        m: &dyn Metadata,
        c: &mut Value,
        head_dim: usize,
        window: Option<usize>,
    ) -> Result<()> {
        let a = self.gguf;
        let key = |k: &str| format!("{a}.{k}");
        let get = |k: &str| m.number(&key(k));
        let layers = c["num_hidden_layers"].as_u64().unwrap_or(0) as usize;
        let hidden = c["hidden_size"].as_u64().unwrap_or(0) as usize;
        let heads = c["num_attention_heads"].as_u64().unwrap_or(1).max(1) as usize;
        let gemma2 = a == "gemma2";
        c["rms_norm_eps"] = json!(get("attention.layer_norm_rms_epsilon").unwrap_or(1e-6));
        c["hidden_activation"] = json!("gelu_pytorch_tanh");
        let is_27b = layers == if gemma2 { 46 } else { 62 };
        c["query_pre_attn_scalar"] = json!(if is_27b { hidden / heads } else { head_dim });
        // llama.cpp always soft-caps Gemma 2 (50 and 30 unless given), and Gemma 3's final logits only if given.
        let (attn_cap, final_cap) = if gemma2 {
            (
                Some(get("attn_logit_softcapping").unwrap_or(50.0)),
                Some(get("final_logit_softcapping").unwrap_or(30.0)),
            )
        } else {
            (None, get("final_logit_softcapping").filter(|&c| c > 0.0))
        };
        c["attn_logit_softcapping"] = json!(attn_cap);
        c["final_logit_softcapping"] = json!(final_cap);
        let window = if gemma2 {
            window.or(Some(4096))
        } else {
            window
        };
        let pattern: Vec<bool> = match m.flags(&key("attention.sliding_window_pattern")) {
            Some(flags) if flags.len() == layers => flags,
            Some(flags) => {
                return Err(Error::config(
                    m.path(),
                    format!(
                        "metadata `{a}.attention.sliding_window_pattern` has {} entries for {layers} layers",
                        flags.len()
                    ),
                ));
            }
            None => {
                let n = get("attention.sliding_window_pattern")
                    .map_or(if gemma2 { 2 } else { 6 }, |v| v as usize);
                (0..layers).map(|i| n == 0 || i % n < n - 1).collect()
            }
        };
        c["sliding_window"] = json!(window);
        c["layer_types"] = json!(
            pattern
                .iter()
                .map(|&s| if s && window.is_some() {
                    "sliding_attention"
                } else {
                    "full_attention"
                })
                .collect::<Vec<_>>()
        );
        let theta = get("rope.freq_base").unwrap_or(10_000.0);
        if gemma2 {
            if get("rope.freq_base_swa").is_some_and(|b| b != theta) {
                return Err(Error::config(
                    m.path(),
                    format!(
                        "metadata `{a}.rope.freq_base_swa` differs from `{a}.rope.freq_base`; Gemma 2 has one RoPE base"
                    ),
                ));
            }
            c["rope_theta"] = json!(theta);
        } else {
            let mut full = rope_scaling(m, a)?;
            if full.is_null() {
                full = json!({"rope_type": "default"});
            }
            full["rope_theta"] = json!(theta);
            c["rope_parameters"] = json!({
                "full_attention": full,
                "sliding_attention": {
                    "rope_type": "default",
                    "rope_theta": get("rope.freq_base_swa").unwrap_or(10_000.0),
                },
            });
        }
        Ok(())
    }
}

/// `{arch}.rope.scaling.*` as config.json's `rope_scaling` (null when absent or `none`).
fn rope_scaling(m: &dyn Metadata, a: &str) -> Result<Value> {
    match m.text(&format!("{a}.rope.scaling.type")).as_deref() {
        None | Some("none") => Ok(Value::Null),
        Some("linear") => {
            let factor = m
                .number(&format!("{a}.rope.scaling.factor"))
                .ok_or_else(|| {
                    Error::config(
                        m.path(),
                        format!(
                            "metadata `{a}.rope.scaling.factor` is missing for linear RoPE scaling"
                        ),
                    )
                })?;
            Ok(json!({"rope_type": "linear", "factor": factor}))
        }
        Some(other) => Err(Error::config(
            m.path(),
            format!(
                "metadata `{a}.rope.scaling.type` is `{other}`, which creditlens does not read from GGUF; open the safetensors checkpoint instead"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(name: &str) -> &'static GgufArch {
        find(name, Path::new("x.gguf")).unwrap()
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

    #[test]
    fn unknown_architecture_lists_the_supported_ones() {
        let err = find("mamba", Path::new("m.gguf")).unwrap_err().to_string();
        assert!(err.contains("m.gguf") && err.contains("`mamba`"), "{err}");
        for a in GGUF_ARCHS {
            assert!(err.contains(a.gguf), "{err}");
        }
    }
}
