//! Packing B into the tiles `tdpbf16ps` reads: for each 16-column block and each 32-k step, 16 rows (k-pairs) of
//! 16 columns x 2 values. From `(k, n)` row-major values, or from B's columns given as rows (a checkpoint weight's
//! `(out, in)` rows, in memory or in place in its mapped file).

use super::{TILE_K, TILE_ROWS};
use half::bf16;

/// Where packing reads B from.
pub(super) enum Source<'a> {
    /// `(k, n)` row-major.
    KByN(&'a [bf16]),
    /// B's columns, each `k` values: a checkpoint weight's rows, from one tensor or several stacked.
    Rows(&'a [&'a [bf16]]),
}

/// Columns `c0..c0 + cols` of B packed as tiles into `out` (as long as the band; every value written, padding
/// included, so `out` may hold anything before): for each 16-column block, for each 32-k step, 16 rows (k-pairs)
/// of 16 columns x 2 values (`(b[2p][j], b[2p + 1][j])`), zero beyond k and n. Blocks are padded to an even count.
pub(super) fn pack_band(
    b: &Source,
    (k, n): (usize, usize),
    c0: usize,
    cols: usize,
    k32: usize,
    out: &mut [bf16],
) {
    let blocks = cols.div_ceil(32) * 2;
    let steps = k32 / TILE_K;
    let tile = TILE_ROWS * 32;
    for blk in 0..blocks {
        let j0 = blk * 16;
        let width = 16.min(cols.saturating_sub(j0));
        let j = c0 + j0;
        for s in 0..steps {
            let dst = &mut out[(blk * steps + s) * tile..][..tile];
            #[cfg(target_arch = "x86_64")]
            if let Source::Rows(rows) = *b
                && width == 16
                && (s + 1) * TILE_K <= k
            {
                // SAFETY: AVX-512 F is checked with AMX (`detect`); the 16 rows hold k >= (s + 1) * 32 values each,
                // `dst` one tile (512 values).
                unsafe { transpose16(&rows[j..j + 16], s * TILE_K, dst) };
                // The same 64 bytes of the next block's rows are fetched meanwhile: each row is its own short
                // stream (often one 4 KB page), which the hardware prefetchers only pick up late.
                if let Some(next) = rows.get(j + 16..(j + 32).min(c0 + cols)) {
                    for r in next {
                        prefetch(&r[s * TILE_K..]);
                    }
                }
                continue;
            }
            for p in 0..TILE_ROWS {
                let k0 = s * TILE_K + 2 * p;
                let (row, _) = dst[p * 32..].split_at_mut(32);
                let (head, pad) = row.split_at_mut(2 * width);
                pad.fill(bf16::ZERO);
                if k0 >= k || width == 0 {
                    head.fill(bf16::ZERO);
                    continue;
                }
                let odd = k0 + 1 < k;
                match *b {
                    #[cfg(target_arch = "x86_64")]
                    Source::KByN(b) if width == 16 => {
                        let even = &b[k0 * n + j..k0 * n + j + 16];
                        let odd = odd.then(|| &b[(k0 + 1) * n + j..(k0 + 1) * n + j + 16]);
                        // SAFETY: AVX-512 BW is checked with AMX (`detect`); the slices hold 16 values each and
                        // `head` 32.
                        unsafe { interleave16(even, odd, head) };
                    }
                    Source::KByN(b) => {
                        let even = &b[k0 * n + j..k0 * n + j + width];
                        for (pair, &v) in head.chunks_exact_mut(2).zip(even) {
                            pair[0] = v;
                            pair[1] = bf16::ZERO;
                        }
                        if odd {
                            let odd = &b[(k0 + 1) * n + j..(k0 + 1) * n + j + width];
                            for (pair, &v) in head.chunks_exact_mut(2).zip(odd) {
                                pair[1] = v;
                            }
                        }
                    }
                    Source::Rows(rows) => {
                        for (pair, r) in head.chunks_exact_mut(2).zip(&rows[j..j + width]) {
                            pair[0] = r[k0];
                            pair[1] = if odd { r[k0 + 1] } else { bf16::ZERO };
                        }
                    }
                }
            }
        }
    }
}

/// Asks for the cache line at the start of `values` to be brought into the caches.
#[cfg(target_arch = "x86_64")]
fn prefetch(values: &[bf16]) {
    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    // SAFETY: a prefetch reads nothing architecturally; the address lies in `values`.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(values.as_ptr().cast()) };
}

/// One tile from 16 rows: `dst[p][i] = (rows[i][at + 2p], rows[i][at + 2p + 1])` for 16 k-pairs p, i.e. the
/// transpose of a 16 x 16 matrix of 32-bit pairs (the textbook AVX-512 network: 32-bit and 64-bit unpacks within
/// 128-bit lanes, then two rounds of lane shuffles).
///
/// # Safety
/// The CPU must have AVX-512 F; `rows` holds 16 slices of at least `at + 32` values, `dst` at least 512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn transpose16(rows: &[&[bf16]], at: usize, dst: &mut [bf16]) {
    use std::arch::x86_64::*;
    assert!(rows.len() >= 16 && dst.len() >= 512);
    let mut r = [_mm512_setzero_si512(); 16];
    for (v, row) in r.iter_mut().zip(rows) {
        let src = &row[at..at + 32];
        // SAFETY: 64 bytes of `src`, which holds 32 values.
        *v = unsafe { _mm512_loadu_si512(src.as_ptr().cast()) };
    }
    // Rows 2i and 2i + 1 interleaved by 32 bits, then rows 4i..4i + 4 by 64 bits: u[4i + q], lane L holds column
    // 4L + q of rows 4i..4i + 4.
    let mut t = [_mm512_setzero_si512(); 16];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    let mut u = [_mm512_setzero_si512(); 16];
    for i in 0..4 {
        u[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    // Column 4L + q gathers lane L of u[q], u[4 + q], u[8 + q], u[12 + q].
    for q in 0..4 {
        let lo_a = _mm512_shuffle_i32x4::<0x44>(u[q], u[4 + q]);
        let lo_b = _mm512_shuffle_i32x4::<0x44>(u[8 + q], u[12 + q]);
        let hi_a = _mm512_shuffle_i32x4::<0xEE>(u[q], u[4 + q]);
        let hi_b = _mm512_shuffle_i32x4::<0xEE>(u[8 + q], u[12 + q]);
        let cols = [
            _mm512_shuffle_i32x4::<0x88>(lo_a, lo_b),
            _mm512_shuffle_i32x4::<0xDD>(lo_a, lo_b),
            _mm512_shuffle_i32x4::<0x88>(hi_a, hi_b),
            _mm512_shuffle_i32x4::<0xDD>(hi_a, hi_b),
        ];
        for (l, v) in cols.into_iter().enumerate() {
            let out = &mut dst[(4 * l + q) * 32..][..32];
            // SAFETY: 64 bytes into `out`, which holds 32 values.
            unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), v) };
        }
    }
}

/// `row[2i] = even[i]`, `row[2i + 1] = odd[i]` (0 without `odd`) for 16 values: one permutation of the two rows.
///
/// # Safety
/// The CPU must have AVX-512 F and BW; `even` and `odd` hold at least 16 values, `row` at least 32.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn interleave16(even: &[bf16], odd: Option<&[bf16]>, row: &mut [bf16]) {
    use std::arch::x86_64::*;
    const IDX: [u16; 32] = {
        let mut idx = [0u16; 32];
        let mut i = 0;
        while i < 16 {
            idx[2 * i] = i as u16;
            idx[2 * i + 1] = 16 + i as u16;
            i += 1;
        }
        idx
    };
    // SAFETY: the loads read 32 bytes of `even`/`odd` and 64 of IDX, the store writes 64 bytes of `row` (see above).
    unsafe {
        let lo = _mm256_loadu_si256(even.as_ptr().cast());
        let hi = match odd {
            Some(o) => _mm256_loadu_si256(o.as_ptr().cast()),
            None => _mm256_setzero_si256(),
        };
        let v = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
        let idx = _mm512_loadu_si512(IDX.as_ptr().cast());
        _mm512_storeu_si512(row.as_mut_ptr().cast(), _mm512_permutexvar_epi16(idx, v));
    }
}

crate::simd::best_simd! {
    /// `src` rounded to bf16 into `dst` exactly as `half::bf16::from_f32` rounds (to nearest even; NaN stays a
    /// quiet NaN), in a loop the compiler vectorises (the activations entering every bf16 product).
    pub(super) fn round_bf16(src: &[f32], dst: &mut [bf16]) = round_bf16_generic;
}

#[inline(always)]
fn round_bf16_generic(src: &[f32], dst: &mut [bf16]) {
    for (d, &v) in dst.iter_mut().zip(src) {
        *d = bf16::from_bits(rounded_bits(v));
    }
}

/// `v`'s bf16 bits, rounded to nearest even as `half::bf16::from_f32` rounds (NaN stays a quiet NaN).
#[inline(always)]
fn rounded_bits(v: f32) -> u16 {
    let x = v.to_bits();
    let high = (x >> 16) as u16;
    let nan = x & 0x7FFF_FFFF > 0x7F80_0000;
    // Up when the dropped half is above one half, or exactly one half with an odd kept part.
    let up = x & 0x8000 != 0 && x & 0x17FFF != 0;
    if nan {
        high | 0x0040
    } else {
        high.wrapping_add(u16::from(up))
    }
}

/// The f32 value of bf16 bits.
#[inline(always)]
fn widened(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

crate::simd::best_simd! {
    /// Each f32 of `src` as the sum of three bf16 values, `src = hi + mid + lo` (each part the nearest bf16 to
    /// what the parts before it leave; 3 x 8 significant bits hold f32's 24): the input of an exact f32 product
    /// on bf16 tiles, where each part's products are exact in f32. Exact from 2^-110 up; below, parts under
    /// 2^-126 are subnormal (and AMX reads them as 0), an absolute error under 2^-126. Infinite and NaN values, and the
    /// few finite ones above bf16's largest (within half a bf16 step of f32's largest), go whole into `hi` as
    /// their rounding (infinity, NaN), the other parts 0.
    pub(super) fn split_bf16(src: &[f32], hi: &mut [bf16], mid: &mut [bf16], lo: &mut [bf16]) = split_bf16_generic;
}

#[inline(always)]
fn split_bf16_generic(src: &[f32], hi: &mut [bf16], mid: &mut [bf16], lo: &mut [bf16]) {
    let n = src.len().min(hi.len()).min(mid.len()).min(lo.len());
    let (src, hi, mid, lo) = (&src[..n], &mut hi[..n], &mut mid[..n], &mut lo[..n]);
    for i in 0..n {
        let v = src[i];
        let h = rounded_bits(v);
        let finite = h & 0x7F80 != 0x7F80;
        // Exact: v and its nearest bf16 share their leading bits, so the difference is representable.
        let rest = if finite { v - widened(h) } else { 0.0 };
        let m = rounded_bits(rest);
        let l = rounded_bits(rest - widened(m));
        hi[i] = bf16::from_bits(h);
        mid[i] = bf16::from_bits(m);
        lo[i] = bf16::from_bits(l);
    }
}
