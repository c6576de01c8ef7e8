//! Where the parts of the window were drawn in the last frame, for tests of the layout and for windows that
//! keep clear of the panels.

/// Where the parts of the window were drawn in the last frame (screen rects, logical pixels): for tests of the
/// layout.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayoutRects {
    /// The menu bar.
    pub menu: egui::Rect,
    /// The toolbar.
    pub toolbar: egui::Rect,
    /// The side panel (models, settings, data), when shown.
    pub side: Option<egui::Rect>,
    /// The pinned token's panel, when a token is pinned.
    pub detail: Option<egui::Rect>,
    /// The plots panel, when shown.
    pub plots: Option<egui::Rect>,
    /// The visible part of the centre (editor and heatmaps).
    pub centre: egui::Rect,
}

impl Default for LayoutRects {
    fn default() -> Self {
        Self {
            menu: egui::Rect::NOTHING,
            toolbar: egui::Rect::NOTHING,
            side: None,
            detail: None,
            plots: None,
            centre: egui::Rect::NOTHING,
        }
    }
}
