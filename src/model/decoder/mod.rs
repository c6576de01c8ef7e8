//! The one decoder-only transformer every supported family runs on. A family's file (`llama.rs`, `gpt_neox.rs`)
//! only reads its checkpoint's tensors, by their own names, into these blocks ([`Parts`]); the forward passes are
//! the same for all. Unlike candle-transformers' causal LMs the decoder returns the hidden states of every
//! position, keeps a cloneable KV cache (so a prompt shared by several responses is computed once), and can run on
//! differentiable ops for training.
//!
//! - `linear`: projections (dense, held narrower or quantised, fused q/k/v and gate/up, LoRA unmerged);
//! - `attention`: grouped-query attention with partial rotary, sliding windows, soft-capping, and its masks;
//! - `norm`: RMSNorm and LayerNorm;
//! - `layer`: gated and plain MLPs, sequential or parallel residuals;
//! - `build`: the blocks a family file assembles from its tensor names, and [`Decoder::load`];
//! - `forward`: the forward passes (one sequence, packed continuations of a cached prefix, prefix and
//!   continuations together) and the logits;
//! - `cache`: the KV cache.

mod attention;
mod build;
mod cache;
mod forward;
mod layer;
mod linear;
mod norm;

pub(super) use attention::Attention;
pub(super) use build::{Parts, gated_mlp, llama_norms, standard_attention};
pub use cache::KvCache;
pub(super) use layer::{Layer, Mlp};
use linear::tensor_bytes;
pub(super) use linear::{Linear, Projections};
pub(super) use norm::Norm;

use super::config::DecoderConfig;
use super::lora::LowRank;
use super::matrix::Matrix;
use super::rope::Rope;
use crate::error::Result;
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;

/// Which implementation of the normalisation, rotary and softmax ops to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kernels {
    /// candle's fused kernels: fastest, no backward pass. For scoring and generation.
    #[default]
    Fused,
    /// Compositions of basic ops that candle can differentiate. For training.
    Differentiable,
    /// [`Kernels::Fused`] with every matrix product in bf16 (`--dtype bf16`, [`Decoder::with_bf16_products`]):
    /// dense weights are held in bf16 and, where the CPU has AMX, packed into its tiles as they load (from the
    /// checkpoint's `(out, in)` layout, with no transposed copy).
    FusedBf16,
}

impl Kernels {
    /// Whether candle's fused normalisation, rotary and softmax kernels run.
    pub fn fused(self) -> bool {
        self != Kernels::Differentiable
    }
}

/// A loaded decoder: embeddings, layers, final norm and LM head.
#[derive(Debug, Clone)]
pub struct Decoder {
    cfg: DecoderConfig,
    embed: Matrix,
    layers: Vec<Layer>,
    norm: Norm,
    lm_head: Linear,
    positions: Option<Tensor>,
    ropes: Vec<Rope>,
    kernels: Kernels,
    /// The dtype of its activations (weight matrices may be held narrower).
    dtype: DType,
    /// Where it computes.
    device: Device,
    /// Most attention scores computed at once per layer ([`attention::SCORE_ELEMENTS`] unless set).
    score_elements: usize,
    /// Whether its matrix products are in bf16 ([`Self::with_bf16_products`]).
    bf16_products: bool,
}

impl Decoder {
    /// The same decoder attending in blocks of query rows whenever a layer's scores would exceed `elements`
    /// values (at least one row per block). The numbers do not change; tests use small blocks to check that.
    pub fn with_attention_block(mut self, elements: usize) -> Self {
        self.score_elements = elements.max(1);
        self
    }

    /// The configuration the decoder was built from.
    pub fn config(&self) -> &DecoderConfig {
        &self.cfg
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The dtype of its activations: the compute dtype, except f32 for bf16 compute, whose matrix products alone
    /// take bf16 inputs ([`Self::compute_dtype`] names the compute dtype).
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// An empty cache for this decoder.
    pub fn new_cache(&self) -> KvCache {
        self.new_cache_for(0)
    }

    /// An empty cache for a sequence of `sequence_len` tokens in all (the positions fed plus any after them):
    /// with LongRoPE, that length picks the factors of every position, as in transformers' one forward pass.
    pub fn new_cache_for(&self, sequence_len: usize) -> KvCache {
        KvCache {
            layers: vec![None; self.layers.len()],
            len: 0,
            sequence_len,
        }
    }

    /// Whether a sequence of `len` tokens runs with LongRoPE's long factors.
    pub fn rope_is_long(&self, len: usize) -> bool {
        self.ropes.iter().any(|r| r.is_long(len))
    }

    /// Whether some weight is held quantised (a GGUF file's blocks).
    pub fn is_quantized(&self) -> bool {
        self.embed.is_quantized()
            || self.lm_head.is_quantized()
            || self.layers.iter().any(|l| {
                l.attn.qkv.is_quantized()
                    || l.attn.o.is_quantized()
                    || l.mlp.up.is_quantized()
                    || l.mlp.down.is_quantized()
            })
    }

    /// This decoder computing in bf16 as `--dtype bf16` does: every matrix product takes bf16 inputs (the weights
    /// held in bf16, each activation rounded to bf16 as it enters a product) and sums in f32, on AMX tiles where the
    /// CPU has them ([`crate::model::amx`]); norms, attention, activations and the residual stream stay in f32.
    /// Only f32 decoders change; quantised weights stay quantised and are rounded to bf16 as they multiply.
    ///
    /// It takes the decoder by value and converts one weight at a time, so that (unless another decoder shares them)
    /// each f32 or unpacked weight is freed as its converted form is made: no second copy of the model exists.
    pub fn with_bf16_products(self) -> Result<Decoder> {
        if self.dtype != DType::F32 {
            return Ok(self);
        }
        let mut d = self;
        let tied = d.lm_head.weight.same_as(&d.embed);
        if let Matrix::Dense(e) = &d.embed
            && tied
        {
            // The tied head keeps sharing the embeddings, now held in bf16.
            let e = e.to_dtype(DType::BF16)?;
            d.embed = Matrix::Dense(e.clone());
            d.lm_head = Linear::new(Matrix::Dense(e), None, Kernels::Differentiable)?;
        }
        d.lm_head = d.lm_head.with_bf16_products()?;
        if tied && let Matrix::Tiles(_) = &d.lm_head.weight {
            // The embeddings are read back from the head's tiles rather than held twice.
            d.embed = d.lm_head.weight.clone();
        }
        d.map_projections(Linear::with_bf16_products)?;
        d.bf16_products = true;
        Ok(d)
    }

    /// Replaces every layer's projections (q/k/v, output, gate/up, down) by `f` of them.
    fn map_projections(&mut self, f: impl Fn(&Linear) -> Result<Linear>) -> Result<()> {
        for layer in &mut self.layers {
            layer.attn.qkv = layer.attn.qkv.map(&f)?;
            layer.attn.o = f(&layer.attn.o)?;
            layer.mlp.up = layer.mlp.up.map(&f)?;
            layer.mlp.down = f(&layer.mlp.down)?;
        }
        Ok(())
    }

    /// The dtype it computes in as `--dtype` names it: bf16 when its products are ([`Self::with_bf16_products`]).
    pub fn compute_dtype(&self) -> crate::model::Dtype {
        if self.bf16_products {
            crate::model::Dtype::Bf16
        } else {
            crate::model::Dtype::from_candle(self.dtype)
        }
    }

    /// This decoder with every quantised weight dequantised once, in the compute dtype (the same numbers): what
    /// decoding token by token runs on, since dequantising every projection at every step would cost more than
    /// the step. It holds the weights at their compute size. `None` when nothing is quantised.
    pub fn densified(&self) -> Result<Option<Decoder>> {
        if !self.is_quantized() {
            return Ok(None);
        }
        let dtype = self.dtype;
        let mut d = self.clone();
        let tied = self.lm_head.weight.same_as(&self.embed);
        if let Matrix::Quantized(_) = &self.embed {
            d.embed = Matrix::Dense(self.embed.dense(dtype)?);
        }
        // Quantised weights multiplied on AMX tiles (`--dtype bf16`) are packed whole once.
        d.embed = d.embed.packed_quantized()?;
        d.lm_head = if tied {
            // The tied head keeps sharing the (now dense) embeddings.
            Linear::new(d.embed.clone(), None, Kernels::Differentiable)?
        } else {
            self.lm_head.densified(dtype)?
        };
        d.map_projections(|l| l.densified(dtype))?;
        Ok(Some(d))
    }

    /// This decoder with LoRA updates applied unmerged (PEFT's forward), sharing every base weight with it: a
    /// LoRA policy next to its base as the reference holds the base once. `None` when some update has no
    /// projection of that name here (a fused checkpoint tensor, the LM head), which only a merge applies.
    pub fn with_adapter(&self, factors: &HashMap<String, LowRank>) -> Result<Option<Decoder>> {
        let mut d = self.clone();
        let dtype = d.dtype;
        let mut used = 0;
        for layer in &mut d.layers {
            used += layer.attn.qkv.attach(factors, dtype)?;
            used += layer.attn.o.attach(factors, dtype)?;
            used += layer.mlp.up.attach(factors, dtype)?;
            used += layer.mlp.down.attach(factors, dtype)?;
        }
        Ok((used == factors.len()).then_some(d))
    }

    /// The names of the weights a LoRA update can be attached to ([`Decoder::with_adapter`]): the projections of
    /// every layer, as the checkpoint names them (`model.layers.0.self_attn.q_proj.weight`). Empty names are left
    /// out (a fused checkpoint tensor split at load).
    pub fn adaptable(&self) -> std::collections::BTreeSet<String> {
        let of = |p: &Projections| -> Vec<String> {
            let linears: Vec<&Linear> = match p {
                Projections::Fused { linear, .. } => vec![linear],
                Projections::Separate(parts) => parts.iter().collect(),
            };
            linears
                .into_iter()
                .flat_map(|l| l.names.iter().map(|(n, _)| n.clone()))
                .collect()
        };
        self.layers
            .iter()
            .flat_map(|l| {
                let mut names = of(&l.attn.qkv);
                names.extend(l.attn.o.names.iter().map(|(n, _)| n.clone()));
                names.extend(of(&l.mlp.up));
                names.extend(l.mlp.down.names.iter().map(|(n, _)| n.clone()));
                names
            })
            .collect()
    }

    /// Bytes of the LoRA updates applied unmerged (what a policy sharing its base with the reference adds).
    pub fn adapter_bytes(&self) -> u64 {
        let of = |p: &Projections| match p {
            Projections::Fused { linear, .. } => linear.lora_bytes(),
            Projections::Separate(parts) => parts.iter().map(Linear::lora_bytes).sum(),
        };
        self.layers
            .iter()
            .map(|l| {
                of(&l.attn.qkv) + l.attn.o.lora_bytes() + of(&l.mlp.up) + l.mlp.down.lora_bytes()
            })
            .sum()
    }

    /// How many of its weight matrices (a fused projection counting once, the embeddings and the head) are left in
    /// place in their checkpoint's mapped files.
    #[cfg(test)]
    pub(crate) fn matrices_in_place(&self) -> usize {
        let of = |m: &Matrix| {
            usize::from(
                matches!(m, Matrix::Tiles(t) if t.is_in_place()) || matches!(m, Matrix::InPlace(_)),
            )
        };
        let of_p = |p: &linear::Projections| match p {
            linear::Projections::Fused { linear, .. } => of(&linear.weight),
            linear::Projections::Separate(parts) => parts.iter().map(|l| of(&l.weight)).sum(),
        };
        of(&self.embed)
            + of(&self.lm_head.weight)
            + self
                .layers
                .iter()
                .map(|l| {
                    of_p(&l.attn.qkv)
                        + of(&l.attn.o.weight)
                        + of_p(&l.mlp.up)
                        + of(&l.mlp.down.weight)
                })
                .sum::<usize>()
    }

    /// Bytes the weights take in memory as held (matrices may be narrower than the compute dtype; a tied LM head
    /// shares the embeddings).
    pub fn weight_bytes(&self) -> u64 {
        let head = if self.lm_head.weight.same_as(&self.embed) {
            0
        } else {
            self.lm_head.bytes()
        };
        self.embed.bytes()
            + self.positions.as_ref().map_or(0, tensor_bytes)
            + self.layers.iter().map(Layer::bytes).sum::<u64>()
            + self.norm.bytes()
            + head
    }
}
