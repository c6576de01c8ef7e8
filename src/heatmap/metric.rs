//! The per-token quantities a heatmap can colour by.

use crate::score::TokenScore;
use serde::{Deserialize, Serialize};

/// A per-token quantity read from a [`TokenScore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Metric {
    /// r_t = beta * (log pi - log pi_ref): DPO's implicit token reward.
    #[default]
    Reward,
    /// log pi - log pi_ref (the reward without beta).
    LogRatio,
    /// log pi(y_t | s_t).
    LogpPolicy,
    /// log pi_ref(y_t | s_t).
    LogpReference,
    /// KL(pi || pi_ref) over the vocabulary at this position.
    Kl,
    /// -log pi(y_t | s_t).
    SurprisalPolicy,
    /// -log pi_ref(y_t | s_t).
    SurprisalReference,
    /// r_t / (1 + H(pi_ref(.|s_t))): the reward damped where the reference itself was unsure (many tokens could
    /// follow), so that a free choice of words stands out less than a token the reference was sure about.
    RewardPerEntropy,
    /// log pi - log pi_ref - KL(pi || pi_ref): the log-ratio less its expectation under the policy (E over
    /// y ~ pi of the log-ratio is the KL), i.e. (r_t - beta*KL) / beta; negative where the token fared worse than the
    /// policy's typical token at that position.
    CentredLogRatio,
}

impl Metric {
    /// Every metric, in menu order.
    pub const ALL: [Metric; 9] = [
        Metric::Reward,
        Metric::RewardPerEntropy,
        Metric::LogRatio,
        Metric::CentredLogRatio,
        Metric::LogpPolicy,
        Metric::LogpReference,
        Metric::Kl,
        Metric::SurprisalPolicy,
        Metric::SurprisalReference,
    ];

    /// The value of this metric for one token.
    pub fn value(self, t: &TokenScore) -> f64 {
        match self {
            Metric::Reward => t.reward,
            Metric::LogRatio => t.logp_policy - t.logp_reference,
            Metric::LogpPolicy => t.logp_policy,
            Metric::LogpReference => t.logp_reference,
            Metric::Kl => t.kl,
            Metric::SurprisalPolicy => -t.logp_policy,
            Metric::SurprisalReference => -t.logp_reference,
            Metric::RewardPerEntropy => t.reward / (1.0 + t.entropy_reference),
            Metric::CentredLogRatio => t.logp_policy - t.logp_reference - t.kl,
        }
    }

    /// A short label for menus and colour bars.
    pub fn label(self) -> &'static str {
        match self {
            Metric::Reward => "reward r_t",
            Metric::LogRatio => "log-ratio",
            Metric::LogpPolicy => "log-prob (policy)",
            Metric::LogpReference => "log-prob (reference)",
            Metric::Kl => "KL(pi || pi_ref)",
            Metric::SurprisalPolicy => "surprisal (policy)",
            Metric::SurprisalReference => "surprisal (reference)",
            Metric::RewardPerEntropy => "r_t / (1 + H_ref)",
            Metric::CentredLogRatio => "log-ratio − KL",
        }
    }

    /// A sentence explaining the metric (tooltips, `--help`).
    pub fn description(self) -> &'static str {
        match self {
            Metric::Reward => {
                "beta * (log pi(y_t|s_t) - log pi_ref(y_t|s_t)); its sum is TRL's rewards/chosen or rewards/rejected"
            }
            Metric::LogRatio => "log pi(y_t|s_t) - log pi_ref(y_t|s_t): the reward without beta",
            Metric::LogpPolicy => "log-probability of the token under the policy",
            Metric::LogpReference => "log-probability of the token under the reference",
            Metric::Kl => {
                "KL divergence of the policy's next-token distribution from the reference's"
            }
            Metric::SurprisalPolicy => {
                "-log pi(y_t|s_t): how unexpected the token is to the policy"
            }
            Metric::SurprisalReference => {
                "-log pi_ref(y_t|s_t): how unexpected the token is to the reference"
            }
            Metric::RewardPerEntropy => {
                "r_t / (1 + entropy of pi_ref(.|s_t)): the reward damped where the reference was unsure what comes next, so a free choice of words stands out less than a token the reference was sure about"
            }
            Metric::CentredLogRatio => {
                "log pi - log pi_ref - KL(pi || pi_ref): the log-ratio less its expectation under the policy, i.e. (r_t - beta*KL)/beta; negative where the token fared worse than the policy's typical token there"
            }
        }
    }

    /// The name used on the command line (`--metric`).
    pub fn key(self) -> &'static str {
        match self {
            Metric::Reward => "reward",
            Metric::LogRatio => "log-ratio",
            Metric::LogpPolicy => "logp-policy",
            Metric::LogpReference => "logp-reference",
            Metric::Kl => "kl",
            Metric::SurprisalPolicy => "surprisal-policy",
            Metric::SurprisalReference => "surprisal-reference",
            Metric::RewardPerEntropy => "reward-per-entropy",
            Metric::CentredLogRatio => "centred-log-ratio",
        }
    }

    /// Parses [`Metric::key`].
    pub fn from_key(key: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.key() == key)
    }

    /// Whether high values are bad news (surprisal, KL), so the colormap is flipped to keep "red = suspicious".
    pub fn higher_is_worse(self) -> bool {
        matches!(
            self,
            Metric::Kl | Metric::SurprisalPolicy | Metric::SurprisalReference
        )
    }

    /// The sign every value of the metric has: `Some(1.0)` for metrics that are never negative (KL, surprisal),
    /// `Some(-1.0)` for those never positive (log-probabilities), `None` when both signs occur (reward,
    /// log-ratio). A one-signed metric is coloured from neutral (0) to red only: a sequential scale.
    pub fn sign(self) -> Option<f64> {
        match self {
            Metric::Reward
            | Metric::LogRatio
            | Metric::RewardPerEntropy
            | Metric::CentredLogRatio => None,
            Metric::LogpPolicy | Metric::LogpReference => Some(-1.0),
            Metric::Kl | Metric::SurprisalPolicy | Metric::SurprisalReference => Some(1.0),
        }
    }

    /// What red means, in words, for colour bars and legends.
    pub fn red_means(self) -> &'static str {
        match self {
            Metric::Reward | Metric::LogRatio | Metric::RewardPerEntropy => {
                "red: the policy made the token less likely than the reference; blue: more likely"
            }
            Metric::CentredLogRatio => {
                "red: the policy moved away from the token more than from its typical token there; blue: towards it"
            }
            Metric::LogpPolicy => "red: unlikely under the policy",
            Metric::LogpReference => "red: unlikely under the reference",
            Metric::Kl => "red: policy and reference disagree on the next token",
            Metric::SurprisalPolicy => "red: surprising to the policy",
            Metric::SurprisalReference => "red: surprising to the reference",
        }
    }

    /// [`Metric::red_means`] in a few words, for a toolbar.
    pub fn red_short(self) -> &'static str {
        match self {
            Metric::Reward | Metric::LogRatio | Metric::RewardPerEntropy => {
                "red: policy < reference"
            }
            Metric::CentredLogRatio => "red: below the policy's typical",
            Metric::LogpPolicy | Metric::SurprisalPolicy => "red: unlikely to the policy",
            Metric::LogpReference | Metric::SurprisalReference => "red: unlikely to the reference",
            Metric::Kl => "red: the models disagree",
        }
    }

    /// The values at the left and right ends of a colour bar with colour limit `limit`: `-limit..limit` for a
    /// two-signed metric (red on the left), `0..±limit` (neutral to red) for a one-signed one.
    pub fn bar_range(self, limit: f64) -> (f64, f64) {
        match self.sign() {
            None => (-limit, limit),
            Some(s) => (0.0, s * limit),
        }
    }

    /// Position of `value` on a colormap over [-1, 1] whose limit is `limit`: red (negative) is always the
    /// suspicious end.
    pub fn colormap_position(self, value: f64, limit: f64) -> f64 {
        let t = value / limit.max(f64::MIN_POSITIVE);
        if self.higher_is_worse() { -t } else { t }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for m in Metric::ALL {
            assert_eq!(Metric::from_key(m.key()), Some(m));
        }
        assert_eq!(Metric::from_key("nope"), None);
    }

    #[test]
    fn one_signed_metrics_use_only_the_red_half() {
        for m in Metric::ALL {
            let (lo, hi) = m.bar_range(2.0);
            let (a, b) = (m.colormap_position(lo, 2.0), m.colormap_position(hi, 2.0));
            match m.sign() {
                None => assert_eq!((a, b), (-1.0, 1.0), "{m:?}"),
                Some(_) => assert_eq!((a, b), (0.0, -1.0), "{m:?}: neutral to red"),
            }
        }
    }

    #[test]
    fn derived_signals_hand_checked() {
        let t = crate::score::TokenScore {
            id: 0,
            text: "x".into(),
            start: 0,
            end: 1,
            template: false,
            logp_policy: -2.0,
            logp_reference: -1.0,
            reward: -0.1,
            cum_reward: -0.1,
            kl: 0.25,
            entropy_policy: 1.0,
            entropy_reference: 3.0,
            rank_policy: 2,
            rank_reference: 1,
            top_policy: vec![],
            top_reference: vec![],
        };
        assert_eq!(Metric::RewardPerEntropy.value(&t), -0.1 / 4.0);
        assert_eq!(Metric::CentredLogRatio.value(&t), -1.0 - 0.25);
    }

    #[test]
    fn suspicious_is_always_negative() {
        assert!(Metric::Reward.colormap_position(-1.0, 2.0) < 0.0);
        assert!(Metric::SurprisalPolicy.colormap_position(5.0, 10.0) < 0.0);
    }
}
