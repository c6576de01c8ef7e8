//! Scoring throughput on a SmolLM2-135M-shaped Llama (random weights: speed does not depend on their values) used
//! as both policy and reference, for the two workloads of issue #2:
//!
//! - `long`: pairs of long responses (300-400 tokens) after a short prompt;
//! - `tldr`: TL;DR-shaped pairs, a 300-token prompt shared by a 30-60-token chosen and rejected;
//! - `long8k`: one 8,000-token response (memory; no transformers anchor).
//!
//! With `SMOLLM2_GGUF` naming the real SmolLM2-135M-Instruct GGUF (`.ci/fetch-smollm2`), its weights are used.
//!
//! Reports scored response tokens per second and peak resident memory, and, when `CREDITLENS_BASELINE` names the
//! JSON written by `benches/transformers_baseline.py` in the same sitting, the ratio to HF transformers.
//! Run everything with `bash benches/compare.sh`, or this alone with `cargo bench --bench score`.

#[global_allocator]
static GLOBAL: creditlens::alloc::Allocator = mimalloc::MiMalloc;

mod common;

use candle_core::{DType, Device};
use common::{Lcg, peak_rss_mb, sequence, timed, twin_scorer};
use creditlens::model::{Decoder, DecoderConfig, Kernels, MemoryWeights, Model};
use creditlens::tokenize::EncodedSequence;
use std::path::Path;

const SMOLLM2_135M: &str = r#"{"architectures":["LlamaForCausalLM"],"hidden_size":576,"intermediate_size":1536,
  "vocab_size":49152,"num_hidden_layers":30,"num_attention_heads":9,"num_key_value_heads":3,"rms_norm_eps":1e-5,
  "rope_theta":100000.0,"max_position_embeddings":8192,"tie_word_embeddings":true}"#;

/// The workload's pairs: (prompt, chosen, rejected) lengths from the same seeded stream as the Python baseline.
fn workload(name: &str) -> Vec<(usize, usize, usize)> {
    let mut rng = Lcg(7);
    if name == "long8k" {
        // One 8,000-token response: memory must grow linearly with length.
        return vec![(16, 8000, 0)];
    }
    (0..if name == "long" { 3 } else { 6 })
        .map(|_| match name {
            "long" => (16, 300 + rng.next(101), 300 + rng.next(101)),
            _ => (300, 30 + rng.next(31), 30 + rng.next(31)),
        })
        .collect()
}

/// The real SmolLM2-135M-Instruct when `SMOLLM2_GGUF` names its GGUF file (dequantised to f32: the weights
/// transformers loads from the same file), else a SmolLM2-135M-shaped Llama with random weights.
fn model() -> (DecoderConfig, Model) {
    let device = Device::Cpu;
    if let Some(path) = std::env::var_os("SMOLLM2_GGUF") {
        let file = creditlens::model::gguf::GgufFile::open(Path::new(&path)).expect("SMOLLM2_GGUF");
        let model = Model::load_gguf(&file, DType::F32, &device, &|_| {}).expect("SmolLM2");
        return (file.config().expect("config"), model);
    }
    let cfg =
        DecoderConfig::from_json(SMOLLM2_135M, Path::new("smollm2-135m.json")).expect("config");
    let weights = MemoryWeights::random(&cfg, DType::F32, &device, 0).expect("weights");
    let decoder = Decoder::load(&cfg, &weights, Kernels::Fused).expect("decoder");
    drop(weights);
    (cfg, Model::from_decoder(decoder, "random".into()))
}

fn run_workload(name: &str) -> (f64, f64) {
    let (cfg, model) = model();
    let scorer = twin_scorer(model);
    let mut rng = Lcg(11);
    let pairs: Vec<Vec<EncodedSequence>> = workload(name)
        .into_iter()
        .map(|(p, c, r)| {
            let prompt = rng.ids(p, cfg.vocab_size);
            let mut seqs = vec![sequence(&prompt, &rng.ids(c, cfg.vocab_size))];
            if r > 0 {
                seqs.push(sequence(&prompt, &rng.ids(r, cfg.vocab_size)));
            }
            seqs
        })
        .collect();
    // Warm-up on the first pair (not for the single 8k-token response: its one run is the measurement).
    if pairs.len() > 1 {
        scorer.score_sequences(&pairs[0]).expect("score");
    }
    let (tokens, secs) = timed(&scorer, &pairs);
    (tokens as f64 / secs, peak_rss_mb())
}

fn baseline(name: &str) -> Option<(f64, f64)> {
    let path = std::env::var("CREDITLENS_BASELINE").ok()?;
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    let w = json.get(name)?;
    Some((
        w.get("tokens_per_s")?.as_f64()?,
        w.get("peak_rss_mb")?.as_f64()?,
    ))
}

fn main() {
    // `cargo bench` passes `--bench`; a workload name as argument runs that workload alone (in its own process,
    // so that peak memory is per workload).
    let args = common::start();
    if let Some(name) = args.first() {
        let (tps, rss) = run_workload(name);
        println!("{name} {tps} {rss}");
        return;
    }
    let exe = std::env::current_exe().expect("current exe");
    println!(
        "workload | creditlens tokens/s | peak RSS MB | transformers tokens/s | peak RSS MB | ratio"
    );
    for name in ["long", "tldr", "long8k"] {
        let out = std::process::Command::new(&exe)
            .arg(name)
            .output()
            .expect("run workload");
        let text = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<f64> = text
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        let (tps, rss) = (
            fields.first().copied().unwrap_or(f64::NAN),
            fields.get(1).copied().unwrap_or(f64::NAN),
        );
        match baseline(name) {
            Some((btps, brss)) => println!(
                "{name} | {tps:.1} | {rss:.0} | {btps:.1} | {brss:.0} | {:.2}x",
                tps / btps
            ),
            None => println!("{name} | {tps:.1} | {rss:.0} | - | - | -"),
        }
    }
}
