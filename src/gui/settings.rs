//! What the app remembers between runs (eframe persistence): look, scoring settings and recent files.

use crate::defaults;
use crate::heatmap::{Metric, ScaleMode, Theme};
use crate::model::Dtype;
use crate::tokenize::TokenizationMode;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Persisted settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Light or dark.
    pub theme: Theme,
    /// What colours the tokens.
    pub metric: Metric,
    /// Fixed or robust colour limit.
    pub scale: ScaleMode,
    /// DPO's beta.
    pub beta: f64,
    /// TRL or joint tokenisation.
    pub tokenization: TokenizationMode,
    /// Compute dtype.
    pub dtype: Dtype,
    /// Alternatives listed per token in the detail panel.
    pub top_k: usize,
    /// Recently opened policies (newest first).
    pub recent_policies: Vec<PathBuf>,
    /// Recently opened references.
    pub recent_references: Vec<PathBuf>,
    /// Recently opened data files.
    pub recent_data: Vec<PathBuf>,
    /// Whether the plots panel is open.
    pub show_plots: bool,
    /// Whether the side panel (models, settings, data) is open.
    pub show_side: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            theme: Theme::Light,
            metric: Metric::Reward,
            scale: ScaleMode::default(),
            beta: defaults::BETA,
            tokenization: defaults::TOKENIZATION,
            dtype: defaults::DTYPE,
            top_k: defaults::TOP_K,
            recent_policies: Vec::new(),
            recent_references: Vec::new(),
            recent_data: Vec::new(),
            show_plots: true,
            show_side: true,
        }
    }
}

/// Most entries kept in a recent list.
pub const RECENT_MAX: usize = 8;

/// Puts `path` first in `list`, without duplicates, keeping at most [`RECENT_MAX`].
pub fn push_recent(list: &mut Vec<PathBuf>, path: &Path) {
    list.retain(|p| p != path);
    list.insert(0, path.to_path_buf());
    list.truncate(RECENT_MAX);
}

/// Storage key of the settings.
pub const STORAGE_KEY: &str = "creditlens-settings";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_lists_are_unique_and_bounded() {
        let mut l = Vec::new();
        for i in 0..12 {
            push_recent(&mut l, Path::new(&format!("/m{i}")));
        }
        push_recent(&mut l, Path::new("/m5"));
        assert_eq!(l.len(), RECENT_MAX);
        assert_eq!(l[0], PathBuf::from("/m5"));
        assert_eq!(
            l.iter().filter(|p| p.as_path() == Path::new("/m5")).count(),
            1
        );
    }

    #[test]
    fn old_settings_files_still_load() {
        let s: Settings = serde_json::from_str(r#"{"beta": 0.2}"#).unwrap_or_default();
        assert_eq!(s.beta, 0.2);
        assert_eq!(s.metric, Metric::Reward);
    }
}
