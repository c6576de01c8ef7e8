//! Keyboard: shortcuts, and walking and copying a pinned token.

use super::*;

impl App {
    /// With a token pinned and no text field focused: Left/Right walk the response's tokens, Up/Down move between
    /// chosen and rejected, and Ctrl+C copies the token's numbers.
    pub(super) fn pinned_keys(&mut self, ctx: &egui::Context) {
        let Some((side, idx)) = self.pinned else {
            return;
        };
        if ctx.memory(|m| m.focused().is_some()) {
            return;
        }
        let lens: Vec<usize> = self
            .displayed()
            .map(|s| s.responses().iter().map(|(_, r)| r.tokens.len()).collect())
            .unwrap_or_default();
        let (left, right, up, down, copy) = ctx.input_mut(|i| {
            let copy = i.events.iter().any(|e| matches!(e, egui::Event::Copy));
            (
                i.consume_key(Modifiers::NONE, Key::ArrowLeft),
                i.consume_key(Modifiers::NONE, Key::ArrowRight),
                i.consume_key(Modifiers::NONE, Key::ArrowUp),
                i.consume_key(Modifiers::NONE, Key::ArrowDown),
                copy,
            )
        });
        let len = |s: usize| lens.get(s).copied().unwrap_or(0);
        let mut at = (side, idx);
        if left {
            at.1 = at.1.saturating_sub(1);
        }
        if right && at.1 + 1 < len(at.0) {
            at.1 += 1;
        }
        if (up || down) && lens.len() == 2 {
            let other = 1 - at.0;
            if len(other) > 0 {
                at = (other, at.1.min(len(other) - 1));
            }
        }
        self.pinned = Some(at);
        if copy && let Some(text) = self.pinned_summary() {
            ctx.copy_text(text);
        }
    }

    /// How many times the heatmaps' chips have been laid out (they are cached across frames).
    pub fn chip_layouts(&self) -> u64 {
        self.caches.iter().map(ChipCache::builds).sum()
    }

    /// The pinned token's numbers as one line of text (for the clipboard).
    pub fn pinned_summary(&self) -> Option<String> {
        let (side, idx) = self.pinned?;
        let shown = self.displayed()?;
        let responses = shown.responses();
        let (name, r) = responses.get(side)?;
        Some(super::super::detail::summary(name, idx, r.tokens.get(idx)?))
    }

    pub(super) fn handle_input(&mut self, ctx: &egui::Context) {
        let (side, plots) =
            ctx.input_mut(|i| (i.consume_shortcut(&SIDE), i.consume_shortcut(&PLOTS)));
        if side {
            self.settings.show_side = !self.settings.show_side;
        }
        if plots {
            self.settings.show_plots = !self.settings.show_plots;
        }
        if ctx.input_mut(|i| i.consume_shortcut(&SEARCH)) {
            self.apply(Action::OpenSearch);
        }
        let browsing = self.browser.is_some();
        let (open, export, theme, next, prev, esc) = ctx.input_mut(|i| {
            (
                i.consume_shortcut(&OPEN_DATA),
                i.consume_shortcut(&EXPORT),
                i.consume_shortcut(&THEME),
                i.consume_shortcut(&shortcut(Modifiers::COMMAND, Key::ArrowDown)),
                i.consume_shortcut(&shortcut(Modifiers::COMMAND, Key::ArrowUp)),
                // With a file chooser open, Esc is its own (it closes it).
                !browsing && i.consume_key(Modifiers::NONE, Key::Escape),
            )
        });
        if open {
            self.open_dialog(Purpose::Data);
        }
        if export {
            self.export.open = true;
        }
        if theme {
            self.toggle_theme(ctx);
        }
        if next {
            self.step_row(1);
        }
        if prev {
            self.step_row(-1);
        }
        if esc {
            self.pinned = None;
        }
        self.pinned_keys(ctx);
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        let pointer = ctx.input(|i| i.pointer.hover_pos());
        for path in dropped {
            if path.is_dir() || crate::source::has_gguf_extension(&path) {
                let onto_reference =
                    matches!((pointer, self.cards.reference), (Some(p), Some(r)) if r.contains(p));
                if onto_reference {
                    self.form.reference = path.display().to_string();
                } else {
                    self.form.policy = path.display().to_string();
                }
                self.load_models(None);
            } else {
                self.open_data(&path);
            }
        }
    }

    pub(super) fn toggle_theme(&mut self, ctx: &egui::Context) {
        self.settings.theme = match self.settings.theme {
            Theme::Light => Theme::Dark,
            Theme::Dark => Theme::Light,
        };
        self.apply_theme(ctx);
    }
}
