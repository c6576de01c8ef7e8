//! The colour scale: which value maps to the ends of the colormap.

use serde::{Deserialize, Serialize};

/// How the colour limit is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum ScaleMode {
    /// A fixed limit: values at +-limit reach the ends of the colormap.
    Fixed(f64),
    /// A robust limit: this percentile (0-100) of |value| over the shown tokens, so one outlier does not wash out
    /// the rest.
    Robust(f64),
}

impl ScaleMode {
    /// Parses `robust`, `robust:P` (a percentile in (0, 100]) or a positive number (a fixed limit), as the command
    /// line's `--scale` and the Python package take it.
    pub fn parse(s: &str) -> Result<ScaleMode, String> {
        if s == "robust" {
            return Ok(ScaleMode::default());
        }
        if let Some(p) = s.strip_prefix("robust:") {
            return match p.parse::<f64>() {
                Ok(p) if (0.0..=100.0).contains(&p) && p > 0.0 => Ok(ScaleMode::Robust(p)),
                _ => Err(format!("`{p}` is not a percentile in (0, 100]")),
            };
        }
        match s.parse::<f64>() {
            Ok(v) if v > 0.0 && v.is_finite() => Ok(ScaleMode::Fixed(v)),
            _ => Err(format!(
                "`{s}` is not a scale; use `robust`, `robust:95` or a positive number such as 0.5"
            )),
        }
    }
}

impl Default for ScaleMode {
    fn default() -> Self {
        ScaleMode::Robust(98.0)
    }
}

/// A resolved colour scale: values in [-limit, limit] span the colormap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    /// The value mapped to the ends of the colormap (always > 0).
    pub limit: f64,
}

impl Scale {
    /// Resolves `mode` over `values` (NaNs ignored); never returns a zero limit.
    pub fn resolve(mode: ScaleMode, values: impl IntoIterator<Item = f64>) -> Scale {
        let limit = match mode {
            ScaleMode::Fixed(v) => v.abs(),
            ScaleMode::Robust(p) => {
                let mut abs: Vec<f64> = values
                    .into_iter()
                    .filter(|v| v.is_finite())
                    .map(f64::abs)
                    .collect();
                if abs.is_empty() {
                    1.0
                } else {
                    abs.sort_by(f64::total_cmp);
                    let rank = (p.clamp(0.0, 100.0) / 100.0) * (abs.len() - 1) as f64;
                    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
                    abs[lo] + (abs[hi] - abs[lo]) * (rank - lo as f64)
                }
            }
        };
        Scale {
            limit: if limit.is_finite() && limit > 1e-9 {
                limit
            } else {
                1e-9_f64.max(if limit.is_finite() { limit } else { 1.0 })
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robust_ignores_one_outlier() {
        let mut v: Vec<f64> = (0..100).map(|i| f64::from(i) / 100.0).collect();
        v.push(-50.0);
        let s = Scale::resolve(ScaleMode::Robust(98.0), v);
        assert!(s.limit < 1.0, "{}", s.limit);
        let all = Scale::resolve(ScaleMode::Robust(100.0), [0.5, -50.0]);
        assert_eq!(all.limit, 50.0);
    }

    #[test]
    fn fixed_and_degenerate() {
        assert_eq!(Scale::resolve(ScaleMode::Fixed(-2.0), []).limit, 2.0);
        assert_eq!(Scale::resolve(ScaleMode::Robust(98.0), []).limit, 1.0);
        assert!(Scale::resolve(ScaleMode::Robust(98.0), [0.0, 0.0]).limit > 0.0);
        assert!(Scale::resolve(ScaleMode::Robust(98.0), [f64::NAN]).limit > 0.0);
    }
}
