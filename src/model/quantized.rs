//! Matrices kept in a GGUF file's block quantisation (Q4_0, Q4_1, Q8_0, the K-quants, ...) and dequantised a
//! block of rows at a time when the decoder multiplies by them, so a quantised model takes about its file's size
//! in memory while computing with exactly the numbers of dequantising it at load.

use crate::error::{Error, Result};
use candle_core::quantized::GgmlDType;
use candle_core::quantized::k_quants;
use candle_core::{Device, Tensor};
use rayon::prelude::*;
use std::mem::MaybeUninit;
use std::sync::Arc;

/// Rows of one storage type, stored as the file stores them: row after row, each row a run of blocks.
#[derive(Debug)]
struct Part {
    dtype: GgmlDType,
    rows: usize,
    /// The blocks' bytes, in 8-byte words so every block type is aligned.
    words: Vec<u64>,
    len: usize,
}

impl Part {
    fn bytes(&self) -> &[u8] {
        // SAFETY: `words` owns at least `len` initialised bytes, and u8 has no alignment or validity needs.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr().cast::<u8>(), self.len) }
    }
}

/// A `(rows, cols)` matrix of block-quantised values, possibly several parts of different storage types stacked
/// by rows (a fused projection). Cloning shares the values.
#[derive(Debug, Clone)]
pub struct QuantMatrix {
    parts: Arc<Vec<Part>>,
    cols: usize,
}

/// Whether values of `dtype` come in blocks that [`QuantMatrix`] keeps (the plain float types stay tensors).
pub fn is_block_type(dtype: GgmlDType) -> bool {
    !matches!(dtype, GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16)
}

/// Bytes of one row of `cols` values of `dtype`, or `None` when the row is not a whole number of blocks.
fn row_bytes(dtype: GgmlDType, cols: usize) -> Option<usize> {
    cols.is_multiple_of(dtype.block_size())
        .then(|| cols / dtype.block_size() * dtype.type_size())
}

/// A kernel writing the values of whole blocks into their slots.
type Dequantize = fn(&[u8], &mut [MaybeUninit<f32>]);

/// Writes the values of whole blocks `bytes` of `dtype` into `out` (one value per slot).
fn to_float(dtype: GgmlDType, bytes: &[u8], out: &mut [MaybeUninit<f32>]) -> Result<()> {
    fn blocks<T: GgmlType>(bytes: &[u8], out: &mut [MaybeUninit<f32>]) -> Result<()> {
        let size = std::mem::size_of::<T>();
        let aligned = (bytes.as_ptr() as usize).is_multiple_of(std::mem::align_of::<T>());
        let n = bytes.len() / size;
        if !aligned || n * size != bytes.len() || n * T::BLCK_SIZE != out.len() {
            return Err(Error::InvalidArgument(format!(
                "quantised blocks of {:?}: {} bytes do not hold {} values",
                T::DTYPE,
                bytes.len(),
                out.len()
            )));
        }
        // The block types without a kernel of ours (below) go through candle's, which takes initialised values.
        let out = init(out, 0.0);
        // SAFETY: the pointer is aligned for T and covers `n` whole blocks; the block types are plain numbers
        // and byte arrays, valid for any bit pattern.
        let xs = unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<T>(), n) };
        T::to_float(xs, out);
        Ok(())
    }
    // The common types, vectorised for the CPU (the same numbers as candle's `to_float`, which these replace).
    let own: Option<(usize, Dequantize)> = match dtype {
        GgmlDType::Q4_0 => Some((Q4_0_BYTES, dequantize_q4_0)),
        GgmlDType::Q4_1 => Some((Q4_1_BYTES, dequantize_q4_1)),
        GgmlDType::Q8_0 => Some((Q8_0_BYTES, dequantize_q8_0)),
        _ => None,
    };
    if let Some((size, kernel)) = own {
        if !bytes.len().is_multiple_of(size) || bytes.len() / size * 32 != out.len() {
            return Err(Error::InvalidArgument(format!(
                "quantised blocks of {dtype:?}: {} bytes do not hold {} values",
                bytes.len(),
                out.len()
            )));
        }
        kernel(bytes, out);
        return Ok(());
    }
    use k_quants::*;
    match dtype {
        GgmlDType::Q4_0 => blocks::<BlockQ4_0>(bytes, out),
        GgmlDType::Q4_1 => blocks::<BlockQ4_1>(bytes, out),
        GgmlDType::Q5_0 => blocks::<BlockQ5_0>(bytes, out),
        GgmlDType::Q5_1 => blocks::<BlockQ5_1>(bytes, out),
        GgmlDType::Q8_0 => blocks::<BlockQ8_0>(bytes, out),
        GgmlDType::Q8_1 => blocks::<BlockQ8_1>(bytes, out),
        GgmlDType::Q2K => blocks::<BlockQ2K>(bytes, out),
        GgmlDType::Q3K => blocks::<BlockQ3K>(bytes, out),
        GgmlDType::Q4K => blocks::<BlockQ4K>(bytes, out),
        GgmlDType::Q5K => blocks::<BlockQ5K>(bytes, out),
        GgmlDType::Q6K => blocks::<BlockQ6K>(bytes, out),
        GgmlDType::Q8K => blocks::<BlockQ8K>(bytes, out),
        GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16 => Err(Error::InvalidArgument(format!(
            "{dtype:?} values are not block-quantised"
        ))),
    }
}

/// `out` with every slot set to `value`, as initialised values.
fn init(out: &mut [MaybeUninit<f32>], value: f32) -> &mut [f32] {
    for v in out.iter_mut() {
        v.write(value);
    }
    // SAFETY: every slot was just written; MaybeUninit<f32> has f32's layout.
    unsafe { &mut *(out as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

/// Bytes of a Q4_0 block (an f16 scale and 32 4-bit values), a Q4_1 block (scale, minimum, 32 4-bit values) and a
/// Q8_0 block (scale, 32 8-bit values), as ggml lays them out.
const Q4_0_BYTES: usize = 18;
const Q4_1_BYTES: usize = 20;
const Q8_0_BYTES: usize = 34;

/// The f16 at `b[0..2]` (little-endian).
#[inline(always)]
fn f16_at(b: &[u8]) -> f32 {
    half::f16::from_le_bytes([b[0], b[1]]).to_f32()
}

crate::simd::best_simd! {
    fn dequantize_q4_0(bytes: &[u8], out: &mut [MaybeUninit<f32>]) = dequantize_q4_0_generic;
}
crate::simd::best_simd! {
    fn dequantize_q4_1(bytes: &[u8], out: &mut [MaybeUninit<f32>]) = dequantize_q4_1_generic;
}
crate::simd::best_simd! {
    fn dequantize_q8_0(bytes: &[u8], out: &mut [MaybeUninit<f32>]) = dequantize_q8_0_generic;
}

/// Q4_0: `(q - 8) * d`, the low nibbles first (ggml's `dequantize_row_q4_0`).
#[inline(always)]
fn dequantize_q4_0_generic(bytes: &[u8], out: &mut [MaybeUninit<f32>]) {
    for (b, o) in bytes.chunks_exact(Q4_0_BYTES).zip(out.chunks_exact_mut(32)) {
        let d = f16_at(b);
        let qs = &b[2..Q4_0_BYTES];
        let (lo, hi) = o.split_at_mut(16);
        for j in 0..16 {
            lo[j].write((f32::from(qs[j] & 0x0F) - 8.0) * d);
            hi[j].write((f32::from(qs[j] >> 4) - 8.0) * d);
        }
    }
}

/// Q4_1: `q * d + m`, the low nibbles first (ggml's `dequantize_row_q4_1`).
#[inline(always)]
fn dequantize_q4_1_generic(bytes: &[u8], out: &mut [MaybeUninit<f32>]) {
    for (b, o) in bytes.chunks_exact(Q4_1_BYTES).zip(out.chunks_exact_mut(32)) {
        let d = f16_at(b);
        let m = f16_at(&b[2..]);
        let qs = &b[4..Q4_1_BYTES];
        let (lo, hi) = o.split_at_mut(16);
        for j in 0..16 {
            lo[j].write(f32::from(qs[j] & 0x0F) * d + m);
            hi[j].write(f32::from(qs[j] >> 4) * d + m);
        }
    }
}

/// Q8_0: `q * d` (ggml's `dequantize_row_q8_0`).
#[inline(always)]
fn dequantize_q8_0_generic(bytes: &[u8], out: &mut [MaybeUninit<f32>]) {
    for (b, o) in bytes.chunks_exact(Q8_0_BYTES).zip(out.chunks_exact_mut(32)) {
        let d = f16_at(b);
        for (o, &q) in o.iter_mut().zip(&b[2..Q8_0_BYTES]) {
            o.write(f32::from(q as i8) * d);
        }
    }
}

/// Rows dequantised per task when a block of rows is dequantised in parallel (about 64 Ki values).
const ROWS_PER_TASK_VALUES: usize = 1 << 16;

impl QuantMatrix {
    /// The matrix of `rows` rows of `cols` values of `dtype` in `bytes` (as a GGUF file stores them), with its
    /// rows taken in `order` when given (llama.cpp's converter reorders the rows of some projections). `None` when
    /// the values are not block-quantised or a row is not a whole number of blocks; an error when `bytes` is not
    /// their size.
    pub fn new(
        dtype: GgmlDType,
        (rows, cols): (usize, usize),
        bytes: &[u8],
        order: Option<&[usize]>,
    ) -> Result<Option<Self>> {
        let Some(row) = row_bytes(dtype, cols).filter(|_| is_block_type(dtype)) else {
            return Ok(None);
        };
        if bytes.len() != rows * row {
            return Err(Error::InvalidArgument(format!(
                "{rows} x {cols} values of {dtype:?} take {} bytes, not {}",
                rows * row,
                bytes.len()
            )));
        }
        let len = bytes.len();
        let mut words = vec![0u64; len.div_ceil(8)];
        {
            // SAFETY: `words` has at least `len` bytes; any bytes are valid u64 parts.
            let dst =
                unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), len) };
            match order {
                None => dst.copy_from_slice(bytes),
                Some(order) => {
                    for (to, &from) in dst.chunks_exact_mut(row).zip(order) {
                        to.copy_from_slice(&bytes[from * row..(from + 1) * row]);
                    }
                }
            }
        }
        Ok(Some(Self {
            parts: Arc::new(vec![Part {
                dtype,
                rows,
                words,
                len,
            }]),
            cols,
        }))
    }

    /// The parts stacked by rows (a fused projection's weights), or `None` when their widths differ.
    pub fn stack(parts: &[QuantMatrix]) -> Option<Self> {
        let cols = parts.first()?.cols;
        if parts.iter().any(|p| p.cols != cols) {
            return None;
        }
        let mut all = Vec::new();
        for p in parts {
            for part in p.parts.iter() {
                all.push(Part {
                    dtype: part.dtype,
                    rows: part.rows,
                    words: part.words.clone(),
                    len: part.len,
                });
            }
        }
        Some(Self {
            parts: Arc::new(all),
            cols,
        })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.parts.iter().map(|p| p.rows).sum()
    }

    /// Number of values per row.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Bytes of the quantised values held.
    pub fn bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.len as u64).sum()
    }

    /// Whether `other` shares these values (a tied LM head and its embeddings).
    pub fn same_as(&self, other: &QuantMatrix) -> bool {
        Arc::ptr_eq(&self.parts, &other.parts)
    }

    /// The part holding row `row` and the row's index within it.
    fn locate(&self, mut row: usize) -> Option<(&Part, usize)> {
        for p in self.parts.iter() {
            if row < p.rows {
                return Some((p, row));
            }
            row -= p.rows;
        }
        None
    }

    /// Dequantises rows `start..start + n` into `out` (`n * cols` values), in parallel over groups of rows.
    fn dequantize_into(&self, start: usize, out: &mut [MaybeUninit<f32>]) -> Result<()> {
        let cols = self.cols;
        let per_task = (ROWS_PER_TASK_VALUES / cols.max(1)).max(1);
        out.par_chunks_mut(per_task * cols)
            .enumerate()
            .try_for_each(|(task, chunk)| {
                let first = start + task * per_task;
                for (i, row_out) in chunk.chunks_exact_mut(cols).enumerate() {
                    let row = first + i;
                    let (part, r) = self.locate(row).ok_or_else(|| {
                        Error::InvalidArgument(format!("row {row} of {}", self.rows()))
                    })?;
                    let size = row_bytes(part.dtype, cols).unwrap_or(0);
                    to_float(part.dtype, &part.bytes()[r * size..(r + 1) * size], row_out)?;
                }
                Ok(())
            })
    }

    /// Rows `start..start + out.len() / cols` dequantised and rounded to bf16 (to nearest even) into `out`, on
    /// this thread, through `scratch` (one row of f32): what bf16 products of a quantised weight multiply by
    /// (`--dtype bf16` on AMX, whose bands are already dequantised in parallel).
    pub fn dequantize_bf16_into(
        &self,
        start: usize,
        out: &mut [half::bf16],
        scratch: &mut Vec<f32>,
    ) -> Result<()> {
        let cols = self.cols;
        scratch.clear();
        scratch.reserve(cols);
        for (i, row_out) in out.chunks_exact_mut(cols.max(1)).enumerate() {
            let row = start + i;
            let (part, r) = self
                .locate(row)
                .ok_or_else(|| Error::InvalidArgument(format!("row {row} of {}", self.rows())))?;
            let size = row_bytes(part.dtype, cols).unwrap_or(0);
            let values = &mut scratch.spare_capacity_mut()[..cols];
            to_float(part.dtype, &part.bytes()[r * size..(r + 1) * size], values)?;
            for (o, v) in row_out.iter_mut().zip(values.iter()) {
                // SAFETY: `to_float` returned Ok, so it wrote every one of the row's `cols` values.
                *o = half::bf16::from_f32(unsafe { v.assume_init() });
            }
        }
        Ok(())
    }

    /// Rows `start..start + n` dequantised to an f32 tensor `(n, cols)`.
    pub fn dequantize(&self, start: usize, n: usize) -> Result<Tensor> {
        if start + n > self.rows() {
            return Err(Error::InvalidArgument(format!(
                "rows {start}..{} of a {}-row matrix",
                start + n,
                self.rows()
            )));
        }
        let len = n * self.cols;
        let mut out: Vec<f32> = Vec::with_capacity(len);
        self.dequantize_into(start, &mut out.spare_capacity_mut()[..len])?;
        // SAFETY: `dequantize_into` returned Ok, so it wrote all `len` values (each row's blocks fill the row).
        unsafe { out.set_len(len) };
        Ok(Tensor::from_vec(out, (n, self.cols), &Device::Cpu)?)
    }

    /// The rows `ids` dequantised to an f32 tensor `(ids.len(), cols)` (an embedding lookup).
    pub fn gather(&self, ids: &[u32]) -> Result<Tensor> {
        let cols = self.cols;
        let rows = self.rows();
        let len = ids.len() * cols;
        let mut out: Vec<f32> = Vec::with_capacity(len);
        for (&id, row_out) in ids
            .iter()
            .zip(out.spare_capacity_mut()[..len].chunks_exact_mut(cols))
        {
            let (part, r) = self
                .locate(id as usize)
                .ok_or_else(|| Error::InvalidArgument(format!("token id {id} of {rows}")))?;
            let size = row_bytes(part.dtype, cols).unwrap_or(0);
            to_float(part.dtype, &part.bytes()[r * size..(r + 1) * size], row_out)?;
        }
        // SAFETY: every row was written above (an error returns before this).
        unsafe { out.set_len(len) };
        Ok(Tensor::from_vec(out, (ids.len(), cols), &Device::Cpu)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::QTensor;

    fn quantised(rows: usize, cols: usize, dtype: GgmlDType) -> (QTensor, Vec<u8>) {
        let t = Tensor::randn(0f32, 1.0, (rows, cols), &Device::Cpu).unwrap();
        let q = QTensor::quantize(&t, dtype).unwrap();
        let bytes = q.data().unwrap().to_vec();
        (q, bytes)
    }

    use crate::tensor_values::max_abs_difference as max_diff;

    /// Rows dequantised in blocks, gathered by id, reordered and stacked across storage types give exactly
    /// candle's dequantisation of the whole tensor.
    #[test]
    fn blocks_of_rows_dequantise_as_candle_does() {
        for dtype in [
            GgmlDType::Q4_0,
            GgmlDType::Q4_1,
            GgmlDType::Q8_0,
            GgmlDType::Q4K,
        ] {
            let (rows, cols) = (300, 256);
            let (q, bytes) = quantised(rows, cols, dtype);
            let whole = q.dequantize(&Device::Cpu).unwrap();
            let m = QuantMatrix::new(dtype, (rows, cols), &bytes, None)
                .unwrap()
                .unwrap();
            assert_eq!(m.bytes(), bytes.len() as u64);
            assert_eq!(max_diff(&m.dequantize(0, rows).unwrap(), &whole), 0.0);
            let part = m.dequantize(17, 100).unwrap();
            assert_eq!(max_diff(&part, &whole.narrow(0, 17, 100).unwrap()), 0.0);
            let ids = [5u32, 299, 0, 5];
            let idx = Tensor::new(&ids, &Device::Cpu).unwrap();
            let picked = whole.index_select(&idx, 0).unwrap();
            assert_eq!(max_diff(&m.gather(&ids).unwrap(), &picked), 0.0);
            let order: Vec<usize> = (0..rows).rev().collect();
            let reversed = QuantMatrix::new(dtype, (rows, cols), &bytes, Some(&order))
                .unwrap()
                .unwrap();
            let back = reversed.gather(&[299]).unwrap();
            assert_eq!(max_diff(&back, &whole.narrow(0, 0, 1).unwrap()), 0.0);
        }
        let (qa, a) = quantised(3, 64, GgmlDType::Q4_0);
        let (qb, b) = quantised(5, 64, GgmlDType::Q8_0);
        let ma = QuantMatrix::new(GgmlDType::Q4_0, (3, 64), &a, None)
            .unwrap()
            .unwrap();
        let mb = QuantMatrix::new(GgmlDType::Q8_0, (5, 64), &b, None)
            .unwrap()
            .unwrap();
        let both = QuantMatrix::stack(&[ma, mb]).unwrap();
        let expected = Tensor::cat(
            &[
                qa.dequantize(&Device::Cpu).unwrap(),
                qb.dequantize(&Device::Cpu).unwrap(),
            ],
            0,
        )
        .unwrap();
        assert_eq!(max_diff(&both.dequantize(0, 8).unwrap(), &expected), 0.0);
        assert_eq!(
            max_diff(
                &both.dequantize(2, 3).unwrap(),
                &expected.narrow(0, 2, 3).unwrap()
            ),
            0.0
        );
    }

    /// The dequantisers compiled for this CPU's widest instruction set give the bits of the baseline build.
    #[test]
    fn every_instruction_set_gives_the_same_bits() {
        type Kernels = (Dequantize, fn(&[u8], &mut [MaybeUninit<f32>]));
        let cases: [(GgmlDType, Kernels); 3] = [
            (GgmlDType::Q4_0, (dequantize_q4_0, dequantize_q4_0_generic)),
            (GgmlDType::Q4_1, (dequantize_q4_1, dequantize_q4_1_generic)),
            (GgmlDType::Q8_0, (dequantize_q8_0, dequantize_q8_0_generic)),
        ];
        for (dtype, (best, generic)) in cases {
            let (_, bytes) = quantised(8, 256, dtype);
            let mut a = vec![MaybeUninit::new(0f32); 8 * 256];
            let mut b = vec![MaybeUninit::new(0f32); 8 * 256];
            generic(&bytes, &mut a);
            best(&bytes, &mut b);
            // SAFETY: initialised above (and overwritten by the kernels).
            let bits = |v: &[MaybeUninit<f32>]| {
                v.iter()
                    .map(|x| unsafe { x.assume_init() }.to_bits())
                    .collect::<Vec<_>>()
            };
            assert_eq!(bits(&a), bits(&b), "{dtype:?}");
        }
    }

    /// Quantised weights multiplied on AMX tiles (`--dtype bf16`), dequantised a band at a time, multiply exactly
    /// as their values dequantised, rounded to bf16 and packed whole do, and read back the same rows; packed
    /// whole for decoding, the same again.
    #[test]
    fn quantised_weights_on_tiles_multiply_as_their_bf16_values() {
        if !crate::model::amx::available() {
            eprintln!("skipped: this CPU or kernel has no AMX");
            return;
        }
        use crate::model::amx::{Layout, Tiles};
        for (dtype, (rows, cols), m) in [
            (GgmlDType::Q4_1, (300, 64), 7),
            (GgmlDType::Q8_0, (70, 96), 33),
            (GgmlDType::Q4_0, (600, 256), 40),
        ] {
            let (_, bytes) = quantised(rows, cols, dtype);
            let q = QuantMatrix::new(dtype, (rows, cols), &bytes, None)
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|| panic!("{dtype:?} not kept quantised"));
            let values: Vec<half::bf16> = q
                .dequantize(0, rows)
                .and_then(|t| Ok(t.flatten_all()?.to_vec1::<f32>()?))
                .unwrap_or_else(|e| panic!("{e}"))
                .into_iter()
                .map(half::bf16::from_f32)
                .collect();
            let packed = Tiles::pack(&values, (cols, rows), Layout::NByK);
            let on_tiles = Tiles::quantized(q.clone());
            let whole = on_tiles
                .packed_quantized()
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|| panic!("not quantised"));
            assert!(on_tiles.is_quantized() && !whole.is_quantized());
            assert_eq!(on_tiles.bytes(), q.bytes());
            let a: Vec<f32> = Tensor::randn(0f32, 1.0, (m, cols), &Device::Cpu)
                .and_then(|t| t.flatten_all()?.to_vec1())
                .unwrap_or_else(|e| panic!("{e}"));
            let want = packed.matmul(&a, m).unwrap_or_else(|e| panic!("{e}"));
            // Twice: the second product reuses buffers the first filled.
            for _ in 0..2 {
                let got = on_tiles.matmul(&a, m).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(got, want, "{dtype:?}");
            }
            assert_eq!(whole.matmul(&a, m).unwrap_or_else(|e| panic!("{e}")), want);
            let (mut x, mut y) = (vec![half::bf16::ZERO; cols], vec![half::bf16::ZERO; cols]);
            for j in [0, rows / 2, rows - 1] {
                on_tiles.column(j, &mut x);
                packed.column(j, &mut y);
                assert_eq!(x, y, "{dtype:?} row {j}");
            }
        }
    }

    #[test]
    fn plain_floats_and_partial_blocks_are_not_kept_quantised() {
        assert!(
            QuantMatrix::new(GgmlDType::F32, (1, 4), &[0; 16], None)
                .unwrap()
                .is_none()
        );
        assert!(
            QuantMatrix::new(GgmlDType::Q4_0, (1, 48), &[0; 36], None)
                .unwrap()
                .is_none()
        );
        assert!(QuantMatrix::new(GgmlDType::Q4_0, (2, 32), &[0; 18], None).is_err());
    }
}
