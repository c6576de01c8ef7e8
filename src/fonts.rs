//! The bundled fonts, shared by the desktop app and the PNG renderer so that any Unicode text draws the same in
//! both: DejaVu Sans for Latin, Greek and Cyrillic, then GNU Unifont (every character of the Basic Multilingual
//! Plane) and Unifont Upper (the other planes, emoji included) for whatever DejaVu lacks.
//! Licences: `assets/fonts/LICENSES.md`.

use ab_glyph::{Font, FontRef, GlyphId};

/// DejaVu Sans (Bitstream Vera licence).
pub const DEJAVU_SANS: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
/// GNU Unifont, Basic Multilingual Plane (SIL OFL 1.1 / GPL-2+ with the font embedding exception).
pub const UNIFONT: &[u8] = include_bytes!("../assets/fonts/unifont.otf");
/// GNU Unifont Upper: planes 1 and up.
pub const UNIFONT_UPPER: &[u8] = include_bytes!("../assets/fonts/unifont_upper.otf");

/// The fonts in fallback order, with their names (for egui's font definitions).
pub const FALLBACK_CHAIN: [(&str, &[u8]); 3] = [
    ("DejaVuSans", DEJAVU_SANS),
    ("Unifont", UNIFONT),
    ("UnifontUpper", UNIFONT_UPPER),
];

/// The bundled fonts parsed for rasterising, in fallback order.
pub struct FontStack {
    fonts: Vec<FontRef<'static>>,
}

impl FontStack {
    /// Parses the bundled fonts (they are checked by the test suite, so this cannot fail on a built binary; a
    /// font that does not parse is left out rather than aborting).
    pub fn bundled() -> Self {
        let fonts = FALLBACK_CHAIN
            .iter()
            .filter_map(|(_, bytes)| FontRef::try_from_slice(bytes).ok())
            .collect();
        Self { fonts }
    }

    /// Number of usable fonts.
    pub fn len(&self) -> usize {
        self.fonts.len()
    }

    /// Whether no font could be parsed.
    pub fn is_empty(&self) -> bool {
        self.fonts.is_empty()
    }

    /// The first font that has a glyph for `c`, with that glyph (the primary font's "missing glyph" box if none
    /// does).
    pub fn glyph(&self, c: char) -> Option<(&FontRef<'static>, GlyphId)> {
        for f in &self.fonts {
            let id = f.glyph_id(c);
            if id.0 != 0 {
                return Some((f, id));
            }
        }
        self.fonts.first().map(|f| (f, f.glyph_id(c)))
    }

    /// Whether some bundled font covers `c`.
    pub fn covers(&self, c: char) -> bool {
        self.fonts.iter().any(|f| f.glyph_id(c).0 != 0)
    }

    /// The primary font (metrics of a line come from it).
    pub fn primary(&self) -> Option<&FontRef<'static>> {
        self.fonts.first()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_fonts_parse_and_cover_many_scripts() {
        let stack = FontStack::bundled();
        assert_eq!(stack.len(), 3);
        for c in [
            'a', 'é', 'Ж', 'λ', 'ا', 'א', '中', '日', '한', 'ก', '→', '·', '↵', '😀', '𝔸',
        ] {
            assert!(stack.covers(c), "no bundled font covers {c:?}");
        }
    }
}
