//! Error localisation: how well per-token rewards single out labelled errors (the paper's section 5.1, which showed
//! it only qualitatively, measured). Each labelled pair marks the erroneous spans of its rejected response; a token
//! is an error token when its span overlaps one. Surprisal under either model is the baseline a reward must beat,
//! since unpredictable but correct content (a name, a free choice of words) is also surprising.

use crate::heatmap::Metric;
use crate::score::{PairScore, TokenScore};
use crate::words::Unit;

/// Localisation figures over a set of labelled pairs (the JSON of `creditlens eval --json`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Localisation {
    /// Labelled pairs evaluated (pairs with at least one error span).
    pub pairs: usize,
    /// Share of labelled pairs whose lowest-reward rejected token lies in an error span.
    pub top1: f64,
    /// AUROC of -r_t for error tokens against the other tokens of the rejected responses.
    pub auroc: f64,
    /// Top-1 when ranking by surprisal under the policy (-log pi).
    pub top1_surprisal_policy: f64,
    /// Top-1 when ranking by surprisal under the reference (-log pi_ref).
    pub top1_surprisal_reference: f64,
    /// AUROC of -log pi.
    pub auroc_surprisal_policy: f64,
    /// AUROC of -log pi_ref.
    pub auroc_surprisal_reference: f64,
    /// Standard deviation of r_t over all non-error tokens (chosen and rejected).
    pub nonerror_reward_std: f64,
    /// Share of all pairs with a positive margin.
    pub reward_accuracy: f64,
    /// Mean margin over all pairs.
    pub mean_margin: f64,
    /// The k of the "within k after" hit rates: a unit counts when it is an error unit or one of the k units that
    /// follow one (credit spilling onto what comes after an error).
    #[serde(default)]
    pub within_k: usize,
    /// Every signal at every unit (the first is r_t per token: `top1` and `auroc` above).
    #[serde(default)]
    pub signals: Vec<SignalFigures>,
}

/// How well one signal, counted in one unit, singles out the labelled errors.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SignalFigures {
    /// The per-token quantity; its suspicious end is red (low reward, high surprisal).
    pub signal: String,
    /// Its [`Metric::key`].
    pub key: String,
    /// Token or word (a word's value is the sum over its tokens).
    pub unit: Unit,
    /// Share of labelled pairs whose most suspicious rejected unit is an error unit.
    pub top1: f64,
    /// Share whose most suspicious unit is an error unit or within k units after one.
    pub within_k: f64,
    /// AUROC of the suspicion of error units against the other units of the rejected responses.
    pub auroc: f64,
}

/// The signals `eval` compares: the implicit reward, two variants of it, and the surprisal baselines.
pub const SIGNALS: [Metric; 5] = [
    Metric::Reward,
    Metric::RewardPerEntropy,
    Metric::CentredLogRatio,
    Metric::SurprisalPolicy,
    Metric::SurprisalReference,
];

/// How suspicious a value of `metric` is: higher is worse (a low reward, a high surprisal).
fn suspicion(metric: Metric, t: &TokenScore) -> f64 {
    let v = metric.value(t);
    if metric.higher_is_worse() { v } else { -v }
}

/// The units of a rejected response as (suspicion under each of [`SIGNALS`], is an error unit).
fn units(
    response: &crate::score::ResponseScore,
    spans: &[(usize, usize)],
    unit: Unit,
) -> Vec<([f64; SIGNALS.len()], bool)> {
    let of = |t: &TokenScore| {
        let mut s = [0.0; SIGNALS.len()];
        for (k, m) in SIGNALS.iter().enumerate() {
            s[k] = suspicion(*m, t);
        }
        (s, is_error_token(t, spans))
    };
    match unit {
        Unit::Token => response.tokens.iter().map(of).collect(),
        // A word's value is the signal of the word taken as one token (`words::word_score`: sums of rewards and
        // log-probabilities); it is an error word when its span overlaps an error.
        Unit::Word => crate::words::response_by_words(response)
            .tokens
            .iter()
            .map(of)
            .collect(),
    }
}

/// The figures of every signal at `unit` over the labelled pairs.
fn signal_figures(pairs: &[LabelledScore], unit: Unit, within: usize) -> Vec<SignalFigures> {
    let n = SIGNALS.len();
    let (mut top1, mut near) = (vec![0usize; n], vec![0usize; n]);
    let mut scores: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut labels = Vec::new();
    let mut labelled = 0;
    for (pair, spans) in pairs.iter().filter(|(_, s)| !s.is_empty()) {
        labelled += 1;
        let us = units(&pair.rejected, spans, unit);
        let errors: Vec<bool> = us.iter().map(|u| u.1).collect();
        // Units that are an error or within `within` after one.
        let mut close = vec![false; us.len()];
        for (i, &e) in errors.iter().enumerate() {
            if e {
                for c in close.iter_mut().skip(i).take(within + 1) {
                    *c = true;
                }
            }
        }
        for k in 0..n {
            if let Some(i) = argmax(us.iter().map(|u| u.0[k])) {
                top1[k] += usize::from(errors[i]);
                near[k] += usize::from(close[i]);
            }
            scores[k].extend(us.iter().map(|u| u.0[k]));
        }
        labels.extend(errors);
    }
    let share = |h: usize| {
        if labelled == 0 {
            f64::NAN
        } else {
            h as f64 / labelled as f64
        }
    };
    SIGNALS
        .iter()
        .enumerate()
        .map(|(k, m)| SignalFigures {
            signal: m.label().to_string(),
            key: m.key().to_string(),
            unit,
            top1: share(top1[k]),
            within_k: share(near[k]),
            auroc: auroc(&scores[k], &labels),
        })
        .collect()
}

/// Default k of the "within k after" hit rates.
pub const WITHIN_K: usize = 2;

/// A scored pair with the labelled error spans of its rejected response.
pub type LabelledScore = (PairScore, Vec<(usize, usize)>);

/// Whether a token's span overlaps one of `spans` (tokens with an empty span, such as an appended EOS, never do).
pub fn is_error_token(t: &TokenScore, spans: &[(usize, usize)]) -> bool {
    t.start < t.end && spans.iter().any(|&(s, e)| t.start < e && s < t.end)
}

/// Area under the ROC curve of `scores` for telling `positive` items from the rest (Mann-Whitney U, ties counted
/// one half). `NaN` when either class is empty.
pub fn auroc(scores: &[f64], positive: &[bool]) -> f64 {
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return f64::NAN;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        // Ranks i+1..=j+1 share their mean.
        let mean_rank = (i + j + 2) as f64 / 2.0;
        rank_sum += mean_rank * order[i..=j].iter().filter(|&&k| positive[k]).count() as f64;
        i = j + 1;
    }
    let (p, n) = (n_pos as f64, n_neg as f64);
    (rank_sum - p * (p + 1.0) / 2.0) / (p * n)
}

/// Index of the largest value (the first one on ties).
fn argmax(values: impl Iterator<Item = f64>) -> Option<usize> {
    values
        .enumerate()
        .fold(None, |best: Option<(usize, f64)>, (i, v)| match best {
            Some((_, b)) if b >= v => best,
            _ => Some((i, v)),
        })
        .map(|(i, _)| i)
}

/// Localisation figures for scored pairs with their labelled error spans: r_t and the surprisal baselines per
/// token, and every signal of [`SIGNALS`] at each of `units`, with hit rates within `within` units after an error.
pub fn localisation_at(pairs: &[LabelledScore], units: &[Unit], within: usize) -> Localisation {
    let mut l = localisation(pairs);
    l.within_k = within;
    l.signals = units
        .iter()
        .flat_map(|&u| signal_figures(pairs, u, within))
        .collect();
    l
}

/// Localisation figures for scored pairs with their labelled error spans (r_t and the surprisal baselines per token).
pub fn localisation(pairs: &[LabelledScore]) -> Localisation {
    type Key = fn(&TokenScore) -> f64;
    let keys: [Key; 3] = [|t| -t.reward, |t| -t.logp_policy, |t| -t.logp_reference];
    let mut hits = [0usize; 3];
    let mut scores: [Vec<f64>; 3] = Default::default();
    let mut labels = Vec::new();
    let mut nonerror = Vec::new();
    let mut labelled = 0;
    for (pair, spans) in pairs {
        nonerror.extend(pair.chosen.tokens.iter().map(|t| t.reward));
        if spans.is_empty() {
            continue;
        }
        labelled += 1;
        let tokens = &pair.rejected.tokens;
        let errors: Vec<bool> = tokens.iter().map(|t| is_error_token(t, spans)).collect();
        for (k, key) in keys.iter().enumerate() {
            if let Some(i) = argmax(tokens.iter().map(key)) {
                hits[k] += usize::from(errors[i]);
            }
            scores[k].extend(tokens.iter().map(key));
        }
        nonerror.extend(
            tokens
                .iter()
                .zip(&errors)
                .filter(|(_, e)| !**e)
                .map(|(t, _)| t.reward),
        );
        labels.extend(errors);
    }
    let share = |n: usize, of: usize| {
        if of == 0 {
            f64::NAN
        } else {
            n as f64 / of as f64
        }
    };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let std = {
        let m = mean(&nonerror);
        (nonerror.iter().map(|x| (x - m).powi(2)).sum::<f64>() / nonerror.len() as f64).sqrt()
    };
    let margins: Vec<f64> = pairs.iter().map(|(p, _)| p.margin).collect();
    Localisation {
        pairs: labelled,
        top1: share(hits[0], labelled),
        auroc: auroc(&scores[0], &labels),
        top1_surprisal_policy: share(hits[1], labelled),
        top1_surprisal_reference: share(hits[2], labelled),
        auroc_surprisal_policy: auroc(&scores[1], &labels),
        auroc_surprisal_reference: auroc(&scores[2], &labels),
        nonerror_reward_std: std,
        reward_accuracy: share(margins.iter().filter(|&&m| m > 0.0).count(), margins.len()),
        mean_margin: mean(&margins),
        within_k: 0,
        signals: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::ResponseScore;

    fn token(start: usize, end: usize, reward: f64, logp: f64) -> TokenScore {
        TokenScore {
            logp_policy: logp,
            logp_reference: logp - reward / 0.1,
            ..TokenScore::for_test("", start, end, reward)
        }
    }

    fn response(tokens: Vec<TokenScore>) -> ResponseScore {
        let reward = tokens.iter().map(|t| t.reward).sum();
        ResponseScore {
            text: String::new(),
            num_tokens: tokens.len(),
            reward,
            logp_policy: 0.0,
            logp_reference: 0.0,
            content_start: None,
            tokens,
        }
    }

    #[test]
    fn auroc_hand_checked() {
        assert_eq!(
            auroc(&[0.9, 0.8, 0.1, 0.2], &[true, true, false, false]),
            1.0
        );
        assert_eq!(
            auroc(&[0.1, 0.2, 0.9, 0.8], &[true, true, false, false]),
            0.0
        );
        // One positive at 0.5 among negatives 0.2, 0.5, 0.7: wins 1, ties 1, loses 1 -> 0.5.
        assert_eq!(
            auroc(&[0.5, 0.2, 0.5, 0.7], &[true, false, false, false]),
            0.5
        );
        assert!(auroc(&[1.0], &[true]).is_nan());
    }

    #[test]
    fn error_tokens_overlap_spans() {
        let spans = [(5, 8)];
        assert!(is_error_token(&token(4, 6, 0.0, 0.0), &spans));
        assert!(!is_error_token(&token(8, 9, 0.0, 0.0), &spans));
        assert!(!is_error_token(&token(6, 6, 0.0, 0.0), &spans));
    }

    /// A pair whose rejected text is `text`, tokens as (start, end, reward).
    fn pair_of(text: &str, toks: &[(usize, usize, f64)]) -> PairScore {
        let mut rejected = response(toks.iter().map(|&(s, e, r)| token(s, e, r, -1.0)).collect());
        rejected.text = text.into();
        let chosen = response(vec![token(0, 3, 0.03, -1.0)]);
        let margin = chosen.reward - rejected.reward;
        PairScore {
            index: 0,
            prompt: String::new(),
            chosen,
            rejected,
            margin,
            preference_prob: crate::score::sigmoid(margin),
            warnings: vec![],
            prompt_tokens: vec![],
        }
    }

    #[test]
    fn words_gather_credit_that_tokens_spread_and_spill_over_is_counted() {
        // " in Kuala Lumpur , my friend": the error is "Kuala Lumpur" (chars 3..15). Its four tokens have -0.2
        // each; the token after it (",") has -0.3, the lowest token of all.
        let text = " in Kuala Lumpur, my friend";
        let toks = [
            (0, 3, 0.0),
            (3, 5, -0.2),
            (5, 9, -0.2),
            (9, 11, -0.2),
            (11, 15, -0.2),
            (15, 16, -0.3),
            (16, 19, 0.0),
            (19, 26, 0.1),
        ];
        let l = localisation_at(
            &[(pair_of(text, &toks), vec![(3, 15)])],
            &[Unit::Token, Unit::Word],
            1,
        );
        let get = |key: &str, unit: Unit| {
            l.signals
                .iter()
                .find(|f| f.key == key && f.unit == unit)
                .cloned()
                .expect("figures")
        };
        let tok = get("reward", Unit::Token);
        assert_eq!(
            tok.top1, 0.0,
            "the lowest token is the comma after the error"
        );
        assert_eq!(tok.within_k, 1.0, "one token after the error");
        assert_eq!(tok.top1, l.top1, "the same figure as the headline");
        // Words: "Kuala" (-0.4) and "Lumpur," (-0.2 - 0.2 - 0.3 = -0.7: the comma is attached). "Lumpur," overlaps
        // the error, so the word view finds it.
        let word = get("reward", Unit::Word);
        assert_eq!(word.top1, 1.0);
        // Error units "Kuala" and "Lumpur," rank above the other three: AUROC 1.
        assert_eq!(word.auroc, 1.0);
        // Six of eight tokens are non-error; the errors' -0.2 rank below the comma's -0.3 only: 4 error tokens
        // against 4 others, each error beats 3 of them (0.0, 0.0, 0.1) and loses to the comma: 12/16.
        assert_eq!(tok.auroc, 0.75);
    }

    #[test]
    fn localisation_of_a_hand_made_pair() {
        // Rejected: the error token (chars 4..6) has the lowest reward but not the highest surprisal.
        let rejected = response(vec![
            token(0, 4, 0.01, -9.0),
            token(4, 6, -0.5, -2.0),
            token(6, 8, 0.02, -1.0),
        ]);
        let chosen = response(vec![token(0, 3, 0.03, -1.0)]);
        let margin = chosen.reward - rejected.reward;
        let pair = PairScore {
            index: 0,
            prompt: String::new(),
            chosen,
            rejected,
            margin,
            preference_prob: crate::score::sigmoid(margin),
            warnings: vec![],
            prompt_tokens: vec![],
        };
        let l = localisation(&[(pair, vec![(4, 6)])]);
        assert_eq!(l.pairs, 1);
        assert_eq!(l.top1, 1.0);
        assert_eq!(l.top1_surprisal_policy, 0.0);
        assert_eq!(l.auroc, 1.0);
        assert_eq!(l.reward_accuracy, 1.0);
        let rewards = [0.03f64, 0.01, 0.02];
        let m = rewards.iter().sum::<f64>() / 3.0;
        let std = (rewards.iter().map(|r| (r - m).powi(2)).sum::<f64>() / 3.0).sqrt();
        assert!((l.nonerror_reward_std - std).abs() < 1e-12);
    }
}
