//! Background work for the app: loading models, scoring the shown record (latest edit wins), scoring a whole
//! dataset (cancellable, row by row) and the drift across training checkpoints. Every result goes back through one
//! channel tagged with the generation it was asked for, so stale answers are dropped, and wakes the UI.

use super::job::Ticket;
use crate::checkpoint::TrainingCheckpoint;
use crate::data::Record;
use crate::model::{Dtype, ModelInfo};
use crate::score::{RecordScore, Reuse, ScoreMemo, ScoreOptions, Scorer};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Models ready to score.
pub struct Loaded {
    /// The scorer (policy, reference, tokenizer, settings).
    pub scorer: Arc<Scorer>,
    /// What the policy is.
    pub policy: ModelInfo,
    /// What the reference is.
    pub reference: ModelInfo,
    /// Tokenizer vocabulary size (both tokenizers were checked to match when loading).
    pub tokenizer_vocab: usize,
    /// Seconds the load took.
    pub seconds: f64,
}

/// The table's view of one scored record.
#[derive(Debug, Clone, PartialEq)]
pub struct RowScore {
    /// R_chosen (or the response's R for unpaired records).
    pub reward_chosen: f64,
    /// R_rejected (NaN for unpaired records).
    pub reward_rejected: f64,
    /// R_chosen - R_rejected (NaN for unpaired records).
    pub margin: f64,
    /// Scored tokens of chosen (or the response).
    pub len_chosen: usize,
    /// Scored tokens of rejected (0 for unpaired records).
    pub len_rejected: usize,
    /// The beta the rewards are for.
    pub beta: f64,
    /// The distinct words of its responses (sorted), to filter the table to the records holding a word.
    pub words: Vec<String>,
}

impl RowScore {
    /// The summary of a record scored with `beta`.
    pub fn of(score: &RecordScore, beta: f64) -> Self {
        let mut words: Vec<String> = score
            .responses()
            .iter()
            .flat_map(|(_, r)| crate::words::words(&r.text, &r.tokens))
            .filter(|w| w.kind == crate::words::UnitKind::Word)
            .map(|w| w.text)
            .collect();
        words.sort_unstable();
        words.dedup();
        match score {
            RecordScore::Pair(p) => Self {
                reward_chosen: p.chosen.reward,
                reward_rejected: p.rejected.reward,
                margin: p.margin,
                len_chosen: p.chosen.num_tokens,
                len_rejected: p.rejected.num_tokens,
                beta,
                words,
            },
            RecordScore::Unpaired(u) => Self {
                reward_chosen: u.response.reward,
                reward_rejected: f64::NAN,
                margin: f64::NAN,
                len_chosen: u.response.num_tokens,
                len_rejected: 0,
                beta,
                words,
            },
        }
    }

    /// The rewards for another beta ([`crate::score::rescale_rewards`]: they are linear in it).
    pub fn set_beta(&mut self, beta: f64) {
        crate::score::rescale_rewards(
            self.beta,
            beta,
            [
                &mut self.reward_chosen,
                &mut self.reward_rejected,
                &mut self.margin,
            ],
        );
        self.beta = beta;
    }
}

/// How long the shown record took to score, and how many positions the models ran over or took from the caches
/// of the record scored before it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Timing {
    /// Seconds from the request to the scores.
    pub seconds: f64,
    /// Positions computed and reused.
    pub reuse: Reuse,
}

pub use crate::drift::DriftPoint;
use crate::features::{FeatureBuilder, FeatureOptions};

/// A message from a worker.
pub enum Reply {
    /// Share of the loading done (0 to 1).
    LoadProgress { generation: u64, fraction: f32 },
    /// Models loaded (or why not).
    Loaded {
        generation: u64,
        result: Result<Loaded, String>,
    },
    /// The shown record scored, how long it took and how much of the last scoring it reused.
    Scored {
        generation: u64,
        result: Result<RecordScore, String>,
        timing: Timing,
    },
    /// One dataset row scored.
    Row {
        generation: u64,
        row: usize,
        result: Result<RowScore, String>,
    },
    /// The credit across the rows scored so far (words, at the beta they were scored with), now and then while the
    /// dataset is scored and once at its end.
    Features {
        generation: u64,
        features: Box<crate::features::Features>,
        beta: f64,
    },
    /// The dataset run ended.
    RowsDone {
        generation: u64,
        cancelled: bool,
        seconds: f64,
    },
    /// One checkpoint of the drift done.
    Drift { generation: u64, point: DriftPoint },
    /// The drift run ended.
    DriftDone {
        generation: u64,
        error: Option<String>,
    },
    /// A worker panicked (a defect): the job of this generation failed with `message`.
    Panicked { generation: u64, message: String },
    /// Share of the search done (0 to 1).
    SearchProgress { generation: u64, fraction: f32 },
    /// One beam width searched (partial when cancelled).
    SearchRun {
        generation: u64,
        run: crate::search::SearchRun,
    },
    /// The search ended.
    SearchDone {
        generation: u64,
        error: Option<String>,
    },
}

/// A search request from the Search window.
pub struct SearchJob {
    /// Tags the replies and stops the run.
    pub ticket: Ticket,
    /// The loaded scorer (its policy decodes, both models score the candidates).
    pub scorer: Arc<Scorer>,
    /// The prompt.
    pub prompt: crate::search::SearchPrompt,
    /// Beam widths, in order.
    pub widths: Vec<usize>,
    /// Most new tokens.
    pub max_new_tokens: usize,
    /// Length normalisation alpha.
    pub length_norm: f32,
}

/// A drift computation over training checkpoints.
pub struct DriftJob {
    /// Tags the replies and stops the run.
    pub ticket: Ticket,
    /// The loaded scorer (its reference and settings are kept; the policy is swapped per checkpoint).
    pub scorer: Arc<Scorer>,
    /// The checkpoints, by step.
    pub checkpoints: Vec<TrainingCheckpoint>,
    /// Pairs whose mean rewards are plotted (none: only the selected record).
    pub pairs: Vec<Record>,
    /// The record of the token x checkpoint heatmap.
    pub selected: Option<Record>,
    /// Compute dtype.
    pub dtype: Dtype,
}

/// A request to score the shown record.
struct ScoreRequest {
    generation: u64,
    scorer: Arc<Scorer>,
    record: Record,
}

/// Runs work off the UI thread.
pub struct Worker {
    replies: Sender<Reply>,
    inbox: Receiver<Reply>,
    wake: Arc<Mutex<Option<egui::Context>>>,
    interactive: Sender<ScoreRequest>,
}

impl Default for Worker {
    fn default() -> Self {
        Self::new()
    }
}

/// The message of a caught panic.
fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

fn wake(ctx: &Arc<Mutex<Option<egui::Context>>>) {
    if let Ok(guard) = ctx.lock()
        && let Some(ctx) = guard.as_ref()
    {
        ctx.request_repaint();
    }
}

impl Worker {
    /// Starts the interactive scoring thread.
    pub fn new() -> Self {
        let (replies, inbox) = channel();
        let (interactive, requests) = channel::<ScoreRequest>();
        let wake_ctx: Arc<Mutex<Option<egui::Context>>> = Arc::new(Mutex::new(None));
        let tx = replies.clone();
        let w = wake_ctx.clone();
        std::thread::Builder::new()
            .name("creditlens-score".into())
            .spawn(move || {
                // The caches of the record scored last: an edit reruns the models from its first changed token.
                let mut memo = ScoreMemo::new();
                while let Ok(mut req) = requests.recv() {
                    // Only the newest edit matters.
                    while let Ok(newer) = requests.try_recv() {
                        req = newer;
                    }
                    let started = std::time::Instant::now();
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        req.scorer.score_record_reusing(0, &req.record, &mut memo)
                    }))
                    .map_err(|panic| {
                        format!(
                            "scoring failed unexpectedly ({}); this is a bug in creditlens, please report it",
                            panic_text(&panic)
                        )
                    })
                    .and_then(|r| r.map_err(|e| e.to_string()));
                    if result.is_err() {
                        memo.clear();
                    }
                    let timing = Timing {
                        seconds: started.elapsed().as_secs_f64(),
                        reuse: memo.last().unwrap_or_default(),
                    };
                    if tx
                        .send(Reply::Scored {
                            generation: req.generation,
                            result,
                            timing,
                        })
                        .is_err()
                    {
                        return;
                    }
                    wake(&w);
                }
            })
            .ok();
        Self {
            replies,
            inbox,
            wake: wake_ctx,
            interactive,
        }
    }

    /// Replies are followed by a repaint of `ctx`.
    pub fn set_context(&self, ctx: &egui::Context) {
        if let Ok(mut guard) = self.wake.lock() {
            *guard = Some(ctx.clone());
        }
    }

    /// The replies that arrived since the last call.
    pub fn poll(&self) -> Vec<Reply> {
        self.inbox.try_iter().collect()
    }

    /// Runs `job` on a new thread; a panic in it is caught and reported as [`Reply::Panicked`] for `generation`,
    /// so the job shows an error instead of running forever.
    fn spawn(
        &self,
        name: &str,
        generation: u64,
        job: impl FnOnce(&Sender<Reply>) + Send + 'static,
    ) {
        let tx = self.replies.clone();
        let w = self.wake.clone();
        let what = name.to_string();
        let spawned = std::thread::Builder::new()
            .name(format!("creditlens-{name}"))
            .spawn(move || {
                let caught =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&tx)));
                if let Err(panic) = caught {
                    let _ = tx.send(Reply::Panicked {
                        generation,
                        message: format!(
                            "the {what} worker failed unexpectedly ({}); this is a bug in creditlens, please report it with what you were doing",
                            panic_text(&panic)
                        ),
                    });
                }
                wake(&w);
            });
        if let Err(e) = spawned {
            // No thread, no work: report it like any other failure.
            let _ = self.replies.send(Reply::Loaded {
                generation: 0,
                result: Err(format!("cannot start a worker thread: {e}")),
            });
        }
    }

    /// Loads a policy and a reference.
    pub fn load(
        &self,
        ticket: &Ticket,
        policy: PathBuf,
        reference: PathBuf,
        chat_template: Option<PathBuf>,
        dtype: Dtype,
        options: ScoreOptions,
    ) {
        let generation = ticket.generation;
        let w = self.wake.clone();
        self.spawn("load", generation, move |tx| {
            let started = Instant::now();
            let progress = tx.clone();
            let last = Mutex::new(-1i32);
            let report = |fraction: f32| {
                // One message per whole percent.
                let pct = (fraction * 100.0) as i32;
                if let Ok(mut l) = last.lock()
                    && pct > *l
                {
                    *l = pct;
                    let _ = progress.send(Reply::LoadProgress {
                        generation,
                        fraction,
                    });
                    wake(&w);
                }
            };
            let result = Scorer::load_reporting(&policy, &reference, dtype, options, &report)
                .and_then(|scorer| match &chat_template {
                    Some(path) => {
                        let t = crate::chat::load::from_file(path, Default::default())?;
                        Ok(scorer.with_chat_template(
                            t.with_special(scorer.tokenizer().template_tokens()),
                        ))
                    }
                    None => Ok(scorer),
                })
                .map(|scorer| Loaded {
                    policy: scorer.policy().info().clone(),
                    reference: scorer.reference().info().clone(),
                    tokenizer_vocab: scorer.tokenizer().vocab_size(),
                    scorer: Arc::new(scorer),
                    seconds: started.elapsed().as_secs_f64(),
                })
                .map_err(|e| e.to_string());
            let _ = tx.send(Reply::Loaded { generation, result });
        });
    }

    /// Scores the shown record (a newer request replaces one not yet started).
    pub fn score(&self, generation: u64, scorer: Arc<Scorer>, record: Record) {
        let _ = self.interactive.send(ScoreRequest {
            generation,
            scorer,
            record,
        });
    }

    /// Scores `records` (row number, record) one by one until done or `cancel` is set.
    pub fn score_rows(&self, ticket: &Ticket, scorer: Arc<Scorer>, records: Vec<(usize, Record)>) {
        let Ticket { generation, cancel } = ticket.clone();
        let w = self.wake.clone();
        self.spawn("dataset", generation, move |tx| {
            let started = Instant::now();
            let scorer = match scorer.with_options(ScoreOptions {
                top_k: 0,
                ..scorer.options().clone()
            }) {
                Ok(s) => s,
                Err(_) => (*scorer).clone(),
            };
            let mut last_wake = Instant::now();
            let beta = scorer.options().beta;
            // Credit across the dataset, summed as the rows are scored (no second pass over the data).
            let mut credit = FeatureBuilder::new(&FeatureOptions::default());
            let mut last_credit = Instant::now();
            // Whether the app still listens.
            let send_credit = |credit: &FeatureBuilder| {
                tx.send(Reply::Features {
                    generation,
                    features: Box::new(credit.clone().finish()),
                    beta,
                })
                .is_ok()
            };
            for (row, record) in records {
                if cancel.load(Ordering::Relaxed) {
                    let _ = send_credit(&credit);
                    let _ = tx.send(Reply::RowsDone {
                        generation,
                        cancelled: true,
                        seconds: started.elapsed().as_secs_f64(),
                    });
                    return;
                }
                let result = scorer
                    .score_record(row, &record)
                    .map(|s| {
                        credit.add(&s);
                        RowScore::of(&s, beta)
                    })
                    .map_err(|e| e.to_string());
                if tx
                    .send(Reply::Row {
                        generation,
                        row,
                        result,
                    })
                    .is_err()
                {
                    return;
                }
                if last_credit.elapsed().as_millis() > 2000 {
                    if !send_credit(&credit) {
                        return;
                    }
                    last_credit = Instant::now();
                }
                if last_wake.elapsed().as_millis() > 100 {
                    wake(&w);
                    last_wake = Instant::now();
                }
            }
            let _ = send_credit(&credit);
            let _ = tx.send(Reply::RowsDone {
                generation,
                cancelled: false,
                seconds: started.elapsed().as_secs_f64(),
            });
        });
    }

    /// For each checkpoint: loads it as the policy, scores the job's pairs and selected record against the same
    /// reference ([`crate::drift::drift`]), and sends each point as it is done.
    pub fn drift(&self, job: DriftJob) {
        let DriftJob {
            ticket: Ticket { generation, cancel },
            scorer,
            checkpoints,
            pairs,
            selected,
            dtype,
        } = job;
        let w = self.wake.clone();
        self.spawn("drift", generation, move |tx| {
            let run = crate::drift::DriftRun {
                scorer: &scorer,
                checkpoints: &checkpoints,
                pairs: &pairs,
                selected: selected.as_ref(),
                dtype,
                cancel: &cancel,
            };
            let error = crate::drift::drift(&run, |point| {
                let sent = tx.send(Reply::Drift { generation, point }).is_ok();
                wake(&w);
                sent
            })
            .err()
            .map(|e| e.to_string());
            let _ = tx.send(Reply::DriftDone { generation, error });
        });
    }

    /// Runs a search, width after width, sending each run as it is done; cancelling stops the width in progress
    /// (its hypotheses so far are sent, marked cancelled) and the widths after it.
    pub fn search(&self, job: SearchJob) {
        let SearchJob {
            ticket: Ticket { generation, cancel },
            scorer,
            prompt,
            widths,
            max_new_tokens,
            length_norm,
        } = job;
        let w = self.wake.clone();
        self.spawn("search", generation, move |tx| {
            let result = (|| -> crate::Result<()> {
                let searcher = crate::search::Searcher::new(&scorer)?;
                let (ids, text) = searcher.encode(&prompt)?;
                let total = widths.len() * max_new_tokens;
                for (i, &beams) in widths.iter().enumerate() {
                    let settings = crate::search::SearchSettings {
                        beams,
                        max_new_tokens,
                        eos: Vec::new(),
                        length_penalty: length_norm,
                    };
                    let mut step = |s: usize, _of: usize| {
                        let fraction = (i * max_new_tokens + s) as f32 / total.max(1) as f32;
                        let _ = tx.send(Reply::SearchProgress {
                            generation,
                            fraction,
                        });
                        wake(&w);
                        !cancel.load(Ordering::Relaxed)
                    };
                    let (candidates, cancelled) = searcher.beams(&ids, &settings, &mut step)?;
                    let run = crate::search::SearchRun {
                        index: 0,
                        prompt: text.clone(),
                        beams,
                        samples: None,
                        candidates,
                        cancelled,
                    };
                    if tx.send(Reply::SearchRun { generation, run }).is_err() || cancelled {
                        break;
                    }
                    wake(&w);
                }
                Ok(())
            })();
            let _ = tx.send(Reply::SearchDone {
                generation,
                error: result.err().map(|e| e.to_string()),
            });
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic in a worker is caught and reported for its job's generation (issue 18).
    #[test]
    fn a_panicking_worker_reports_instead_of_dying_silently() {
        let worker = Worker::new();
        worker.spawn("test", 42, |_| panic!("boom"));
        let start = Instant::now();
        loop {
            let replies = worker.poll();
            if let Some(Reply::Panicked {
                generation,
                message,
            }) = replies.into_iter().next()
            {
                assert_eq!(generation, 42);
                assert!(
                    message.contains("boom") && message.contains("test worker"),
                    "{message}"
                );
                return;
            }
            assert!(start.elapsed().as_secs() < 10, "no reply");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}
