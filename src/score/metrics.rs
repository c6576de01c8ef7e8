//! Per-position metrics from two rows of logits over the same vocabulary: the log-probability and rank of the
//! token actually written, the entropy of each distribution, KL(pi || pi_ref) over the whole vocabulary, and the
//! top-k alternatives. Reductions run in f64 over the f32 logits, vectorised ([`crate::simd`]).

use crate::simd::{LANES, best_simd, exp};

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

/// Max, rank of `target` and the top `k` logits, without exponentials.
fn summarise(x: &[f32], target: usize, k: usize) -> Summary {
    let t = x[target];
    let (max, above) = max_and_count_above(x, t);
    let mut top: Vec<(f32, u32)> = Vec::with_capacity(k + 1);
    if k > 0 {
        for (i, &v) in x.iter().enumerate() {
            if top.len() < k || v > top[top.len() - 1].0 {
                let pos = top.partition_point(|&(w, _)| w >= v);
                top.insert(pos, (v, i as u32));
                top.truncate(k);
            }
        }
    }
    Summary {
        max,
        rank: 1 + above,
        top,
    }
}

best_simd! {
    fn max_and_count_above(x: &[f32], t: f32) -> (f32, usize) = max_and_count_above_generic;
}

/// The largest value of `x` and how many values are strictly larger than `t`, lane by lane.
#[inline(always)]
fn max_and_count_above_generic(x: &[f32], t: f32) -> (f32, usize) {
    let mut max = [f32::NEG_INFINITY; LANES];
    let mut above = [0u32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for l in 0..LANES {
            max[l] = max[l].max(c[l]);
            above[l] += u32::from(c[l] > t);
        }
    }
    for &v in tail {
        max[0] = max[0].max(v);
        above[0] += u32::from(v > t);
    }
    let max = max.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    (max, above.iter().map(|&n| n as usize).sum())
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
    let [sum_p, sum_r, ep_x, ep_z, er_z] = exponential_sums(p, r, sp.max, sr.max);
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

best_simd! {
    fn exponential_sums(p: &[f32], r: &[f32], max_p: f32, max_r: f32) -> [f64; 5] = exponential_sums_generic;
}

/// One exponential per entry and model (f32, summed in f64 lane by lane): with wp = e^(x - max_p) and
/// wr = e^(z - max_r), the sums of wp, wr, wp x, wp z and wr z, from which lse = max + ln sum w,
/// entropy = lse - E[x] and KL(p || r) = E_p[x - z] - lse_p + lse_r.
#[inline(always)]
fn exponential_sums_generic(p: &[f32], r: &[f32], max_p: f32, max_r: f32) -> [f64; 5] {
    const W: usize = 8;
    let mut acc = [[0f64; W]; 5];
    let mut add = |l: usize, x: f32, z: f32| {
        let wp = f64::from(exp(x - max_p));
        let wr = f64::from(exp(z - max_r));
        acc[0][l] += wp;
        acc[1][l] += wr;
        acc[2][l] += wp * f64::from(x);
        acc[3][l] += wp * f64::from(z);
        acc[4][l] += wr * f64::from(z);
    };
    let n = p.len().min(r.len());
    let whole = n / W * W;
    for (cp, cr) in p[..whole].chunks_exact(W).zip(r[..whole].chunks_exact(W)) {
        for l in 0..W {
            add(l, cp[l], cr[l]);
        }
    }
    for (&x, &z) in p[whole..n].iter().zip(&r[whole..n]) {
        add(0, x, z);
    }
    acc.map(|lanes| lanes.iter().sum())
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

    /// Two rows of 1,003 logits (whole lanes and a tail), spread over about 17 and 21 nats.
    fn two_rows() -> (Vec<f32>, Vec<f32>) {
        let row = |a: usize, m: usize, step: f32, low: f32| -> Vec<f32> {
            (0..1003)
                .map(|i| ((i * a % m) as f32) * step + low)
                .collect()
        };
        (row(37, 101, 0.173, -9.0), row(53, 97, 0.211, -11.0))
    }

    #[test]
    fn vectorised_sums_match_a_plain_loop() {
        let (p, r) = two_rows();
        let target = 17;
        let m = position_metrics(&p, &r, target, 3);
        let plain = |x: &[f32]| {
            let max = x
                .iter()
                .fold(f64::NEG_INFINITY, |a, &b| a.max(f64::from(b)));
            let lse = max
                + x.iter()
                    .map(|&v| (f64::from(v) - max).exp())
                    .sum::<f64>()
                    .ln();
            let rank = 1 + x.iter().filter(|&&v| v > x[target]).count();
            (lse, rank)
        };
        let (lse_p, rank_p) = plain(&p);
        let (lse_r, rank_r) = plain(&r);
        assert!((m.policy.logp - (f64::from(p[target]) - lse_p)).abs() < 1e-6);
        assert!((m.reference.logp - (f64::from(r[target]) - lse_r)).abs() < 1e-6);
        assert_eq!((m.policy.rank, m.reference.rank), (rank_p, rank_r));
        let kl: f64 = p
            .iter()
            .zip(&r)
            .map(|(&x, &z)| {
                let (lp, lr) = (f64::from(x) - lse_p, f64::from(z) - lse_r);
                lp.exp() * (lp - lr)
            })
            .sum();
        assert!((m.kl - kl).abs() < 1e-6, "{} vs {kl}", m.kl);
    }

    /// The sums compiled for this CPU's widest instruction set give the bits of the baseline build.
    #[test]
    fn every_instruction_set_gives_the_same_bits() {
        let (p, r) = two_rows();
        let a = exponential_sums_generic(&p, &r, 8.5, 9.3);
        let b = exponential_sums(&p, &r, 8.5, 9.3);
        assert_eq!(a.map(f64::to_bits), b.map(f64::to_bits));
        assert_eq!(
            max_and_count_above_generic(&p, 1.0),
            max_and_count_above(&p, 1.0)
        );
    }

    #[test]
    fn sigmoid_is_stable() {
        assert!(close(sigmoid(0.0), 0.5));
        assert!(close(sigmoid(800.0), 1.0));
        assert!(close(sigmoid(-800.0), 0.0));
        assert!(close(sigmoid(2.0) + sigmoid(-2.0), 1.0));
    }
}
