//! The token x checkpoint heatmap: the selected response's per-token values at each training checkpoint.

use super::heatmap_view::color;
use super::worker::DriftPoint;
use crate::heatmap::{Colormap, Metric, Scale, ScaleMode, Theme};
use crate::render::fmt_num;
use crate::score::{RecordScore, ResponseScore, TokenScore};
use egui::{Align2, FontId, Pos2, Rect, Sense, Stroke, Ui, Vec2};

/// Height of a checkpoint's row.
const CELL_H: f32 = 16.0;
/// The widest a token's column gets.
const CELL_W_MAX: f32 = 44.0;
/// Font size of the column labels.
const LABEL_SIZE: f32 = 10.0;
/// Above this many labels, the room under the grid is not fitted to the longest.
const MEASURED_LABELS: usize = 200;
/// The longest a column label gets (rotated, so this is its height); longer tokens are cut, whole on hover.
const LABEL_MAX: f32 = 150.0;

/// A token as the column labels show it (spaces as `·`, newlines as `↵`).
fn shown(t: &TokenScore) -> String {
    crate::render::chip_text(&t.text)
        .segments
        .iter()
        .map(|(s, _)| s.as_str())
        .collect()
}

/// Rows: checkpoints; columns: the tokens of the selected response (rejected for a pair); colour: the metric.
/// Each column is labelled with its whole token: across when every token fits its column, else rotated to read
/// downwards (where columns are narrower than a line of text, every few columns); every label and cell tells its
/// token on hover.
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
    let step_font = FontId::monospace(11.0);
    let label_font = FontId::monospace(LABEL_SIZE);
    let text = ui.visuals().text_color();
    let ink = ui.visuals().text_color();
    let painter = ui.painter().clone();
    let galley = |s: String, font: &FontId, c| painter.layout_no_wrap(s, font.clone(), c);
    let label_w = rows
        .iter()
        .map(|(step, _)| galley(format!("step {step}"), &step_font, text).size().x)
        .fold(0.0f32, f32::max)
        + 8.0;
    let cell_w = ((ui.available_width() - label_w) / cols.max(1) as f32).clamp(3.0, CELL_W_MAX);
    // Labels read across when every token fits its column; otherwise they are rotated, a label every `every`
    // columns so that they (a line of text wide) never overlap.
    let line = galley("x".into(), &label_font, ink).size().y;
    let width_of = |t: &TokenScore| galley(shown(t), &label_font, ink).size().x;
    let across = first.tokens.iter().all(|t| width_of(t) <= cell_w - 2.0);
    let every = if across {
        1
    } else {
        (line / cell_w).ceil().max(1.0) as usize
    };
    let labelled: Vec<usize> = (0..cols).step_by(every).collect();
    // Room under the grid for the longest label (not measured one by one for thousands of tokens).
    let label_h = if across {
        line
    } else if labelled.len() > MEASURED_LABELS {
        LABEL_MAX
    } else {
        labelled
            .iter()
            .map(|&ci| width_of(&first.tokens[ci]))
            .fold(0.0f32, f32::max)
            .min(LABEL_MAX)
    } + 6.0;
    egui::ScrollArea::both()
        .id_salt("token-x-checkpoint")
        .show(ui, |ui| {
            let grid_h = CELL_H * rows.len() as f32;
            let size = Vec2::new(label_w + cell_w * cols as f32, grid_h + label_h);
            let (rect, response) = ui.allocate_exact_size(size, Sense::hover());
            let painter = ui.painter_at(rect);
            for (ri, (step, resp)) in rows.iter().enumerate() {
                let y = rect.min.y + ri as f32 * CELL_H;
                painter.text(
                    Pos2::new(rect.min.x, y + CELL_H / 2.0),
                    Align2::LEFT_CENTER,
                    format!("step {step}"),
                    step_font.clone(),
                    text,
                );
                for (ci, t) in resp.tokens.iter().enumerate().take(cols) {
                    let x = rect.min.x + label_w + ci as f32 * cell_w;
                    let v = metric.value(t);
                    painter.rect_filled(
                        Rect::from_min_size(Pos2::new(x, y), Vec2::new(cell_w - 0.5, CELL_H - 0.5)),
                        0.0,
                        color(cmap.at(metric.colormap_position(v, scale.limit))),
                    );
                }
            }
            // The tokens under their columns: across, or rotated a quarter turn clockwise, starting at the grid.
            let top = rect.min.y + grid_h + 3.0;
            let visible = ui.clip_rect();
            for &ci in &labelled {
                let x = rect.min.x + label_w + (ci as f32 + 0.5) * cell_w;
                if x + LABEL_MAX < visible.left() || x - LABEL_MAX > visible.right() {
                    continue;
                }
                let token = &first.tokens[ci];
                let (s, w) = (shown(token), width_of(token));
                let area = if across {
                    Rect::from_center_size(Pos2::new(x, top + line / 2.0), Vec2::new(w, line))
                } else {
                    Rect::from_min_max(
                        Pos2::new(x - line / 2.0, top),
                        Pos2::new(x + line / 2.0, top + w.min(LABEL_MAX)),
                    )
                };
                if !visible.intersects(area) {
                    continue;
                }
                if across {
                    painter.galley(area.min, galley(s.clone(), &label_font, ink), ink);
                } else {
                    let g = if w > LABEL_MAX {
                        let mut job = egui::text::LayoutJob::simple_singleline(
                            s.clone(),
                            label_font.clone(),
                            ink,
                        );
                        job.wrap.max_width = LABEL_MAX;
                        job.wrap.max_rows = 1;
                        job.wrap.break_anywhere = true;
                        ui.painter().layout_job(job)
                    } else {
                        galley(s.clone(), &label_font, ink)
                    };
                    painter.add(
                        egui::epaint::TextShape::new(Pos2::new(area.max.x, area.min.y), g, ink)
                            .with_angle(std::f32::consts::FRAC_PI_2),
                    );
                }
                let label = ui.interact(
                    area,
                    ui.scope_id().with(("token-label", ci)),
                    Sense::hover(),
                );
                label
                    .widget_info(|| egui::WidgetInfo::labeled(egui::Role::Label, true, s.as_str()));
                label.on_hover_text(format!("token {ci}: {:?}", token.text));
            }
            if let Some(p) = response.hover_pos() {
                let ci = ((p.x - rect.min.x - label_w) / cell_w).floor();
                let ri = ((p.y - rect.min.y) / CELL_H).floor();
                if ci >= 0.0 && ri >= 0.0 {
                    let (ci, ri) = (ci as usize, ri as usize);
                    if let Some((step, resp)) = rows.get(ri)
                        && let Some(t) = resp.tokens.get(ci)
                    {
                        painter.rect_stroke(
                            Rect::from_min_size(
                                Pos2::new(
                                    rect.min.x + label_w + ci as f32 * cell_w,
                                    rect.min.y + ri as f32 * CELL_H,
                                ),
                                Vec2::new(cell_w, CELL_H),
                            ),
                            0.0,
                            Stroke::new(1.0, ui.visuals().strong_text_color()),
                            egui::StrokeKind::Inside,
                        );
                        response.on_hover_text(format!(
                            "step {step}, token {ci} {:?}: {} = {}",
                            t.text,
                            metric.label(),
                            fmt_num(metric.value(t))
                        ));
                    }
                }
            }
        });
}
