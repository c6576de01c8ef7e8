//! What a model path given by the user points at — a Hugging Face checkpoint directory, a PEFT LoRA adapter
//! directory, a GGUF file, a training folder of `checkpoint-N/` subfolders or a Hub id found in the local Hugging
//! Face cache — and loading the model and tokenizer it stands for.
//!
//! [`locate`] turns what the user typed into the model to load (the command line and the app both call it, through
//! [`ModelSource::resolve`]): a path that exists is used as it is; otherwise a Hub id (`ORG/NAME`, or
//! `ORG/NAME@REVISION`) is looked up in the cache ([`crate::hub`]). A folder that is not a model itself but holds
//! training checkpoints opens its last one (or the step asked for); a folder holding one GGUF file opens it.
//!
//! An adapter needs its base checkpoint: the directory `base_model_name_or_path` names when that is local, else the
//! Hub id it names when that is in the cache, otherwise the one the caller supplies (the reference, following
//! TRL + PEFT, where the reference is the base model with the adapter disabled). The base can also be a GGUF file:
//! one `base_model_name_or_path` names, or the reference given. An adapter trained on a checkpoint made from a GGUF
//! file (transformers' GGUF loader dequantises it and puts llama.cpp's permuted q/k rows back in Hugging Face order,
//! as creditlens does when it opens the file) applies to the file unchanged, unmerged as PEFT's forward, its updates
//! checked against the file's tensor shapes.

use crate::checkpoint::{CheckpointFiles, RunCheckpoint, incomplete_checkpoints, pick_checkpoint};
use crate::error::{Error, Result};
use crate::hub::HubId;
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
    /// A LoRA adapter applied (unmerged, PEFT's forward) to a GGUF file as its base.
    AdapterOnGguf {
        /// The adapter's files.
        adapter: AdapterFiles,
        /// The GGUF file, canonicalised.
        base: PathBuf,
        /// What the user should know about the pairing: the adapter names another base than this file.
        note: Option<String>,
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

/// A model named by the user, made concrete by [`locate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The model to load: a checkpoint or adapter directory, or a file (GGUF).
    pub path: PathBuf,
    /// The Hub id (and revision) it was found by in the Hugging Face cache; `path` is then in its snapshot.
    pub hub: Option<HubId>,
    /// The training folder it was picked from, and which checkpoint.
    pub run: Option<RunCheckpoint>,
}

/// The file or folder `spec` names: `spec` itself when it exists (a local path always wins), else the snapshot
/// folder of the Hub id `spec` (`ORG/NAME` or `ORG/NAME@REVISION`) in the Hugging Face cache, at `revision` when
/// given. With the id, when it was one.
pub fn model_path(spec: &Path, revision: Option<&str>) -> Result<(PathBuf, Option<HubId>)> {
    if spec.symlink_metadata().is_ok() {
        if let Some(r) = revision {
            return Err(Error::InvalidArgument(format!(
                "{}: revision `{r}` was given, but this is a local path (a revision selects a version of a model named by its Hub id, ORG/NAME); drop the revision",
                spec.display()
            )));
        }
        return Ok((spec.to_path_buf(), None));
    }
    let Some(mut id) = spec.to_str().and_then(HubId::parse) else {
        return Err(Error::NotFound {
            path: spec.to_path_buf(),
        });
    };
    if let Some(r) = revision {
        match &id.revision {
            Some(at) if at != r => {
                return Err(Error::InvalidArgument(format!(
                    "{}: two revisions, `{at}` after the `@` and `{r}` given separately; give one",
                    spec.display()
                )));
            }
            _ => id.revision = Some(r.to_string()),
        }
    }
    let snapshot = crate::hub::snapshot(&id)?;
    Ok((snapshot, Some(id)))
}

/// Where the model `spec` names is (see [`model_path`] for local paths and Hub ids), and which model a folder
/// stands for: itself when it is a checkpoint (config.json) or an adapter (adapter_config.json); else, for a
/// training folder of `checkpoint-N/` subfolders, `checkpoint-{checkpoint}` or the last one; else its one `.gguf`
/// file. A folder with none of these is an error listing what was looked for. `checkpoint` asks for a step of a
/// training folder, and is an error for anything else.
pub fn locate(spec: &Path, revision: Option<&str>, checkpoint: Option<usize>) -> Result<Located> {
    let (path, hub) = model_path(spec, revision)?;
    let mut located = Located {
        path,
        hub,
        run: None,
    };
    if !located.path.is_dir() {
        if let Some(n) = checkpoint {
            return Err(Error::InvalidArgument(format!(
                "{}: checkpoint {n} was asked for, but this is not a training folder of checkpoint-N/ subfolders",
                spec.display()
            )));
        }
        return Ok(located);
    }
    let dir = located.path.clone();
    let is_model = dir.join("config.json").is_file() || is_adapter(&dir);
    if is_model && checkpoint.is_none() {
        return Ok(located);
    }
    // Name the folder as the user did (a Hub id's snapshot is named by its id).
    let shown = if located.hub.is_some() { spec } else { &dir };
    if let Some(mut pick) = pick_checkpoint(&dir, checkpoint)? {
        located.path = pick.chosen.dir.clone();
        pick.run = shown.to_path_buf();
        located.run = Some(pick);
        return Ok(located);
    }
    let gguf: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| Error::io(&dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && has_gguf_extension(p))
        .collect();
    match gguf.as_slice() {
        [one] => {
            located.path = one.clone();
            return Ok(located);
        }
        [] => {}
        several => {
            let mut names: Vec<String> = several
                .iter()
                .filter_map(|p| Some(p.file_name()?.to_string_lossy().into_owned()))
                .collect();
            names.sort();
            return Err(Error::InvalidArgument(format!(
                "{}: holds {} GGUF files ({}); pass the one to open",
                shown.display(),
                names.len(),
                names.join(", ")
            )));
        }
    }
    // Some weights but no config.json: CheckpointFiles says what is missing.
    let weights = [
        "model.safetensors",
        "model.safetensors.index.json",
        "pytorch_model.bin",
    ];
    if weights.iter().any(|w| dir.join(w).exists()) {
        return Ok(located);
    }
    let incomplete = incomplete_checkpoints(&dir);
    Err(Error::NoModel {
        dir: shown.to_path_buf(),
        note: if incomplete.is_empty() {
            String::new()
        } else {
            format!(
                "; {} {} neither config.json nor adapter_config.json (still being saved?)",
                incomplete
                    .iter()
                    .map(|n| format!("{n}/"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if incomplete.len() == 1 {
                    "holds"
                } else {
                    "hold"
                }
            )
        },
    })
}

/// The base checkpoint folder of an adapter: `base_model_name_or_path` as a local directory, else as a Hub id in
/// the cache (at adapter_config.json's `revision`). `Err(None)` when it names neither, `Err(Some(e))` with the
/// cache's answer when it is a Hub id the cache lacks.
fn base_of(
    adapter: &AdapterFiles,
    config: &LoraConfig,
) -> std::result::Result<PathBuf, Option<Error>> {
    if let Some(local) = lora::local_base(adapter, config) {
        return Ok(local);
    }
    let id = config
        .base_model
        .as_deref()
        .and_then(HubId::parse)
        .ok_or(None)?;
    let id = HubId {
        revision: id.revision.or_else(|| config.base_revision.clone()),
        ..id
    };
    let snapshot = crate::hub::snapshot(&id).map_err(Some)?;
    if snapshot.join("config.json").is_file() {
        Ok(snapshot)
    } else {
        Err(Some(id.error(format!(
            "the cached snapshot {} has no config.json",
            snapshot.display()
        ))))
    }
}

/// The GGUF file `base_model_name_or_path` names, when it is one (absolute, or relative to the adapter directory).
fn gguf_base(adapter: &AdapterFiles, config: &LoraConfig) -> Option<PathBuf> {
    let base = Path::new(config.base_model.as_deref()?);
    let candidate = if base.is_absolute() {
        base.to_path_buf()
    } else {
        adapter.dir.join(base)
    };
    (candidate.is_file() && is_gguf_file(&candidate)).then_some(candidate)
}

/// Whether `path` (a file) is a GGUF file, by its magic number or its name.
fn is_gguf_file(path: &Path) -> bool {
    gguf::is_gguf(path) || has_gguf_extension(path)
}

/// The note for an adapter applied to the GGUF file `file` that its adapter_config.json does not name (the file is
/// the reference given): `None` when `base_model_name_or_path` is that file, or a file of the same name.
fn gguf_base_note(config: &LoraConfig, file: &Path) -> Option<String> {
    let named = config.base_model.as_deref();
    let same = named
        .and_then(|b| Path::new(b).file_name())
        .is_some_and(|n| Some(n) == file.file_name());
    (!same).then(|| {
        format!(
            "the LoRA adapter's base_model_name_or_path is {}, not this file; it is applied to {} (the reference), whose tensor shapes match it: this is right when the adapter was trained on this file's weights (e.g. on a checkpoint made from it by transformers' GGUF loader)",
            base_name(config),
            file.display()
        )
    })
}

/// `config`'s base as the error messages name it.
fn base_name(config: &LoraConfig) -> String {
    config
        .base_model
        .as_deref()
        .map_or("empty".to_string(), |b| format!("`{b}`"))
}

/// The base checkpoint of the adapter at `path` (a folder, a training folder or a Hub id, see [`locate`]) when
/// adapter_config.json names a local one or one in the Hugging Face cache; `None` for a checkpoint, or an adapter
/// whose base is neither.
pub fn adapter_base(path: &Path) -> Result<Option<PathBuf>> {
    let path = locate(path, None, None)?.path;
    if !is_adapter(&path) {
        return Ok(None);
    }
    let files = AdapterFiles::locate(&path)?;
    let config = LoraConfig::from_file(&files.config)?;
    Ok(base_of(&files, &config)
        .ok()
        .or_else(|| gguf_base(&files, &config)))
}

impl ModelSource {
    /// Resolves `path` (anything [`locate`] takes: a folder, a file, a training folder, a Hub id). For an adapter
    /// whose adapter_config.json names no base found locally or in the cache, `fallback_base` is used.
    pub fn resolve(path: &Path, fallback_base: Option<&Path>) -> Result<Self> {
        let located = locate(path, None, None)?;
        Self::resolve_located(&located.path, fallback_base).map_err(|e| {
            // A snapshot of the Hugging Face cache missing a file: say which id and revision, and how to get it
            // whole (whether it was named by its id or by its folder).
            let snapshot = match &located.path {
                p if p.is_dir() => Some(p.as_path()),
                p => p.parent(),
            };
            match (snapshot.and_then(crate::hub::snapshot_id), e) {
                (Some(id), e @ (Error::MissingFile { .. } | Error::NotADirectory { .. })) => {
                    id.error(format!("the cached snapshot is incomplete: {e}"))
                }
                (_, e) => e,
            }
        })
    }

    /// [`ModelSource::resolve`] for a path [`locate`] has made concrete.
    fn resolve_located(path: &Path, fallback_base: Option<&Path>) -> Result<Self> {
        if !path.exists() {
            return Err(Error::NotFound {
                path: path.to_path_buf(),
            });
        }
        if path.is_file() && is_gguf_file(path) {
            return Ok(Self::Gguf(canonical_file(path)?));
        }
        if !is_adapter(path) {
            return Ok(Self::Checkpoint(CheckpointFiles::locate(path)?));
        }
        let adapter = AdapterFiles::locate(path)?;
        let config = LoraConfig::from_file(&adapter.config)?;
        let on_gguf = |file: &Path, note: Option<String>| -> Result<Self> {
            Ok(Self::AdapterOnGguf {
                adapter: adapter.clone(),
                base: canonical_file(file)?,
                note,
            })
        };
        let base_dir = match (base_of(&adapter, &config), fallback_base) {
            (Ok(b), _) => b,
            (Err(_), _) if let Some(file) = gguf_base(&adapter, &config) => {
                return on_gguf(&file, None);
            }
            (Err(_), Some(f)) if !is_adapter(f) => {
                let f = locate(f, None, None)?.path;
                if f.is_file() && is_gguf_file(&f) {
                    return on_gguf(&f, gguf_base_note(&config, &f));
                }
                f
            }
            (Err(why), _) => {
                return Err(Error::config(
                    &adapter.config,
                    format!(
                        "base_model_name_or_path is {}, which is not a local checkpoint directory{}; give the base model as the reference (or set base_model_name_or_path to its local directory)",
                        base_name(&config),
                        why.map(|e| format!(" ({e})")).unwrap_or_default()
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
            Self::Adapter { adapter, .. } | Self::AdapterOnGguf { adapter, .. } => &adapter.dir,
            Self::Gguf(file) => file,
        }
    }

    /// What the user should know about how the model is put together (an adapter applied to a GGUF file its
    /// adapter_config.json does not name), to show next to the model; `None` when there is nothing to say.
    pub fn note(&self) -> Option<&str> {
        match self {
            Self::AdapterOnGguf { note, .. } => note.as_deref(),
            _ => None,
        }
    }

    /// The files the tokenizer comes from: the checkpoint's, or for an adapter its own tokenizer.json when it
    /// has one (TRL saves it next to the adapter), else the base's; for a GGUF file (or an adapter on one without
    /// its own), a tokenizer.json next to it (`None`: the file's own metadata).
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
        let gguf = |file: &Path, dir: &Path| {
            with_own(
                CheckpointFiles {
                    dir: dir.to_path_buf(),
                    config: PathBuf::new(),
                    weights: vec![file.to_path_buf()],
                    tokenizer: PathBuf::new(),
                    tokenizer_config: None,
                    generation_config: None,
                },
                dir,
            )
        };
        match self {
            Self::Checkpoint(c) => Some(c.clone()),
            Self::Adapter { adapter, base } => Some(with_own(base.clone(), &adapter.dir)),
            Self::AdapterOnGguf { adapter, base, .. }
                if adapter.dir.join("tokenizer.json").is_file() =>
            {
                Some(gguf(base, &adapter.dir))
            }
            Self::Gguf(file) | Self::AdapterOnGguf { base: file, .. } => {
                let dir = file.parent()?;
                dir.join("tokenizer.json")
                    .is_file()
                    .then(|| gguf(file, dir))
            }
        }
    }

    /// Whether `other` reads a tokenizer from files byte for byte this one's (tokenizer.json, and
    /// tokenizer_config.json and generation_config.json where either has one): the same tokenizer then, which
    /// need not be loaded and compared twice. False where either has no such files or one cannot be read.
    pub fn same_tokenizer_files(&self, other: &ModelSource) -> bool {
        let (Some(a), Some(b)) = (self.tokenizer_files(), other.tokenizer_files()) else {
            return false;
        };
        let same = |x: Option<&Path>, y: Option<&Path>| match (x, y) {
            (None, None) => true,
            (Some(x), Some(y)) => match (std::fs::read(x), std::fs::read(y)) {
                (Ok(x), Ok(y)) => x == y,
                _ => false,
            },
            _ => false,
        };
        same(Some(&a.tokenizer), Some(&b.tokenizer))
            && same(a.tokenizer_config.as_deref(), b.tokenizer_config.as_deref())
            && same(
                a.generation_config.as_deref(),
                b.generation_config.as_deref(),
            )
    }

    /// Whether this is a LoRA adapter whose base is the checkpoint in `dir`, or the GGUF file `dir` (compared
    /// canonicalised).
    pub fn is_adapter_on(&self, dir: &Path) -> bool {
        let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
        match self {
            Self::Adapter { base, .. } => canonical(&base.dir) == canonical(dir),
            Self::AdapterOnGguf { base, .. } => canonical(base) == canonical(dir),
            _ => false,
        }
    }

    /// This LoRA adapter applied unmerged (PEFT's forward) on `base`, the model already loaded from its base
    /// checkpoint (or GGUF file), sharing every base weight: only the adapter is read. `None` when this is not an
    /// adapter on `base`'s checkpoint, or when the adapter on a checkpoint changes something only a merge applies.
    /// An adapter on a GGUF file that does not fit it (a module the file's model lacks, another shape) is an error.
    pub fn adapter_on(&self, base: &Model) -> Result<Option<Model>> {
        match self {
            Self::Adapter { adapter, .. } if self.is_adapter_on(&base.info().path) => {
                base.with_adapter(&LoraAdapter::load(adapter)?)
            }
            Self::AdapterOnGguf { adapter, note, .. } if self.is_adapter_on(&base.info().path) => {
                adapt_gguf(base, &LoraAdapter::load(adapter)?, note.as_deref(), true).map(Some)
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
            Self::AdapterOnGguf {
                adapter,
                base,
                note,
            } => {
                let lora = LoraAdapter::load(adapter)?;
                let model = Model::load_gguf(&GgufFile::open(base)?, dtype, device, report)?;
                adapt_gguf(&model, &lora, note.as_deref(), false)
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
            Self::Gguf(file) | Self::AdapterOnGguf { base: file, .. } => {
                GgufFile::open(file)?.config()
            }
        }
    }

    /// Bytes of the weight files of a checkpoint or GGUF file (what its matrices take when held as stored), and of
    /// an adapter on a GGUF file with its file's; `None` for an adapter on a checkpoint (merged into a full copy in
    /// the compute dtype unless its base is the reference).
    pub fn stored_bytes(&self) -> Option<u64> {
        match self {
            Self::Checkpoint(c) => c
                .weights
                .iter()
                .map(|f| std::fs::metadata(f).map(|m| m.len()).ok())
                .sum(),
            // Quantised blocks are held as stored, so the file's size bounds what its weights take.
            Self::Gguf(file) => std::fs::metadata(file).map(|m| m.len()).ok(),
            Self::AdapterOnGguf { adapter, base, .. } => [base, &adapter.weights]
                .iter()
                .map(|f| std::fs::metadata(f).map(|m| m.len()).ok())
                .sum(),
            Self::Adapter { .. } => None,
        }
    }

    /// Loads the tokenizer.
    pub fn load_tokenizer(&self) -> Result<TextTokenizer> {
        match (self.tokenizer_files(), self) {
            (Some(files), _) => TextTokenizer::load(&files),
            (None, Self::Gguf(file) | Self::AdapterOnGguf { base: file, .. }) => {
                crate::tokenize::gguf::from_gguf(&GgufFile::open(file)?)
            }
            (None, _) => Err(Error::InvalidArgument(format!(
                "{}: no tokenizer found",
                self.dir().display()
            ))),
        }
    }
}

/// The reference to use when only a policy is given (anything [`locate`] takes): the base of a LoRA adapter
/// (PEFT + DPO's convention), local or in the Hugging Face cache, or an error saying what to pass.
pub fn default_reference(policy: &Path) -> Result<PathBuf> {
    let path = locate(policy, None, None)?.path;
    if !is_adapter(&path) {
        return Err(Error::InvalidArgument(format!(
            "{}: give the reference too (--reference: usually the SFT checkpoint DPO started from); only a LoRA adapter's base can stand in for it",
            policy.display()
        )));
    }
    let files = AdapterFiles::locate(&path)?;
    let config = LoraConfig::from_file(&files.config)?;
    if let (Err(_), Some(file)) = (base_of(&files, &config), gguf_base(&files, &config)) {
        return Ok(file);
    }
    base_of(&files, &config).map_err(|why| {
        Error::InvalidArgument(format!(
            "{}: this LoRA adapter's base_model_name_or_path ({}) is not a local directory{}; give the base model as the reference",
            policy.display(),
            base_name(&config),
            why.map(|e| format!(" ({e})")).unwrap_or_default()
        ))
    })
}

/// `lora` applied unmerged (PEFT's forward) to `base`, a model loaded from a GGUF file, with `note` on its card;
/// `shared` says whether the base's weights are the reference's (one copy held). Refused when the adapter changes
/// embeddings or whole tensors (`modules_to_save`), or a weight the file's model does not have; an update of
/// another shape than its weight is an error naming it.
fn adapt_gguf(base: &Model, lora: &LoraAdapter, note: Option<&str>, shared: bool) -> Result<Model> {
    let file = &base.info().path;
    let Some(factors) = lora.low_rank_only() else {
        return Err(Error::config(
            &lora.files().config,
            format!(
                "the adapter changes embeddings or whole tensors (modules_to_save), which creditlens applies only to a Hugging Face checkpoint, not to the GGUF file {}; give that checkpoint as the base (base_model_name_or_path) or merge the adapter",
                file.display()
            ),
        ));
    };
    let Some(adapted) = base.with_adapter(lora)? else {
        let known = base.lm().adaptable();
        let mut unknown: Vec<&String> = factors.keys().filter(|k| !known.contains(*k)).collect();
        unknown.sort();
        return Err(Error::config(
            &lora.files().config,
            format!(
                "the adapter changes {} weight(s) the model of {} does not have, e.g. `{}`; it was not trained on this model",
                unknown.len(),
                file.display(),
                unknown.first().map_or("?", |s| s.as_str())
            ),
        ));
    };
    let mut card = format!(
        "{} on {}, unmerged{}",
        lora.describe(),
        file.display(),
        if shared {
            " (the base is shared with the reference)"
        } else {
            ""
        }
    );
    if let Some(b) = &lora.config().base_model {
        card.push_str(&format!("; adapter_config.json names the base `{b}`"));
    }
    if note.is_some() {
        card.push_str(", not this file");
    }
    Ok(adapted.with_adapter_description(card))
}

/// `path` (a GGUF file) canonicalised; when that loses its `.gguf` name (a file in a Hugging Face cache snapshot is
/// a symlink into `blobs/`), only its folder is canonicalised, so that its name and folder (where a tokenizer.json
/// may sit) stay the snapshot's.
fn canonical_file(path: &Path) -> Result<PathBuf> {
    let canonical = path.canonicalize().map_err(|e| Error::io(path, e))?;
    if has_gguf_extension(&canonical) {
        return Ok(canonical);
    }
    let absolute = std::path::absolute(path).map_err(|e| Error::io(path, e))?;
    match (absolute.parent(), absolute.file_name()) {
        (Some(dir), Some(name)) => Ok(dir
            .canonicalize()
            .map_err(|e| Error::io(dir, e))?
            .join(name)),
        _ => path.canonicalize().map_err(|e| Error::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two checkpoints whose tokenizer files are byte for byte the same are known to share a tokenizer without
    /// loading it twice; one changed byte in tokenizer_config.json, or a missing generation_config.json, is not.
    #[test]
    fn identical_tokenizer_files_are_recognised() {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/models/llama");
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let copy = |name: &str| {
            let dir = tmp.path().join(name);
            std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
            for entry in std::fs::read_dir(&fixture).unwrap_or_else(|e| panic!("{e}")) {
                let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
                std::fs::copy(&path, dir.join(path.file_name().unwrap_or_default()))
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            dir
        };
        let source = |dir: &Path| ModelSource::resolve(dir, None).unwrap_or_else(|e| panic!("{e}"));
        let (a, b, c, d) = (copy("a"), copy("b"), copy("c"), copy("d"));
        let config = c.join("tokenizer_config.json");
        let mut text = std::fs::read(&config).unwrap_or_else(|e| panic!("{e}"));
        text.push(b' ');
        std::fs::write(&config, text).unwrap_or_else(|e| panic!("{e}"));
        std::fs::remove_file(d.join("generation_config.json")).unwrap_or_else(|e| panic!("{e}"));
        assert!(source(&a).same_tokenizer_files(&source(&b)));
        assert!(!source(&a).same_tokenizer_files(&source(&c)));
        assert!(!source(&a).same_tokenizer_files(&source(&d)));
    }
}
