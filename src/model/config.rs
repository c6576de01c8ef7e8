//! The normalised description of a decoder ([`DecoderConfig`]) that every family's `config.json` is read into:
//! which family it is, its sizes, and the switches the one decoder runs by; the neutral configuration each family's
//! reader starts from ([`DecoderConfig::new`]), the checks of values no model can have, and the figures derived from
//! it (parameters, working memory). Reading config.json is elsewhere: the fields every family shares in
//! `config_json.rs`, RoPE's in `rope.rs`, each family's own in its file, and the dispatch on `architectures[0]` in
//! `registry.rs`.

use super::dtype::Dtype;
use crate::error::{Error, Result};
use std::path::Path;

/// Which family a checkpoint belongs to, named by its `architectures[0]` in config.json. Each family's file defines
/// its constants (`Family::LLAMA` in `llama.rs`) and the registry ([`FAMILIES`](super::registry::FAMILIES)) holds
/// its row (names, config reader, weight loader), so a new family changes nothing here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Family(&'static str);

impl Family {
    /// The family whose checkpoints name `architecture` in config.json's `architectures`.
    pub const fn new(architecture: &'static str) -> Self {
        Self(architecture)
    }

    /// The family's name as it appears in config.json.
    pub fn architecture(self) -> &'static str {
        self.0
    }
}

/// Whether and how queries and keys are RMS-normalised before RoPE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QkNorm {
    /// Not normalised.
    None,
    /// Each head on its own, one weight of head_dim shared by the heads (Qwen 3, Gemma 3).
    PerHead,
    /// The whole projection at once, heads * head_dim weights (OLMo 2).
    Whole,
}

/// Which normalisation the layers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormKind {
    /// RMSNorm with a weight (Llama, Qwen).
    Rms,
    /// LayerNorm with a weight and a bias (GPT-NeoX).
    Layer,
}

/// The feed-forward block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MlpKind {
    /// `down(silu(gate(x)) * up(x))`, no biases unless `mlp_bias` (Llama).
    GatedSilu,
    /// `down(gelu(up(x)))` with exact (erf) GELU and biases (GPT-NeoX).
    Gelu,
    /// `down(gelu_tanh(gate(x)) * up(x))` (Gemma's `gelu_pytorch_tanh`).
    GatedGeluTanh,
    /// `down(gelu_tanh(up(x)))` with biases (GPT-2's `gelu_new`).
    GeluTanh,
}

/// How rotary position frequencies are scaled.
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    /// Plain RoPE.
    Default,
    /// Position interpolation: every frequency divided by `factor`.
    Linear {
        /// Interpolation factor.
        factor: f32,
    },
    /// Llama 3's piecewise frequency scaling.
    Llama3 {
        /// Overall factor.
        factor: f32,
        /// Wavelengths longer than `original / low_freq_factor` are fully scaled.
        low_freq_factor: f32,
        /// Wavelengths shorter than `original / high_freq_factor` are kept.
        high_freq_factor: f32,
        /// Context length the model was pre-trained with.
        original_max_position_embeddings: usize,
    },
    /// LongRoPE (Phi-3 128k, Phi-3.5, Phi-4-mini): per-frequency divisors, `short_factor` for sequences up to
    /// `original_max_position_embeddings` tokens and `long_factor` beyond, with cos/sin scaled by
    /// `attention_factor`. As in transformers, the whole sequence's length picks the set.
    LongRope {
        /// Divisors of the inverse frequencies for sequences up to the original length.
        short_factor: Vec<f32>,
        /// Divisors for longer sequences.
        long_factor: Vec<f32>,
        /// Context length the model was pre-trained with.
        original_max_position_embeddings: usize,
        /// Multiplier of cos and sin.
        attention_factor: f32,
    },
}

/// The normalised configuration of a decoder-only transformer.
#[derive(Debug, Clone, PartialEq)]
pub struct DecoderConfig {
    /// Which family the checkpoint belongs to.
    pub family: Family,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// Rows of the embedding and LM-head matrices.
    pub vocab_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention when smaller than the query heads).
    pub num_key_value_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// The layers' normalisation.
    pub norm: NormKind,
    /// Epsilon of the normalisation (RMSNorm's or LayerNorm's).
    pub rms_norm_eps: f64,
    /// Features of each head that rotary embeddings rotate (the head's first ones; all unless partial rotary).
    pub rotary_dim: usize,
    /// Attention and MLP both read the layer's input and add to it (GPT-NeoX); otherwise one after the other.
    pub parallel_residual: bool,
    /// The feed-forward block.
    pub mlp: MlpKind,
    /// Norms are `1 + weight` (Gemma), folded into the weight at load.
    pub norm_unit_offset: bool,
    /// A norm on the output of attention and of the MLP besides the ones before them (Gemma 2 and 3).
    pub sandwich_norms: bool,
    /// Multiplies the embeddings (Gemma: sqrt(hidden_size)).
    pub embed_scale: Option<f64>,
    /// Attention scores are scaled by `1 / sqrt(this)` instead of `1 / sqrt(head_dim)` (Gemma 2/3's
    /// `query_pre_attn_scalar`).
    pub query_pre_attn_scalar: Option<f64>,
    /// Soft-capping of the attention scores (Gemma 2's `attn_logit_softcapping`).
    pub attn_softcap: Option<f64>,
    /// Soft-capping of the final logits (Gemma 2's `final_logit_softcapping`).
    pub final_softcap: Option<f64>,
    /// RoPE base of the sliding-window layers, when it differs from `rope_theta` (Gemma 3).
    pub rope_local_theta: Option<f32>,
    /// RoPE base.
    pub rope_theta: f32,
    /// RoPE frequency scaling.
    pub rope_scaling: RopeScaling,
    /// Longest sequence the model accepts.
    pub max_position_embeddings: usize,
    /// Whether the LM head shares the embedding matrix.
    pub tie_word_embeddings: bool,
    /// Bias on the q/k/v projections.
    pub qkv_bias: bool,
    /// Bias on the output projection.
    pub o_bias: bool,
    /// Bias on the MLP projections.
    pub mlp_bias: bool,
    /// RMSNorm of queries and keys before RoPE.
    pub qk_norm: QkNorm,
    /// Sliding attention window per layer (`None`: full attention).
    pub sliding_window: Vec<Option<usize>>,
}

/// The sizes of a decoder ([`DecoderConfig`]'s fields of the same names), which a family's reader reads and
/// checks before anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// `hidden_size`.
    pub hidden_size: usize,
    /// `intermediate_size`.
    pub intermediate_size: usize,
    /// `vocab_size`.
    pub vocab_size: usize,
    /// `num_hidden_layers`.
    pub num_hidden_layers: usize,
    /// `num_attention_heads`.
    pub num_attention_heads: usize,
    /// `num_key_value_heads`.
    pub num_key_value_heads: usize,
    /// `head_dim`.
    pub head_dim: usize,
}

impl DecoderConfig {
    /// A decoder of `family` and `shape` with every switch in its neutral position: RMSNorm (epsilon 1e-6) before
    /// attention and before a gated SiLU MLP, one after the other; plain RoPE of base 10,000 over each whole head;
    /// full attention; no biases, q/k norms, scales or soft-caps; an LM head of its own; a context of 2,048. A
    /// family's reader sets only what its config.json says differs, so a new switch is a field here, its neutral
    /// value below, and the decoder code that reads it.
    pub fn new(family: Family, shape: Shape) -> Self {
        Self {
            family,
            hidden_size: shape.hidden_size,
            intermediate_size: shape.intermediate_size,
            vocab_size: shape.vocab_size,
            num_hidden_layers: shape.num_hidden_layers,
            num_attention_heads: shape.num_attention_heads,
            num_key_value_heads: shape.num_key_value_heads,
            head_dim: shape.head_dim,
            norm: NormKind::Rms,
            rms_norm_eps: 1e-6,
            rotary_dim: shape.head_dim,
            parallel_residual: false,
            mlp: MlpKind::GatedSilu,
            norm_unit_offset: false,
            sandwich_norms: false,
            embed_scale: None,
            query_pre_attn_scalar: None,
            attn_softcap: None,
            final_softcap: None,
            rope_local_theta: None,
            rope_theta: 10_000.0,
            rope_scaling: RopeScaling::Default,
            max_position_embeddings: 2048,
            tie_word_embeddings: false,
            qkv_bias: false,
            o_bias: false,
            mlp_bias: false,
            qk_norm: QkNorm::None,
            sliding_window: vec![None; shape.num_hidden_layers],
        }
    }

    /// Refuses values no model can have been trained with (a non-positive epsilon, RoPE base or scaling factor,
    /// a zero window or context): they would compute numbers without an error, and
    /// every one of them would be wrong. `path` names the source in the message.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let bad = |field: &str, value: String, fix: &str| {
            Err(Error::config(
                path,
                format!("field `{field}` is {value}; {fix}"),
            ))
        };
        let positive = |v: f64| v.is_finite() && v > 0.0;
        let eps_field = match self.norm {
            NormKind::Rms => "rms_norm_eps",
            NormKind::Layer => "layer_norm_eps",
        };
        if !positive(self.rms_norm_eps) {
            return bad(
                eps_field,
                self.rms_norm_eps.to_string(),
                "the normalisation epsilon must be a small positive number such as 1e-5 or 1e-6",
            );
        }
        if self.max_position_embeddings == 0 {
            return bad(
                "max_position_embeddings",
                "0".into(),
                "it is the model's context length and must be positive (2048, 8192, ...)",
            );
        }
        if self.rotary_dim > self.head_dim || !self.rotary_dim.is_multiple_of(2) {
            return bad(
                "partial_rotary_factor",
                format!("a rotary width of {}", self.rotary_dim),
                &format!(
                    "the rotated features must be an even number no larger than the head width ({})",
                    self.head_dim
                ),
            );
        }
        if self.rotary_dim > 0 {
            for (field, theta) in [
                ("rope_theta", Some(self.rope_theta)),
                ("rope_local_base_freq", self.rope_local_theta),
            ] {
                if let Some(t) = theta.filter(|t| !positive(f64::from(*t))) {
                    return bad(
                        field,
                        t.to_string(),
                        "the RoPE base must be positive (10000, 500000, ...)",
                    );
                }
            }
            self.validate_rope_scaling(path)?;
        }
        if let Some(layer) = self.sliding_window.iter().position(|w| *w == Some(0)) {
            return bad(
                "sliding_window",
                format!("0 (layer {layer})"),
                "a window must be positive, or null for full attention",
            );
        }
        for (field, value) in [
            ("query_pre_attn_scalar", self.query_pre_attn_scalar),
            ("attn_logit_softcapping", self.attn_softcap),
            ("final_logit_softcapping", self.final_softcap),
            ("embedding scale", self.embed_scale),
        ] {
            if let Some(v) = value.filter(|v| !positive(*v)) {
                return bad(field, v.to_string(), "it must be positive, or null");
            }
        }
        Ok(())
    }

    fn validate_rope_scaling(&self, path: &Path) -> Result<()> {
        let bad = |key: &str, value: String, fix: &str| {
            Err(Error::config(
                path,
                format!("`rope_scaling` (or `rope_parameters`) `{key}` is {value}; {fix}"),
            ))
        };
        let positive = |v: f32| v.is_finite() && v > 0.0;
        match &self.rope_scaling {
            RopeScaling::Default => Ok(()),
            RopeScaling::Linear { factor } if !positive(*factor) => bad(
                "factor",
                factor.to_string(),
                "the interpolation factor must be positive (2.0, 4.0, ...)",
            ),
            RopeScaling::Linear { .. } => Ok(()),
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            } => {
                for (key, v) in [
                    ("factor", factor),
                    ("low_freq_factor", low_freq_factor),
                    ("high_freq_factor", high_freq_factor),
                ] {
                    if !positive(*v) {
                        return bad(
                            key,
                            v.to_string(),
                            "Llama 3's factors must be positive (Llama 3.1: factor 8, low 1, high 4)",
                        );
                    }
                }
                if high_freq_factor <= low_freq_factor {
                    return bad(
                        "high_freq_factor",
                        high_freq_factor.to_string(),
                        &format!("it must be larger than low_freq_factor ({low_freq_factor})"),
                    );
                }
                if *original_max_position_embeddings == 0 {
                    return bad(
                        "original_max_position_embeddings",
                        "0".into(),
                        "it is the pre-training context length and must be positive (8192 for Llama 3.1)",
                    );
                }
                Ok(())
            }
            RopeScaling::LongRope {
                short_factor,
                long_factor,
                original_max_position_embeddings,
                attention_factor,
            } => {
                let half = self.rotary_dim / 2;
                for (key, list) in [("short_factor", short_factor), ("long_factor", long_factor)] {
                    if list.len() != half {
                        return bad(
                            key,
                            format!("a list of {}", list.len()),
                            &format!("it needs one divisor per rotated frequency pair ({half})"),
                        );
                    }
                    if let Some(v) = list.iter().find(|v| !positive(**v)) {
                        return bad(
                            key,
                            format!("a list holding {v}"),
                            "every divisor must be positive",
                        );
                    }
                }
                if *original_max_position_embeddings == 0 {
                    return bad(
                        "original_max_position_embeddings",
                        "0".into(),
                        "it must be positive",
                    );
                }
                if !positive(*attention_factor) {
                    return bad(
                        "attention_factor",
                        attention_factor.to_string(),
                        "it must be positive",
                    );
                }
                Ok(())
            }
        }
    }

    /// The attention scores' scale: `1 / sqrt(query_pre_attn_scalar)`, or `1 / sqrt(head_dim)`.
    pub fn attention_scale(&self) -> f64 {
        1.0 / self
            .query_pre_attn_scalar
            .unwrap_or(self.head_dim as f64)
            .sqrt()
    }

    /// Number of query heads sharing one key/value head.
    pub fn kv_groups(&self) -> usize {
        self.num_attention_heads / self.num_key_value_heads
    }

    /// Number of parameters implied by this configuration (the tied LM head counted once), saturating.
    pub fn num_parameters(&self) -> usize {
        let wide = |n: usize| n as u128;
        let (h, i, v) = (
            wide(self.hidden_size),
            wide(self.intermediate_size),
            wide(self.vocab_size),
        );
        let head_dim = wide(self.head_dim);
        let q = wide(self.num_attention_heads) * head_dim;
        let kv = wide(self.num_key_value_heads) * head_dim;
        let mut attn = h * q + 2 * h * kv + q * h;
        if self.qkv_bias {
            attn += q + 2 * kv;
        }
        if self.o_bias {
            attn += h;
        }
        attn += match self.qk_norm {
            QkNorm::None => 0,
            QkNorm::PerHead => 2 * head_dim,
            QkNorm::Whole => q + kv,
        };
        let gated = matches!(self.mlp, MlpKind::GatedSilu | MlpKind::GatedGeluTanh);
        let mut mlp = if gated { 3 * h * i } else { 2 * h * i };
        if self.mlp_bias {
            mlp += if gated { 2 * i + h } else { i + h };
        }
        let norm = match self.norm {
            NormKind::Rms => h,
            NormKind::Layer => 2 * h,
        };
        let norms = if self.sandwich_norms { 4 } else { 2 };
        let layer = attn + mlp + norms * norm;
        let head = if self.tie_word_embeddings { 0 } else { v * h };
        // GPT-2 learns its positions instead of rotating (rotary_dim 0).
        let positions = if self.rotary_dim == 0 {
            wide(self.max_position_embeddings) * h
        } else {
            0
        };
        let total = v * h + positions + wide(self.num_hidden_layers) * layer + norm + head;
        usize::try_from(total).unwrap_or(usize::MAX)
    }

    /// The working memory of a forward over `tokens` tokens in `dtype`: the attention mask, the residual stream and
    /// its copies, q/k/v, the prompt's keys and values in every layer, the attention scores (computed in blocks of
    /// at most 4 Mi values; the mask too, beyond 4 Mi values), the MLP's intermediate activations, the input of
    /// an AMX product laid out in tiles (three bf16 parts on the exact path) and the logits of 256 positions. An
    /// upper bound: not all of these are alive at once.
    pub fn activation_bytes(&self, tokens: usize, dtype: Dtype) -> u64 {
        let t = tokens as u64;
        let b = dtype.activations().size_in_bytes() as u64;
        let (h, i) = (self.hidden_size as u64, self.intermediate_size as u64);
        let (nh, nkv, hd) = (
            self.num_attention_heads as u64,
            self.num_key_value_heads as u64,
            self.head_dim as u64,
        );
        let windows = {
            let mut w = self.sliding_window.clone();
            w.dedup();
            w.len().max(1) as u64
        };
        let mask = (t * t).min(1 << 22) * b * windows;
        let residual = 4 * t * h * b;
        let qkv = 3 * t * (nh + 2 * nkv) * hd * b;
        let cache = self.num_hidden_layers as u64 * 2 * t * nkv * hd * b;
        let scores = 3 * (nh * t * t).min(1 << 22) * b;
        let mlp = 3 * t * i * b;
        let tiles = 3 * 2 * t * i.max(h);
        let logits = 2 * 256 * self.vocab_size as u64 * 4;
        mask + residual + qkv + cache + scores + mlp + tiles + logits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<DecoderConfig> {
        DecoderConfig::from_json(json, Path::new("config.json"))
    }

    const LLAMA: &str = r#"{"architectures":["LlamaForCausalLM"],"hidden_size":64,"intermediate_size":128,
        "vocab_size":100,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
        "rms_norm_eps":1e-5,"max_position_embeddings":256,"tie_word_embeddings":true}"#;

    /// Each value no model can be trained with is refused, naming the field (each one was accepted before).
    #[test]
    fn impossible_values_are_refused_naming_the_field() {
        let with = |extra: &str| {
            let json = LLAMA.replace("\"tie_word_embeddings\":true", extra);
            parse(&json).map(|_| ()).unwrap_err().to_string()
        };
        let cases = [
            (r#""rms_norm_eps":-1"#, "`rms_norm_eps` is -1"),
            (r#""rms_norm_eps":0"#, "`rms_norm_eps` is 0"),
            (r#""rope_theta":0"#, "`rope_theta` is 0"),
            (r#""rope_theta":-10000"#, "`rope_theta` is -10000"),
            (
                r#""max_position_embeddings":0"#,
                "`max_position_embeddings` is 0",
            ),
            (
                r#""architectures":["MistralForCausalLM"],"sliding_window":0"#,
                "`sliding_window` is 0",
            ),
            (
                r#""rope_scaling":{"rope_type":"llama3","factor":-8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192}"#,
                "`factor` is -8",
            ),
            (
                r#""rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":0}"#,
                "`original_max_position_embeddings` is 0",
            ),
            (
                r#""rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":4.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192}"#,
                "`high_freq_factor` is 4",
            ),
            (
                r#""rope_scaling":{"type":"linear","factor":0.0}"#,
                "`factor` is 0",
            ),
        ];
        for (extra, expected) in cases {
            let err = with(extra);
            assert!(err.contains(expected), "{extra}: {err}");
            assert!(err.contains("config.json"), "{extra}: {err}");
        }
    }

    #[test]
    fn parameter_count_of_smollm2_135m() {
        let json = r#"{"architectures":["LlamaForCausalLM"],"hidden_size":576,"intermediate_size":1536,
            "vocab_size":49152,"num_hidden_layers":30,"num_attention_heads":9,"num_key_value_heads":3,
            "tie_word_embeddings":true}"#;
        // SmolLM2-135M has 134,515,008 parameters.
        assert_eq!(parse(json).unwrap().num_parameters(), 134_515_008);
    }
    /// The parameter count of sizes whose product passes 2^64 saturates instead of wrapping to a small number.
    #[test]
    fn parameter_count_saturates() {
        let json = r#"{"architectures":["LlamaForCausalLM"],"hidden_size":16777216,"intermediate_size":16777216,
            "vocab_size":16777216,"num_hidden_layers":10000,"num_attention_heads":4096,"head_dim":4096}"#;
        assert_eq!(parse(json).unwrap().num_parameters(), usize::MAX);
    }
}
