//! bf16 matrix products on Intel's AMX tiles (Sapphire Rapids and later Xeons): `C = A B` with A `(m, k)` and B
//! `(k, n)` in bf16, products exact and sums in f32 (`tdpbf16ps`), the way PyTorch's oneDNN multiplies bf16 on
//! these CPUs. Used for `--dtype bf16` only, whose matrix products take bf16 inputs by definition
//! ([`super::Decoder::with_bf16_products`]): the numbers are those of any bf16 product with f32 sums (the order
//! of the sums differs from other kernels, as between any two BLAS).
//!
//! AMX has no stable Rust intrinsics; the few tile instructions are written with `asm!`. The CPU must list
//! AMX-TILE and AMX-BF16 (CPUID leaf 7) and Linux must grant the process the tile state
//! (`arch_prctl(ARCH_REQ_XCOMP_PERM)`); [`available`] checks both once. `CREDITLENS_AMX=off` turns it off (to
//! compare).
//!
//! The work: a weight is packed once, when the model loads, into tiles of 16 k-pairs x 16 columns (the
//! pair-interleaved layout `tdpbf16ps` reads), in bands of columns that stay in a core's L2 ([`Tiles`]). A product
//! rounds A into a buffer padded to 32 rows and columns; each parallel task takes a band and walks A's rows 32 at a
//! time, keeping a 32 x 32 block of C in four tile registers over the whole k.

use half::bf16;
use rayon::prelude::*;
use std::sync::OnceLock;

/// Rows of a tile, and the k-pairs of a B tile.
const TILE_ROWS: usize = 16;
/// bf16 values along k in one A tile row (64 bytes).
const TILE_K: usize = 32;
/// Bytes a task's packed band of B may take (it stays in the core's L2 while A streams past).
const BAND_BYTES: usize = 1 << 20;
/// Bytes of tiled A multiplied by a whole band of B before the next rows: with the band, it stays in a core's L2.
const A_BLOCK_BYTES: usize = 1 << 19;

/// Whether this process can multiply on AMX tiles (decided once).
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        if std::env::var("CREDITLENS_AMX").is_ok_and(|v| v == "off" || v == "0") {
            return false;
        }
        detect()
    })
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn detect() -> bool {
    // CPUID.(EAX=7, ECX=0):EDX bit 22 AMX-BF16, bit 24 AMX-TILE.
    let leaf = std::arch::x86_64::__cpuid_count(7, 0);
    if leaf.edx & (1 << 22) == 0 || leaf.edx & (1 << 24) == 0 {
        return false;
    }
    // Packing B uses AVX-512 BW (every CPU with AMX has it; checked all the same).
    if !std::arch::is_x86_feature_detected!("avx512bw") {
        return false;
    }
    // arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA): Linux hands out the 8 KB tile state on request.
    const SYS_ARCH_PRCTL: i64 = 158;
    const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
    const XFEATURE_XTILEDATA: i64 = 18;
    let ret: i64;
    // SAFETY: the syscall only changes this process's permission to use the tile state; it reads no memory.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") SYS_ARCH_PRCTL => ret,
            in("rdi") ARCH_REQ_XCOMP_PERM,
            in("rsi") XFEATURE_XTILEDATA,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret == 0
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn detect() -> bool {
    false
}

/// How B is laid out in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `(k, n)` row-major: a linear layer's weight stored transposed, `(in, out)`.
    KByN,
    /// `(n, k)` row-major: a weight as checkpoints store it, `(out, in)`.
    NByK,
}

/// Where packing reads B from.
enum Source<'a> {
    /// `(k, n)` row-major.
    KByN(&'a [bf16]),
    /// B's columns, each `k` values: a checkpoint weight's rows, from one tensor or several stacked.
    Rows(&'a [&'a [bf16]]),
}

/// A matrix B `(k, n)` packed once into the tiles `tdpbf16ps` reads: a weight that multiplies many inputs is
/// packed when the model loads (`--dtype bf16`), not on every product. It takes the weight's own size (k and n
/// rounded up to 32). Bands of B's columns sized to stay in a core's L2 lie one after another; within a band, for
/// each 16-column block and each 32-k step, 16 rows (k-pairs) of 16 columns x 2 values.
#[derive(Debug)]
pub struct Tiles {
    k: usize,
    n: usize,
    k32: usize,
    /// Columns per band (a multiple of 32).
    band: usize,
    /// Values of one full band.
    band_len: usize,
    data: Vec<bf16>,
}

impl Tiles {
    /// Packs `b`, bf16 values of B as `layout` says: `(k, n)` row-major, or `(n, k)` (a checkpoint's `(out, in)`).
    /// Only call when [`available`] (the packing uses AVX-512).
    pub fn pack(b: &[bf16], (k, n): (usize, usize), layout: Layout) -> Tiles {
        match layout {
            Layout::KByN => Self::pack_from(&Source::KByN(b), (k, n)),
            Layout::NByK => Self::pack_rows(&[b], k),
        }
    }

    /// Packs B from checkpoint weights `(n_i, k)` (row-major, `(out, in)`) stacked by outputs, as fused
    /// projections (q/k/v, gate/up) multiply: no stacked copy is made. Only call when [`available`].
    pub fn pack_rows(parts: &[&[bf16]], k: usize) -> Tiles {
        let rows: Vec<&[bf16]> = parts
            .iter()
            .flat_map(|p| p.chunks_exact(k.max(1)))
            .collect();
        let n = rows.len();
        Self::pack_from(&Source::Rows(&rows), (k, n))
    }

    fn pack_from(b: &Source, (k, n): (usize, usize)) -> Tiles {
        let k32 = k.div_ceil(TILE_K) * TILE_K;
        let band = ((BAND_BYTES / (k32.max(TILE_K) * 2)) / 32 * 32).clamp(32, 256);
        let steps = k32 / TILE_K;
        let band_len = band / 16 * steps * TILE_ROWS * 32;
        let bands = n.div_ceil(band);
        let last = n - bands.saturating_sub(1) * band;
        let total = match bands {
            0 => 0,
            _ => (bands - 1) * band_len + last.div_ceil(32) * 2 * steps * TILE_ROWS * 32,
        };
        let mut data = vec![bf16::ZERO; total];
        data.par_chunks_mut(band_len)
            .enumerate()
            .for_each(|(bi, out)| {
                let c0 = bi * band;
                pack_band(b, (k, n), c0, band.min(n - c0), k32, out);
            });
        Tiles {
            k,
            n,
            k32,
            band,
            band_len,
            data,
        }
    }

    /// `(n, k)`: B's columns (a weight's outputs) and its rows (the weight's inputs).
    pub fn dims(&self) -> (usize, usize) {
        (self.n, self.k)
    }

    /// Bytes it holds.
    pub fn bytes(&self) -> u64 {
        (self.data.len() * 2) as u64
    }

    /// B's column `j` (a checkpoint weight's row `j`: for a tied head, token `j`'s embedding) into `out` (k values).
    pub fn column(&self, j: usize, out: &mut [bf16]) {
        let steps = self.k32 / TILE_K;
        let (bi, cj) = (j / self.band, j % self.band);
        let block = bi * self.band_len + (cj / 16 * steps) * TILE_ROWS * 32 + (cj % 16) * 2;
        for (kk, v) in out.iter_mut().enumerate().take(self.k) {
            let s = kk / TILE_K;
            *v = self.data[block + s * TILE_ROWS * 32 + (kk % TILE_K) / 2 * 32 + kk % 2];
        }
    }

    /// `a (m, k) @ B` as f32 `(m, n)`: `a` (f32) rounded to bf16 (to nearest even, as a cast does), the products
    /// summed in f32 on AMX tiles. Only call when [`available`].
    pub fn matmul(&self, a: &[f32], m: usize) -> Vec<f32> {
        let (k, n, k32) = (self.k, self.n, self.k32);
        let m32 = m.div_ceil(2 * TILE_ROWS) * 2 * TILE_ROWS;
        // A rounded to bf16 and laid out tile by tile (16 rows x 32 k, 1 KB contiguous, for every 16 rows and every
        // 32-k step): a tile is read at a 64-byte stride, so its rows never collide in one cache set as rows
        // k32 * 2 bytes apart would. Padding rows and columns are zero.
        let steps = k32 / TILE_K;
        let group = steps * TILE_ROWS * TILE_K;
        let mut ap: Vec<bf16> = Vec::with_capacity(m32 * k32);
        ap.spare_capacity_mut()[..m32 * k32]
            .par_chunks_mut(group)
            .enumerate()
            .for_each(|(g, dst)| {
                for i in 0..TILE_ROWS {
                    let r = g * TILE_ROWS + i;
                    let row = if r < m { &a[r * k..(r + 1) * k] } else { &[] };
                    for s in 0..steps {
                        let tile_row = &mut dst[(s * TILE_ROWS + i) * TILE_K..][..TILE_K];
                        let lo = (s * TILE_K).min(row.len());
                        let src = &row[lo..(lo + TILE_K).min(row.len())];
                        let (head, pad) = tile_row.split_at_mut(src.len());
                        for (d, &v) in head.iter_mut().zip(src) {
                            d.write(bf16::from_f32(v));
                        }
                        for d in pad {
                            d.write(bf16::ZERO);
                        }
                    }
                }
            });
        // SAFETY: every one of the m32 * k32 values was written just above.
        unsafe { ap.set_len(m32 * k32) };
        let mut out: Vec<f32> = Vec::with_capacity(m * n);
        let out_ptr = SendPtr(out.as_mut_ptr());
        let bands = n.div_ceil(self.band);
        (0..bands).into_par_iter().for_each(|bi| {
            let c0 = bi * self.band;
            let cols = self.band.min(n - c0);
            let len = cols.div_ceil(32) * 2 * steps * TILE_ROWS * 32;
            let packed = &self.data[bi * self.band_len..bi * self.band_len + len];
            // SAFETY: each band writes only its own columns `c0..c0 + cols` of the m rows of `out` (capacity
            // m * n); the bands are disjoint and `out` outlives the parallel loop.
            unsafe {
                band_product(
                    &ap,
                    (m, m32, k32),
                    packed,
                    cols.div_ceil(32),
                    (out_ptr.get(), n, c0, cols),
                )
            };
        });
        // SAFETY: the bands cover columns 0..n of every row 0..m, each value written once above.
        unsafe { out.set_len(m * n) };
        out
    }
}

#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: used only to write disjoint columns from parallel tasks (see `matmul`).
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// The pointer (a method, so that closures capture the whole `SendPtr`, which is `Send`).
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// Columns `c0..c0 + cols` of B packed as tiles into `out` (zeroed, as long as the band): for each 16-column
/// block, for each 32-k step, 16 rows (k-pairs) of 16 columns x 2 values (`(b[2p][j], b[2p + 1][j])`), zero beyond
/// k and n. Blocks are padded to an even count.
fn pack_band(
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
        if width == 0 {
            continue;
        }
        for s in 0..steps {
            let base = (blk * steps + s) * tile;
            for p in 0..TILE_ROWS {
                let k0 = s * TILE_K + 2 * p;
                if k0 >= k {
                    break;
                }
                let row = &mut out[base + p * 32..base + p * 32 + 2 * width];
                let j = c0 + j0;
                match *b {
                    #[cfg(target_arch = "x86_64")]
                    Source::KByN(b) if width == 16 => {
                        let even = &b[k0 * n + j..k0 * n + j + 16];
                        let odd = (k0 + 1 < k).then(|| &b[(k0 + 1) * n + j..(k0 + 1) * n + j + 16]);
                        // SAFETY: AVX-512 BW is checked with AMX (`detect`); the slices hold 16 values each and
                        // `row` 32.
                        unsafe { interleave16(even, odd, row) };
                    }
                    Source::KByN(b) => {
                        let even = &b[k0 * n + j..k0 * n + j + width];
                        for (pair, &v) in row.chunks_exact_mut(2).zip(even) {
                            pair[0] = v;
                        }
                        if k0 + 1 < k {
                            let odd = &b[(k0 + 1) * n + j..(k0 + 1) * n + j + width];
                            for (pair, &v) in row.chunks_exact_mut(2).zip(odd) {
                                pair[1] = v;
                            }
                        }
                    }
                    Source::Rows(rows) => {
                        for (pair, r) in row.chunks_exact_mut(2).zip(&rows[j..j + width]) {
                            pair[0] = r[k0];
                            if k0 + 1 < k {
                                pair[1] = r[k0 + 1];
                            }
                        }
                    }
                }
            }
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

/// The 64-byte tile configuration: palette 1, eight tiles of 16 rows x 64 bytes.
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

impl TileConfig {
    fn new() -> Self {
        let mut c = [0u8; 64];
        c[0] = 1;
        for t in 0..8 {
            c[16 + 2 * t] = 64;
            c[48 + t] = TILE_ROWS as u8;
        }
        Self(c)
    }
}

/// C's columns of one band: `pairs` pairs of 16-column blocks of packed B, over every 32 rows of the tiled A.
///
/// Blocked for the caches: A is taken [`A_BLOCK_BYTES`] at a time (it stays in L2 beside the band of B while every
/// pair of B's blocks passes over it); each 32 x 32 block of C stays in four tile registers over the whole k, and
/// goes straight to C where it lies wholly inside it (else through a small buffer).
///
/// # Safety
/// AMX must be [`available`]; `ap` is A tiled as [`Tiles::matmul`] lays it out, `(m32, k32)` values, `packed` as
/// [`pack_band`] made it for `pairs * 2` blocks, and `out` points at an `(m, n)` f32 matrix whose columns
/// `c0..c0 + cols` no other thread writes.
#[cfg(target_arch = "x86_64")]
unsafe fn band_product(
    ap: &[bf16],
    (m, m32, k32): (usize, usize, usize),
    packed: &[bf16],
    pairs: usize,
    (out, n, c0, cols): (*mut f32, usize, usize, usize),
) {
    use std::arch::asm;
    let steps = k32 / TILE_K;
    let tile = TILE_ROWS * 32;
    let cfg = TileConfig::new();
    let block_rows = (A_BLOCK_BYTES / (k32 * 2) / 32 * 32).max(32);
    let mut c = [0f32; 4 * TILE_ROWS * 16];
    // SAFETY (all asm below): the tile loads read one 1 KB tile (16 rows of 64 bytes, stride 64) inside `ap`
    // (rows `r0..r0 + 32` of m32, one 32-k step) and inside `packed`; the stores write 16 rows of 64 bytes into `c`,
    // or into `out` at rows `r0..r0 + 32` < m and columns `c0 + pair * 32..` + 32 <= `c0 + cols` (stride n).
    unsafe {
        asm!("ldtilecfg [{}]", in(reg) cfg.0.as_ptr(), options(nostack));
        for rb in (0..m32).step_by(block_rows) {
            for pair in 0..pairs {
                let b0 = packed.as_ptr().add(2 * pair * steps * tile);
                let b1 = packed.as_ptr().add((2 * pair + 1) * steps * tile);
                for r0 in (rb..(rb + block_rows).min(m32)).step_by(2 * TILE_ROWS) {
                    asm!(
                        "tilezero tmm0",
                        "tilezero tmm1",
                        "tilezero tmm2",
                        "tilezero tmm3",
                        options(nostack)
                    );
                    // A's tiles for rows r0.. and r0 + 16.. (see `Tiles::matmul`): one 1 KB tile per step.
                    let a0 = ap.as_ptr().add(r0 * k32);
                    let a1 = ap.as_ptr().add((r0 + TILE_ROWS) * k32);
                    for s in 0..steps {
                        // Each load just before the first product that needs it, so loads overlap products.
                        asm!(
                            "tileloadd tmm4, [{a0} + {st}*1]",
                            "tileloadd tmm6, [{b0} + {st}*1]",
                            "tdpbf16ps tmm0, tmm4, tmm6",
                            "tileloadd tmm7, [{b1} + {st}*1]",
                            "tdpbf16ps tmm1, tmm4, tmm7",
                            "tileloadd tmm5, [{a1} + {st}*1]",
                            "tdpbf16ps tmm2, tmm5, tmm6",
                            "tdpbf16ps tmm3, tmm5, tmm7",
                            a0 = in(reg) a0.add(s * tile),
                            a1 = in(reg) a1.add(s * tile),
                            b0 = in(reg) b0.add(s * tile),
                            b1 = in(reg) b1.add(s * tile),
                            st = in(reg) 64usize,
                            options(nostack)
                        );
                    }
                    let col = pair * 32;
                    if r0 + 2 * TILE_ROWS <= m && col + 32 <= cols {
                        let at = out.add(r0 * n + c0 + col);
                        asm!(
                            "tilestored [{c0} + {s}*1], tmm0",
                            "tilestored [{c1} + {s}*1], tmm1",
                            "tilestored [{c2} + {s}*1], tmm2",
                            "tilestored [{c3} + {s}*1], tmm3",
                            c0 = in(reg) at,
                            c1 = in(reg) at.add(16),
                            c2 = in(reg) at.add(TILE_ROWS * n),
                            c3 = in(reg) at.add(TILE_ROWS * n + 16),
                            s = in(reg) n * 4,
                            options(nostack)
                        );
                        continue;
                    }
                    let cp = c.as_mut_ptr();
                    asm!(
                        "tilestored [{c0} + {s}*1], tmm0",
                        "tilestored [{c1} + {s}*1], tmm1",
                        "tilestored [{c2} + {s}*1], tmm2",
                        "tilestored [{c3} + {s}*1], tmm3",
                        c0 = in(reg) cp,
                        c1 = in(reg) cp.add(TILE_ROWS * 16),
                        c2 = in(reg) cp.add(2 * TILE_ROWS * 16),
                        c3 = in(reg) cp.add(3 * TILE_ROWS * 16),
                        s = in(reg) 64usize,
                        options(nostack)
                    );
                    // Tiles 0/1: rows r0.., columns of blocks 2*pair and 2*pair + 1; tiles 2/3: rows r0 + 16...
                    for (t, (dr, dc)) in
                        [(0, 0), (0, 16), (16, 0), (16, 16)].into_iter().enumerate()
                    {
                        for i in 0..TILE_ROWS {
                            let row = r0 + dr + i;
                            if row >= m || col + dc >= cols {
                                break;
                            }
                            let w = 16.min(cols - col - dc);
                            let src = &c[t * TILE_ROWS * 16 + i * 16..][..w];
                            std::ptr::copy_nonoverlapping(
                                src.as_ptr(),
                                out.add(row * n + c0 + col + dc),
                                w,
                            );
                        }
                    }
                }
            }
        }
        asm!("tilerelease", options(nostack));
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn band_product(
    _: &[bf16],
    _: (usize, usize, usize),
    _: &[bf16],
    _: usize,
    _: (*mut f32, usize, usize, usize),
) {
}

/// `x (m, k) @ B` as a candle operation on an f32 CPU tensor and packed tiles: `x` rounded to bf16, the sums in
/// f32 ([`Tiles::matmul`]). Only apply when [`available`].
pub struct TilesProduct<'a>(pub &'a Tiles);

impl candle_core::CustomOp1 for TilesProduct<'_> {
    fn name(&self) -> &'static str {
        "amx-bf16-product"
    }

    fn cpu_fwd(
        &self,
        storage: &candle_core::CpuStorage,
        layout: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        let candle_core::CpuStorage::F32(x) = storage else {
            candle_core::bail!("amx product: an f32 input expected");
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("amx product: a contiguous input expected");
        };
        let (m, k) = layout.shape().dims2()?;
        if k != self.0.k {
            candle_core::bail!("amx product: ({m}, {k}) times ({}, {})", self.0.k, self.0.n);
        }
        let out = self.0.matmul(&x[start..end], m);
        Ok((candle_core::CpuStorage::F32(out), (m, self.0.n).into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tiles' product equals a plain f32 product of the same bf16 values (products of bf16 are exact in
    /// f32; only the order of the sums differs), for shapes that are not multiples of the tiles, both layouts.
    #[test]
    fn amx_product_equals_f32_product_of_the_bf16_values() {
        if !available() {
            eprintln!("skipped: this CPU or kernel has no AMX");
            return;
        }
        let mut rng = crate::rng::Rng::new(7);
        for (m, k, n) in [
            (1, 1, 1),
            (5, 37, 19),
            (33, 64, 48),
            (70, 300, 290),
            (3, 2048, 600),
            (100, 8192, 40),
        ] {
            let v = |len: usize, rng: &mut crate::rng::Rng| -> Vec<bf16> {
                (0..len)
                    .map(|_| bf16::from_f32((rng.next_u64() % 2001) as f32 / 1000.0 - 1.0))
                    .collect()
            };
            let a = v(m * k, &mut rng);
            let b = v(k * n, &mut rng);
            let af: Vec<f32> = a.iter().map(|v| v.to_f32()).collect();
            let tiles = Tiles::pack(&b, (k, n), Layout::KByN);
            let got = tiles.matmul(&af, m);
            let bt: Vec<bf16> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
            let tiles_t = Tiles::pack(&bt, (k, n), Layout::NByK);
            let got_t = tiles_t.matmul(&af, m);
            // The packed values read back as B's columns (a tied head's embedding rows).
            let mut col = vec![bf16::ZERO; k];
            for j in 0..n {
                tiles_t.column(j, &mut col);
                assert_eq!(col, bt[j * k..(j + 1) * k], "{m}x{k}x{n} column {j}");
            }
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = (0..k)
                        .map(|p| {
                            f64::from(a[i * k + p].to_f32()) * f64::from(b[p * n + j].to_f32())
                        })
                        .sum();
                    let tol = 1e-5 * (1.0 + want.abs()) * (k as f64).sqrt();
                    assert!(
                        (f64::from(got[i * n + j]) - want).abs() <= tol,
                        "{m}x{k}x{n} [{i},{j}]"
                    );
                    assert_eq!(got[i * n + j], got_t[i * n + j], "{m}x{k}x{n} [{i},{j}]");
                }
            }
        }
    }
}
