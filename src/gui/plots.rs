//! Plots (egui_plot): per-token values and the cumulative reward of the shown responses, the drift of rewards
//! across training checkpoints next to the `trainer_state.json` curves. Every plot records what it drew (its
//! series and the tick labels it painted, [`plots_drawn`]): egui_plot paints them without accessible nodes.

use crate::heatmap::Metric;
use crate::score::{RecordScore, ResponseScore};
use egui::{Color32, Id, Pos2, Rect, Sense, Stroke, Ui, Vec2};
use egui_plot::{
    AxisHints, Bar, BarChart, GridInput, GridMark, Line, Plot, PlotPoints, PlotResponse,
};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// Above this many tokens the per-token plot draws a line instead of bars.
const MAX_BARS: usize = 1000;

/// Bluish green and violet: chosen and rejected in every plot, hues away from the heatmap's red (suspicious) and
/// blue, so a series colour is never read as a reward.
pub const CHOSEN: Color32 = Color32::from_rgb(0, 158, 115);
/// See [`CHOSEN`].
pub const REJECTED: Color32 = Color32::from_rgb(148, 85, 200);
/// Mid grey: margins (readable on light and dark backgrounds).
pub const MARGIN: Color32 = Color32::from_rgb(128, 128, 128);
/// Dark gold: reward accuracies (the share of pairs whose margin is positive), on an axis of their own.
pub const ACCURACY: Color32 = Color32::from_rgb(180, 148, 0);

/// Least room between two labelled ticks on a y axis (a line of text and a gap), in points.
const Y_TICK_ROOM: f32 = 18.0;
/// Least room between two labelled ticks on an x axis (a label like "1000" and a gap), in points.
const X_TICK_ROOM: f32 = 48.0;
/// egui_plot's default least grid spacing (`Plot::grid_spacing`): `GridInput::base_step_size` is the value
/// spanned by this many points.
const GRID_SPACING_MIN: f64 = 8.0;
/// The label spacing given to the axes ([`AxisHints::label_spacing`]): egui_plot paints no label on ticks closer
/// than the start of the range.
const X_LABEL_SPACING: std::ops::RangeInclusive<f32> = 24.0..=36.0;
/// See [`X_LABEL_SPACING`].
const Y_LABEL_SPACING: std::ops::RangeInclusive<f32> = 14.0..=20.0;

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeriesStyle {
    /// A line.
    Line,
    /// A line with a dot at each point (few points: one per checkpoint).
    LineAndDots,
    /// Markers only (diamonds), no line.
    Markers,
    /// Bars.
    Bars,
}

/// One series a plot drew.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesRecord {
    /// Its name.
    pub name: String,
    /// Its colour.
    pub colour: Color32,
    /// How it is drawn.
    pub style: SeriesStyle,
}

/// One entry of a legend row: a colour (a metric) or a style (a source of values), named.
#[derive(Debug, Clone, PartialEq)]
pub struct LegendEntry {
    /// What the entry says.
    pub label: String,
    /// The colour it stands for, if any.
    pub colour: Option<Color32>,
    /// The style it stands for, if any.
    pub style: Option<SeriesStyle>,
}

/// What a plot showed the last frame it was drawn.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlotRecord {
    /// The x axis' title.
    pub x_label: String,
    /// The y axis' title.
    pub y_label: String,
    /// The x tick labels painted.
    pub x_ticks: Vec<String>,
    /// The y tick labels painted.
    pub y_ticks: Vec<String>,
    /// The series drawn.
    pub series: Vec<SeriesRecord>,
    /// The legend row that names them (shared by the plots shown side by side).
    pub legend: Vec<LegendEntry>,
}

fn records_id() -> Id {
    Id::unique("creditlens-plots-drawn")
}

/// What each plot (by id) showed the last frame it was drawn.
pub fn plots_drawn(ctx: &egui::Context) -> BTreeMap<String, PlotRecord> {
    ctx.data(|d| d.get_temp::<BTreeMap<String, PlotRecord>>(records_id()))
        .unwrap_or_default()
}

pub(super) fn store(ctx: &egui::Context, id: &str, record: PlotRecord) {
    ctx.data_mut(|d| {
        d.get_temp_mut_or_default::<BTreeMap<String, PlotRecord>>(records_id())
            .insert(id.to_string(), record);
    });
}

/// Grid lines at round values (1, 2 or 5 times a power of ten), up to eight over the visible range, at least
/// `room` points apart (fewer, coarser ones on a short axis), so that each keeps its label: egui_plot's default
/// powers-of-ten grid labels a 12-token axis with only 0 and 10, and skips labels it finds too close.
pub fn round_grid_spaced(input: GridInput, room: f32) -> Vec<GridMark> {
    let (lo, hi) = input.bounds;
    let mut ticks = crate::render::nice_ticks(lo, hi);
    let step = |t: &[f64]| match t {
        [a, b, ..] => (b - a).abs(),
        _ => (hi - lo).abs().max(f64::MIN_POSITIVE),
    };
    // Points per unit of value, from egui_plot's base step (the value spanned by its least grid spacing).
    let per_unit = if input.base_step_size > 0.0 {
        GRID_SPACING_MIN / input.base_step_size
    } else {
        f64::INFINITY
    };
    let mut s = step(&ticks);
    while s * per_unit < f64::from(room) {
        let coarse = coarser(s);
        let fewer = multiples(lo, hi, coarse);
        // One readable label is better than several egui_plot would not paint.
        if fewer.is_empty() {
            break;
        }
        (s, ticks) = (coarse, fewer);
    }
    ticks
        .into_iter()
        .map(|value| GridMark {
            value,
            step_size: s,
        })
        .collect()
}

/// The next round step above `s` (1, 2, 5 times a power of ten).
fn coarser(s: f64) -> f64 {
    let e = s.log10().floor();
    let m = (s / 10f64.powf(e)).round();
    let next = if m < 2.0 {
        2.0
    } else if m < 5.0 {
        5.0
    } else {
        10.0
    };
    next * 10f64.powf(e)
}

/// The multiples of `s` in `[lo, hi]`.
fn multiples(lo: f64, hi: f64, s: f64) -> Vec<f64> {
    let (lo, hi) = (lo.min(hi), lo.max(hi));
    let first = (lo / s).ceil() as i64;
    let last = (hi / s).floor() as i64;
    (first..=last.max(first - 1))
        .map(|k| k as f64 * s)
        .collect()
}

/// A tick's label with the digits its value needs: egui_plot's default derives them from the step rounded to a
/// power of ten, which labels ticks 0, 0.5 and 1 as "0", "0" and "1".
pub fn tick_label(mark: GridMark) -> String {
    crate::render::fmt_tick(mark.value)
}

/// The ticks an axis formatted in a frame: (value, step, label).
#[derive(Default)]
pub(super) struct TickLog {
    x: RefCell<Vec<(f64, f64, String)>>,
    y: RefCell<Vec<(f64, f64, String)>>,
}

impl TickLog {
    fn log(cell: &RefCell<Vec<(f64, f64, String)>>, mark: GridMark, label: &str) {
        let mut v = cell.borrow_mut();
        if !v.iter().any(|(value, ..)| *value == mark.value) {
            v.push((mark.value, mark.step_size, label.to_string()));
        }
    }
}

/// A plot with round, labelled ticks on both axes (x ticks labelled by `x_tick`), room for the y tick labels, and
/// no legend over the data (the series are named in a row above it, [`legend_row`]); `ticks` collects the labels.
pub(super) fn plot<'a>(
    id: &'a str,
    height: f32,
    (x, y): (&'a str, &'a str),
    x_tick: fn(f64) -> String,
    ticks: &'a TickLog,
) -> Plot<'a> {
    Plot::new(id)
        .height(height)
        .x_grid_spacer(|input| round_grid_spaced(input, X_TICK_ROOM))
        .y_grid_spacer(|input| round_grid_spaced(input, Y_TICK_ROOM))
        .custom_x_axes(vec![
            AxisHints::new_x()
                .label(x)
                .label_spacing(X_LABEL_SPACING)
                .formatter(move |m, _| {
                    let label = x_tick(m.value);
                    TickLog::log(&ticks.x, m, &label);
                    label
                }),
        ])
        .custom_y_axes(vec![
            AxisHints::new_y()
                .label(y)
                .label_spacing(Y_LABEL_SPACING)
                .formatter(move |m, _| {
                    let label = tick_label(m);
                    TickLog::log(&ticks.y, m, &label);
                    label
                }),
        ])
        .y_axis_min_width(46.0)
        .allow_scroll(false)
}

/// Records what plot `id` drew: its series, its legend and the tick labels egui_plot painted (it skips those
/// closer than the axis' label spacing, or than the label's own size).
pub(super) fn note_drawn<R>(
    ui: &Ui,
    id: &str,
    (x, y): (&str, &str),
    shown: &PlotResponse<R>,
    ticks: &TickLog,
    series: Vec<SeriesRecord>,
    legend: &[LegendEntry],
) {
    let font = egui::TextStyle::Body.resolve(ui.style());
    let painted = |cell: &RefCell<Vec<(f64, f64, String)>>, axis: usize, spacing: f32| {
        let per_unit = shown.transform.dpos_dvalue()[axis].abs();
        let mut v: Vec<(f64, String)> = cell
            .borrow()
            .iter()
            .filter(|(_, step, label)| {
                let room = (per_unit * step) as f32;
                let size = ui
                    .painter()
                    .layout_no_wrap(label.clone(), font.clone(), Color32::WHITE)
                    .size()[axis];
                !label.is_empty() && room > spacing && room >= size
            })
            .map(|(value, _, label)| (*value, label.clone()))
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v.into_iter().map(|(_, l)| l).collect::<Vec<_>>()
    };
    store(
        ui.ctx(),
        id,
        PlotRecord {
            x_label: x.to_string(),
            y_label: y.to_string(),
            x_ticks: painted(&ticks.x, 0, *X_LABEL_SPACING.start()),
            y_ticks: painted(&ticks.y, 1, *Y_LABEL_SPACING.start()),
            series,
            legend: legend.to_vec(),
        },
    );
}

/// Width of a legend entry's sample of its colour or style.
const SAMPLE_W: f32 = 20.0;

/// Paints a small sample of `style` in `colour` (a swatch for a metric entry) in `rect`.
pub(super) fn sample(
    painter: &egui::Painter,
    rect: Rect,
    colour: Color32,
    style: Option<SeriesStyle>,
) {
    let (l, r, c) = (rect.left() + 1.0, rect.right() - 1.0, rect.center());
    match style {
        None => {
            painter.rect_filled(Rect::from_center_size(c, Vec2::new(14.0, 8.0)), 2.0, colour);
        }
        Some(SeriesStyle::Line) => {
            painter.line_segment(
                [Pos2::new(l, c.y), Pos2::new(r, c.y)],
                Stroke::new(1.5, colour),
            );
        }
        Some(SeriesStyle::LineAndDots) => {
            painter.line_segment(
                [Pos2::new(l, c.y), Pos2::new(r, c.y)],
                Stroke::new(2.0, colour),
            );
            painter.circle_filled(c, 3.0, colour);
        }
        Some(SeriesStyle::Markers) => {
            let d = 4.0;
            painter.add(egui::Shape::convex_polygon(
                vec![
                    Pos2::new(c.x, c.y - d),
                    Pos2::new(c.x + d, c.y),
                    Pos2::new(c.x, c.y + d),
                    Pos2::new(c.x - d, c.y),
                ],
                colour,
                Stroke::NONE,
            ));
        }
        Some(SeriesStyle::Bars) => {
            painter.rect_filled(Rect::from_center_size(c, Vec2::new(8.0, 10.0)), 0.0, colour);
        }
    }
}

/// The names of a plot's series, each after a sample of its colour or style, in a row above it (wrapped when
/// the panel is narrow; an entry's sample and name stay together).
pub(super) fn legend_row(ui: &mut Ui, entries: &[LegendEntry]) {
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 12.0;
        let font = egui::TextStyle::Body.resolve(ui.style());
        for e in entries {
            let ink = ui.visuals().text_color();
            let galley =
                ui.painter()
                    .layout_no_wrap(e.label.clone(), font.clone(), e.colour.unwrap_or(ink));
            let size = Vec2::new(SAMPLE_W + 4.0 + galley.size().x, galley.size().y);
            let (rect, response) = ui.allocate_exact_size(size, Sense::hover());
            let at = Rect::from_min_size(rect.min, Vec2::new(SAMPLE_W, rect.height()));
            sample(ui.painter(), at, e.colour.unwrap_or(ink), e.style);
            ui.painter().galley(
                Pos2::new(at.right() + 4.0, rect.top()),
                galley,
                e.colour.unwrap_or(ink),
            );
            response.widget_info(|| {
                egui::WidgetInfo::labeled(egui::Role::Label, true, e.label.as_str())
            });
        }
    });
}

fn series(record: &RecordScore) -> Vec<(&'static str, &ResponseScore, Color32)> {
    record
        .responses()
        .into_iter()
        .map(|(name, r)| (name, r, if name == "rejected" { REJECTED } else { CHOSEN }))
        .collect()
}

/// The height left for plots under a legend row.
pub(super) fn under_legend(ui: &Ui, height: f32, top: f32) -> f32 {
    (height - (ui.cursor().top() - top)).max(80.0)
}

/// Bars of the metric per token position, and the cumulative reward, for each shown response.
pub fn tokens(ui: &mut Ui, record: &RecordScore, metric: Metric, height: f32) {
    let responses = series(record);
    let n = responses.len().max(1) as f64;
    let legend: Vec<LegendEntry> = responses
        .iter()
        .map(|(name, _, c)| LegendEntry {
            label: (*name).to_string(),
            colour: Some(*c),
            style: None,
        })
        .collect();
    let top = ui.cursor().top();
    legend_row(ui, &legend);
    let height = under_legend(ui, height, top);
    let many = responses
        .iter()
        .map(|(_, r, _)| r.tokens.len())
        .max()
        .unwrap_or(0)
        > MAX_BARS;
    ui.columns(2, |cols| {
        let axes = ("token position", metric.label());
        let ticks = TickLog::default();
        let mut drawn = Vec::new();
        let shown = plot("per-token", height, axes, fmt_x, &ticks).show(&mut cols[0], |p| {
            for (k, (name, r, c)) in responses.iter().enumerate() {
                drawn.push(SeriesRecord {
                    name: (*name).to_string(),
                    colour: *c,
                    style: if many {
                        SeriesStyle::Line
                    } else {
                        SeriesStyle::Bars
                    },
                });
                if many {
                    // Thousands of bars cost more than they show: a line of the same values.
                    let pts: Vec<[f64; 2]> = r
                        .tokens
                        .iter()
                        .enumerate()
                        .map(|(i, t)| [i as f64, metric.value(t)])
                        .collect();
                    p.line(Line::new(*name, PlotPoints::new(pts)).color(*c));
                    continue;
                }
                let bars: Vec<Bar> = r
                    .tokens
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        Bar::new(
                            i as f64 + (k as f64 - (n - 1.0) / 2.0) * 0.8 / n,
                            metric.value(t),
                        )
                        .name(format!("{name} {i}: {:?}", t.text))
                    })
                    .collect();
                p.bar_chart(BarChart::new(*name, bars).width(0.8 / n).color(*c));
            }
        });
        note_drawn(&cols[0], "per-token", axes, &shown, &ticks, drawn, &legend);
        let axes = ("token position", "cumulative reward");
        let ticks = TickLog::default();
        let mut drawn = Vec::new();
        let shown = plot("cumulative", height, axes, fmt_x, &ticks).show(&mut cols[1], |p| {
            for (name, r, c) in &responses {
                let values: Vec<f64> = r.tokens.iter().map(|t| t.cum_reward).collect();
                drawn.push(SeriesRecord {
                    name: (*name).to_string(),
                    colour: *c,
                    style: SeriesStyle::Line,
                });
                p.line(
                    Line::new(*name, PlotPoints::new(decimate(&values)))
                        .color(*c)
                        .width(2.0),
                );
            }
        });
        note_drawn(&cols[1], "cumulative", axes, &shown, &ticks, drawn, &legend);
    });
}

/// An x tick's label: the value itself.
pub(super) fn fmt_x(v: f64) -> String {
    crate::render::fmt_tick(v)
}

/// The points of a long series reduced to each bucket's minimum and maximum (in order), at most about 2,000
/// points: a line through them looks the same at plot resolution and costs a fraction to draw.
pub fn decimate(values: &[f64]) -> Vec<[f64; 2]> {
    const BUCKETS: usize = 1000;
    if values.len() <= 2 * BUCKETS {
        return values
            .iter()
            .enumerate()
            .map(|(i, &v)| [i as f64, v])
            .collect();
    }
    let size = values.len().div_ceil(BUCKETS);
    let mut out = Vec::with_capacity(2 * BUCKETS);
    for (b, chunk) in values.chunks(size).enumerate() {
        let base = b * size;
        let (mut lo, mut hi) = (0, 0);
        for (i, v) in chunk.iter().enumerate() {
            if v.total_cmp(&chunk[lo]).is_lt() {
                lo = i;
            }
            if v.total_cmp(&chunk[hi]).is_gt() {
                hi = i;
            }
        }
        for i in if lo <= hi { [lo, hi] } else { [hi, lo] } {
            out.push([(base + i) as f64, chunk[i]]);
        }
    }
    out
}

pub use crate::drift::{TrainerCurve, trainer_curves};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_steps_keep_their_digit() {
        let labels: Vec<String> = [0.0, 0.5, 1.0, 1.5]
            .into_iter()
            .map(|value| {
                tick_label(GridMark {
                    value,
                    step_size: 0.5,
                })
            })
            .collect();
        assert_eq!(labels, ["0", "0.5", "1", "1.5"]);
        assert_eq!(
            tick_label(GridMark {
                value: 150.0,
                step_size: 50.0
            }),
            "150"
        );
        assert_eq!(
            tick_label(GridMark {
                value: -0.25,
                step_size: 0.05
            }),
            "-0.25"
        );
    }

    /// Series colours stay clear of the hues at both ends of the heatmap's colormap, in both themes (issue 15,
    /// item 6): at least 30 degrees of hue away from its red and its blue.
    #[test]
    fn series_colours_do_not_clash_with_the_heatmap() {
        use crate::heatmap::{Colormap, Theme};
        fn hue(r: u8, g: u8, b: u8) -> f64 {
            let (r, g, b) = (f64::from(r), f64::from(g), f64::from(b));
            let (max, min) = (r.max(g).max(b), r.min(g).min(b));
            let d = (max - min).max(1e-9);
            let h = if max == r {
                (g - b) / d
            } else if max == g {
                2.0 + (b - r) / d
            } else {
                4.0 + (r - g) / d
            };
            (h * 60.0).rem_euclid(360.0)
        }
        for theme in [Theme::Light, Theme::Dark] {
            let cmap = Colormap::for_theme(theme);
            for end in [cmap.at(-1.0), cmap.at(-0.5), cmap.at(0.5), cmap.at(1.0)] {
                for c in [CHOSEN, REJECTED] {
                    let d = (hue(c.r(), c.g(), c.b()) - hue(end.0, end.1, end.2)).abs();
                    let d = d.min(360.0 - d);
                    assert!(d > 30.0, "{c:?} is {d:.0} degrees from {end:?} ({theme:?})");
                }
            }
        }
    }

    /// A 12-token axis gets 0, 2, ..., 12 (not only 0 and 10); a small reward axis gets round values.
    #[test]
    fn plot_ticks_are_round_and_several() {
        let marks = |lo: f64, hi: f64| {
            round_grid_spaced(
                GridInput {
                    bounds: (lo, hi),
                    base_step_size: 1e-9,
                },
                0.0,
            )
        };
        let x: Vec<f64> = marks(-0.5, 12.5).iter().map(|m| m.value).collect();
        assert_eq!(x, vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0]);
        let y = marks(-0.41, 0.13);
        assert!(
            y.len() >= 4 && y.iter().all(|m| (m.step_size - 0.1).abs() < 1e-12),
            "{y:?}"
        );
    }

    /// On a short axis the marks thin out to keep `room` points between them, keeping at least one.
    #[test]
    fn short_axes_get_fewer_coarser_ticks() {
        // 40 points per unit: 0.2 apart would be 8 points; 1 apart is 40.
        let input = GridInput {
            bounds: (0.0, 1.0),
            base_step_size: GRID_SPACING_MIN / 40.0,
        };
        let values: Vec<f64> = round_grid_spaced(input, 22.0)
            .iter()
            .map(|m| m.value)
            .collect();
        assert_eq!(values, [0.0, 1.0]);
        let input = GridInput {
            bounds: (0.1, 0.9),
            base_step_size: GRID_SPACING_MIN / 10.0,
        };
        assert_eq!(round_grid_spaced(input, 22.0).len(), 1);
        assert_eq!(coarser(0.2), 0.5);
        assert_eq!(coarser(5.0), 10.0);
    }

    #[test]
    fn decimation_keeps_extremes_in_order() {
        let v: Vec<f64> = (0..10_000)
            .map(|i| if i == 4321 { -50.0 } else { (i % 7) as f64 })
            .collect();
        let d = decimate(&v);
        assert!(d.len() <= 2000);
        assert!(d.iter().any(|p| p[0] == 4321.0 && p[1] == -50.0));
        assert!(d.windows(2).all(|w| w[0][0] <= w[1][0]));
        assert_eq!(decimate(&[1.0, 2.0]), vec![[0.0, 1.0], [1.0, 2.0]]);
    }
}
