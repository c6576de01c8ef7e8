//! The AMX product itself: C's columns of one band of packed B over every 32 rows of tiled A, in tile registers.

use super::{A_BLOCK_BYTES, TILE_K, TILE_ROWS};
use half::bf16;

#[derive(Clone, Copy)]
pub(super) struct SendPtr(pub(super) *mut f32);
// SAFETY: used only to write disjoint columns from parallel tasks (see `matmul`).
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// The pointer (a method, so that closures capture the whole `SendPtr`, which is `Send`).
    pub(super) fn get(self) -> *mut f32 {
        self.0
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
/// AMX must be [`super::available`]; `ap` is A tiled as [`super::Tiles::matmul`] lays it out, `(m32, k32)` values, `packed` as
/// [`pack_band`] made it for `pairs * 2` blocks, and `out` points at an `(m, n)` f32 matrix whose columns
/// `c0..c0 + cols` no other thread writes. With `parts` > 1, A holds that many tiles per 32-k step (the bf16
/// parts of an f32 input, [`super::Input::Exact`]), each multiplied by the step's one tile of B.
#[cfg(target_arch = "x86_64")]
pub(super) unsafe fn band_product(
    ap: &[bf16],
    (m, m32, k32, parts): (usize, usize, usize, usize),
    packed: &[bf16],
    pairs: usize,
    (out, n, c0, cols): (*mut f32, usize, usize, usize),
) {
    use std::arch::asm;
    let steps = k32 / TILE_K;
    let tile = TILE_ROWS * 32;
    let cfg = TileConfig::new();
    let block_rows = (A_BLOCK_BYTES / (k32 * parts * 2) / 32 * 32).max(32);
    let mut c = [0f32; 4 * TILE_ROWS * 16];
    // SAFETY (all asm below): the tile loads read one 1 KB tile (16 rows of 64 bytes, stride 64) inside `ap`
    // (rows `r0..r0 + 32` of m32, one part of one 32-k step) and inside `packed`; the stores write 16 rows of 64 bytes into `c`,
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
                    let a0 = ap.as_ptr().add(r0 * k32 * parts);
                    let a1 = ap.as_ptr().add((r0 + TILE_ROWS) * k32 * parts);
                    if parts == 1 {
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
                    } else {
                        for s in 0..steps {
                            // The step's two tiles of B once, then each part of A's rows times both.
                            asm!(
                                "tileloadd tmm6, [{b0} + {st}*1]",
                                "tileloadd tmm7, [{b1} + {st}*1]",
                                b0 = in(reg) b0.add(s * tile),
                                b1 = in(reg) b1.add(s * tile),
                                st = in(reg) 64usize,
                                options(nostack)
                            );
                            for p in s * parts..(s + 1) * parts {
                                asm!(
                                    "tileloadd tmm4, [{a0} + {st}*1]",
                                    "tdpbf16ps tmm0, tmm4, tmm6",
                                    "tdpbf16ps tmm1, tmm4, tmm7",
                                    "tileloadd tmm5, [{a1} + {st}*1]",
                                    "tdpbf16ps tmm2, tmm5, tmm6",
                                    "tdpbf16ps tmm3, tmm5, tmm7",
                                    a0 = in(reg) a0.add(p * tile),
                                    a1 = in(reg) a1.add(p * tile),
                                    st = in(reg) 64usize,
                                    options(nostack)
                                );
                            }
                        }
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
pub(super) unsafe fn band_product(
    _: &[bf16],
    _: (usize, usize, usize, usize),
    _: &[bf16],
    _: usize,
    _: (*mut f32, usize, usize, usize),
) {
}
