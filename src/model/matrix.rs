//! A weight matrix as the decoder holds it: a tensor (in the compute dtype, or narrower as a bf16 file stores it),
//! block-quantised values from a GGUF file, or bf16 values packed into AMX tiles (`--dtype bf16` on CPUs with AMX). Either way the decoder multiplies by it in the compute dtype, a
//! block of rows at a time where it is held in another form.

use super::amx::Tiles;
use super::mapped::MappedRows;
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
    /// A checkpoint's `(out, in)` weight left where it lies in its memory-mapped file (f32, or bf16/f16 widened a
    /// block of rows at a time as it multiplies): the exact f32 path's weights, loaded without a copy.
    InPlace(Arc<MappedRows>),
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
            Matrix::InPlace(r) => r.dims(),
        })
    }

    /// Whether its values are quantised blocks, dequantised as it multiplies (held so, or on AMX tiles).
    pub fn is_quantized(&self) -> bool {
        match self {
            Matrix::Quantized(_) => true,
            Matrix::Tiles(t) => t.is_quantized(),
            Matrix::Dense(_) | Matrix::InPlace(_) => false,
        }
    }

    /// Quantised values on AMX tiles packed whole once (dequantised and rounded to bf16), others as they are: for
    /// decoding, which multiplies by each weight many times over one row.
    pub fn packed_quantized(&self) -> Result<Matrix> {
        if let Matrix::Tiles(t) = self
            && let Some(packed) = t.packed_quantized().map_err(candle_core::Error::Msg)?
        {
            return Ok(Matrix::Tiles(Arc::new(packed)));
        }
        Ok(self.clone())
    }

    /// The dtype its values are held in, where it has one (not quantised blocks).
    pub fn stored_dtype(&self) -> Option<DType> {
        match self {
            Matrix::Dense(t) => Some(t.dtype()),
            Matrix::Quantized(_) => None,
            Matrix::Tiles(_) => Some(DType::BF16),
            Matrix::InPlace(r) => Some(r.dtype()),
        }
    }

    /// Bytes of its values as held.
    pub fn bytes(&self) -> u64 {
        match self {
            Matrix::Dense(t) => (t.elem_count() * t.dtype().size_in_bytes()) as u64,
            Matrix::Quantized(q) => q.bytes(),
            Matrix::Tiles(t) => t.bytes(),
            Matrix::InPlace(r) => r.bytes(),
        }
    }

    /// Whether `other` holds the same values (a tied LM head and its embeddings).
    pub fn same_as(&self, other: &Matrix) -> bool {
        match (self, other) {
            (Matrix::Dense(a), Matrix::Dense(b)) => a.id() == b.id(),
            (Matrix::Quantized(a), Matrix::Quantized(b)) => a.same_as(b),
            (Matrix::Tiles(a), Matrix::Tiles(b)) => Arc::ptr_eq(a, b),
            (Matrix::InPlace(a), Matrix::InPlace(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// The device its values live on (quantised values on the CPU).
    pub fn device(&self) -> Device {
        match self {
            Matrix::Dense(t) => t.device().clone(),
            Matrix::Quantized(_) | Matrix::Tiles(_) | Matrix::InPlace(_) => Device::Cpu,
        }
    }

    /// Rows `start..start + n` as a `(n, cols)` tensor in `dtype`.
    pub fn rows(&self, start: usize, n: usize, dtype: DType) -> Result<Tensor> {
        Ok(match self {
            Matrix::Dense(t) => t.narrow(0, start, n)?.to_dtype(dtype)?,
            Matrix::Quantized(q) => q.dequantize(start, n)?.to_dtype(dtype)?,
            Matrix::Tiles(t) => tile_rows(t, start..start + n)?.to_dtype(dtype)?,
            Matrix::InPlace(r) => mapped_rows(r, start..start + n)?.to_dtype(dtype)?,
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
                let ids = checked_ids(&ids, t.dims().0)?;
                tile_rows(t, ids)?.to_dtype(dtype)?
            }
            Matrix::InPlace(r) => {
                let ids = checked_ids(&ids, r.dims().0)?;
                mapped_rows(r, ids)?.to_dtype(dtype)?
            }
        })
    }
}

/// The token ids of `ids` as rows of a matrix of `rows` rows, refused where one lies outside it.
fn checked_ids(ids: &Tensor, rows: usize) -> Result<impl ExactSizeIterator<Item = usize>> {
    let ids = ids.to_vec1::<u32>()?;
    if let Some(&bad) = ids.iter().find(|&&i| i as usize >= rows) {
        return Err(candle_core::Error::Msg(format!(
            "token id {bad} is outside the vocabulary of {rows}"
        ))
        .into());
    }
    Ok(ids.into_iter().map(|i| i as usize))
}

/// The rows `rows` of a weight left in place, copied into a `(rows, cols)` tensor of the dtype it is stored in.
fn mapped_rows(r: &MappedRows, rows: impl ExactSizeIterator<Item = usize>) -> Result<Tensor> {
    r.readable().map_err(candle_core::Error::Msg)?;
    let (total, cols) = r.dims();
    let n = rows.len();
    let mut bytes = Vec::with_capacity(n * cols * r.dtype().size_in_bytes());
    for j in rows {
        let row = r.row(j).ok_or_else(|| {
            candle_core::Error::Msg(format!("row {j} is outside the matrix of {total} rows"))
        })?;
        bytes.extend_from_slice(row);
    }
    Ok(Tensor::from_raw_buffer(
        &bytes,
        r.dtype(),
        &[n, cols],
        &Device::Cpu,
    )?)
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
