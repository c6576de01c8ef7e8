//! The dataset table: filter, search, sortable headers and the rows (only the visible ones laid out), each row's
//! numbers clickable like its blank part. Columns are as wide as their header (with room for the sort arrow) and
//! their numbers; the prompt takes the rest, and a panel too narrow for all of them hides the least useful
//! columns and says so. The table never grows wider than its panel.

use super::action::{Action, TextField};
use super::dataset::{Dataset, Row, SortKey};
use egui::{FontId, TextStyle, Ui};
use egui_extras::{Column, TableBuilder};

/// Row height.
const ROW: f32 = 20.0;
/// Header height.
const HEADER: f32 = 22.0;
/// Rows the table keeps in view at least; where the side panel has less room left, the panel scrolls to it.
const MIN_ROWS: f32 = 12.0;
/// The prompt column's least width before columns are hidden.
const PROMPT_MIN: f32 = 110.0;
/// Space between columns.
const GAP: f32 = 6.0;
/// Horizontal padding of the header buttons.
const HEADER_PAD: f32 = 2.0;

/// A column of numbers.
#[derive(Clone, Copy)]
struct NumberColumn {
    key: SortKey,
    name: &'static str,
    tip: &'static str,
    /// Hidden first when the panel is narrow (higher: hidden earlier); 0: never hidden.
    drop: u8,
}

/// The columns after the prompt, in order.
const NUMBERS: [NumberColumn; 6] = [
    NumberColumn {
        key: SortKey::Margin,
        name: "margin",
        tip: "R_chosen - R_rejected",
        drop: 0,
    },
    NumberColumn {
        key: SortKey::Chosen,
        name: "R_c",
        tip: "Sequence reward of chosen",
        drop: 3,
    },
    NumberColumn {
        key: SortKey::Rejected,
        name: "R_r",
        tip: "Sequence reward of rejected",
        drop: 4,
    },
    NumberColumn {
        key: SortKey::Correct,
        name: "✓",
        tip: "Whether the implicit reward prefers chosen",
        drop: 0,
    },
    NumberColumn {
        key: SortKey::LenChosen,
        name: "n_c",
        tip: "Tokens of chosen",
        drop: 5,
    },
    NumberColumn {
        key: SortKey::LenRejected,
        name: "n_r",
        tip: "Tokens of rejected",
        drop: 6,
    },
];

const INDEX: NumberColumn = NumberColumn {
    key: SortKey::Index,
    name: "#",
    tip: "Record number in the file, from 0",
    drop: 0,
};

/// A reward as the table shows it.
fn reward(v: f64) -> String {
    if v.is_nan() {
        "–".to_string()
    } else {
        format!("{v:+.3}")
    }
}

/// Widths the columns need for the rows of `d`: (index, the number columns in [`NUMBERS`] order).
fn widths(ui: &Ui, d: &Dataset) -> (f32, [f32; 6]) {
    let width = |text: &str, font: &FontId| {
        ui.painter()
            .layout_no_wrap(text.to_string(), font.clone(), egui::Color32::WHITE)
            .size()
            .x
    };
    let button = TextStyle::Button.resolve(ui.style());
    let body = TextStyle::Body.resolve(ui.style());
    let mono = TextStyle::Monospace.resolve(ui.style());
    // The header with an arrow, sorted or not, so that sorting changes no width.
    let header = |name: &str| width(&format!("{name} ⏷"), &button) + 2.0 * HEADER_PAD + 2.0;
    let (mut big, mut long) = (0.0f64, 0usize);
    for r in &d.rows {
        if let Some(Ok(s)) = &r.score {
            for v in [s.margin, s.reward_chosen, s.reward_rejected] {
                if v.is_finite() {
                    big = big.max(v.abs());
                }
            }
            long = long.max(s.len_chosen).max(s.len_rejected);
        }
    }
    let digits = |n: usize| n.max(1).to_string().len();
    let value = width(
        &reward(-(10f64.powi(digits(big as usize) as i32) - 0.5)),
        &mono,
    );
    let count = width(&"0".repeat(digits(long)), &mono);
    let index = header(INDEX.name).max(width(&"0".repeat(digits(d.rows.len())), &body));
    let mut out = [0.0; 6];
    for (w, c) in out.iter_mut().zip(NUMBERS) {
        let content = match c.key {
            SortKey::Margin | SortKey::Chosen | SortKey::Rejected => value,
            SortKey::Correct => width("✗", &body),
            _ => count,
        };
        *w = header(c.name).max(content);
    }
    (index, out)
}

impl Dataset {
    /// Shows filter, search and the table; returns what the user asked for (a row to show, an order, a filter).
    pub fn show(&self, ui: &mut Ui, selected: Option<usize>) -> Vec<Action> {
        let mut actions = Vec::new();
        ui.horizontal(|ui| {
            let mut search = self.search.clone();
            if ui
                .add(
                    egui::TextEdit::singleline(&mut search)
                        .hint_text("search text")
                        .desired_width(150.0),
                )
                .on_hover_text("Show only records whose prompt or responses contain this text")
                .changed()
            {
                actions.push(Action::SetText(TextField::TableSearch, search));
            }
            let mut only = self.only_disagreements;
            if ui
                .checkbox(&mut only, "reward disagrees")
                .on_hover_text("Show only pairs where R_chosen < R_rejected: the implicit reward prefers the rejected response")
                .changed()
            {
                actions.push(Action::SetOnlyDisagreements(only));
            }
        });
        let mut clicked = None;
        let sort = self.sort;
        let mut new_sort = None;
        let view: Vec<usize> = self.view().to_vec();

        // Which columns fit: the prompt keeps at least PROMPT_MIN, or the least useful numbers make way.
        let (index_w, number_w) = widths(ui, self);
        // What is in view: the side panel scrolls sideways when other content is wider than it, and the table
        // is for reading without scrolling sideways.
        let width = ui
            .available_width()
            .min(ui.clip_rect().right() - ui.cursor().left())
            .max(0.0);
        let available = width - ui.spacing().scroll.allocated_width();
        let mut shown: Vec<usize> = (0..NUMBERS.len()).collect();
        let prompt_w = loop {
            let numbers: f32 = shown.iter().map(|&i| number_w[i]).sum();
            let prompt = available - index_w - numbers - GAP * (shown.len() + 1) as f32;
            let droppable = shown
                .iter()
                .copied()
                .filter(|&i| NUMBERS[i].drop > 0)
                .max_by_key(|&i| NUMBERS[i].drop);
            match droppable {
                Some(i) if prompt < PROMPT_MIN => shown.retain(|&k| k != i),
                _ => break prompt.max(24.0),
            }
        };
        let hidden: Vec<&str> = (0..NUMBERS.len())
            .filter(|i| !shown.contains(i))
            .map(|i| NUMBERS[i].name)
            .collect();
        ui.horizontal_wrapped(|ui| {
            ui.label(format!(
                "{} of {} records shown",
                view.len(),
                self.rows.len()
            ));
            if !hidden.is_empty() {
                ui.weak(format!("{} hidden: widen the panel", hidden.join(", ")))
                    .on_hover_text(
                        "The panel is too narrow for every column; drag its edge to show them",
                    );
            }
        });
        if !self.shared.is_empty() {
            let cut = |s: &str| {
                let s = s.trim();
                if s.chars().count() > 24 {
                    format!("{}…", s.chars().take(24).collect::<String>())
                } else {
                    s.to_string()
                }
            };
            let parts: Vec<String> = [&self.shared.prefix, &self.shared.suffix]
                .into_iter()
                .filter(|s| !s.trim().is_empty())
                .map(|s| format!("“{}”", cut(s)))
                .collect();
            ui.weak(format!("prompts shown without {}", parts.join(" and ")))
                .on_hover_text(format!(
                    "Most prompts of the file start with {:?} and end with {:?}; the prompt column shows what \
                     differs between them (hover a prompt for all of it)",
                    self.shared.prefix, self.shared.suffix
                ));
        }

        // The rows fill the side panel down to its bottom, and keep MIN_ROWS in view where it has less room left
        // (the panel then scrolls to them).
        let below = ui.clip_rect().bottom()
            - ui.cursor().top()
            - HEADER
            - 3.0 * ui.spacing().item_spacing.y;
        let body = below.max(MIN_ROWS * ROW);

        let header = |ui: &mut Ui, c: NumberColumn, new_sort: &mut Option<(SortKey, bool)>| {
            let arrow = if sort.0 == c.key {
                if sort.1 { " ⏶" } else { " ⏷" }
            } else {
                ""
            };
            ui.spacing_mut().button_padding.x = HEADER_PAD;
            if ui
                .add(
                    egui::Button::new(format!("{}{arrow}", c.name))
                        .wrap_mode(egui::TextWrapMode::Extend),
                )
                .on_hover_text(format!("{}. Click to sort", c.tip))
                .clicked()
            {
                *new_sort = Some((c.key, if sort.0 == c.key { !sort.1 } else { true }));
            }
        };
        ui.scope(|ui| {
            // Cell text is not selectable, so a click anywhere on a row (its numbers included) selects the row.
            ui.style_mut().interaction.selectable_labels = false;
            ui.spacing_mut().item_spacing.x = GAP;
            ui.set_max_width(width);
            let mut builder = TableBuilder::new(ui)
                .id_salt("dataset-table")
                .striped(true)
                .sense(egui::Sense::click())
                .min_scrolled_height(body)
                .max_scroll_height(body)
                .column(Column::exact(index_w))
                .column(Column::exact(prompt_w).clip(true));
            for &i in &shown {
                builder = builder.column(Column::exact(number_w[i]));
            }
            builder
                .header(HEADER, |mut row| {
                    row.col(|ui| header(ui, INDEX, &mut new_sort));
                    row.col(|ui| {
                        ui.strong("prompt").on_hover_text(
                            "The prompt (for a conversation, its last user message), without the text most \
                             prompts of the file share",
                        );
                    });
                    for &i in &shown {
                        row.col(|ui| header(ui, NUMBERS[i], &mut new_sort));
                    }
                })
                .body(|body| {
                    body.rows(ROW, view.len(), |mut row| {
                        let i = view[row.index()];
                        row.set_selected(selected == Some(i));
                        let r = &self.rows[i];
                        row.col(|ui| {
                            ui.label(i.to_string());
                        });
                        row.col(|ui| {
                            let full = r.record.as_ref().map(|rec| rec.prompt()).unwrap_or_default();
                            let label = ui.add(egui::Label::new(r.prompt.as_str()).truncate());
                            if !full.is_empty() {
                                label.on_hover_text(full);
                            }
                        });
                        cells(&mut row, r, &shown);
                        if row.response().clicked() {
                            clicked = Some(i);
                        }
                    });
                });
        });
        if let Some((key, ascending)) = new_sort {
            actions.push(Action::SortTable(key, ascending));
        }
        if let Some(i) = clicked {
            actions.push(Action::SelectRow(i));
        }
        actions
    }
}

/// The number cells of row `r`, for the columns `shown` (indices into [`NUMBERS`]).
fn cells(row: &mut egui_extras::TableRow<'_, '_>, r: &Row, shown: &[usize]) {
    let s = match (&r.record, &r.score) {
        (Err(e), _) => {
            row.col(|ui| {
                ui.colored_label(ui.visuals().error_fg_color, "bad")
                    .on_hover_text(format!("line {}: {e}", r.line));
            });
            return;
        }
        (Ok(_), None) => {
            row.col(|ui| {
                ui.weak("…");
            });
            return;
        }
        (Ok(_), Some(Err(e))) => {
            row.col(|ui| {
                ui.colored_label(ui.visuals().error_fg_color, "error")
                    .on_hover_text(e.as_str());
            });
            return;
        }
        (Ok(_), Some(Ok(s))) => s,
    };
    for &i in shown {
        row.col(|ui| match NUMBERS[i].key {
            SortKey::Margin => {
                ui.monospace(reward(s.margin));
            }
            SortKey::Chosen => {
                ui.monospace(reward(s.reward_chosen));
            }
            SortKey::Rejected => {
                ui.monospace(reward(s.reward_rejected));
            }
            SortKey::Correct => {
                if !s.margin.is_nan() {
                    ui.label(if s.margin > 0.0 {
                        "✓"
                    } else if s.margin < 0.0 {
                        "✗"
                    } else {
                        "="
                    });
                }
            }
            SortKey::LenChosen => {
                ui.monospace(s.len_chosen.to_string());
            }
            SortKey::LenRejected => {
                if s.len_rejected > 0 {
                    ui.monospace(s.len_rejected.to_string());
                }
            }
            SortKey::Index => {}
        });
    }
}
