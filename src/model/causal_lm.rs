//! The seam between the model families and what runs them: the scorer (and later generation) see a causal
//! language model only through [`CausalLm`].

use super::config::DecoderConfig;
use super::decoder::{Decoder, KvCache};
use crate::error::Result;
use candle_core::{DType, Device, Tensor};

/// A causal language model that scores every position: a cache of computed positions that can be cloned and
/// continued, forward passes over all positions of a segment, and logits for chosen hidden states.
pub trait CausalLm: std::fmt::Debug + Send + Sync {
    /// The normalised configuration (family, sizes).
    fn config(&self) -> &DecoderConfig;
    /// The device the weights live on.
    fn device(&self) -> &Device;
    /// The compute dtype.
    fn dtype(&self) -> DType;
    /// An empty cache.
    fn new_cache(&self) -> KvCache;
    /// An empty cache for a sequence of `sequence_len` tokens in all (LongRoPE picks its factors by it).
    fn new_cache_for(&self, sequence_len: usize) -> KvCache;
    /// Whether a sequence of `len` tokens runs with LongRoPE's long factors (false without LongRoPE).
    fn rope_is_long(&self, len: usize) -> bool;
    /// Runs `ids` (`(batch, t)`) after the positions in `cache`, extends it, and returns the final hidden states
    /// `(batch, t, hidden)` of every new position.
    fn forward_hidden(&self, ids: &Tensor, cache: &mut KvCache) -> Result<Tensor>;
    /// Runs several continuations of the same cached prefix, each as if alone, and returns their hidden states
    /// `(sum of lengths, hidden)`, segment after segment; `cache` is left unchanged.
    fn forward_segments(&self, segments: &[&[u32]], cache: &KvCache) -> Result<Tensor>;
    /// Runs `prefix` after `cache` and several continuations of it in one pass and returns the hidden states
    /// `(prefix + sum of lengths, hidden)`, the prefix's rows first; the numbers of caching the prefix and then
    /// running the continuations. `cache` is left unchanged.
    fn forward_tree(&self, prefix: &[u32], segments: &[&[u32]], cache: &KvCache) -> Result<Tensor>;
    /// Logits over the vocabulary for hidden states `(..., hidden)`.
    fn logits(&self, hidden: &Tensor) -> Result<Tensor>;
    /// Number of parameters.
    fn num_parameters(&self) -> usize {
        self.config().num_parameters()
    }
}

impl CausalLm for Decoder {
    fn config(&self) -> &DecoderConfig {
        Decoder::config(self)
    }
    fn device(&self) -> &Device {
        Decoder::device(self)
    }
    fn dtype(&self) -> DType {
        Decoder::dtype(self)
    }
    fn new_cache(&self) -> KvCache {
        Decoder::new_cache(self)
    }
    fn new_cache_for(&self, sequence_len: usize) -> KvCache {
        Decoder::new_cache_for(self, sequence_len)
    }
    fn rope_is_long(&self, len: usize) -> bool {
        Decoder::rope_is_long(self, len)
    }
    fn forward_hidden(&self, ids: &Tensor, cache: &mut KvCache) -> Result<Tensor> {
        Decoder::forward_hidden(self, ids, cache)
    }
    fn forward_segments(&self, segments: &[&[u32]], cache: &KvCache) -> Result<Tensor> {
        Decoder::forward_segments(self, segments, cache)
    }
    fn forward_tree(&self, prefix: &[u32], segments: &[&[u32]], cache: &KvCache) -> Result<Tensor> {
        Decoder::forward_tree(self, prefix, segments, cache)
    }
    fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        Decoder::logits(self, hidden)
    }
}
