//! The families creditlens runs, one row each ([`FAMILIES`]): the architecture's name in config.json, its GGUF
//! architectures, its name for people, the function that reads its config.json and the one that loads its
//! weights. Everything that depends on which family a checkpoint is goes through this table: reading config.json
//! ([`DecoderConfig::from_file`] and the others), finding a GGUF file's family ([`gguf`]), loading the weights
//! ([`Decoder::load`]), the names on a model's card ([`Family::name`]), and every list of supported architectures
//! in an error. An architecture without a row is an error that lists the rows.
//!
//! The table is the top of `src/model`: it imports the family files and the decoder, and neither imports it.
//! Adding a family is its file (`src/model/<family>.rs`: its `Family` constant, config reader and weight loader)
//! and a row here; a GGUF architecture of it adds its metadata reader to `gguf_meta.rs` and names it in the row.

use super::config::{DecoderConfig, Family};
use super::decoder::{Decoder, Kernels, Parts};
use super::gguf_arch::{GgufArch, Names};
use super::gguf_meta;
use super::weights::TensorSource;
use super::{gemma, gpt_neox, gpt2, llama, olmo2, phi3, stablelm};
use crate::error::{Error, Result};
use serde_json::Value;
use std::path::Path;

/// What creditlens knows of one architecture: its names, and how to read its config.json and load its weights.
#[derive(Debug)]
pub struct FamilySpec {
    /// The family.
    pub family: Family,
    /// The family's name for people, as the model card shows it.
    pub name: &'static str,
    /// The GGUF architectures (`general.architecture`) this family runs, with how to read each.
    pub gguf: &'static [GgufArch],
    /// Reads config.json (parsed) into a [`DecoderConfig`]; `path` names the file in errors.
    pub config: fn(&Value, Family, &Path) -> Result<DecoderConfig>,
    /// Loads the weights of a checkpoint of this family into the decoder's blocks.
    pub(super) load: fn(&DecoderConfig, &dyn TensorSource, Kernels) -> Result<Parts>,
}

/// Every family creditlens runs, one row each, in the order the supported lists name them.
pub static FAMILIES: &[FamilySpec] = &[
    FamilySpec {
        family: Family::LLAMA,
        name: "Llama",
        gguf: &[GgufArch::new("llama", Names::Llama, gguf_meta::llama).permuted_qk()],
        config: llama::config,
        load: llama::load,
    },
    FamilySpec {
        family: Family::MISTRAL,
        name: "Mistral",
        // llama.cpp converts Mistral checkpoints to its `llama` architecture.
        gguf: &[],
        config: llama::config,
        load: llama::load,
    },
    FamilySpec {
        family: Family::QWEN2,
        name: "Qwen 2",
        gguf: &[GgufArch::new("qwen2", Names::Llama, gguf_meta::qwen2)],
        config: llama::config,
        load: llama::load,
    },
    FamilySpec {
        family: Family::QWEN3,
        name: "Qwen 3",
        gguf: &[GgufArch::new("qwen3", Names::Llama, gguf_meta::llama)],
        config: llama::config,
        load: llama::load,
    },
    FamilySpec {
        family: Family::GEMMA,
        name: "Gemma",
        gguf: &[GgufArch::new("gemma", Names::Llama, gguf_meta::gemma).norm_plus_one()],
        config: gemma::config,
        load: gemma::load,
    },
    FamilySpec {
        family: Family::GEMMA2,
        name: "Gemma 2",
        gguf: &[GgufArch::new("gemma2", Names::Sandwich, gguf_meta::gemma2).norm_plus_one()],
        config: gemma::config,
        load: gemma::load,
    },
    FamilySpec {
        family: Family::GEMMA3,
        name: "Gemma 3 (text)",
        gguf: &[GgufArch::new("gemma3", Names::Sandwich, gguf_meta::gemma3).norm_plus_one()],
        config: gemma::config,
        load: gemma::load,
    },
    FamilySpec {
        family: Family::PHI3,
        name: "Phi-3",
        gguf: &[GgufArch::new("phi3", Names::Llama, gguf_meta::phi3)],
        config: llama::config,
        load: phi3::load,
    },
    FamilySpec {
        family: Family::OLMO2,
        name: "OLMo 2",
        gguf: &[GgufArch::new("olmo2", Names::Sandwich, gguf_meta::olmo2)],
        config: llama::config,
        load: olmo2::load,
    },
    FamilySpec {
        family: Family::STABLELM,
        name: "StableLM",
        gguf: &[GgufArch::new("stablelm", Names::Llama, gguf_meta::stablelm)],
        config: stablelm::config,
        load: stablelm::load,
    },
    FamilySpec {
        family: Family::GPT_NEOX,
        name: "GPT-NeoX (Pythia)",
        gguf: &[GgufArch::new("gptneox", Names::GptNeoX, gguf_meta::gptneox)],
        config: gpt_neox::config,
        load: gpt_neox::load,
    },
    FamilySpec {
        family: Family::GPT2,
        name: "GPT-2",
        gguf: &[GgufArch::new("gpt2", Names::Gpt2, gguf_meta::gpt2)],
        config: gpt2::config,
        load: gpt2::load,
    },
];

impl Family {
    /// The family's row of [`FAMILIES`], if it has one (each family `src/model` defines has one).
    pub fn spec(self) -> Option<&'static FamilySpec> {
        FAMILIES.iter().find(|s| s.family == self)
    }

    /// The family's name for people (`Gemma 2`, `GPT-NeoX (Pythia)`), else its architecture.
    pub fn name(self) -> &'static str {
        self.spec().map_or(self.architecture(), |s| s.name)
    }
}

/// The config.json architectures creditlens runs, in the order of the rows.
pub fn architectures() -> impl Iterator<Item = &'static str> {
    FAMILIES.iter().map(|s| s.family.architecture())
}

/// The GGUF architectures creditlens runs, in the order of the rows.
pub fn gguf_architectures() -> impl Iterator<Item = &'static str> {
    FAMILIES.iter().flat_map(|s| s.gguf).map(|g| g.name)
}

/// A list for an error message: `a, b, c`.
fn listed(names: impl Iterator<Item = &'static str>) -> String {
    names.collect::<Vec<_>>().join(", ")
}

/// The family and the GGUF reading of `general.architecture` = `name`, or an error naming `path` and listing the
/// supported architectures.
pub fn gguf(name: &str, path: &Path) -> Result<(&'static FamilySpec, &'static GgufArch)> {
    FAMILIES
        .iter()
        .find_map(|s| s.gguf.iter().find(|g| g.name == name).map(|g| (s, g)))
        .ok_or_else(|| {
            Error::config(
                path,
                format!(
                    "GGUF architecture `{name}` is not supported; supported: {}",
                    listed(gguf_architectures())
                ),
            )
        })
}

impl DecoderConfig {
    /// Reads and normalises `config.json` at `path`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&text, path)
    }

    /// Parses config.json text; `path` is only used in error messages.
    pub fn from_json(text: &str, path: &Path) -> Result<Self> {
        let raw: Value = serde_json::from_str(text)
            .map_err(|e| Error::config(path, format!("not valid config.json: {e}")))?;
        Self::from_value(&raw, path)
    }

    /// Reads config.json fields already parsed (or built in code, as for GGUF metadata) with the reader of the
    /// family `architectures[0]` names, then checks the values; `path` names the source in errors.
    pub fn from_value(raw: &Value, path: &Path) -> Result<Self> {
        let arch = raw
            .get("architectures")
            .and_then(|a| a.as_array())
            .and_then(|a| a.first())
            .and_then(|a| a.as_str())
            .ok_or_else(|| {
                Error::config(
                    path,
                    format!(
                        "field `architectures` is missing or empty; set it to one of: {}",
                        listed(architectures())
                    ),
                )
            })?;
        let spec = FAMILIES
            .iter()
            .find(|s| s.family.architecture() == arch)
            .ok_or_else(|| Error::UnsupportedArchitecture {
                path: path.to_path_buf(),
                arch: arch.to_string(),
                supported: listed(architectures()),
            })?;
        let cfg = (spec.config)(raw, spec.family, path)?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// The configuration as a Hugging Face `config.json` (transformers 4 layout, which both 4.x and 5.x read),
    /// with the given special token ids. For trained checkpoints, which are of the Llama family; others are
    /// refused.
    pub fn to_hf_json(
        &self,
        bos_token_id: Option<u32>,
        eos_token_id: Option<u32>,
    ) -> Result<Value> {
        llama::hf_json(self, bos_token_id, eos_token_id)
    }
}

impl Decoder {
    /// Builds the decoder for `cfg` from tensors named as its family's checkpoints name them, read by the family's
    /// loader.
    pub fn load(cfg: &DecoderConfig, src: &dyn TensorSource, kernels: Kernels) -> Result<Self> {
        let spec = cfg.family.spec().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{} has no row in the family registry (src/model/registry.rs)",
                cfg.family.architecture()
            ))
        })?;
        let parts = (spec.load)(cfg, src, kernels)?;
        Self::from_parts(cfg, parts, kernels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_family_is_found_by_its_names() {
        for spec in FAMILIES {
            assert_eq!(spec.family.spec().map(|s| s.family), Some(spec.family));
            for g in spec.gguf {
                let (found, _) = gguf(g.name, Path::new("x.gguf")).unwrap();
                assert_eq!(found.family, spec.family);
            }
        }
        let names: Vec<_> = architectures().collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
    }

    #[test]
    fn unknown_architecture_lists_supported() {
        let err = DecoderConfig::from_json(
            r#"{"architectures":["BertForMaskedLM"]}"#,
            Path::new("config.json"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("BertForMaskedLM"), "{err}");
        for arch in architectures() {
            assert!(err.contains(arch), "{err}");
        }
        let err = DecoderConfig::from_json("{}", Path::new("config.json"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`architectures` is missing") && err.contains("GPT2LMHeadModel"),
            "{err}"
        );
    }

    #[test]
    fn unknown_gguf_architecture_lists_the_supported_ones() {
        let err = gguf("mamba", Path::new("m.gguf")).unwrap_err().to_string();
        assert!(err.contains("m.gguf") && err.contains("`mamba`"), "{err}");
        assert!(
            err.contains(
                "llama, qwen2, qwen3, gemma, gemma2, gemma3, phi3, olmo2, stablelm, gptneox, gpt2"
            ),
            "{err}"
        );
    }
}
