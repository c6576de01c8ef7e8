//! The demo pipeline: a tokenizer, an SFT reference trained from scratch on the chosen responses of the synthetic
//! task ([`crate::task`]), a DPO policy trained from it with intermediate `checkpoint-N/` folders, the held-out
//! labelled pairs, and the error-localisation figures of the result ([`crate::eval`]).

use super::loops::{
    DpoPair, LogEntry, TrainConfig, batch_logps, train_dpo, train_sft, trainer_state,
};
use super::tokenizer::{numbers, train_tokenizer};
use super::trainable::{TrainableModel, ensure_empty_dir};
use crate::checkpoint::CheckpointFiles;
use crate::data::Record;
use crate::error::{Error, Result};
use crate::eval::{LabelledScore, Localisation, localisation};
use crate::model::DecoderConfig;
use crate::score::{RecordScore, ScoreOptions, Scorer};
use crate::task::{LabelledPair, Wording, World, generate, generate_with};
use crate::tokenize::{EncodedSequence, TokenizationMode, encode_record};
use std::path::Path;

/// Everything that decides a demo training run.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoConfig {
    /// Seed of the invented world and of everything after it.
    pub seed: u64,
    /// Training pairs (SFT uses their chosen responses, DPO the pairs).
    pub train_pairs: usize,
    /// Held-out labelled pairs for evaluation.
    pub heldout_pairs: usize,
    /// Target BPE vocabulary size.
    pub vocab_size: usize,
    /// Width of the model.
    pub hidden_size: usize,
    /// Decoder layers.
    pub layers: usize,
    /// SFT settings.
    pub sft: TrainConfig,
    /// DPO settings.
    pub dpo: TrainConfig,
    /// DPO steps between saved checkpoints.
    pub save_every: usize,
    /// What the SFT reference is trained on.
    pub reference_data: ReferenceData,
    /// Whether every answer (number, capital, profession) and every friend's name is one token (see
    /// [`train_tokenizer`]), so that an error is one token and a friend's name one unpredictable token.
    pub whole_words: bool,
    /// Whether the output layer shares the input embeddings. Untied, lowering a wrong answer's output logit does
    /// not also change how the model reads that answer, which kept the penalty on the answer in our runs.
    pub tied_embeddings: bool,
    /// How the training pairs are worded (held-out pairs always use different templates).
    pub training_wording: Wording,
}

/// The SFT reference's training data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceData {
    /// The chosen responses of the DPO training pairs.
    Chosen,
    /// Chosen responses to the same task about a different invented world: the reference learns the language, the
    /// arithmetic and the conversions, but not this world's facts, which DPO teaches.
    ChosenOtherWorld,
    /// Both responses of every training pair (an SFT model trained on unfiltered answers).
    Both,
}

impl DemoConfig {
    /// The configuration of the shipped demo checkpoints.
    pub fn full() -> Self {
        Self {
            seed: 2024,
            train_pairs: 6000,
            heldout_pairs: 300,
            vocab_size: 640,
            hidden_size: 96,
            layers: 4,
            sft: TrainConfig {
                steps: 1500,
                batch_size: 32,
                lr: 3e-3,
                seed: 1,
                beta: 0.0,
                log_every: 50,
            },
            dpo: TrainConfig {
                steps: 200,
                batch_size: 32,
                lr: 1e-4,
                seed: 2,
                beta: 0.1,
                log_every: 10,
            },
            save_every: 40,
            reference_data: ReferenceData::Both,
            whole_words: true,
            tied_embeddings: false,
            training_wording: Wording::Different,
        }
    }

    /// A scaled-down run of a few minutes on two cores, for CI.
    pub fn small() -> Self {
        Self {
            train_pairs: 3000,
            heldout_pairs: 200,
            layers: 3,
            sft: TrainConfig {
                steps: 600,
                ..Self::full().sft
            },
            dpo: TrainConfig {
                steps: 125,
                ..Self::full().dpo
            },
            save_every: 25,
            ..Self::full()
        }
    }

    fn model_config(&self, vocab: usize) -> Result<DecoderConfig> {
        let json = serde_json::json!({
            "architectures": ["LlamaForCausalLM"], "hidden_size": self.hidden_size,
            "intermediate_size": self.hidden_size * 3, "vocab_size": vocab,
            "num_hidden_layers": self.layers, "num_attention_heads": 4, "num_key_value_heads": 2,
            "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 256,
            "tie_word_embeddings": self.tied_embeddings,
        });
        DecoderConfig::from_value(&json, Path::new("demo config"))
    }
}

/// What the pipeline reports as it goes.
#[derive(Debug, Clone)]
pub enum Progress {
    /// A stage begins.
    Stage(String),
    /// A training log entry (SFT or DPO).
    Log(&'static str, LogEntry),
}

/// The outcome of a demo run.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// Localisation figures of the final policy on the held-out pairs.
    pub localisation: Localisation,
    /// Mean implicit reward of chosen and rejected held-out responses and the margin, per saved DPO checkpoint
    /// (step, chosen, rejected, margin): the paper's section 5.4.
    pub drift: Vec<(usize, f64, f64, f64)>,
}

/// The strings the demo tokenizer holds whole: every number of `texts`, every capital of `world`, every profession
/// and every friend's name, each with its leading space.
fn whole_words(world: &World, texts: &[String]) -> Vec<String> {
    let mut out = numbers(texts);
    out.extend(world.countries().iter().map(|c| format!(" {}", c.capital)));
    out.extend(crate::task::PROFESSIONS.iter().map(|p| format!(" {p}")));
    out.extend(
        crate::task::all_friend_names()
            .iter()
            .map(|n| format!(" {n}")),
    );
    out
}

fn to_record(p: &LabelledPair) -> Record {
    Record::Pair {
        prompt: p.prompt.clone(),
        chosen: p.chosen.clone(),
        rejected: p.rejected.clone(),
        error_spans: p.error_spans.clone(),
        chat: None,
    }
}

/// Runs the whole pipeline into `out` (which must not exist or be empty): `reference/`, `policy/`,
/// `checkpoints/checkpoint-N/`, `heldout.jsonl`.
pub fn train_demo(
    cfg: &DemoConfig,
    out: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<DemoReport> {
    ensure_empty_dir(out)?;
    progress(Progress::Stage("generating the task".into()));
    let world = World::new(cfg.seed);
    let train = generate_with(&world, cfg.seed + 1, cfg.train_pairs, cfg.training_wording);
    let heldout = generate(&world, cfg.seed + 2, cfg.heldout_pairs);

    progress(Progress::Stage("training the tokenizer".into()));
    let texts: Vec<String> = train
        .iter()
        .flat_map(|p| {
            [
                format!("{}{}", p.prompt, p.chosen),
                format!("{}{}", p.prompt, p.rejected),
            ]
        })
        .collect();
    let whole = if cfg.whole_words {
        whole_words(&world, &texts)
    } else {
        Vec::new()
    };
    let trained = train_tokenizer(&texts, cfg.vocab_size, &whole)?;
    let tok = &trained.tokenizer;
    let pad = tok
        .eos_id()
        .ok_or_else(|| Error::InvalidArgument("the trained tokenizer has no EOS".into()))?;
    let encode = |p: &LabelledPair| -> Result<(EncodedSequence, EncodedSequence)> {
        let mut e = encode_record(
            tok,
            TokenizationMode::Trl,
            &p.prompt,
            &[&p.chosen, &p.rejected],
            None,
        )?;
        let rejected = e
            .sequences
            .pop()
            .ok_or_else(|| Error::Record("no rejected sequence".into()))?;
        let chosen = e
            .sequences
            .pop()
            .ok_or_else(|| Error::Record("no chosen sequence".into()))?;
        Ok((chosen, rejected))
    };
    let encoded = train.iter().map(encode).collect::<Result<Vec<_>>>()?;
    let files = [
        ("tokenizer.json", trained.tokenizer_json.clone()),
        (
            "tokenizer_config.json",
            trained.tokenizer_config_json.clone(),
        ),
    ];
    let special = (None, Some(pad));

    progress(Progress::Stage(
        "SFT: training the reference from scratch".into(),
    ));
    let model_cfg = cfg.model_config(tok.vocab_size())?;
    let sft_model = TrainableModel::init(&model_cfg, cfg.seed)?;
    let sft_seqs: Vec<EncodedSequence> = match cfg.reference_data {
        ReferenceData::Chosen => encoded.iter().map(|(c, _)| c.clone()).collect(),
        ReferenceData::Both => encoded
            .iter()
            .flat_map(|(c, r)| [c.clone(), r.clone()])
            .collect(),
        ReferenceData::ChosenOtherWorld => {
            let other = World::new(cfg.seed ^ 0x5eed);
            generate(&other, cfg.seed + 3, cfg.train_pairs)
                .iter()
                .map(|p| encode(p).map(|(c, _)| c))
                .collect::<Result<_>>()?
        }
    };
    let sft_log = train_sft(&sft_model, &sft_seqs, pad, &cfg.sft, |e| {
        progress(Progress::Log("sft", e.clone()))
    })?;
    let reference_dir = out.join("reference");
    let mut with_state = files.to_vec();
    with_state.push((
        "trainer_state.json",
        trainer_state(cfg.sft.steps, cfg.sft.steps, &cfg.sft, &sft_log),
    ));
    sft_model.save(&reference_dir, special, &with_state, false)?;

    progress(Progress::Stage("DPO: reference log-probabilities".into()));
    let mut pairs = Vec::with_capacity(encoded.len());
    for chunk in encoded.chunks(64) {
        let chosen: Vec<&EncodedSequence> = chunk.iter().map(|(c, _)| c).collect();
        let rejected: Vec<&EncodedSequence> = chunk.iter().map(|(_, r)| r).collect();
        let lc = batch_logps(&sft_model, &chosen, pad)?.to_vec1::<f32>()?;
        let lr = batch_logps(&sft_model, &rejected, pad)?.to_vec1::<f32>()?;
        for (((c, r), a), b) in chunk.iter().zip(lc).zip(lr) {
            pairs.push(DpoPair {
                chosen: c.clone(),
                rejected: r.clone(),
                reference_chosen: a,
                reference_rejected: b,
            });
        }
    }
    drop(sft_model);

    progress(Progress::Stage("DPO: training the policy".into()));
    let policy = TrainableModel::from_checkpoint(&CheckpointFiles::locate(&reference_dir)?)?;
    let checkpoints = out.join("checkpoints");
    let mut saved = Vec::new();
    train_dpo(
        &policy,
        &pairs,
        pad,
        &cfg.dpo,
        cfg.save_every,
        |e| progress(Progress::Log("dpo", e.clone())),
        |step, model, log| {
            let mut extra = files.to_vec();
            extra.push((
                "trainer_state.json",
                trainer_state(step, cfg.dpo.steps, &cfg.dpo, log),
            ));
            let dir = checkpoints.join(format!("checkpoint-{step}"));
            model.save(&dir, special, &extra, false)?;
            saved.push((step, dir));
            Ok(())
        },
    )?;
    let policy_dir = out.join("policy");
    let (_, last) = saved
        .last()
        .ok_or_else(|| Error::InvalidArgument("DPO saved no checkpoint".into()))?;
    TrainableModel::from_checkpoint(&CheckpointFiles::locate(last)?)?.save(
        &policy_dir,
        special,
        &{
            let mut extra = files.to_vec();
            let state = std::fs::read_to_string(last.join("trainer_state.json"))
                .map_err(|e| Error::io(last, e))?;
            extra.push(("trainer_state.json", state));
            extra
        },
        false,
    )?;

    progress(Progress::Stage("writing the held-out pairs".into()));
    let mut lines = String::new();
    for p in &heldout {
        let line = serde_json::to_string(p)
            .map_err(|e| Error::Output(format!("cannot serialise a pair: {e}")))?;
        lines.push_str(&line);
        lines.push('\n');
    }
    let heldout_path = out.join("heldout.jsonl");
    std::fs::write(&heldout_path, lines).map_err(|e| Error::io(&heldout_path, e))?;

    progress(Progress::Stage("evaluating".into()));
    let evaluate = |policy: &Path| -> Result<Vec<LabelledScore>> {
        let scorer = Scorer::load(
            policy,
            &reference_dir,
            crate::defaults::DTYPE,
            ScoreOptions {
                top_k: 0,
                ..ScoreOptions::default()
            },
        )?;
        heldout
            .iter()
            .enumerate()
            .map(|(i, p)| match scorer.score_record(i, &to_record(p))? {
                RecordScore::Pair(s) => Ok((s, p.error_spans.clone())),
                RecordScore::Unpaired(_) => Err(Error::Record("expected a pair".into())),
            })
            .collect()
    };
    let final_scores = evaluate(&policy_dir)?;
    let mut drift = Vec::new();
    for (step, dir) in &saved {
        let scores = evaluate(dir)?;
        let n = scores.len().max(1) as f64;
        let c = scores.iter().map(|(s, _)| s.chosen.reward).sum::<f64>() / n;
        let r = scores.iter().map(|(s, _)| s.rejected.reward).sum::<f64>() / n;
        drift.push((*step, c, r, c - r));
    }
    Ok(DemoReport {
        localisation: localisation(&final_scores),
        drift,
    })
}
