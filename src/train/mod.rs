//! Training on candle's autograd: supervised fine-tuning and DPO for the same decoder that scores
//! ([`crate::model::Decoder`] with [`crate::model::Kernels::Differentiable`]), saving Hugging Face checkpoints that
//! every part of creditlens (and transformers) opens like any other.

mod batch;
mod loss;
mod trainable;

pub use batch::{Batch, make_batch};
pub use loss::{dpo_loss, sequence_logps, sft_loss, softplus};
pub use trainable::TrainableModel;
