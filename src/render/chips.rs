//! How a token's text is shown on a chip: whitespace made visible but quiet.

/// A token's text as drawn: segments with a "quiet" flag (visible whitespace), and whether the chip ends a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipText {
    /// (text, quiet) runs.
    pub segments: Vec<(String, bool)>,
    /// The token holds a newline: the next chip starts a new line.
    pub breaks_line: bool,
}

/// Shows spaces as `·`, tabs as `→` and newlines as `↵` (quiet), everything else as is. An empty token (an
/// appended EOS has text, but a stray empty piece may not) shows as `∅`.
pub fn chip_text(text: &str) -> ChipText {
    let mut segments: Vec<(String, bool)> = Vec::new();
    let mut breaks_line = false;
    for c in text.chars() {
        let (shown, quiet) = match c {
            ' ' => ('·', true),
            '\t' => ('→', true),
            '\n' => {
                breaks_line = true;
                ('↵', true)
            }
            '\r' => ('␍', true),
            c => (c, false),
        };
        match segments.last_mut() {
            Some((s, q)) if *q == quiet => s.push(shown),
            _ => segments.push((shown.to_string(), quiet)),
        }
    }
    if segments.is_empty() {
        segments.push(("∅".into(), true));
    }
    ChipText {
        segments,
        breaks_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_is_visible_and_quiet() {
        let c = chip_text(" Paris\n");
        assert_eq!(
            c.segments,
            vec![
                ("·".to_string(), true),
                ("Paris".to_string(), false),
                ("↵".to_string(), true)
            ]
        );
        assert!(c.breaks_line);
        assert!(!chip_text("x").breaks_line);
        assert_eq!(chip_text("").segments, vec![("∅".to_string(), true)]);
    }
}
