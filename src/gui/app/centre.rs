//! The centre: the editor, the scores, the prompt as tokens and the heatmaps, scrolling as a whole.

use super::*;

/// Height of the heatmaps, whatever else the centre holds (it scrolls to reach them).
pub(super) const MIN_HEATMAP: f32 = 220.0;

impl App {
    /// The colour scale over the shown tokens (computed once per shown record, metric and mode).
    pub fn scale(&self) -> Scale {
        let metric = self.settings.metric;
        let mode = self.settings.scale;
        let displayed = self.displayed();
        let key = displayed.as_ref().map_or(0, |s| Arc::as_ptr(s) as usize);
        if let Some((k, m, md, scale)) = *self.scale_cache.borrow()
            && k == key
            && m == metric
            && md == mode
        {
            return scale;
        }
        let scale = Scale::resolve(
            mode,
            displayed
                .iter()
                .flat_map(|s| s.responses())
                .flat_map(|(_, r)| r.tokens.iter().map(move |t| metric.value(t))),
        );
        *self.scale_cache.borrow_mut() = Some((key, metric, mode, scale));
        scale
    }

    /// The chips of response `k` that show the word the table is filtered to (its tokens, or the word itself when
    /// the chips are words), in order.
    pub fn marked_chips(&self, k: usize) -> Vec<usize> {
        let Some(word) = self.dataset.as_ref().and_then(|d| d.holding.as_deref()) else {
            return Vec::new();
        };
        let Some(shown) = self.shown.as_ref() else {
            return Vec::new();
        };
        let responses = shown.responses();
        let Some((_, r)) = responses.get(k) else {
            return Vec::new();
        };
        let words = crate::words::words(&r.text, &r.tokens);
        let by_words = self.settings.unit == crate::words::Unit::Word;
        words
            .iter()
            .enumerate()
            .filter(|(_, w)| w.kind == crate::words::UnitKind::Word && w.text == word)
            .flat_map(|(i, w)| if by_words { i..i + 1 } else { w.tokens.clone() })
            .collect()
    }

    /// The centre scrolls as a whole, so the heatmaps (at least [`MIN_HEATMAP`] tall) are always reachable, however
    /// long the prompt or small the window.
    pub(super) fn centre(&mut self, ui: &mut Ui) {
        let view = ui.available_rect_before_wrap();
        self.layout.centre = view;
        egui::ScrollArea::vertical()
            .id_salt("centre-scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| self.centre_body(ui, view));
    }

    pub(super) fn centre_body(&mut self, ui: &mut Ui, view: egui::Rect) {
        let top = ui.cursor().top();
        egui::CollapsingHeader::new("Prompt and responses (edit to rescore)")
            .default_open(true)
            .show(ui, |ui| self.editor_ui(ui));
        self.editor_height = ui.cursor().top() - top;
        if let Some(e) = self.load.error()
            && self.loaded.is_none()
        {
            ui.colored_label(
                ui.visuals().error_fg_color,
                format!("Models not loaded: {e}"),
            );
        }
        if let Some(e) = self.scoring.error() {
            ui.colored_label(
                ui.visuals().error_fg_color,
                format!("Cannot score this text: {e}"),
            );
        }
        let Some(shown) = self.displayed() else {
            if self.editor.is_blank() && !self.load.running() {
                ui.weak(if self.editor.pair {
                    "Type a response in chosen and rejected (or open a data file) to see each token's reward."
                } else {
                    "Type a response (or open a data file) to see each token's reward."
                });
            }
            if self.load.running() || self.scoring.running() {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(if self.load.running() {
                        format!(
                            "loading models… {:.0}%",
                            self.load.progress().unwrap_or(0.0) * 100.0
                        )
                    } else {
                        "scoring…".to_string()
                    });
                });
            }
            return;
        };
        if let RecordScore::Pair(p) = shown.as_ref() {
            ui.horizontal_wrapped(|ui| {
                ui.label(
                    egui::RichText::new(format!("R_chosen {:+.4}", p.chosen.reward))
                        .color(plots::CHOSEN)
                        .strong(),
                );
                ui.label(
                    egui::RichText::new(format!("R_rejected {:+.4}", p.rejected.reward))
                        .color(plots::REJECTED)
                        .strong(),
                );
                ui.strong(format!("margin {:+.4}", p.margin))
                    .on_hover_text("R_chosen - R_rejected");
                ui.strong(format!("sigmoid(margin) {:.4}", p.preference_prob))
                    .on_hover_text(
                        "The implicit reward model's probability that chosen is preferred",
                    );
                ui.label(if p.margin > 0.0 {
                    "✓ reward prefers chosen"
                } else if p.margin < 0.0 {
                    "✗ reward prefers rejected"
                } else {
                    "= reward ties (policy and reference agree)"
                });
                if self.scoring.running() {
                    ui.spinner();
                }
            });
        } else if self.scoring.running() {
            ui.spinner();
        }
        super::super::prompt_view::prompt_tokens(ui, shown.prompt_tokens(), self.editor.chat);
        let scale = self.scale();
        let metric = self.settings.metric;
        let theme = self.settings.theme;
        let responses = shown.responses();
        let used = ui.cursor().top() - top;
        let height = (view.height() - used - 30.0).max(MIN_HEATMAP);
        self.heatmap_height = height;
        let mut clicked = None;
        let n = responses.len();
        let error_spans = self.editor.error_spans.clone();
        let diff = self.diff.clone();
        ui.columns(n, |cols| {
            for (k, (name, r)) in responses.iter().enumerate() {
                let ui = &mut cols[k];
                // One line whatever the width (cut, whole on hover), so the chips below never move down.
                let title = format!(
                    "{name}: R = {:+.4} · {} tokens · log pi {:.2} · log pi_ref {:.2}",
                    r.reward, r.num_tokens, r.logp_policy, r.logp_reference
                );
                ui.add(
                    egui::Label::new(egui::RichText::new(&title).color(if *name == "rejected" {
                        plots::REJECTED
                    } else {
                        plots::CHOSEN
                    }))
                    .truncate(),
                )
                .on_hover_text(&title);
                let is_rejected = *name == "rejected";
                // Spans of the texts, moved onto the rendered completion of a conversation.
                let errors = if is_rejected {
                    r.locate_spans(&error_spans)
                } else {
                    Vec::new()
                };
                let diffs = match (n, is_rejected) {
                    (2, true) => r.locate_spans(&diff.b),
                    (2, false) => r.locate_spans(&diff.a),
                    _ => Vec::new(),
                };
                let marked = self.marked_chips(k);
                let chips = TokenChips {
                    marked: &marked,
                    unit: match self.settings.unit {
                        crate::words::Unit::Token => "tokens",
                        crate::words::Unit::Word => "words",
                    },
                    id_salt: name,
                    tokens: &r.tokens,
                    metric,
                    limit: scale.limit,
                    theme,
                    error_spans: &errors,
                    diff_spans: &diffs,
                    pinned: self.pinned.filter(|(s, _)| *s == k).map(|(_, i)| i),
                    max_height: height,
                };
                if let Some(i) = chips.show(ui, &mut self.caches[k]) {
                    clicked = Some((k, i));
                }
            }
        });
        if clicked.is_some() {
            self.pinned = clicked;
        }
        let templated = responses
            .iter()
            .any(|(_, r)| r.tokens.iter().any(|t| t.template));
        let dashed = if templated {
            " · dashed: special or chat-template token"
        } else {
            ""
        };
        if n == 2 {
            ui.weak(format!("outlined: labelled error · underlined: where the two texts differ{dashed} · hover a token for its numbers, click to pin"));
        } else if templated {
            ui.weak("dashed: special or chat-template token · hover a token for its numbers, click to pin");
        }
    }
}
