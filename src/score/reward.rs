//! The implicit reward, and how rewards follow a change of beta: they are linear in it, so a new beta rescales
//! them without running a model. The one place scores, drift and the app change beta.

/// DPO's implicit reward of log-probabilities under the policy and the reference: `beta * (log pi - log pi_ref)`,
/// per token or summed over a response.
pub fn implicit_reward(beta: f64, logp_policy: f64, logp_reference: f64) -> f64 {
    beta * (logp_policy - logp_reference)
}

/// Rewards computed with beta `from` (and sums, margins and means of them) made, in place, what they are with beta
/// `to`: each is multiplied by `to / from`. A score that keeps its log-probabilities recomputes them exactly instead
/// ([`super::RecordScore::set_beta`]); this is for summaries that keep only rewards (the drift's means per
/// checkpoint, the app's table).
pub fn rescale_rewards<'a>(from: f64, to: f64, rewards: impl IntoIterator<Item = &'a mut f64>) {
    let k = to / from;
    for r in rewards {
        *r *= k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rescaling rewards gives the rewards computed with the new beta (up to rounding), and NaN (a missing value)
    /// stays NaN.
    #[test]
    fn rescaled_rewards_are_those_of_the_new_beta() {
        let (lp, lr) = (-1.25, -3.5);
        let mut r = [implicit_reward(0.1, lp, lr), f64::NAN];
        let [a, b] = &mut r;
        rescale_rewards(0.1, 0.5, [a, b]);
        assert!((r[0] - implicit_reward(0.5, lp, lr)).abs() < 1e-12);
        assert!(r[1].is_nan());
    }
}
