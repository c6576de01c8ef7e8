//! What a model path given by the user points at — a Hugging Face checkpoint directory, a PEFT LoRA adapter
//! directory or a GGUF file — and loading the model and tokenizer it stands for.
//!
//! An adapter needs its base checkpoint: the directory `base_model_name_or_path` names when that is local, otherwise
//! the one the caller supplies (the reference, following TRL + PEFT, where the reference is the base model with the
//! adapter disabled).

use crate::checkpoint::CheckpointFiles;
use crate::error::{Error, Result};
use crate::model::gguf::{self, GgufFile};
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
    /// A GGUF file (llama.cpp), canonicalised.
    Gguf(PathBuf),
}

/// Whether `path` ends in `.gguf`.
pub fn has_gguf_extension(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
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
        if path.is_file() && (gguf::is_gguf(path) || has_gguf_extension(path)) {
            return Ok(Self::Gguf(
                path.canonicalize().map_err(|e| Error::io(path, e))?,
            ));
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
            Self::Gguf(file) => file,
        }
    }

    /// The files the tokenizer comes from: the checkpoint's, or for an adapter its own tokenizer.json when it
    /// has one (TRL saves it next to the adapter), else the base's; for a GGUF file, a tokenizer.json next to it
    /// (`None`: the file's own metadata).
    pub fn tokenizer_files(&self) -> Option<CheckpointFiles> {
        let with_own = |mut files: CheckpointFiles, dir: &Path| {
            let own = dir.join("tokenizer.json");
            if own.is_file() {
                files.tokenizer = own;
                let config = dir.join("tokenizer_config.json");
                files.tokenizer_config = config.is_file().then_some(config);
                let generation = dir.join("generation_config.json");
                files.generation_config = generation.is_file().then_some(generation);
            }
            files
        };
        match self {
            Self::Checkpoint(c) => Some(c.clone()),
            Self::Adapter { adapter, base } => Some(with_own(base.clone(), &adapter.dir)),
            Self::Gguf(file) => {
                let dir = file.parent()?;
                dir.join("tokenizer.json").is_file().then(|| {
                    with_own(
                        CheckpointFiles {
                            dir: dir.to_path_buf(),
                            config: PathBuf::new(),
                            weights: vec![file.clone()],
                            tokenizer: PathBuf::new(),
                            tokenizer_config: None,
                            generation_config: None,
                        },
                        dir,
                    )
                })
            }
        }
    }

    /// Whether this is a LoRA adapter whose base is the checkpoint in `dir` (compared canonicalised).
    pub fn is_adapter_on(&self, dir: &Path) -> bool {
        let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
        matches!(self, Self::Adapter { base, .. } if canonical(&base.dir) == canonical(dir))
    }

    /// This LoRA adapter applied unmerged (PEFT's forward) on `base`, the model already loaded from its base
    /// checkpoint, sharing every base weight: only the adapter is read. `None` when this is not an adapter on
    /// `base`'s checkpoint, or when the adapter changes something only a merge applies.
    pub fn adapter_on(&self, base: &Model) -> Result<Option<Model>> {
        match self {
            Self::Adapter { adapter, .. } if self.is_adapter_on(&base.info().path) => {
                base.with_adapter(&LoraAdapter::load(adapter)?)
            }
            _ => Ok(None),
        }
    }

    /// Loads the model, computing in `dtype` on `device`.
    pub fn load_model(&self, dtype: DType, device: &Device) -> Result<Model> {
        self.load_model_reporting(dtype, device, &|_| {})
    }

    /// [`ModelSource::load_model`], calling `report` with the share loaded (0 to 1) as it goes.
    pub fn load_model_reporting(
        &self,
        dtype: DType,
        device: &Device,
        report: &dyn Fn(f32),
    ) -> Result<Model> {
        match self {
            Self::Checkpoint(c) => Model::load_reporting(c, dtype, device, report),
            Self::Adapter { adapter, base } => {
                Model::load_adapted(base, &LoraAdapter::load(adapter)?, dtype, device, report)
            }
            Self::Gguf(file) => Model::load_gguf(&GgufFile::open(file)?, dtype, device, report),
        }
    }

    /// The model's configuration (an adapter's is its base's), read without loading any weights.
    pub fn config(&self) -> Result<crate::model::DecoderConfig> {
        match self {
            Self::Checkpoint(c) | Self::Adapter { base: c, .. } => {
                crate::model::DecoderConfig::from_file(&c.config)
            }
            Self::Gguf(file) => GgufFile::open(file)?.config(),
        }
    }

    /// Bytes of the weight files of a checkpoint or GGUF file (what its matrices take when held as stored); `None`
    /// for an adapter (merged into a full copy in the compute dtype unless its base is the reference).
    pub fn stored_bytes(&self) -> Option<u64> {
        match self {
            Self::Checkpoint(c) => c
                .weights
                .iter()
                .map(|f| std::fs::metadata(f).map(|m| m.len()).ok())
                .sum(),
            // Quantised blocks are held as stored, so the file's size bounds what its weights take.
            Self::Gguf(file) => std::fs::metadata(file).map(|m| m.len()).ok(),
            Self::Adapter { .. } => None,
        }
    }

    /// Loads the tokenizer.
    pub fn load_tokenizer(&self) -> Result<TextTokenizer> {
        match (self.tokenizer_files(), self) {
            (Some(files), _) => TextTokenizer::load(&files),
            (None, Self::Gguf(file)) => crate::tokenize::gguf::from_gguf(&GgufFile::open(file)?),
            (None, _) => Err(Error::InvalidArgument(format!(
                "{}: no tokenizer found",
                self.dir().display()
            ))),
        }
    }
}

/// The reference to use when only a policy is given: the base of a LoRA adapter (PEFT + DPO's convention), or an
/// error saying what to pass.
pub fn default_reference(policy: &Path) -> Result<PathBuf> {
    if !is_adapter(policy) {
        return Err(Error::InvalidArgument(format!(
            "{}: give the reference too (--reference: usually the SFT checkpoint DPO started from); only a LoRA adapter's local base can stand in for it",
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
