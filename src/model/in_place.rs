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
            // SAFETY: `MappedRows::new` checked that the part's bytes are 4-byte aligned; any bits are an f32, and
            // the file was checked unchanged just above.
            let w = unsafe {
                std::slice::from_raw_parts(bytes.as_ptr().cast::<f32>(), bytes.len() / 4)
            };
            let rows = w.len() / k.max(1);
            // Columns first..first + rows of `out` = x (m, k) @ W_part^T, W_part read as its (k, rows) transpose.
            gemm_f32(
                (m, rows, k),
                &mut out[first.min(m * n)..],
                n,
                (x, k, 1),
                (w, 1, k),
                parallelism,
            );
        }
        Ok((CpuStorage::F32(out), (m, n).into()))
    }
}

/// `dst (m, n) = lhs (m, k) @ rhs (k, n)` with gemm, `dst` rows `dst_rs` apart, each operand given as
/// `(values, row stride, column stride)`; bounds are checked before gemm reads or writes.
pub(super) fn gemm_f32(
    shape: (usize, usize, usize),
    dst: &mut [f32],
    dst_rs: usize,
    lhs: (&[f32], usize, usize),
    rhs: (&[f32], usize, usize),
    parallelism: gemm::Parallelism,
) {
    gemm_f32_onto(shape, (dst, dst_rs, false), lhs, rhs, parallelism);
}

/// [`gemm_f32`] adding the product to what `dst` holds when `add` (`dst += lhs @ rhs`).
pub(super) fn gemm_f32_onto(
    (m, n, k): (usize, usize, usize),
    (dst, dst_rs, add): (&mut [f32], usize, bool),
    (lhs, lhs_rs, lhs_cs): (&[f32], usize, usize),
    (rhs, rhs_rs, rhs_cs): (&[f32], usize, usize),
    parallelism: gemm::Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    let last = |rs: usize, cs: usize, rows: usize, cols: usize| (rows - 1) * rs + (cols - 1) * cs;
    assert!(
        k == 0
            || (last(lhs_rs, lhs_cs, m, k) < lhs.len() && last(rhs_rs, rhs_cs, k, n) < rhs.len()),
        "gemm operands out of bounds"
    );
    assert!(
        last(dst_rs, 1, m, n) < dst.len(),
        "gemm output out of bounds"
    );
    // SAFETY: the asserts above keep every element gemm reads or writes inside the slices, and `dst` is borrowed
    // mutably, apart from `lhs` and `rhs`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            add,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            if add { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}
