//! The credit across the data file (a tab of the plots panel): the words that carry the most reward over every
//! record scored, on the chosen or the rejected side, where in the responses the credit sits, and whether the
//! sequence reward follows length. Clicking a word keeps the records holding it in the table and outlines it in
//! the heatmap: a wording cue the policy learned shows as one word at the top of the rejected side.

use super::action::Action;
pub use super::forms::{CreditForm, CreditSort};
use super::plots::{CHOSEN, REJECTED};
use crate::features::{Features, LengthFit, PositionBin, Side, UnitStats};
use egui::{Color32, Ui};
use egui_extras::{Column, TableBuilder};

/// What the tab shows: the choices, and the last save's outcome.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CreditState {
    /// The choices.
    pub form: CreditForm,
    /// A path waiting for "overwrite?".
    pub confirm: Option<std::path::PathBuf>,
    /// The last save's outcome.
    pub status: Option<Result<String, String>>,
}

impl CreditState {
    /// Makes these choices (a pending "overwrite?" or a result about another path is forgotten).
    pub fn set_form(&mut self, form: CreditForm) {
        if form.path != self.form.path {
            self.confirm = None;
            self.status = None;
        }
        self.form = form;
    }

    /// Saves `credit` as the tab shows it to the form's path: the table (`.csv`, `.jsonl`) or the chart (`.png`,
    /// `.svg`); an existing file only with `overwrite`, otherwise the tab asks.
    pub fn save(&mut self, credit: &Features, overwrite: bool, beta: f64) {
        let path = std::path::PathBuf::from(self.form.path.trim());
        if path.exists() && !overwrite {
            self.confirm = Some(path);
            return;
        }
        self.confirm = None;
        let mut shown = credit.clone();
        shown.sort(self.form.sort.key(self.form.side), false);
        let chart = crate::features::chart::ChartOptions {
            title: format!("credit by word, {} records, β {beta}", credit.records),
            ..Default::default()
        };
        self.status = Some(
            shown
                .save(&path, overwrite, &chart)
                .map(|()| format!("wrote {}", path.display()))
                .map_err(|e| e.to_string()),
        );
    }
}

/// The words of `credit` listed for `state`: occurring at least `min_count` times on its side, in its order.
pub fn listed<'a>(credit: &'a Features, state: &CreditForm) -> Vec<&'a UnitStats> {
    let mut units: Vec<&UnitStats> = credit
        .units
        .iter()
        .filter(|u| u.side(state.side).count >= state.min_count.max(1))
        .collect();
    let key = state.sort.key(state.side);
    units.sort_by(|a, b| key.compare(a, b, false));
    units
}

/// Shows the tab; returns what the user asked for. `holding`: the word the table is filtered to; `scoring`: the
/// dataset is still being scored (the figures are of the rows so far).
pub fn show(
    ui: &mut Ui,
    credit: Option<&Features>,
    state: &CreditState,
    holding: Option<&str>,
    scoring: bool,
    beta: f64,
) -> Vec<Action> {
    let mut actions = Vec::new();
    let Some(credit) = credit else {
        ui.weak(if scoring {
            "scoring the data file: the credit across it comes as the records are scored"
        } else {
            "open a data file: the words that carry the most reward across it show here"
        });
        return actions;
    };
    let mut form = state.form.clone();
    ui.horizontal_wrapped(|ui| {
        for (side, name) in [(Side::Rejected, "rejected"), (Side::Chosen, "chosen"), (Side::Response, "responses")] {
            if credit.has_side(side) {
                ui.selectable_value(&mut form.side, side, name)
                    .on_hover_text(format!("Rank the words by their figures in {name} responses"));
            }
        }
        ui.separator();
        ui.label("at least");
        ui.add(egui::DragValue::new(&mut form.min_count).range(1..=1000))
            .on_hover_text("Fewest occurrences on the side for a word to be listed");
        ui.label("times");
        ui.separator();
        ui.weak(format!(
            "{} records{} · words (white space, punctuation attached) · r summed over a word's tokens · β {beta}",
            credit.records,
            if scoring { " so far" } else { "" }
        ));
        save_ui(ui, state, &mut form, &mut actions);
        if let Some(w) = holding {
            ui.separator();
            if ui
                .button(format!("✕ only records with {w:?}"))
                .on_hover_text("Show every record again")
                .clicked()
            {
                actions.push(Action::HoldWord(None));
            }
        }
    });
    // Two cells of fixed shares: the table scrolls inside its own, so the panel never grows with the words.
    egui_extras::StripBuilder::new(ui)
        .size(egui_extras::Size::relative(0.62).at_least(300.0))
        .size(egui_extras::Size::remainder().at_least(160.0))
        .horizontal(|mut strip| {
            strip.cell(|ui| {
                let height = ui.available_height();
                if let Some(a) = table(ui, credit, &mut form, holding, height) {
                    actions.push(a);
                }
            });
            strip.cell(|ui| {
                egui::ScrollArea::vertical()
                    .id_salt("credit-shape")
                    .show(ui, |ui| shape(ui, credit, form.side));
            });
        });
    if form != state.form {
        actions.insert(0, Action::SetCredit(form));
    }
    actions
}

/// The word table.
fn table(
    ui: &mut Ui,
    credit: &Features,
    state: &mut CreditForm,
    holding: Option<&str>,
    height: f32,
) -> Option<Action> {
    let units = listed(credit, state);
    if units.is_empty() {
        ui.weak("no word occurs that often on this side");
        return None;
    }
    let side = state.side;
    let mut clicked = None;
    let mut sort = state.sort;
    let header =
        |ui: &mut Ui, name: &str, key: Option<CreditSort>, tip: &str, sort: &mut CreditSort| {
            let arrow = if key == Some(*sort) { " ⏶" } else { "" };
            match key {
                Some(k) => {
                    if ui
                        .button(format!("{name}{arrow}"))
                        .on_hover_text(format!("{tip}. Click to sort"))
                        .clicked()
                    {
                        *sort = k;
                    }
                }
                None => {
                    ui.strong(name).on_hover_text(tip);
                }
            }
        };
    ui.style_mut().interaction.selectable_labels = false;
    TableBuilder::new(ui)
        .id_salt("credit-table")
        .striped(true)
        .sense(egui::Sense::click())
        .column(Column::exact(34.0))
        .column(Column::remainder().at_least(90.0).clip(true))
        .columns(Column::exact(58.0), 5)
        .auto_shrink([false, false])
        .max_scroll_height((height - 26.0).max(40.0))
        .min_scrolled_height(40.0)
        .header(22.0, |mut row| {
            row.col(|ui| header(ui, "#", None, "Rank", &mut sort));
            row.col(|ui| header(ui, "word", None, "The word, punctuation attached", &mut sort));
            row.col(|ui| header(ui, "n", Some(CreditSort::Count), "Occurrences on this side", &mut sort));
            row.col(|ui| header(ui, "Σ r", Some(CreditSort::Sum), "Summed reward on this side", &mut sort));
            row.col(|ui| header(ui, "mean", Some(CreditSort::Mean), "Mean reward per occurrence on this side", &mut sort));
            row.col(|ui| {
                header(
                    ui,
                    "c − r",
                    Some(CreditSort::Diff),
                    "Mean reward in chosen minus mean reward in rejected: how differently the same word is scored",
                    &mut sort,
                )
            });
            row.col(|ui| header(ui, "share", Some(CreditSort::Share), "Share of all |reward| (every side)", &mut sort));
        })
        .body(|body| {
            body.rows(20.0, units.len(), |mut row| {
                let i = row.index();
                let u = units[i];
                row.set_selected(holding == Some(u.text.as_str()));
                let s = u.side(side);
                let num = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:+.3}"));
                row.col(|ui| {
                    ui.label((i + 1).to_string());
                });
                row.col(|ui| {
                    ui.add(egui::Label::new(egui::RichText::new(&u.text).monospace()).truncate())
                        .on_hover_text(format!(
                            "{:?}: {} records; chosen {}× Σ {:+.4}, rejected {}× Σ {:+.4}. Click to keep the records holding it",
                            u.text, u.records, u.chosen.count, u.chosen.sum, u.rejected.count, u.rejected.sum
                        ));
                });
                row.col(|ui| {
                    ui.monospace(s.count.to_string());
                });
                row.col(|ui| {
                    ui.monospace(num(Some(s.sum)));
                });
                row.col(|ui| {
                    ui.monospace(num(s.mean()));
                });
                row.col(|ui| {
                    ui.monospace(num(u.diff()));
                });
                row.col(|ui| {
                    ui.monospace(format!("{:.1}%", u.share * 100.0));
                });
                if row.response().clicked() {
                    clicked = Some(u.text.clone());
                }
            });
        });
    state.sort = sort;
    clicked.map(|w| {
        if holding == Some(w.as_str()) {
            Action::HoldWord(None)
        } else {
            Action::HoldWord(Some(w))
        }
    })
}

/// Where the credit sits in the responses of `side`, and the length fit.
fn shape(ui: &mut Ui, credit: &Features, side: Side) {
    let bins: &[PositionBin] = match side {
        Side::Chosen => &credit.position.chosen,
        Side::Rejected => &credit.position.rejected,
        Side::Response => &credit.position.response,
    };
    ui.label("mean r_t by position in the response");
    let colour = match side {
        Side::Chosen => CHOSEN,
        Side::Rejected => REJECTED,
        Side::Response => CHOSEN,
    };
    position_bars(ui, bins, colour);
    let fit = |name: &str, f: &LengthFit| match (f.slope, f.pearson) {
        (Some(s), Some(r)) => format!(
            "{name}: R = {:+.4} {s:+.4} per token (Pearson {r:+.2}, {} responses)",
            f.intercept.unwrap_or(0.0),
            f.n
        ),
        _ => format!("{name}: no fit ({} responses)", f.n),
    };
    ui.label("sequence reward against length (length bias)");
    for (name, f, present) in [
        (
            "chosen",
            &credit.length.chosen,
            credit.has_side(Side::Chosen),
        ),
        (
            "rejected",
            &credit.length.rejected,
            credit.has_side(Side::Rejected),
        ),
        (
            "responses",
            &credit.length.response,
            credit.has_side(Side::Response),
        ),
    ] {
        if present {
            ui.add(egui::Label::new(egui::RichText::new(fit(name, f)).small()).truncate());
        }
    }
}

/// Bars of the mean r_t per position bin, from the start of the response (left) to its end (right).
fn position_bars(ui: &mut Ui, bins: &[PositionBin], colour: Color32) {
    let width = ui.available_width().clamp(120.0, 420.0);
    let (rect, response) = ui.allocate_exact_size(egui::vec2(width, 64.0), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    let means: Vec<f64> = bins.iter().map(|b| b.mean().unwrap_or(0.0)).collect();
    let top = means
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    let mid = rect.center().y;
    let step = rect.width() / bins.len().max(1) as f32;
    painter.line_segment(
        [egui::pos2(rect.left(), mid), egui::pos2(rect.right(), mid)],
        egui::Stroke::new(1.0, ui.visuals().weak_text_color()),
    );
    for (i, m) in means.iter().enumerate() {
        let h = (m / top) as f32 * (rect.height() / 2.0 - 2.0);
        let x0 = rect.left() + step * i as f32 + 1.0;
        let bar =
            egui::Rect::from_two_pos(egui::pos2(x0, mid), egui::pos2(x0 + step - 2.0, mid - h));
        painter.rect_filled(bar, 1.0, colour);
    }
    let text = bins
        .iter()
        .zip(&means)
        .map(|(b, m)| {
            format!(
                "{:.0}-{:.0}%: {m:+.4} ({} tokens)",
                b.from * 100.0,
                b.to * 100.0,
                b.count
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    response.on_hover_text(format!(
        "Mean r_t per tenth of the response (start left, end right)\n{text}"
    ));
    ui.horizontal(|ui| {
        ui.weak("start");
        ui.add_space((width - 60.0).max(0.0));
        ui.weak("end");
    });
}

/// The path field and Save: the table as CSV/JSON lines, or the chart as PNG/SVG, as shown (its side's order).
fn save_ui(ui: &mut Ui, state: &CreditState, form: &mut CreditForm, actions: &mut Vec<Action>) {
    ui.separator();
    ui.add(egui::TextEdit::singleline(&mut form.path).desired_width(130.0))
        .on_hover_text("Save to: .csv or .jsonl for every word's figures, .png or .svg for the chart (as in `creditlens features`)");
    if let Some(p) = &state.confirm {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            format!("{} exists.", p.display()),
        );
        if ui.button("Overwrite").clicked() {
            actions.push(Action::SaveCredit { overwrite: true });
        }
        if ui.button("Keep it").clicked() {
            actions.push(Action::KeepCreditTarget);
        }
    } else if ui.button("Save").clicked() {
        actions.push(Action::SaveCredit { overwrite: false });
    }
    match &state.status {
        Some(Ok(m)) => {
            ui.weak(m);
        }
        Some(Err(e)) => {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        None => {}
    }
}
