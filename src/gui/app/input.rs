//! Keyboard and dropped files: shortcuts, walking and copying a pinned token, as actions.

use super::*;

impl App {
    /// With a token pinned and no text field focused: Left/Right walk the response's tokens, Up/Down move between
    /// chosen and rejected, and Ctrl+C copies the token's numbers.
    fn pinned_keys(&self, ctx: &egui::Context, actions: &mut Vec<Action>) {
        let Some((side, idx)) = self.record.pinned else {
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
        if at != (side, idx) {
            actions.push(Action::Pin(Some(at)));
        }
        if copy && let Some(text) = self.summary_of(at) {
            ctx.copy_text(text);
        }
    }

    /// How many times the heatmaps' chips have been laid out (they are cached across frames).
    pub fn chip_layouts(&self) -> u64 {
        self.record.caches.iter().map(|c| c.borrow().builds()).sum()
    }

    /// The pinned token's numbers as one line of text (for the clipboard).
    pub fn pinned_summary(&self) -> Option<String> {
        self.summary_of(self.record.pinned?)
    }

    /// The numbers of chip `idx` of response `side` as one line of text.
    fn summary_of(&self, (side, idx): (usize, usize)) -> Option<String> {
        let shown = self.displayed()?;
        let responses = shown.responses();
        let (name, r) = responses.get(side)?;
        Some(super::super::detail::summary(name, idx, r.tokens.get(idx)?))
    }

    /// What the keyboard and dropped files ask for this frame.
    pub(super) fn input_actions(&self, ctx: &egui::Context) -> Vec<Action> {
        let mut actions = Vec::new();
        let browsing = self.files.browser.is_some();
        let (side, plots, search, open, export, theme, next, prev, esc) = ctx.input_mut(|i| {
            (
                i.consume_shortcut(&SIDE),
                i.consume_shortcut(&PLOTS),
                i.consume_shortcut(&SEARCH),
                i.consume_shortcut(&OPEN_DATA),
                i.consume_shortcut(&EXPORT),
                i.consume_shortcut(&THEME),
                i.consume_shortcut(&shortcut(Modifiers::COMMAND, Key::ArrowDown)),
                i.consume_shortcut(&shortcut(Modifiers::COMMAND, Key::ArrowUp)),
                // With a file chooser open, Esc is its own (it closes it).
                !browsing && i.consume_key(Modifiers::NONE, Key::Escape),
            )
        });
        for (asked, action) in [
            (side, Action::ToggleSide),
            (plots, Action::TogglePlots),
            (search, Action::OpenSearch),
            (open, Action::Browse(Purpose::Data)),
            (export, Action::OpenExport(true)),
            (theme, Action::ToggleTheme),
            (next, Action::StepRow(1)),
            (prev, Action::StepRow(-1)),
            (esc, Action::Pin(None)),
        ] {
            if asked {
                actions.push(action);
            }
        }
        if !esc {
            self.pinned_keys(ctx, &mut actions);
        }
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
                let onto_reference = matches!((pointer, self.models.cards.reference), (Some(p), Some(r)) if r.contains(p));
                actions.push(if onto_reference {
                    Action::OpenModels {
                        policy: PathBuf::from(self.models.form.policy.trim()),
                        reference: Some(path),
                    }
                } else {
                    Action::OpenModels {
                        policy: path,
                        reference: None,
                    }
                });
            } else {
                actions.push(Action::OpenData(path));
            }
        }
        actions
    }

    pub(super) fn toggle_theme(&mut self) {
        self.settings.theme = match self.settings.theme {
            Theme::Light => Theme::Dark,
            Theme::Dark => Theme::Light,
        };
        let ctx = self.ctx.clone();
        self.apply_theme(&ctx);
    }
}
