//! Loading causal language models from checkpoint directories and running them over every position.

pub mod amx;
mod causal_attention;
pub mod config;
mod config_json;
pub mod decoder;
mod dtype;
mod gemma;
pub mod gguf;
pub mod gguf_arch;
pub mod gguf_header;
pub mod gguf_meta;
mod gpt2;
mod gpt_neox;
mod in_place;
mod kernels;
mod llama;
pub mod lora;
pub mod mapped;
pub mod matrix;
mod olmo2;
mod phi3;
pub mod quantized;
pub mod registry;
pub mod rope;
mod stablelm;
pub mod weights;

pub use config::{DecoderConfig, Family, MlpKind, NormKind, QkNorm, Shape};
pub use decoder::{Decoder, Kernels, KvCache};
pub use dtype::Dtype;
pub use lora::{AdapterFiles, LoraAdapter, LoraConfig};
pub use registry::{FAMILIES, FamilySpec};
pub use weights::{InPlace, MemoryWeights, ProgressSource, SafetensorsWeights, TensorSource};

use crate::checkpoint::CheckpointFiles;
use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor};
use std::path::PathBuf;

/// The dtype a model computing in `dtype` holds its activations in ([`Dtype::activations`]).
fn activations(dtype: DType) -> DType {
    Dtype::from_candle(dtype).activations()
}

/// The kernels a model computing in `dtype` loads with: bf16 products for bf16 (weights packed as they load).
fn kernels(dtype: DType) -> Kernels {
    if dtype == DType::BF16 {
        Kernels::FusedBf16
    } else {
        Kernels::Fused
    }
}

/// `decoder`, loaded with [`activations`]`(dtype)`, made to compute in `dtype`.
fn in_dtype(decoder: Decoder, dtype: DType) -> Result<Decoder> {
    if dtype == DType::BF16 {
        decoder.with_bf16_products()
    } else {
        Ok(decoder)
    }
}

/// What a user wants to know about a loaded checkpoint.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelInfo {
    /// The checkpoint directory.
    pub path: PathBuf,
    /// `architectures[0]` of config.json.
    pub architecture: String,
    /// The model family, named for people (`Gemma 2`).
    pub family: String,
    /// Number of parameters.
    pub parameters: usize,
    /// The dtype(s) the weights are stored in, e.g. `bf16`.
    pub stored_dtype: String,
    /// The dtype computation runs in.
    pub compute_dtype: String,
    /// Vocabulary size of the model.
    pub vocab_size: usize,
    /// Longest sequence the model accepts.
    pub context_length: usize,
    /// For a LoRA adapter: what it is and the base checkpoint it was applied to.
    pub adapter: Option<String>,
    /// Bytes its weights take in memory as held for scoring (for an unmerged adapter, the adapter's alone).
    pub memory: u64,
    /// Estimated working memory of one forward over 2,048 tokens (or the context, if shorter).
    pub working_memory: u64,
}

/// A causal language model loaded from a checkpoint.
#[derive(Debug, Clone)]
pub struct Model {
    decoder: Decoder,
    info: ModelInfo,
}

fn dtype_name(d: DType) -> &'static str {
    match d {
        DType::F32 => "f32",
        DType::F16 => "f16",
        DType::BF16 => "bf16",
        _ => "other",
    }
}

impl ModelInfo {
    /// The facts of a model of configuration `cfg` at `path` whose weights take `memory` bytes.
    fn of(
        cfg: &DecoderConfig,
        path: PathBuf,
        stored_dtype: String,
        compute: DType,
        memory: u64,
    ) -> Self {
        Self {
            path,
            architecture: cfg.family.architecture().to_string(),
            family: cfg.family.name().to_string(),
            parameters: cfg.num_parameters(),
            stored_dtype,
            compute_dtype: dtype_name(compute).to_string(),
            vocab_size: cfg.vocab_size,
            context_length: cfg.max_position_embeddings,
            adapter: None,
            memory,
            working_memory: cfg.activation_bytes(
                cfg.max_position_embeddings.min(2048),
                Dtype::from_candle(compute),
            ),
        }
    }
}

impl Model {
    /// Loads the model of a located checkpoint, computing in `dtype` on `device`.
    pub fn load(files: &CheckpointFiles, dtype: DType, device: &Device) -> Result<Self> {
        Self::load_reporting(files, dtype, device, &|_| {})
    }

    /// [`Model::load`], calling `report` with the share loaded (0 to 1) as it goes.
    pub fn load_reporting(
        files: &CheckpointFiles,
        dtype: DType,
        device: &Device,
        report: &dyn Fn(f32),
    ) -> Result<Self> {
        let cfg = DecoderConfig::from_file(&files.config)?;
        Self::load_with(files, dtype, device, |w| {
            let w = ProgressSource::new(w, cfg.num_hidden_layers, report);
            Decoder::load(&cfg, &w, kernels(dtype))
        })
    }

    /// Opens the weights of `files` and builds the decoder with `build`.
    fn load_with(
        files: &CheckpointFiles,
        dtype: DType,
        device: &Device,
        build: impl FnOnce(&dyn TensorSource) -> Result<Decoder>,
    ) -> Result<Self> {
        let cfg = DecoderConfig::from_file(&files.config)?;
        // bf16 compute on AMX multiplies a bf16 file's weights where they lie in it, as the exact f32 path does
        // with every weight matrix (f32 read there, narrower ones widened from there as they multiply).
        let in_place = match dtype {
            DType::BF16 if device.is_cpu() && amx::available() => InPlace::AmxTiles,
            DType::F32 if device.is_cpu() => InPlace::Rows,
            _ => InPlace::Off,
        };
        let weights =
            SafetensorsWeights::open(&files.dir, &files.weights, activations(dtype), device)?
                .in_place(in_place);
        let stored = weights
            .stored_dtypes()
            .iter()
            .map(|d| dtype_name(*d))
            .collect::<Vec<_>>()
            .join("+");
        let decoder = in_dtype(build(&weights)?, dtype)?;
        weights.check_all_read(&cfg, cfg.family.architecture(), &files.config)?;
        let info = ModelInfo::of(
            &cfg,
            files.dir.clone(),
            stored,
            dtype,
            decoder.weight_bytes(),
        );
        Ok(Self { decoder, info })
    }

    /// Loads the base checkpoint `base` with the LoRA `adapter` merged into its weights.
    pub fn load_adapted(
        base: &CheckpointFiles,
        adapter: &LoraAdapter,
        dtype: DType,
        device: &Device,
        report: &dyn Fn(f32),
    ) -> Result<Self> {
        let cfg = DecoderConfig::from_file(&base.config)?;
        if cfg.tie_word_embeddings && adapter.touches("model.embed_tokens.weight") {
            return Err(Error::config(
                &adapter.files().config,
                "the adapter changes embed_tokens of a model with tied embeddings, where PEFT adapts the input \
                 embeddings but not the output layer; merge it (merge_and_unload + save_pretrained) and open the \
                 merged checkpoint",
            ));
        }
        let mut model = Self::load_with(base, dtype, device, |w| {
            let adapted = adapter.apply(w);
            let w = ProgressSource::new(&adapted, cfg.num_hidden_layers, report);
            Decoder::load(&cfg, &w, kernels(dtype))
        })?;
        model.info.path = adapter.files().dir.clone();
        model.info.adapter = Some(format!("{} on {}", adapter.describe(), base.dir.display()));
        Ok(model)
    }

    /// Loads a GGUF file, dequantising its tensors to `dtype` on `device`.
    pub fn load_gguf(
        file: &gguf::GgufFile,
        dtype: DType,
        device: &Device,
        report: &dyn Fn(f32),
    ) -> Result<Self> {
        let cfg = file.config()?;
        let weights = file.weights(activations(dtype), device)?;
        let w = ProgressSource::new(&weights, cfg.num_hidden_layers, report);
        let decoder = in_dtype(Decoder::load(&cfg, &w, kernels(dtype))?, dtype)?;
        weights.check_all_read(&cfg)?;
        let info = ModelInfo {
            architecture: format!(
                "{} (GGUF {})",
                cfg.family.architecture(),
                file.architecture()?
            ),
            ..ModelInfo::of(
                &cfg,
                file.path().to_path_buf(),
                file.stored_dtypes(),
                dtype,
                decoder.weight_bytes(),
            )
        };
        Ok(Self { decoder, info })
    }

    /// This base model with `adapter` applied unmerged (PEFT's forward), sharing every base weight with `self`;
    /// `None` when the adapter changes something only a merge applies (embeddings, whole tensors, a fused
    /// checkpoint tensor).
    pub fn with_adapter(&self, adapter: &LoraAdapter) -> Result<Option<Self>> {
        let Some(factors) = adapter.low_rank_only() else {
            return Ok(None);
        };
        let decoder = self.decoder.with_adapter(factors).map_err(|e| match e {
            Error::ShapeMismatch {
                implied_by,
                name,
                expected,
                got,
                ..
            } => Error::ShapeMismatch {
                implied_by,
                path: adapter.files().weights.clone(),
                name,
                expected,
                got,
            },
            e => e,
        })?;
        let Some(decoder) = decoder else {
            return Ok(None);
        };
        let info = ModelInfo {
            path: adapter.files().dir.clone(),
            adapter: Some(format!(
                "{} on {}, unmerged (the base is shared with the reference)",
                adapter.describe(),
                self.info.path.display()
            )),
            memory: decoder.adapter_bytes(),
            ..self.info.clone()
        };
        Ok(Some(Self { decoder, info }))
    }

    /// The same model with `adapter` as the line its card shows about its LoRA adapter ([`ModelInfo::adapter`]).
    pub fn with_adapter_description(mut self, adapter: String) -> Self {
        self.info.adapter = Some(adapter);
        self
    }

    /// The same model attending in blocks of query rows beyond `elements` scores per layer
    /// ([`Decoder::with_attention_block`]).
    pub fn with_attention_block(&self, elements: usize) -> Self {
        Self {
            decoder: self.decoder.clone().with_attention_block(elements),
            info: self.info.clone(),
        }
    }

    /// Wraps an already built decoder (for models made in code, e.g. by training or benchmarks).
    pub fn from_decoder(decoder: Decoder, path: PathBuf) -> Self {
        let dtype = decoder.compute_dtype().candle();
        let info = ModelInfo::of(
            decoder.config(),
            path,
            dtype_name(dtype).to_string(),
            dtype,
            decoder.weight_bytes(),
        );
        Self { decoder, info }
    }

    /// Facts about the checkpoint.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The decoder that runs the model: one [`Decoder`] runs every family, and scoring, search and training call
    /// it directly.
    pub fn lm(&self) -> &Decoder {
        &self.decoder
    }

    /// Runs token ids after the positions already in `cache` and returns their hidden states `(t, hidden)`.
    pub fn forward_ids(&self, ids: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        let lm = self.lm();
        let t = Tensor::from_slice(ids, (1, ids.len()), lm.device())?;
        Ok(lm.forward_hidden(&t, cache)?.squeeze(0)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The logits of `d` for `ids`, flattened (`name` in messages).
    fn logits_of(d: &Decoder, ids: &Tensor, name: &str) -> Vec<f32> {
        let mut cache = d.new_cache();
        let h = d
            .forward_hidden(ids, &mut cache)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let l = d.logits(&h).unwrap_or_else(|e| panic!("{name}: {e}"));
        l.flatten_all()
            .and_then(|l| l.to_vec1())
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// The fixture checkpoints of every family (f32, and one in f16).
    const FAMILY_FIXTURES: [&str; 12] = [
        "llama",
        "llama_untied",
        "llama_f16",
        "gpt_neox",
        "gpt2",
        "phi3",
        "phi3_longrope",
        "gemma2",
        "gemma3",
        "qwen3",
        "olmo2",
        "stablelm_parallel",
    ];

    /// The largest absolute difference between logits `a` and `b` (of equal length; `name` in messages).
    fn worst_difference(a: &[f32], b: &[f32], name: &str) -> f32 {
        assert_eq!(a.len(), b.len(), "{name}");
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max)
    }

    /// The token ids the fixture comparisons feed.
    fn fixture_ids() -> Tensor {
        Tensor::new(&[[1u32, 5, 9, 2, 7, 3, 11, 4]], &Device::Cpu).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The fixture checkpoint `from` saved again into `to` with its float tensors in `dtype` (other files copied).
    fn resaved(from: &std::path::Path, to: &std::path::Path, dtype: DType) -> std::path::PathBuf {
        std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{e}"));
        for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{e}")) {
            let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
            let dest = to.join(path.file_name().unwrap_or_default());
            if path.extension().is_some_and(|e| e == "safetensors") {
                let tensors = candle_core::safetensors::load(&path, &Device::Cpu)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let converted: std::collections::HashMap<String, Tensor> = tensors
                    .into_iter()
                    .map(|(k, t)| {
                        let t = if t.dtype().is_float() {
                            t.to_dtype(dtype)
                        } else {
                            Ok(t)
                        };
                        (k, t.unwrap_or_else(|e| panic!("{e}")))
                    })
                    .collect();
                candle_core::safetensors::save(&converted, &dest).unwrap_or_else(|e| panic!("{e}"));
            } else {
                std::fs::copy(&path, &dest).unwrap_or_else(|e| panic!("{e}"));
            }
        }
        to.to_path_buf()
    }

    /// The exact f32 path multiplies f32 weights where they lie in the checkpoint and bf16/f16 ones from there
    /// (widened, or on AMX tiles with the input split exactly into bf16 parts; no copy at load): the logits are
    /// those of the weights copied into memory (to the order of the sums), for every family with a fixture,
    /// stored in f32 and saved again in bf16, for a short input and one long enough for the tiles; a file saved
    /// over is refused, naming it.
    #[test]
    fn f32_path_weights_in_place_equal_weights_copied_at_load() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/models");
        let ids = fixture_ids();
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for name in FAMILY_FIXTURES {
            let bf16 = resaved(&root.join(name), &tmp.path().join(name), DType::BF16);
            for dir in [root.join(name), bf16] {
                let files = CheckpointFiles::locate(&dir).unwrap_or_else(|e| panic!("{name}: {e}"));
                let cfg = DecoderConfig::from_file(&files.config).unwrap_or_else(|e| panic!("{e}"));
                let load = |mode: InPlace| {
                    let w = SafetensorsWeights::open(
                        &files.dir,
                        &files.weights,
                        DType::F32,
                        &Device::Cpu,
                    )
                    .unwrap_or_else(|e| panic!("{name}: {e}"))
                    .in_place(mode);
                    Decoder::load(&cfg, &w, Kernels::Fused)
                        .unwrap_or_else(|e| panic!("{name}: {e}"))
                };
                let (in_place, copied) = (load(InPlace::Rows), load(InPlace::Off));
                assert_eq!(copied.matrices_in_place(), 0, "{name}");
                let layers = cfg.num_hidden_layers;
                let want = match name {
                    // GPT-2's Conv1D weights are `(in, out)`, GPT-NeoX's and Phi-3's fused tensors are split:
                    // those are copied.
                    "gpt2" | "gpt_neox" | "phi3" | "phi3_longrope" => None,
                    "llama_untied" => Some(2 + 4 * layers),
                    _ => Some(1 + 1 + 4 * layers),
                };
                if let Some(want) = want {
                    assert_eq!(
                        in_place.matrices_in_place(),
                        want,
                        "{name} {}",
                        dir.display()
                    );
                }
                // 40 tokens: from 32 rows bf16 weights multiply on AMX tiles where the CPU has them, the input
                // split exactly into three bf16 parts.
                let long: Vec<u32> = (0..40u32)
                    .map(|i| (i * 7 + 1) % cfg.vocab_size as u32)
                    .collect();
                let long =
                    Tensor::from_vec(long, (1, 40), &Device::Cpu).unwrap_or_else(|e| panic!("{e}"));
                for ids in [&ids, &long] {
                    let (a, b) = (
                        logits_of(&in_place, ids, name),
                        logits_of(&copied, ids, name),
                    );
                    // gemm orders a small product's sums by its operands' layout (the file's `(out, in)` rows
                    // against a transposed copy), tiles in their own order, so the last bits may differ; a wrong
                    // stride, row or part would not.
                    let worst = worst_difference(&a, &b, name);
                    assert!(
                        worst <= 5e-5,
                        "{name} {}: logits differ by up to {worst}",
                        dir.display()
                    );
                }
                assert_eq!(in_place.weight_bytes(), copied.weight_bytes(), "{name}");
            }
        }
        // A trainer saving over the open checkpoint: the next forward pass is refused, naming the file.
        let dir = resaved(
            &root.join("llama"),
            &tmp.path().join("saved-over"),
            DType::F32,
        );
        let files = CheckpointFiles::locate(&dir).unwrap_or_else(|e| panic!("{e}"));
        let model = Model::load(&files, DType::F32, &Device::Cpu).unwrap_or_else(|e| panic!("{e}"));
        assert!(model.decoder.matrices_in_place() > 0);
        std::fs::write(dir.join("model.safetensors"), b"saved over")
            .unwrap_or_else(|e| panic!("{e}"));
        let mut cache = model.decoder.new_cache();
        let msg = model
            .decoder
            .forward_hidden(&ids, &mut cache)
            .err()
            .unwrap_or_else(|| panic!("scored with a file saved over"))
            .to_string();
        assert!(
            msg.contains("changed on disk") && msg.contains("model.safetensors"),
            "{msg}"
        );
    }

    /// `--dtype bf16` packs each weight as it loads (fused q/k/v and gate/up packed from their parts, a checkpoint's
    /// fused tensor split and packed, tied and untied heads): the logits are exactly those of the same checkpoint
    /// loaded in f32 and converted afterwards, whichever kernel this CPU runs, for every family with a fixture.
    #[test]
    fn bf16_packed_at_load_equals_bf16_converted_after_load() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/models");
        let ids = fixture_ids();
        for name in FAMILY_FIXTURES {
            let files =
                CheckpointFiles::locate(&root.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            let logits = |d: &Decoder| logits_of(d, &ids, name);
            let at_load = Model::load(&files, DType::BF16, &Device::Cpu)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let after = Model::load(&files, DType::F32, &Device::Cpu)
                .and_then(|m| m.decoder.with_bf16_products())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let (a, b) = (logits(&at_load.decoder), logits(&after));
            let worst = worst_difference(&a, &b, name);
            assert!(worst == 0.0, "{name}: logits differ by up to {worst}");
            // A bf16 file's weights are multiplied in place (no padding to whole tiles): never more bytes.
            assert!(
                at_load.decoder.weight_bytes() <= after.weight_bytes(),
                "{name}: held bytes {} > {}",
                at_load.decoder.weight_bytes(),
                after.weight_bytes()
            );
        }
    }

    /// A bf16 checkpoint computed in bf16 on AMX multiplies its weights where they lie in the file (no copy):
    /// the logits are exactly those of the same weights packed at load, for every family with a fixture (each
    /// saved again in bf16), and the embeddings (gathered from the file) and every projection are in place.
    #[test]
    fn bf16_weights_in_place_equal_bf16_weights_packed_at_load() {
        if !amx::available() {
            eprintln!("skipped: this CPU or kernel has no AMX");
            return;
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/models");
        let ids = fixture_ids();
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for name in [
            "llama",
            "llama_ref",
            "llama_untied",
            "gpt_neox",
            "gpt2",
            "phi3",
            "gemma2",
            "gemma3",
            "qwen3",
            "olmo2",
            "stablelm_parallel",
        ] {
            let dir = resaved(&root.join(name), &tmp.path().join(name), DType::BF16);
            let files = CheckpointFiles::locate(&dir).unwrap_or_else(|e| panic!("{name}: {e}"));
            let logits = |d: &Decoder| logits_of(d, &ids, name);
            let in_place = Model::load(&files, DType::BF16, &Device::Cpu)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let packed = Model::load(&files, DType::F32, &Device::Cpu)
                .and_then(|m| m.decoder.with_bf16_products())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            // Only an untied model's embeddings stay in the file there (they are gathered, never multiplied).
            assert_eq!(
                packed.matrices_in_place(),
                usize::from(!in_place.decoder.config().tie_word_embeddings),
                "{name}"
            );
            let layers = in_place.decoder.config().num_hidden_layers;
            let want = match name {
                // GPT-2's Conv1D weights are `(in, out)`, GPT-NeoX's and Phi-3's fused tensors are split: those
                // are packed as before.
                "gpt2" | "gpt_neox" | "phi3" => None,
                "llama_untied" => Some(2 + 4 * layers),
                _ => Some(1 + 1 + 4 * layers),
            };
            if let Some(want) = want {
                assert_eq!(in_place.decoder.matrices_in_place(), want, "{name}");
            }
            let (a, b) = (logits(&in_place.decoder), logits(&packed));
            assert_eq!(a, b, "{name}");
            if name == "llama_ref" {
                // A LoRA adapter merged into the bf16 base held in place: the matrices it changes are merged in
                // memory (and packed), the others stay in the file; the logits are the packed path's.
                let adapter = crate::model::lora::AdapterFiles::locate(&root.join("llama_lora"))
                    .and_then(|f| LoraAdapter::load(&f))
                    .unwrap_or_else(|e| panic!("{e}"));
                let merged =
                    Model::load_adapted(&files, &adapter, DType::BF16, &Device::Cpu, &|_| {})
                        .unwrap_or_else(|e| panic!("{e}"));
                let packed =
                    Model::load_adapted(&files, &adapter, DType::F32, &Device::Cpu, &|_| {})
                        .and_then(|m| m.decoder.with_bf16_products())
                        .unwrap_or_else(|e| panic!("{e}"));
                assert!(
                    merged.decoder.matrices_in_place() >= 1,
                    "the embeddings stay in place"
                );
                assert!(
                    merged.decoder.matrices_in_place() < 2 + 4 * layers,
                    "changed matrices are merged"
                );
                assert_eq!(logits(&merged.decoder), logits(&packed), "adapted");
            }
            if name == "llama" {
                // A trainer saving over the open checkpoint: the next forward pass is refused, naming the file
                // (reading the truncated mapping would kill the process).
                let file = dir.join("model.safetensors");
                std::fs::write(&file, b"saved over").unwrap_or_else(|e| panic!("{e}"));
                let mut cache = in_place.decoder.new_cache();
                let err = in_place
                    .decoder
                    .forward_hidden(&ids, &mut cache)
                    .err()
                    .unwrap_or_else(|| panic!("scored with a file saved over"));
                let msg = err.to_string();
                assert!(
                    msg.contains("changed on disk") && msg.contains("model.safetensors"),
                    "{msg}"
                );
            }
        }
    }
}
