//! PEFT LoRA adapters: reading `adapter_config.json` and `adapter_model.safetensors` as `PeftModel.save_pretrained`
//! writes them, and applying them to a base checkpoint's weights (W + scale * B A, merged once at load time), so an
//! adapter scores exactly like the `PeftModel` it came from.

use super::matrix::Matrix;
use super::weights::{SafetensorsWeights, TensorSource};
use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The files of a PEFT adapter directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterFiles {
    /// The adapter directory, canonicalised.
    pub dir: PathBuf,
    /// `adapter_config.json`.
    pub config: PathBuf,
    /// `adapter_model.safetensors`.
    pub weights: PathBuf,
}

impl AdapterFiles {
    /// Whether `dir` looks like a PEFT adapter (it holds `adapter_config.json`).
    pub fn is_adapter(dir: &Path) -> bool {
        dir.join("adapter_config.json").is_file()
    }

    /// Finds the files of the adapter in `dir`, with an error naming whatever is missing.
    pub fn locate(dir: &Path) -> Result<Self> {
        let dir = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
        let config = dir.join("adapter_config.json");
        if !config.is_file() {
            return Err(Error::MissingFile {
                dir,
                what: "adapter_config.json".into(),
                hint: "a PEFT adapter directory holds adapter_config.json and adapter_model.safetensors (save it with PeftModel.save_pretrained)".into(),
            });
        }
        let weights = dir.join("adapter_model.safetensors");
        if !weights.is_file() {
            let hint = if dir.join("adapter_model.bin").is_file() {
                "only adapter_model.bin is present; creditlens reads safetensors: re-save with save_pretrained(dir, safe_serialization=True)"
            } else {
                "save the adapter with PeftModel.save_pretrained(dir)"
            };
            return Err(Error::MissingFile {
                dir,
                what: "adapter_model.safetensors".into(),
                hint: hint.into(),
            });
        }
        Ok(Self {
            dir,
            config,
            weights,
        })
    }
}

/// The parts of `adapter_config.json` that decide the merged weights.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraConfig {
    /// `r`: the default rank.
    pub r: usize,
    /// `lora_alpha`: the default alpha.
    pub alpha: f64,
    /// `use_rslora`: scale alpha / sqrt(r) instead of alpha / r.
    pub rslora: bool,
    /// `rank_pattern`: per-module ranks.
    pub rank_pattern: Vec<(String, usize)>,
    /// `alpha_pattern`: per-module alphas.
    pub alpha_pattern: Vec<(String, f64)>,
    /// `base_model_name_or_path`, when set.
    pub base_model: Option<String>,
    /// `revision`: the base model's revision on the Hub, when set.
    pub base_revision: Option<String>,
}

impl LoraConfig {
    /// Reads and checks `adapter_config.json`; adapters creditlens cannot apply exactly (DoRA, bias training,
    /// non-LoRA PEFT methods) are refused with the field that says so.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&text, path)
    }

    /// [`LoraConfig::from_file`] of the text `text`; `path` names the file in messages.
    pub fn from_json(text: &str, path: &Path) -> Result<Self> {
        let json: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::config(path, format!("not valid JSON: {e}")))?;
        let field = |name: &str| json.get(name).filter(|v| !v.is_null());
        match field("peft_type").and_then(|v| v.as_str()) {
            Some("LORA") | None => {}
            Some(other) => {
                return Err(Error::config(
                    path,
                    format!(
                        "peft_type is `{other}`; only LoRA adapters can be opened (merge others with merge_and_unload and save_pretrained)"
                    ),
                ));
            }
        }
        let refuse = |name: &str, why: &str| -> Result<()> {
            if field(name).is_some_and(|v| v.as_bool() == Some(true)) {
                return Err(Error::config(
                    path,
                    format!(
                        "`{name}` is true: {why}; merge the adapter (merge_and_unload + save_pretrained) and open the merged checkpoint"
                    ),
                ));
            }
            Ok(())
        };
        refuse("use_dora", "DoRA adapters are not supported")?;
        refuse(
            "fan_in_fan_out",
            "fan_in_fan_out is for GPT-2 style Conv1D layers, which creditlens does not run",
        )?;
        refuse("lora_bias", "LoRA bias terms are not supported")?;
        if let Some(b) = field("bias").and_then(|v| v.as_str())
            && b != "none"
        {
            return Err(Error::config(
                path,
                format!(
                    "bias is `{b}`: trained biases are not supported; merge the adapter (merge_and_unload + save_pretrained) and open the merged checkpoint"
                ),
            ));
        }
        let r = field("r")
            .and_then(|v| v.as_u64())
            .filter(|&r| r > 0)
            .ok_or_else(|| Error::config(path, "field `r` is missing or not a positive integer"))?
            as usize;
        let alpha = match field("lora_alpha") {
            None => 8.0,
            Some(v) => v
                .as_f64()
                .ok_or_else(|| Error::config(path, "field `lora_alpha` is not a number"))?,
        };
        let map = |name: &str| -> Result<Vec<(String, f64)>> {
            let Some(v) = field(name) else {
                return Ok(Vec::new());
            };
            let obj = v
                .as_object()
                .ok_or_else(|| Error::config(path, format!("field `{name}` is not an object")))?;
            obj.iter()
                .map(|(k, v)| {
                    v.as_f64().map(|x| (k.clone(), x)).ok_or_else(|| {
                        Error::config(path, format!("`{name}`.`{k}` is not a number"))
                    })
                })
                .collect()
        };
        let rank_pattern = map("rank_pattern")?
            .into_iter()
            .map(|(k, v)| (k, v as usize))
            .collect();
        Ok(Self {
            r,
            alpha,
            rslora: field("use_rslora").and_then(|v| v.as_bool()) == Some(true),
            rank_pattern,
            alpha_pattern: map("alpha_pattern")?,
            base_model: field("base_model_name_or_path")
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            base_revision: field("revision")
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        })
    }

    /// Rank and alpha of module `module` (e.g. `model.layers.0.self_attn.v_proj`), after the patterns.
    pub fn rank_and_alpha(&self, module: &str) -> (usize, f64) {
        let r = pattern_value(&self.rank_pattern, module).unwrap_or(self.r);
        let alpha = pattern_value(&self.alpha_pattern, module).unwrap_or(self.alpha);
        (r, alpha)
    }

    /// The factor B A is multiplied by for module `module`.
    pub fn scale(&self, module: &str) -> f64 {
        let (r, alpha) = self.rank_and_alpha(module);
        if self.rslora {
            alpha / (r as f64).sqrt()
        } else {
            alpha / r as f64
        }
    }
}

/// PEFT's rule for `rank_pattern`/`alpha_pattern` keys: a key matches the whole module name or its last dotted
/// parts (`v_proj` matches `model.layers.0.self_attn.v_proj`); regular-expression keys are matched as such.
fn pattern_value<T: Copy>(patterns: &[(String, T)], module: &str) -> Option<T> {
    patterns
        .iter()
        .find(|(k, _)| k == module)
        .or_else(|| {
            patterns.iter().find(|(k, _)| {
                module.ends_with(&format!(".{k}"))
                    || regex::Regex::new(&format!(r"^(.*\.)?({k})$"))
                        .is_ok_and(|re| re.is_match(module))
            })
        })
        .map(|(_, v)| *v)
}

/// A loaded adapter: the weight changes it makes, by the base tensor's name.
pub struct LoraAdapter {
    files: AdapterFiles,
    config: LoraConfig,
    /// A `(r, in)`, B `(out, r)` and the scale of every adapted linear weight (f32), by base tensor name.
    factors: HashMap<String, LowRank>,
    /// The change of every adapted embedding, `scale * (B A)^T` (f32), by base tensor name.
    deltas: HashMap<String, Tensor>,
    /// Whole tensors the adapter replaces (`modules_to_save`), by base tensor name.
    replaced: HashMap<String, Tensor>,
}

impl std::fmt::Debug for LoraAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoraAdapter")
            .field("dir", &self.files.dir)
            .field("config", &self.config)
            .field("adapted", &self.deltas.len())
            .field("replaced", &self.replaced.len())
            .finish()
    }
}

/// A LoRA update of one linear weight: `W + scale * B A`.
#[derive(Debug, Clone)]
pub struct LowRank {
    /// `lora_A`, `(r, in)`.
    pub a: Tensor,
    /// `lora_B`, `(out, r)`.
    pub b: Tensor,
    /// alpha / r (or alpha / sqrt(r) with rsLoRA).
    pub scale: f64,
}

impl LowRank {
    /// The full change `scale * B A`, `(out, in)`.
    pub fn delta(&self) -> Result<Tensor> {
        Ok((self.b.matmul(&self.a)? * self.scale)?)
    }
}

/// What a saved adapter tensor is.
enum AdapterKey {
    A(String),
    B(String),
    EmbeddingA(String),
    EmbeddingB(String),
    Whole(String),
}

fn parse_key(key: &str) -> Option<AdapterKey> {
    let key = key.strip_prefix("base_model.model.")?;
    let key = key.replace(".default.", ".");
    let strip = |suffix: &str| key.strip_suffix(suffix).map(str::to_string);
    if let Some(m) = strip(".lora_A.weight") {
        Some(AdapterKey::A(m))
    } else if let Some(m) = strip(".lora_B.weight") {
        Some(AdapterKey::B(m))
    } else if let Some(m) =
        strip(".lora_embedding_A").or_else(|| strip(".lora_embedding_A.default"))
    {
        Some(AdapterKey::EmbeddingA(m))
    } else if let Some(m) =
        strip(".lora_embedding_B").or_else(|| strip(".lora_embedding_B.default"))
    {
        Some(AdapterKey::EmbeddingB(m))
    } else if key.contains("lora_") {
        None
    } else {
        Some(AdapterKey::Whole(key.replace(".modules_to_save.", ".")))
    }
}

impl LoraAdapter {
    /// Reads an adapter and computes its weight changes.
    pub fn load(files: &AdapterFiles) -> Result<Self> {
        let config = LoraConfig::from_file(&files.config)?;
        let weights = SafetensorsWeights::open(
            &files.dir,
            std::slice::from_ref(&files.weights),
            DType::F32,
            &Device::Cpu,
        )?;
        let path = &files.weights;
        let bad = |message: String| Error::Safetensors {
            path: path.clone(),
            message,
        };
        let (mut a, mut b) = (HashMap::new(), HashMap::new());
        let mut embedding = HashMap::new();
        let mut replaced = HashMap::new();
        for name in weights.names() {
            let shape = weights.shape(&name).unwrap_or_default();
            let load = || weights.tensor(&name, &shape);
            match parse_key(&name) {
                Some(AdapterKey::A(m)) => drop(a.insert(m, load()?)),
                Some(AdapterKey::B(m)) => drop(b.insert(m, load()?)),
                Some(AdapterKey::EmbeddingA(m)) => {
                    embedding.entry(m).or_insert((None, None)).0 = Some(load()?)
                }
                Some(AdapterKey::EmbeddingB(m)) => {
                    embedding.entry(m).or_insert((None, None)).1 = Some(load()?)
                }
                Some(AdapterKey::Whole(m)) => drop(replaced.insert(m, load()?)),
                None => {
                    return Err(bad(format!(
                        "tensor `{name}` is not a LoRA A/B matrix creditlens knows; merge the adapter (merge_and_unload + save_pretrained) and open the merged checkpoint"
                    )));
                }
            }
        }
        let mut deltas = HashMap::new();
        let mut factors = HashMap::new();
        let check_rank = |module: &str, rank: usize| -> Result<f64> {
            let (r, _) = config.rank_and_alpha(module);
            if r != rank {
                return Err(bad(format!(
                    "`{module}` has LoRA rank {rank} but adapter_config.json implies r = {r}; the weights and adapter_config.json do not belong together"
                )));
            }
            Ok(config.scale(module))
        };
        for (module, a_t) in a {
            let b_t = b.remove(&module).ok_or_else(|| {
                bad(format!(
                    "`{module}` has lora_A but no lora_B; the file is incomplete"
                ))
            })?;
            let (rank, _) = a_t.dims2()?;
            let (_, rank_b) = b_t.dims2()?;
            if rank_b != rank {
                return Err(bad(format!(
                    "`{module}`: lora_A has rank {rank} but lora_B {rank_b}"
                )));
            }
            let scale = check_rank(&module, rank)?;
            factors.insert(
                format!("{module}.weight"),
                LowRank {
                    a: a_t,
                    b: b_t,
                    scale,
                },
            );
        }
        if let Some(module) = b.keys().next() {
            return Err(bad(format!(
                "`{module}` has lora_B but no lora_A; the file is incomplete"
            )));
        }
        for (module, pair) in embedding {
            let (Some(a_t), Some(b_t)) = pair else {
                return Err(bad(format!(
                    "`{module}` lacks one of lora_embedding_A / lora_embedding_B; the file is incomplete"
                )));
            };
            let (rank, _) = a_t.dims2()?;
            let scale = check_rank(&module, rank)?;
            // PEFT's embedding delta: (B A)^T, shape (vocabulary, hidden).
            deltas.insert(
                format!("{module}.weight"),
                (b_t.matmul(&a_t)?.t()?.contiguous()? * scale)?,
            );
        }
        Ok(Self {
            files: files.clone(),
            config,
            factors,
            deltas,
            replaced,
        })
    }

    /// The adapter's files.
    pub fn files(&self) -> &AdapterFiles {
        &self.files
    }

    /// Its configuration.
    pub fn config(&self) -> &LoraConfig {
        &self.config
    }

    /// Number of base weights the adapter changes.
    pub fn adapted(&self) -> usize {
        self.factors.len() + self.deltas.len() + self.replaced.len()
    }

    /// Whether the adapter changes base tensor `name`.
    pub fn touches(&self, name: &str) -> bool {
        self.factors.contains_key(name)
            || self.deltas.contains_key(name)
            || self.replaced.contains_key(name)
    }

    /// The low-rank updates of linear weights, by base tensor name; `None` when the adapter also changes
    /// embeddings or replaces whole tensors (`modules_to_save`), which only a merge applies.
    pub fn low_rank_only(&self) -> Option<&HashMap<String, LowRank>> {
        (self.deltas.is_empty() && self.replaced.is_empty()).then_some(&self.factors)
    }

    /// The change of base tensor `name`, if the adapter has one.
    fn delta(&self, name: &str) -> Option<Result<Tensor>> {
        match self.factors.get(name) {
            Some(f) => Some(f.delta()),
            None => self.deltas.get(name).cloned().map(Ok),
        }
    }

    /// The base checkpoint directory `base_model_name_or_path` names, when it is a local directory (absolute, or
    /// relative to the adapter directory) holding a config.json; `None` for hub ids.
    pub fn local_base(&self) -> Option<PathBuf> {
        local_base(&self.files, &self.config)
    }

    /// One line for model cards: rank, alpha and how many weights change.
    pub fn describe(&self) -> String {
        format!(
            "LoRA r {} alpha {}{}, {} weights adapted",
            self.config.r,
            self.config.alpha,
            if self.config.rslora { " (rsLoRA)" } else { "" },
            self.adapted()
        )
    }

    /// The base weights of `base` with this adapter applied.
    pub fn apply<'a>(&'a self, base: &'a dyn TensorSource) -> AdaptedWeights<'a> {
        AdaptedWeights {
            base,
            adapter: self,
        }
    }
}

/// The local base directory of an adapter, if `base_model_name_or_path` names one.
pub fn local_base(files: &AdapterFiles, config: &LoraConfig) -> Option<PathBuf> {
    let base = config.base_model.as_deref()?;
    let p = Path::new(base);
    let candidate = if p.is_absolute() {
        p.to_path_buf()
    } else {
        files.dir.join(p)
    };
    candidate.join("config.json").is_file().then_some(candidate)
}

/// A base checkpoint's tensors with an adapter's changes added.
pub struct AdaptedWeights<'a> {
    base: &'a dyn TensorSource,
    adapter: &'a LoraAdapter,
}

impl TensorSource for AdaptedWeights<'_> {
    fn tensor(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let mismatch = |got: &[usize]| Error::ShapeMismatch {
            implied_by: "the base model's config.json",
            path: self.adapter.files.weights.clone(),
            name: name.to_string(),
            expected: shape.to_vec(),
            got: got.to_vec(),
        };
        if let Some(t) = self.adapter.replaced.get(name) {
            if t.dims() != shape {
                return Err(mismatch(t.dims()));
            }
            // The dtype the base hands out is the compute dtype.
            let dtype = self.base.tensor(name, shape)?.dtype();
            return Ok(t.to_dtype(dtype)?);
        }
        let w = self.base.tensor(name, shape)?;
        match self.adapter.delta(name).transpose()? {
            None => Ok(w),
            Some(d) if d.dims() != shape => Err(mismatch(d.dims())),
            Some(d) => Ok((w.to_dtype(DType::F32)? + d)?.to_dtype(w.dtype())?),
        }
    }

    fn matrix(&self, name: &str, shape: &[usize]) -> Result<Matrix> {
        // A matrix the adapter leaves alone stays as the base stores it.
        if self.adapter.touches(name) {
            Ok(Matrix::Dense(self.tensor(name, shape)?))
        } else {
            self.base.matrix(name, shape)
        }
    }

    fn contains(&self, name: &str) -> bool {
        self.base.contains(name) || self.adapter.replaced.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_follow_peft() {
        let p = vec![
            ("v_proj".to_string(), 2usize),
            (r"layers\.1\..*q_proj".to_string(), 8),
        ];
        assert_eq!(
            pattern_value(&p, "model.layers.0.self_attn.v_proj"),
            Some(2)
        );
        assert_eq!(
            pattern_value(&p, "model.layers.1.self_attn.q_proj"),
            Some(8)
        );
        assert_eq!(pattern_value(&p, "model.layers.0.self_attn.q_proj"), None);
        assert_eq!(pattern_value(&p, "model.layers.0.self_attn.xv_proj"), None);
    }

    #[test]
    fn keys_map_to_base_tensors() {
        let m = |k: &str| match parse_key(k) {
            Some(AdapterKey::A(m)) => format!("A {m}"),
            Some(AdapterKey::B(m)) => format!("B {m}"),
            Some(AdapterKey::EmbeddingA(m)) => format!("EA {m}"),
            Some(AdapterKey::EmbeddingB(m)) => format!("EB {m}"),
            Some(AdapterKey::Whole(m)) => format!("W {m}"),
            None => "none".into(),
        };
        assert_eq!(
            m("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"),
            "A model.layers.0.self_attn.q_proj"
        );
        assert_eq!(
            m("base_model.model.model.layers.3.mlp.down_proj.lora_B.default.weight"),
            "B model.layers.3.mlp.down_proj"
        );
        assert_eq!(
            m("base_model.model.model.embed_tokens.lora_embedding_A"),
            "EA model.embed_tokens"
        );
        assert_eq!(m("base_model.model.lm_head.weight"), "W lm_head.weight");
        assert_eq!(m("base_model.model.x.lora_magnitude_vector"), "none");
    }
}
