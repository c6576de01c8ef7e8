//! Diverging, colour-blind-safe colormaps centred on zero.
//!
//! Light theme: ColorBrewer's RdBu (red for negative values, blue for positive, near-white at zero), which stays
//! distinguishable under the common forms of colour blindness. Dark theme: the same two hues rising in lightness out
//! of a dark neutral centre, so that neutral tokens sink into the background in both themes.

use serde::{Deserialize, Serialize};

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    const fn hex(v: u32) -> Self {
        Self((v >> 16) as u8, (v >> 8) as u8, v as u8)
    }

    /// Relative luminance (WCAG), 0 (black) to 1 (white).
    pub fn luminance(self) -> f64 {
        let lin = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * lin(self.0) + 0.7152 * lin(self.1) + 0.0722 * lin(self.2)
    }

    /// Near-black or near-white, whichever reads better on this background.
    pub fn text_on(self) -> Rgb {
        if self.luminance() > 0.23 {
            Rgb(20, 20, 20)
        } else {
            Rgb(240, 240, 240)
        }
    }

    fn lerp(self, other: Rgb, t: f64) -> Rgb {
        let f = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round() as u8;
        Rgb(f(self.0, other.0), f(self.1, other.1), f(self.2, other.2))
    }
}

/// Light or dark surroundings; each has its own colormap and neutral colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Theme {
    /// Dark text on light paper (also the PNG export's default).
    #[default]
    Light,
    /// Light text on a dark background.
    Dark,
}

/// ColorBrewer RdBu, 11 classes, from -1 (dark red) to +1 (dark blue).
const RDBU: [Rgb; 11] = [
    Rgb::hex(0x67001f),
    Rgb::hex(0xb2182b),
    Rgb::hex(0xd6604d),
    Rgb::hex(0xf4a582),
    Rgb::hex(0xfddbc7),
    Rgb::hex(0xf7f7f7),
    Rgb::hex(0xd1e5f0),
    Rgb::hex(0x92c5de),
    Rgb::hex(0x4393c3),
    Rgb::hex(0x2166ac),
    Rgb::hex(0x053061),
];

/// The dark-theme counterpart: the same hues, lightness rising away from a dark grey centre.
const DARK: [Rgb; 11] = [
    Rgb::hex(0xffb199),
    Rgb::hex(0xf4845f),
    Rgb::hex(0xd6573a),
    Rgb::hex(0x9e3a2a),
    Rgb::hex(0x5e2a24),
    Rgb::hex(0x2b2b2b),
    Rgb::hex(0x233a52),
    Rgb::hex(0x2a5f8f),
    Rgb::hex(0x3f8ac4),
    Rgb::hex(0x72b4e6),
    Rgb::hex(0xb5dcf7),
];

/// A diverging colormap over [-1, 1] (values outside are clamped), centred on zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Colormap {
    stops: &'static [Rgb; 11],
}

impl Colormap {
    /// The colormap of `theme`.
    pub fn for_theme(theme: Theme) -> Self {
        match theme {
            Theme::Light => Self { stops: &RDBU },
            Theme::Dark => Self { stops: &DARK },
        }
    }

    /// The colour at `t` in [-1, 1] (clamped; NaN maps to the neutral centre).
    pub fn at(&self, t: f64) -> Rgb {
        let t = if t.is_nan() { 0.0 } else { t.clamp(-1.0, 1.0) };
        let x = (t + 1.0) * 5.0;
        let i = (x.floor() as usize).min(9);
        self.stops[i].lerp(self.stops[i + 1], x - i as f64)
    }

    /// The colour at zero.
    pub fn neutral(&self) -> Rgb {
        self.stops[5]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centre_ends_and_clamping() {
        for theme in [Theme::Light, Theme::Dark] {
            let c = Colormap::for_theme(theme);
            assert_eq!(c.at(0.0), c.neutral());
            assert_eq!(c.at(-1.0), c.stops[0]);
            assert_eq!(c.at(1.0), c.stops[10]);
            assert_eq!(c.at(-7.0), c.stops[0]);
            assert_eq!(c.at(f64::NAN), c.neutral());
            assert_eq!(c.at(0.1), c.stops[5].lerp(c.stops[6], 0.5));
        }
    }

    #[test]
    fn negative_is_red_positive_is_blue() {
        let c = Colormap::for_theme(Theme::Light);
        let (r, b) = (c.at(-0.8), c.at(0.8));
        assert!(r.0 > r.2 && b.2 > b.0);
    }

    #[test]
    fn text_contrasts_with_background() {
        assert_eq!(Rgb(255, 255, 255).text_on(), Rgb(20, 20, 20));
        assert_eq!(Rgb(0, 0, 0).text_on(), Rgb(240, 240, 240));
    }
}
