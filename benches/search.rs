//! Generation throughput with the policy (issue 17) on the real SmolLM2-135M-Instruct (`SMOLLM2_GGUF`, fetched by
//! `.ci/fetch-smollm2`), from a 32-token prompt with EOS disabled, so that both sides generate the same number of
//! tokens:
//!
//! - `greedy`: 64 new tokens by greedy decoding over the KV cache;
//! - `beam8`: 32 new tokens by beam search of width 8 (all beams in one batched step);
//! - `nocache`: the same 64 greedy tokens recomputing the whole sequence at every step (the cost the cache saves).
//!
//! Reports new tokens per second and, when `CREDITLENS_GENERATE_BASELINE` names the JSON written by
//! `benches/generate_baseline.py` in the same sitting, the ratio to transformers' `generate()`. Run both with
//! `bash benches/compare.sh`, or this alone with `cargo bench --bench search`.

#[global_allocator]
static GLOBAL: creditlens::alloc::Allocator = mimalloc::MiMalloc;

mod common;

use candle_core::{DType, Device, Tensor};
use creditlens::model::{Decoder, Model};
use creditlens::search::{SearchSettings, beam_search};
use std::path::Path;
use std::time::Instant;

/// The same deterministic prompt ids as `benches/generate_baseline.py`.
fn prompt(vocab: usize) -> Vec<u32> {
    let mut state: u64 = 5;
    (0..32)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as usize % vocab) as u32
        })
        .collect()
}

fn model() -> Model {
    let path = std::env::var_os("SMOLLM2_GGUF").expect(
        "set SMOLLM2_GGUF to SmolLM2-135M-Instruct.Q4_1.gguf (.ci/fetch-smollm2 target/models)",
    );
    let file = creditlens::model::gguf::GgufFile::open(Path::new(&path)).expect("SMOLLM2_GGUF");
    Model::load_gguf(&file, DType::F32, &Device::Cpu, &|_| {}).expect("SmolLM2")
}

/// Greedy decoding recomputing the whole sequence at every step.
fn greedy_without_cache(lm: &Decoder, prompt: &[u32], new: usize) -> Vec<u32> {
    let mut ids = prompt.to_vec();
    for _ in 0..new {
        let mut cache = lm.new_cache();
        let x = Tensor::new(ids.as_slice(), lm.device())
            .and_then(|t| t.unsqueeze(0))
            .expect("ids");
        let hidden = lm.forward_hidden(&x, &mut cache).expect("forward");
        let last = hidden.narrow(1, ids.len() - 1, 1).expect("last");
        let logits: Vec<f32> = lm
            .logits(&last)
            .and_then(|l| Ok(l.flatten_all()?.to_vec1()?))
            .expect("logits");
        let best = (0..logits.len())
            .max_by(|&a, &b| logits[a].total_cmp(&logits[b]).then(b.cmp(&a)))
            .expect("argmax");
        ids.push(best as u32);
    }
    ids[prompt.len()..].to_vec()
}

fn run(name: &str) -> f64 {
    let model = model();
    // As the search runs it: the quantised policy dequantised once.
    let dense = model.lm().densified().expect("dequantise");
    let lm: &Decoder = match &dense {
        Some(d) => d,
        None => model.lm(),
    };
    let prompt = prompt(lm.config().vocab_size);
    let (beams, new) = match name {
        "beam8" => (8, 32),
        _ => (1, 64),
    };
    let settings = SearchSettings {
        beams,
        max_new_tokens: new,
        eos: Vec::new(),
        length_penalty: 1.0,
    };
    let search = || beam_search(lm, &prompt, &settings, &mut |_, _| true).expect("search");
    // Warm-up.
    let short = SearchSettings {
        max_new_tokens: 4,
        ..settings.clone()
    };
    beam_search(lm, &prompt, &short, &mut |_, _| true).expect("warm-up");
    if name == "nocache" {
        let start = Instant::now();
        let ids = greedy_without_cache(lm, &prompt, new);
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(ids, search()[0].ids, "the cache changes nothing");
        return new as f64 / secs;
    }
    let start = Instant::now();
    search();
    new as f64 / start.elapsed().as_secs_f64()
}

fn baseline(name: &str) -> Option<f64> {
    let path = std::env::var("CREDITLENS_GENERATE_BASELINE").ok()?;
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    json.get(name)?.get("tokens_per_s")?.as_f64()
}

fn main() {
    let args = common::start();
    if let Some(name) = args.first() {
        println!("{name} {}", run(name));
        return;
    }
    let exe = std::env::current_exe().expect("current exe");
    let mut measured = std::collections::HashMap::new();
    println!("workload | creditlens new tokens/s | transformers new tokens/s | ratio");
    for name in ["greedy", "beam8", "nocache"] {
        let out = std::process::Command::new(&exe)
            .arg(name)
            .output()
            .expect("run workload");
        let tps: f64 = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(1)
            .and_then(|x| x.parse().ok())
            .unwrap_or(f64::NAN);
        measured.insert(name, tps);
        match baseline(name) {
            Some(b) => println!("{name} | {tps:.1} | {b:.1} | {:.2}x", tps / b),
            None => println!("{name} | {tps:.1} | - | -"),
        }
    }
    println!(
        "decode step with the cache is {:.1}x faster than recomputing the sequence (greedy, 64 new tokens)",
        measured["greedy"] / measured["nocache"]
    );
}
