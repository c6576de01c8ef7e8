//! Training on candle's autograd: supervised fine-tuning and DPO for the same decoder that scores
//! ([`crate::model::Decoder`] with [`crate::model::Kernels::Differentiable`]), saving Hugging Face checkpoints that
//! every part of creditlens (and transformers) opens like any other.

mod batch;
mod demo;
mod loops;
mod loss;
mod tokenizer;
mod trainable;

pub use batch::{Batch, make_batch};
pub use demo::{DemoConfig, DemoReport, Progress, ReferenceData, train_demo};
pub use loops::{DpoPair, LogEntry, TrainConfig, batch_logps, train_dpo, train_sft, trainer_state};
pub use loss::{dpo_loss, sequence_logps, sft_loss, softplus};
pub use tokenizer::{END_OF_TEXT, TrainedTokenizer, train_tokenizer};
pub use trainable::TrainableModel;
