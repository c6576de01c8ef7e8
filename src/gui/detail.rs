//! The pinned-token panel: every metric of one token and the top-k alternatives under policy and reference side by
//! side.

use super::heatmap_view::token_details;
use crate::score::{TokenScore, TopToken};
use egui::Ui;

/// One line with a token's numbers, tab-separated after its name (what the copy button and Ctrl+C copy).
pub fn summary(response: &str, index: usize, t: &TokenScore) -> String {
    format!(
        "{response} token {index} {:?} (id {})\tr_t {:+.6}\tlog pi {:.6}\tlog pi_ref {:.6}\tKL {:.6}\tentropy pi {:.6}\tentropy pi_ref {:.6}\trank pi {}\trank pi_ref {}",
        t.text,
        t.id,
        t.reward,
        t.logp_policy,
        t.logp_reference,
        t.kl,
        t.entropy_policy,
        t.entropy_reference,
        t.rank_policy,
        t.rank_reference
    )
}

/// What the user did in the panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Nothing: the panel stays.
    Stay,
    /// Unpinned.
    Close,
    /// Asked to see token `i` of the response (a word's token), in the token view.
    OpenToken(usize),
}

/// Shows the pinned token of `response` ("chosen", "rejected" or "response"), or the pinned word when `members`
/// (its tokens: index in the response and scores) is not empty.
pub fn show(
    ui: &mut Ui,
    response: &str,
    index: usize,
    t: &TokenScore,
    members: &[(usize, TokenScore)],
) -> Answer {
    let mut answer = Answer::Stay;
    let what = if members.is_empty() { "token" } else { "word" };
    ui.horizontal(|ui| {
        ui.heading(format!("{response} {what} {index}"));
        if ui.button("✕").on_hover_text("Unpin (Esc)").clicked() {
            answer = Answer::Close;
        }
        if ui
            .button("Copy")
            .on_hover_text(
                "Copy these numbers (Ctrl+C). Left/Right walk the chips, Up/Down switch response",
            )
            .clicked()
        {
            ui.ctx().copy_text(summary(response, index, t));
        }
    });
    if !members.is_empty() {
        ui.weak(format!(
            "a word of {} token(s): log-probabilities, rewards and KL summed over them, entropies averaged, the worst rank; alternatives at its first token",
            members.len()
        ));
        ui.horizontal_wrapped(|ui| {
            for (i, m) in members {
                if ui
                    .button(
                        egui::RichText::new(format!("{:?} {:+.4}", m.text, m.reward)).monospace(),
                    )
                    .on_hover_text("Show this token in the token view")
                    .clicked()
                {
                    answer = Answer::OpenToken(*i);
                }
            }
        });
    }
    token_details(ui, t);
    ui.separator();
    ui.label("Next-token alternatives at this position");
    let rows = t.top_policy.len().max(t.top_reference.len());
    if rows == 0 {
        ui.weak("no alternatives recorded (top-k is 0)");
        return answer;
    }
    // Fixed column widths (token texts truncated, whole on hover): walking the tokens never changes the panel's
    // width, so the heatmap beside it does not reflow at every step.
    let number = 64.0;
    let gap = ui.spacing().item_spacing.x;
    let text = ((ui.available_width() - 2.0 * number - 3.0 * gap) / 2.0).max(40.0);
    let widths = [text, number, text, number];
    let row_height = ui.spacing().interact_size.y;
    egui::Grid::new("topk")
        .striped(true)
        .num_columns(4)
        .min_col_width(0.0)
        .show(ui, |ui| {
            for (name, w) in ["policy", "log pi", "reference", "log pi_ref"]
                .into_iter()
                .zip(widths)
            {
                ui.add_sized(
                    [w, row_height],
                    egui::Label::new(egui::RichText::new(name).strong()).truncate(),
                );
            }
            ui.end_row();
            for i in 0..rows {
                cell(ui, t.top_policy.get(i), t.id, text, number, row_height);
                cell(ui, t.top_reference.get(i), t.id, text, number, row_height);
                ui.end_row();
            }
        });
    answer
}

fn cell(ui: &mut Ui, top: Option<&TopToken>, actual: u32, text_w: f32, number_w: f32, h: f32) {
    match top {
        Some(top) => {
            let shown = format!("{:?}", top.text);
            let text = egui::RichText::new(&shown).monospace();
            ui.add_sized(
                [text_w, h],
                egui::Label::new(if top.id == actual {
                    text.strong().underline()
                } else {
                    text
                })
                .truncate(),
            )
            .on_hover_text(format!("{shown}: token id {}", top.id));
            ui.add_sized(
                [number_w, h],
                egui::Label::new(egui::RichText::new(format!("{:.3}", top.logp)).monospace()),
            );
        }
        None => {
            ui.add_sized([text_w, h], egui::Label::new(""));
            ui.add_sized([number_w, h], egui::Label::new(""));
        }
    }
}
