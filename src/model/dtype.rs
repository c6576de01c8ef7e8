//! The dtype a user asks computation to run in (`--dtype`, the app's setting), typed once and parsed in one place.

use crate::error::{Error, Result};
use candle_core::DType;
use std::fmt;
use std::str::FromStr;

/// The compute dtype: `f32` (the default, golden against transformers to 1e-4), `f16` or `bf16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// 32-bit float.
    #[default]
    F32,
    /// IEEE half precision.
    F16,
    /// bfloat16.
    Bf16,
}

impl Dtype {
    /// Every dtype, in the order menus list them.
    pub const ALL: [Dtype; 3] = [Dtype::F32, Dtype::F16, Dtype::Bf16];

    /// candle's dtype for it.
    pub fn candle(self) -> DType {
        match self {
            Dtype::F32 => DType::F32,
            Dtype::F16 => DType::F16,
            Dtype::Bf16 => DType::BF16,
        }
    }

    /// The dtype a model computing in it holds its activations in: f32 for bf16, whose matrix products alone take
    /// bf16 inputs ([`crate::model::Decoder::with_bf16_products`]); else its own.
    pub fn activations(self) -> DType {
        match self {
            Dtype::Bf16 => DType::F32,
            d => d.candle(),
        }
    }

    /// The dtype of a candle dtype (f32 for any other than f16 and bf16).
    pub fn from_candle(d: DType) -> Self {
        match d {
            DType::F16 => Dtype::F16,
            DType::BF16 => Dtype::Bf16,
            _ => Dtype::F32,
        }
    }

    /// Its name as typed (`f32`, `f16`, `bf16`).
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::F16 => "f16",
            Dtype::Bf16 => "bf16",
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dtype {
    type Err = Error;

    /// Parses a dtype as given on the command line (`f32`, `float32`, `f16`, `half`, `bf16`, `bfloat16`).
    fn from_str(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "f32" | "float32" => Ok(Dtype::F32),
            "f16" | "float16" | "half" => Ok(Dtype::F16),
            "bf16" | "bfloat16" => Ok(Dtype::Bf16),
            other => Err(Error::InvalidArgument(format!(
                "unknown dtype `{other}`; use f32, f16 or bf16"
            ))),
        }
    }
}

impl From<Dtype> for DType {
    fn from(d: Dtype) -> Self {
        d.candle()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_aliases_parse() {
        for d in Dtype::ALL {
            assert_eq!(d.name().parse::<Dtype>().unwrap(), d);
            assert_eq!(serde_json::to_string(&d).unwrap(), format!("\"{d}\""));
        }
        assert_eq!("BFloat16".parse::<Dtype>().unwrap(), Dtype::Bf16);
        assert_eq!("half".parse::<Dtype>().unwrap(), Dtype::F16);
        let e = "f8".parse::<Dtype>().unwrap_err().to_string();
        assert!(e.contains("f8") && e.contains("bf16"), "{e}");
    }
}
