//! Matrix products with f32 weights left where they lie in a memory-mapped checkpoint ([`MappedRows`]): gemm
//! reads the `(out, in)` rows as the transposed right operand, so the exact f32 path loads a checkpoint without
//! copying (or first touching) its weights. The sums are gemm's, as for a weight copied into memory: the same bits
//! (tested in `model::tests`).

use super::mapped::MappedRows;
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape};

/// `x (m, k) @ W^T` for f32 rows `W (n, k)` left in place, as a candle operation on a contiguous f32 CPU tensor.
pub struct InPlaceProduct<'a>(pub &'a MappedRows);

impl CustomOp1 for InPlaceProduct<'_> {
    fn name(&self) -> &'static str {
        "in-place-f32-product"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(x) = storage else {
            candle_core::bail!("in-place product: an f32 input expected");
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("in-place product: a contiguous input expected");
        };
        let (m, k) = layout.shape().dims2()?;
        let (n, cols) = self.0.dims();
        if k != cols || self.0.dtype() != DType::F32 {
            candle_core::bail!(
                "in-place product: ({m}, {k}) times a {:?} ({n}, {cols}) weight",
                self.0.dtype()
            );
        }
        if let Err(e) = self.0.readable() {
            candle_core::bail!("{e}");
        }
        let x = &x[start..end];
        let mut out = vec![0f32; m * n];
        let threads = candle_core::utils::get_num_threads();
        let parallelism = if threads > 1 {
            gemm::Parallelism::Rayon(threads)
        } else {
            gemm::Parallelism::None
        };
        for (first, bytes) in self.0.parts() {
            let rows = bytes.len() / (4 * k).max(1);
            if rows == 0 || m == 0 || k == 0 {
                continue;
            }
            // SAFETY: `out` holds m rows of n values and this part writes columns first..first + rows of each
            // (dst row stride n); `x` holds m rows of k values; the part's `rows * k` f32 values lie in the mapping,
            // 4-byte aligned (`MappedRows::new`), read as the (k, rows) matrix W_part^T (row stride 1, column
            // stride k). The file was checked unchanged just above.
            unsafe {
                gemm::gemm(
                    m,
                    rows,
                    k,
                    out.as_mut_ptr().add(first),
                    1,
                    n as isize,
                    false,
                    x.as_ptr(),
                    1,
                    k as isize,
                    bytes.as_ptr().cast::<f32>(),
                    k as isize,
                    1,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    parallelism,
                );
            }
        }
        Ok((CpuStorage::F32(out), (m, n).into()))
    }
}
