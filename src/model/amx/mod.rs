//! bf16 matrix products on Intel's AMX tiles (Sapphire Rapids and later Xeons): `C = A B` with A `(m, k)` and B
//! `(k, n)` in bf16, products exact and sums in f32 (`tdpbf16ps`), the way PyTorch's oneDNN multiplies bf16 on
//! these CPUs. Used for `--dtype bf16`, whose matrix products take bf16 inputs by definition
//! ([`super::Decoder::with_bf16_products`]): the numbers are those of any bf16 product with f32 sums (the order
//! of the sums differs from other kernels, as between any two BLAS). And for the exact `--dtype f32` path with
//! bf16 weights: its f32 input enters as three bf16 parts summing to it exactly ([`Input::Exact`]), so every
//! product is exact and the result an f32 product's.
//!
//! AMX has no stable Rust intrinsics; the few tile instructions are written with `asm!`. The CPU must list
//! AMX-TILE and AMX-BF16 (CPUID leaf 7) and Linux must grant the process the tile state
//! (`arch_prctl(ARCH_REQ_XCOMP_PERM)`); [`available`] checks both once. `CREDITLENS_AMX=off` turns it off (to
//! compare).
//!
//! The work: a weight's tiles hold 16 k-pairs x 16 columns (the pair-interleaved layout `tdpbf16ps` reads), in
//! bands of columns that stay in a core's L2 ([`Tiles`]). Packed once as the model loads, or, for a bf16 checkpoint
//! memory-mapped in place, packed band by band into a per-thread buffer as each product needs it (the weights are
//! then never copied: the model's memory is the file's cached pages). A product rounds (or splits) A into a buffer
//! padded to 32 rows and columns; each parallel task takes a band and walks A's rows 32 at a time, keeping a 32 x 32 block
//! of C in four tile registers over the whole k.

mod kernel;
mod pack;
#[cfg(test)]
mod tests;

use super::mapped::{MappedFile, MappedRows};
use super::quantized::QuantMatrix;
use half::bf16;
use kernel::{SendPtr, band_product};
use pack::{Source, pack_band, round_bf16, split_bf16};
use rayon::prelude::*;
use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

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

/// How a product takes its f32 input A.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Rounded to bf16 (to nearest even, as a cast does): a bf16 product (`--dtype bf16`).
    Rounded,
    /// Exactly, as the sum of three bf16 parts (`hi + mid + lo`, together f32's 24 significant bits) each
    /// multiplied by B: with bf16 weights every product is exact in f32 and the sums are f32's, so the result is
    /// an f32 product's (the exact `--dtype f32` path) on hardware made for bf16, at three tile products per
    /// step instead of one. (Inputs under 2^-110 in size lose their bits under 2^-126: AMX reads subnormal
    /// bf16 as 0.)
    Exact,
}

impl Input {
    /// bf16 tiles of A per 32-k step.
    fn parts(self) -> usize {
        match self {
            Input::Rounded => 1,
            Input::Exact => 3,
        }
    }
}

/// How B is laid out in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `(k, n)` row-major: a linear layer's weight stored transposed, `(in, out)`.
    KByN,
    /// `(n, k)` row-major: a weight as checkpoints store it, `(out, in)`.
    NByK,
}

/// A matrix B `(k, n)` in the tiles `tdpbf16ps` reads, for a weight that multiplies many inputs (`--dtype bf16`).
/// Bands of B's columns sized to stay in a core's L2 lie one after another; within a band, for each 16-column
/// block and each 32-k step, 16 rows (k-pairs) of 16 columns x 2 values. Either packed once (it then takes the
/// weight's own size, k and n rounded up to 32), or a checkpoint's `(out, in)` rows left in place in the mapped
/// file and packed a band at a time as each product needs it ([`Tiles::in_place`]).
#[derive(Debug)]
pub struct Tiles {
    k: usize,
    n: usize,
    k32: usize,
    /// Columns per band (a multiple of 32).
    band: usize,
    /// Values of one full band.
    band_len: usize,
    held: Held,
}

/// Where a [`Tiles`]' values are.
#[derive(Debug)]
enum Held {
    /// Packed, band after band.
    Packed(Vec<bf16>),
    /// B's columns as a checkpoint's rows, in place in its mapped file(s), parts stacked by rows.
    InPlace(MappedRows),
    /// B's columns as a GGUF file's quantised rows, dequantised (and rounded to bf16) a band at a time as each
    /// product needs them.
    Quantized(QuantMatrix),
}

/// The bf16 values of in-place rows' bytes (`MappedRows::new` checked that they are 2-byte aligned).
fn bf16_values(bytes: &[u8]) -> &[bf16] {
    // SAFETY: the bytes lie in the mapping, which outlives the borrow, start at an even address (checked when the
    // rows were placed) and bf16 has no invalid bit patterns.
    unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<bf16>(), bytes.len() / 2) }
}

thread_local! {
    /// Each thread's band of in-place weights packed for the product at hand (one band's size, reused).
    static BAND: RefCell<Vec<bf16>> = const { RefCell::new(Vec::new()) };
    /// Each thread's band of quantised rows dequantised to bf16, and one row of f32 on the way (reused).
    static DEQUANTIZED: RefCell<(Vec<bf16>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Columns per band of a B with `k32` rows.
fn band_columns(k32: usize) -> usize {
    ((BAND_BYTES / (k32.max(TILE_K) * 2)) / 32 * 32).clamp(32, 256)
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

    /// The bf16 weight `(n, k)` (a checkpoint's `(out, in)`) at byte `offset` of the mapped file `map`, left in
    /// place: each product packs the band it needs into a per-thread buffer, so loading copies nothing and the
    /// weight's memory is the file's (cached, shared) pages. `None` where the values are not 2-byte aligned or
    /// do not lie in the file. Only multiply when [`available`].
    pub fn in_place(map: Arc<MappedFile>, offset: usize, (n, k): (usize, usize)) -> Option<Tiles> {
        Self::from_rows(MappedRows::new(
            map,
            offset,
            (n, k),
            candle_core::DType::BF16,
        )?)
    }

    /// bf16 rows left in place ([`MappedRows`]) as tiles packed a band at a time as each product needs them.
    /// `None` unless they are bf16.
    pub fn from_rows(rows: MappedRows) -> Option<Tiles> {
        if rows.dtype() != candle_core::DType::BF16 {
            return None;
        }
        let (n, k) = rows.dims();
        Some(Self::shaped((k, n), Held::InPlace(rows)))
    }

    /// A quantised weight `(n, k)` (a GGUF file's `(out, in)` blocks) multiplied on tiles: each product
    /// dequantises the band of rows it is about to multiply, rounds it to bf16 and packs it into a per-thread
    /// buffer, so the weight stays quantised in memory. Only multiply when [`available`].
    pub fn quantized(q: QuantMatrix) -> Tiles {
        let (n, k) = (q.rows(), q.cols());
        Self::shaped((k, n), Held::Quantized(q))
    }

    /// The same weight packed whole into tiles once (dequantised and rounded to bf16 where it is quantised): for
    /// work that multiplies by it many times over few rows (decoding). `None` unless it is quantised.
    pub fn packed_quantized(&self) -> Result<Option<Tiles>, String> {
        let Held::Quantized(q) = &self.held else {
            return Ok(None);
        };
        let (n, k) = (self.n, self.k);
        let mut values = vec![bf16::ZERO; n * k];
        q.dequantize_bf16_into(0, &mut values, &mut Vec::new())
            .map_err(|e| e.to_string())?;
        Ok(Some(Self::pack(&values, (k, n), Layout::NByK)))
    }

    /// Whether its values are quantised blocks dequantised as it multiplies.
    pub fn is_quantized(&self) -> bool {
        matches!(self.held, Held::Quantized(_))
    }

    /// In-place weights with the same inputs stacked by outputs (q/k/v, gate/up): one product over all, nothing
    /// copied. `None` unless every part is in place and they share `k`.
    pub fn stack(parts: &[&Tiles]) -> Option<Tiles> {
        let rows: Option<Vec<&MappedRows>> = parts
            .iter()
            .map(|t| match &t.held {
                Held::InPlace(r) => Some(r),
                Held::Packed(_) | Held::Quantized(_) => None,
            })
            .collect();
        Self::from_rows(MappedRows::stack(&rows?)?)
    }

    fn shaped((k, n): (usize, usize), held: Held) -> Tiles {
        let k32 = k.div_ceil(TILE_K) * TILE_K;
        let band = band_columns(k32);
        Tiles {
            k,
            n,
            k32,
            band,
            band_len: band / 16 * (k32 / TILE_K) * TILE_ROWS * 32,
            held,
        }
    }

    fn pack_from(b: &Source, (k, n): (usize, usize)) -> Tiles {
        let mut t = Self::shaped((k, n), Held::Packed(Vec::new()));
        let bands = n.div_ceil(t.band);
        let total = match bands {
            0 => 0,
            _ => (bands - 1) * t.band_len + t.band_values(bands - 1),
        };
        let mut data = vec![bf16::ZERO; total];
        let (band, k32) = (t.band, t.k32);
        data.par_chunks_mut(t.band_len)
            .enumerate()
            .for_each(|(bi, out)| {
                let c0 = bi * band;
                pack_band(b, (k, n), c0, band.min(n - c0), k32, out);
            });
        t.held = Held::Packed(data);
        t
    }

    /// Values of band `bi` packed (the last may be narrower).
    fn band_values(&self, bi: usize) -> usize {
        let cols = self.band.min(self.n - bi * self.band);
        cols.div_ceil(32) * 2 * (self.k32 / TILE_K) * TILE_ROWS * 32
    }

    /// `(n, k)`: B's columns (a weight's outputs) and its rows (the weight's inputs).
    pub fn dims(&self) -> (usize, usize) {
        (self.n, self.k)
    }

    /// Bytes of its values (in place: the bytes of the file it reads).
    pub fn bytes(&self) -> u64 {
        match &self.held {
            Held::Packed(data) => (data.len() * 2) as u64,
            Held::InPlace(_) => (self.n * self.k * 2) as u64,
            Held::Quantized(q) => q.bytes(),
        }
    }

    /// An error naming the file if weights left in place lie in a file changed on disk since it was mapped (its
    /// pages must not be read then: see [`MappedFile::unchanged`]). Packed tiles are always readable.
    pub fn readable(&self) -> Result<(), String> {
        match &self.held {
            Held::InPlace(rows) => rows.readable(),
            Held::Packed(_) | Held::Quantized(_) => Ok(()),
        }
    }

    /// Whether its values are left in place in a mapped file.
    pub fn is_in_place(&self) -> bool {
        matches!(self.held, Held::InPlace(_))
    }

    /// B's column `j` (a checkpoint weight's row `j`: for a tied head, token `j`'s embedding) into `out` (k values).
    pub fn column(&self, j: usize, out: &mut [bf16]) {
        let k = self.k;
        let data = match &self.held {
            Held::Packed(data) => data,
            Held::InPlace(rows) => {
                if let Some(row) = rows.row(j) {
                    out[..k].copy_from_slice(bf16_values(row));
                }
                return;
            }
            Held::Quantized(q) => {
                // Rows past the end are left alone (the callers check ids first).
                let _ = q.dequantize_bf16_into(j, &mut out[..k], &mut Vec::new());
                return;
            }
        };
        let steps = self.k32 / TILE_K;
        let (bi, cj) = (j / self.band, j % self.band);
        let block = bi * self.band_len + (cj / 16 * steps) * TILE_ROWS * 32 + (cj % 16) * 2;
        for (kk, v) in out.iter_mut().enumerate().take(k) {
            let s = kk / TILE_K;
            *v = data[block + s * TILE_ROWS * 32 + (kk % TILE_K) / 2 * 32 + kk % 2];
        }
    }

    /// `a (m, k) @ B` as f32 `(m, n)`: `a` (f32) rounded to bf16 (to nearest even, as a cast does), the products
    /// summed in f32 on AMX tiles. Only call when [`available`]. Fails only where quantised rows cannot be
    /// dequantised.
    pub fn matmul(&self, a: &[f32], m: usize) -> Result<Vec<f32>, String> {
        self.matmul_taking(a, m, Input::Rounded)
    }

    /// `a (m, k) @ B` as f32 `(m, n)`, `a` taken as `input` says, the products summed in f32 on AMX tiles. Only
    /// call when [`available`]. Fails only where quantised rows cannot be dequantised.
    pub fn matmul_taking(&self, a: &[f32], m: usize, input: Input) -> Result<Vec<f32>, String> {
        let (k, n, k32) = (self.k, self.n, self.k32);
        let m32 = m.div_ceil(2 * TILE_ROWS) * 2 * TILE_ROWS;
        let parts = input.parts();
        let ap = tile_a(a, (m, k), (m32, k32), input);
        let mut out: Vec<f32> = Vec::with_capacity(m * n);
        let out_ptr = SendPtr(out.as_mut_ptr());
        let rows: Vec<&[bf16]> = match &self.held {
            Held::Packed(_) | Held::Quantized(_) => Vec::new(),
            Held::InPlace(rows) => rows
                .parts()
                .flat_map(|(_, bytes)| bf16_values(bytes).chunks_exact(k.max(1)))
                .collect(),
        };
        let bands = n.div_ceil(self.band);
        (0..bands).into_par_iter().try_for_each(|bi| {
            let c0 = bi * self.band;
            let cols = self.band.min(n - c0);
            let len = self.band_values(bi);
            let product = |packed: &[bf16]| {
                // SAFETY: each band writes only its own columns `c0..c0 + cols` of the m rows of `out` (capacity
                // m * n); the bands are disjoint and `out` outlives the parallel loop.
                unsafe {
                    band_product(
                        &ap,
                        (m, m32, k32, parts),
                        packed,
                        cols.div_ceil(32),
                        (out_ptr.get(), n, c0, cols),
                    )
                }
            };
            match &self.held {
                Held::Packed(data) => product(&data[bi * self.band_len..][..len]),
                Held::InPlace(_) => BAND.with(|buf| {
                    let mut buf = buf.borrow_mut();
                    if buf.len() < len {
                        buf.resize(len, bf16::ZERO);
                    }
                    pack_band(&Source::Rows(&rows), (k, n), c0, cols, k32, &mut buf[..len]);
                    product(&buf[..len]);
                }),
                Held::Quantized(q) => DEQUANTIZED.with(|d| {
                    let (values, scratch) = &mut *d.borrow_mut();
                    values.resize(cols * k, bf16::ZERO);
                    q.dequantize_bf16_into(c0, values, scratch)
                        .map_err(|e| e.to_string())?;
                    let rows: Vec<&[bf16]> = values.chunks_exact(k.max(1)).collect();
                    BAND.with(|buf| {
                        let mut buf = buf.borrow_mut();
                        if buf.len() < len {
                            buf.resize(len, bf16::ZERO);
                        }
                        // The band's rows are `c0..c0 + cols` of B, here rows 0..cols of `rows`.
                        pack_band(
                            &Source::Rows(&rows),
                            (k, cols),
                            0,
                            cols,
                            k32,
                            &mut buf[..len],
                        );
                        product(&buf[..len]);
                    });
                    Ok::<(), String>(())
                })?,
            }
            Ok::<(), String>(())
        })?;
        // SAFETY: the bands cover columns 0..n of every row 0..m, each value written once above (the loop
        // returned Ok).
        unsafe { out.set_len(m * n) };
        Ok(out)
    }
}

/// A `(m, k)` (f32) in bf16 as `input` says, laid out tile by tile (16 rows x 32 k, 1 KB contiguous, for every 16
/// rows, every 32-k step and every part of the input), `(m32, k32)` values per part with zero padding: a tile is
/// read at a 64-byte stride, so its rows never collide in one cache set as rows k32 * 2 bytes apart would.
fn tile_a(
    a: &[f32],
    (m, k): (usize, usize),
    (m32, k32): (usize, usize),
    input: Input,
) -> Vec<bf16> {
    let parts = input.parts();
    let steps = k32 / TILE_K;
    let group = steps * parts * TILE_ROWS * TILE_K;
    let len = m32 * k32 * parts;
    let mut ap: Vec<bf16> = Vec::with_capacity(len);
    ap.spare_capacity_mut()[..len]
        .par_chunks_mut(group)
        .enumerate()
        .for_each(|(g, dst)| {
            // Each row rounded (or split) at once (a vector kernel), then laid out tile row by tile row.
            let mut rows = vec![bf16::ZERO; k32 * parts];
            for i in 0..TILE_ROWS {
                let r = g * TILE_ROWS + i;
                if r >= m {
                    rows.fill(bf16::ZERO);
                } else if let Input::Exact = input {
                    let (hi, rest) = rows.split_at_mut(k32);
                    let (mid, lo) = rest.split_at_mut(k32);
                    split_bf16(&a[r * k..(r + 1) * k], hi, mid, lo);
                } else {
                    round_bf16(&a[r * k..(r + 1) * k], &mut rows[..k]);
                }
                for s in 0..steps {
                    for p in 0..parts {
                        dst[((s * parts + p) * TILE_ROWS + i) * TILE_K..][..TILE_K]
                            .write_copy_of_slice(&rows[p * k32 + s * TILE_K..][..TILE_K]);
                    }
                }
            }
        });
    // SAFETY: every one of the values was written just above.
    unsafe { ap.set_len(len) };
    ap
}

/// `x (m, k) @ B` as a candle operation on an f32 CPU tensor and tiles: `x` taken as the [`Input`] says, the sums
/// in f32 ([`Tiles::matmul_taking`]). Only apply when [`available`].
pub struct TilesProduct<'a>(pub &'a Tiles, pub Input);

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
        if let Err(e) = self.0.readable() {
            candle_core::bail!("{e}");
        }
        if k != self.0.k {
            candle_core::bail!("amx product: ({m}, {k}) times ({}, {})", self.0.k, self.0.n);
        }
        let out = self
            .0
            .matmul_taking(&x[start..end], m, self.1)
            .map_err(candle_core::Error::Msg)?;
        Ok((candle_core::CpuStorage::F32(out), (m, self.0.n).into()))
    }
}
