//! A minimal CPU canvas: filled rectangles, colormap gradients and anti-aliased text from the bundled fonts; the
//! same operations also written as SVG.

use crate::fonts::FontStack;
use crate::heatmap::{Colormap, Rgb};
use ab_glyph::{Font, ScaleFont, point};

/// A drawing operation, in device pixels.
pub enum Op {
    /// A filled rectangle [x0, y0, x1, y1).
    Rect { rect: [f32; 4], color: Rgb },
    /// The colormap between two positions, left to right.
    Gradient {
        rect: [f32; 4],
        cmap: Colormap,
        /// Colormap positions ([-1, 1]) at the left and right ends.
        from: f64,
        to: f64,
    },
    /// One line of text whose top-left corner is (x, y).
    Text {
        x: f32,
        y: f32,
        size: f32,
        color: Rgb,
        text: String,
    },
}

/// The pixels.
pub struct Canvas {
    img: image::RgbaImage,
}

/// Height of one line of text at `size` pixels (the primary font's ascent - descent).
pub fn line_height(fonts: &FontStack, size: f32) -> f32 {
    fonts
        .primary()
        .map(|f| {
            let s = f.as_scaled(size);
            s.ascent() - s.descent()
        })
        .unwrap_or(size * 1.2)
}

/// Advance width of `text` at `size` pixels.
pub fn text_width(fonts: &FontStack, text: &str, size: f32) -> f32 {
    text.chars()
        .map(|c| match fonts.glyph(c) {
            Some((f, id)) => f.as_scaled(size).h_advance(id),
            None => 0.0,
        })
        .sum()
}

impl Canvas {
    /// A `w` x `h` canvas filled with `bg`.
    pub fn new(w: u32, h: u32, bg: Rgb) -> Self {
        Self {
            img: image::RgbaImage::from_pixel(
                w.max(1),
                h.max(1),
                image::Rgba([bg.0, bg.1, bg.2, 255]),
            ),
        }
    }

    /// The finished image.
    pub fn into_image(self) -> image::RgbaImage {
        self.img
    }

    /// Paints one operation.
    pub fn paint(&mut self, fonts: &FontStack, op: &Op) {
        match op {
            Op::Rect { rect, color } => self.fill(*rect, |_| *color),
            Op::Gradient {
                rect,
                cmap,
                from,
                to,
            } => {
                let (x0, x1) = (rect[0], rect[2]);
                let span = (x1 - x0).max(1.0);
                self.fill(*rect, |x| {
                    let f = f64::from((x as f32 + 0.5 - x0) / span);
                    cmap.at(from + (to - from) * f)
                });
            }
            Op::Text {
                x,
                y,
                size,
                color,
                text,
            } => self.text(fonts, *x, *y, *size, *color, text),
        }
    }

    fn fill(&mut self, rect: [f32; 4], color_at: impl Fn(u32) -> Rgb) {
        let (w, h) = self.img.dimensions();
        let x0 = rect[0].round().max(0.0) as u32;
        let y0 = rect[1].round().max(0.0) as u32;
        let x1 = (rect[2].round().max(0.0) as u32).min(w);
        let y1 = (rect[3].round().max(0.0) as u32).min(h);
        for x in x0..x1 {
            let c = color_at(x);
            for y in y0..y1 {
                self.img.put_pixel(x, y, image::Rgba([c.0, c.1, c.2, 255]));
            }
        }
    }

    fn text(&mut self, fonts: &FontStack, x: f32, y: f32, size: f32, color: Rgb, text: &str) {
        let Some(primary) = fonts.primary() else {
            return;
        };
        let baseline = y + primary.as_scaled(size).ascent();
        let mut pen = x;
        let (w, h) = self.img.dimensions();
        for c in text.chars() {
            let Some((font, id)) = fonts.glyph(c) else {
                continue;
            };
            let scaled = font.as_scaled(size);
            let glyph = id.with_scale_and_position(size, point(pen, baseline));
            pen += scaled.h_advance(id);
            let Some(outline) = font.outline_glyph(glyph) else {
                continue;
            };
            let bounds = outline.px_bounds();
            outline.draw(|gx, gy, coverage| {
                let px = bounds.min.x as i64 + i64::from(gx);
                let py = bounds.min.y as i64 + i64::from(gy);
                if px < 0 || py < 0 || px >= i64::from(w) || py >= i64::from(h) {
                    return;
                }
                let p = self.img.get_pixel_mut(px as u32, py as u32);
                let a = coverage.clamp(0.0, 1.0);
                let mix = |dst: u8, src: u8| {
                    (f32::from(dst) * (1.0 - a) + f32::from(src) * a).round() as u8
                };
                p.0 = [
                    mix(p.0[0], color.0),
                    mix(p.0[1], color.1),
                    mix(p.0[2], color.2),
                    255,
                ];
            });
        }
    }
}

fn hex(c: Rgb) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if (c as u32) < 0x20 && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// `ops` as an SVG document of `width` x `height` on `bg`. Text keeps the PNG's layout: each run is pinned to the
/// width the bundled fonts give it (`textLength`), in the bundled fonts' families.
pub fn svg(ops: &[Op], fonts: &FontStack, width: u32, height: u32, bg: Rgb) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">"#
    );
    let _ = writeln!(
        out,
        r#"<rect x="0" y="0" width="{width}" height="{height}" fill="{}"/>"#,
        hex(bg)
    );
    let ascent = |size: f32| {
        fonts
            .primary()
            .map_or(size * 0.8, |f| f.as_scaled(size).ascent())
    };
    let mut gradients = 0;
    for op in ops {
        match op {
            Op::Rect { rect, color } => {
                let _ = writeln!(
                    out,
                    r#"<rect x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}" fill="{}"/>"#,
                    rect[0],
                    rect[1],
                    (rect[2] - rect[0]).max(0.0),
                    (rect[3] - rect[1]).max(0.0),
                    hex(*color)
                );
            }
            Op::Gradient {
                rect,
                cmap,
                from,
                to,
            } => {
                let id = format!("g{gradients}");
                gradients += 1;
                let _ = write!(
                    out,
                    r#"<defs><linearGradient id="{id}" x1="0" x2="1" y1="0" y2="0">"#
                );
                for i in 0..=20 {
                    let f = f64::from(i) / 20.0;
                    let _ = write!(
                        out,
                        r#"<stop offset="{f:.2}" stop-color="{}"/>"#,
                        hex(cmap.at(from + (to - from) * f))
                    );
                }
                let _ = writeln!(out, "</linearGradient></defs>");
                let _ = writeln!(
                    out,
                    r#"<rect x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}" fill="url(#{id})"/>"#,
                    rect[0],
                    rect[1],
                    rect[2] - rect[0],
                    rect[3] - rect[1]
                );
            }
            Op::Text {
                x,
                y,
                size,
                color,
                text,
            } => {
                if text.is_empty() {
                    continue;
                }
                let w = text_width(fonts, text, *size);
                let _ = writeln!(
                    out,
                    r#"<text x="{x:.2}" y="{:.2}" font-size="{size:.2}" font-family="DejaVu Sans, Unifont, sans-serif" fill="{}" textLength="{w:.2}" lengthAdjust="spacingAndGlyphs" xml:space="preserve">{}</text>"#,
                    y + ascent(*size),
                    hex(*color),
                    xml_escape(text)
                );
            }
        }
    }
    out.push_str("</svg>\n");
    out
}
