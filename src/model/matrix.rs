//! A weight matrix as the decoder holds it: a tensor (in the compute dtype, or narrower as a bf16 file stores it)
//! or block-quantised values from a GGUF file. Either way the decoder multiplies by it in the compute dtype, a
//! block of rows at a time where it is held in another form.

use super::quantized::QuantMatrix;
use crate::error::Result;
use candle_core::{DType, Device, Tensor};

/// A `(rows, cols)` weight matrix as held.
#[derive(Debug, Clone)]
pub enum Matrix {
    /// Values in a tensor.
    Dense(Tensor),
    /// Block-quantised values, dequantised on use.
    Quantized(QuantMatrix),
}

impl From<Tensor> for Matrix {
    fn from(t: Tensor) -> Self {
        Matrix::Dense(t)
    }
}

impl Matrix {
    /// `(rows, cols)`.
    pub fn dims2(&self) -> Result<(usize, usize)> {
        Ok(match self {
            Matrix::Dense(t) => t.dims2()?,
            Matrix::Quantized(q) => (q.rows(), q.cols()),
        })
    }

    /// Bytes of its values as held.
    pub fn bytes(&self) -> u64 {
        match self {
            Matrix::Dense(t) => (t.elem_count() * t.dtype().size_in_bytes()) as u64,
            Matrix::Quantized(q) => q.bytes(),
        }
    }

    /// Whether `other` holds the same values (a tied LM head and its embeddings).
    pub fn same_as(&self, other: &Matrix) -> bool {
        match (self, other) {
            (Matrix::Dense(a), Matrix::Dense(b)) => a.id() == b.id(),
            (Matrix::Quantized(a), Matrix::Quantized(b)) => a.same_as(b),
            _ => false,
        }
    }

    /// The device its values live on (quantised values on the CPU).
    pub fn device(&self) -> Device {
        match self {
            Matrix::Dense(t) => t.device().clone(),
            Matrix::Quantized(_) => Device::Cpu,
        }
    }

    /// Rows `start..start + n` as a `(n, cols)` tensor in `dtype`.
    pub fn rows(&self, start: usize, n: usize, dtype: DType) -> Result<Tensor> {
        Ok(match self {
            Matrix::Dense(t) => t.narrow(0, start, n)?.to_dtype(dtype)?,
            Matrix::Quantized(q) => q.dequantize(start, n)?.to_dtype(dtype)?,
        })
    }

    /// The whole matrix as a tensor in `dtype`.
    pub fn dense(&self, dtype: DType) -> Result<Tensor> {
        let (rows, _) = self.dims2()?;
        self.rows(0, rows, dtype)
    }

    /// The rows `ids` (a tensor of u32 token ids, any shape) as `(ids, cols)` in `dtype`: an embedding lookup.
    pub fn gather(&self, ids: &Tensor, dtype: DType) -> Result<Tensor> {
        let ids = ids.flatten_all()?;
        Ok(match self {
            Matrix::Dense(t) => t.index_select(&ids, 0)?.to_dtype(dtype)?,
            Matrix::Quantized(q) => q.gather(&ids.to_vec1::<u32>()?)?.to_dtype(dtype)?,
        })
    }
}
