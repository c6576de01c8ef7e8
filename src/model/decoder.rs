//! The decoder-only transformer every supported family is assembled from: its building blocks (projections,
//! RMSNorm / LayerNorm, attention with grouped-query heads, partial rotary and sliding windows, gated and plain
//! MLPs, sequential or parallel residuals) and the forward passes. Each family's file (`llama.rs`, `gpt_neox.rs`)
//! reads its checkpoint's tensors by their own names into these blocks. Unlike candle-transformers' causal LMs the
//! decoder returns the hidden states of every position, keeps a cloneable KV cache (so a prompt shared by several
//! responses is computed once), and can run on differentiable ops for training.

use super::config::{DecoderConfig, MlpKind, NormKind};
use super::lora::LowRank;
use super::matrix::Matrix;
use super::quantized::QuantMatrix;
use super::rope::Rope;
use super::weights::TensorSource;
use crate::error::{Error, Result};
use candle_core::{D, DType, Device, Tensor};
use std::collections::HashMap;

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
    /// The length of the whole sequence the cache is for, when known (it picks LongRoPE's factors); else the
    /// positions computed so far stand for it.
    sequence_len: usize,
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

    /// The cache of the sequences `rows` of this batch, in that order (a row may repeat): how beam search follows
    /// its beams, and how one prompt's cache becomes a batch of copies.
    pub fn select(&self, rows: &[u32]) -> Result<KvCache> {
        let layers = self
            .layers
            .iter()
            .map(|layer| {
                layer
                    .as_ref()
                    .map(|(k, v)| {
                        let index = Tensor::new(rows, k.device())?;
                        Ok((k.index_select(&index, 0)?, v.index_select(&index, 0)?))
                    })
                    .transpose()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(KvCache {
            layers,
            len: self.len,
            sequence_len: self.sequence_len,
        })
    }
}

/// Above this many values, a weight held narrower than the computation is widened a block of outputs at a time
/// (4 Mi values, 16 MB of f32).
const WIDEN_BLOCK_ELEMENTS: usize = 1 << 22;

/// A projection `x @ W^T + b`. For inference a dense weight is stored transposed and contiguous (`(in, out)`),
/// which gemm multiplies faster; for training it stays the checkpoint's `(out, in)` tensor so gradients reach it.
/// A quantised weight stays `(out, in)` and is dequantised a block of outputs at a time as it multiplies.
#[derive(Debug, Clone)]
pub(super) struct Linear {
    weight: Matrix,
    transposed: bool,
    bias: Option<Tensor>,
    /// The checkpoint names of the weights it multiplies by, with their output sizes, in output order (several
    /// for fused projections; none when built from tensors of unknown name).
    names: Vec<(String, usize)>,
    /// A LoRA update applied unmerged, as PEFT's forward does: `x A^T B^T`, kept as `A^T` `(in, r)` and `B^T`
    /// `(r, out)` with the scales folded into B.
    lora: Option<(Tensor, Tensor)>,
}

impl Linear {
    /// Loads `{name}.weight` of shape `(out, inp)` (and `{name}.bias` when `bias`).
    pub(super) fn load(
        src: &dyn TensorSource,
        name: &str,
        (out, inp): (usize, usize),
        bias: bool,
        kernels: Kernels,
    ) -> Result<Self> {
        let weight = src.matrix(&format!("{name}.weight"), &[out, inp])?;
        let bias = if bias {
            Some(src.tensor(&format!("{name}.bias"), &[out])?)
        } else {
            None
        };
        let mut linear = Self::new(weight, bias, kernels)?;
        linear.names = vec![(format!("{name}.weight"), out)];
        Ok(linear)
    }

    /// A projection from a checkpoint's `(out, in)` weight and optional bias.
    pub(super) fn new(
        weight: impl Into<Matrix>,
        bias: Option<Tensor>,
        kernels: Kernels,
    ) -> Result<Self> {
        let (weight, transposed) = match weight.into() {
            Matrix::Dense(w) if kernels == Kernels::Fused => {
                (Matrix::Dense(w.t()?.contiguous()?), true)
            }
            w => (w, false),
        };
        Ok(Self {
            weight,
            transposed,
            bias,
            names: Vec::new(),
            lora: None,
        })
    }

    /// Attaches the LoRA updates in `factors` of the weights this projection multiplies by (computed in `dtype`);
    /// returns how many it took. For fused projections the parts' updates form one low-rank product: A stacks
    /// the parts' A, and B places each part's B in its own rows and rank columns.
    fn attach(&mut self, factors: &HashMap<String, LowRank>, dtype: DType) -> Result<usize> {
        let found: Vec<Option<&LowRank>> = self.names.iter().map(|(n, _)| factors.get(n)).collect();
        let ranks: Vec<usize> = found
            .iter()
            .map(|f| f.map_or(Ok(0), |f| f.a.dim(0)))
            .collect::<candle_core::Result<_>>()?;
        let rank: usize = ranks.iter().sum();
        if rank == 0 {
            return Ok(0);
        }
        // Each update must have its weight's shape: B (out, r), A (r, in).
        let inp = self.in_features()?;
        for (f, (name, out)) in found.iter().zip(&self.names) {
            let Some(f) = f else { continue };
            let (b_out, b_r) = f.b.dims2()?;
            let (a_r, a_in) = f.a.dims2()?;
            if (b_out, a_in) != (*out, inp) || a_r != b_r {
                return Err(Error::ShapeMismatch {
                    implied_by: "the base model",
                    path: std::path::PathBuf::new(),
                    name: format!("{name} (its LoRA update B A)"),
                    expected: vec![*out, inp],
                    got: vec![b_out, a_in],
                });
            }
        }
        let device = self.weight.device();
        let a = Tensor::cat(&found.iter().flatten().map(|f| &f.a).collect::<Vec<_>>(), 0)?;
        let mut rows = Vec::with_capacity(found.len());
        let mut col = 0;
        for ((f, &r), (_, out)) in found.iter().zip(&ranks).zip(&self.names) {
            let row = match f {
                None => Tensor::zeros((*out, rank), DType::F32, &device)?,
                Some(f) => {
                    let b = (&f.b * f.scale)?;
                    let mut parts = Vec::with_capacity(3);
                    if col > 0 {
                        parts.push(Tensor::zeros((*out, col), DType::F32, &device)?);
                    }
                    parts.push(b);
                    if col + r < rank {
                        parts.push(Tensor::zeros((*out, rank - col - r), DType::F32, &device)?);
                    }
                    Tensor::cat(&parts, 1)?
                }
            };
            rows.push(row);
            col += r;
        }
        let b = Tensor::cat(&rows, 0)?;
        self.lora = Some((
            a.t()?.contiguous()?.to_dtype(dtype)?,
            b.t()?.contiguous()?.to_dtype(dtype)?,
        ));
        Ok(found.iter().flatten().count())
    }

    fn in_features(&self) -> Result<usize> {
        Ok(match &self.weight {
            Matrix::Dense(w) => w.dim(if self.transposed { 0 } else { 1 })?,
            Matrix::Quantized(q) => q.cols(),
        })
    }

    fn out_features(&self) -> Result<usize> {
        Ok(match &self.weight {
            Matrix::Dense(w) => w.dim(if self.transposed { 1 } else { 0 })?,
            Matrix::Quantized(q) => q.rows(),
        })
    }

    /// `x2 @ W^T` for `x2` of `(rows, in)`. A weight held in another form than the computation (bf16 or quantised
    /// in an f32 run) is widened for this product only, a block of outputs at a time when it is large (a
    /// vocabulary matrix), so no full-width copy of a large matrix exists at once.
    fn product(&self, x2: &Tensor) -> Result<Tensor> {
        let dtype = x2.dtype();
        let inp = x2.dim(1)?;
        if let Matrix::Dense(w) = &self.weight
            && (w.dtype() == dtype || w.elem_count() <= WIDEN_BLOCK_ELEMENTS)
        {
            let widened;
            let w = if w.dtype() == dtype {
                w
            } else {
                widened = w.to_dtype(dtype)?;
                &widened
            };
            return Ok(if self.transposed {
                x2.matmul(w)?
            } else {
                x2.matmul(&w.t()?)?
            });
        }
        let out = self.out_features()?;
        let block = if out * inp <= WIDEN_BLOCK_ELEMENTS {
            out
        } else {
            (WIDEN_BLOCK_ELEMENTS / inp).max(1)
        };
        let mut parts = Vec::with_capacity(out.div_ceil(block));
        let mut at = 0;
        while at < out {
            let n = block.min(out - at);
            let w = match &self.weight {
                Matrix::Dense(w) if self.transposed => w.narrow(1, at, n)?.to_dtype(dtype)?,
                m => m.rows(at, n, dtype)?.t()?,
            };
            parts.push(x2.matmul(&w)?);
            at += n;
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Tensor::cat(&parts, 1)?
        })
    }

    /// `x @ W^T + b` over the last dimension; leading dimensions are flattened into one matmul.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims();
        let inp = dims[dims.len() - 1];
        let rows = x.elem_count() / inp;
        let x2 = x.reshape((rows, inp))?;
        let out = self.out_features()?;
        let y = self.product(&x2)?;
        let y = match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        };
        let y = match &self.lora {
            Some((a_t, b_t)) => (y + x2.matmul(a_t)?.matmul(b_t)?)?,
            None => y,
        };
        let mut out_dims = dims[..dims.len() - 1].to_vec();
        out_dims.push(out);
        Ok(y.reshape(out_dims)?)
    }
}

/// Several projections of the same input (q/k/v, or gate/up). For inference they are one matmul over the
/// concatenated weights (wider and fewer gemm calls); for training they stay separate so each tensor gets its
/// gradient.
#[derive(Debug, Clone)]
pub(super) enum Projections {
    Fused { linear: Linear, sizes: Vec<usize> },
    Separate(Vec<Linear>),
}

impl Projections {
    /// Loads `names` (each with its output size), all reading `inp` features.
    pub(super) fn load(
        src: &dyn TensorSource,
        names: &[(String, usize)],
        inp: usize,
        bias: bool,
        kernels: Kernels,
    ) -> Result<Self> {
        let parts = names
            .iter()
            .map(|(name, out)| Linear::load(src, name, (*out, inp), bias, Kernels::Differentiable))
            .collect::<Result<Vec<_>>>()?;
        Self::from_parts(parts, kernels)
    }

    /// Projections from `(out, in)` weights and optional biases, e.g. split from a checkpoint's fused tensor.
    pub(super) fn from_tensors(
        parts: Vec<(Tensor, Option<Tensor>)>,
        kernels: Kernels,
    ) -> Result<Self> {
        let parts = parts
            .into_iter()
            .map(|(w, b)| Linear::new(w, b, Kernels::Differentiable))
            .collect::<Result<Vec<_>>>()?;
        Self::from_parts(parts, kernels)
    }

    fn from_parts(parts: Vec<Linear>, kernels: Kernels) -> Result<Self> {
        if kernels == Kernels::Differentiable {
            return Ok(Projections::Separate(parts));
        }
        let biases: Option<Vec<&Tensor>> = parts.iter().map(|l| l.bias.as_ref()).collect();
        let bias = match biases {
            Some(b) => Some(Tensor::cat(&b, 0)?),
            None => None,
        };
        let sizes = parts
            .iter()
            .map(Linear::out_features)
            .collect::<Result<Vec<_>>>()?;
        // Quantised parts stay quantised, stacked by rows.
        let quantised: Option<Vec<QuantMatrix>> = parts
            .iter()
            .map(|l| match &l.weight {
                Matrix::Quantized(q) => Some(q.clone()),
                Matrix::Dense(_) => None,
            })
            .collect();
        let mut linear = match quantised.as_deref().and_then(QuantMatrix::stack) {
            Some(q) => Linear::new(Matrix::Quantized(q), bias, Kernels::Fused)?,
            None => {
                // Parts held in different dtypes (shards saved apart, a quantised part beside a float one) are
                // joined in f32, which holds each exactly.
                let dtype = match &parts[0].weight {
                    Matrix::Dense(w) => w.dtype(),
                    Matrix::Quantized(_) => DType::F32,
                };
                let same = parts
                    .iter()
                    .all(|l| matches!(&l.weight, Matrix::Dense(w) if w.dtype() == dtype));
                let dtype = if same { dtype } else { DType::F32 };
                let weights = parts
                    .iter()
                    .map(|l| l.weight.dense(dtype))
                    .collect::<Result<Vec<_>>>()?;
                Linear::new(Tensor::cat(&weights, 0)?, bias, Kernels::Fused)?
            }
        };
        // The fused product knows its parts' names only if every part does.
        if parts.iter().all(|l| l.names.len() == 1) {
            linear.names = parts.iter().flat_map(|l| l.names.clone()).collect();
        }
        Ok(Projections::Fused { linear, sizes })
    }

    fn forward(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        match self {
            Projections::Separate(parts) => parts.iter().map(|l| l.forward(x)).collect(),
            Projections::Fused { linear, sizes } => {
                let y = linear.forward(x)?;
                let last = y.rank() - 1;
                let mut at = 0;
                sizes
                    .iter()
                    .map(|&n| {
                        let part = y.narrow(last, at, n)?;
                        at += n;
                        Ok(part)
                    })
                    .collect()
            }
        }
    }
}

/// RMSNorm (weight only) or LayerNorm (weight and bias), as the family uses.
#[derive(Debug, Clone)]
pub(super) struct Norm {
    weight: Tensor,
    bias: Option<Tensor>,
    eps: f32,
}

impl Norm {
    /// Loads `{name}.weight` (and, for LayerNorm, `{name}.bias`) of `size` features.
    pub(super) fn load(
        src: &dyn TensorSource,
        name: &str,
        size: usize,
        kind: NormKind,
        eps: f64,
    ) -> Result<Self> {
        let bias = match kind {
            NormKind::Rms => None,
            NormKind::Layer => Some(src.tensor(&format!("{name}.bias"), &[size])?),
        };
        Ok(Self {
            weight: src.tensor(&format!("{name}.weight"), &[size])?,
            bias,
            eps: eps as f32,
        })
    }

    /// Number of features normalised.
    pub(super) fn size(&self) -> usize {
        self.weight.elem_count()
    }

    /// The same norm scaling by `1 + weight` (Gemma's RMSNorm), folded into the weight.
    pub(super) fn plus_one(self) -> Result<Self> {
        Ok(Self {
            weight: (self.weight + 1.0)?,
            ..self
        })
    }

    fn forward(&self, x: &Tensor, kernels: Kernels) -> Result<Tensor> {
        Ok(match (&self.bias, kernels) {
            (None, Kernels::Fused) => {
                candle_nn::ops::rms_norm(&x.contiguous()?, &self.weight, self.eps)?
            }
            (None, Kernels::Differentiable) => {
                candle_nn::ops::rms_norm_slow(x, &self.weight, self.eps)?
            }
            (Some(b), Kernels::Fused) => {
                candle_nn::ops::layer_norm(&x.contiguous()?, &self.weight, b, self.eps)?
            }
            (Some(b), Kernels::Differentiable) => {
                candle_nn::ops::layer_norm_slow(x, &self.weight, b, self.eps)?
            }
        })
    }
}

/// The attention of layer `l` from the usual tensor names `{prefix}.{q,k,v,o}_proj` (Llama, Gemma, ...), with the
/// given q/k norms; window, RoPE table, scale and soft-capping as `cfg` says (a sliding-window layer of a model with
/// a local RoPE base uses the second table).
pub(super) fn standard_attention(
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
pub(super) fn llama_norms(
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
pub(super) fn gated_mlp(
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
pub(super) fn lm_head(
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

/// Self-attention: q/k/v projections (grouped-query when there are fewer key/value heads), optional per-head
/// q/k norms, rotary embeddings on the first `rotary_dim` features of each head, an optional sliding window.
#[derive(Debug, Clone)]
pub(super) struct Attention {
    pub(super) qkv: Projections,
    pub(super) o: Linear,
    pub(super) q_norm: Option<Norm>,
    pub(super) k_norm: Option<Norm>,
    pub(super) heads: usize,
    pub(super) kv_heads: usize,
    pub(super) head_dim: usize,
    pub(super) rotary_dim: usize,
    pub(super) sliding_window: Option<usize>,
    /// Which of the model's rotary tables this layer uses.
    pub(super) rope: usize,
    /// Multiplies the attention scores (1 / sqrt(head_dim) unless the family says otherwise).
    pub(super) scale: f64,
    /// `tanh(score / c) * c` on the scores before the mask (Gemma 2).
    pub(super) softcap: Option<f64>,
}

/// Most attention scores computed at once per layer (4 Mi f32 values, 16 MB): longer segments attend in blocks of
/// query rows.
const SCORE_ELEMENTS: usize = 1 << 22;

/// Per-forward inputs shared by all layers: rotary tables for positions `start..start + max segment length`, the
/// attention masks of each segment (per distinct sliding window), and the kernels to use.
struct Step {
    /// cos and sin per rotary table of the model (most have one; Gemma 3 a local and a global one).
    tables: Vec<(Tensor, Tensor)>,
    kernels: Kernels,
    /// Most attention scores computed at once per layer.
    score_elements: usize,
    /// `(window, mask per segment)` for each distinct window of the model's layers.
    masks: Vec<(Option<usize>, Vec<Mask>)>,
    dtype: DType,
    device: Device,
}

/// A segment's attention mask: none, built whole (short segments), or built block of rows by block of rows as the
/// attention needs them (long segments, whose whole mask would be seq x seq).
enum Mask {
    None,
    Whole(Tensor),
    ByRows {
        /// Position of the segment's first query.
        start: usize,
        window: Option<usize>,
    },
}

/// Above this many values a segment's mask is built by blocks of rows (16 MB of f32).
const WHOLE_MASK_ELEMENTS: usize = 1 << 22;

impl Step {
    fn mask(&self, window: Option<usize>, segment: usize) -> Option<&Mask> {
        self.masks
            .iter()
            .find(|(w, _)| *w == window)
            .and_then(|(_, m)| m.get(segment))
    }

    /// The mask of query rows `at..at + n` of `segment` over its first `keys` keys.
    fn mask_rows(
        &self,
        window: Option<usize>,
        segment: usize,
        at: usize,
        n: usize,
        keys: usize,
    ) -> Result<Option<Tensor>> {
        Ok(match self.mask(window, segment) {
            None | Some(Mask::None) => None,
            Some(Mask::Whole(m)) => Some(m.narrow(0, at, n)?.narrow(1, 0, keys)?),
            Some(Mask::ByRows { start, window }) => {
                causal_mask(n, start + at, keys, *window, self.dtype, &self.device)?
            }
        })
    }
}

impl Attention {
    /// Rotates the first `rotary_dim` features of each head (all of them unless the family rotates a part, as
    /// GPT-NeoX does); `x` is `(batch, heads, t, head_dim)`.
    fn rope(&self, x: &Tensor, step: &Step) -> Result<Tensor> {
        let t = x.dim(2)?;
        let Some((cos, sin)) = step.tables.get(self.rope) else {
            return Ok(x.clone());
        };
        let (cos, sin) = (cos.narrow(0, 0, t)?, sin.narrow(0, 0, t)?);
        let rotate = |x: &Tensor| -> Result<Tensor> {
            Ok(match step.kernels {
                Kernels::Fused => candle_nn::rotary_emb::rope(x, &cos, &sin)?,
                Kernels::Differentiable => candle_nn::rotary_emb::rope_slow(x, &cos, &sin)?,
            })
        };
        if self.rotary_dim == self.head_dim {
            return rotate(x);
        }
        let rot = rotate(&x.narrow(3, 0, self.rotary_dim)?.contiguous()?)?;
        let pass = x.narrow(3, self.rotary_dim, self.head_dim - self.rotary_dim)?;
        Ok(Tensor::cat(&[&rot, &pass], 3)?)
    }

    /// q, k, v of `x` as `(batch, t, heads, head_dim)`, queries and keys normalised where the family does it.
    fn project(&self, x: &Tensor, kernels: Kernels) -> Result<(Tensor, Tensor, Tensor)> {
        let (b, t, _) = x.dims3()?;
        let (nh, nkv, hd) = (self.heads, self.kv_heads, self.head_dim);
        let [q, k, v]: [Tensor; 3] = self
            .qkv
            .forward(x)?
            .try_into()
            .map_err(|_| candle_core::Error::Msg("q/k/v projection count".into()))?;
        // q/k norms over each head (Qwen 3, Gemma 3) or over the whole projection (OLMo 2), by their size.
        let (q, k) = match (&self.q_norm, &self.k_norm) {
            (Some(qn), Some(kn)) if qn.size() != hd => {
                (qn.forward(&q, kernels)?, kn.forward(&k, kernels)?)
            }
            _ => (q, k),
        };
        let mut q = q.reshape((b, t, nh, hd))?;
        let mut k = k.reshape((b, t, nkv, hd))?;
        let v = v.reshape((b, t, nkv, hd))?;
        if let (Some(qn), Some(kn)) = (&self.q_norm, &self.k_norm)
            && qn.size() == hd
        {
            q = qn.forward(&q, kernels)?;
            k = kn.forward(&k, kernels)?;
        }
        Ok((q, k, v))
    }

    /// Attention of one segment `(batch, t, heads, head_dim)` placed right after `prefix` (cached keys and values
    /// `(batch, kv_heads, n, head_dim)`); returns the output `(batch, t, heads * head_dim)` and the segment's keys
    /// and values appended to the prefix.
    fn attend(
        &self,
        (q, k, v): (&Tensor, &Tensor, &Tensor),
        prefix: Option<&(Tensor, Tensor)>,
        step: &Step,
        segment: usize,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let (b, t, _, _) = q.dims4()?;
        let (nh, hd) = (self.heads, self.head_dim);
        let q = self.rope(&q.transpose(1, 2)?.contiguous()?, step)?;
        let k = self.rope(&k.transpose(1, 2)?.contiguous()?, step)?;
        let v = v.transpose(1, 2)?.contiguous()?;
        let (k, v) = match prefix {
            Some((pk, pv)) => (Tensor::cat(&[pk, &k], 2)?, Tensor::cat(&[pv, &v], 2)?),
            None => (k, v),
        };
        let total = k.dim(2)?;
        // Long segments attend in blocks of query rows, so the scores never hold more than SCORE_ELEMENTS values
        // (seq x seq per head would be 2.3 GB per layer for 8k tokens of a 9-head model); each row's softmax is
        // its own, so the blocks give the same numbers. A block sees only the keys up to its last row (the later
        // ones are masked for all its rows), which also halves the work.
        let rows = (step.score_elements / (nh * total).max(1)).max(1);
        let prefix_len = total - t;
        let y = if rows >= t {
            let mask = step.mask_rows(self.sliding_window, segment, 0, t, total)?;
            self.attend_rows((&q, &k, &v), mask.as_ref(), step.kernels)?
        } else {
            let mut blocks = Vec::with_capacity(t.div_ceil(rows));
            let mut at = 0;
            while at < t {
                let n = rows.min(t - at);
                let keys = prefix_len + at + n;
                let mask = step.mask_rows(self.sliding_window, segment, at, n, keys)?;
                let q = q.narrow(2, at, n)?.contiguous()?;
                let (kb, vb) = (
                    k.narrow(2, 0, keys)?.contiguous()?,
                    v.narrow(2, 0, keys)?.contiguous()?,
                );
                blocks.push(self.attend_rows((&q, &kb, &vb), mask.as_ref(), step.kernels)?);
                at += n;
            }
            Tensor::cat(&blocks, 2)?
        };
        let y = y.transpose(1, 2)?.reshape((b, t, nh * hd))?;
        Ok((y, k, v))
    }

    /// Softmax attention of query rows `q` `(batch, heads, n, head_dim)` over all of `k` and `v`
    /// `(batch, kv_heads, total, head_dim)`, with the additive `mask` `(n, total)`; returns `(batch, heads, n,
    /// head_dim)`.
    fn attend_rows(
        &self,
        (q, k, v): (&Tensor, &Tensor, &Tensor),
        mask: Option<&Tensor>,
        kernels: Kernels,
    ) -> Result<Tensor> {
        let (b, _, n, hd) = q.dims4()?;
        let (nh, nkv) = (self.heads, self.kv_heads);
        let total = k.dim(2)?;
        // Grouped-query attention without copying K/V: the `rep` query heads of one KV head are stacked along
        // the sequence axis (head h uses KV head h / rep, as transformers' repeat_kv).
        let rep = nh / nkv;
        let q = q.reshape((b, nkv, rep * n, hd))?;
        let scores = q.matmul(&k.t()?)?;
        let mask_fits = mask.is_none_or(|m| {
            m.dims() == [n, total] && m.stride()[1] == 1 && super::kernels::applies(m)
        });
        if kernels == Kernels::Fused
            && self.softcap.is_none()
            && mask_fits
            && super::kernels::applies(&scores)
        {
            // Scale, mask and softmax in one pass over the scores, in place.
            super::kernels::attention_softmax(&scores, self.scale as f32, mask)?;
            return Ok(scores.matmul(v)?.reshape((b, nh, n, hd))?);
        }
        let scores = (scores * self.scale)?;
        let scores = match self.softcap {
            Some(c) => ((scores / c)?.tanh()? * c)?,
            None => scores,
        };
        let scores = match mask {
            Some(mask) => scores
                .reshape((b, nkv, rep, n, total))?
                .broadcast_add(mask)?
                .reshape((b, nkv, rep * n, total))?,
            None => scores,
        };
        let probs = match kernels {
            Kernels::Fused => candle_nn::ops::softmax_last_dim(&scores)?,
            Kernels::Differentiable => candle_nn::ops::softmax(&scores, D::Minus1)?,
        };
        Ok(probs.matmul(v)?.reshape((b, nh, n, hd))?)
    }

    /// Attention over `x` continuing `cache`, which is extended with the new keys and values.
    fn forward(
        &self,
        x: &Tensor,
        step: &Step,
        cache: &mut Option<(Tensor, Tensor)>,
    ) -> Result<Tensor> {
        let (q, k, v) = self.project(x, step.kernels)?;
        let (y, k, v) = self.attend((&q, &k, &v), cache.as_ref(), step, 0)?;
        *cache = Some((k, v));
        self.o.forward(&y)
    }

    /// Attention over packed segments `x` (`(1, sum of lens, hidden)`), each continuing the same `prefix`
    /// independently of the others. The projections run once over all segments.
    fn forward_segments(
        &self,
        x: &Tensor,
        lens: &[usize],
        step: &Step,
        prefix: Option<&(Tensor, Tensor)>,
    ) -> Result<Tensor> {
        let (q, k, v) = self.project(x, step.kernels)?;
        let mut outputs = Vec::with_capacity(lens.len());
        let mut offset = 0;
        for (i, &len) in lens.iter().enumerate() {
            let part = |t: &Tensor| t.narrow(1, offset, len);
            let (y, _, _) = self.attend((&part(&q)?, &part(&k)?, &part(&v)?), prefix, step, i)?;
            outputs.push(y);
            offset += len;
        }
        self.o.forward(&Tensor::cat(&outputs, 1)?)
    }
}

impl Attention {
    /// Attention over a prefix followed by continuations of it, packed (`(1, prefix + sum of lens, hidden)`): the
    /// prefix attends to `cache` and itself, each continuation to `cache`, the prefix and itself, exactly as if the
    /// prefix had been cached first. The projections run once over all rows, so each weight is read (and, held
    /// quantised, dequantised) once for them all. `steps` are the prefix's and the continuations'.
    fn forward_tree(
        &self,
        x: &Tensor,
        (prefix, lens): (usize, &[usize]),
        (prefix_step, step): (&Step, &Step),
        cache: Option<&(Tensor, Tensor)>,
    ) -> Result<Tensor> {
        let (q, k, v) = self.project(x, step.kernels)?;
        let rows = |at: usize, n: usize| -> Result<[Tensor; 3]> {
            Ok([
                q.narrow(1, at, n)?,
                k.narrow(1, at, n)?,
                v.narrow(1, at, n)?,
            ])
        };
        let [pq, pk, pv] = rows(0, prefix)?;
        let (y, pk, pv) = self.attend((&pq, &pk, &pv), cache, prefix_step, 0)?;
        let kv = (pk, pv);
        let mut outputs = Vec::with_capacity(lens.len() + 1);
        outputs.push(y);
        let mut offset = prefix;
        for (i, &len) in lens.iter().enumerate() {
            let [sq, sk, sv] = rows(offset, len)?;
            let (y, _, _) = self.attend((&sq, &sk, &sv), Some(&kv), step, i)?;
            outputs.push(y);
            offset += len;
        }
        self.o.forward(&Tensor::cat(&outputs, 1)?)
    }
}

/// The additive mask `(t, total)` letting query `start + i` see keys `j <= start + i` (and, with a sliding window
/// `w`, only `j > start + i - w`); `None` when nothing is masked (one query that sees every key).
fn causal_mask(
    t: usize,
    start: usize,
    total: usize,
    window: Option<usize>,
    dtype: DType,
    device: &Device,
) -> Result<Option<Tensor>> {
    let windowed = window.is_some_and(|w| total > w);
    if t == 1 && !windowed && start + 1 >= total {
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

/// The feed-forward block: gated (`down(act(gate(x)) * up(x))`, Llama) or plain (`down(act(up(x)))`, GPT-NeoX).
#[derive(Debug, Clone)]
pub(super) struct Mlp {
    /// gate and up (gated), or up alone (plain).
    pub(super) up: Projections,
    pub(super) down: Linear,
    pub(super) kind: MlpKind,
}

impl Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        // Inference over a fused gate/up projection in f32: the gated SiLU in one pass over its output.
        if matches!(self.kind, MlpKind::GatedSilu)
            && let Projections::Fused { linear, sizes } = &self.up
            && matches!(sizes.as_slice(), [g, u] if g == u)
        {
            let gate_up = linear.forward(x)?;
            if super::kernels::applies(&gate_up) {
                let hidden = super::kernels::silu_mul(&gate_up.contiguous()?)?;
                return self.down.forward(&hidden);
            }
        }
        let parts = self.up.forward(x)?;
        let hidden = match (self.kind, parts.as_slice()) {
            (MlpKind::GatedSilu, [gate, up]) => (candle_nn::ops::silu(gate)? * up)?,
            (MlpKind::GatedGeluTanh, [gate, up]) => (gate.gelu()? * up)?,
            (MlpKind::Gelu, [up]) => up.gelu_erf()?,
            (MlpKind::GeluTanh, [up]) => up.gelu()?,
            _ => return Err(candle_core::Error::Msg("MLP projection count".into()).into()),
        };
        self.down.forward(&hidden)
    }
}

/// One decoder layer: a norm before attention and one before the MLP (either may be absent, as in OLMo 2), and
/// optionally a norm on each branch's output (Gemma 2 and 3: post-attention and post-feedforward norms). The two
/// residual branches run one after the other (`x + attn`, then `+ mlp`) or in parallel from the same input
/// (GPT-NeoX's `use_parallel_residual`).
#[derive(Debug, Clone)]
pub(super) struct Layer {
    pub(super) input_norm: Option<Norm>,
    pub(super) attn: Attention,
    pub(super) attn_out_norm: Option<Norm>,
    pub(super) post_norm: Option<Norm>,
    pub(super) mlp: Mlp,
    pub(super) mlp_out_norm: Option<Norm>,
    pub(super) parallel: bool,
}

/// `norm(x)`, or `x` without a norm.
fn maybe_norm(norm: Option<&Norm>, x: &Tensor, kernels: Kernels) -> Result<Tensor> {
    match norm {
        Some(n) => n.forward(x, kernels),
        None => Ok(x.clone()),
    }
}

impl Layer {
    /// The layer over `x` given its attention output function.
    fn forward(
        &self,
        x: Tensor,
        kernels: Kernels,
        attend: impl FnOnce(&Attention, &Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        let a = attend(
            &self.attn,
            &maybe_norm(self.input_norm.as_ref(), &x, kernels)?,
        )?;
        let a = maybe_norm(self.attn_out_norm.as_ref(), &a, kernels)?;
        let mlp = |h: &Tensor| -> Result<Tensor> {
            let m = self
                .mlp
                .forward(&maybe_norm(self.post_norm.as_ref(), h, kernels)?)?;
            maybe_norm(self.mlp_out_norm.as_ref(), &m, kernels)
        };
        if self.parallel {
            let m = mlp(&x)?;
            return Ok(((x + a)? + m)?);
        }
        let x = (x + a)?;
        let m = mlp(&x)?;
        Ok((x + m)?)
    }
}

/// A loaded decoder: embeddings, layers, final norm and LM head.
#[derive(Debug, Clone)]
pub struct Decoder {
    cfg: DecoderConfig,
    embed: Matrix,
    layers: Vec<Layer>,
    norm: Norm,
    lm_head: Linear,
    positions: Option<Tensor>,
    ropes: Vec<Rope>,
    kernels: Kernels,
    /// The compute dtype (weight matrices may be held narrower).
    dtype: DType,
    /// Where it computes.
    device: Device,
    /// Most attention scores computed at once per layer ([`SCORE_ELEMENTS`] unless set).
    score_elements: usize,
}

/// The parts a family's loader reads from a checkpoint.
pub(super) struct Parts {
    pub(super) embed: Matrix,
    pub(super) layers: Vec<Layer>,
    pub(super) norm: Norm,
    pub(super) lm_head: Matrix,
    /// Learned position embeddings `(positions, hidden)` added to the token embeddings (GPT-2).
    pub(super) positions: Option<Tensor>,
}

impl Decoder {
    /// Builds the decoder for `cfg` from tensors named as the family's checkpoints name them.
    pub fn load(cfg: &DecoderConfig, src: &dyn TensorSource, kernels: Kernels) -> Result<Self> {
        let parts = (cfg.family.spec().load)(cfg, src, kernels)?;
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
        })
    }

    /// The same decoder attending in blocks of query rows whenever a layer's scores would exceed `elements`
    /// values (at least one row per block). The numbers do not change; tests use small blocks to check that.
    pub fn with_attention_block(mut self, elements: usize) -> Self {
        self.score_elements = elements.max(1);
        self
    }

    /// The configuration the decoder was built from.
    pub fn config(&self) -> &DecoderConfig {
        &self.cfg
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The compute dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// An empty cache for this decoder.
    pub fn new_cache(&self) -> KvCache {
        self.new_cache_for(0)
    }

    /// An empty cache for a sequence of `sequence_len` tokens in all (the positions fed plus any after them):
    /// with LongRoPE, that length picks the factors of every position, as in transformers' one forward pass.
    pub fn new_cache_for(&self, sequence_len: usize) -> KvCache {
        KvCache {
            layers: vec![None; self.layers.len()],
            len: 0,
            sequence_len,
        }
    }

    /// Whether a sequence of `len` tokens runs with LongRoPE's long factors.
    pub fn rope_is_long(&self, len: usize) -> bool {
        self.ropes.iter().any(|r| r.is_long(len))
    }

    /// The rotary tables and masks for segments of `lens` tokens, each starting at position `start`, in a
    /// sequence of at least `sequence_len` tokens.
    fn step(
        &self,
        start: usize,
        lens: &[usize],
        sequence_len: usize,
        dtype: DType,
        device: &Device,
    ) -> Result<Step> {
        let longest = lens.iter().copied().max().unwrap_or(0);
        let sequence_len = sequence_len.max(start + longest);
        let tables = self
            .ropes
            .iter()
            .map(|r| r.cos_sin(start, longest, sequence_len, dtype, device))
            .collect::<Result<Vec<_>>>()?;
        let mut windows: Vec<Option<usize>> = Vec::new();
        for w in self.layers.iter().map(|l| l.attn.sliding_window) {
            if !windows.contains(&w) {
                windows.push(w);
            }
        }
        let masks = windows
            .into_iter()
            .map(|w| {
                let per_segment = lens
                    .iter()
                    .map(|&t| {
                        Ok(if t * (start + t) > WHOLE_MASK_ELEMENTS {
                            Mask::ByRows { start, window: w }
                        } else {
                            match causal_mask(t, start, start + t, w, dtype, device)? {
                                Some(m) => Mask::Whole(m),
                                None => Mask::None,
                            }
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok((w, per_segment))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Step {
            tables,
            kernels: self.kernels,
            score_elements: self.score_elements,
            masks,
            dtype,
            device: device.clone(),
        })
    }

    /// Token embeddings of `ids` (`(batch, t)`), scaled where the family does, plus the learned position
    /// embeddings of segments of `lens` tokens that each start at position `start`.
    fn embed(&self, ids: &Tensor, start: usize, lens: &[usize]) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let x = self.embed.gather(ids, self.dtype)?;
        let x = x.reshape((b, t, self.cfg.hidden_size))?;
        let x = match self.cfg.embed_scale {
            Some(scale) => (x * scale)?,
            None => x,
        };
        let Some(table) = &self.positions else {
            return Ok(x);
        };
        let positions: Vec<u32> = lens
            .iter()
            .flat_map(|&n| (start..start + n).map(|p| p as u32))
            .collect();
        let max = table.dim(0)?;
        if start + lens.iter().copied().max().unwrap_or(0) > max {
            return Err(candle_core::Error::Msg(format!(
                "position {} is beyond the model's {max} learned positions",
                start + lens.iter().copied().max().unwrap_or(0) - 1
            ))
            .into());
        }
        let index = Tensor::from_vec(positions, t, table.device())?;
        let pos = table.index_select(&index, 0)?.unsqueeze(0)?;
        Ok(x.broadcast_add(&pos)?)
    }

    /// Runs `ids` (`(batch, t)` u32) after the positions already in `cache`, appends their keys and values to it,
    /// and returns the final-norm hidden states `(batch, t, hidden)` of every new position.
    pub fn forward_hidden(&self, ids: &Tensor, cache: &mut KvCache) -> Result<Tensor> {
        let (_, t) = ids.dims2()?;
        if cache.layers.len() != self.layers.len() {
            *cache = self.new_cache();
        }
        let mut x = self.embed(ids, cache.len, &[t])?;
        let step = self.step(cache.len, &[t], cache.sequence_len, x.dtype(), x.device())?;
        for (layer, kv) in self.layers.iter().zip(cache.layers.iter_mut()) {
            x = layer.forward(x, self.kernels, |attn, h| attn.forward(h, &step, kv))?;
        }
        cache.len += t;
        self.norm.forward(&x, self.kernels)
    }

    /// The segments' lengths and their ids packed one after the other as a `(1, sum of lengths)` tensor.
    fn packed(&self, segments: &[&[u32]]) -> Result<(Vec<usize>, Tensor)> {
        let lens: Vec<usize> = segments.iter().map(|s| s.len()).collect();
        let ids: Vec<u32> = segments.iter().flat_map(|s| s.iter().copied()).collect();
        let ids = Tensor::from_vec(ids, (1, lens.iter().sum::<usize>()), &self.device)?;
        Ok((lens, ids))
    }

    /// `cache` when it has this decoder's layers, else an empty one stored in `fresh`.
    fn matching<'a>(&self, cache: &'a KvCache, fresh: &'a mut Option<KvCache>) -> &'a KvCache {
        if cache.layers.len() == self.layers.len() {
            cache
        } else {
            fresh.insert(self.new_cache())
        }
    }

    /// Runs several continuations of the same cached prefix at once and returns their final-norm hidden states
    /// `(sum of lengths, hidden)`, segment after segment. Each segment sees the prefix and itself only, exactly as
    /// if run alone; the projections and the MLP run once over all of them, which keeps gemm efficient. `cache`
    /// is left unchanged.
    pub fn forward_segments(&self, segments: &[&[u32]], cache: &KvCache) -> Result<Tensor> {
        let (lens, ids) = self.packed(segments)?;
        let mut x = self.embed(&ids, cache.len, &lens)?;
        let step = self.step(
            cache.len,
            &lens,
            cache.sequence_len,
            x.dtype(),
            &self.device,
        )?;
        let mut fresh = None;
        let cache = self.matching(cache, &mut fresh);
        for (layer, kv) in self.layers.iter().zip(&cache.layers) {
            x = layer.forward(x, self.kernels, |attn, h| {
                attn.forward_segments(h, &lens, &step, kv.as_ref())
            })?;
        }
        Ok(self.norm.forward(&x, self.kernels)?.squeeze(0)?)
    }

    /// Runs `prefix` after `cache` and several continuations of it in one pass, returning the final-norm hidden
    /// states `(prefix + sum of lengths, hidden)`: the prefix's rows, then each segment's. The numbers are those of
    /// [`Self::forward_hidden`] over the prefix followed by [`Self::forward_segments`]; running the prefix and the
    /// continuations through each layer together reads every weight once for both. `cache` is left unchanged.
    pub fn forward_tree(
        &self,
        prefix: &[u32],
        segments: &[&[u32]],
        cache: &KvCache,
    ) -> Result<Tensor> {
        if prefix.is_empty() {
            return self.forward_segments(segments, cache);
        }
        let mut fresh = None;
        let cache = self.matching(cache, &mut fresh);
        let (start, p) = (cache.len, prefix.len());
        let (lens, ids) = self.packed(segments)?;
        let device = self.device.clone();
        let prefix_ids = Tensor::from_slice(prefix, (1, p), &device)?;
        let x = Tensor::cat(
            &[
                self.embed(&prefix_ids, start, &[p])?,
                self.embed(&ids, start + p, &lens)?,
            ],
            1,
        )?;
        // The whole sequence's length picks LongRoPE's factors for the prefix too, as when it is cached first for
        // continuations that long.
        let longest = start + p + lens.iter().copied().max().unwrap_or(0);
        let sequence_len = cache.sequence_len.max(longest);
        let prefix_step = self.step(start, &[p], sequence_len, x.dtype(), &device)?;
        let step = self.step(start + p, &lens, sequence_len, x.dtype(), &device)?;
        let mut x = x;
        for (layer, kv) in self.layers.iter().zip(&cache.layers) {
            x = layer.forward(x, self.kernels, |attn, h| {
                attn.forward_tree(h, (p, &lens), (&prefix_step, &step), kv.as_ref())
            })?;
        }
        Ok(self.norm.forward(&x, self.kernels)?.squeeze(0)?)
    }

    /// Logits over the vocabulary for hidden states `(..., hidden)`.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        let logits = self.lm_head.forward(hidden)?;
        Ok(match self.cfg.final_softcap {
            Some(c) => ((logits / c)?.tanh()? * c)?,
            None => logits,
        })
    }
}

/// Bytes of a tensor's values.
fn tensor_bytes(t: &Tensor) -> u64 {
    (t.elem_count() * t.dtype().size_in_bytes()) as u64
}

impl Linear {
    fn bytes(&self) -> u64 {
        self.weight.bytes()
            + self.bias.as_ref().map_or(0, tensor_bytes)
            + self
                .lora
                .as_ref()
                .map_or(0, |(a, b)| tensor_bytes(a) + tensor_bytes(b))
    }

    /// Bytes of its LoRA update alone.
    fn lora_bytes(&self) -> u64 {
        self.lora
            .as_ref()
            .map_or(0, |(a, b)| tensor_bytes(a) + tensor_bytes(b))
    }
}

impl Projections {
    fn bytes(&self) -> u64 {
        match self {
            Projections::Fused { linear, .. } => linear.bytes(),
            Projections::Separate(parts) => parts.iter().map(Linear::bytes).sum(),
        }
    }
}

impl Norm {
    fn bytes(&self) -> u64 {
        tensor_bytes(&self.weight) + self.bias.as_ref().map_or(0, tensor_bytes)
    }
}

impl Layer {
    fn bytes(&self) -> u64 {
        let norms = [
            &self.input_norm,
            &self.attn_out_norm,
            &self.post_norm,
            &self.mlp_out_norm,
            &self.attn.q_norm,
            &self.attn.k_norm,
        ];
        norms
            .iter()
            .filter_map(|n| n.as_ref())
            .map(Norm::bytes)
            .sum::<u64>()
            + self.attn.qkv.bytes()
            + self.attn.o.bytes()
            + self.mlp.up.bytes()
            + self.mlp.down.bytes()
    }
}

impl Linear {
    /// Whether its weight is held quantised.
    fn is_quantized(&self) -> bool {
        matches!(self.weight, Matrix::Quantized(_))
    }

    /// The projection with a quantised weight dequantised once into `dtype` (stored transposed, as a dense
    /// inference weight is), for work that multiplies by it many times over few tokens (decoding).
    fn densified(&self, dtype: DType) -> Result<Linear> {
        let mut l = self.clone();
        if let Matrix::Quantized(_) = &self.weight {
            l.weight = Matrix::Dense(self.weight.dense(dtype)?.t()?.contiguous()?);
            l.transposed = true;
        }
        Ok(l)
    }
}

impl Projections {
    fn is_quantized(&self) -> bool {
        match self {
            Projections::Fused { linear, .. } => linear.is_quantized(),
            Projections::Separate(parts) => parts.iter().any(Linear::is_quantized),
        }
    }

    fn densified(&self, dtype: DType) -> Result<Projections> {
        Ok(match self {
            Projections::Fused { linear, sizes } => Projections::Fused {
                linear: linear.densified(dtype)?,
                sizes: sizes.clone(),
            },
            Projections::Separate(parts) => Projections::Separate(
                parts
                    .iter()
                    .map(|l| l.densified(dtype))
                    .collect::<Result<_>>()?,
            ),
        })
    }
}

impl Decoder {
    /// Whether some weight is held quantised (a GGUF file's blocks).
    pub fn is_quantized(&self) -> bool {
        matches!(self.embed, Matrix::Quantized(_))
            || self.lm_head.is_quantized()
            || self.layers.iter().any(|l| {
                l.attn.qkv.is_quantized()
                    || l.attn.o.is_quantized()
                    || l.mlp.up.is_quantized()
                    || l.mlp.down.is_quantized()
            })
    }

    /// This decoder with every quantised weight dequantised once, in the compute dtype (the same numbers): what
    /// decoding token by token runs on, since dequantising every projection at every step would cost more than
    /// the step. It holds the weights at their compute size. `None` when nothing is quantised.
    pub fn densified(&self) -> Result<Option<Decoder>> {
        if !self.is_quantized() {
            return Ok(None);
        }
        let dtype = self.dtype;
        let mut d = self.clone();
        let tied = self.lm_head.weight.same_as(&self.embed);
        if let Matrix::Quantized(_) = &self.embed {
            d.embed = Matrix::Dense(self.embed.dense(dtype)?);
        }
        d.lm_head = if tied {
            // The tied head keeps sharing the (now dense) embeddings.
            Linear::new(d.embed.clone(), None, Kernels::Differentiable)?
        } else {
            self.lm_head.densified(dtype)?
        };
        for layer in &mut d.layers {
            layer.attn.qkv = layer.attn.qkv.densified(dtype)?;
            layer.attn.o = layer.attn.o.densified(dtype)?;
            layer.mlp.up = layer.mlp.up.densified(dtype)?;
            layer.mlp.down = layer.mlp.down.densified(dtype)?;
        }
        Ok(Some(d))
    }
}

impl Projections {
    fn attach(&mut self, factors: &HashMap<String, LowRank>, dtype: DType) -> Result<usize> {
        match self {
            Projections::Fused { linear, .. } => linear.attach(factors, dtype),
            Projections::Separate(parts) => {
                let mut n = 0;
                for p in parts {
                    n += p.attach(factors, dtype)?;
                }
                Ok(n)
            }
        }
    }
}

impl Decoder {
    /// This decoder with LoRA updates applied unmerged (PEFT's forward), sharing every base weight with it: a
    /// LoRA policy next to its base as the reference holds the base once. `None` when some update has no
    /// projection of that name here (a fused checkpoint tensor, the LM head), which only a merge applies.
    pub fn with_adapter(&self, factors: &HashMap<String, LowRank>) -> Result<Option<Decoder>> {
        let mut d = self.clone();
        let dtype = d.dtype;
        let mut used = 0;
        for layer in &mut d.layers {
            used += layer.attn.qkv.attach(factors, dtype)?;
            used += layer.attn.o.attach(factors, dtype)?;
            used += layer.mlp.up.attach(factors, dtype)?;
            used += layer.mlp.down.attach(factors, dtype)?;
        }
        Ok((used == factors.len()).then_some(d))
    }

    /// The names of the weights a LoRA update can be attached to ([`Decoder::with_adapter`]): the projections of
    /// every layer, as the checkpoint names them (`model.layers.0.self_attn.q_proj.weight`). Empty names are left
    /// out (a fused checkpoint tensor split at load).
    pub fn adaptable(&self) -> std::collections::BTreeSet<String> {
        let of = |p: &Projections| -> Vec<String> {
            let linears: Vec<&Linear> = match p {
                Projections::Fused { linear, .. } => vec![linear],
                Projections::Separate(parts) => parts.iter().collect(),
            };
            linears
                .into_iter()
                .flat_map(|l| l.names.iter().map(|(n, _)| n.clone()))
                .collect()
        };
        self.layers
            .iter()
            .flat_map(|l| {
                let mut names = of(&l.attn.qkv);
                names.extend(l.attn.o.names.iter().map(|(n, _)| n.clone()));
                names.extend(of(&l.mlp.up));
                names.extend(l.mlp.down.names.iter().map(|(n, _)| n.clone()));
                names
            })
            .collect()
    }

    /// Bytes of the LoRA updates applied unmerged (what a policy sharing its base with the reference adds).
    pub fn adapter_bytes(&self) -> u64 {
        let of = |p: &Projections| match p {
            Projections::Fused { linear, .. } => linear.lora_bytes(),
            Projections::Separate(parts) => parts.iter().map(Linear::lora_bytes).sum(),
        };
        self.layers
            .iter()
            .map(|l| {
                of(&l.attn.qkv) + l.attn.o.lora_bytes() + of(&l.mlp.up) + l.mlp.down.lora_bytes()
            })
            .sum()
    }

    /// Bytes the weights take in memory as held (matrices may be narrower than the compute dtype; a tied LM head
    /// shares the embeddings).
    pub fn weight_bytes(&self) -> u64 {
        let head = if self.lm_head.weight.same_as(&self.embed) {
            0
        } else {
            self.lm_head.bytes()
        };
        self.embed.bytes()
            + self.positions.as_ref().map_or(0, tensor_bytes)
            + self.layers.iter().map(Layer::bytes).sum::<u64>()
            + self.norm.bytes()
            + head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bf16 matrix too large to widen whole (a vocabulary head) gives, block by block, exactly the product with
    /// the whole matrix widened, in both storage layouts.
    #[test]
    fn large_narrow_weights_widen_by_blocks_with_the_same_numbers() {
        let device = Device::Cpu;
        let (out, inp) = (WIDEN_BLOCK_ELEMENTS / 64 + 77, 64);
        let w = Tensor::randn(0f32, 1.0, (out, inp), &device)
            .unwrap()
            .to_dtype(DType::BF16)
            .unwrap();
        let x = Tensor::randn(0f32, 1.0, (3, 5, inp), &device).unwrap();
        let exact = x
            .reshape((15, inp))
            .unwrap()
            .matmul(&w.to_dtype(DType::F32).unwrap().t().unwrap())
            .unwrap()
            .reshape((3, 5, out))
            .unwrap();
        for kernels in [Kernels::Fused, Kernels::Differentiable] {
            let linear = Linear::new(w.clone(), None, kernels).unwrap();
            let y = linear.forward(&x).unwrap();
            assert_eq!(y.dims(), &[3, 5, out]);
            let diff = (y - &exact)
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(diff < 1e-5, "{kernels:?}: {diff}");
        }
    }
}
