//! The drift plots: creditlens' mean rewards per checkpoint (at the beta in force), `trainer_state.json`'s training
//! and evaluation curves (logged at the training beta), and the reward accuracy on its own axis.

use super::plots::*;
use super::worker::DriftPoint;
use crate::drift::TrainerCurve;
use egui::{Color32, Ui};
use egui_plot::{Line, MarkerShape, PlotPoints, Points};

/// The colour of a `trainer_state.json` metric (train or eval), if it is one drift shows.
fn trainer_colour(metric: &str) -> Option<Color32> {
    match metric {
        "rewards/chosen" => Some(CHOSEN),
        "rewards/rejected" => Some(REJECTED),
        "rewards/margins" => Some(MARGIN),
        "rewards/accuracies" => Some(ACCURACY),
        _ => None,
    }
}

/// A series to draw: its record and its points.
struct Series {
    record: SeriesRecord,
    points: Vec<[f64; 2]>,
}

impl Series {
    fn new(name: &str, colour: Color32, style: SeriesStyle, points: Vec<[f64; 2]>) -> Self {
        Self {
            record: SeriesRecord {
                name: name.to_string(),
                colour,
                style,
            },
            points,
        }
    }

    fn draw(&self, p: &mut egui_plot::PlotUi<'_>) {
        let SeriesRecord {
            name,
            colour,
            style,
        } = &self.record;
        let pts = || PlotPoints::new(self.points.clone());
        match style {
            SeriesStyle::Line => p.line(Line::new(name.as_str(), pts()).color(*colour).width(1.5)),
            SeriesStyle::LineAndDots => {
                p.line(Line::new(name.as_str(), pts()).color(*colour).width(2.0));
                p.points(Points::new(name.as_str(), pts()).color(*colour).radius(3.0));
            }
            SeriesStyle::Markers => p.points(
                Points::new(name.as_str(), pts())
                    .color(*colour)
                    .shape(MarkerShape::Diamond)
                    .filled(true)
                    .radius(4.5),
            ),
            SeriesStyle::Bars => {}
        }
    }
}

/// One plot of the drift tab: its id, axis titles, series and y range to include.
struct DriftPlot {
    id: &'static str,
    y: String,
    series: Vec<Series>,
    include_y: &'static [f64],
}

/// The drift tab: creditlens' mean rewards per checkpoint over the loaded pairs (at the app's `beta`), the
/// training log's own reward curves (TRL logs them at the beta it trained with), each with its evaluation points,
/// and the reward accuracies of both on an axis of their own (0 to 1). Colours name the metric and styles the
/// source, all in the legend row above.
pub fn drift(ui: &mut Ui, points: &[DriftPoint], curves: &[TrainerCurve], beta: f64, height: f32) {
    let pairs = points.iter().map(|d| d.pairs).max().unwrap_or(0);
    let pick = |f: fn(&DriftPoint) -> f64| -> Vec<[f64; 2]> {
        points.iter().map(|d| [d.step as f64, f(d)]).collect()
    };
    let ours = SeriesStyle::LineAndDots;
    let mut rewards = DriftPlot {
        id: "drift",
        y: format!("reward at β {beta}"),
        series: vec![
            Series::new("chosen", CHOSEN, ours, pick(|d| d.chosen)),
            Series::new("rejected", REJECTED, ours, pick(|d| d.rejected)),
            Series::new("margin", MARGIN, ours, pick(|d| d.margin)),
        ],
        include_y: &[0.0],
    };
    rewards.series.retain(|s| !s.points.is_empty());
    let mut logged = DriftPlot {
        id: "trainer-state",
        y: "reward at training β".into(),
        series: Vec::new(),
        include_y: &[0.0],
    };
    let mut accuracy = DriftPlot {
        id: "accuracy",
        y: "reward accuracy".into(),
        series: vec![Series::new(
            "accuracy",
            ACCURACY,
            ours,
            pick(|d| d.accuracy),
        )],
        include_y: &[0.0, 1.0],
    };
    accuracy.series.retain(|s| !s.points.is_empty());
    for c in curves {
        let Some(colour) = trainer_colour(c.metric()) else {
            continue;
        };
        let style = if c.is_eval() {
            SeriesStyle::Markers
        } else {
            SeriesStyle::Line
        };
        let series = Series::new(&c.name, colour, style, c.points.clone());
        if colour == ACCURACY {
            accuracy.series.push(series);
        } else {
            logged.series.push(series);
        }
    }

    let mut legend: Vec<LegendEntry> = [
        ("chosen", CHOSEN),
        ("rejected", REJECTED),
        ("margin", MARGIN),
        ("accuracy", ACCURACY),
    ]
    .into_iter()
    .map(|(label, c)| LegendEntry {
        label: label.into(),
        colour: Some(c),
        style: None,
    })
    .collect();
    let style = |label: String, style: SeriesStyle| LegendEntry {
        label,
        colour: None,
        style: Some(style),
    };
    legend.push(style(
        format!("creditlens at beta {beta}, {pairs} pairs"),
        ours,
    ));
    if curves.iter().any(|c| !c.is_eval()) {
        legend.push(style(
            "trainer_state.json batches, logged at the training beta".into(),
            SeriesStyle::Line,
        ));
    }
    if curves.iter().any(|c| c.is_eval()) {
        legend.push(style(
            "trainer_state.json eval".into(),
            SeriesStyle::Markers,
        ));
    }
    let top = ui.cursor().top();
    legend_row(ui, &legend);
    let height = under_legend(ui, height, top);
    let mut plots = vec![rewards];
    if !logged.series.is_empty() {
        plots.push(logged);
    }
    plots.push(accuracy);
    ui.columns(plots.len(), |cols| {
        for (ui, d) in cols.iter_mut().zip(&plots) {
            // A rotated title longer than a short plot would run over the legend: the legend says it then.
            let y = if height < 140.0 { "" } else { d.y.as_str() };
            let axes = ("training step", y);
            let ticks = TickLog::default();
            let mut p = plot(d.id, height, axes, fmt_x, &ticks).include_x(0.0);
            for &y in d.include_y {
                p = p.include_y(y);
            }
            let shown = p.show(ui, |p| {
                for s in &d.series {
                    s.draw(p);
                }
            });
            let drawn = d.series.iter().map(|s| s.record.clone()).collect();
            note_drawn(ui, d.id, axes, &shown, &ticks, drawn, &legend);
        }
    });
}
