//! Defaults shared by the command line, the app and the library, kept in one place so they cannot drift apart.

use crate::model::Dtype;
use crate::tokenize::TokenizationMode;

/// DPO's beta (TRL's default).
pub const BETA: f64 = 0.1;
/// How scored text is tokenised: what TRL's DPOTrainer scores.
pub const TOKENIZATION: TokenizationMode = TokenizationMode::Trl;
/// Alternatives reported per model and token.
pub const TOP_K: usize = 5;
/// The compute dtype.
pub const DTYPE: Dtype = Dtype::F32;
/// Pairs whose mean rewards the drift over checkpoints averages.
pub const DRIFT_PAIRS: usize = 100;
