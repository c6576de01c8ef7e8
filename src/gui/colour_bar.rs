//! The colour bar: the metric's colours from one end of its scale to the other, with numbers and what red means.

use super::heatmap_view::color;
use crate::heatmap::{Colormap, Metric, Theme};
use crate::render::fmt_num;
use egui::{Pos2, Rect, Sense, Stroke, Ui, Vec2};

/// A horizontal colour bar `width` wide over [-limit, limit] with numbers and, in a few words, what red means
/// (the whole sentence on hover); surprisal and KL run the other way.
pub fn colour_bar(ui: &mut Ui, metric: Metric, limit: f64, theme: Theme, width: f32) {
    let cmap = Colormap::for_theme(theme);
    let (lo, hi) = metric.bar_range(limit);
    ui.horizontal(|ui| {
        ui.monospace(fmt_num(lo));
        let (rect, response) = ui.allocate_exact_size(Vec2::new(width, 14.0), Sense::hover());
        let painter = ui.painter_at(rect);
        let steps = 110;
        for i in 0..steps {
            let f = (f64::from(i) + 0.5) / f64::from(steps);
            let value = lo + (hi - lo) * f;
            let x0 = rect.min.x + rect.width() * i as f32 / steps as f32;
            let x1 = rect.min.x + rect.width() * (i + 1) as f32 / steps as f32;
            painter.rect_filled(
                Rect::from_min_max(Pos2::new(x0, rect.min.y), Pos2::new(x1 + 0.5, rect.max.y)),
                0.0,
                color(cmap.at(metric.colormap_position(value, limit))),
            );
        }
        if metric.sign().is_none() {
            painter.line_segment(
                [
                    Pos2::new(rect.center().x, rect.min.y),
                    Pos2::new(rect.center().x, rect.max.y),
                ],
                Stroke::new(1.0, ui.visuals().text_color()),
            );
        }
        response.on_hover_text(format!(
            "{}: {}. Colours saturate at {}; 0 is neutral.",
            metric.label(),
            metric.description(),
            fmt_num(hi)
        ));
        ui.monospace(fmt_num(hi));
        ui.label(metric.red_short()).on_hover_text(format!(
            "{}: {}",
            metric.label(),
            metric.red_means()
        ));
    });
}
