//! A decoder whose weights are trainable variables, and saving it as a Hugging Face checkpoint.

use crate::checkpoint::CheckpointFiles;
use crate::error::{Error, Result};
use crate::model::{
    Decoder, DecoderConfig, Kernels, MemoryWeights, SafetensorsWeights, TensorSource,
};
use candle_core::{DType, Device, Tensor, Var};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Reads a model's tensors from trainable variables, so that the decoder built from them shares their storage and
/// gradients reach them.
struct VarSource<'a>(&'a BTreeMap<String, Var>);

impl TensorSource for VarSource<'_> {
    fn tensor(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let var = self.0.get(name).ok_or_else(|| Error::MissingTensor {
            dir: "<variables>".into(),
            name: name.to_string(),
        })?;
        if var.dims() != shape {
            return Err(Error::ShapeMismatch {
                implied_by: "config.json",
                path: "<variables>".into(),
                name: name.to_string(),
                expected: shape.to_vec(),
                got: var.dims().to_vec(),
            });
        }
        Ok(var.as_tensor().clone())
    }

    fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

/// A decoder built on trainable variables (f32, CPU).
pub struct TrainableModel {
    cfg: DecoderConfig,
    vars: BTreeMap<String, Var>,
    decoder: Decoder,
}

impl TrainableModel {
    fn from_tensors(cfg: &DecoderConfig, tensors: HashMap<String, Tensor>) -> Result<Self> {
        let vars = tensors
            .into_iter()
            .map(|(name, t)| Ok((name, Var::from_tensor(&t)?)))
            .collect::<Result<BTreeMap<_, _>>>()?;
        let decoder = Decoder::load(cfg, &VarSource(&vars), Kernels::Differentiable)?;
        Ok(Self {
            cfg: cfg.clone(),
            vars,
            decoder,
        })
    }

    /// A freshly initialised model (see [`MemoryWeights::random`]).
    pub fn init(cfg: &DecoderConfig, seed: u64) -> Result<Self> {
        let weights = MemoryWeights::random(cfg, DType::F32, &Device::Cpu, seed)?;
        Self::from_tensors(cfg, weights.tensors)
    }

    /// The weights of a checkpoint, as variables (to continue training from it, e.g. DPO from the SFT model).
    pub fn from_checkpoint(files: &CheckpointFiles) -> Result<Self> {
        let cfg = DecoderConfig::from_file(&files.config)?;
        let weights =
            SafetensorsWeights::open(&files.dir, &files.weights, DType::F32, &Device::Cpu)?;
        let mut tensors = HashMap::new();
        for name in weights.names() {
            let shape = weights.shape(&name).unwrap_or_default();
            tensors.insert(name.clone(), weights.tensor(&name, &shape)?);
        }
        Self::from_tensors(&cfg, tensors)
    }

    /// The configuration.
    pub fn config(&self) -> &DecoderConfig {
        &self.cfg
    }

    /// The decoder computing with the variables.
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// The trainable variables, in name order.
    pub fn vars(&self) -> Vec<Var> {
        self.vars.values().cloned().collect()
    }

    /// Writes `config.json` and `model.safetensors` into `dir` (created), plus `extra` files (name, contents),
    /// e.g. the tokenizer files and `trainer_state.json`. Refuses to write into a non-empty directory unless
    /// `overwrite`.
    pub fn save(
        &self,
        dir: &Path,
        special: (Option<u32>, Option<u32>),
        extra: &[(&str, String)],
        overwrite: bool,
    ) -> Result<()> {
        if !overwrite {
            ensure_empty_dir(dir)?;
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let config = self.cfg.to_hf_json(special.0, special.1)?;
        let config = serde_json::to_string_pretty(&config)
            .map_err(|e| Error::Output(format!("cannot serialise config.json: {e}")))?;
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|e| Error::io(path, e))
        };
        write("config.json", &config)?;
        let mut tensors: BTreeMap<&str, Tensor> = BTreeMap::new();
        for (name, var) in &self.vars {
            if self.cfg.tie_word_embeddings && name == "lm_head.weight" {
                continue;
            }
            tensors.insert(name, var.as_tensor().detach());
        }
        let path = dir.join("model.safetensors");
        candle_core::safetensors::save(&tensors.into_iter().collect::<HashMap<_, _>>(), &path)
            .map_err(|e| Error::Safetensors {
                path: path.clone(),
                message: format!("cannot write: {e}"),
            })?;
        for (name, text) in extra {
            write(name, text)?;
        }
        Ok(())
    }
}

/// Fails unless `dir` is absent or an empty directory (training output never lands on top of existing files), and
/// creates it, checking that it can be written before minutes of training.
pub fn ensure_empty_dir(dir: &Path) -> Result<()> {
    let occupied = dir.is_file()
        || dir.is_dir()
            && std::fs::read_dir(dir)
                .map_err(|e| Error::io(dir, e))?
                .next()
                .is_some();
    if occupied {
        return Err(Error::InvalidArgument(format!(
            "{}: already exists and is not empty; choose a new directory",
            dir.display()
        )));
    }
    // Training takes minutes: find out now, not at the first save, whether the directory can be written.
    let unwritable = |e: std::io::Error| {
        Error::InvalidArgument(format!(
            "{}: cannot be written ({e}); choose a directory you can write to",
            dir.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(unwritable)?;
    let probe = dir.join(".creditlens-write-test");
    std::fs::write(&probe, b"").map_err(unwritable)?;
    std::fs::remove_file(&probe).map_err(unwritable)?;
    Ok(())
}
