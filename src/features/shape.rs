//! Where in the responses the credit sits (reward against relative position) and whether the sequence reward
//! follows length (least-squares slope and Pearson correlation).

use super::*;

/// The reward of the tokens in one bin of relative position.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct PositionBin {
    /// Where the bin starts, as a fraction of the response (0 for the first).
    pub from: f64,
    /// Where it ends (1 for the last).
    pub to: f64,
    /// Tokens in it.
    pub count: usize,
    /// Their summed r_t.
    pub sum: f64,
    /// Their summed |r_t|.
    pub abs_sum: f64,
}

impl PositionBin {
    /// Mean r_t of its tokens.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    /// Mean |r_t| of its tokens.
    pub fn mean_abs(&self) -> Option<f64> {
        (self.count > 0).then(|| self.abs_sum / self.count as f64)
    }
}

/// Reward against relative position in the response, per side: token t (0-based) of a response of n scored
/// tokens (template and EOS tokens included) is at (t + 1/2) / n and falls in bin floor((t + 1/2) / n * bins).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PositionProfile {
    /// Number of bins.
    pub bins: usize,
    /// Chosen responses' bins.
    pub chosen: Vec<PositionBin>,
    /// Rejected responses' bins.
    pub rejected: Vec<PositionBin>,
    /// Unpaired responses' bins.
    pub response: Vec<PositionBin>,
}

impl PositionProfile {
    pub(super) fn new(bins: usize) -> Self {
        let bins = bins.max(1);
        let empty: Vec<PositionBin> = (0..bins)
            .map(|i| PositionBin {
                from: i as f64 / bins as f64,
                to: (i + 1) as f64 / bins as f64,
                ..PositionBin::default()
            })
            .collect();
        Self {
            bins,
            chosen: empty.clone(),
            rejected: empty.clone(),
            response: empty,
        }
    }

    /// The bins of `side`.
    pub fn side(&self, side: Side) -> &[PositionBin] {
        match side {
            Side::Chosen => &self.chosen,
            Side::Rejected => &self.rejected,
            Side::Response => &self.response,
        }
    }

    pub(super) fn side_mut(&mut self, side: Side) -> &mut Vec<PositionBin> {
        match side {
            Side::Chosen => &mut self.chosen,
            Side::Rejected => &mut self.rejected,
            Side::Response => &mut self.response,
        }
    }

    /// The bin of token `t` of `n`.
    pub fn bin_of(&self, t: usize, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        ((2 * t + 1) * self.bins / (2 * n)).min(self.bins - 1)
    }

    pub(super) fn add(&mut self, side: Side, response: &ResponseScore) {
        let n = response.tokens.len();
        for (t, tok) in response.tokens.iter().enumerate() {
            let b = self.bin_of(t, n);
            if let Some(bin) = self.side_mut(side).get_mut(b) {
                bin.count += 1;
                bin.sum += tok.reward;
                bin.abs_sum += tok.reward.abs();
            }
        }
    }

    pub(super) fn merge(&mut self, o: &PositionProfile) {
        for side in Side::ALL {
            for (a, b) in self.side_mut(side).iter_mut().zip(o.side(side)) {
                a.count += b.count;
                a.sum += b.sum;
                a.abs_sum += b.abs_sum;
            }
        }
    }
}

/// Running means and co-moments of (x, y) pairs, mergeable (Chan et al.'s pairwise update).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(super) struct Moments {
    n: f64,
    mean_x: f64,
    mean_y: f64,
    sxx: f64,
    syy: f64,
    sxy: f64,
}

impl Moments {
    pub(super) fn add(&mut self, x: f64, y: f64) {
        self.merge(&Moments {
            n: 1.0,
            mean_x: x,
            mean_y: y,
            ..Moments::default()
        });
    }

    pub(super) fn merge(&mut self, o: &Moments) {
        if o.n == 0.0 {
            return;
        }
        if self.n == 0.0 {
            *self = *o;
            return;
        }
        let n = self.n + o.n;
        let dx = o.mean_x - self.mean_x;
        let dy = o.mean_y - self.mean_y;
        let w = self.n * o.n / n;
        self.sxx += o.sxx + dx * dx * w;
        self.syy += o.syy + dy * dy * w;
        self.sxy += o.sxy + dx * dy * w;
        self.mean_x += dx * o.n / n;
        self.mean_y += dy * o.n / n;
        self.n = n;
    }

    pub(super) fn fit(&self) -> LengthFit {
        let slope = (self.sxx > 0.0).then(|| self.sxy / self.sxx);
        LengthFit {
            n: self.n as usize,
            mean_tokens: self.mean_x,
            mean_reward: self.mean_y,
            slope,
            intercept: slope.map(|s| self.mean_y - s * self.mean_x),
            pearson: (self.sxx > 0.0 && self.syy > 0.0)
                .then(|| (self.sxy / (self.sxx.sqrt() * self.syy.sqrt())).clamp(-1.0, 1.0)),
        }
    }
}

/// Sequence reward R (sum of r_t) against the number of scored tokens, over responses: a least-squares line and
/// Pearson's correlation. A clearly positive (negative) slope means longer responses get more (less) reward: a
/// length bias of the policy.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct LengthFit {
    /// Responses.
    pub n: usize,
    /// Their mean number of scored tokens.
    pub mean_tokens: f64,
    /// Their mean sequence reward.
    pub mean_reward: f64,
    /// Least-squares slope of R on the number of tokens: reward per extra token (`None` if all lengths are equal).
    pub slope: Option<f64>,
    /// The line's intercept.
    pub intercept: Option<f64>,
    /// Pearson's correlation of R and length (`None` if either is constant).
    pub pearson: Option<f64>,
}

/// Length bias per side, and over all responses together.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct LengthBias {
    /// Chosen responses.
    pub chosen: LengthFit,
    /// Rejected responses.
    pub rejected: LengthFit,
    /// Unpaired responses.
    pub response: LengthFit,
    /// Every response.
    pub all: LengthFit,
}

impl LengthBias {
    /// The fit of `side`.
    pub fn side(&self, side: Side) -> &LengthFit {
        match side {
            Side::Chosen => &self.chosen,
            Side::Rejected => &self.rejected,
            Side::Response => &self.response,
        }
    }
}
