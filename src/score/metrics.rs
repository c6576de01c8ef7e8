//! Per-position metrics from two rows of logits over the same vocabulary: the log-probability and rank of the
//! token actually written, the entropy of each distribution, KL(pi || pi_ref) over the whole vocabulary, and the
//! top-k alternatives. Reductions run in f64 over the f32 logits.

/// One of the most likely next tokens under a model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alternative {
    /// Token id.
    pub id: u32,
    /// Its log-probability.
    pub logp: f64,
}

/// What one model says about one position.
#[derive(Debug, Clone, PartialEq)]
pub struct Distribution {
    /// log-probability of the target token.
    pub logp: f64,
    /// Entropy of the next-token distribution, nats.
    pub entropy: f64,
    /// 1 + the number of tokens with a strictly larger logit than the target's.
    pub rank: usize,
    /// The `k` most likely tokens, most likely first.
    pub top: Vec<Alternative>,
}

/// Both models' view of one position, plus their divergence.
#[derive(Debug, Clone, PartialEq)]
pub struct PositionMetrics {
    /// Under the policy.
    pub policy: Distribution,
    /// Under the reference.
    pub reference: Distribution,
    /// KL(pi || pi_ref) over the vocabulary, nats.
    pub kl: f64,
}

struct Summary {
    max: f32,
    rank: usize,
    top: Vec<(f32, u32)>,
}

/// Max, rank of `target` and the top `k` logits, in one pass without exponentials.
fn summarise(x: &[f32], target: usize, k: usize) -> Summary {
    let t = x[target];
    let mut max = f32::NEG_INFINITY;
    let mut rank = 1;
    let mut top: Vec<(f32, u32)> = Vec::with_capacity(k + 1);
    for (i, &v) in x.iter().enumerate() {
        max = max.max(v);
        rank += usize::from(v > t);
        if k > 0 && (top.len() < k || v > top[top.len() - 1].0) {
            let pos = top.partition_point(|&(w, _)| w >= v);
            top.insert(pos, (v, i as u32));
            top.truncate(k);
        }
    }
    Summary { max, rank, top }
}

/// log-sum-exp and expectation of the logits under their own softmax, from the shifted exponentials' sums.
struct Moments {
    lse: f64,
    mean: f64,
}

fn distribution(x: &[f32], s: &Summary, target: usize, m: &Moments) -> Distribution {
    Distribution {
        logp: f64::from(x[target]) - m.lse,
        entropy: m.lse - m.mean,
        rank: s.rank,
        top: s
            .top
            .iter()
            .map(|&(v, id)| Alternative {
                id,
                logp: f64::from(v) - m.lse,
            })
            .collect(),
    }
}

/// Metrics at one position from the policy's logits `p` and the reference's `r` (same length), for the token
/// `target`, with `k` alternatives per model.
pub fn position_metrics(p: &[f32], r: &[f32], target: usize, k: usize) -> PositionMetrics {
    let sp = summarise(p, target, k);
    let sr = summarise(r, target, k);
    // One exponential per entry and model (f32, summed in f64): with wp = exp(x - max_p) and wr = exp(z - max_r),
    // lse = max + ln sum w, entropy = lse - E[x], KL(p || r) = E_p[x - z] - lse_p + lse_r.
    let (mut sum_p, mut sum_r) = (0f64, 0f64);
    let (mut ep_x, mut ep_z, mut er_z) = (0f64, 0f64, 0f64);
    for (&x, &z) in p.iter().zip(r) {
        let wp = f64::from(exp_nonpositive(x - sp.max));
        let wr = f64::from(exp_nonpositive(z - sr.max));
        sum_p += wp;
        sum_r += wr;
        ep_x += wp * f64::from(x);
        ep_z += wp * f64::from(z);
        er_z += wr * f64::from(z);
    }
    let mp = Moments {
        lse: f64::from(sp.max) + sum_p.ln(),
        mean: ep_x / sum_p,
    };
    let mr = Moments {
        lse: f64::from(sr.max) + sum_r.ln(),
        mean: er_z / sum_r,
    };
    let kl = (mp.mean - ep_z / sum_p - mp.lse + mr.lse).max(0.0);
    PositionMetrics {
        policy: distribution(p, &sp, target, &mp),
        reference: distribution(r, &sr, target, &mr),
        kl,
    }
}

/// `e^x` for `x <= 0` (a logit minus the row's maximum), within 3e-7 relative of the exact value (about 2 ulp) and without
/// branches or library calls, so that the loops over the vocabulary vectorise. Cody-Waite range reduction
/// (`x = n ln 2 + r`, `|r| <= ln 2 / 2`) and a degree-6 Taylor polynomial for `e^r`; below -87 it returns 0 (the
/// smallest normal f32 is e^-87.3).
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer in the default rounding mode.
    const ROUND: f32 = 12_582_912.0;
    let x = x.max(-87.0);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    p * scale
}

/// The logistic function, stable for large |x|.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn uniform_distributions() {
        let p = [0.0f32; 4];
        let m = position_metrics(&p, &p, 2, 2);
        assert!(close(m.policy.logp, -(4f64).ln()));
        assert!(close(m.policy.entropy, (4f64).ln()));
        assert!(close(m.kl, 0.0));
        assert_eq!(m.policy.rank, 1);
        assert_eq!(m.policy.top.len(), 2);
    }

    #[test]
    fn hand_checked_two_token_case() {
        // p = softmax([ln 3, 0]) = (3/4, 1/4); r = (1/2, 1/2).
        let p = [3f32.ln(), 0.0];
        let r = [0.0f32, 0.0];
        let m = position_metrics(&p, &r, 1, 1);
        assert!((m.policy.logp - 0.25f64.ln()).abs() < 1e-7);
        assert!((m.reference.logp - 0.5f64.ln()).abs() < 1e-7);
        let kl = 0.75 * (0.75f64 / 0.5).ln() + 0.25 * (0.25f64 / 0.5).ln();
        assert!((m.kl - kl).abs() < 1e-7, "{} vs {kl}", m.kl);
        let h = -(0.75 * 0.75f64.ln() + 0.25 * 0.25f64.ln());
        assert!((m.policy.entropy - h).abs() < 1e-7);
        assert_eq!(m.policy.rank, 2);
        assert_eq!(m.reference.rank, 1);
        assert_eq!(m.policy.top[0].id, 0);
    }

    #[test]
    fn top_k_is_sorted_and_ties_do_not_raise_rank() {
        let p = [1.0f32, 5.0, 3.0, 5.0, -2.0];
        let m = position_metrics(&p, &p, 3, 3);
        let ids: Vec<u32> = m.policy.top.iter().map(|a| a.id).collect();
        assert_eq!(ids, vec![1, 3, 2]);
        assert_eq!(m.policy.rank, 1);
        assert_eq!(position_metrics(&p, &p, 0, 0).policy.rank, 4);
    }

    #[test]
    fn fast_exp_is_accurate_over_the_range_used() {
        let mut worst = 0f64;
        for i in 0..=2_000_000 {
            let x = -(i as f32) * 4.35e-5;
            let exact = f64::from(x).exp();
            let rel = (f64::from(exp_nonpositive(x)) - exact).abs() / exact;
            worst = worst.max(rel);
        }
        assert!(worst < 3e-7, "worst relative error {worst:e}");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(-1000.0), exp_nonpositive(-87.0));
        assert!(exp_nonpositive(-87.0) < 2e-38);
    }

    #[test]
    fn sigmoid_is_stable() {
        assert!(close(sigmoid(0.0), 0.5));
        assert!(close(sigmoid(800.0), 1.0));
        assert!(close(sigmoid(-800.0), 0.0));
        assert!(close(sigmoid(2.0) + sigmoid(-2.0), 1.0));
    }
}
