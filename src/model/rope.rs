//! Rotary position embeddings: reading them from config.json (`rope_theta` + `rope_scaling` of transformers 4,
//! `rope_parameters` of transformers 5, the share of each head rotated, Phi-3's LongRoPE), and the inverse
//! frequencies with the scalings of transformers' `ROPE_INIT_FUNCTIONS` (`default`, `linear`, `llama3`,
//! `longrope`). cos/sin are computed for the positions asked, so no table bounds the length.

use super::config::{DecoderConfig, RopeScaling};
use super::config_json::Common;
use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor};
use serde_json::Value;
use std::path::Path;

/// RoPE base and scaling of a family that reads them as transformers' common fields; `default_theta` applies when
/// config.json gives no base.
pub(super) fn read(c: &Common, default_theta: f64, path: &Path) -> Result<(f32, RopeScaling)> {
    parse_rope(
        c.rope_theta,
        c.rope_scaling.as_ref(),
        c.rope_parameters.as_ref(),
        default_theta,
        path,
    )
}

/// The share of each head that RoPE rotates: `partial_rotary_factor` in `rope_parameters` (transformers 5), else
/// `top` (the family's top-level field), else `default`.
pub(super) fn rotary_factor(c: &Common, top: Option<f64>, default: f64) -> f64 {
    c.rope_parameters
        .as_ref()
        .and_then(|p| p.get("partial_rotary_factor"))
        .and_then(|v| v.as_f64())
        .or(top)
        .unwrap_or(default)
}

/// Features of each head that RoPE rotates, as transformers' `int(head_dim * factor)`: positive and even, with
/// `factor` in (0, 1]; `field` names the factor in the error.
pub(super) fn rotary_dim(field: &str, factor: f64, head_dim: usize, path: &Path) -> Result<usize> {
    let dim = (head_dim as f64 * factor) as usize;
    if factor == 1.0 && !head_dim.is_multiple_of(2) {
        return Err(Error::config(
            path,
            format!("head_dim {head_dim} is odd; rotary embeddings need an even head_dim"),
        ));
    }
    if !(factor > 0.0 && factor <= 1.0) || dim == 0 || !dim.is_multiple_of(2) {
        return Err(Error::config(
            path,
            format!(
                "{field} {factor} of head_dim {head_dim} gives {dim} rotated features; it must be in (0, 1] and give an even number"
            ),
        ));
    }
    Ok(dim)
}

/// RoPE base and scaling, from `rope_theta` + `rope_scaling` (transformers 4) or `rope_parameters` (transformers 5).
/// `default_theta` applies when neither gives one.
pub(super) fn parse_rope(
    rope_theta: Option<f64>,
    rope_scaling: Option<&Value>,
    rope_parameters: Option<&Value>,
    default_theta: f64,
    path: &Path,
) -> Result<(f32, RopeScaling)> {
    let params = rope_parameters.or(rope_scaling);
    let theta_in_params = params
        .and_then(|p| p.get("rope_theta"))
        .and_then(|v| v.as_f64());
    let theta = rope_theta.or(theta_in_params).unwrap_or(default_theta) as f32;
    let Some(params) = params.filter(|p| !p.is_null()) else {
        return Ok((theta, RopeScaling::Default));
    };
    let field = if rope_parameters.is_some() {
        "rope_parameters"
    } else {
        "rope_scaling"
    };
    let kind = params
        .get("rope_type")
        .or_else(|| params.get("type"))
        .and_then(|v| v.as_str())
        .unwrap_or("default");
    let number = |key: &str| -> Result<f32> {
        params
            .get(key)
            .and_then(|v| v.as_f64())
            .map(|v| v as f32)
            .ok_or_else(|| {
                Error::config(
                    path,
                    format!("`{field}` of type `{kind}` needs a numeric `{key}`"),
                )
            })
    };
    let scaling = match kind {
        "default" => RopeScaling::Default,
        "linear" => RopeScaling::Linear {
            factor: number("factor")?,
        },
        "llama3" => RopeScaling::Llama3 {
            factor: number("factor")?,
            low_freq_factor: number("low_freq_factor")?,
            high_freq_factor: number("high_freq_factor")?,
            original_max_position_embeddings: number("original_max_position_embeddings")? as usize,
        },
        other => {
            return Err(Error::config(
                path,
                format!(
                    "`{field}` type `{other}` is not supported; supported: default, linear, llama3"
                ),
            ));
        }
    };
    Ok((theta, scaling))
}

/// Phi-3's LongRoPE (`rope_type` `longrope`, or the older `su` and `yarn` that transformers reads as it):
/// `short_factor` and `long_factor` (one per rotated frequency), and `attention_factor`, by default
/// sqrt(1 + ln(factor) / ln(original)) where `factor` (by default max_position_embeddings / original) exceeds 1;
/// the original length is in the parameters or `original_max_position_embeddings` (the top-level field). None for
/// any other RoPE, which [`read`] reads.
pub(super) fn longrope(
    c: &Common,
    original_max_position_embeddings: Option<usize>,
    rotary_dim: usize,
    path: &Path,
) -> Result<Option<(f32, RopeScaling)>> {
    let field = if c.rope_parameters.is_some() {
        "rope_parameters"
    } else {
        "rope_scaling"
    };
    let Some(p) = c
        .rope_parameters
        .as_ref()
        .or(c.rope_scaling.as_ref())
        .filter(|p| p.is_object())
    else {
        return Ok(None);
    };
    let kind = p
        .get("rope_type")
        .or_else(|| p.get("type"))
        .and_then(|v| v.as_str())
        .unwrap_or("default");
    if !matches!(kind, "longrope" | "su" | "yarn") {
        return Ok(None);
    }
    let factors = |key: &str| -> Result<Vec<f32>> {
        let list = p.get(key).and_then(|v| v.as_array()).ok_or_else(|| {
            Error::config(
                path,
                format!("`{field}` of type `{kind}` needs a list `{key}`"),
            )
        })?;
        let values: Option<Vec<f32>> = list.iter().map(|v| v.as_f64().map(|x| x as f32)).collect();
        match values {
            Some(v) if v.len() == rotary_dim / 2 => Ok(v),
            _ => Err(Error::config(
                path,
                format!(
                    "`{field}.{key}` must hold {} numbers (one per rotated frequency pair)",
                    rotary_dim / 2
                ),
            )),
        }
    };
    let original = p
        .get("original_max_position_embeddings")
        .and_then(|v| v.as_u64())
        .map(|v| v as usize)
        .or(original_max_position_embeddings)
        .filter(|&v| v > 1)
        .ok_or_else(|| {
            Error::config(
                path,
                format!("`{field}` of type `{kind}` needs original_max_position_embeddings"),
            )
        })?;
    let factor = p
        .get("factor")
        .and_then(|v| v.as_f64())
        .unwrap_or_else(|| c.max_position_embeddings.unwrap_or(original) as f64 / original as f64);
    let attention_factor = match p.get("attention_factor").and_then(|v| v.as_f64()) {
        Some(a) => a,
        None if factor <= 1.0 => 1.0,
        None => (1.0 + factor.ln() / (original as f64).ln()).sqrt(),
    };
    let theta = c
        .rope_theta
        .or_else(|| p.get("rope_theta").and_then(|v| v.as_f64()))
        .unwrap_or(10_000.0);
    Ok(Some((
        theta as f32,
        RopeScaling::LongRope {
            short_factor: factors("short_factor")?,
            long_factor: factors("long_factor")?,
            original_max_position_embeddings: original,
            attention_factor: attention_factor as f32,
        },
    )))
}

/// Inverse frequencies of one model, ready to rotate queries and keys at any position.
#[derive(Debug, Clone)]
pub struct Rope {
    inv_freq: Vec<f32>,
    /// LongRoPE: the inverse frequencies for sequences longer than the given length.
    long: Option<(Vec<f32>, usize)>,
    /// Multiplier of cos and sin (LongRoPE's attention factor; 1 otherwise).
    scale: f32,
}

impl Rope {
    /// The rotary tables of `cfg`: the main one, and for models whose sliding-window layers use another base
    /// (Gemma 3's `rope_local_base_freq`) that one second, with plain scaling. None when nothing is rotated.
    pub fn tables(cfg: &DecoderConfig) -> Vec<Self> {
        if cfg.rotary_dim == 0 {
            return Vec::new();
        }
        let mut tables = vec![Self::new(cfg)];
        if let Some(theta) = cfg.rope_local_theta {
            tables.push(Self::with(cfg.rotary_dim, theta, &RopeScaling::Default));
        }
        tables
    }

    /// The inverse frequencies for `cfg` (over its `rotary_dim` features), computed in f32 like transformers.
    pub fn new(cfg: &DecoderConfig) -> Self {
        Self::with(cfg.rotary_dim, cfg.rope_theta, &cfg.rope_scaling)
    }

    /// The inverse frequencies over `dim` features for base `theta` and `scaling`.
    pub fn with(dim: usize, theta: f32, scaling: &RopeScaling) -> Self {
        let base: Vec<f32> = (0..dim)
            .step_by(2)
            .map(|i| 1.0 / theta.powf(i as f32 / dim as f32))
            .collect();
        let plain = |inv_freq| Self {
            inv_freq,
            long: None,
            scale: 1.0,
        };
        match scaling {
            RopeScaling::Default => plain(base),
            RopeScaling::Linear { factor } => plain(base.into_iter().map(|f| f / factor).collect()),
            &RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            } => {
                let old = original_max_position_embeddings as f32;
                let low_wavelen = old / low_freq_factor;
                let high_wavelen = old / high_freq_factor;
                plain(
                    base.into_iter()
                        .map(|freq| {
                            let wavelen = 2.0 * std::f32::consts::PI / freq;
                            if wavelen < high_wavelen {
                                freq
                            } else if wavelen > low_wavelen {
                                freq / factor
                            } else {
                                let smooth = (old / wavelen - low_freq_factor)
                                    / (high_freq_factor - low_freq_factor);
                                (1.0 - smooth) * freq / factor + smooth * freq
                            }
                        })
                        .collect(),
                )
            }
            RopeScaling::LongRope {
                short_factor,
                long_factor,
                original_max_position_embeddings,
                attention_factor,
            } => {
                // transformers: 1 / (ext_factor * base ** (2i / dim)), with the power in f32.
                let divided = |factors: &[f32]| -> Vec<f32> {
                    (0..dim)
                        .step_by(2)
                        .zip(factors)
                        .map(|(i, e)| 1.0 / (e * theta.powf(i as f32 / dim as f32)))
                        .collect()
                };
                Self {
                    inv_freq: divided(short_factor),
                    long: Some((divided(long_factor), *original_max_position_embeddings)),
                    scale: *attention_factor,
                }
            }
        }
    }

    /// Whether a sequence of `len` tokens uses LongRoPE's long factors.
    pub fn is_long(&self, len: usize) -> bool {
        self.long
            .as_ref()
            .is_some_and(|(_, original)| len > *original)
    }

    /// cos and sin, each `(len, rotary_dim / 2)`, for positions `start..start + len` of a sequence of
    /// `sequence_len` tokens (which picks LongRoPE's factors).
    pub fn cos_sin(
        &self,
        start: usize,
        len: usize,
        sequence_len: usize,
        dtype: DType,
        device: &Device,
    ) -> Result<(Tensor, Tensor)> {
        let inv_freq = match &self.long {
            Some((long, original)) if sequence_len > *original => long,
            _ => &self.inv_freq,
        };
        let half = inv_freq.len();
        let mut cos = Vec::with_capacity(len * half);
        let mut sin = Vec::with_capacity(len * half);
        for p in start..start + len {
            for &f in inv_freq {
                let angle = p as f32 * f;
                cos.push(angle.cos() * self.scale);
                sin.push(angle.sin() * self.scale);
            }
        }
        let cos = Tensor::from_vec(cos, (len, half), device)?.to_dtype(dtype)?;
        let sin = Tensor::from_vec(sin, (len, half), device)?.to_dtype(dtype)?;
        Ok((cos, sin))
    }
}
