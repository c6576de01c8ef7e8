//! Rotary position embeddings, with the frequency scalings of transformers' `ROPE_INIT_FUNCTIONS`
//! (`default`, `linear`, `llama3`, `longrope`). cos/sin are computed for the positions asked, so no table bounds
//! the length.

use super::config::{DecoderConfig, RopeScaling};
use crate::error::Result;
use candle_core::{DType, Device, Tensor};

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
