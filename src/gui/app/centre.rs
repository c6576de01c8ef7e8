//! The centre: the editor, the scores, the prompt as tokens and the heatmaps, scrolling as a whole.

use super::*;

/// Height of the heatmaps, whatever else the centre holds (it scrolls to reach them).
pub(super) const MIN_HEATMAP: f32 = 220.0;

impl App {
    /// How long the shown scores took ("scored in 0.12 s"), with what they reused of the scoring before on hover.
    fn timing_label(&self, ui: &mut Ui) {
        let Some(t) = self.record.timing else {
            return;
        };
        let total = t.reuse.computed + t.reuse.reused;
        let text = if t.reuse.reused > 0 {
            format!(
                "rescored in {:.2} s ({} of {} positions reused)",
                t.seconds, t.reuse.reused, total
            )
        } else {
            format!("scored in {:.2} s", t.seconds)
        };
        ui.weak(text).on_hover_text(
            "An edit reruns both models from its first changed token only; the prompt's and the unchanged \
             start's keys and values are kept from the scoring before (same numbers as scoring from scratch).",
        );
    }

    /// The colour scale over the shown tokens (computed once per shown record, metric and mode).
    pub fn scale(&self) -> Scale {
        let metric = self.settings.metric;
        let mode = self.settings.scale;
        let displayed = self.displayed();
        let key = displayed.as_ref().map_or(0, |s| Arc::as_ptr(s) as usize);
        if let Some((k, m, md, scale)) = *self.record.scale_cache.borrow()
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
        *self.record.scale_cache.borrow_mut() = Some((key, metric, mode, scale));
        scale
    }

    /// The chips of response `k` that show the word the table is filtered to (its tokens, or the word itself when
    /// the chips are words), in order.
    pub fn marked_chips(&self, k: usize) -> Vec<usize> {
        let Some(word) = self.dataset.as_ref().and_then(|d| d.holding.as_deref()) else {
            return Vec::new();
        };
        let Some(shown) = self.record.shown.as_ref() else {
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
    pub(super) fn centre(&self, ui: &mut Ui) -> Vec<Action> {
        let view = ui.available_rect_before_wrap();
        let mut rects = self.view.rects.get();
        rects.centre = view;
        self.view.rects.set(rects);
        egui::ScrollArea::vertical()
            .id_salt("centre-scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| self.centre_body(ui, view))
            .inner
    }

    /// The editor, the scores and the heatmaps; what the user asked for (edits, a pinned token).
    pub(super) fn centre_body(&self, ui: &mut Ui, view: egui::Rect) -> Vec<Action> {
        let mut actions = Vec::new();
        let top = ui.cursor().top();
        egui::CollapsingHeader::new("Prompt and responses (edit to rescore)")
            .default_open(true)
            .show(ui, |ui| actions.extend(self.editor_ui(ui)));
        self.view.editor_height.set(ui.cursor().top() - top);
        if let Some(e) = self.models.load.error()
            && self.models.loaded.is_none()
        {
            ui.colored_label(
                ui.visuals().error_fg_color,
                format!("Models not loaded: {e}"),
            );
        }
        if let Some(e) = self.record.scoring.error() {
            ui.colored_label(
                ui.visuals().error_fg_color,
                format!("Cannot score this text: {e}"),
            );
        }
        let Some(shown) = self.displayed() else {
            if self.record.editor.is_blank() && !self.models.load.running() {
                ui.weak(if self.record.editor.pair {
                    "Type a response in chosen and rejected (or open a data file) to see each token's reward."
                } else {
                    "Type a response (or open a data file) to see each token's reward."
                });
            }
            if self.models.load.running() || self.record.scoring.running() {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(if self.models.load.running() {
                        format!(
                            "loading models… {:.0}%",
                            self.models.load.progress().unwrap_or(0.0) * 100.0
                        )
                    } else {
                        "scoring…".to_string()
                    });
                });
            }
            return actions;
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
                self.timing_label(ui);
                if self.record.scoring.running() {
                    ui.spinner();
                }
            });
        } else {
            ui.horizontal(|ui| {
                self.timing_label(ui);
                if self.record.scoring.running() {
                    ui.spinner();
                }
            });
        }
        super::super::prompt_view::prompt_tokens(
            ui,
            shown.prompt_tokens(),
            self.record.editor.chat,
        );
        let scale = self.scale();
        let metric = self.settings.metric;
        let theme = self.settings.theme;
        let responses = shown.responses();
        let used = ui.cursor().top() - top;
        let height = (view.height() - used - 30.0).max(MIN_HEATMAP);
        self.view.heatmap_height.set(height);
        let mut clicked = None;
        let n = responses.len();
        let error_spans = self.record.editor.error_spans.clone();
        let diff = self.record.diff.clone();
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
                    pinned: self.record.pinned.filter(|(s, _)| *s == k).map(|(_, i)| i),
                    max_height: height,
                };
                if let Some(i) = chips.show(ui, &mut self.record.caches[k].borrow_mut()) {
                    clicked = Some((k, i));
                }
            }
        });
        if clicked.is_some() {
            actions.push(Action::Pin(clicked));
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
        actions
    }
}
