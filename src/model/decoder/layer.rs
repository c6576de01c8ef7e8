//! A decoder layer: its MLP, and how the two residual branches combine.

use super::Kernels;
use super::attention::Attention;
use super::linear::{Linear, Projections};
use super::norm::Norm;
use crate::error::Result;
use crate::model::config::MlpKind;
use candle_core::Tensor;

/// The feed-forward block: gated (`down(act(gate(x)) * up(x))`, Llama) or plain (`down(act(up(x)))`, GPT-NeoX).
#[derive(Debug, Clone)]
pub(in crate::model) struct Mlp {
    /// gate and up (gated), or up alone (plain).
    pub(in crate::model) up: Projections,
    pub(in crate::model) down: Linear,
    pub(in crate::model) kind: MlpKind,
}

impl Mlp {
    pub(super) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        // Inference over a fused gate/up projection in f32: the gated SiLU in one pass over its output.
        if matches!(self.kind, MlpKind::GatedSilu)
            && let Projections::Fused { linear, sizes } = &self.up
            && matches!(sizes.as_slice(), [g, u] if g == u)
        {
            let gate_up = linear.forward(x)?;
            if crate::model::kernels::applies(&gate_up) {
                let hidden = crate::model::kernels::silu_mul(&gate_up.contiguous()?)?;
                return self.down.forward(&hidden);
            }
        }
        let parts = self.up.forward(x)?;
        let hidden = match (self.kind, parts.as_slice()) {
            (MlpKind::GatedSilu, [gate, up]) => (candle_nn::ops::silu(gate)? * up)?,
            (MlpKind::GatedGeluTanh, [gate, up]) => (gate.gelu()? * up)?,
            (MlpKind::Gelu, [up]) => up.gelu_erf()?,
            (MlpKind::GeluTanh, [up]) => up.gelu()?,
            _ => return Err(candle_core::Error::Msg("MLP projection count".into()).into()),
        };
        self.down.forward(&hidden)
    }
}

/// One decoder layer: a norm before attention and one before the MLP (either may be absent, as in OLMo 2), and
/// optionally a norm on each branch's output (Gemma 2 and 3: post-attention and post-feedforward norms). The two
/// residual branches run one after the other (`x + attn`, then `+ mlp`) or in parallel from the same input
/// (GPT-NeoX's `use_parallel_residual`).
#[derive(Debug, Clone)]
pub(in crate::model) struct Layer {
    pub(in crate::model) input_norm: Option<Norm>,
    pub(in crate::model) attn: Attention,
    pub(in crate::model) attn_out_norm: Option<Norm>,
    pub(in crate::model) post_norm: Option<Norm>,
    pub(in crate::model) mlp: Mlp,
    pub(in crate::model) mlp_out_norm: Option<Norm>,
    pub(in crate::model) parallel: bool,
}

/// `norm(x)`, or `x` without a norm.
fn maybe_norm(norm: Option<&Norm>, x: &Tensor, kernels: Kernels) -> Result<Tensor> {
    match norm {
        Some(n) => n.forward(x, kernels),
        None => Ok(x.clone()),
    }
}

impl Layer {
    /// The layer over `x` given its attention output function.
    pub(super) fn forward(
        &self,
        x: Tensor,
        kernels: Kernels,
        attend: impl FnOnce(&Attention, &Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        let a = attend(
            &self.attn,
            &maybe_norm(self.input_norm.as_ref(), &x, kernels)?,
        )?;
        let a = maybe_norm(self.attn_out_norm.as_ref(), &a, kernels)?;
        let mlp = |h: &Tensor| -> Result<Tensor> {
            let m = self
                .mlp
                .forward(&maybe_norm(self.post_norm.as_ref(), h, kernels)?)?;
            maybe_norm(self.mlp_out_norm.as_ref(), &m, kernels)
        };
        if self.parallel {
            let m = mlp(&x)?;
            return Ok(((x + a)? + m)?);
        }
        let x = (x + a)?;
        let m = mlp(&x)?;
        Ok((x + m)?)
    }
}

impl Layer {
    pub(super) fn bytes(&self) -> u64 {
        let norms = [
            &self.input_norm,
            &self.attn_out_norm,
            &self.post_norm,
            &self.mlp_out_norm,
            &self.attn.q_norm,
            &self.attn.k_norm,
        ];
        norms
            .iter()
            .filter_map(|n| n.as_ref())
            .map(Norm::bytes)
            .sum::<u64>()
            + self.attn.qkv.bytes()
            + self.attn.o.bytes()
            + self.mlp.up.bytes()
            + self.mlp.down.bytes()
    }
}
