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

/// Shows the pinned token of `response` ("chosen", "rejected" or "response"); returns true when unpinned.
pub fn show(ui: &mut Ui, response: &str, index: usize, t: &TokenScore) -> bool {
    let mut close = false;
    ui.horizontal(|ui| {
        ui.heading(format!("{response} token {index}"));
        if ui.button("✕").on_hover_text("Unpin (Esc)").clicked() {
            close = true;
        }
        if ui
            .button("Copy")
            .on_hover_text("Copy this token's numbers (Ctrl+C). Left/Right walk the tokens, Up/Down switch response")
            .clicked()
        {
            ui.ctx().copy_text(summary(response, index, t));
        }
    });
    token_details(ui, t);
    ui.separator();
    ui.label("Next-token alternatives at this position");
    let rows = t.top_policy.len().max(t.top_reference.len());
    if rows == 0 {
        ui.weak("no alternatives recorded (top-k is 0)");
        return close;
    }
    egui::Grid::new("topk")
        .striped(true)
        .num_columns(4)
        .show(ui, |ui| {
            ui.strong("policy");
            ui.strong("log pi");
            ui.strong("reference");
            ui.strong("log pi_ref");
            ui.end_row();
            for i in 0..rows {
                cell(ui, t.top_policy.get(i), t.id);
                cell(ui, t.top_reference.get(i), t.id);
                ui.end_row();
            }
        });
    close
}

fn cell(ui: &mut Ui, top: Option<&TopToken>, actual: u32) {
    match top {
        Some(top) => {
            let text = egui::RichText::new(format!("{:?}", top.text)).monospace();
            ui.label(if top.id == actual {
                text.strong().underline()
            } else {
                text
            })
            .on_hover_text(format!("token id {}", top.id));
            ui.monospace(format!("{:.3}", top.logp));
        }
        None => {
            ui.label("");
            ui.label("");
        }
    }
}
