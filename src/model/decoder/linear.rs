//! Projections: a weight held dense (transposed for gemm), narrower than the computation or quantised, with an
//! optional bias and a LoRA update applied unmerged; several projections of one input fused into one product.

use super::Kernels;
use crate::error::{Error, Result};
use crate::model::amx;
use crate::model::in_place::InPlaceProduct;
use crate::model::lora::LowRank;
use crate::model::mapped::MappedRows;
use crate::model::matrix::Matrix;
use crate::model::quantized::QuantMatrix;
use crate::model::weights::TensorSource;
use crate::tensor_values::with_values;
use candle_core::{DType, Tensor};
use std::collections::HashMap;

/// Above this many values, a weight held narrower than the computation is widened a block of outputs at a time
/// (4 Mi values, 16 MB of f32).
const WIDEN_BLOCK_ELEMENTS: usize = 1 << 22;

/// From this many input rows, an f32 product by bf16 weights left in place runs exactly on AMX tiles where the
/// CPU has them ([`amx::Input::Exact`]); fewer rows (decoding a token or a few) widen the weights for gemm, as
/// tiles 32 rows high would mostly multiply padding.
const EXACT_TILES_MIN_ROWS: usize = 32;

/// A projection `x @ W^T + b`. For inference a dense weight is stored transposed and contiguous (`(in, out)`),
/// which gemm multiplies faster; for training it stays the checkpoint's `(out, in)` tensor so gradients reach it.
/// A quantised weight stays `(out, in)` and is dequantised a block of outputs at a time as it multiplies.
#[derive(Debug, Clone)]
pub(in crate::model) struct Linear {
    pub(super) weight: Matrix,
    pub(super) transposed: bool,
    pub(super) bias: Option<Tensor>,
    /// The checkpoint names of the weights it multiplies by, with their output sizes, in output order (several
    /// for fused projections; none when built from tensors of unknown name).
    pub(super) names: Vec<(String, usize)>,
    /// A LoRA update applied unmerged, as PEFT's forward does: `x A^T B^T`, kept as `A^T` `(in, r)` and `B^T`
    /// `(r, out)` with the scales folded into B.
    pub(super) lora: Option<(Tensor, Tensor)>,
    /// Multiply in bf16 (`--dtype bf16`): the input is rounded to bf16 and the sums are f32
    /// ([`super::Decoder::with_bf16_products`]).
    pub(super) bf16_products: bool,
}

impl Linear {
    /// Loads `{name}.weight` of shape `(out, inp)` (and `{name}.bias` when `bias`).
    pub(in crate::model) fn load(
        src: &dyn TensorSource,
        name: &str,
        (out, inp): (usize, usize),
        bias: bool,
        kernels: Kernels,
    ) -> Result<Self> {
        let weight = src.matrix(&format!("{name}.weight"), &[out, inp])?;
        let bias = if bias {
            Some(src.tensor(&format!("{name}.bias"), &[out])?)
        } else {
            None
        };
        let mut linear = Self::new(weight, bias, kernels)?;
        linear.names = vec![(format!("{name}.weight"), out)];
        Ok(linear)
    }

    /// A projection from a checkpoint's `(out, in)` weight and optional bias.
    pub(in crate::model) fn new(
        weight: impl Into<Matrix>,
        bias: Option<Tensor>,
        kernels: Kernels,
    ) -> Result<Self> {
        let linear = |weight, transposed| Self {
            weight,
            transposed,
            bias,
            names: Vec::new(),
            lora: None,
            bf16_products: false,
        };
        Ok(match weight.into() {
            w @ (Matrix::Dense(_) | Matrix::InPlace(_)) if kernels == Kernels::FusedBf16 => {
                linear(w, false).with_bf16_products()?
            }
            Matrix::Dense(w) if kernels == Kernels::Fused => {
                linear(Matrix::Dense(w.t()?.contiguous()?), true)
            }
            w => linear(w, false),
        })
    }

    /// Attaches the LoRA updates in `factors` of the weights this projection multiplies by (computed in `dtype`);
    /// returns how many it took. For fused projections the parts' updates form one low-rank product: A stacks
    /// the parts' A, and B places each part's B in its own rows and rank columns.
    pub(super) fn attach(
        &mut self,
        factors: &HashMap<String, LowRank>,
        dtype: DType,
    ) -> Result<usize> {
        let found: Vec<Option<&LowRank>> = self.names.iter().map(|(n, _)| factors.get(n)).collect();
        let ranks: Vec<usize> = found
            .iter()
            .map(|f| f.map_or(Ok(0), |f| f.a.dim(0)))
            .collect::<candle_core::Result<_>>()?;
        let rank: usize = ranks.iter().sum();
        if rank == 0 {
            return Ok(0);
        }
        // Each update must have its weight's shape: B (out, r), A (r, in).
        let inp = self.in_features()?;
        for (f, (name, out)) in found.iter().zip(&self.names) {
            let Some(f) = f else { continue };
            let (b_out, b_r) = f.b.dims2()?;
            let (a_r, a_in) = f.a.dims2()?;
            if (b_out, a_in) != (*out, inp) || a_r != b_r {
                return Err(Error::ShapeMismatch {
                    implied_by: "the base model",
                    path: std::path::PathBuf::new(),
                    name: format!("{name} (its LoRA update B A)"),
                    expected: vec![*out, inp],
                    got: vec![b_out, a_in],
                });
            }
        }
        let device = self.weight.device();
        let a = Tensor::cat(&found.iter().flatten().map(|f| &f.a).collect::<Vec<_>>(), 0)?;
        let mut rows = Vec::with_capacity(found.len());
        let mut col = 0;
        for ((f, &r), (_, out)) in found.iter().zip(&ranks).zip(&self.names) {
            let row = match f {
                None => Tensor::zeros((*out, rank), DType::F32, &device)?,
                Some(f) => {
                    let b = (&f.b * f.scale)?;
                    let mut parts = Vec::with_capacity(3);
                    if col > 0 {
                        parts.push(Tensor::zeros((*out, col), DType::F32, &device)?);
                    }
                    parts.push(b);
                    if col + r < rank {
                        parts.push(Tensor::zeros((*out, rank - col - r), DType::F32, &device)?);
                    }
                    Tensor::cat(&parts, 1)?
                }
            };
            rows.push(row);
            col += r;
        }
        let b = Tensor::cat(&rows, 0)?;
        self.lora = Some((
            a.t()?.contiguous()?.to_dtype(dtype)?,
            b.t()?.contiguous()?.to_dtype(dtype)?,
        ));
        Ok(found.iter().flatten().count())
    }

    pub(super) fn in_features(&self) -> Result<usize> {
        Ok(match &self.weight {
            Matrix::Dense(w) => w.dim(if self.transposed { 0 } else { 1 })?,
            Matrix::Quantized(q) => q.cols(),
            Matrix::Tiles(t) => t.dims().1,
            Matrix::InPlace(r) => r.dims().1,
        })
    }

    pub(super) fn out_features(&self) -> Result<usize> {
        Ok(match &self.weight {
            Matrix::Dense(w) => w.dim(if self.transposed { 1 } else { 0 })?,
            Matrix::Quantized(q) => q.rows(),
            Matrix::Tiles(t) => t.dims().0,
            Matrix::InPlace(r) => r.dims().0,
        })
    }

    /// `x2 @ W^T` for `x2` of `(rows, in)`. A weight held in another form than the computation (bf16 or quantised
    /// in an f32 run) is widened for this product only, a block of outputs at a time when it is large (a
    /// vocabulary matrix), so no full-width copy of a large matrix exists at once.
    pub(super) fn product(&self, x2: &Tensor) -> Result<Tensor> {
        let dtype = x2.dtype();
        let inp = x2.dim(1)?;
        // bf16 products: the input rounded to bf16, times the bf16 weight, summed in f32; on AMX tiles packed at
        // load where the CPU has them, else widened to f32 (the same products; only the order of the sums differs).
        if let Matrix::Tiles(t) = &self.weight {
            let x2 = x2.to_dtype(DType::F32)?.contiguous()?;
            let y = x2.apply_op1_no_bwd(&amx::TilesProduct(t, amx::Input::Rounded))?;
            return Ok(y.to_dtype(dtype)?);
        }
        // The exact f32 path with bf16 weights in place: on AMX tiles, the input split into three bf16 parts
        // (every product exact, the sums f32's), several times gemm's speed at f32.
        if let Matrix::InPlace(r) = &self.weight
            && !self.bf16_products
            && dtype == DType::F32
            && r.dtype() == DType::BF16
            && x2.dim(0)? >= EXACT_TILES_MIN_ROWS
            && amx::available()
            && let Some(t) = amx::Tiles::from_rows((**r).clone())
        {
            let x2 = x2.contiguous()?;
            return Ok(x2.apply_op1_no_bwd(&amx::TilesProduct(&t, amx::Input::Exact))?);
        }
        let rounded;
        let x2 = if self.bf16_products && dtype == DType::F32 {
            rounded = x2.to_dtype(DType::BF16)?.to_dtype(DType::F32)?;
            &rounded
        } else {
            x2
        };
        // f32 weights left in place in their file: gemm reads them there.
        if let Matrix::InPlace(r) = &self.weight
            && r.dtype() == dtype
            && dtype == DType::F32
        {
            let x2 = x2.contiguous()?;
            return Ok(x2.apply_op1_no_bwd(&InPlaceProduct(r))?);
        }
        if let Matrix::Dense(w) = &self.weight
            && (w.dtype() == dtype || w.elem_count() <= WIDEN_BLOCK_ELEMENTS)
        {
            let widened;
            let w = if w.dtype() == dtype {
                w
            } else {
                widened = w.to_dtype(dtype)?;
                &widened
            };
            return Ok(if self.transposed {
                x2.matmul(w)?
            } else {
                x2.matmul(&w.t()?)?
            });
        }
        let out = self.out_features()?;
        let block = if out * inp <= WIDEN_BLOCK_ELEMENTS {
            out
        } else {
            (WIDEN_BLOCK_ELEMENTS / inp).max(1)
        };
        let mut parts = Vec::with_capacity(out.div_ceil(block));
        let mut at = 0;
        while at < out {
            let n = block.min(out - at);
            let w = match &self.weight {
                Matrix::Dense(w) if self.transposed => w.narrow(1, at, n)?.to_dtype(dtype)?,
                // bf16 products of a quantised weight take its values rounded to bf16, as on AMX tiles.
                m @ Matrix::Quantized(_) if self.bf16_products && dtype == DType::F32 => {
                    m.rows(at, n, DType::BF16)?.to_dtype(dtype)?.t()?
                }
                m => m.rows(at, n, dtype)?.t()?,
            };
            parts.push(x2.matmul(&w)?);
            at += n;
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Tensor::cat(&parts, 1)?
        })
    }

    /// `x @ W^T + b` over the last dimension; leading dimensions are flattened into one matmul.
    pub(super) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims();
        let inp = dims[dims.len() - 1];
        let rows = x.elem_count() / inp;
        let x2 = x.reshape((rows, inp))?;
        let out = self.out_features()?;
        let y = self.product(&x2)?;
        let y = match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        };
        let y = match &self.lora {
            Some((a_t, b_t)) => (y + x2.matmul(a_t)?.matmul(b_t)?)?,
            None => y,
        };
        let mut out_dims = dims[..dims.len() - 1].to_vec();
        out_dims.push(out);
        Ok(y.reshape(out_dims)?)
    }
}

/// AMX tiles of checkpoint weights `(out_i, in)` stacked by outputs.
fn pack_rows(weights: &[Tensor]) -> Result<amx::Tiles> {
    let k = match weights.first() {
        Some(w) => w.dim(1)?,
        None => 0,
    };
    let weights: Vec<&Tensor> = weights.iter().collect();
    with_values(&weights, |v: &[&[half::bf16]]| amx::Tiles::pack_rows(v, k))
}

/// Several projections of the same input (q/k/v, or gate/up). For inference they are one matmul over the
/// concatenated weights (wider and fewer gemm calls); for training they stay separate so each tensor gets its
/// gradient.
#[derive(Debug, Clone)]
pub(in crate::model) enum Projections {
    Fused { linear: Linear, sizes: Vec<usize> },
    Separate(Vec<Linear>),
}

impl Projections {
    /// Loads `names` (each with its output size), all reading `inp` features.
    pub(in crate::model) fn load(
        src: &dyn TensorSource,
        names: &[(String, usize)],
        inp: usize,
        bias: bool,
        kernels: Kernels,
    ) -> Result<Self> {
        let parts = names
            .iter()
            .map(|(name, out)| Linear::load(src, name, (*out, inp), bias, Kernels::Differentiable))
            .collect::<Result<Vec<_>>>()?;
        Self::from_parts(parts, kernels)
    }

    /// Projections from `(out, in)` weights and optional biases, e.g. split from a checkpoint's fused tensor.
    pub(in crate::model) fn from_tensors(
        parts: Vec<(Tensor, Option<Tensor>)>,
        kernels: Kernels,
    ) -> Result<Self> {
        let parts = parts
            .into_iter()
            .map(|(w, b)| Linear::new(w, b, Kernels::Differentiable))
            .collect::<Result<Vec<_>>>()?;
        Self::from_parts(parts, kernels)
    }

    pub(super) fn from_parts(parts: Vec<Linear>, kernels: Kernels) -> Result<Self> {
        if kernels == Kernels::Differentiable {
            return Ok(Projections::Separate(parts));
        }
        let biases: Option<Vec<&Tensor>> = parts.iter().map(|l| l.bias.as_ref()).collect();
        let bias = match biases {
            Some(b) => Some(Tensor::cat(&b, 0)?),
            None => None,
        };
        let sizes = parts
            .iter()
            .map(Linear::out_features)
            .collect::<Result<Vec<_>>>()?;
        // Quantised parts stay quantised, stacked by rows.
        let quantised: Option<Vec<QuantMatrix>> = parts
            .iter()
            .map(|l| match &l.weight {
                Matrix::Quantized(q) => Some(q.clone()),
                _ => None,
            })
            .collect();
        let dense: Option<Vec<Tensor>> = parts
            .iter()
            .map(|l| match &l.weight {
                Matrix::Dense(w) if !l.transposed && w.device().is_cpu() => Some(w.clone()),
                _ => None,
            })
            .collect();
        // Weights left in place in their files stay there, stacked by rows.
        let in_place: Option<Vec<&amx::Tiles>> = parts
            .iter()
            .map(|l| match &l.weight {
                Matrix::Tiles(t) if t.is_in_place() => Some(&**t),
                _ => None,
            })
            .collect();
        let in_place = in_place.as_deref().and_then(amx::Tiles::stack);
        let mapped: Option<Vec<&MappedRows>> = parts
            .iter()
            .map(|l| match &l.weight {
                Matrix::InPlace(r) => Some(&**r),
                _ => None,
            })
            .collect();
        let mapped = mapped.as_deref().and_then(MappedRows::stack);
        let mut linear = match (quantised.as_deref().and_then(QuantMatrix::stack), dense) {
            (Some(q), _) => Linear::new(Matrix::Quantized(q), bias, Kernels::Fused)?,
            _ if let Some(r) = mapped => {
                Linear::new(Matrix::InPlace(std::sync::Arc::new(r)), bias, kernels)?
            }
            _ if let Some(t) = in_place => {
                let mut l = Linear::new(Matrix::Tiles(std::sync::Arc::new(t)), bias, kernels)?;
                l.bf16_products = true;
                l
            }
            (None, Some(dense)) if kernels == Kernels::FusedBf16 && amx::available() => {
                // Packed from the parts themselves: no stacked copy.
                let tiles = pack_rows(&dense)?;
                let mut l = Linear::new(Matrix::Tiles(std::sync::Arc::new(tiles)), bias, kernels)?;
                l.bf16_products = true;
                l
            }
            (None, _) => {
                // Parts held in different dtypes (shards saved apart, a quantised part beside a float one) are
                // joined in f32, which holds each exactly.
                let dtype = match &parts[0].weight {
                    Matrix::Dense(w) => w.dtype(),
                    Matrix::Tiles(_) => DType::BF16,
                    Matrix::InPlace(r) => r.dtype(),
                    Matrix::Quantized(_) => DType::F32,
                };
                let same = parts.iter().all(|l| l.weight.stored_dtype() == Some(dtype));
                let dtype = if same { dtype } else { DType::F32 };
                let weights = parts
                    .iter()
                    .map(|l| l.weight.dense(dtype))
                    .collect::<Result<Vec<_>>>()?;
                Linear::new(Tensor::cat(&weights, 0)?, bias, kernels)?
            }
        };
        // The fused product knows its parts' names only if every part does.
        if parts.iter().all(|l| l.names.len() == 1) {
            linear.names = parts.iter().flat_map(|l| l.names.clone()).collect();
        }
        Ok(Projections::Fused { linear, sizes })
    }

    pub(super) fn forward(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        match self {
            Projections::Separate(parts) => parts.iter().map(|l| l.forward(x)).collect(),
            Projections::Fused { linear, sizes } => {
                let y = linear.forward(x)?;
                let last = y.rank() - 1;
                let mut at = 0;
                sizes
                    .iter()
                    .map(|&n| {
                        let part = y.narrow(last, at, n)?;
                        at += n;
                        Ok(part)
                    })
                    .collect()
            }
        }
    }
}

/// Bytes of a tensor's values.
pub(super) fn tensor_bytes(t: &Tensor) -> u64 {
    (t.elem_count() * t.dtype().size_in_bytes()) as u64
}

impl Linear {
    pub(super) fn bytes(&self) -> u64 {
        self.weight.bytes()
            + self.bias.as_ref().map_or(0, tensor_bytes)
            + self
                .lora
                .as_ref()
                .map_or(0, |(a, b)| tensor_bytes(a) + tensor_bytes(b))
    }

    /// Bytes of its LoRA update alone.
    pub(super) fn lora_bytes(&self) -> u64 {
        self.lora
            .as_ref()
            .map_or(0, |(a, b)| tensor_bytes(a) + tensor_bytes(b))
    }
}

impl Projections {
    pub(super) fn bytes(&self) -> u64 {
        match self {
            Projections::Fused { linear, .. } => linear.bytes(),
            Projections::Separate(parts) => parts.iter().map(Linear::bytes).sum(),
        }
    }
}

impl Linear {
    /// Whether its weight is held quantised.
    pub(super) fn is_quantized(&self) -> bool {
        self.weight.is_quantized()
    }

    /// This projection multiplying in bf16 ([`super::Decoder::with_bf16_products`]): a dense weight is held in bf16
    /// (rounded to nearest even if wider), packed into AMX tiles once where the CPU has them; a quantised one stays
    /// quantised and is dequantised and rounded to bf16 as it multiplies (a band at a time on AMX tiles, else a
    /// block at a time).
    pub(super) fn with_bf16_products(&self) -> Result<Linear> {
        let mut l = self.clone();
        if let Matrix::Quantized(q) = &self.weight
            && amx::available()
        {
            // Dequantised a band at a time as it multiplies, rounded to bf16 as a bf16 weight would be.
            l.weight = Matrix::Tiles(std::sync::Arc::new(amx::Tiles::quantized(q.clone())));
            l.transposed = false;
            l.bf16_products = true;
            return Ok(l);
        }
        if let Matrix::Quantized(_) = &self.weight {
            // Without AMX: dequantised a block at a time and rounded to bf16 as it multiplies (the same numbers).
            l.bf16_products = true;
            return Ok(l);
        }
        if let Matrix::InPlace(r) = &self.weight {
            // Rows left in place for the f32 path are read into memory first (then packed or held in bf16).
            l.weight = Matrix::Dense(self.weight.dense(r.dtype())?);
            l.transposed = false;
            return l.with_bf16_products();
        }
        if let Matrix::Dense(w) = &self.weight {
            let w = w.to_dtype(DType::BF16)?;
            l.weight = if w.device().is_cpu() && amx::available() {
                let tiles = if self.transposed {
                    let (k, n) = w.dims2()?;
                    with_values(&[&w], |v: &[&[half::bf16]]| {
                        amx::Tiles::pack(v[0], (k, n), amx::Layout::KByN)
                    })?
                } else {
                    pack_rows(&[w])?
                };
                l.transposed = false;
                Matrix::Tiles(std::sync::Arc::new(tiles))
            } else if self.transposed {
                Matrix::Dense(w)
            } else {
                // Stored transposed, as [`Kernels::Fused`] holds a dense weight for gemm.
                l.transposed = true;
                Matrix::Dense(w.t()?.contiguous()?)
            };
            l.bf16_products = true;
        }
        Ok(l)
    }

    /// The projection with a quantised weight dequantised once into `dtype` (stored transposed, as a dense
    /// inference weight is; on AMX tiles, packed whole in bf16), for work that multiplies by it many times over few
    /// tokens (decoding).
    pub(super) fn densified(&self, dtype: DType) -> Result<Linear> {
        let mut l = self.clone();
        l.weight = self.weight.packed_quantized()?;
        if let Matrix::Quantized(_) = &self.weight {
            l.weight = Matrix::Dense(self.weight.dense(dtype)?.t()?.contiguous()?);
            l.transposed = true;
        }
        Ok(l)
    }
}

impl Projections {
    pub(super) fn is_quantized(&self) -> bool {
        match self {
            Projections::Fused { linear, .. } => linear.is_quantized(),
            Projections::Separate(parts) => parts.iter().any(Linear::is_quantized),
        }
    }

    /// These projections with each linear layer replaced by `f` of it.
    pub(super) fn map(&self, f: impl Fn(&Linear) -> Result<Linear>) -> Result<Projections> {
        Ok(match self {
            Projections::Fused { linear, sizes } => Projections::Fused {
                linear: f(linear)?,
                sizes: sizes.clone(),
            },
            Projections::Separate(parts) => {
                Projections::Separate(parts.iter().map(f).collect::<Result<_>>()?)
            }
        })
    }
}

impl Projections {
    pub(super) fn attach(
        &mut self,
        factors: &HashMap<String, LowRank>,
        dtype: DType,
    ) -> Result<usize> {
        match self {
            Projections::Fused { linear, .. } => linear.attach(factors, dtype),
            Projections::Separate(parts) => {
                let mut n = 0;
                for p in parts {
                    n += p.attach(factors, dtype)?;
                }
                Ok(n)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// The largest |a - b| over all values.
    use crate::tensor_values::max_abs_difference as max_diff;

    /// `t` rounded to bf16 and widened back to f32.
    fn round(t: &Tensor) -> Tensor {
        t.to_dtype(DType::BF16)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
    }

    /// A bf16 matrix too large to widen whole (a vocabulary head) gives, block by block, exactly the product with
    /// the whole matrix widened, in both storage layouts.
    #[test]
    pub(super) fn large_narrow_weights_widen_by_blocks_with_the_same_numbers() {
        let device = Device::Cpu;
        let (out, inp) = (WIDEN_BLOCK_ELEMENTS / 64 + 77, 64);
        let w = Tensor::randn(0f32, 1.0, (out, inp), &device)
            .unwrap()
            .to_dtype(DType::BF16)
            .unwrap();
        let x = Tensor::randn(0f32, 1.0, (3, 5, inp), &device).unwrap();
        let exact = x
            .reshape((15, inp))
            .unwrap()
            .matmul(&w.to_dtype(DType::F32).unwrap().t().unwrap())
            .unwrap()
            .reshape((3, 5, out))
            .unwrap();
        for kernels in [Kernels::Fused, Kernels::Differentiable] {
            let linear = Linear::new(w.clone(), None, kernels).unwrap();
            let y = linear.forward(&x).unwrap();
            assert_eq!(y.dims(), &[3, 5, out]);
            let diff = max_diff(&y, &exact);
            assert!(diff < 1e-5, "{kernels:?}: {diff}");
        }
    }

    /// bf16 products (`--dtype bf16`) equal the f32 product of the bf16-rounded input and the bf16 weight, whichever
    /// kernel runs them (AMX tiles where the CPU has them, else widened to f32), in both storage layouts, for an f32
    /// weight (rounded once) and a bf16 one.
    #[test]
    fn bf16_products_multiply_the_rounded_input_by_the_bf16_weight() {
        let device = Device::Cpu;
        let (out, inp) = (70, 150);
        let w32 = Tensor::randn(0f32, 1.0, (out, inp), &device).unwrap();
        let x = Tensor::randn(0f32, 1.0, (2, 9, inp), &device).unwrap();
        let want = round(&x)
            .reshape((18, inp))
            .unwrap()
            .matmul(&round(&w32).t().unwrap())
            .unwrap();
        for w in [w32.clone(), w32.to_dtype(DType::BF16).unwrap()] {
            for kernels in [Kernels::Fused, Kernels::Differentiable] {
                let linear = Linear::new(w.clone(), None, kernels)
                    .unwrap()
                    .with_bf16_products()
                    .unwrap();
                let y = linear.forward(&x).unwrap().reshape((18, out)).unwrap();
                assert_eq!(y.dtype(), DType::F32);
                let diff = max_diff(&y, &want);
                assert!(diff < 1e-4, "{kernels:?} {:?}: {diff}", w.dtype());
            }
        }
    }

    /// A quantised weight's bf16 products (`--dtype bf16` on a GGUF file) multiply the rounded input by its
    /// values rounded to bf16, whether on AMX tiles or (without AMX) dequantised a block at a time.
    #[test]
    fn bf16_products_of_a_quantised_weight_take_its_values_in_bf16() {
        use candle_core::quantized::{GgmlDType, QTensor};
        let device = Device::Cpu;
        let (out, inp) = (70, 256);
        let w = Tensor::randn(0f32, 1.0, (out, inp), &device).unwrap();
        let q = QTensor::quantize(&w, GgmlDType::Q4_1).unwrap();
        let bytes = q.data().unwrap().to_vec();
        let q = QuantMatrix::new(GgmlDType::Q4_1, (out, inp), &bytes, None)
            .unwrap()
            .unwrap();
        let x = Tensor::randn(0f32, 1.0, (2, 9, inp), &device).unwrap();
        let dequantised = q.dequantize(0, out).unwrap();
        let want = round(&x)
            .reshape((18, inp))
            .unwrap()
            .matmul(&round(&dequantised).t().unwrap())
            .unwrap();
        let in_f32 = round(&x)
            .reshape((18, inp))
            .unwrap()
            .matmul(&dequantised.t().unwrap())
            .unwrap();
        assert!(
            max_diff(&want, &in_f32) > 1e-3,
            "rounding the weights shows"
        );
        let linear = Linear::new(Matrix::Quantized(q.clone()), None, Kernels::Fused).unwrap();
        let on_amx = linear.with_bf16_products().unwrap();
        // The path of a CPU without AMX, whatever this one has.
        let mut widened = linear.clone();
        widened.bf16_products = true;
        for l in [on_amx, widened] {
            let y = l.forward(&x).unwrap().reshape((18, out)).unwrap();
            let diff = max_diff(&y, &want);
            assert!(diff < 1e-4, "{:?}: {diff}", l.weight.stored_dtype());
        }
    }
}
