//! Fused CPU kernels for inference in f32: the attention softmax (scale, additive mask and softmax in one pass
//! over the scores, in place) and the gated SiLU (`silu(gate) * up` from the fused gate/up projection in one pass).
//! Each replaces two or three of candle's element-wise operations, their temporary tensors, and the scalar `expf`
//! those call per value, with one vectorised loop ([`crate::simd`]). They have no backward pass: training keeps
//! candle's differentiable operations. The numbers agree with candle's to float rounding (tested below).

use crate::simd::{LANES, best_simd, exp};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor};
#[cfg(test)]
use candle_core::{InplaceOp1, InplaceOp2};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Values per parallel task (about 64 Ki: large enough to amortise the task, small enough to share the work).
const TASK_VALUES: usize = 1 << 16;

/// Whether the fused kernels can compute with `t`: f32 values on the CPU.
pub(super) fn applies(t: &Tensor) -> bool {
    t.dtype() == DType::F32 && t.device().is_cpu()
}

/// Rows of an additive attention mask `(n, cols)`: query row `r` of the scores uses mask row `r % n` (the scores
/// stack heads of `n` query rows each).
#[derive(Clone, Copy)]
pub(super) struct MaskRows<'a> {
    pub(super) values: &'a [f32],
    pub(super) n: usize,
    pub(super) stride: usize,
    /// Per mask row, where its trailing run of `-inf` starts, rounded up to whole lanes (at most the row's length;
    /// the whole row where every key is masked): the keys a causal mask hides from a row's end need no
    /// exponential, only a zero ([`mask_ends`]).
    pub(super) ends: &'a [usize],
}

/// [`MaskRows::ends`] for `n` mask rows of `cols` values `stride` apart: the softmax of a row then stops at its
/// end and writes zeros after it, the very numbers (to the bit) it would compute over the masked keys, since each
/// of those adds exactly 0 to its lane's sum and leaves its lane's maximum alone.
pub(super) fn mask_ends(values: &[f32], n: usize, stride: usize, cols: usize) -> Vec<usize> {
    (0..n)
        .map(|r| {
            let row = &values[r * stride..][..cols];
            match row.iter().rposition(|&v| v != f32::NEG_INFINITY) {
                Some(last) => ((last + 1).div_ceil(LANES) * LANES).min(cols),
                None => cols,
            }
        })
        .collect()
}

/// Replaces each row `x` of `scores` (`(..., cols)`, f32, contiguous) by `softmax(scale * x + mask row)` in place.
/// `mask` is `(n, cols)` and repeats every `n` rows of the scores. The decoder computes attention block by block
/// ([`super::causal_attention`]); this whole-matrix form tests the softmax kernel against candle's operations.
#[cfg(test)]
pub(super) fn attention_softmax(
    scores: &Tensor,
    scale: f32,
    mask: Option<&Tensor>,
) -> candle_core::Result<()> {
    let op = AttentionSoftmax { scale };
    match mask {
        Some(mask) => scores.inplace_op2(mask, &op),
        None => scores.inplace_op1(&op),
    }
}

#[cfg(test)]
struct AttentionSoftmax {
    scale: f32,
}

#[cfg(test)]
impl AttentionSoftmax {
    fn run(
        &self,
        storage: &mut CpuStorage,
        layout: &Layout,
        mask: Option<MaskRows>,
    ) -> candle_core::Result<()> {
        let CpuStorage::F32(values) = storage else {
            candle_core::bail!(
                "attention softmax: f32 scores expected, got {:?}",
                storage.dtype()
            );
        };
        let cols = layout.dims().last().copied().unwrap_or(1).max(1);
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("attention softmax: contiguous scores expected");
        };
        let values = &mut values[start..end];
        if let Some(m) = mask
            && (m.n == 0
                || (values.len() / cols) % m.n != 0
                || (m.n - 1) * m.stride + cols > m.values.len())
        {
            candle_core::bail!("attention softmax: the mask does not fit the scores");
        }
        let rows_per_task = (TASK_VALUES / cols).max(1);
        values
            .par_chunks_mut(rows_per_task * cols)
            .enumerate()
            .for_each(|(task, chunk)| {
                softmax_rows(chunk, cols, task * rows_per_task, self.scale, mask)
            });
        Ok(())
    }
}

#[cfg(test)]
impl InplaceOp1 for AttentionSoftmax {
    fn name(&self) -> &'static str {
        "attention-softmax"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> candle_core::Result<()> {
        self.run(storage, layout, None)
    }
}

#[cfg(test)]
impl InplaceOp2 for AttentionSoftmax {
    fn name(&self) -> &'static str {
        "attention-softmax"
    }

    fn cpu_fwd(
        &self,
        storage: &mut CpuStorage,
        layout: &Layout,
        mask: &CpuStorage,
        mask_layout: &Layout,
    ) -> candle_core::Result<()> {
        let CpuStorage::F32(mask) = mask else {
            candle_core::bail!(
                "attention softmax: f32 mask expected, got {:?}",
                mask.dtype()
            );
        };
        let cols = layout.dims().last().copied().unwrap_or(0);
        let (n, stride) = match (mask_layout.dims(), mask_layout.stride()) {
            (&[n, c], &[s, 1]) if c == cols => (n, s),
            _ => candle_core::bail!(
                "attention softmax: mask {:?} does not match scores {:?}",
                mask_layout.dims(),
                layout.dims()
            ),
        };
        let values = &mask[mask_layout.start_offset()..];
        if n == 0 || (n - 1) * stride + cols > values.len() {
            candle_core::bail!("attention softmax: the mask does not fit the scores");
        }
        let ends = mask_ends(values, n, stride, cols);
        let mask = MaskRows {
            values,
            n,
            stride,
            ends: &ends,
        };
        self.run(storage, layout, Some(mask))
    }
}

best_simd! {
    pub(super) fn softmax_rows(rows: &mut [f32], cols: usize, first: usize, scale: f32, mask: Option<MaskRows<'_>>) =
        softmax_rows_generic;
}

#[inline(always)]
fn softmax_rows_generic(
    rows: &mut [f32],
    cols: usize,
    first: usize,
    scale: f32,
    mask: Option<MaskRows<'_>>,
) {
    for (i, row) in rows.chunks_exact_mut(cols).enumerate() {
        match mask {
            Some(m) => {
                let r = (first + i) % m.n;
                let end = m.ends[r];
                let (row, hidden) = row.split_at_mut(end);
                softmax_row(row, scale, Some(&m.values[r * m.stride..][..end]));
                hidden.fill(0.0);
            }
            None => softmax_row(row, scale, None),
        }
    }
}

/// `softmax(scale * row + mask)` in place: the scaled, masked row and its maximum, then the shifted exponentials
/// and their sum (per lane, then across lanes), then the division.
#[inline(always)]
fn softmax_row(row: &mut [f32], scale: f32, mask: Option<&[f32]>) {
    let whole = row.len() / LANES * LANES;
    let mut lane_max = [f32::NEG_INFINITY; LANES];
    match mask {
        Some(mask) => {
            let (body, tail) = row.split_at_mut(whole);
            let (mbody, mtail) = mask.split_at(whole);
            for (c, m) in body.chunks_exact_mut(LANES).zip(mbody.chunks_exact(LANES)) {
                for l in 0..LANES {
                    let v = c[l] * scale + m[l];
                    c[l] = v;
                    lane_max[l] = lane_max[l].max(v);
                }
            }
            for (v, m) in tail.iter_mut().zip(mtail) {
                *v = *v * scale + m;
                lane_max[0] = lane_max[0].max(*v);
            }
        }
        None => {
            let (body, tail) = row.split_at_mut(whole);
            for c in body.chunks_exact_mut(LANES) {
                for l in 0..LANES {
                    let v = c[l] * scale;
                    c[l] = v;
                    lane_max[l] = lane_max[l].max(v);
                }
            }
            for v in tail.iter_mut() {
                *v *= scale;
                lane_max[0] = lane_max[0].max(*v);
            }
        }
    }
    let max = lane_max.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let mut lane_sum = [0f32; LANES];
    let (body, tail) = row.split_at_mut(whole);
    for c in body.chunks_exact_mut(LANES) {
        for l in 0..LANES {
            let e = exp(c[l] - max);
            c[l] = e;
            lane_sum[l] += e;
        }
    }
    for v in tail.iter_mut() {
        *v = exp(*v - max);
        lane_sum[0] += *v;
    }
    let sum: f32 = lane_sum.iter().sum();
    for v in row.iter_mut() {
        *v /= sum;
    }
}

/// `silu(gate) * up` for `gate_up` `(..., 2 * inter)` (f32, contiguous), whose rows hold the gate's `inter`
/// values and then the up projection's: returns `(..., inter)`.
pub(super) fn silu_mul(gate_up: &Tensor) -> candle_core::Result<Tensor> {
    gate_up.apply_op1_no_bwd(&SiluMul)
}

struct SiluMul;

impl CustomOp1 for SiluMul {
    fn name(&self) -> &'static str {
        "silu-mul"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(values) = storage else {
            candle_core::bail!("silu-mul: f32 values expected, got {:?}", storage.dtype());
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("silu-mul: contiguous values expected");
        };
        let mut dims = layout.dims().to_vec();
        let width = dims.last().copied().unwrap_or(0);
        if width == 0 || width % 2 != 0 {
            candle_core::bail!(
                "silu-mul: gate and up of equal width expected, got {width} values per row"
            );
        }
        let inter = width / 2;
        let src = &values[start..end];
        let rows = src.len() / width;
        let mut out: Vec<f32> = Vec::with_capacity(rows * inter);
        let rows_per_task = (TASK_VALUES / width).max(1);
        out.spare_capacity_mut()[..rows * inter]
            .par_chunks_mut(rows_per_task * inter)
            .zip(src.par_chunks(rows_per_task * width))
            .for_each(|(dst, src)| silu_mul_rows(src, dst, inter));
        // SAFETY: the loop above wrote every one of the `rows * inter` values (each destination chunk is paired
        // with the source rows it is computed from, and `silu_mul_rows` writes each slot of its rows).
        unsafe { out.set_len(rows * inter) };
        if let Some(last) = dims.last_mut() {
            *last = inter;
        }
        Ok((CpuStorage::F32(out), Shape::from(dims)))
    }
}

best_simd! {
    fn silu_mul_rows(src: &[f32], dst: &mut [MaybeUninit<f32>], inter: usize) = silu_mul_rows_generic;
}

#[inline(always)]
fn silu_mul_rows_generic(src: &[f32], dst: &mut [MaybeUninit<f32>], inter: usize) {
    for (s, d) in src.chunks_exact(2 * inter).zip(dst.chunks_exact_mut(inter)) {
        let (gate, up) = s.split_at(inter);
        for ((d, &g), &u) in d.iter_mut().zip(gate).zip(up) {
            // candle's silu: g / (1 + e^-g).
            d.write(g / (1.0 + exp(-g)) * u);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{D, Device};

    fn max_rel_diff(a: &Tensor, b: &Tensor) -> f32 {
        let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs() / x.abs().max(y.abs()).max(1e-30))
            .fold(0f32, f32::max)
    }

    #[test]
    fn attention_softmax_matches_candles_operations() {
        let dev = Device::Cpu;
        // 2 KV heads x 3 query heads each x 5 rows, over 37 keys (not a multiple of the lanes).
        let scores = (Tensor::randn(0f32, 3.0, (1, 2, 15, 37), &dev).unwrap())
            .contiguous()
            .unwrap();
        let mut mask = vec![0f32; 5 * 37];
        for i in 0..5 {
            for j in 0..37 {
                if j > 32 + i || j + 20 <= 32 + i {
                    mask[i * 37 + j] = f32::NEG_INFINITY;
                }
            }
        }
        let mask = Tensor::from_vec(mask, (5, 37), &dev).unwrap();
        let scale = 0.125f32;
        let expected = {
            let s = (&scores * f64::from(scale)).unwrap();
            let s = s
                .reshape((1, 2, 3, 5, 37))
                .unwrap()
                .broadcast_add(&mask)
                .unwrap();
            candle_nn::ops::softmax_last_dim(&s.reshape((1, 2, 15, 37)).unwrap()).unwrap()
        };
        let fused = scores.copy().unwrap();
        attention_softmax(&fused, scale, Some(&mask)).unwrap();
        assert!(
            max_rel_diff(&fused, &expected) < 1e-6,
            "{}",
            max_rel_diff(&fused, &expected)
        );
        // Masked keys get exactly zero.
        let probs = fused.reshape((6, 5, 37)).unwrap().to_vec3::<f32>().unwrap();
        assert!(probs.iter().all(|h| h[0][33..].iter().all(|&p| p == 0.0)));
        // Without a mask, and a mask that is a narrowed view of a wider one.
        let unmasked = scores.copy().unwrap();
        attention_softmax(&unmasked, scale, None).unwrap();
        let expected =
            candle_nn::ops::softmax(&(&scores * f64::from(scale)).unwrap(), D::Minus1).unwrap();
        assert!(max_rel_diff(&unmasked, &expected) < 1e-6);
        let wide = Tensor::cat(&[&mask, &mask], 1).unwrap();
        let view = wide.narrow(1, 0, 37).unwrap();
        let narrowed = scores.copy().unwrap();
        attention_softmax(&narrowed, scale, Some(&view)).unwrap();
        assert_eq!(
            narrowed.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            fused.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
    }

    /// The kernels compiled for this CPU's widest instruction set give the bits of the baseline build.
    #[test]
    fn every_instruction_set_gives_the_same_bits() {
        let cols = 45;
        let values: Vec<f32> = (0..12 * cols)
            .map(|i| ((i * 7919 % 1000) as f32) * 0.013 - 6.0)
            .collect();
        let mask: Vec<f32> = (0..3 * cols)
            .map(|i| if i % 7 == 3 { f32::NEG_INFINITY } else { 0.0 })
            .collect();
        let ends = mask_ends(&mask, 3, cols, cols);
        let rows = MaskRows {
            values: &mask,
            n: 3,
            stride: cols,
            ends: &ends,
        };
        let (mut a, mut b) = (values.clone(), values.clone());
        softmax_rows_generic(&mut a, cols, 1, 0.3, Some(rows));
        softmax_rows(&mut b, cols, 1, 0.3, Some(rows));
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
        let inter = cols / 2;
        let mut a = vec![MaybeUninit::new(0f32); 12 * inter];
        let mut b = vec![MaybeUninit::new(0f32); 12 * inter];
        let src = &values[..12 * 2 * inter];
        silu_mul_rows_generic(src, &mut a, inter);
        silu_mul_rows(src, &mut b, inter);
        // SAFETY: initialised above (and overwritten by the kernels).
        let bits = |v: &[MaybeUninit<f32>]| {
            v.iter()
                .map(|x| unsafe { x.assume_init() }.to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&a), bits(&b));
    }

    /// A causal mask's hidden keys are skipped (no exponential, a zero written): the rows are the bits of the
    /// softmax over every key, for rows that see few keys, many, a whole number of lanes or not, and none.
    #[test]
    fn skipping_hidden_keys_gives_the_same_bits() {
        let cols = 53;
        let n = 8;
        let values: Vec<f32> = (0..2 * n * cols)
            .map(|i| ((i * 7919 % 1000) as f32) * 0.013 - 6.0)
            .collect();
        // Row r sees keys 0..=sees[r]; the last row sees none.
        let sees = [0usize, 3, 15, 16, 17, 40, 52];
        let mut mask = vec![0f32; n * cols];
        for (r, row) in mask.chunks_exact_mut(cols).enumerate() {
            for (j, m) in row.iter_mut().enumerate() {
                if sees.get(r).is_none_or(|&s| j > s) {
                    *m = f32::NEG_INFINITY;
                }
            }
        }
        let ends = mask_ends(&mask, n, cols, cols);
        assert_eq!(ends, [16, 16, 16, 32, 32, 48, 53, 53]);
        let full = vec![cols; n];
        let (mut skipped, mut whole) = (values.clone(), values.clone());
        for (v, ends) in [(&mut skipped, &ends), (&mut whole, &full)] {
            let rows = MaskRows {
                values: &mask,
                n,
                stride: cols,
                ends,
            };
            softmax_rows(v, cols, 0, 0.7, Some(rows));
        }
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&skipped), bits(&whole));
        assert!(skipped[..cols][1..].iter().all(|&p| p == 0.0));
    }

    #[test]
    fn attention_softmax_refuses_a_mask_of_another_shape() {
        let dev = Device::Cpu;
        let scores = Tensor::zeros((1, 1, 4, 8), DType::F32, &dev).unwrap();
        let mask = Tensor::zeros((3, 8), DType::F32, &dev).unwrap();
        assert!(attention_softmax(&scores, 1.0, Some(&mask)).is_err());
        let mask = Tensor::zeros((4, 7), DType::F32, &dev).unwrap();
        assert!(attention_softmax(&scores, 1.0, Some(&mask)).is_err());
    }

    #[test]
    fn silu_mul_matches_candles_operations() {
        let dev = Device::Cpu;
        let gate_up = Tensor::randn(0f32, 4.0, (2, 7, 2 * 45), &dev).unwrap();
        let gate = gate_up.narrow(2, 0, 45).unwrap();
        let up = gate_up.narrow(2, 45, 45).unwrap();
        let expected = (candle_nn::ops::silu(&gate).unwrap() * up).unwrap();
        let fused = silu_mul(&gate_up).unwrap();
        assert_eq!(fused.dims(), &[2, 7, 45]);
        assert!(
            max_rel_diff(&fused, &expected) < 1e-6,
            "{}",
            max_rel_diff(&fused, &expected)
        );
        // Large negative gates give zero, as candle's (e^-g overflows).
        let extreme = Tensor::new(&[[-200f32, 200.0, 3.0, 5.0]], &dev).unwrap();
        let v = silu_mul(&extreme).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(v[0][0], 0.0);
        assert_eq!(v[0][1], 1000.0);
    }
}
