//! Self-attention: grouped-query heads, q/k norms, partial rotary embeddings, sliding windows and soft-capping,
//! over one sequence, packed continuations of a cached prefix, or a prefix and its continuations at once; the
//! per-forward [`Step`] (rotary tables and masks) all layers share.

use super::Kernels;
use super::linear::{Linear, Projections};
use super::norm::Norm;
use crate::error::Result;
use candle_core::{D, DType, Device, Tensor};

/// Self-attention: q/k/v projections (grouped-query when there are fewer key/value heads), optional per-head
/// q/k norms, rotary embeddings on the first `rotary_dim` features of each head, an optional sliding window.
#[derive(Debug, Clone)]
pub(in crate::model) struct Attention {
    pub(in crate::model) qkv: Projections,
    pub(in crate::model) o: Linear,
    pub(in crate::model) q_norm: Option<Norm>,
    pub(in crate::model) k_norm: Option<Norm>,
    pub(in crate::model) heads: usize,
    pub(in crate::model) kv_heads: usize,
    pub(in crate::model) head_dim: usize,
    pub(in crate::model) rotary_dim: usize,
    pub(in crate::model) sliding_window: Option<usize>,
    /// Which of the model's rotary tables this layer uses.
    pub(in crate::model) rope: usize,
    /// Multiplies the attention scores (1 / sqrt(head_dim) unless the family says otherwise).
    pub(in crate::model) scale: f64,
    /// `tanh(score / c) * c` on the scores before the mask (Gemma 2).
    pub(in crate::model) softcap: Option<f64>,
}

/// Most attention scores computed at once per layer (4 Mi f32 values, 16 MB): longer segments attend in blocks of
/// query rows.
pub(super) const SCORE_ELEMENTS: usize = 1 << 22;

/// Per-forward inputs shared by all layers: rotary tables for positions `start..start + max segment length`, the
/// attention masks of each segment (per distinct sliding window), and the kernels to use.
pub(super) struct Step {
    /// cos and sin per rotary table of the model (most have one; Gemma 3 a local and a global one).
    pub(super) tables: Vec<(Tensor, Tensor)>,
    pub(super) kernels: Kernels,
    /// Most attention scores computed at once per layer.
    pub(super) score_elements: usize,
    /// `(window, mask per segment)` for each distinct window of the model's layers.
    pub(super) masks: Vec<(Option<usize>, Vec<Mask>)>,
    pub(super) dtype: DType,
    pub(super) device: Device,
}

/// A segment's attention mask: none, built whole (short segments), or built block of rows by block of rows as the
/// attention needs them (long segments, whose whole mask would be seq x seq).
pub(super) enum Mask {
    None,
    Whole(Tensor),
    ByRows {
        /// Position of the segment's first query.
        start: usize,
        window: Option<usize>,
    },
}

/// Above this many values a segment's mask is built by blocks of rows (16 MB of f32).
pub(super) const WHOLE_MASK_ELEMENTS: usize = 1 << 22;

impl Step {
    pub(super) fn mask(&self, window: Option<usize>, segment: usize) -> Option<&Mask> {
        self.masks
            .iter()
            .find(|(w, _)| *w == window)
            .and_then(|(_, m)| m.get(segment))
    }

    /// The mask of query rows `at..at + n` of `segment` over its first `keys` keys.
    pub(super) fn mask_rows(
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
    pub(super) fn rope(&self, x: &Tensor, step: &Step) -> Result<Tensor> {
        let t = x.dim(2)?;
        let Some((cos, sin)) = step.tables.get(self.rope) else {
            return Ok(x.clone());
        };
        let (cos, sin) = (cos.narrow(0, 0, t)?, sin.narrow(0, 0, t)?);
        let rotate = |x: &Tensor| -> Result<Tensor> {
            Ok(match step.kernels {
                k if k.fused() => candle_nn::rotary_emb::rope(x, &cos, &sin)?,
                _ => candle_nn::rotary_emb::rope_slow(x, &cos, &sin)?,
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
    pub(super) fn project(&self, x: &Tensor, kernels: Kernels) -> Result<(Tensor, Tensor, Tensor)> {
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
    pub(super) fn attend(
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
    pub(super) fn attend_rows(
        &self,
        (q, k, v): (&Tensor, &Tensor, &Tensor),
        mask: Option<&Tensor>,
        kernels: Kernels,
    ) -> Result<Tensor> {
        let (b, _, n, hd) = q.dims4()?;
        let (nh, nkv) = (self.heads, self.kv_heads);
        let total = k.dim(2)?;
        let mask_fits = mask.is_none_or(|m| {
            m.dims() == [n, total] && m.stride()[1] == 1 && crate::model::kernels::applies(m)
        });
        if kernels.fused()
            && self.softcap.is_none()
            && mask_fits
            && [q, k, v].iter().all(|t| crate::model::kernels::applies(t))
        {
            // Scores, mask, softmax and values in one pass per block of query rows, over the visible keys only.
            return crate::model::causal_attention::attention((q, k, v), self.scale as f32, mask);
        }
        // Grouped-query attention without copying K/V: the `rep` query heads of one KV head are stacked along
        // the sequence axis (head h uses KV head h / rep, as transformers' repeat_kv).
        let rep = nh / nkv;
        let q = q.reshape((b, nkv, rep * n, hd))?;
        let scores = q.matmul(&k.t()?)?;
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
            k if k.fused() => candle_nn::ops::softmax_last_dim(&scores)?,
            _ => candle_nn::ops::softmax(&scores, D::Minus1)?,
        };
        Ok(probs.matmul(v)?.reshape((b, nh, n, hd))?)
    }

    /// Attention over `x` continuing `cache`, which is extended with the new keys and values.
    pub(super) fn forward(
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
    /// With `keep`, each segment's keys and values (the prefix's and its own) are pushed onto it, in order.
    pub(super) fn forward_segments(
        &self,
        x: &Tensor,
        lens: &[usize],
        step: &Step,
        prefix: Option<&(Tensor, Tensor)>,
        mut keep: Option<&mut Vec<(Tensor, Tensor)>>,
    ) -> Result<Tensor> {
        let (q, k, v) = self.project(x, step.kernels)?;
        let mut outputs = Vec::with_capacity(lens.len());
        let mut offset = 0;
        for (i, &len) in lens.iter().enumerate() {
            let part = |t: &Tensor| t.narrow(1, offset, len);
            let (y, sk, sv) = self.attend((&part(&q)?, &part(&k)?, &part(&v)?), prefix, step, i)?;
            if let Some(keep) = keep.as_deref_mut() {
                keep.push((sk, sv));
            }
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
    /// quantised, dequantised) once for them all. `steps` are the prefix's and the continuations'. With `keep`,
    /// each continuation's keys and values (the cache's, the prefix's and its own) are pushed onto it, in order.
    pub(super) fn forward_tree(
        &self,
        x: &Tensor,
        (prefix, lens): (usize, &[usize]),
        (prefix_step, step): (&Step, &Step),
        cache: Option<&(Tensor, Tensor)>,
        mut keep: Option<&mut Vec<(Tensor, Tensor)>>,
    ) -> Result<Tensor> {
        let (q, k, v) = self.project(x, step.kernels)?;
        if cache.is_none()
            && keep.is_none()
            && let Some(y) =
                self.tree_in_place((&q, &k, &v), (prefix, lens), (prefix_step, step))?
        {
            return self.o.forward(&y);
        }
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
            let (y, sk, sv) = self.attend((&sq, &sk, &sv), Some(&kv), step, i)?;
            if let Some(keep) = keep.as_deref_mut() {
                keep.push((sk, sv));
            }
            outputs.push(y);
            offset += len;
        }
        self.o.forward(&Tensor::cat(&outputs, 1)?)
    }
}

impl Attention {
    /// [`Self::forward_tree`]'s attention without a cache, read and written in the projections' layout
    /// ([`crate::model::causal_attention::tree_attention`]): `(1, rows, heads * head_dim)`. `None` where that
    /// kernel does not apply (not f32 with the fused kernels, soft-capping, a sliding window, partial rotary
    /// embeddings); the caller then attends segment by segment.
    fn tree_in_place(
        &self,
        (q, k, v): (&Tensor, &Tensor, &Tensor),
        (prefix, lens): (usize, &[usize]),
        (prefix_step, step): (&Step, &Step),
    ) -> Result<Option<Tensor>> {
        let applies = step.kernels.fused()
            && self.softcap.is_none()
            && self.sliding_window.is_none()
            && self.rotary_dim == self.head_dim
            && q.dtype() == DType::F32
            && q.device().is_cpu();
        if !applies {
            return Ok(None);
        }
        let (q, k) = match (
            prefix_step.tables.get(self.rope),
            step.tables.get(self.rope),
        ) {
            (Some((pcos, psin)), Some((cos, sin))) => {
                // Each row's rotation: the prefix's positions, then each continuation's from the prefix's end.
                let rows_of = |p: &Tensor, s: &Tensor| -> Result<Tensor> {
                    let mut parts = vec![p.narrow(0, 0, prefix)?];
                    for &len in lens {
                        parts.push(s.narrow(0, 0, len)?);
                    }
                    Ok(Tensor::cat(&parts, 0)?)
                };
                let (cos, sin) = (rows_of(pcos, cos)?, rows_of(psin, sin)?);
                let rotate = |x: &Tensor| -> Result<Tensor> {
                    Ok(candle_nn::rotary_emb::rope_thd(
                        &x.contiguous()?,
                        &cos,
                        &sin,
                    )?)
                };
                (rotate(q)?, rotate(k)?)
            }
            // No rotary table (learned positions): as projected; `with_values` reads them contiguous.
            _ => (q.clone(), k.clone()),
        };
        let (b, t, _, _) = q.dims4()?;
        let (nh, nkv, hd) = (self.heads, self.kv_heads, self.head_dim);
        let y = crate::tensor_values::with_values(&[&q, &k, v], |qkv: &[&[f32]]| {
            crate::model::causal_attention::tree_attention(
                (qkv[0], qkv[1], qkv[2]),
                (nh, nkv, hd),
                (prefix, lens),
                self.scale as f32,
            )
        })?;
        Ok(Some(Tensor::from_vec(y, (b, t, nh * hd), q.device())?))
    }
}

/// The additive mask `(t, total)` letting query `start + i` see keys `j <= start + i` (and, with a sliding window
/// `w`, only `j > start + i - w`); `None` when nothing is masked (one query that sees every key).
pub(super) fn causal_mask(
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
