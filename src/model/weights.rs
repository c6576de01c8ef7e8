//! Weight loading: memory-maps a checkpoint's safetensors file(s), validates them up front (truncation, dtype) and
//! hands out tensors by name with their shape checked against what config.json implies.

use super::amx::Tiles;
use super::config::DecoderConfig;
use super::mapped::{MappedFile, MappedRows};
use super::matrix::Matrix;
use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Where a model's tensors come from: a checkpoint on disk, or (for training) variables in memory.
pub trait TensorSource {
    /// The tensor `name`, which must have exactly `shape`, converted to the source's compute dtype.
    fn tensor(&self, name: &str, shape: &[usize]) -> Result<Tensor>;
    /// A weight matrix (projection, embedding), held as stored when that is narrower than the compute dtype (a
    /// bf16 or f16 file computed in f32, a GGUF file's quantised blocks): the decoder widens it a projection at a
    /// time as it computes, so the model takes the file's size in memory and computes exactly as if widened at
    /// load. By default [`TensorSource::tensor`].
    fn matrix(&self, name: &str, shape: &[usize]) -> Result<Matrix> {
        Ok(Matrix::Dense(self.tensor(name, shape)?))
    }
    /// Whether a tensor `name` exists.
    fn contains(&self, name: &str) -> bool;
}

/// Where one tensor of a checkpoint lies: its shard, shape, dtype and byte range.
pub struct TensorInfo {
    file: usize,
    shape: Vec<usize>,
    dtype: DType,
    /// Byte range of its values in the file.
    start: usize,
    end: usize,
}

/// Which weight matrices [`SafetensorsWeights::matrix`] leaves where they lie in the mapped files instead of
/// copying them into memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InPlace {
    /// None: every matrix is copied (tensors for training, other compute dtypes).
    Off,
    /// bf16 matrices, as AMX tiles packed a band at a time as each product needs them ([`Tiles::in_place`]; for
    /// `--dtype bf16` on a CPU with AMX).
    AmxTiles,
    /// Every float matrix, multiplied where it lies (f32) or widened from there a block of rows at a time (bf16,
    /// f16): the exact f32 path ([`Matrix::InPlace`]).
    Rows,
}

/// The tensors of a checkpoint, memory-mapped from its safetensors file(s).
pub struct SafetensorsWeights {
    dir: PathBuf,
    files: Vec<PathBuf>,
    tensors: HashMap<String, TensorInfo>,
    mmaps: Vec<Arc<MappedFile>>,
    dtype: DType,
    /// Which weight matrices are handed out in place in the mapped files ([`Self::in_place`]).
    in_place: InPlace,
    device: Device,
    stored_dtypes: Vec<DType>,
    /// The names of the tensors read so far, to find those no layer of the configured model reads.
    read: Mutex<HashSet<String>>,
}

impl SafetensorsWeights {
    /// Opens and validates `files` (all shards of one checkpoint in `dir`); tensors are converted to `dtype`.
    pub fn open(dir: &Path, files: &[PathBuf], dtype: DType, device: &Device) -> Result<Self> {
        let mut tensors = HashMap::new();
        let mut stored_dtypes = Vec::new();
        let mut mmaps = Vec::with_capacity(files.len());
        for (index, path) in files.iter().enumerate() {
            mmaps.push(Arc::new(validate_file(
                path,
                index,
                &mut tensors,
                &mut stored_dtypes,
            )?));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            files: files.to_vec(),
            tensors,
            mmaps,
            dtype,
            in_place: InPlace::Off,
            device: device.clone(),
            stored_dtypes,
            read: Mutex::default(),
        })
    }

    /// Hands out weight matrices left in place in the mapped files as `mode` says, so that loading copies no
    /// weight and the model's memory is the files' cached pages; the files' pages are then mapped up front (one
    /// system call rather than a fault per page).
    pub fn in_place(mut self, mode: InPlace) -> Self {
        self.in_place = mode;
        #[cfg(target_os = "linux")]
        if mode != InPlace::Off {
            for m in &self.mmaps {
                // Older kernels lack MADV_POPULATE_READ: the pages are then mapped as they are first read.
                let _ = m.map().advise(memmap2::Advice::PopulateRead);
            }
        }
        self
    }

    /// The names of all tensors, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tensors.keys().cloned().collect();
        names.sort();
        names
    }

    /// The stored shape of tensor `name`.
    pub fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.tensors.get(name).map(|t| t.shape.clone())
    }

    /// The distinct dtypes the weights are stored in.
    pub fn stored_dtypes(&self) -> &[DType] {
        &self.stored_dtypes
    }

    /// Refuses weights the model built from `cfg` (read from `config`, its `architectures[0]` being
    /// `architecture`) left unread: layers beyond `num_hidden_layers`, or tensors the configured architecture has
    /// no place for. Either means config.json
    /// does not describe these weights, and the model would compute other numbers than the one trained. Buffers
    /// transformers also skips (rotary `inv_freq`, GPT-2's attention masks, a tied head's copy, TRL's value head)
    /// are allowed.
    pub fn check_all_read(
        &self,
        cfg: &DecoderConfig,
        architecture: &str,
        config: &Path,
    ) -> Result<()> {
        let read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        let unread: Vec<&String> = {
            let mut v: Vec<&String> = self
                .tensors
                .keys()
                .filter(|n| !read.contains(*n) && !skipped_buffer(n, cfg))
                .collect();
            v.sort();
            v
        };
        let Some(first) = unread.first() else {
            return Ok(());
        };
        let file = |name: &str| {
            self.tensors
                .get(name)
                .map(|t| self.files[t.file].display().to_string())
                .unwrap_or_default()
        };
        let deepest = unread.iter().filter_map(|n| layer_of(n)).max();
        let message = match deepest {
            Some(layer) if layer >= cfg.num_hidden_layers => format!(
                "field `num_hidden_layers` is {}, but {} holds layers up to {layer} (e.g. `{}`); set it to {} \
                 (a model cut short computes other numbers than the one trained)",
                cfg.num_hidden_layers,
                file(first),
                unread
                    .iter()
                    .find(|n| layer_of(n) == Some(layer))
                    .map_or(first.as_str(), |n| n.as_str()),
                layer + 1
            ),
            _ => format!(
                "{} holds {} tensor(s) a {} configured by this file has no place for: {}{}; config.json does not \
                 describe these weights (a wrong `architectures`, or a missing option such as `attention_bias`)",
                file(first),
                unread.len(),
                architecture,
                unread
                    .iter()
                    .take(4)
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if unread.len() > 4 { ", ..." } else { "" }
            ),
        };
        Err(Error::config(config, message))
    }
}

/// Tensors a checkpoint may hold that no model reads (transformers skips them too).
fn skipped_buffer(name: &str, cfg: &DecoderConfig) -> bool {
    name.ends_with("rotary_emb.inv_freq")
        || name.ends_with(".attn.bias")
        || name.ends_with(".attn.masked_bias")
        || name.ends_with(".attention.bias")
        || name.ends_with(".attention.masked_bias")
        || name.starts_with("v_head.")
        || (cfg.tie_word_embeddings && name == "lm_head.weight")
}

/// The decoder layer tensor `name` belongs to: `<prefix>.layers.N.<...>`, or GPT-2's `<prefix>.h.N.<...>`.
pub fn layer_of(name: &str) -> Option<usize> {
    name.split_once("layers.")
        .or_else(|| name.split_once(".h."))
        .or_else(|| name.strip_prefix("h.").map(|r| ("", r)))
        .and_then(|(_, r)| r.split('.').next())
        .and_then(|l| l.parse::<usize>().ok())
}

fn validate_file(
    path: &Path,
    index: usize,
    tensors: &mut HashMap<String, TensorInfo>,
    dtypes: &mut Vec<DType>,
) -> Result<MappedFile> {
    let mmap = MappedFile::open(path).map_err(|e| Error::io(path, e))?;
    validate_bytes(&mmap, path, index, tensors, dtypes)?;
    Ok(mmap)
}

/// Reads the header of the safetensors file `bytes` (shard `index` of the checkpoint, at `path` for messages),
/// adding its tensors to `tensors` and their dtypes to `dtypes`; refuses a corrupt header, a tensor whose data
/// lies outside the file, or a dtype creditlens cannot load.
pub fn validate_bytes(
    bytes: &[u8],
    path: &Path,
    index: usize,
    tensors: &mut HashMap<String, TensorInfo>,
    dtypes: &mut Vec<DType>,
) -> Result<()> {
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| Error::Safetensors {
        path: path.to_path_buf(),
        message: format!(
            "not a readable safetensors file ({e}); it is probably truncated or corrupt: copy or save it again"
        ),
    })?;
    for (name, view) in st.tensors() {
        let dtype = match view.dtype() {
            safetensors::Dtype::F32 => DType::F32,
            safetensors::Dtype::F16 => DType::F16,
            safetensors::Dtype::BF16 => DType::BF16,
            other => {
                return Err(Error::UnsupportedDtype {
                    path: path.to_path_buf(),
                    name,
                    dtype: format!("{other:?}"),
                });
            }
        };
        if !dtypes.contains(&dtype) {
            dtypes.push(dtype);
        }
        tensors.insert(
            name,
            TensorInfo {
                file: index,
                shape: view.shape().to_vec(),
                dtype,
                start: view.data().as_ptr() as usize - bytes.as_ptr() as usize,
                end: view.data().as_ptr() as usize - bytes.as_ptr() as usize + view.data().len(),
            },
        );
    }
    Ok(())
}

/// The non-finite values (NaN, +-Inf) among little-endian `bytes` of `dtype`: how many, and the first one's flat
/// index. Read from the stored bits (an all-ones exponent), so no copy is made.
pub fn non_finite(bytes: &[u8], dtype: DType) -> (usize, Option<usize>) {
    const F32: u32 = 0x7f80_0000;
    const F64: u64 = 0x7ff0_0000_0000_0000;
    let bad16 = |all: u16| move |b: [u8; 2]| u16::from_le_bytes(b) & all == all;
    let count16 = |all: u16| move |c: &[[u8; 2]]| all_ones_16(c, all);
    match dtype {
        DType::F32 => scan(
            bytes,
            |b: [u8; 4]| u32::from_le_bytes(b) & F32 == F32,
            |c| all_ones_32(c, F32),
        ),
        DType::BF16 => scan(bytes, bad16(0x7f80), count16(0x7f80)),
        DType::F16 => scan(bytes, bad16(0x7c00), count16(0x7c00)),
        DType::F64 => {
            let bad = |b: [u8; 8]| u64::from_le_bytes(b) & F64 == F64;
            scan(bytes, bad, |c| c.iter().filter(|v| bad(**v)).count())
        }
        _ => (0, None),
    }
}

crate::simd::best_simd! {
    /// How many of the little-endian u16 `values` have all the bits of `bits` set (an all-ones exponent).
    fn all_ones_16(values: &[[u8; 2]], bits: u16) -> usize = all_ones_16_generic;
}

crate::simd::best_simd! {
    /// How many of the little-endian u32 `values` have all the bits of `bits` set (an all-ones exponent).
    fn all_ones_32(values: &[[u8; 4]], bits: u32) -> usize = all_ones_32_generic;
}

#[inline(always)]
fn all_ones_16_generic(values: &[[u8; 2]], bits: u16) -> usize {
    values
        .iter()
        .map(|v| u32::from(u16::from_le_bytes(*v) & bits == bits))
        .sum::<u32>() as usize
}

#[inline(always)]
fn all_ones_32_generic(values: &[[u8; 4]], bits: u32) -> usize {
    values
        .iter()
        .map(|v| u32::from(u32::from_le_bytes(*v) & bits == bits))
        .sum::<u32>() as usize
}

/// [`non_finite`] for values of `N` bytes, `bad` telling a non-finite one and `count` counting them in a slice
/// (a kernel compiled for the CPU's vector instructions): counted in parallel chunks (a 3.4 GB checkpoint is
/// checked at memory speed), the first found only where some is.
fn scan<const N: usize>(
    bytes: &[u8],
    bad: impl Fn([u8; N]) -> bool + Sync,
    count: impl Fn(&[[u8; N]]) -> usize + Sync,
) -> (usize, Option<usize>) {
    use rayon::prelude::*;
    // Chunks of 64 Ki values: a chunk's count fits the kernels' u32 sums.
    const CHUNK: usize = 1 << 16;
    let (values, _) = bytes.as_chunks::<N>();
    let per_chunk: Vec<(usize, Option<usize>)> = values
        .par_chunks(CHUNK)
        .enumerate()
        .map(|(c, chunk)| {
            let count = count(chunk);
            let first = (count > 0)
                .then(|| chunk.iter().position(|v| bad(*v)))
                .flatten()
                .map(|i| c * CHUNK + i);
            (count, first)
        })
        .collect();
    let count = per_chunk.iter().map(|c| c.0).sum();
    (count, per_chunk.iter().find_map(|c| c.1))
}

/// The error for a weight holding non-finite values: refused at load, naming the tensor and the file, since every
/// number computed through it would be meaningless.
pub fn non_finite_error(
    path: &Path,
    name: &str,
    shape: &[usize],
    (count, first): (usize, Option<usize>),
) -> Error {
    let at = first.map_or(String::new(), |i| {
        let mut idx = Vec::with_capacity(shape.len());
        let mut rest = i;
        for &d in shape.iter().rev() {
            idx.push(rest % d.max(1));
            rest /= d.max(1);
        }
        idx.reverse();
        format!(", the first at {idx:?}")
    });
    Error::Safetensors {
        path: path.to_path_buf(),
        message: format!(
            "tensor `{name}` holds {count} non-finite value(s) (NaN or infinity){at}: every score computed through it would be meaningless; the checkpoint is corrupt or its training diverged (take an earlier checkpoint, or save it again)"
        ),
    }
}

impl SafetensorsWeights {
    /// Where tensor `name` lies, once checked: it exists, has exactly `shape` and holds only finite values. Marks
    /// it read.
    fn checked(&self, name: &str, shape: &[usize]) -> Result<&TensorInfo> {
        let info = self.tensors.get(name).ok_or_else(|| Error::MissingTensor {
            dir: self.dir.clone(),
            name: name.to_string(),
        })?;
        if info.shape != shape {
            return Err(Error::ShapeMismatch {
                implied_by: "config.json",
                path: self.files[info.file].clone(),
                name: name.to_string(),
                expected: shape.to_vec(),
                got: info.shape.clone(),
            });
        }
        self.read
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string());
        let mmap = &self.mmaps[info.file];
        let bad = non_finite(&mmap[info.start..info.end], info.dtype);
        if bad.0 > 0 {
            return Err(non_finite_error(&self.files[info.file], name, shape, bad));
        }
        Ok(info)
    }

    /// The tensor `name` (of exactly `shape`) in the dtype of its file.
    fn tensor_as_stored(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let info = self.checked(name, shape)?;
        self.copied(info)
    }

    /// The values of `info` copied into a tensor in the dtype of its file.
    fn copied(&self, info: &TensorInfo) -> Result<Tensor> {
        let mmap = &self.mmaps[info.file];
        let t = Tensor::from_raw_buffer(
            &mmap[info.start..info.end],
            info.dtype,
            &info.shape,
            &self.device,
        )?;
        // The values are copied: the file's pages can leave the process.
        release_pages(mmap.map(), info.start, info.end);
        Ok(t)
    }
}

/// Drops the whole pages of `mmap[start..end]` from the process once their values have been copied (they would
/// otherwise count in its resident memory next to the copy until the whole file is read). A later read of the
/// range maps them again from the file.
pub(crate) fn release_pages(mmap: &memmap2::Mmap, start: usize, end: usize) {
    let page = 4096;
    let first = start.div_ceil(page) * page;
    let last = (end / page * page).min(mmap.len() / page * page);
    if last > first {
        // SAFETY: DONTNEED on a read-only file mapping only drops the pages from this process; a later read of the
        // range maps them again from the file. No reference into the range outlives this call.
        let _ = unsafe {
            mmap.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, first, last - first)
        };
    }
}

impl TensorSource for SafetensorsWeights {
    fn tensor(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        Ok(self.tensor_as_stored(name, shape)?.to_dtype(self.dtype)?)
    }

    fn matrix(&self, name: &str, shape: &[usize]) -> Result<Matrix> {
        let info = self.checked(name, shape)?;
        let map = &self.mmaps[info.file];
        match (shape, self.in_place, info.dtype) {
            ([n, k], InPlace::AmxTiles, DType::BF16) => {
                if let Some(t) = Tiles::in_place(map.clone(), info.start, (*n, *k)) {
                    return Ok(Matrix::Tiles(Arc::new(t)));
                }
            }
            ([n, k], InPlace::Rows, _) => {
                if let Some(r) = MappedRows::new(map.clone(), info.start, (*n, *k), info.dtype) {
                    return Ok(Matrix::InPlace(Arc::new(r)));
                }
            }
            _ => {}
        }
        let t = self.copied(info)?;
        if t.dtype().size_in_bytes() < self.dtype.size_in_bytes() {
            Ok(Matrix::Dense(t))
        } else {
            Ok(Matrix::Dense(t.to_dtype(self.dtype)?))
        }
    }

    fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }
}

/// A tensor source that reports how far loading has come (0 to 1) as the decoder asks for its tensors, layer by
/// layer; for progress bars.
pub struct ProgressSource<'a> {
    inner: &'a dyn TensorSource,
    layers: usize,
    report: &'a dyn Fn(f32),
}

impl<'a> ProgressSource<'a> {
    /// Wraps `inner` for a model of `layers` decoder layers.
    pub fn new(inner: &'a dyn TensorSource, layers: usize, report: &'a dyn Fn(f32)) -> Self {
        Self {
            inner,
            layers,
            report,
        }
    }
}

impl TensorSource for ProgressSource<'_> {
    fn tensor(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let t = self.inner.tensor(name, shape)?;
        self.reached(name);
        Ok(t)
    }

    fn matrix(&self, name: &str, shape: &[usize]) -> Result<Matrix> {
        let t = self.inner.matrix(name, shape)?;
        self.reached(name);
        Ok(t)
    }

    fn contains(&self, name: &str) -> bool {
        self.inner.contains(name)
    }
}

impl ProgressSource<'_> {
    /// Reports the share loaded once tensor `name` is read.
    fn reached(&self, name: &str) {
        let layer = layer_of(name);
        let last = [
            "model.norm",
            "lm_head",
            "final_layer_norm",
            "embed_out",
            "ln_f",
        ];
        let done = match layer {
            Some(l) => (l + 1) as f32 / (self.layers + 1) as f32,
            None if last.iter().any(|n| name.contains(n)) => 1.0,
            None => 0.0,
        };
        (self.report)(done.min(1.0));
    }
}

/// Tensors held in memory under their checkpoint names (used for training and for models built in code).
pub struct MemoryWeights {
    /// The tensors by name.
    pub tensors: HashMap<String, Tensor>,
}

impl TensorSource for MemoryWeights {
    fn tensor(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let t = self.tensors.get(name).ok_or_else(|| Error::MissingTensor {
            dir: PathBuf::from("<memory>"),
            name: name.to_string(),
        })?;
        if t.dims() != shape {
            return Err(Error::ShapeMismatch {
                implied_by: "config.json",
                path: PathBuf::from("<memory>"),
                name: name.to_string(),
                expected: shape.to_vec(),
                got: t.dims().to_vec(),
            });
        }
        Ok(t.clone())
    }

    fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }
}

impl MemoryWeights {
    /// Random tensors of the given names and shapes (normal with std 0.02, as transformers'
    /// `initializer_range`; norms, the names ending in `norm.weight`, at 1), the same for the same `seed` on every
    /// machine. A family's file lists its names (`MemoryWeights::random` for the Llama family).
    pub(super) fn random_tensors(
        shapes: Vec<(String, Vec<usize>)>,
        dtype: DType,
        device: &Device,
        seed: u64,
    ) -> Result<Self> {
        let mut tensors = HashMap::new();
        let mut normal = Normal::new(seed);
        for (name, shape) in shapes {
            let t = if name.ends_with("norm.weight") {
                Tensor::ones(shape.as_slice(), dtype, device)?
            } else {
                let n = shape.iter().product();
                let values: Vec<f32> = (0..n).map(|_| 0.02 * normal.sample()).collect();
                Tensor::from_vec(values, shape.as_slice(), device)?.to_dtype(dtype)?
            };
            tensors.insert(name, t);
        }
        Ok(Self { tensors })
    }
}

/// Standard normal samples by the Box-Muller transform over [`crate::rng::Rng`]: reproducible across machines and
/// crate versions, unlike candle's CPU generator, which cannot be seeded.
struct Normal {
    rng: crate::rng::Rng,
    spare: Option<f32>,
}

impl Normal {
    fn new(seed: u64) -> Self {
        Self {
            rng: crate::rng::Rng::new(seed),
            spare: None,
        }
    }

    /// A uniform number in (0, 1] from 53 random bits.
    fn uniform(&mut self) -> f64 {
        ((self.rng.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    fn sample(&mut self) -> f32 {
        if let Some(x) = self.spare.take() {
            return x;
        }
        let (u, v) = (self.uniform(), self.uniform());
        let r = (-2.0 * u.ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * v;
        self.spare = Some((r * theta.sin()) as f32);
        (r * theta.cos()) as f32
    }
}
