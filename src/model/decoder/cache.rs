//! The KV cache: keys and values of the positions computed so far, per layer.

use crate::error::Result;
use candle_core::Tensor;

/// Keys and values of the positions computed so far, per layer. Cloning is cheap (tensors are shared), and a
/// clone extended with one continuation leaves the original untouched.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    pub(super) layers: Vec<Option<(Tensor, Tensor)>>,
    pub(super) len: usize,
    /// The length of the whole sequence the cache is for, when known (it picks LongRoPE's factors); else the
    /// positions computed so far stand for it.
    pub(super) sequence_len: usize,
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

    /// The cache of the first `len` positions only (at most those it has): where an edited sequence that agrees
    /// with this one's first `len` tokens continues from. Shares the tensors' storage.
    pub fn truncate(&self, len: usize) -> Result<KvCache> {
        let len = len.min(self.len);
        let layers = self
            .layers
            .iter()
            .map(|layer| {
                layer
                    .as_ref()
                    .filter(|_| len > 0)
                    .map(|(k, v)| Ok((k.narrow(2, 0, len)?, v.narrow(2, 0, len)?)))
                    .transpose()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(KvCache {
            layers,
            len,
            sequence_len: self.sequence_len,
        })
    }
}
