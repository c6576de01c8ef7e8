//! PNG heatmaps for papers: the tokens of one response or of a pair as wrapped chips coloured by a metric, with a
//! title, the sequence figures and a colour bar with numbers. The desktop app's export and `creditlens render` both
//! call [`render`], so the figure is the same from either; it needs no display or GPU.

pub(crate) mod canvas;
mod chips;

pub use chips::{ChipText, chip_text};

use crate::error::{Error, Result};
use crate::fonts::FontStack;
use crate::heatmap::{Colormap, Metric, Rgb, Scale, ScaleMode, Theme};
use crate::score::{RecordScore, TokenScore};
use canvas::Canvas;
use std::path::Path;

/// One response to draw.
#[derive(Debug, Clone)]
pub struct ResponseView<'a> {
    /// Heading above the chips ("chosen", "rejected", "response").
    pub label: String,
    /// Figures after the heading ("R = -1.234").
    pub summary: String,
    /// The scored tokens.
    pub tokens: &'a [TokenScore],
    /// Labelled error spans (characters of the response): their tokens are outlined, as in the app.
    pub error_spans: Vec<(usize, usize)>,
    /// Where a pair's texts differ (characters of the response): underlined, as in the app.
    pub diff_spans: Vec<(usize, usize)>,
}

/// What to draw.
#[derive(Debug, Clone)]
pub struct HeatmapSpec<'a> {
    /// Title line (the prompt, or a caption).
    pub title: String,
    /// One response, or chosen and rejected.
    pub responses: Vec<ResponseView<'a>>,
    /// Line under the responses (margin, sigmoid(margin), models); empty for none.
    pub footer: String,
    /// The metric the chips are coloured by.
    pub metric: Metric,
    /// The colour scale (shared by all responses, so a pair is comparable).
    pub scale: Scale,
}

/// Layout and look of the image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RenderOptions {
    /// Width in logical pixels (the image is `width * pixel_ratio` wide).
    pub width: u32,
    /// Device pixels per logical pixel (2 for print).
    pub pixel_ratio: f32,
    /// Light (paper) or dark.
    pub theme: Theme,
    /// Token text size in logical pixels.
    pub font_size: f32,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            width: 900,
            pixel_ratio: 2.0,
            theme: Theme::Light,
            font_size: 15.0,
        }
    }
}

/// Where a token was drawn (device pixels) and with which colour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBox {
    /// Index of the response in [`HeatmapSpec::responses`].
    pub response: usize,
    /// Index of the token in its response.
    pub token: usize,
    /// [x0, y0, x1, y1), device pixels.
    pub rect: [u32; 4],
    /// The chip's fill colour.
    pub fill: Rgb,
}

/// A rendered heatmap and where things are in it.
pub struct Rendered {
    /// The image (RGBA8).
    pub image: image::RgbaImage,
    /// Every token chip.
    pub boxes: Vec<TokenBox>,
    /// The colour bar's gradient, [x0, y0, x1, y1) device pixels; its ends are the metric's
    /// [`bar_range`](crate::heatmap::Metric::bar_range).
    pub colorbar: [u32; 4],
    /// The same figure as SVG (vector: rectangles, gradients and text, sized as in the PNG).
    pub svg: String,
}

const MARGIN: f32 = 24.0;
const CHIP_PAD_X: f32 = 3.0;
const CHIP_PAD_Y: f32 = 3.0;
const CHIP_GAP: f32 = 2.0;
const LINE_GAP: f32 = 4.0;

impl<'a> HeatmapSpec<'a> {
    /// The figure of a scored record: the prompt as title, each response with its sequence reward (a pair's
    /// differing words underlined), for a pair the margin and sigmoid(margin) below; one colour scale over all
    /// shown tokens.
    pub fn for_record(record: &'a RecordScore, metric: Metric, mode: ScaleMode) -> Self {
        Self::for_record_with_errors(record, metric, mode, &[])
    }

    /// [`HeatmapSpec::for_record`] with the labelled error spans of rejected (characters of its text, as
    /// `error_spans` in a data file) outlined.
    pub fn for_record_with_errors(
        record: &'a RecordScore,
        metric: Metric,
        mode: ScaleMode,
        error_spans: &[(usize, usize)],
    ) -> Self {
        let diff = match record {
            RecordScore::Pair(p) => {
                crate::textdiff::differing_spans(&p.chosen.text, &p.rejected.text)
            }
            RecordScore::Unpaired(_) => crate::textdiff::DiffSpans::default(),
        };
        let responses: Vec<ResponseView<'a>> = record
            .responses()
            .into_iter()
            .map(|(name, r)| {
                let (errors, diffs) = match name {
                    "rejected" => (r.locate_spans(error_spans), r.locate_spans(&diff.b)),
                    "chosen" => (Vec::new(), r.locate_spans(&diff.a)),
                    _ => (Vec::new(), Vec::new()),
                };
                ResponseView {
                    label: name.to_string(),
                    summary: format!(
                        "R = {:+.4}   ({} tokens, log pi = {:.3}, log pi_ref = {:.3})",
                        r.reward, r.num_tokens, r.logp_policy, r.logp_reference
                    ),
                    tokens: &r.tokens,
                    error_spans: errors,
                    diff_spans: diffs,
                }
            })
            .collect();
        let scale = Scale::resolve(
            mode,
            responses
                .iter()
                .flat_map(|r| r.tokens.iter().map(|t| metric.value(t))),
        );
        let (prompt, footer) = match record {
            RecordScore::Pair(p) => (
                p.prompt.as_str(),
                format!(
                    "margin R_chosen - R_rejected = {:+.4}   sigmoid(margin) = {:.4}",
                    p.margin, p.preference_prob
                ),
            ),
            RecordScore::Unpaired(u) => (u.prompt.as_str(), String::new()),
        };
        let mut title: String = prompt.trim().chars().take(400).collect();
        if prompt.trim().chars().count() > 400 {
            title.push('…');
        }
        Self {
            title,
            responses,
            footer,
            metric,
            scale,
        }
    }
}

/// Renders `spec`.
pub fn render(spec: &HeatmapSpec<'_>, opts: &RenderOptions) -> Result<Rendered> {
    let fonts = FontStack::bundled();
    if fonts.is_empty() {
        return Err(Error::InvalidArgument(
            "the bundled fonts could not be read".into(),
        ));
    }
    let k = opts.pixel_ratio.clamp(0.5, 8.0);
    let width = (opts.width.clamp(200, 8000) as f32 * k).round() as u32;
    let cmap = Colormap::for_theme(opts.theme);
    let (bg, fg, quiet) = match opts.theme {
        Theme::Light => (Rgb(255, 255, 255), Rgb(25, 25, 25), Rgb(120, 120, 120)),
        Theme::Dark => (Rgb(24, 24, 24), Rgb(230, 230, 230), Rgb(140, 140, 140)),
    };
    let size = opts.font_size.clamp(6.0, 72.0) * k;
    let title_size = size * 1.15;
    let small = size * 0.85;
    let margin = MARGIN * k;
    let right = width as f32 - margin;

    // Lay out first (to know the height), then paint.
    let mut ops: Vec<canvas::Op> = Vec::new();
    let mut boxes = Vec::new();
    let mut y = margin;
    let paragraph = Paragraph {
        x: margin,
        width: right - margin,
        gap: 2.0 * k,
        color: fg,
    };
    paragraph.push(&mut ops, &fonts, &spec.title, title_size, &mut y);
    y += 8.0 * k;
    let chip_h = fonts_line_height(&fonts, size) + 2.0 * CHIP_PAD_Y * k;
    for (ri, resp) in spec.responses.iter().enumerate() {
        let heading = if resp.summary.is_empty() {
            resp.label.clone()
        } else {
            format!("{}   {}", resp.label, resp.summary)
        };
        ops.push(canvas::Op::Text {
            x: margin,
            y,
            size: small,
            color: quiet,
            text: heading,
        });
        y += fonts_line_height(&fonts, small) + 4.0 * k;
        let mut x = margin;
        for (ti, tok) in resp.tokens.iter().enumerate() {
            let chip = chip_text(&tok.text);
            let text_w: f32 = chip
                .segments
                .iter()
                .map(|(s, _)| canvas::text_width(&fonts, s, size))
                .sum();
            let w = text_w + 2.0 * CHIP_PAD_X * k;
            if x > margin && x + w > right {
                x = margin;
                y += chip_h + LINE_GAP * k;
            }
            let value = spec.metric.value(tok);
            let fill = cmap.at(spec.metric.colormap_position(value, spec.scale.limit));
            let rect = [x, y, x + w, y + chip_h];
            ops.push(canvas::Op::Rect { rect, color: fill });
            let text_color = fill.text_on();
            if tok.template {
                // A token of the chat template (or a special token): dashes along its bottom edge, as in the app.
                let dash = blend(text_color, fill, 0.55);
                let mut dx = x;
                while dx < x + w {
                    let end = (dx + 3.0 * k).min(x + w);
                    ops.push(canvas::Op::Rect {
                        rect: [dx, y + chip_h - k, end, y + chip_h],
                        color: dash,
                    });
                    dx += 5.0 * k;
                }
            }
            if overlaps(tok, &resp.diff_spans) {
                // Where the pair's texts differ: a line under the chip.
                ops.push(canvas::Op::Rect {
                    rect: [x, y + chip_h + 0.5 * k, x + w, y + chip_h + 1.5 * k],
                    color: quiet,
                });
            }
            if overlaps(tok, &resp.error_spans) {
                // A labelled error: a frame around the chip.
                let t = 1.5 * k;
                let [x0, y0, x1, y1] = [x - t, y - t, x + w + t, y + chip_h + t];
                for r in [
                    [x0, y0, x1, y0 + t],
                    [x0, y1 - t, x1, y1],
                    [x0, y0, x0 + t, y1],
                    [x1 - t, y0, x1, y1],
                ] {
                    ops.push(canvas::Op::Rect { rect: r, color: fg });
                }
            }
            let mut tx = x + CHIP_PAD_X * k;
            for (s, is_quiet) in &chip.segments {
                let color = if *is_quiet {
                    blend(text_color, fill, 0.45)
                } else {
                    text_color
                };
                ops.push(canvas::Op::Text {
                    x: tx,
                    y: y + CHIP_PAD_Y * k,
                    size,
                    color,
                    text: s.clone(),
                });
                tx += canvas::text_width(&fonts, s, size);
            }
            boxes.push(TokenBox {
                response: ri,
                token: ti,
                rect: rect.map(|v| v.round().max(0.0) as u32),
                fill,
            });
            x += w + CHIP_GAP * k;
            if chip.breaks_line {
                x = margin;
                y += chip_h + LINE_GAP * k;
            }
        }
        y += chip_h + 14.0 * k;
    }
    if !spec.footer.is_empty() {
        paragraph.push(&mut ops, &fonts, &spec.footer, small, &mut y);
        y += 8.0 * k;
    }

    // Colour bar: a gradient over the metric's range (both signs, or neutral to red for a one-signed metric),
    // with five ticks, and what red means in words.
    let bar_w = (right - margin).min(420.0 * k);
    let bar_h = 12.0 * k;
    let limit = spec.scale.limit;
    let (lo, hi) = spec.metric.bar_range(limit);
    ops.push(canvas::Op::Text {
        x: margin,
        y,
        size: small,
        color: fg,
        text: format!("{} ({})", spec.metric.label(), spec.metric.red_means()),
    });
    y += fonts_line_height(&fonts, small) + 4.0 * k;
    let bar = [margin, y, margin + bar_w, y + bar_h];
    ops.push(canvas::Op::Gradient {
        rect: bar,
        cmap,
        from: spec.metric.colormap_position(lo, limit),
        to: spec.metric.colormap_position(hi, limit),
    });
    let tick_y = y + bar_h;
    for value in nice_ticks(lo, hi) {
        let f = (value - lo) / (hi - lo);
        let tx = margin + bar_w * f as f32;
        ops.push(canvas::Op::Rect {
            rect: [tx - 0.5 * k, tick_y, tx + 0.5 * k, tick_y + 4.0 * k],
            color: fg,
        });
        let label = fmt_tick(value);
        let lw = canvas::text_width(&fonts, &label, small);
        let lx = (tx - lw / 2.0).clamp(margin, width as f32 - margin - lw);
        ops.push(canvas::Op::Text {
            x: lx,
            y: tick_y + 5.0 * k,
            size: small,
            color: fg,
            text: label,
        });
    }
    y = tick_y + 5.0 * k + fonts_line_height(&fonts, small) + margin;

    // The figure is as wide as what it holds (a short pair leaves no empty right half).
    let used = ops
        .iter()
        .map(|op| match op {
            canvas::Op::Rect { rect, .. } | canvas::Op::Gradient { rect, .. } => rect[2],
            canvas::Op::Text { x, size, text, .. } => x + canvas::text_width(&fonts, text, *size),
        })
        .fold(0.0f32, f32::max);
    let width = ((used + margin).ceil() as u32).clamp(1, width);
    let height = y.ceil() as u32;
    if u64::from(width) * u64::from(height) > 400_000_000 {
        return Err(Error::InvalidArgument(format!(
            "the heatmap would be {width}x{height} pixels; export fewer tokens or a smaller --pixel-ratio"
        )));
    }
    let mut canvas = Canvas::new(width, height, bg);
    for op in &ops {
        canvas.paint(&fonts, op);
    }
    Ok(Rendered {
        image: canvas.into_image(),
        boxes,
        colorbar: bar.map(|v| v.round().max(0.0) as u32),
        svg: canvas::svg(&ops, &fonts, width, height, bg),
    })
}

/// Writes `rendered` as SVG at `path`; an existing file is kept unless `force`.
pub fn save_svg(rendered: &Rendered, path: &Path, force: bool) -> Result<()> {
    if path.exists() && !force {
        return Err(Error::InvalidArgument(format!(
            "{} already exists; choose another name or pass --force to overwrite it",
            path.display()
        )));
    }
    std::fs::write(path, &rendered.svg).map_err(|e| Error::io(path, e))
}

/// Writes `rendered` as a PNG at `path`; an existing file is kept unless `force`.
pub fn save_png(rendered: &Rendered, path: &Path, force: bool) -> Result<()> {
    if path.exists() && !force {
        return Err(Error::InvalidArgument(format!(
            "{} already exists; choose another name or pass --force to overwrite it",
            path.display()
        )));
    }
    rendered
        .image
        .save_with_format(path, image::ImageFormat::Png)
        .map_err(|e| Error::Output(format!("cannot write {}: {e}", path.display())))
}

/// Draws `scored` coloured by `metric` (labelled `errors` marked in rejected) and writes it to `path`: SVG when the
/// name ends in .svg, PNG when it ends in .png (any other name is refused); an existing file is kept unless
/// `force`. Returns the figure and its colour scale. What `creditlens render` and the Python package's `render` do.
pub fn write_figure(
    scored: &RecordScore,
    errors: &[(usize, usize)],
    (metric, scale): (Metric, ScaleMode),
    opts: &RenderOptions,
    path: &Path,
    force: bool,
) -> Result<(Rendered, Scale)> {
    let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase());
    let svg = match ext.as_deref() {
        Some("svg") => true,
        Some("png") => false,
        _ => {
            return Err(Error::InvalidArgument(format!(
                "{}: figures are written as PNG or SVG; end the name in .png or .svg",
                path.display()
            )));
        }
    };
    let spec = HeatmapSpec::for_record_with_errors(scored, metric, scale, errors);
    let rendered = render(&spec, opts)?;
    if svg {
        save_svg(&rendered, path, force)?;
    } else {
        save_png(&rendered, path, force)?;
    }
    Ok((rendered, spec.scale))
}

fn overlaps(t: &TokenScore, spans: &[(usize, usize)]) -> bool {
    spans.iter().any(|&(s, e)| t.start < e && s < t.end)
}

/// Round tick values between `a` and `b` (either order): multiples of 1, 2 or 5 times a power of ten, two to eight
/// of them, the ends included when they are round.
pub fn nice_ticks(a: f64, b: f64) -> Vec<f64> {
    let (lo, hi) = (a.min(b), a.max(b));
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) {
        return vec![a];
    }
    let e = (span / 4.0).log10().floor() as i32;
    // i * m * 10^e, divided rather than multiplied by a negative power so that 3 * 0.2 prints as 0.6.
    let scaled = |x: f64| {
        if e < 0 {
            x / 10f64.powi(-e)
        } else {
            x * 10f64.powi(e)
        }
    };
    let m = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .find(|&m| span / scaled(m) <= 7.0)
        .unwrap_or(10.0);
    let step = scaled(m);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    let mut ticks: Vec<f64> = (first..=last).map(|i| scaled(i as f64 * m)).collect();
    if a > b {
        ticks.reverse();
    }
    ticks
}

/// A tick label: [`fmt_num`] without trailing zeros (round ticks read as 0.05, not 0.0500).
pub fn fmt_tick(v: f64) -> String {
    let s = fmt_num(v);
    if s.contains('.') && !s.contains('e') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A number for axis labels: 3 significant digits, no exponent for everyday magnitudes.
pub fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        format!("{v:.2e}")
    } else {
        let decimals = (2 - a.log10().floor() as i32).clamp(0, 4) as usize;
        format!("{v:.decimals$}")
    }
}

fn fonts_line_height(fonts: &FontStack, size: f32) -> f32 {
    canvas::line_height(fonts, size)
}

fn blend(a: Rgb, b: Rgb, t: f32) -> Rgb {
    let f = |x: u8, y: u8| (f32::from(x) * (1.0 - t) + f32::from(y) * t).round() as u8;
    Rgb(f(a.0, b.0), f(a.1, b.1), f(a.2, b.2))
}

/// Where wrapped text goes: left edge, width, gap between lines, colour.
struct Paragraph {
    x: f32,
    width: f32,
    gap: f32,
    color: Rgb,
}

impl Paragraph {
    /// Adds `text` wrapped to the paragraph's width at `*y`, moving `*y` below it.
    fn push(
        &self,
        ops: &mut Vec<canvas::Op>,
        fonts: &FontStack,
        text: &str,
        size: f32,
        y: &mut f32,
    ) {
        for line in wrap_words(fonts, text, size, self.width) {
            ops.push(canvas::Op::Text {
                x: self.x,
                y: *y,
                size,
                color: self.color,
                text: line,
            });
            *y += fonts_line_height(fonts, size) + self.gap;
        }
    }
}

/// Splits `text` into lines no wider than `max` (at spaces; a long word is cut).
fn wrap_words(fonts: &FontStack, text: &str, size: f32, max: f32) -> Vec<String> {
    let mut lines = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        for word in para.split(' ') {
            let candidate = if line.is_empty() {
                word.to_string()
            } else {
                format!("{line} {word}")
            };
            if canvas::text_width(fonts, &candidate, size) <= max || line.is_empty() {
                line = candidate;
            } else {
                lines.push(std::mem::take(&mut line));
                line = word.to_string();
            }
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(nice_ticks(-0.131, 0.131), vec![-0.1, -0.05, 0.0, 0.05, 0.1]);
        assert_eq!(nice_ticks(0.0, 2.94), vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5]);
        assert_eq!(
            nice_ticks(0.0, -1.0),
            vec![0.0, -0.2, -0.4, -0.6, -0.8, -1.0]
        );
        for (a, b) in [(-3.7, 3.7), (0.0, 0.013), (0.0, 123.0), (-1e-6, 1e-6)] {
            let t = nice_ticks(a, b);
            assert!((2..=8).contains(&t.len()), "{a} {b}: {t:?}");
            assert!(
                t.iter().all(|v| v.abs() <= a.abs().max(b.abs()) + 1e-12),
                "{t:?}"
            );
        }
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(1.234_56), "1.23");
        assert_eq!(fmt_num(-0.05), "-0.0500");
        assert_eq!(fmt_num(123.4), "123");
        assert_eq!(fmt_num(1e-6), "1.00e-6");
        assert_eq!(fmt_tick(-0.05), "-0.05");
        assert_eq!(fmt_tick(2.5), "2.5");
        assert_eq!(fmt_tick(100.0), "100");
    }
}
