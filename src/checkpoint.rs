//! Locating the files of a Hugging Face checkpoint directory: config.json, the safetensors weights (single file or
//! sharded with `model.safetensors.index.json`), tokenizer.json, tokenizer_config.json and generation_config.json.

use crate::error::{Error, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The files that make up one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointFiles {
    /// The checkpoint directory, canonicalised.
    pub dir: PathBuf,
    /// `config.json`.
    pub config: PathBuf,
    /// The safetensors file(s) holding the weights, in shard order.
    pub weights: Vec<PathBuf>,
    /// `tokenizer.json`.
    pub tokenizer: PathBuf,
    /// `tokenizer_config.json`, when present.
    pub tokenizer_config: Option<PathBuf>,
    /// `generation_config.json`, when present.
    pub generation_config: Option<PathBuf>,
}

impl CheckpointFiles {
    /// Finds the files of the checkpoint in `dir`, with an error naming whatever is missing.
    pub fn locate(dir: &Path) -> Result<Self> {
        if !dir.exists() {
            return Err(Error::NotFound {
                path: dir.to_path_buf(),
            });
        }
        if !dir.is_dir() {
            return Err(Error::NotADirectory {
                path: dir.to_path_buf(),
            });
        }
        let dir = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
        let config = dir.join("config.json");
        if !config.is_file() {
            return Err(Error::MissingFile {
                dir: dir.clone(),
                what: "config.json".into(),
                hint: "a Hugging Face checkpoint directory holds config.json, model.safetensors and tokenizer.json (save it with save_pretrained)".into(),
            });
        }
        let weights = locate_weights(&dir)?;
        let tokenizer = dir.join("tokenizer.json");
        if !tokenizer.is_file() {
            return Err(Error::MissingFile {
                dir: dir.clone(),
                what: "tokenizer.json".into(),
                hint: "save the tokenizer next to the weights (tokenizer.save_pretrained(dir)); creditlens needs the fast tokenizer's tokenizer.json".into(),
            });
        }
        let optional = |name: &str| {
            let p = dir.join(name);
            p.is_file().then_some(p)
        };
        Ok(Self {
            tokenizer_config: optional("tokenizer_config.json"),
            generation_config: optional("generation_config.json"),
            dir,
            config,
            weights,
            tokenizer,
        })
    }
}

/// The shard file names a `model.safetensors.index.json` (text `text`, at `index`) lists; each must be a
/// relative path inside the checkpoint directory.
pub fn shard_names(text: &str, index: &Path) -> Result<BTreeSet<String>> {
    let json: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Error::config(index, format!("not valid JSON: {e}")))?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| Error::config(index, "field `weight_map` is missing or not an object"))?;
    let mut files = BTreeSet::new();
    for (tensor, file) in map {
        let file = file.as_str().ok_or_else(|| {
            Error::config(
                index,
                format!("weight_map entry `{tensor}` is not a file name"),
            )
        })?;
        let inside = Path::new(file)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !inside || file.is_empty() {
            return Err(Error::config(
                index,
                format!(
                    "weight_map entry `{tensor}` names `{file}`, which is not a file inside the checkpoint directory; a shard must be named relative to it (model-00001-of-00002.safetensors), and creditlens never reads outside it"
                ),
            ));
        }
        files.insert(file.to_string());
    }
    if files.is_empty() {
        return Err(Error::config(index, "weight_map is empty"));
    }
    Ok(files)
}

fn locate_weights(dir: &Path) -> Result<Vec<PathBuf>> {
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let text = std::fs::read_to_string(&index).map_err(|e| Error::io(&index, e))?;
        let files = shard_names(&text, &index)?;
        let mut paths = Vec::with_capacity(files.len());
        for f in files {
            let p = dir.join(&f);
            if !p.is_file() {
                return Err(Error::MissingFile {
                    dir: dir.to_path_buf(),
                    what: format!("shard {f}"),
                    hint:
                        "model.safetensors.index.json lists it; copy every shard of the checkpoint"
                            .into(),
                });
            }
            paths.push(p);
        }
        return Ok(paths);
    }
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let hint = if dir.join("pytorch_model.bin").exists() {
        "only pytorch_model.bin is present; creditlens reads safetensors: re-save with save_pretrained(dir, safe_serialization=True)"
    } else if dir.join("adapter_config.json").exists() {
        "this looks like a LoRA adapter; pass the merged model (merge_and_unload + save_pretrained)"
    } else {
        "save the model with save_pretrained(dir) to get model.safetensors"
    };
    Err(Error::MissingFile {
        dir: dir.to_path_buf(),
        what: "model.safetensors (or model.safetensors.index.json with its shards)".into(),
        hint: hint.into(),
    })
}

/// One saved training checkpoint: a `checkpoint-N` folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingCheckpoint {
    /// N, the optimiser step it was saved at.
    pub step: usize,
    /// The folder.
    pub dir: PathBuf,
}

/// The `checkpoint-N/` subfolders of `dir` that hold a config.json (a full checkpoint) or an adapter_config.json
/// (a LoRA adapter, as TRL + PEFT save them), by step (empty if there are none or `dir` cannot be read).
pub fn training_checkpoints(dir: &Path) -> Vec<TrainingCheckpoint> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<TrainingCheckpoint> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let step = name.to_str()?.strip_prefix("checkpoint-")?.parse().ok()?;
            let dir = e.path();
            (dir.join("config.json").is_file() || dir.join("adapter_config.json").is_file())
                .then_some(TrainingCheckpoint { step, dir })
        })
        .collect();
    out.sort_by_key(|c| c.step);
    out
}

/// A checkpoint picked from a training folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCheckpoint {
    /// The training folder, as given.
    pub run: PathBuf,
    /// The checkpoint picked.
    pub chosen: TrainingCheckpoint,
    /// The steps of all the folder's checkpoints, in order.
    pub steps: Vec<usize>,
}

impl RunCheckpoint {
    /// What was picked, for a note: `RUN holds checkpoint-40..200; using checkpoint-200`.
    pub fn describe(&self) -> String {
        let held = match (self.steps.first(), self.steps.last()) {
            (Some(a), Some(b)) if a != b => format!("checkpoint-{a}..{b}"),
            _ => format!("checkpoint-{}", self.chosen.step),
        };
        format!(
            "{} holds {held}; using checkpoint-{}",
            self.run.display(),
            self.chosen.step
        )
    }
}

/// The checkpoint to open from the training folder `dir` (see [`training_checkpoints`]): `checkpoint-{step}`, or
/// the last one. `Ok(None)` when `dir` holds no checkpoints and no step is asked for; an error when the step is
/// absent (listing those there are) or `dir` is no training folder.
pub fn pick_checkpoint(dir: &Path, step: Option<usize>) -> Result<Option<RunCheckpoint>> {
    let all = training_checkpoints(dir);
    let steps: Vec<usize> = all.iter().map(|c| c.step).collect();
    let chosen = match step {
        None => all.last(),
        Some(n) if all.is_empty() => {
            return Err(Error::InvalidArgument(format!(
                "{}: checkpoint {n} was asked for, but this is not a training folder (it holds no checkpoint-N/ subfolder with a config.json or adapter_config.json)",
                dir.display()
            )));
        }
        Some(n) => Some(all.iter().find(|c| c.step == n).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{} has no checkpoint-{n}; its checkpoints: {}",
                dir.display(),
                steps
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?),
    };
    Ok(chosen.map(|c| RunCheckpoint {
        run: dir.to_path_buf(),
        chosen: c.clone(),
        steps: steps.clone(),
    }))
}

/// The `checkpoint-N/` subfolders of `dir` that [`training_checkpoints`] skips (no config.json or
/// adapter_config.json yet: TRL may still be saving them), by name.
pub fn incomplete_checkpoints(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            name.strip_prefix("checkpoint-")?.parse::<usize>().ok()?;
            let path = e.path();
            (path.is_dir()
                && !path.join("config.json").is_file()
                && !path.join("adapter_config.json").is_file())
            .then_some(name)
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(steps: &[usize], incomplete: &[usize]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp");
        for s in steps {
            let ck = dir.path().join(format!("checkpoint-{s}"));
            std::fs::create_dir_all(&ck).expect("mkdir");
            std::fs::write(ck.join("config.json"), "{}").expect("config");
        }
        for s in incomplete {
            std::fs::create_dir_all(dir.path().join(format!("checkpoint-{s}"))).expect("mkdir");
        }
        dir
    }

    #[test]
    fn the_last_checkpoint_or_the_one_asked_for() {
        let dir = run(&[40, 200, 80], &[240]);
        let last = pick_checkpoint(dir.path(), None)
            .expect("ok")
            .expect("some");
        assert_eq!(last.chosen.step, 200);
        assert_eq!(last.steps, [40, 80, 200]);
        assert_eq!(
            last.describe(),
            format!(
                "{} holds checkpoint-40..200; using checkpoint-200",
                dir.path().display()
            )
        );
        let early = pick_checkpoint(dir.path(), Some(80))
            .expect("ok")
            .expect("some");
        assert_eq!(early.chosen.dir, dir.path().join("checkpoint-80"));
        let err = pick_checkpoint(dir.path(), Some(240)).expect_err("incomplete");
        assert!(
            err.to_string()
                .contains("no checkpoint-240; its checkpoints: 40, 80, 200"),
            "{err}"
        );
        assert_eq!(incomplete_checkpoints(dir.path()), ["checkpoint-240"]);
        let one = run(&[7], &[]);
        let only = pick_checkpoint(one.path(), None)
            .expect("ok")
            .expect("some");
        assert!(
            only.describe()
                .ends_with("holds checkpoint-7; using checkpoint-7")
        );
        let none = run(&[], &[]);
        assert_eq!(pick_checkpoint(none.path(), None).expect("ok"), None);
        let err = pick_checkpoint(none.path(), Some(1)).expect_err("no run");
        assert!(err.to_string().contains("not a training folder"), "{err}");
    }
}
