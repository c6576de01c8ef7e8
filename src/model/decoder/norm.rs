//! The norms of a decoder: RMSNorm and LayerNorm, fused for scoring or differentiable for training.

use super::Kernels;
use super::linear::tensor_bytes;
use crate::error::Result;
use crate::model::config::NormKind;
use crate::model::weights::TensorSource;
use candle_core::Tensor;

/// RMSNorm (weight only) or LayerNorm (weight and bias), as the family uses.
#[derive(Debug, Clone)]
pub(in crate::model) struct Norm {
    pub(super) weight: Tensor,
    pub(super) bias: Option<Tensor>,
    pub(super) eps: f32,
}

impl Norm {
    /// Loads `{name}.weight` (and, for LayerNorm, `{name}.bias`) of `size` features.
    pub(in crate::model) fn load(
        src: &dyn TensorSource,
        name: &str,
        size: usize,
        kind: NormKind,
        eps: f64,
    ) -> Result<Self> {
        let bias = match kind {
            NormKind::Rms => None,
            NormKind::Layer => Some(src.tensor(&format!("{name}.bias"), &[size])?),
        };
        Ok(Self {
            weight: src.tensor(&format!("{name}.weight"), &[size])?,
            bias,
            eps: eps as f32,
        })
    }

    /// Number of features normalised.
    pub(in crate::model) fn size(&self) -> usize {
        self.weight.elem_count()
    }

    /// The same norm scaling by `1 + weight` (Gemma's RMSNorm), folded into the weight.
    pub(in crate::model) fn plus_one(self) -> Result<Self> {
        Ok(Self {
            weight: (self.weight + 1.0)?,
            ..self
        })
    }

    pub(super) fn forward(&self, x: &Tensor, kernels: Kernels) -> Result<Tensor> {
        Ok(match (&self.bias, kernels.fused()) {
            (None, true) => candle_nn::ops::rms_norm(&x.contiguous()?, &self.weight, self.eps)?,
            (None, false) => candle_nn::ops::rms_norm_slow(x, &self.weight, self.eps)?,
            (Some(b), true) => {
                candle_nn::ops::layer_norm(&x.contiguous()?, &self.weight, b, self.eps)?
            }
            (Some(b), false) => candle_nn::ops::layer_norm_slow(x, &self.weight, b, self.eps)?,
        })
    }
}

impl Norm {
    pub(super) fn bytes(&self) -> u64 {
        tensor_bytes(&self.weight) + self.bias.as_ref().map_or(0, tensor_bytes)
    }
}
