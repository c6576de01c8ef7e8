//! A minimal CPU canvas: filled rectangles, colormap gradients and anti-aliased text from the bundled fonts.

use crate::fonts::FontStack;
use crate::heatmap::{Colormap, Rgb};
use ab_glyph::{Font, ScaleFont, point};

/// A drawing operation, in device pixels.
pub enum Op {
    /// A filled rectangle [x0, y0, x1, y1).
    Rect { rect: [f32; 4], color: Rgb },
    /// The colormap from -1 (left) to +1 (right), or reversed when `flip`.
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
