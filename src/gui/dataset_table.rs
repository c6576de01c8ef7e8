//! The dataset table: filter, search, sortable headers and the rows (only the visible ones laid out), each row's
//! numbers clickable like its blank part.

use super::dataset::{Dataset, SortKey};
use egui::Ui;
use egui_extras::{Column, TableBuilder};

/// Width of the table's number columns (#, margin, R_c, R_r, ✓, n_c, n_r).
const NUMBERS_WIDTH: f32 = INDEX + 3.0 * VALUE + CHECK + 2.0 * LENGTH;
const INDEX: f32 = 40.0;
const VALUE: f32 = 56.0;
const CHECK: f32 = 22.0;
const LENGTH: f32 = 40.0;

impl Dataset {
    /// Shows filter, search and the table; returns the row clicked, if any.
    pub fn show(&mut self, ui: &mut Ui, selected: Option<usize>) -> Option<usize> {
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut self.search)
                    .hint_text("search text")
                    .desired_width(150.0),
            )
            .on_hover_text("Show only records whose prompt or responses contain this text");
            ui.checkbox(&mut self.only_disagreements, "reward disagrees")
                .on_hover_text("Show only pairs where R_chosen < R_rejected: the implicit reward prefers the rejected response");
        });
        let mut clicked = None;
        let sort = self.sort;
        let mut new_sort = None;
        let view: Vec<usize> = self.view().to_vec();
        ui.label(format!(
            "{} of {} records shown",
            view.len(),
            self.rows.len()
        ));
        let header = |ui: &mut Ui,
                      key: SortKey,
                      name: &str,
                      tip: &str,
                      new_sort: &mut Option<(SortKey, bool)>| {
            let arrow = if sort.0 == key {
                if sort.1 { " ⏶" } else { " ⏷" }
            } else {
                ""
            };
            if ui
                .button(format!("{name}{arrow}"))
                .on_hover_text(format!("{tip}. Click to sort"))
                .clicked()
            {
                *new_sort = Some((key, if sort.0 == key { !sort.1 } else { true }));
            }
        };
        // Cell text is not selectable, so a click anywhere on a row (its numbers included) selects the row.
        ui.style_mut().interaction.selectable_labels = false;
        // The prompt column takes what the numbers leave of the panel; a panel too narrow even for them scrolls
        // sideways instead of growing.
        let spacing = ui.spacing().item_spacing.x * 8.0;
        let prompt_width = (ui.available_width() - NUMBERS_WIDTH - spacing).clamp(60.0, 420.0);
        egui::ScrollArea::horizontal()
            .id_salt("dataset-table-sideways")
            .show(ui, |ui| {
                TableBuilder::new(ui)
                    .id_salt("dataset-table")
                    .striped(true)
                    .sense(egui::Sense::click())
                    .column(Column::exact(INDEX))
                    .column(Column::exact(prompt_width).clip(true))
                    .columns(Column::exact(VALUE), 3)
                    .column(Column::exact(CHECK))
                    .columns(Column::exact(LENGTH), 2)
                    .min_scrolled_height(200.0)
                    .header(22.0, |mut row| {
                        let cols = [
                            (SortKey::Index, "#", "Record number in the file, from 0"),
                            (SortKey::Margin, "margin", "R_chosen - R_rejected"),
                            (SortKey::Chosen, "R_c", "Sequence reward of chosen"),
                            (SortKey::Rejected, "R_r", "Sequence reward of rejected"),
                            (
                                SortKey::Correct,
                                "✓",
                                "Whether the implicit reward prefers chosen",
                            ),
                            (SortKey::LenChosen, "n_c", "Tokens of chosen"),
                            (SortKey::LenRejected, "n_r", "Tokens of rejected"),
                        ];
                        for (k, (key, name, tip)) in cols.into_iter().enumerate() {
                            row.col(|ui| header(ui, key, name, tip, &mut new_sort));
                            if k == 0 {
                                row.col(|ui| {
                                    ui.strong("prompt").on_hover_text(
                                        "The prompt (for a conversation, its last user message)",
                                    );
                                });
                            }
                        }
                    })
                    .body(|body| {
                        body.rows(20.0, view.len(), |mut row| {
                            let i = view[row.index()];
                            row.set_selected(selected == Some(i));
                            let r = &self.rows[i];
                            let num = |v: f64| {
                                if v.is_nan() {
                                    "–".to_string()
                                } else {
                                    format!("{v:+.3}")
                                }
                            };
                            row.col(|ui| {
                                ui.label(i.to_string());
                            });
                            row.col(|ui| {
                                ui.add(egui::Label::new(r.prompt.as_str()).truncate());
                            });
                            match (&r.record, &r.score) {
                                (Err(e), _) => {
                                    row.col(|ui| {
                                        ui.colored_label(ui.visuals().error_fg_color, "bad")
                                            .on_hover_text(format!("line {}: {e}", r.line));
                                    });
                                }
                                (Ok(_), None) => {
                                    row.col(|ui| {
                                        ui.weak("…");
                                    });
                                }
                                (Ok(_), Some(Err(e))) => {
                                    row.col(|ui| {
                                        ui.colored_label(ui.visuals().error_fg_color, "error")
                                            .on_hover_text(e.as_str());
                                    });
                                }
                                (Ok(_), Some(Ok(s))) => {
                                    row.col(|ui| {
                                        ui.monospace(num(s.margin));
                                    });
                                    row.col(|ui| {
                                        ui.monospace(num(s.reward_chosen));
                                    });
                                    row.col(|ui| {
                                        ui.monospace(num(s.reward_rejected));
                                    });
                                    row.col(|ui| {
                                        if !s.margin.is_nan() {
                                            ui.label(if s.margin > 0.0 {
                                                "✓"
                                            } else if s.margin < 0.0 {
                                                "✗"
                                            } else {
                                                "="
                                            });
                                        }
                                    });
                                    row.col(|ui| {
                                        ui.monospace(s.len_chosen.to_string());
                                    });
                                    row.col(|ui| {
                                        if s.len_rejected > 0 {
                                            ui.monospace(s.len_rejected.to_string());
                                        }
                                    });
                                }
                            }
                            if row.response().clicked() {
                                clicked = Some(i);
                            }
                        });
                    });
            });
        if let Some(s) = new_sort {
            self.sort = s;
        }
        clicked
    }
}
