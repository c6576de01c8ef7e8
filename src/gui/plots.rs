//! Plots (egui_plot): per-token values and the cumulative reward of the shown responses, the drift of rewards
//! across training checkpoints with the `trainer_state.json` curves.

use super::worker::DriftPoint;
use crate::heatmap::Metric;
use crate::score::{RecordScore, ResponseScore};
use egui::{Color32, Ui};
use egui_plot::{AxisHints, Bar, BarChart, GridInput, GridMark, Line, Plot, PlotPoints};

/// Above this many tokens the per-token plot draws a line instead of bars.
const MAX_BARS: usize = 1000;

/// Bluish green and violet: chosen and rejected in every plot, hues away from the heatmap's red (suspicious) and
/// blue, so a series colour is never read as a reward.
pub const CHOSEN: Color32 = Color32::from_rgb(0, 158, 115);
/// See [`CHOSEN`].
pub const REJECTED: Color32 = Color32::from_rgb(148, 85, 200);
/// Mid grey: margins (readable on light and dark backgrounds).
pub const MARGIN: Color32 = Color32::from_rgb(128, 128, 128);

/// Grid lines at round values (1, 2 or 5 times a power of ten), up to eight over the visible range, all
/// labelled: egui_plot's default powers-of-ten grid labels a 12-token axis with only 0 and 10.
pub fn round_grid(input: GridInput) -> Vec<GridMark> {
    let (lo, hi) = input.bounds;
    let ticks = crate::render::nice_ticks(lo, hi);
    let step = match ticks.as_slice() {
        [a, b, ..] => (b - a).abs(),
        _ => (hi - lo).abs().max(f64::MIN_POSITIVE),
    };
    ticks
        .into_iter()
        .map(|value| GridMark {
            value,
            step_size: step,
        })
        .collect()
}

/// A tick's label with the digits its value needs: egui_plot's default derives them from the step rounded to a
/// power of ten, which labels ticks 0, 0.5 and 1 as "0", "0" and "1".
pub fn tick_label(mark: GridMark) -> String {
    crate::render::fmt_tick(mark.value)
}

/// A plot with round, labelled ticks on both axes, room for the y tick labels, and no legend over the data (the
/// series are named in a row above it, [`legend_row`]).
fn plot<'a>(id: &'a str, height: f32, x: &'a str, y: &'a str) -> Plot<'a> {
    Plot::new(id)
        .height(height)
        .x_grid_spacer(round_grid)
        .y_grid_spacer(round_grid)
        .custom_x_axes(vec![
            AxisHints::new_x()
                .label(x)
                .label_spacing(24.0..=36.0)
                .formatter(|m, _| tick_label(m)),
        ])
        .custom_y_axes(vec![
            AxisHints::new_y()
                .label(y)
                .label_spacing(14.0..=20.0)
                .formatter(|m, _| tick_label(m)),
        ])
        .y_axis_min_width(46.0)
        .allow_scroll(false)
}

/// The names of a plot's series in their colours, in a row above it.
fn legend_row(ui: &mut Ui, entries: &[(&str, Color32)]) {
    ui.horizontal(|ui| {
        for (name, c) in entries {
            ui.label(egui::RichText::new(format!("━ {name}")).color(*c));
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

/// Bars of the metric per token position, and the cumulative reward, for each shown response.
pub fn tokens(ui: &mut Ui, record: &RecordScore, metric: Metric, height: f32) {
    let responses = series(record);
    let n = responses.len().max(1) as f64;
    let names: Vec<(&str, Color32)> = responses.iter().map(|(n, _, c)| (*n, *c)).collect();
    legend_row(ui, &names);
    let height = (height - 24.0).max(80.0);
    ui.columns(2, |cols| {
        plot("per-token", height, "token position", metric.label()).show(&mut cols[0], |p| {
            let many = responses
                .iter()
                .map(|(_, r, _)| r.tokens.len())
                .max()
                .unwrap_or(0)
                > MAX_BARS;
            for (k, (name, r, c)) in responses.iter().enumerate() {
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
        plot("cumulative", height, "token position", "cumulative reward").show(&mut cols[1], |p| {
            for (name, r, c) in &responses {
                let values: Vec<f64> = r.tokens.iter().map(|t| t.cum_reward).collect();
                p.line(
                    Line::new(*name, PlotPoints::new(decimate(&values)))
                        .color(*c)
                        .width(2.0),
                );
            }
        });
    });
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

/// Mean rewards per checkpoint over the loaded pairs, next to the training log's own curves.
pub fn drift(ui: &mut Ui, points: &[DriftPoint], curves: &[TrainerCurve], height: f32) {
    legend_row(
        ui,
        &[
            ("chosen", CHOSEN),
            ("rejected", REJECTED),
            ("margin", MARGIN),
        ],
    );
    let height = (height - 24.0).max(80.0);
    ui.columns(2, |cols| {
        plot("drift", height, "training step", "mean implicit reward").show(&mut cols[0], |p| {
            let pick = |f: fn(&DriftPoint) -> f64| -> Vec<[f64; 2]> {
                points.iter().map(|d| [d.step as f64, f(d)]).collect()
            };
            p.line(
                Line::new("chosen", PlotPoints::new(pick(|d| d.chosen)))
                    .color(CHOSEN)
                    .width(2.0),
            );
            p.line(
                Line::new("rejected", PlotPoints::new(pick(|d| d.rejected)))
                    .color(REJECTED)
                    .width(2.0),
            );
            p.line(
                Line::new("margin", PlotPoints::new(pick(|d| d.margin)))
                    .color(MARGIN)
                    .width(2.0),
            );
        });
        plot(
            "trainer-state",
            height,
            "training step",
            "trainer_state.json (batch means)",
        )
        .show(&mut cols[1], |p| {
            for c in curves {
                let colour = match c.name.as_str() {
                    "rewards/chosen" => CHOSEN,
                    "rewards/rejected" => REJECTED,
                    _ => MARGIN,
                };
                p.line(Line::new(c.name.clone(), PlotPoints::new(c.points.clone())).color(colour));
            }
        });
    });
}

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
            round_grid(GridInput {
                bounds: (lo, hi),
                base_step_size: 1e-9,
            })
        };
        let x: Vec<f64> = marks(-0.5, 12.5).iter().map(|m| m.value).collect();
        assert_eq!(x, vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0]);
        let y = marks(-0.41, 0.13);
        assert!(
            y.len() >= 4 && y.iter().all(|m| (m.step_size - 0.1).abs() < 1e-12),
            "{y:?}"
        );
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
