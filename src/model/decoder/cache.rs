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
        self.map(self.len, |t| {
            let index = Tensor::new(rows, t.device())?;
            Ok(t.index_select(&index, 0)?)
        })
    }

    /// The cache of the first `len` positions only (at most those it has): where an edited sequence that agrees
    /// with this one's first `len` tokens continues from. Shares the tensors' storage.
    pub fn truncate(&self, len: usize) -> Result<KvCache> {
        let len = len.min(self.len);
        if len == 0 {
            return Ok(KvCache {
                layers: vec![None; self.layers.len()],
                len: 0,
                sequence_len: self.sequence_len,
            });
        }
        self.map(len, |t| Ok(t.narrow(2, 0, len)?))
    }

    /// A cache of `len` positions whose keys and values are `f` of these.
    fn map(&self, len: usize, f: impl Fn(&Tensor) -> Result<Tensor>) -> Result<KvCache> {
        let layers = self
            .layers
            .iter()
            .map(|layer| layer.as_ref().map(|(k, v)| Ok((f(k)?, f(v)?))).transpose())
            .collect::<Result<Vec<_>>>()?;
        Ok(KvCache {
            layers,
            len,
            sequence_len: self.sequence_len,
        })
    }
}
