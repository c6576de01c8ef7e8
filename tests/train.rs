//! Training machinery: checkpoints round-trip exactly, and SFT and DPO steps move the model the right way.

use crate::util::{fixtures, temp};
use candle_core::{D, Device, Tensor};
use candle_nn::Optimizer;
use creditlens::checkpoint::CheckpointFiles;
use creditlens::model::{DecoderConfig, Model};
use creditlens::tokenize::{TextTokenizer, TokenizationMode, encode_record};
use creditlens::train::{TrainableModel, dpo_loss, make_batch, sequence_logps, sft_loss};
use std::path::Path;

fn tiny_config(vocab: usize) -> DecoderConfig {
    let json = format!(
        r#"{{"architectures":["LlamaForCausalLM"],"hidden_size":32,"intermediate_size":64,"vocab_size":{vocab},
        "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"rms_norm_eps":1e-5,
        "max_position_embeddings":128,"tie_word_embeddings":true}}"#
    );
    DecoderConfig::from_json(&json, Path::new("tiny.json")).expect("config")
}

fn tokenizer_files() -> Vec<(&'static str, String)> {
    let dir = fixtures().join("tokenizers").join("bytelevel");
    ["tokenizer.json", "tokenizer_config.json"]
        .into_iter()
        .map(|f| {
            (
                f,
                std::fs::read_to_string(dir.join(f)).expect("tokenizer file"),
            )
        })
        .collect()
}

fn logits(decoder: &creditlens::model::Decoder, ids: &[u32]) -> Vec<f32> {
    let t = Tensor::from_slice(ids, (1, ids.len()), &Device::Cpu).unwrap();
    let h = decoder
        .forward_hidden(&t, &mut decoder.new_cache())
        .unwrap();
    decoder
        .logits(&h)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

#[test]
fn save_and_load_round_trip_gives_identical_logits() {
    let cfg = tiny_config(483);
    let model = TrainableModel::init(&cfg, 7).expect("init");
    let dir = temp();
    let out = dir.path().join("ckpt");
    model
        .save(&out, (None, Some(480)), &tokenizer_files(), false)
        .expect("save");
    assert!(
        model
            .save(&out, (None, Some(480)), &tokenizer_files(), false)
            .is_err(),
        "no silent overwrite"
    );
    let ids = [5u32, 17, 300, 42, 9, 480];
    let before = logits(model.decoder(), &ids);
    let files = CheckpointFiles::locate(&out).expect("locate");
    let again = TrainableModel::from_checkpoint(&files).expect("reload");
    assert_eq!(
        logits(again.decoder(), &ids),
        before,
        "bit-identical after a round trip"
    );
    let fused =
        Model::load(&files, candle_core::DType::F32, &Device::Cpu).expect("load for scoring");
    let diff = logits(fused.lm(), &ids)
        .iter()
        .zip(&before)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(diff < 1e-5, "scoring kernels differ by {diff}");
    // Same seed, same weights.
    assert_eq!(
        logits(TrainableModel::init(&cfg, 7).unwrap().decoder(), &ids),
        before
    );
}

#[test]
fn sft_and_dpo_steps_move_the_model() {
    let dir = fixtures().join("models").join("qwen2");
    let tok = TextTokenizer::load(&CheckpointFiles::locate(&dir).unwrap()).unwrap();
    let cfg = tiny_config(tok.vocab_size());
    let model = TrainableModel::init(&cfg, 3).unwrap();
    let enc = |p: &str, r: &str| {
        encode_record(&tok, TokenizationMode::Trl, p, &[r], None)
            .unwrap()
            .sequences
            .remove(0)
    };
    let chosen = enc("Q: What is 2 plus 3?\nA:", " 2 plus 3 is 5.");
    let rejected = enc("Q: What is 2 plus 3?\nA:", " Adding them gives 6.");
    let pad = tok.eos_id().unwrap();
    let logps = |m: &TrainableModel, seq| {
        let b = make_batch(&[seq], pad, &Device::Cpu).unwrap();
        let h = m
            .decoder()
            .forward_hidden(&b.ids, &mut m.decoder().new_cache())
            .unwrap();
        let l = m.decoder().logits(&h).unwrap();
        (sequence_logps(&l, &b.targets, &b.mask).unwrap(), l, b)
    };
    // SFT on the chosen response: the loss must fall well below its start.
    let mut opt = candle_nn::AdamW::new_lr(model.vars(), 1e-2).unwrap();
    let sft = |m: &TrainableModel| {
        let (_, l, b) = logps(m, &chosen);
        sft_loss(&l, &b.targets, &b.mask).unwrap()
    };
    let first = sft(&model).to_scalar::<f32>().unwrap();
    for _ in 0..30 {
        opt.backward_step(&sft(&model)).unwrap();
    }
    let last = sft(&model).to_scalar::<f32>().unwrap();
    assert!(last < 0.5 * first, "SFT loss {first} -> {last}");
    // DPO against a frozen copy: the margin starts at 0 and must become positive.
    let reference_c = logps(&model, &chosen).0.detach();
    let reference_r = logps(&model, &rejected).0.detach();
    let mut opt = candle_nn::AdamW::new_lr(model.vars(), 1e-2).unwrap();
    let mut margin = 0.0;
    for _ in 0..20 {
        let (pc, _, _) = logps(&model, &chosen);
        let (pr, _, _) = logps(&model, &rejected);
        let (loss, rc, rr) = dpo_loss(&pc, &pr, &reference_c, &reference_r, 0.1).unwrap();
        margin = (rc - rr)
            .unwrap()
            .sum(D::Minus1)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        opt.backward_step(&loss).unwrap();
    }
    assert!(margin > 0.05, "DPO margin {margin}");
}

#[test]
fn demo_pipeline_writes_loadable_checkpoints_with_trl_logs() {
    use creditlens::train::{DemoConfig, TrainConfig, train_demo};
    let step = |steps| TrainConfig {
        steps,
        batch_size: 8,
        lr: 1e-3,
        seed: 1,
        beta: 0.1,
        log_every: 2,
    };
    let cfg = DemoConfig {
        seed: 5,
        train_pairs: 64,
        heldout_pairs: 12,
        vocab_size: 320,
        hidden_size: 32,
        layers: 2,
        sft: step(6),
        dpo: step(4),
        save_every: 2,
        ..DemoConfig::small()
    };
    let dir = temp();
    let out = dir.path().join("demo");
    let mut stages = Vec::new();
    let report = train_demo(&cfg, &out, &mut |p| {
        if let creditlens::train::Progress::Stage(s) = p {
            stages.push(s)
        }
    })
    .expect("pipeline");
    assert!(stages.iter().any(|s| s.contains("SFT")) && stages.iter().any(|s| s.contains("DPO")));
    for sub in [
        "reference",
        "policy",
        "checkpoints/checkpoint-2",
        "checkpoints/checkpoint-4",
    ] {
        let files =
            CheckpointFiles::locate(&out.join(sub)).unwrap_or_else(|e| panic!("{sub}: {e}"));
        assert!(
            files.tokenizer_config.is_some(),
            "{sub}: tokenizer_config.json"
        );
    }
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("checkpoints/checkpoint-4/trainer_state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state["global_step"], 4);
    let last = state["log_history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    for key in [
        "loss",
        "rewards/chosen",
        "rewards/rejected",
        "rewards/margins",
        "rewards/accuracies",
        "logps/chosen",
        "logps/rejected",
    ] {
        assert!(last[key].is_number(), "log_history lacks {key}");
    }
    // Every answer and every friend's name is one token; the output layer is not tied to the embeddings.
    let reference = CheckpointFiles::locate(&out.join("reference")).unwrap();
    let tok = TextTokenizer::load(&reference).unwrap();
    for word in [" Jalek", " Xavezorn", " baker", " carpenter"] {
        assert_eq!(tok.encode(word).unwrap().ids.len(), 1, "{word:?}");
    }
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&reference.config).unwrap()).unwrap();
    assert_eq!(config["tie_word_embeddings"], false);
    let heldout = std::fs::read_to_string(out.join("heldout.jsonl")).unwrap();
    assert_eq!(heldout.lines().count(), 12);
    assert_eq!(report.localisation.pairs, 12);
    assert_eq!(
        report.drift.iter().map(|d| d.0).collect::<Vec<_>>(),
        vec![2, 4]
    );
    // The pipeline never writes into a directory that holds something.
    assert!(train_demo(&cfg, &out, &mut |_| {}).is_err());
    // The reference's SFT saw both responses of the 64 pairs (6 steps of 8 = 0.375 epochs of 128 sequences), or,
    // with `ReferenceData::Chosen`, the 64 chosen ones (0.75 epochs).
    let sft_epoch = |dir: &std::path::Path| {
        let state: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("reference/trainer_state.json")).unwrap(),
        )
        .unwrap();
        state["log_history"].as_array().unwrap().last().unwrap()["epoch"]
            .as_f64()
            .unwrap()
    };
    assert!(
        (sft_epoch(&out) - 0.375).abs() < 1e-9,
        "{}",
        sft_epoch(&out)
    );
    let chosen_only = DemoConfig {
        reference_data: creditlens::train::ReferenceData::Chosen,
        ..cfg
    };
    let out_chosen = dir.path().join("demo-chosen");
    train_demo(&chosen_only, &out_chosen, &mut |_| {}).expect("chosen-only pipeline");
    assert!(
        (sft_epoch(&out_chosen) - 0.75).abs() < 1e-9,
        "{}",
        sft_epoch(&out_chosen)
    );
}

/// The scaled-down demo pipeline, trained from scratch (a few minutes on two cores): DPO's per-token rewards find
/// the labelled error of held-out pairs far more often than surprisal does (issue #3 asks for top-1 >= 0.80 here).
/// On the development machine this run gives top-1 0.935 (AUROC 0.979) against 0.385 and 0.06 for the surprisal
/// baselines and reward accuracy 0.905; seeds 2025 and 2026 give top-1 0.965 and 0.900 (AUROC 0.986 and 0.971;
/// surprisal at most 0.38; reward accuracy 0.945 and 0.91). Another CPU's rounding changes the trajectory as a seed
/// does, so the floors sit below the lowest of these three runs.
#[test]
fn scaled_down_demo_training_localises_errors() {
    use creditlens::train::{DemoConfig, train_demo};
    let dir = temp();
    let report = train_demo(&DemoConfig::small(), &dir.path().join("demo"), &mut |_| {})
        .expect("scaled-down demo training");
    let l = report.localisation;
    eprintln!("scaled-down demo: {l:?}");
    assert_eq!(l.pairs, 200);
    assert!(l.top1 >= 0.80, "top-1 {}", l.top1);
    assert!(l.auroc >= 0.93, "AUROC {}", l.auroc);
    assert!(
        l.top1 >= l.top1_surprisal_policy + 0.4 && l.top1 >= l.top1_surprisal_reference + 0.4,
        "top-1 {} against surprisal {} / {}",
        l.top1,
        l.top1_surprisal_policy,
        l.top1_surprisal_reference
    );
    assert!(
        l.reward_accuracy > 0.85,
        "reward accuracy {}",
        l.reward_accuracy
    );
    // Over the checkpoints the rejected responses' mean reward falls and the margin grows (section 5.4).
    let (first, last) = (report.drift[0], report.drift[report.drift.len() - 1]);
    assert!(
        last.2 < first.2,
        "rejected reward {} -> {}",
        first.2,
        last.2
    );
    assert!(last.3 > first.3, "margin {} -> {}", first.3, last.3);
}
