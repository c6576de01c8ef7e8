//! What the app remembers between runs (eframe persistence): look, scoring settings and recent files.

use crate::defaults;
use crate::heatmap::{Metric, ScaleMode, Theme};
use crate::model::Dtype;
use crate::tokenize::TokenizationMode;
use crate::words::Unit;
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
    /// Chips per token, or per word (the sum over its tokens).
    pub unit: Unit,
    /// Fixed or robust colour limit.
    pub scale: ScaleMode,
    /// DPO's beta in force. Not saved as such: beta belongs to the models opened, so it is remembered per policy
    /// ([`Settings::betas`]) and a policy without one opens at TRL's default.
    #[serde(skip)]
    pub beta: f64,
    /// The beta last used with each policy (newest first, at most [`RECENT_BETAS`]).
    pub betas: Vec<(PathBuf, f64)>,
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
    /// Recent export targets.
    pub recent_exports: Vec<PathBuf>,
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
            unit: Unit::Token,
            scale: ScaleMode::default(),
            beta: defaults::BETA,
            betas: Vec::new(),
            tokenization: defaults::TOKENIZATION,
            dtype: defaults::DTYPE,
            top_k: defaults::TOP_K,
            recent_policies: Vec::new(),
            recent_references: Vec::new(),
            recent_data: Vec::new(),
            recent_exports: Vec::new(),
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

/// A "Recent" menu button listing `recent` (newest first, "nothing yet" when empty), with `hover` on the button;
/// the path clicked this frame, if any.
pub fn recent_menu(ui: &mut egui::Ui, recent: &[PathBuf], hover: &str) -> Option<PathBuf> {
    let mut chosen = None;
    ui.menu_button("Recent", |ui| {
        if recent.is_empty() {
            ui.weak("nothing yet");
        }
        for p in recent {
            if ui.button(p.display().to_string()).clicked() {
                chosen = Some(p.clone());
                ui.close();
            }
        }
    })
    .response
    .on_hover_text(hover);
    chosen
}

/// Most policies whose beta is remembered.
pub const RECENT_BETAS: usize = 64;

/// The key a policy's beta is remembered under: its canonical path (as given when that fails, e.g. a Hub id).
fn beta_key(policy: &Path) -> PathBuf {
    policy
        .canonicalize()
        .unwrap_or_else(|_| policy.to_path_buf())
}

impl Settings {
    /// The beta last used with `policy`, if any.
    pub fn beta_for(&self, policy: &Path) -> Option<f64> {
        let key = beta_key(policy);
        self.betas.iter().find(|(p, _)| *p == key).map(|(_, b)| *b)
    }

    /// Remembers `beta` for `policy`.
    pub fn remember_beta(&mut self, policy: &Path, beta: f64) {
        let key = beta_key(policy);
        self.betas.retain(|(p, _)| *p != key);
        self.betas.insert(0, (key, beta));
        self.betas.truncate(RECENT_BETAS);
    }
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
    fn old_settings_files_still_load_without_their_global_beta() {
        // A beta saved for every model by an older creditlens is not applied to whatever opens next.
        let s: Settings =
            serde_json::from_str(r#"{"beta": 0.2, "metric": "Kl"}"#).unwrap_or_default();
        assert_eq!(s.beta, defaults::BETA);
        assert_eq!(s.metric, Metric::Kl);
    }

    #[test]
    fn beta_is_remembered_per_policy() {
        let mut s = Settings::default();
        s.remember_beta(Path::new("/runs/a"), 0.5);
        s.remember_beta(Path::new("/runs/b"), 0.05);
        s.remember_beta(Path::new("/runs/a"), 0.3);
        assert_eq!(s.beta_for(Path::new("/runs/a")), Some(0.3));
        assert_eq!(s.beta_for(Path::new("/runs/b")), Some(0.05));
        assert_eq!(s.beta_for(Path::new("/runs/c")), None);
        assert_eq!(s.betas.len(), 2);
        let back: Settings =
            serde_json::from_str(&serde_json::to_string(&s).expect("json")).expect("read");
        assert_eq!(back.beta_for(Path::new("/runs/a")), Some(0.3));
    }
}
