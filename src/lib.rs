//! creditlens: token-level implicit rewards of DPO-trained language models.
//!
//! For a policy pi and its reference pi_ref, every response token y_t gets the implicit reward
//! `r_t = beta * (log pi(y_t | s_t) - log pi_ref(y_t | s_t))` (Rafailov et al., "From r to Q*", 2024). The
//! library loads Hugging Face checkpoints, LoRA adapters and GGUF files, by path or by Hub id from the local
//! Hugging Face cache ([`source`], [`hub`], [`model`]), tokenises records the way TRL does ([`tokenize`]), scores
//! them ([`score`]) and reads and writes data ([`data`], [`output`]). The command line (the `creditlens` binary)
//! and the desktop app ([`gui`]) are thin layers over it.

pub mod alloc;
pub mod chat;
pub mod checkpoint;
pub mod data;
pub mod defaults;
pub mod demo_assets;
pub mod drift;
pub mod error;
pub mod eval;
pub mod features;
pub mod fonts;
pub mod fuzz;
#[cfg(feature = "gui")]
pub mod gui;
pub mod heatmap;
pub mod hub;
pub mod jsonl;
pub mod memory;
pub mod model;
pub mod output;
pub mod partial_file;
pub mod render;
pub mod rng;
pub mod score;
pub mod scores_file;
pub mod search;
pub mod shard;
pub mod simd;
pub mod source;
pub mod task;
mod tensor_values;
pub mod textdiff;
pub mod threads;
pub mod tokenize;
pub mod train;
pub mod watch;
pub mod words;

pub use error::{Error, Result};
