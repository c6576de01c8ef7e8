//! The token x checkpoint heatmap: the selected response's per-token values at each training checkpoint.

use super::heatmap_view::color;
use super::worker::DriftPoint;
use crate::heatmap::{Colormap, Metric, Scale, ScaleMode, Theme};
use crate::render::fmt_num;
use crate::score::{RecordScore, ResponseScore};
use egui::{Pos2, Rect, Sense, Stroke, Ui, Vec2};

/// Rows: checkpoints; columns: the tokens of the selected response (rejected for a pair); colour: the metric.
pub fn token_by_checkpoint(ui: &mut Ui, points: &[DriftPoint], metric: Metric, theme: Theme) {
    let rows: Vec<(usize, &ResponseScore)> = points
        .iter()
        .filter_map(|d| {
            let r = d.selected.as_ref()?;
            let resp = match r {
                RecordScore::Pair(p) => &p.rejected,
                RecordScore::Unpaired(u) => &u.response,
            };
            Some((d.step, resp))
        })
        .collect();
    let Some((_, first)) = rows.first() else {
        ui.weak("Scoring the selected response with each checkpoint…");
        return;
    };
    let cols = first.tokens.len();
    let scale = Scale::resolve(
        ScaleMode::default(),
        rows.iter()
            .flat_map(|(_, r)| r.tokens.iter().map(|t| metric.value(t))),
    );
    let cmap = Colormap::for_theme(theme);
    ui.label(format!(
        "{} of the selected {} per checkpoint (rows) and token (columns); colour limit ±{}",
        metric.label(),
        if matches!(points[0].selected, Some(RecordScore::Pair(_))) {
            "rejected response"
        } else {
            "response"
        },
        fmt_num(scale.limit)
    ));
    let label_w = 60.0;
    let cell_w = ((ui.available_width() - label_w) / cols.max(1) as f32).clamp(3.0, 44.0);
    let cell_h = 16.0;
    egui::ScrollArea::horizontal()
        .id_salt("token-x-checkpoint")
        .show(ui, |ui| {
            let size = Vec2::new(
                label_w + cell_w * cols as f32,
                cell_h * (rows.len() + 1) as f32,
            );
            let (rect, response) = ui.allocate_exact_size(size, Sense::hover());
            let painter = ui.painter_at(rect);
            for (ri, (step, resp)) in rows.iter().enumerate() {
                let y = rect.min.y + ri as f32 * cell_h;
                painter.text(
                    Pos2::new(rect.min.x, y + cell_h / 2.0),
                    egui::Align2::LEFT_CENTER,
                    format!("step {step}"),
                    egui::FontId::monospace(11.0),
                    ui.visuals().text_color(),
                );
                for (ci, t) in resp.tokens.iter().enumerate().take(cols) {
                    let x = rect.min.x + label_w + ci as f32 * cell_w;
                    let v = metric.value(t);
                    painter.rect_filled(
                        Rect::from_min_size(Pos2::new(x, y), Vec2::new(cell_w - 0.5, cell_h - 0.5)),
                        0.0,
                        color(cmap.at(metric.colormap_position(v, scale.limit))),
                    );
                }
            }
            // The tokens under their columns, when there is room to read them.
            if cell_w >= 14.0 {
                let y = rect.min.y + rows.len() as f32 * cell_h + cell_h / 2.0;
                for (ci, t) in first.tokens.iter().enumerate() {
                    let x = rect.min.x + label_w + (ci as f32 + 0.5) * cell_w;
                    let cell = Rect::from_center_size(Pos2::new(x, y), Vec2::new(cell_w, cell_h));
                    let text: String = crate::render::chip_text(&t.text)
                        .segments
                        .iter()
                        .map(|(s, _)| s.as_str())
                        .collect();
                    painter.with_clip_rect(cell).text(
                        Pos2::new(x, y),
                        egui::Align2::CENTER_CENTER,
                        text,
                        egui::FontId::monospace(10.0),
                        ui.visuals().weak_text_color(),
                    );
                }
            }
            if let Some(p) = response.hover_pos() {
                let ci = ((p.x - rect.min.x - label_w) / cell_w).floor();
                let ri = ((p.y - rect.min.y) / cell_h).floor();
                if ci >= 0.0 && ri >= 0.0 {
                    let (ci, ri) = (ci as usize, ri as usize);
                    if let Some((step, resp)) = rows.get(ri)
                        && let Some(t) = resp.tokens.get(ci)
                    {
                        painter.rect_stroke(
                            Rect::from_min_size(
                                Pos2::new(
                                    rect.min.x + label_w + ci as f32 * cell_w,
                                    rect.min.y + ri as f32 * cell_h,
                                ),
                                Vec2::new(cell_w, cell_h),
                            ),
                            0.0,
                            Stroke::new(1.0, ui.visuals().strong_text_color()),
                            egui::StrokeKind::Inside,
                        );
                        response.on_hover_text(format!(
                            "step {step}, token {ci} {:?}: {} = {}",
                            t.text,
                            metric.label(),
                            fmt_num(v_of(metric, t))
                        ));
                    }
                }
            }
        });
}

fn v_of(metric: Metric, t: &crate::score::TokenScore) -> f64 {
    metric.value(t)
}
