//! What a GGUF file's metadata means, architecture by architecture, as llama.cpp's converter
//! (`convert_hf_to_gguf.py`) writes it and llama.cpp reads it: the config.json a family's reader gets from the
//! `{arch}.*` metadata, with llama.cpp's defaults for what the file leaves out. Each architecture's own fields are
//! written by one function here, named in its [`GgufArch`](super::gguf_arch::GgufArch).
//!
//! Where llama.cpp deliberately departs from the model the file was converted from (it runs Phi-3 without its
//! sliding window, and GPT-NeoX's exact GELU with the tanh approximation), creditlens runs the model as trained.

use crate::error::{Error, Result};
use serde_json::{Value, json};
use std::path::Path;

/// Reads a GGUF file's metadata, for [`GgufArch::config_json`](super::gguf_arch::GgufArch::config_json).
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

/// Writes the fields of config.json only one architecture's metadata gives ([`GgufArch`](super::gguf_arch::GgufArch)
/// holds one for each).
pub(super) type Writer = fn(&Meta, &mut Value) -> Result<()>;

/// The config.json the reader of Hugging Face architecture `architecture` gets for a file of GGUF architecture
/// `a`: the `{a}.*` metadata under transformers' field names, with llama.cpp's defaults where the file is silent;
/// the sizes here, the rest by `own`.
pub(super) fn config_json(
    a: &'static str,
    own: Writer,
    architecture: &str,
    m: &dyn Metadata,
) -> Result<Value> {
    let x = Meta {
        m,
        arch: a,
        head_dim: 0,
        theta: 0.0,
        rotary_fraction: None,
        window: None,
    };
    let hidden = x.need("embedding_length")? as usize;
    let heads = x.need("attention.head_count")? as usize;
    if heads == 0 || !hidden.is_multiple_of(heads) {
        return Err(x.error(format!(
            "metadata `{a}.attention.head_count` ({heads}) does not divide `{a}.embedding_length` ({hidden})"
        )));
    }
    let kv_heads = x
        .get("attention.head_count_kv")
        .map_or(heads, |v| v as usize);
    let head_dim = x
        .get("attention.key_length")
        .map_or(hidden / heads, |v| v as usize);
    let layers = x.need("block_count")? as usize;
    // Every block stores tensors, so a count beyond the table is a damaged header, refused before any
    // per-layer setting is allocated.
    if layers > m.tensor_count() {
        return Err(x.error(format!(
            "metadata `{a}.block_count` is {layers}, but the file holds only {} tensors; \
             the file is damaged or was not written by a GGUF converter",
            m.tensor_count()
        )));
    }
    // The embedding's rows: the converter drops Gemma 3's out-of-vocabulary rows, so count what is stored.
    let vocab = m
        .rows("token_embd.weight")
        .or_else(|| x.get("vocab_size").map(|v| v as usize))
        .ok_or_else(|| x.error("the file has no `token_embd.weight` tensor".into()))?;
    let ff = x.need("feed_forward_length")? as usize;
    let context = x.get("context_length").map_or(2048, |v| v as usize);
    let x = Meta {
        head_dim,
        theta: x.get("rope.freq_base").unwrap_or(10_000.0),
        rotary_fraction: x.get("rope.dimension_count").map(|d| d / head_dim as f64),
        window: x
            .get("attention.sliding_window")
            .map(|w| w as usize)
            .filter(|&w| w > 0),
        ..x
    };
    let mut c = json!({
        "architectures": [architecture],
        "hidden_size": hidden,
        "intermediate_size": ff,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": head_dim,
        "vocab_size": vocab,
        "max_position_embeddings": context,
        "tie_word_embeddings": !m.has_tensor("output.weight"),
    });
    own(&x, &mut c)?;
    Ok(c)
}

/// A GGUF file's metadata as an architecture's config.json writer reads it: the `{arch}.*` keys, and the values
/// several architectures use.
pub(super) struct Meta<'a> {
    m: &'a dyn Metadata,
    /// `general.architecture`, the prefix of its keys.
    arch: &'static str,
    /// Width of a head.
    head_dim: usize,
    /// `rope.freq_base`, 10,000 unless given.
    theta: f64,
    /// `rope.dimension_count` over the head width.
    rotary_fraction: Option<f64>,
    /// `attention.sliding_window`, when positive.
    window: Option<usize>,
}

impl Meta<'_> {
    /// The full key of `{arch}.{k}`.
    fn key(&self, k: &str) -> String {
        format!("{}.{k}", self.arch)
    }

    /// The number at `{arch}.{k}`, if present.
    fn get(&self, k: &str) -> Option<f64> {
        self.m.number(&self.key(k))
    }

    /// The number at `{arch}.{k}`, or an error naming the key.
    fn need(&self, k: &str) -> Result<f64> {
        self.get(k).ok_or_else(|| {
            self.error(format!(
                "metadata `{}` is missing or not a number",
                self.key(k)
            ))
        })
    }

    /// An error about the file.
    fn error(&self, message: String) -> Error {
        Error::config(self.m.path(), message)
    }

    /// RMSNorm's epsilon, which the file must give.
    fn rms_eps(&self) -> Result<f64> {
        self.need("attention.layer_norm_rms_epsilon")
    }

    /// LayerNorm's epsilon, which the file must give.
    fn ln_eps(&self) -> Result<f64> {
        self.need("attention.layer_norm_epsilon")
    }
}

/// `llama` and `qwen3`: RMSNorm epsilon, RoPE base and scaling.
pub(super) fn llama(x: &Meta, c: &mut Value) -> Result<()> {
    c["rms_norm_eps"] = json!(x.rms_eps()?);
    c["rope_theta"] = json!(x.theta);
    c["rope_scaling"] = rope_scaling(x.m, x.arch)?;
    Ok(())
}

/// `qwen2`: as `llama`, with q/k/v biases when the file stores them.
pub(super) fn qwen2(x: &Meta, c: &mut Value) -> Result<()> {
    llama(x, c)?;
    c["attention_bias"] = json!(x.m.has_tensor("blk.0.attn_q.bias"));
    Ok(())
}

/// `olmo2`: as `llama`; OLMo 3's sliding window is refused.
pub(super) fn olmo2(x: &Meta, c: &mut Value) -> Result<()> {
    llama(x, c)?;
    if x.window.is_some() {
        return Err(x.error(format!(
            "metadata `{}`: OLMo 3's sliding window is not supported",
            x.key("attention.sliding_window")
        )));
    }
    Ok(())
}

/// `gemma`: RMSNorm epsilon, RoPE base, tanh GELU.
pub(super) fn gemma(x: &Meta, c: &mut Value) -> Result<()> {
    c["rms_norm_eps"] = json!(x.rms_eps()?);
    c["rope_theta"] = json!(x.theta);
    c["hidden_act"] = json!("gelu_pytorch_tanh");
    Ok(())
}

/// `gemma2`: see [`gemma2_or_3`].
pub(super) fn gemma2(x: &Meta, c: &mut Value) -> Result<()> {
    gemma2_or_3(x, c, true)
}

/// `gemma3`: see [`gemma2_or_3`].
pub(super) fn gemma3(x: &Meta, c: &mut Value) -> Result<()> {
    gemma2_or_3(x, c, false)
}

/// `phi3`: RMSNorm epsilon, RoPE base and partial factor, sliding window; LongRoPE files are refused.
pub(super) fn phi3(x: &Meta, c: &mut Value) -> Result<()> {
    c["rms_norm_eps"] = json!(x.rms_eps()?);
    c["rope_parameters"] = json!({
        "rope_type": "default",
        "rope_theta": x.theta,
        "partial_rotary_factor": x.rotary_fraction.unwrap_or(1.0),
    });
    if x.m.has_tensor("rope_factors_long.weight")
        || x.m
            .text(&x.key("rope.scaling.type"))
            .is_some_and(|t| t != "none")
    {
        return Err(x.error(
            "this Phi-3 file carries LongRoPE scaling (rope_factors_long/short), which creditlens does not read from GGUF; open the safetensors checkpoint instead".into(),
        ));
    }
    c["sliding_window"] = json!(x.window);
    Ok(())
}

/// `stablelm`: LayerNorm epsilon, RoPE base and partial factor, parallel residual, q/k/v biases and q/k norms as
/// the file stores them.
pub(super) fn stablelm(x: &Meta, c: &mut Value) -> Result<()> {
    c["layer_norm_eps"] = json!(x.ln_eps()?);
    c["rope_theta"] = json!(x.theta);
    c["partial_rotary_factor"] = json!(x.rotary_fraction.unwrap_or(1.0));
    c["use_parallel_residual"] = json!(x.m.flag(&x.key("use_parallel_residual")).unwrap_or(false));
    c["use_qkv_bias"] = json!(x.m.has_tensor("blk.0.attn_q.bias"));
    c["qk_layernorm"] = json!(x.m.has_tensor("blk.0.attn_q_norm.weight"));
    Ok(())
}

/// `gptneox`: LayerNorm epsilon, rotary share and base, parallel residual, biases, exact GELU (llama.cpp runs the
/// tanh approximation; the model was trained with the exact one).
pub(super) fn gptneox(x: &Meta, c: &mut Value) -> Result<()> {
    c["layer_norm_eps"] = json!(x.ln_eps()?);
    c["rotary_pct"] = json!(x.rotary_fraction.unwrap_or(1.0));
    c["rotary_emb_base"] = json!(x.theta);
    c["use_parallel_residual"] = json!(x.m.flag(&x.key("use_parallel_residual")).unwrap_or(true));
    c["attention_bias"] = json!(x.m.has_tensor("blk.0.attn_qkv.bias"));
    c["hidden_act"] = json!("gelu");
    Ok(())
}

/// `gpt2`: the MLP width under GPT-2's name, LayerNorm epsilon, `gelu_new`.
pub(super) fn gpt2(x: &Meta, c: &mut Value) -> Result<()> {
    c["n_inner"] = c["intermediate_size"].clone();
    // GPT-2's reader takes max_position_embeddings as an alias of n_positions.
    c["layer_norm_epsilon"] = json!(x.ln_eps()?);
    c["activation_function"] = json!("gelu_new");
    Ok(())
}

/// Gemma 2 and 3: soft-capping, sliding windows and their pattern, the local RoPE base, and the attention
/// scale, as llama.cpp reads them (Gemma 2: every other layer local, window 4096 unless given; Gemma 3: five
/// local layers in six unless `attention.sliding_window_pattern` says otherwise, local base 10000 unless
/// `rope.freq_base_swa`; queries scaled by 1/sqrt(head_dim), or 1/sqrt(hidden/heads) for the 27B models).
fn gemma2_or_3(x: &Meta, c: &mut Value, gemma2: bool) -> Result<()> {
    let (a, m) = (x.arch, x.m);
    let get = |k: &str| x.get(k);
    let key = |k: &str| x.key(k);
    let (head_dim, window) = (x.head_dim, x.window);
    let layers = c["num_hidden_layers"].as_u64().unwrap_or(0) as usize;
    let hidden = c["hidden_size"].as_u64().unwrap_or(0) as usize;
    let heads = c["num_attention_heads"].as_u64().unwrap_or(1).max(1) as usize;
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
