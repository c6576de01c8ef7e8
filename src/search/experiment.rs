//! The paper's beam experiment (section 5.2, Figure 2) on the embedded demo: its held-out questions answered by
//! greedy decoding, beam search of growing width and sampling with the DPO policy, the best candidate of each
//! judged by the task's own checker, with its length, implicit reward and policy log-prob.

use super::sample::SampleSettings;
use super::{SearchCandidate, SearchPrompt, SearchRun, SearchSettings, Searcher};
use crate::demo_assets::DemoAssets;
use crate::error::{Error, Result};
use crate::score::Scorer;
use crate::task::LabelledPair;
use crate::task::World;
use crate::task::check::is_correct;
use crate::train::DemoConfig;

/// What the experiment runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentSettings {
    /// Held-out prompts used (the first ones of the file).
    pub prompts: usize,
    /// Beam widths (1: greedy).
    pub beams: Vec<usize>,
    /// Most tokens generated per answer.
    pub max_new_tokens: usize,
    /// Length normalisation alpha of the beam scores.
    pub length_penalty: f32,
    /// Samples per prompt for the sampling control (0: none; the first sample of each prompt is judged).
    pub samples: usize,
    /// Sampling temperature.
    pub temperature: f64,
    /// Sampling seed.
    pub seed: u64,
}

/// One line of the experiment's table.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentRow {
    /// `greedy`, `beam 4`, `sampling (T=1)`.
    pub label: String,
    /// Share of answers the checker marks correct.
    pub correct: f64,
    /// Mean number of generated tokens.
    pub mean_length: f64,
    /// Mean implicit reward (sum of r_t) of the answers.
    pub mean_reward: f64,
    /// Mean summed policy log-prob of the answers.
    pub mean_logp: f64,
}

#[derive(Default)]
struct Tally {
    n: usize,
    correct: usize,
    length: f64,
    reward: f64,
    logp: f64,
}

impl Tally {
    fn add(&mut self, world: &World, pair: &LabelledPair, best: Option<&SearchCandidate>) {
        self.n += 1;
        let Some(best) = best else { return };
        let r = &best.response;
        if is_correct(world, &pair.kind, &pair.prompt, &r.text) == Some(true) {
            self.correct += 1;
        }
        self.length += r.num_tokens as f64;
        self.reward += r.reward;
        self.logp += r.logp_policy;
    }

    fn row(&self, label: String) -> ExperimentRow {
        let n = self.n.max(1) as f64;
        ExperimentRow {
            label,
            correct: self.correct as f64 / n,
            mean_length: self.length / n,
            mean_reward: self.reward / n,
            mean_logp: self.logp / n,
        }
    }
}

/// Runs the experiment with `scorer` (the demo's policy and reference) on `demo`'s held-out questions; `each` is
/// told after every prompt how many are done and gets every run (for an output file). Returns one row per beam
/// width, then the sampling control.
pub fn run_experiment(
    scorer: &Scorer,
    demo: &DemoAssets,
    settings: &ExperimentSettings,
    each: &mut dyn FnMut(usize, Option<&SearchRun>) -> Result<()>,
) -> Result<Vec<ExperimentRow>> {
    let path = demo.heldout();
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let pairs: Vec<LabelledPair> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(settings.prompts)
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| Error::Data {
                location: format!("{}:{}", path.display(), i + 1),
                message: format!("not a held-out pair: {e}"),
            })
        })
        .collect::<Result<_>>()?;
    let world = World::new(DemoConfig::full().seed);
    let searcher = Searcher::new(scorer)?;
    let mut tallies: Vec<Tally> = settings.beams.iter().map(|_| Tally::default()).collect();
    let mut sampled = Tally::default();
    for (index, pair) in pairs.iter().enumerate() {
        let (ids, prompt) = searcher.encode(&SearchPrompt::Text(pair.prompt.clone()))?;
        for (&beams, tally) in settings.beams.iter().zip(&mut tallies) {
            let search = SearchSettings {
                beams,
                max_new_tokens: settings.max_new_tokens,
                eos: Vec::new(),
                length_penalty: settings.length_penalty,
            };
            let (candidates, _) = searcher.beams(&ids, &search, &mut |_, _| true)?;
            tally.add(&world, pair, candidates.first());
            let run = SearchRun {
                index,
                prompt: prompt.clone(),
                beams,
                samples: None,
                candidates,
                cancelled: false,
            };
            each(index, Some(&run))?;
        }
        if settings.samples > 0 {
            let search = SearchSettings {
                beams: 1,
                max_new_tokens: settings.max_new_tokens,
                eos: Vec::new(),
                length_penalty: settings.length_penalty,
            };
            let sampling = SampleSettings {
                n: settings.samples,
                temperature: settings.temperature,
                top_k: 0,
                top_p: 1.0,
                seed: settings.seed.wrapping_add(index as u64),
            };
            let (candidates, _) = searcher.samples(&ids, &search, &sampling, &mut |_, _| true)?;
            sampled.add(&world, pair, candidates.first());
            let run = SearchRun {
                index,
                prompt: prompt.clone(),
                beams: 0,
                samples: Some(settings.samples),
                candidates,
                cancelled: false,
            };
            each(index, Some(&run))?;
        }
        each(index + 1, None)?;
    }
    let mut rows: Vec<ExperimentRow> = settings
        .beams
        .iter()
        .zip(&tallies)
        .map(|(&b, t)| {
            t.row(if b == 1 {
                "greedy".to_string()
            } else {
                format!("beam {b}")
            })
        })
        .collect();
    if settings.samples > 0 {
        rows.push(sampled.row(format!("sampling (T={})", settings.temperature)));
    }
    Ok(rows)
}
