//! What a model path given by the user points at — a Hugging Face checkpoint directory or a PEFT LoRA adapter
//! directory — and loading the model and tokenizer it stands for.
//!
//! An adapter needs its base checkpoint: the directory `base_model_name_or_path` names when that is local, otherwise
//! the one the caller supplies (the reference, following TRL + PEFT, where the reference is the base model with the
//! adapter disabled).

use crate::checkpoint::CheckpointFiles;
use crate::error::{Error, Result};
use crate::model::{AdapterFiles, LoraAdapter, LoraConfig, Model, lora};
use crate::tokenize::TextTokenizer;
use candle_core::{DType, Device};
use std::path::{Path, PathBuf};

/// A model path, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A Hugging Face checkpoint directory.
    Checkpoint(CheckpointFiles),
    /// A LoRA adapter and the base checkpoint it applies to.
    Adapter {
        /// The adapter's files.
        adapter: AdapterFiles,
        /// The base checkpoint.
        base: CheckpointFiles,
    },
}

/// Whether `path` is a PEFT adapter directory.
pub fn is_adapter(path: &Path) -> bool {
    path.is_dir() && AdapterFiles::is_adapter(path)
}

/// The base checkpoint of the adapter at `path` when adapter_config.json names a local one; `None` for a
/// checkpoint, or an adapter whose base is a hub id.
pub fn adapter_base(path: &Path) -> Result<Option<PathBuf>> {
    if !is_adapter(path) {
        return Ok(None);
    }
    let files = AdapterFiles::locate(path)?;
    let config = LoraConfig::from_file(&files.config)?;
    Ok(lora::local_base(&files, &config))
}

impl ModelSource {
    /// Resolves `path`. For an adapter whose adapter_config.json names no local base, `fallback_base` is used.
    pub fn resolve(path: &Path, fallback_base: Option<&Path>) -> Result<Self> {
        if !path.exists() {
            return Err(Error::NotFound {
                path: path.to_path_buf(),
            });
        }
        if !is_adapter(path) {
            return Ok(Self::Checkpoint(CheckpointFiles::locate(path)?));
        }
        let adapter = AdapterFiles::locate(path)?;
        let config = LoraConfig::from_file(&adapter.config)?;
        let base_dir = match (lora::local_base(&adapter, &config), fallback_base) {
            (Some(b), _) => b,
            (None, Some(f)) if !is_adapter(f) => f.to_path_buf(),
            _ => {
                return Err(Error::config(
                    &adapter.config,
                    format!(
                        "base_model_name_or_path is {}, which is not a local checkpoint directory; give the base model as the reference (or set base_model_name_or_path to its local directory)",
                        config
                            .base_model
                            .as_deref()
                            .map_or("empty".to_string(), |b| format!("`{b}`"))
                    ),
                ));
            }
        };
        Ok(Self::Adapter {
            adapter,
            base: CheckpointFiles::locate(&base_dir)?,
        })
    }

    /// The directory the user named.
    pub fn dir(&self) -> &Path {
        match self {
            Self::Checkpoint(c) => &c.dir,
            Self::Adapter { adapter, .. } => &adapter.dir,
        }
    }

    /// The files the tokenizer comes from: the checkpoint's, or for an adapter its own tokenizer.json when it
    /// has one (TRL saves it next to the adapter), else the base's.
    pub fn tokenizer_files(&self) -> CheckpointFiles {
        match self {
            Self::Checkpoint(c) => c.clone(),
            Self::Adapter { adapter, base } => {
                let mut files = base.clone();
                let own = adapter.dir.join("tokenizer.json");
                if own.is_file() {
                    files.tokenizer = own;
                    let config = adapter.dir.join("tokenizer_config.json");
                    files.tokenizer_config = config.is_file().then_some(config);
                }
                files
            }
        }
    }

    /// Loads the model, computing in `dtype` on `device`.
    pub fn load_model(&self, dtype: DType, device: &Device) -> Result<Model> {
        match self {
            Self::Checkpoint(c) => Model::load(c, dtype, device),
            Self::Adapter { adapter, base } => {
                Model::load_adapted(base, &LoraAdapter::load(adapter)?, dtype, device)
            }
        }
    }

    /// Loads the tokenizer.
    pub fn load_tokenizer(&self) -> Result<TextTokenizer> {
        TextTokenizer::load(&self.tokenizer_files())
    }
}

/// The reference to use when only a policy is given: the base of a LoRA adapter (PEFT + DPO's convention), or an
/// error saying what to pass.
pub fn default_reference(policy: &Path) -> Result<PathBuf> {
    if !is_adapter(policy) {
        return Err(Error::InvalidArgument(format!(
            "{}: give the reference too (usually the SFT checkpoint DPO started from); only a LoRA adapter's base can stand in for it",
            policy.display()
        )));
    }
    adapter_base(policy)?.ok_or_else(|| {
        Error::InvalidArgument(format!(
            "{}: this LoRA adapter's base_model_name_or_path is not a local directory; give the base model as the reference",
            policy.display()
        ))
    })
}
