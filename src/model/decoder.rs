//! The decoder-only transformer shared by every supported family (Llama, Mistral, Qwen2, Qwen3), written after
//! transformers' `modeling_llama.py` / `modeling_qwen3.py`. Unlike candle-transformers' causal LMs it returns the
//! hidden states of every position, keeps a cloneable KV cache (so a prompt shared by several responses is computed
//! once), and can run on differentiable ops for training.

use super::config::DecoderConfig;
use super::rope::Rope;
use super::weights::TensorSource;
use crate::error::Result;
use candle_core::{D, DType, Device, Tensor};

/// Which implementation of the normalisation, rotary and softmax ops to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kernels {
    /// candle's fused kernels: fastest, no backward pass. For scoring and generation.
    #[default]
    Fused,
    /// Compositions of basic ops that candle can differentiate. For training.
    Differentiable,
}

/// Keys and values of the positions computed so far, per layer. Cloning is cheap (tensors are shared), and a
/// clone extended with one continuation leaves the original untouched.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl KvCache {
    /// Number of positions already in the cache.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been computed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[derive(Debug, Clone)]
struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    fn load(
        src: &dyn TensorSource,
        name: &str,
        out: usize,
        inp: usize,
        bias: bool,
    ) -> Result<Self> {
        let weight = src.tensor(&format!("{name}.weight"), &[out, inp])?;
        let bias = if bias {
            Some(src.tensor(&format!("{name}.bias"), &[out])?)
        } else {
            None
        };
        Ok(Self { weight, bias })
    }

    /// `x @ W^T + b` over the last dimension; leading dimensions are flattened into one matmul.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims();
        let inp = dims[dims.len() - 1];
        let rows = x.elem_count() / inp;
        let y = x.reshape((rows, inp))?.matmul(&self.weight.t()?)?;
        let y = match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        };
        let mut out_dims = dims[..dims.len() - 1].to_vec();
        out_dims.push(self.weight.dim(0)?);
        Ok(y.reshape(out_dims)?)
    }
}

#[derive(Debug, Clone)]
struct RmsNorm {
    weight: Tensor,
    eps: f32,
}

impl RmsNorm {
    fn load(src: &dyn TensorSource, name: &str, size: usize, eps: f64) -> Result<Self> {
        Ok(Self {
            weight: src.tensor(&format!("{name}.weight"), &[size])?,
            eps: eps as f32,
        })
    }

    fn forward(&self, x: &Tensor, kernels: Kernels) -> Result<Tensor> {
        Ok(match kernels {
            Kernels::Fused => candle_nn::ops::rms_norm(&x.contiguous()?, &self.weight, self.eps)?,
            Kernels::Differentiable => candle_nn::ops::rms_norm_slow(x, &self.weight, self.eps)?,
        })
    }
}

#[derive(Debug, Clone)]
struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    q_norm: Option<RmsNorm>,
    k_norm: Option<RmsNorm>,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    sliding_window: Option<usize>,
}

/// Per-forward inputs shared by all layers.
struct Step<'a> {
    cos: &'a Tensor,
    sin: &'a Tensor,
    start: usize,
    kernels: Kernels,
}

impl Attention {
    fn load(src: &dyn TensorSource, p: &str, cfg: &DecoderConfig, layer: usize) -> Result<Self> {
        let (h, hd) = (cfg.hidden_size, cfg.head_dim);
        let (nh, nkv) = (cfg.num_attention_heads, cfg.num_key_value_heads);
        let norm = |name: &str| -> Result<Option<RmsNorm>> {
            if cfg.qk_norm {
                Ok(Some(RmsNorm::load(
                    src,
                    &format!("{p}.{name}"),
                    hd,
                    cfg.rms_norm_eps,
                )?))
            } else {
                Ok(None)
            }
        };
        Ok(Self {
            q: Linear::load(src, &format!("{p}.q_proj"), nh * hd, h, cfg.qkv_bias)?,
            k: Linear::load(src, &format!("{p}.k_proj"), nkv * hd, h, cfg.qkv_bias)?,
            v: Linear::load(src, &format!("{p}.v_proj"), nkv * hd, h, cfg.qkv_bias)?,
            o: Linear::load(src, &format!("{p}.o_proj"), h, nh * hd, cfg.o_bias)?,
            q_norm: norm("q_norm")?,
            k_norm: norm("k_norm")?,
            heads: nh,
            kv_heads: nkv,
            head_dim: hd,
            sliding_window: cfg.sliding_window.get(layer).copied().flatten(),
        })
    }

    fn rope(&self, x: &Tensor, step: &Step) -> Result<Tensor> {
        Ok(match step.kernels {
            Kernels::Fused => candle_nn::rotary_emb::rope(x, step.cos, step.sin)?,
            Kernels::Differentiable => candle_nn::rotary_emb::rope_slow(x, step.cos, step.sin)?,
        })
    }

    fn forward(
        &self,
        x: &Tensor,
        step: &Step,
        cache: &mut Option<(Tensor, Tensor)>,
    ) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let (nh, nkv, hd) = (self.heads, self.kv_heads, self.head_dim);
        let mut q = self.q.forward(x)?.reshape((b, t, nh, hd))?;
        let mut k = self.k.forward(x)?.reshape((b, t, nkv, hd))?;
        let v = self.v.forward(x)?.reshape((b, t, nkv, hd))?;
        if let (Some(qn), Some(kn)) = (&self.q_norm, &self.k_norm) {
            q = qn.forward(&q, step.kernels)?;
            k = kn.forward(&k, step.kernels)?;
        }
        let q = self.rope(&q.transpose(1, 2)?.contiguous()?, step)?;
        let k = self.rope(&k.transpose(1, 2)?.contiguous()?, step)?;
        let v = v.transpose(1, 2)?.contiguous()?;
        let (k, v) = match cache.take() {
            Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
            None => (k, v),
        };
        *cache = Some((k.clone(), v.clone()));
        let total = k.dim(2)?;
        // Grouped-query attention without copying K/V: the `rep` query heads of one KV head are stacked along
        // the sequence axis (head h uses KV head h / rep, as transformers' repeat_kv).
        let rep = nh / nkv;
        let q = q.reshape((b, nkv, rep * t, hd))?;
        let scale = 1.0 / (hd as f64).sqrt();
        let scores = (q.matmul(&k.t()?)? * scale)?;
        let scores = match causal_mask(
            t,
            step.start,
            total,
            self.sliding_window,
            x.dtype(),
            x.device(),
        )? {
            Some(mask) => scores
                .reshape((b, nkv, rep, t, total))?
                .broadcast_add(&mask)?
                .reshape((b, nkv, rep * t, total))?,
            None => scores,
        };
        let probs = match step.kernels {
            Kernels::Fused => candle_nn::ops::softmax_last_dim(&scores)?,
            Kernels::Differentiable => candle_nn::ops::softmax(&scores, D::Minus1)?,
        };
        let y = probs.matmul(&v)?.reshape((b, nh, t, hd))?;
        let y = y.transpose(1, 2)?.reshape((b, t, nh * hd))?;
        self.o.forward(&y)
    }
}

/// The additive mask `(t, total)` letting query `start + i` see keys `j <= start + i` (and, with a sliding window
/// `w`, only `j > start + i - w`); `None` when nothing is masked.
fn causal_mask(
    t: usize,
    start: usize,
    total: usize,
    window: Option<usize>,
    dtype: DType,
    device: &Device,
) -> Result<Option<Tensor>> {
    let windowed = window.is_some_and(|w| total > w);
    if t == 1 && !windowed {
        return Ok(None);
    }
    let mut mask = vec![0f32; t * total];
    for i in 0..t {
        let pos = start + i;
        for j in 0..total {
            let hidden = j > pos || window.is_some_and(|w| j + w <= pos);
            if hidden {
                mask[i * total + j] = f32::NEG_INFINITY;
            }
        }
    }
    Ok(Some(
        Tensor::from_vec(mask, (t, total), device)?.to_dtype(dtype)?,
    ))
}

#[derive(Debug, Clone)]
struct Mlp {
    gate: Linear,
    up: Linear,
    down: Linear,
}

impl Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let gate = candle_nn::ops::silu(&self.gate.forward(x)?)?;
        self.down.forward(&(gate * self.up.forward(x)?)?)
    }
}

#[derive(Debug, Clone)]
struct Layer {
    input_norm: RmsNorm,
    attn: Attention,
    post_norm: RmsNorm,
    mlp: Mlp,
}

/// A loaded decoder: embeddings, layers, final norm and LM head.
#[derive(Debug, Clone)]
pub struct Decoder {
    cfg: DecoderConfig,
    embed: Tensor,
    layers: Vec<Layer>,
    norm: RmsNorm,
    lm_head: Tensor,
    rope: Rope,
    kernels: Kernels,
}

impl Decoder {
    /// Builds the decoder for `cfg` from tensors named as in Hugging Face checkpoints.
    pub fn load(cfg: &DecoderConfig, src: &dyn TensorSource, kernels: Kernels) -> Result<Self> {
        let (h, i, v) = (cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size);
        let embed = src.tensor("model.embed_tokens.weight", &[v, h])?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for l in 0..cfg.num_hidden_layers {
            let p = format!("model.layers.{l}");
            let eps = cfg.rms_norm_eps;
            layers.push(Layer {
                input_norm: RmsNorm::load(src, &format!("{p}.input_layernorm"), h, eps)?,
                attn: Attention::load(src, &format!("{p}.self_attn"), cfg, l)?,
                post_norm: RmsNorm::load(src, &format!("{p}.post_attention_layernorm"), h, eps)?,
                mlp: Mlp {
                    gate: Linear::load(src, &format!("{p}.mlp.gate_proj"), i, h, cfg.mlp_bias)?,
                    up: Linear::load(src, &format!("{p}.mlp.up_proj"), i, h, cfg.mlp_bias)?,
                    down: Linear::load(src, &format!("{p}.mlp.down_proj"), h, i, cfg.mlp_bias)?,
                },
            });
        }
        let norm = RmsNorm::load(src, "model.norm", h, cfg.rms_norm_eps)?;
        let lm_head = if cfg.tie_word_embeddings {
            embed.clone()
        } else {
            src.tensor("lm_head.weight", &[v, h])?
        };
        Ok(Self {
            cfg: cfg.clone(),
            embed,
            layers,
            norm,
            lm_head,
            rope: Rope::new(cfg),
            kernels,
        })
    }

    /// The configuration the decoder was built from.
    pub fn config(&self) -> &DecoderConfig {
        &self.cfg
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        self.embed.device()
    }

    /// The compute dtype.
    pub fn dtype(&self) -> DType {
        self.embed.dtype()
    }

    /// An empty cache for this decoder.
    pub fn new_cache(&self) -> KvCache {
        KvCache {
            layers: vec![None; self.layers.len()],
            len: 0,
        }
    }

    /// Runs `ids` (`(batch, t)` u32) after the positions already in `cache`, appends their keys and values to it,
    /// and returns the final-norm hidden states `(batch, t, hidden)` of every new position.
    pub fn forward_hidden(&self, ids: &Tensor, cache: &mut KvCache) -> Result<Tensor> {
        let (_, t) = ids.dims2()?;
        if cache.layers.len() != self.layers.len() {
            *cache = self.new_cache();
        }
        let mut x = self.embed.index_select(&ids.flatten_all()?, 0)?;
        x = x.reshape((ids.dim(0)?, t, self.cfg.hidden_size))?;
        let (cos, sin) = self.rope.cos_sin(cache.len, t, x.dtype(), x.device())?;
        let step = Step {
            cos: &cos,
            sin: &sin,
            start: cache.len,
            kernels: self.kernels,
        };
        for (layer, kv) in self.layers.iter().zip(cache.layers.iter_mut()) {
            let h = layer
                .attn
                .forward(&layer.input_norm.forward(&x, self.kernels)?, &step, kv)?;
            x = (x + h)?;
            let h = layer
                .mlp
                .forward(&layer.post_norm.forward(&x, self.kernels)?)?;
            x = (x + h)?;
        }
        cache.len += t;
        self.norm.forward(&x, self.kernels)
    }

    /// Logits over the vocabulary for hidden states `(..., hidden)`.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        let dims = hidden.dims();
        let h = dims[dims.len() - 1];
        let rows = hidden.elem_count() / h;
        let logits = hidden.reshape((rows, h))?.matmul(&self.lm_head.t()?)?;
        let mut out = dims[..dims.len() - 1].to_vec();
        out.push(self.cfg.vocab_size);
        Ok(logits.reshape(out)?)
    }
}
