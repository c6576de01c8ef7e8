//! Error localisation: how well per-token rewards single out labelled errors (the paper's section 5.1, which showed
//! it only qualitatively, measured). Each labelled pair marks the erroneous spans of its rejected response; a token
//! is an error token when its span overlaps one. Surprisal under either model is the baseline a reward must beat,
//! since unpredictable but correct content (a name, a free choice of words) is also surprising.

use crate::score::{PairScore, TokenScore};

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
}

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

/// Localisation figures for scored pairs with their labelled error spans.
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::ResponseScore;

    fn token(start: usize, end: usize, reward: f64, logp: f64) -> TokenScore {
        TokenScore {
            id: 0,
            text: String::new(),
            start,
            end,
            template: false,
            logp_policy: logp,
            logp_reference: logp - reward / 0.1,
            reward,
            cum_reward: 0.0,
            kl: 0.0,
            entropy_policy: 0.0,
            entropy_reference: 0.0,
            rank_policy: 1,
            rank_reference: 1,
            top_policy: vec![],
            top_reference: vec![],
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
