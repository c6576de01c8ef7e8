//! Scoring at the sizes DPO users train: a SmolLM2-1.7B-shaped Llama pair (hidden 2048, 32 heads, intermediate
//! 8192, vocabulary 49,152, tied) in bf16 with random weights (speed does not depend on their values), made in
//! memory; `LAYERS` sets the layer count (24 for 1.7B; `SHAPE=7b` gives a Llama-2-7B shape, 32 layers, 4096 wide).
//!
//! - `score`: 6 TL;DR-shaped pairs (a 340-token prompt, 45-60-token chosen and rejected), policy and reference
//!   computed separately, as TRL does; seconds for the six after a warm-up pair, in the compute dtype `DTYPE`
//!   (`bf16` as `--dtype bf16` computes: bf16 matrix products, on AMX tiles where the CPU has them,
//!   `CREDITLENS_AMX=off` to compare; or `f32`, exact, the bf16 weights widened a projection at a time);
//! - `edit`: the app's case: a pair scored, then one word changed near the end of its rejected response and the
//!   pair rescored from the first changed token ([`creditlens::score::ScoreMemo`]); seconds from the edit to the
//!   new scores.
//!
//! `bash benches/user_sizes.sh` runs both with the transformers + TRL anchor (`benches/user_sizes.py`) in the same
//! sitting and prints the table of `docs/performance.md`.

#[global_allocator]
static GLOBAL: creditlens::alloc::Allocator = mimalloc::MiMalloc;

mod common;

use candle_core::{DType, Device};
use common::{Lcg, peak_rss_mb, sequence, timed, twin_scorer};
use creditlens::model::matrix::Matrix;
use creditlens::model::{Decoder, DecoderConfig, Kernels, MemoryWeights, Model, TensorSource};
use creditlens::score::{ScoreMemo, Scorer};
use creditlens::tokenize::EncodedSequence;
use std::path::Path;
use std::time::Instant;

fn config() -> DecoderConfig {
    let layers: usize = std::env::var("LAYERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let json = if std::env::var("SHAPE").as_deref() == Ok("7b") {
        format!(
            r#"{{"architectures":["LlamaForCausalLM"],"hidden_size":4096,"intermediate_size":11008,
            "vocab_size":32000,"num_hidden_layers":{},"num_attention_heads":32,"num_key_value_heads":32,
            "rms_norm_eps":1e-5,"rope_theta":10000.0,"max_position_embeddings":4096,"tie_word_embeddings":false}}"#,
            if layers > 0 { layers } else { 32 }
        )
    } else {
        format!(
            r#"{{"architectures":["LlamaForCausalLM"],"hidden_size":2048,"intermediate_size":8192,
            "vocab_size":49152,"num_hidden_layers":{},"num_attention_heads":32,"num_key_value_heads":32,
            "rms_norm_eps":1e-5,"rope_theta":130000.0,"max_position_embeddings":8192,"tie_word_embeddings":true}}"#,
            if layers > 0 { layers } else { 24 }
        )
    };
    DecoderConfig::from_json(&json, Path::new("user-size.json")).expect("config")
}

/// The six TL;DR-shaped pairs (prompt, chosen, rejected lengths), from the same stream as the Python anchor.
fn workload() -> Vec<(usize, usize, usize)> {
    let mut rng = Lcg(7);
    (0..6)
        .map(|_| (340, 45 + rng.next(16), 45 + rng.next(16)))
        .collect()
}

/// Weights held as stored (bf16 matrices) and everything else in the compute dtype, as a bf16 checkpoint loads.
struct AsStored<'a>(&'a MemoryWeights, DType);

impl TensorSource for AsStored<'_> {
    fn tensor(&self, name: &str, shape: &[usize]) -> creditlens::Result<candle_core::Tensor> {
        Ok(self.0.tensor(name, shape)?.to_dtype(self.1)?)
    }
    fn matrix(&self, name: &str, shape: &[usize]) -> creditlens::Result<Matrix> {
        Ok(Matrix::Dense(self.0.tensor(name, shape)?))
    }
    fn contains(&self, name: &str) -> bool {
        self.0.contains(name)
    }
}

fn scorer(cfg: &DecoderConfig, compute: DType) -> Scorer {
    let device = Device::Cpu;
    // bf16 weights, as users keep them; norms (and, for f32 compute, nothing else) widened to the compute dtype.
    let weights = MemoryWeights::random(cfg, DType::BF16, &device, 0).expect("weights");
    // bf16 compute as `--dtype bf16` loads it: f32 activations, bf16 matrix products.
    let dtype = creditlens::model::Dtype::from_candle(compute);
    let kernels = if compute == DType::BF16 {
        Kernels::FusedBf16
    } else {
        Kernels::Fused
    };
    let decoder =
        Decoder::load(cfg, &AsStored(&weights, dtype.activations()), kernels).expect("decoder");
    drop(weights);
    let decoder = if compute == DType::BF16 {
        decoder.with_bf16_products().expect("bf16 products")
    } else {
        decoder
    };
    twin_scorer(Model::from_decoder(decoder, "random".into()))
}

fn main() {
    let args = common::start();
    let what = args.first().map_or("score", String::as_str);
    let compute = match std::env::var("DTYPE").as_deref() {
        Ok("f32") => DType::F32,
        _ => DType::BF16,
    };
    let cfg = config();
    let started = Instant::now();
    let scorer = scorer(&cfg, compute);
    let made = started.elapsed().as_secs_f64();
    let mut rng = Lcg(11);
    let pairs: Vec<Vec<EncodedSequence>> = workload()
        .into_iter()
        .map(|(p, c, r)| {
            let prompt = rng.ids(p, cfg.vocab_size);
            vec![
                sequence(&prompt, &rng.ids(c, cfg.vocab_size)),
                sequence(&prompt, &rng.ids(r, cfg.vocab_size)),
            ]
        })
        .collect();
    let amx = creditlens::model::amx::available() && compute == DType::BF16;
    match what {
        "edit" => {
            let mut memo = ScoreMemo::new();
            let pair = &pairs[0];
            let start = Instant::now();
            scorer
                .score_sequences_reusing(pair, &mut memo)
                .expect("score");
            let full = start.elapsed().as_secs_f64();
            // One word (two tokens) changed three tokens before the end of the rejected response.
            let mut edited = pair.clone();
            let r = &mut edited[1];
            let n = r.ids.len();
            for i in [n - 4, n - 3] {
                r.ids[i] = (r.ids[i] + 1) % cfg.vocab_size as u32;
                let k = i - r.scored_start;
                r.tokens[k].id = r.ids[i];
            }
            let start = Instant::now();
            scorer
                .score_sequences_reusing(&edited, &mut memo)
                .expect("rescore");
            let edit = start.elapsed().as_secs_f64();
            let reuse = memo.last().unwrap_or_default();
            println!(
                "edit layers={} dtype={compute:?} amx={amx} full_pair_s={full:.3} edit_s={edit:.3} computed={} reused={} peak_rss_mb={:.0}",
                cfg.num_hidden_layers,
                reuse.computed,
                reuse.reused,
                peak_rss_mb()
            );
        }
        _ => {
            scorer.score_sequences(&pairs[0]).expect("warm-up");
            let (tokens, secs) = timed(&scorer, &pairs);
            println!(
                "score layers={} dtype={compute:?} amx={amx} seconds={secs:.2} tokens_per_s={:.2} made_s={made:.1} peak_rss_mb={:.0}",
                cfg.num_hidden_layers,
                tokens as f64 / secs,
                peak_rss_mb()
            );
        }
    }
}
