//! A weight matrix as the decoder holds it: a tensor (in the compute dtype, or narrower as a bf16 file stores it),
//! block-quantised values from a GGUF file, or bf16 values packed into AMX tiles (`--dtype bf16` on CPUs with AMX). Either way the decoder multiplies by it in the compute dtype, a
//! block of rows at a time where it is held in another form.

use super::amx::Tiles;
use super::quantized::QuantMatrix;
use crate::error::Result;
use candle_core::{DType, Device, Tensor};
use half::bf16;
use std::sync::Arc;

/// A `(rows, cols)` weight matrix as held.
#[derive(Debug, Clone)]
pub enum Matrix {
    /// Values in a tensor.
    Dense(Tensor),
    /// Block-quantised values, dequantised on use.
    Quantized(QuantMatrix),
    /// A checkpoint's `(out, in)` bf16 weight packed for AMX products ([`Tiles`]); rows read back on use (a tied
    /// head's embeddings).
    Tiles(Arc<Tiles>),
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
            Matrix::Tiles(t) => t.dims(),
        })
    }

    /// Bytes of its values as held.
    pub fn bytes(&self) -> u64 {
        match self {
            Matrix::Dense(t) => (t.elem_count() * t.dtype().size_in_bytes()) as u64,
            Matrix::Quantized(q) => q.bytes(),
            Matrix::Tiles(t) => t.bytes(),
        }
    }

    /// Whether `other` holds the same values (a tied LM head and its embeddings).
    pub fn same_as(&self, other: &Matrix) -> bool {
        match (self, other) {
            (Matrix::Dense(a), Matrix::Dense(b)) => a.id() == b.id(),
            (Matrix::Quantized(a), Matrix::Quantized(b)) => a.same_as(b),
            (Matrix::Tiles(a), Matrix::Tiles(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// The device its values live on (quantised values on the CPU).
    pub fn device(&self) -> Device {
        match self {
            Matrix::Dense(t) => t.device().clone(),
            Matrix::Quantized(_) | Matrix::Tiles(_) => Device::Cpu,
        }
    }

    /// Rows `start..start + n` as a `(n, cols)` tensor in `dtype`.
    pub fn rows(&self, start: usize, n: usize, dtype: DType) -> Result<Tensor> {
        Ok(match self {
            Matrix::Dense(t) => t.narrow(0, start, n)?.to_dtype(dtype)?,
            Matrix::Quantized(q) => q.dequantize(start, n)?.to_dtype(dtype)?,
            Matrix::Tiles(t) => tile_rows(t, start..start + n)?.to_dtype(dtype)?,
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
            Matrix::Tiles(t) => {
                let ids = ids.to_vec1::<u32>()?;
                let (rows, _) = t.dims();
                if let Some(&bad) = ids.iter().find(|&&i| i as usize >= rows) {
                    return Err(candle_core::Error::Msg(format!(
                        "token id {bad} is outside the vocabulary of {rows}"
                    ))
                    .into());
                }
                tile_rows(t, ids.into_iter().map(|i| i as usize))?.to_dtype(dtype)?
            }
        })
    }
}

/// The weight rows `rows` of packed tiles as a bf16 `(rows, in)` tensor.
fn tile_rows(t: &Tiles, rows: impl ExactSizeIterator<Item = usize>) -> Result<Tensor> {
    t.readable().map_err(candle_core::Error::Msg)?;
    let (_, k) = t.dims();
    let n = rows.len();
    let mut values = vec![bf16::ZERO; n * k];
    for (out, j) in values.chunks_exact_mut(k.max(1)).zip(rows) {
        t.column(j, out);
    }
    Ok(Tensor::from_vec(values, (n, k), &Device::Cpu)?)
}
