//! The figure of [`Features`] for papers, drawn with the renderer of `creditlens render` (PNG and SVG from the same
//! drawing operations, bundled fonts, round ticks): horizontal bars of the table's first units, one bar per side
//! (their summed reward on it), then the mean r_t by relative position in the response, one bar per side and bin,
//! and the length bias in a closing line.

use super::{Features, Side};
use crate::error::{Error, Result};
use crate::fonts::FontStack;
use crate::heatmap::{Rgb, Theme};
use crate::render::canvas::{self, Canvas, Op};
use crate::render::{chip_text, fmt_num, fmt_tick, nice_ticks};

/// What the figure shows and how it looks.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartOptions {
    /// How many of the table's units get bars (in the table's order).
    pub top: usize,
    /// Light (paper) or dark.
    pub theme: Theme,
    /// Device pixels per logical pixel (2 for print).
    pub pixel_ratio: f32,
    /// Width in logical pixels.
    pub width: u32,
    /// The title line.
    pub title: String,
}

impl Default for ChartOptions {
    fn default() -> Self {
        Self {
            top: 20,
            theme: Theme::Light,
            pixel_ratio: 2.0,
            width: 900,
            title: String::new(),
        }
    }
}

/// One bar of the unit panel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChartBar {
    /// Index of the unit in [`Features::units`].
    pub unit: usize,
    /// Which side's sum it shows.
    pub side: Side,
    /// The summed reward drawn.
    pub value: f64,
    /// [x0, y0, x1, y1), device pixels.
    pub rect: [u32; 4],
}

/// One bar of the position panel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProfileBar {
    /// The bin.
    pub bin: usize,
    /// Which side.
    pub side: Side,
    /// The mean r_t drawn.
    pub value: f64,
    /// [x0, y0, x1, y1), device pixels.
    pub rect: [u32; 4],
}

/// A drawn figure and where its bars are.
pub struct Chart {
    /// The image (RGBA8).
    pub image: image::RgbaImage,
    /// The same figure as SVG.
    pub svg: String,
    /// The unit panel's bars.
    pub bars: Vec<ChartBar>,
    /// The position panel's bars.
    pub profile: Vec<ProfileBar>,
}

impl Chart {
    /// The image as PNG bytes.
    pub fn png(&self) -> Result<Vec<u8>> {
        let mut out = std::io::Cursor::new(Vec::new());
        self.image
            .write_to(&mut out, image::ImageFormat::Png)
            .map_err(|e| Error::Output(format!("cannot encode the PNG: {e}")))?;
        Ok(out.into_inner())
    }
}

/// The colour of a side's bars (Okabe-Ito, safe for colour-blind readers, on light and dark backgrounds):
/// chosen blue, rejected vermilion, unpaired responses bluish green.
pub fn side_colour(side: Side) -> Rgb {
    match side {
        Side::Chosen => Rgb(0, 114, 178),
        Side::Rejected => Rgb(213, 94, 0),
        Side::Response => Rgb(0, 158, 115),
    }
}

/// A unit's text as the figure shows it: white space made visible as in the heatmap, cut to 28 characters.
pub fn display_text(text: &str) -> String {
    let shown: String = chip_text(text)
        .segments
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    if shown.chars().count() > 28 {
        let mut cut: String = shown.chars().take(27).collect();
        cut.push('…');
        cut
    } else {
        shown
    }
}

/// A linear axis from `lo` to `hi` onto pixels `a..b`.
struct Axis {
    lo: f64,
    hi: f64,
    a: f32,
    b: f32,
}

impl Axis {
    /// The range of `values` with zero in it (never empty).
    fn around_zero(values: impl Iterator<Item = f64>, a: f32, b: f32) -> Self {
        let (mut lo, mut hi) = values
            .filter(|v| v.is_finite())
            .fold((0.0f64, 0.0f64), |(l, h), v| (l.min(v), h.max(v)));
        if hi - lo <= 0.0 {
            (lo, hi) = (-1.0, 1.0);
        }
        // Out to the round ticks around the data, so that no bar ends at the frame.
        if let [t0, t1, ..] = nice_ticks(lo, hi)[..] {
            let step = t1 - t0;
            if step > 0.0 {
                lo = (lo / step - 1e-9).floor() * step;
                hi = (hi / step + 1e-9).ceil() * step;
            }
        }
        Self { lo, hi, a, b }
    }

    fn at(&self, v: f64) -> f32 {
        let f = ((v - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0);
        self.a + (self.b - self.a) * f as f32
    }
}

/// Draws `features` (see the module documentation).
pub fn chart(features: &Features, opts: &ChartOptions) -> Result<Chart> {
    let fonts = FontStack::bundled();
    if fonts.is_empty() {
        return Err(Error::InvalidArgument(
            "the bundled fonts could not be read".into(),
        ));
    }
    let k = opts.pixel_ratio.clamp(0.5, 8.0);
    let width = (opts.width.clamp(400, 8000) as f32 * k).round() as u32;
    let (bg, fg, quiet, grid) = match opts.theme {
        Theme::Light => (
            Rgb(255, 255, 255),
            Rgb(25, 25, 25),
            Rgb(110, 110, 110),
            Rgb(228, 228, 228),
        ),
        Theme::Dark => (
            Rgb(24, 24, 24),
            Rgb(230, 230, 230),
            Rgb(150, 150, 150),
            Rgb(60, 60, 60),
        ),
    };
    let margin = 24.0 * k;
    let right = width as f32 - margin;
    let size = 13.0 * k;
    let small = 11.5 * k;
    let line = |s: f32| canvas::line_height(&fonts, s);
    let tw = |t: &str, s: f32| canvas::text_width(&fonts, t, s);
    let mut ops: Vec<Op> = Vec::new();
    let mut y = margin;
    let text = |ops: &mut Vec<Op>, x: f32, y: f32, s: f32, color: Rgb, t: String| {
        ops.push(Op::Text {
            x,
            y,
            size: s,
            color,
            text: t,
        });
    };

    // Title and legend.
    text(&mut ops, margin, y, 16.0 * k, fg, opts.title.clone());
    y += line(16.0 * k) + 6.0 * k;
    let sides: Vec<Side> = Side::ALL
        .into_iter()
        .filter(|&s| features.has_side(s))
        .collect();
    let mut lx = margin;
    for &side in &sides {
        let sq = 10.0 * k;
        let ty = y + (line(size) - sq) / 2.0;
        ops.push(Op::Rect {
            rect: [lx, ty, lx + sq, ty + sq],
            color: side_colour(side),
        });
        lx += sq + 5.0 * k;
        text(&mut ops, lx, y, size, fg, side.name().to_string());
        lx += tw(side.name(), size) + 16.0 * k;
    }
    y += line(size) + 10.0 * k;

    // The unit panel.
    let unit = features.unit.name();
    let shown: Vec<usize> = (0..features.units.len().min(opts.top)).collect();
    text(
        &mut ops,
        margin,
        y,
        size,
        fg,
        format!(
            "summed r_t per {unit} on each side ({} {unit}s sorted by {}{}, of {} with at least {} occurrence{})",
            shown.len(),
            features.options.sort.name(),
            if features.options.reverse {
                ", reversed"
            } else {
                ""
            },
            features.units.len(),
            features.options.min_count,
            if features.options.min_count == 1 {
                ""
            } else {
                "s"
            },
        ),
    );
    y += line(size) + 8.0 * k;
    let labels: Vec<String> = shown
        .iter()
        .map(|&i| display_text(&features.units[i].text))
        .collect();
    let label_w = labels
        .iter()
        .map(|l| tw(l, size))
        .fold(0.0f32, f32::max)
        .min((right - margin) * 0.4);
    let plot_a = margin + label_w + 10.0 * k;
    let plot_b = right;
    let values = shown
        .iter()
        .flat_map(|&i| sides.iter().map(move |&s| features.units[i].side(s).sum));
    let axis = Axis::around_zero(values, plot_a, plot_b);
    let bar_h = 7.0 * k;
    let group_h = bar_h * sides.len() as f32 + k * (sides.len().saturating_sub(1)) as f32;
    let row_h = group_h.max(line(size)) + 6.0 * k;
    let panel_top = y;
    let panel_bottom = y + row_h * shown.len().max(1) as f32;
    let ticks = nice_ticks(axis.lo, axis.hi);
    for &t in &ticks {
        let x = axis.at(t);
        ops.push(Op::Rect {
            rect: [x - 0.5 * k, panel_top, x + 0.5 * k, panel_bottom],
            color: grid,
        });
    }
    let zero = axis.at(0.0);
    let mut bars = Vec::new();
    for (row, &i) in shown.iter().enumerate() {
        let u = &features.units[i];
        let top = panel_top + row as f32 * row_h + (row_h - group_h) / 2.0;
        let label = &labels[row];
        let ly = panel_top + row as f32 * row_h + (row_h - line(size)) / 2.0;
        text(
            &mut ops,
            plot_a - 10.0 * k - tw(label, size),
            ly,
            size,
            fg,
            label.clone(),
        );
        for (j, &side) in sides.iter().enumerate() {
            let v = u.side(side).sum;
            let x = axis.at(v);
            let by = top + j as f32 * (bar_h + k);
            let rect = [zero.min(x), by, zero.max(x), by + bar_h];
            ops.push(Op::Rect {
                rect,
                color: side_colour(side),
            });
            bars.push(ChartBar {
                unit: i,
                side,
                value: v,
                rect: rect.map(|r| r.round().max(0.0) as u32),
            });
        }
    }
    ops.push(Op::Rect {
        rect: [zero - 0.5 * k, panel_top, zero + 0.5 * k, panel_bottom],
        color: quiet,
    });
    y = panel_bottom + 2.0 * k;
    x_ticks(&mut ops, &fonts, &axis, &ticks, y, small, fg, margin, width);
    y += 5.0 * k + line(small) + 4.0 * k;
    let caption = format!(
        "summed r_t over the {unit}'s occurrences (a {unit}'s r is the sum of its tokens' r_t)"
    );
    text(
        &mut ops,
        (plot_a + plot_b - tw(&caption, small)) / 2.0,
        y,
        small,
        quiet,
        caption,
    );
    y += line(small) + 22.0 * k;

    // The position panel.
    let bins = features.position.bins;
    text(
        &mut ops,
        margin,
        y,
        size,
        fg,
        format!(
            "mean r_t by relative position in the response ({bins} bins of (t + 1/2) / length; template and EOS tokens included)"
        ),
    );
    y += line(size) + 8.0 * k;
    let means: Vec<(usize, Side, f64)> = sides
        .iter()
        .flat_map(|&s| {
            features
                .position
                .side(s)
                .iter()
                .enumerate()
                .filter_map(move |(b, bin)| Some((b, s, bin.mean()?)))
        })
        .collect();
    let ph = 170.0 * k;
    let (top, bottom) = (y, y + ph);
    // A vertical axis: values map from bottom (lo) to top (hi).
    let vaxis = Axis::around_zero(means.iter().map(|m| m.2), bottom, top);
    let vticks = nice_ticks(vaxis.lo, vaxis.hi);
    let label_w = vticks
        .iter()
        .map(|&t| tw(&fmt_tick(t), small))
        .fold(0.0f32, f32::max);
    let (pa, pb) = (margin + label_w + 8.0 * k, right);
    for &t in &vticks {
        let vy = vaxis.at(t);
        ops.push(Op::Rect {
            rect: [pa, vy - 0.5 * k, pb, vy + 0.5 * k],
            color: grid,
        });
        let l = fmt_tick(t);
        text(
            &mut ops,
            pa - 6.0 * k - tw(&l, small),
            vy - line(small) / 2.0,
            small,
            fg,
            l,
        );
    }
    let group_w = (pb - pa) / bins.max(1) as f32;
    let bar_w = group_w * 0.8 / sides.len().max(1) as f32;
    let vzero = vaxis.at(0.0);
    let mut profile = Vec::new();
    for &(b, side, v) in &means {
        let j = sides.iter().position(|&s| s == side).unwrap_or(0);
        let x = pa + group_w * b as f32 + group_w * 0.1 + bar_w * j as f32;
        let vy = vaxis.at(v);
        let rect = [x, vzero.min(vy), x + bar_w, vzero.max(vy)];
        ops.push(Op::Rect {
            rect,
            color: side_colour(side),
        });
        profile.push(ProfileBar {
            bin: b,
            side,
            value: v,
            rect: rect.map(|r| r.round().max(0.0) as u32),
        });
    }
    ops.push(Op::Rect {
        rect: [pa, vzero - 0.5 * k, pb, vzero + 0.5 * k],
        color: quiet,
    });
    y = bottom + 2.0 * k;
    let xaxis = Axis {
        lo: 0.0,
        hi: 1.0,
        a: pa,
        b: pb,
    };
    x_ticks(
        &mut ops,
        &fonts,
        &xaxis,
        &nice_ticks(0.0, 1.0),
        y,
        small,
        fg,
        margin,
        width,
    );
    y += 5.0 * k + line(small) + 4.0 * k;
    let caption = "relative position in the response (0 = first token, 1 = last)".to_string();
    text(
        &mut ops,
        (pa + pb - tw(&caption, small)) / 2.0,
        y,
        small,
        quiet,
        caption,
    );
    y += line(small) + 16.0 * k;

    // Length bias, one line per side.
    text(
        &mut ops,
        margin,
        y,
        small,
        fg,
        "length bias: sequence reward R against the number of scored tokens (least squares, Pearson r)".into(),
    );
    y += line(small) + 3.0 * k;
    for &side in &sides {
        let f = features.length.side(side);
        let slope = f.slope.map_or("n/a".into(), fmt_num);
        let r = f.pearson.map_or("n/a".into(), |r| format!("{r:.2}"));
        text(
            &mut ops,
            margin + 12.0 * k,
            y,
            small,
            fg,
            format!(
                "{}: slope {slope} per token, r = {r} ({} responses, mean {:.1} tokens, mean R {})",
                side.name(),
                f.n,
                f.mean_tokens,
                fmt_num(f.mean_reward)
            ),
        );
        y += line(small) + 3.0 * k;
    }
    y += margin;

    let height = y.ceil() as u32;
    if u64::from(width) * u64::from(height) > 400_000_000 {
        return Err(Error::InvalidArgument(format!(
            "the chart would be {width}x{height} pixels; show fewer units or use a smaller pixel ratio"
        )));
    }
    let mut c = Canvas::new(width, height, bg);
    for op in &ops {
        c.paint(&fonts, op);
    }
    Ok(Chart {
        image: c.into_image(),
        svg: canvas::svg(&ops, &fonts, width, height, bg),
        bars,
        profile,
    })
}

/// Tick marks and labels of a horizontal axis at `y`.
#[allow(clippy::too_many_arguments)]
fn x_ticks(
    ops: &mut Vec<Op>,
    fonts: &FontStack,
    axis: &Axis,
    ticks: &[f64],
    y: f32,
    size: f32,
    color: Rgb,
    margin: f32,
    width: u32,
) {
    let k = size / 11.5;
    for &t in ticks {
        let x = axis.at(t);
        ops.push(Op::Rect {
            rect: [x - 0.5 * k, y, x + 0.5 * k, y + 4.0 * k],
            color,
        });
        let label = fmt_tick(t);
        let w = canvas::text_width(fonts, &label, size);
        ops.push(Op::Text {
            x: (x - w / 2.0).clamp(margin, width as f32 - margin - w),
            y: y + 5.0 * k,
            size,
            color,
            text: label,
        });
    }
}
