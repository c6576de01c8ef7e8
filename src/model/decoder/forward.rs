//! The forward passes: one sequence continuing its cache, packed continuations of a cached prefix, a prefix and
//! its continuations at once, and the logits.

use super::attention::{Mask, Step, WHOLE_MASK_ELEMENTS, causal_mask};
use super::{Decoder, KvCache};
use crate::error::Result;
use candle_core::{DType, Device, Tensor};

impl Decoder {
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
        self.segments(segments, cache, None)
    }

    fn segments(&self, segments: &[&[u32]], cache: &KvCache, mut keep: Kept<'_>) -> Result<Tensor> {
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
            let kept = next_layer(&mut keep);
            x = layer.forward(x, self.kernels, |attn, h| {
                attn.forward_segments(h, &lens, &step, kv.as_ref(), kept)
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
        self.tree(prefix, segments, cache, None)
    }

    /// [`Self::forward_tree`], also returning the cache of each continuation: `cache`, the prefix and the
    /// continuation, as if each had been run alone with [`Self::forward_hidden`]. What an edit of one of them
    /// continues from ([`KvCache::truncate`]).
    pub fn forward_tree_keeping(
        &self,
        prefix: &[u32],
        segments: &[&[u32]],
        cache: &KvCache,
    ) -> Result<(Tensor, Vec<KvCache>)> {
        let mut kept = Vec::with_capacity(self.layers.len());
        let hidden = self.tree(prefix, segments, cache, Some(&mut kept))?;
        let start = cache.len() + prefix.len();
        let longest = start + segments.iter().map(|s| s.len()).max().unwrap_or(0);
        let sequence_len = if prefix.is_empty() {
            cache.sequence_len
        } else {
            cache.sequence_len.max(longest)
        };
        let caches = segments
            .iter()
            .enumerate()
            .map(|(i, s)| KvCache {
                layers: kept.iter().map(|layer| layer.get(i).cloned()).collect(),
                len: start + s.len(),
                sequence_len,
            })
            .collect();
        Ok((hidden, caches))
    }

    fn tree(
        &self,
        prefix: &[u32],
        segments: &[&[u32]],
        cache: &KvCache,
        mut keep: Kept<'_>,
    ) -> Result<Tensor> {
        if prefix.is_empty() {
            return self.segments(segments, cache, keep);
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
            let kept = next_layer(&mut keep);
            x = layer.forward(x, self.kernels, |attn, h| {
                attn.forward_tree(h, (p, &lens), (&prefix_step, &step), kv.as_ref(), kept)
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

/// Each layer's kept keys and values, one list per layer: a new list for the next layer, when keeping.
type Kept<'a> = Option<&'a mut Vec<Vec<(Tensor, Tensor)>>>;

/// The list of the next layer in `keep` (a new one), when keeping.
fn next_layer<'a>(keep: &'a mut Kept<'_>) -> Option<&'a mut Vec<(Tensor, Tensor)>> {
    keep.as_deref_mut().map(|k| {
        k.push(Vec::new());
        let last = k.len() - 1;
        &mut k[last]
    })
}
