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
//! The work: A is copied into a zero-padded buffer (rows and columns rounded up to 32); each parallel task takes a
//! band of B's columns, packs it into tiles of 16 k-pairs x 16 columns (the pair-interleaved layout `tdpbf16ps`
//! reads), and walks A's rows 32 at a time, keeping a 32 x 32 block of C in four tile registers over the whole k.

use half::bf16;
use rayon::prelude::*;
use std::sync::OnceLock;

/// Rows of a tile, and the k-pairs of a B tile.
const TILE_ROWS: usize = 16;
/// bf16 values along k in one A tile row (64 bytes).
const TILE_K: usize = 32;
/// Bytes a task's packed band of B may take (it stays in the core's L2 while A streams past).
const BAND_BYTES: usize = 1 << 20;

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

/// `a (m, k) @ b` as f32 `(m, n)`, on AMX tiles. `a` and `b` hold bf16 bits; `b` is `(k, n)` or `(n, k)` as
/// `layout` says. Only call when [`available`].
pub fn matmul(
    a: &[bf16],
    b: &[bf16],
    (m, k, n): (usize, usize, usize),
    layout: Layout,
) -> Vec<f32> {
    let m32 = m.div_ceil(2 * TILE_ROWS) * 2 * TILE_ROWS;
    let k32 = k.div_ceil(TILE_K) * TILE_K;
    // A, zero-padded to (m32, k32).
    let mut ap = vec![bf16::ZERO; m32 * k32];
    ap.par_chunks_mut(k32)
        .zip(a.par_chunks(k))
        .for_each(|(dst, src)| dst[..k].copy_from_slice(src));
    let mut out = vec![0f32; m * n];
    // Bands of 32-column multiples whose packed B fits BAND_BYTES.
    let band = ((BAND_BYTES / (k32 * 2)) / 32 * 32).clamp(32, 256);
    let bands = n.div_ceil(band);
    let out_ptr = SendPtr(out.as_mut_ptr());
    (0..bands).into_par_iter().for_each(|bi| {
        let c0 = bi * band;
        let cols = band.min(n - c0);
        let packed = pack_b(b, (k, n), layout, c0, cols, k32);
        // SAFETY: each band writes only its own columns `c0..c0 + cols` of `out` (m rows of n); the bands are
        // disjoint and `out` outlives the parallel loop.
        unsafe {
            band_product(
                &ap,
                (m, m32, k32),
                &packed,
                cols.div_ceil(32),
                (out_ptr.get(), n, c0, cols),
            )
        };
    });
    out
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

/// Columns `c0..c0 + cols` of B packed as tiles: for each 16-column block, for each 32-k step, 16 rows (k-pairs)
/// of 16 columns x 2 values (`(b[2p][j], b[2p + 1][j])`), zero beyond k and n. Blocks are padded to an even count.
fn pack_b(
    b: &[bf16],
    (k, n): (usize, usize),
    layout: Layout,
    c0: usize,
    cols: usize,
    k32: usize,
) -> Vec<bf16> {
    let blocks = cols.div_ceil(32) * 2;
    let steps = k32 / TILE_K;
    let tile = TILE_ROWS * 32;
    let mut out = vec![bf16::ZERO; blocks * steps * tile];
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
                match layout {
                    #[cfg(target_arch = "x86_64")]
                    Layout::KByN if width == 16 => {
                        let even = &b[k0 * n + j..k0 * n + j + 16];
                        let odd = (k0 + 1 < k).then(|| &b[(k0 + 1) * n + j..(k0 + 1) * n + j + 16]);
                        // SAFETY: AVX-512 BW is checked with AMX (`detect`); the slices hold 16 values each and
                        // `row` 32.
                        unsafe { interleave16(even, odd, row) };
                    }
                    Layout::KByN => {
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
                    Layout::NByK => {
                        for (jj, pair) in row.chunks_exact_mut(2).enumerate() {
                            let at = (j + jj) * k + k0;
                            pair[0] = b[at];
                            if k0 + 1 < k {
                                pair[1] = b[at + 1];
                            }
                        }
                    }
                }
            }
        }
    }
    out
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

/// C's columns of one band: `pairs` pairs of 16-column blocks of packed B, over every 32 rows of the padded A.
///
/// # Safety
/// AMX must be [`available`]; `ap` is `(m32, k32)`, `packed` as [`pack_b`] made it for `pairs * 2` blocks, and
/// `out` points at an `(m, n)` f32 matrix whose columns `c0..c0 + cols` no other thread writes.
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
    let mut c = [0f32; 4 * TILE_ROWS * 16];
    let a_stride = k32 * 2;
    // SAFETY (all asm below): the tile loads read 16 rows of 64 bytes at the given stride inside `ap` (rows
    // `r0..r0 + 32` of m32, columns of one 32-k step of k32) and inside `packed` (one 1 KB tile, stride 64); the
    // stores write 16 rows of 64 bytes into `c`.
    unsafe {
        asm!("ldtilecfg [{}]", in(reg) cfg.0.as_ptr(), options(nostack));
        for pair in 0..pairs {
            let b0 = packed.as_ptr().add(2 * pair * steps * tile);
            let b1 = packed.as_ptr().add((2 * pair + 1) * steps * tile);
            for r0 in (0..m32).step_by(2 * TILE_ROWS) {
                asm!(
                    "tilezero tmm0",
                    "tilezero tmm1",
                    "tilezero tmm2",
                    "tilezero tmm3",
                    options(nostack)
                );
                let a0 = ap.as_ptr().add(r0 * k32);
                let a1 = ap.as_ptr().add((r0 + TILE_ROWS) * k32);
                for s in 0..steps {
                    asm!(
                        "tileloadd tmm4, [{a0} + {sa}*1]",
                        "tileloadd tmm5, [{a1} + {sa}*1]",
                        "tileloadd tmm6, [{b0} + {sb}*1]",
                        "tileloadd tmm7, [{b1} + {sb}*1]",
                        "tdpbf16ps tmm0, tmm4, tmm6",
                        "tdpbf16ps tmm1, tmm4, tmm7",
                        "tdpbf16ps tmm2, tmm5, tmm6",
                        "tdpbf16ps tmm3, tmm5, tmm7",
                        a0 = in(reg) a0.add(s * TILE_K),
                        a1 = in(reg) a1.add(s * TILE_K),
                        b0 = in(reg) b0.add(s * tile),
                        b1 = in(reg) b1.add(s * tile),
                        sa = in(reg) a_stride,
                        sb = in(reg) 64usize,
                        options(nostack)
                    );
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
                for (t, (dr, dc)) in [(0, 0), (0, 16), (16, 0), (16, 16)].into_iter().enumerate() {
                    for i in 0..TILE_ROWS {
                        let row = r0 + dr + i;
                        if row >= m {
                            break;
                        }
                        let col = pair * 32 + dc;
                        if col >= cols {
                            continue;
                        }
                        let w = 16.min(cols - col);
                        let src = &c[t * TILE_ROWS * 16 + i * 16..t * TILE_ROWS * 16 + i * 16 + w];
                        std::ptr::copy_nonoverlapping(src.as_ptr(), out.add(row * n + c0 + col), w);
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

/// `x (m, k) @ w` as a candle operation on bf16 CPU tensors: `w` is `(k, n)` or `(n, k)` as the layout says, and
/// the f32 sums are returned as f32 or rounded to bf16 (to nearest even) as the dtype says.
pub struct Bf16Product(pub Layout, pub candle_core::DType);

impl candle_core::CustomOp2 for Bf16Product {
    fn name(&self) -> &'static str {
        "amx-bf16-product"
    }

    fn cpu_fwd(
        &self,
        s1: &candle_core::CpuStorage,
        l1: &candle_core::Layout,
        s2: &candle_core::CpuStorage,
        l2: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        use candle_core::CpuStorage;
        let (CpuStorage::BF16(x), CpuStorage::BF16(w)) = (s1, s2) else {
            candle_core::bail!("amx product: bf16 inputs expected");
        };
        let (Some((xa, xb)), Some((wa, wb))) = (l1.contiguous_offsets(), l2.contiguous_offsets())
        else {
            candle_core::bail!("amx product: contiguous inputs expected");
        };
        let (m, k) = l1.shape().dims2()?;
        let (r, c) = l2.shape().dims2()?;
        let n = match self.0 {
            Layout::KByN if r == k => c,
            Layout::NByK if c == k => r,
            _ => candle_core::bail!("amx product: shapes ({m}, {k}) and ({r}, {c}) do not match"),
        };
        let out = matmul(&x[xa..xb], &w[wa..wb], (m, k, n), self.0);
        if self.1 == candle_core::DType::F32 {
            return Ok((CpuStorage::F32(out), (m, n).into()));
        }
        let out: Vec<bf16> = out.into_par_iter().map(bf16::from_f32).collect();
        Ok((CpuStorage::BF16(out), (m, n).into()))
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
        for (m, k, n) in [(1, 1, 1), (5, 37, 19), (33, 64, 48), (70, 300, 290)] {
            let v = |len: usize, rng: &mut crate::rng::Rng| -> Vec<bf16> {
                (0..len)
                    .map(|_| bf16::from_f32((rng.next_u64() % 2001) as f32 / 1000.0 - 1.0))
                    .collect()
            };
            let a = v(m * k, &mut rng);
            let b = v(k * n, &mut rng);
            let got = matmul(&a, &b, (m, k, n), Layout::KByN);
            let bt: Vec<bf16> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
            let got_t = matmul(&a, &bt, (m, k, n), Layout::NByK);
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
