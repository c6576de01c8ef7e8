//! Where two texts differ: a word-level longest-common-subsequence diff, for marking the spans where chosen and
//! rejected part ways.

/// Character spans `[start, end)` of two texts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffSpans {
    /// Spans of the first text.
    pub a: Vec<(usize, usize)>,
    /// Spans of the second text.
    pub b: Vec<(usize, usize)>,
}

/// The spans of `a` and of `b` that are not part of their longest common subsequence of words (a word keeps its
/// leading whitespace). Texts of more than 4,000 words each are compared only up to that many.
pub fn differing_spans(a: &str, b: &str) -> DiffSpans {
    const CAP: usize = 4000;
    let wa = words(a);
    let wb = words(b);
    let (na, nb) = (wa.len().min(CAP), wb.len().min(CAP));
    // lcs[i][j] = LCS length of wa[i..na] and wb[j..nb].
    let mut lcs = vec![0u32; (na + 1) * (nb + 1)];
    let at = |i: usize, j: usize| i * (nb + 1) + j;
    for i in (0..na).rev() {
        for j in (0..nb).rev() {
            lcs[at(i, j)] = if wa[i].2 == wb[j].2 {
                lcs[at(i + 1, j + 1)] + 1
            } else {
                lcs[at(i + 1, j)].max(lcs[at(i, j + 1)])
            };
        }
    }
    let (mut keep_a, mut keep_b) = (vec![false; wa.len()], vec![false; wb.len()]);
    let (mut i, mut j) = (0, 0);
    while i < na && j < nb {
        if wa[i].2 == wb[j].2 {
            keep_a[i] = true;
            keep_b[j] = true;
            i += 1;
            j += 1;
        } else if lcs[at(i + 1, j)] >= lcs[at(i, j + 1)] {
            i += 1;
        } else {
            j += 1;
        }
    }
    DiffSpans {
        a: spans(&wa, &keep_a),
        b: spans(&wb, &keep_b),
    }
}

/// (start, end, text) of each word with its leading whitespace, in characters.
fn words(s: &str) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    let mut in_word = false;
    for (pos, c) in s.chars().enumerate() {
        if c.is_whitespace() && in_word {
            let len = cur.chars().count();
            out.push((start, start + len, std::mem::take(&mut cur)));
            start = pos;
            in_word = false;
        }
        if !c.is_whitespace() {
            in_word = true;
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        let len = cur.chars().count();
        out.push((start, start + len, cur));
    }
    out
}

fn spans(words: &[(usize, usize, String)], keep: &[bool]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut previous_changed = false;
    for (w, &k) in words.iter().zip(keep) {
        if k {
            previous_changed = false;
            continue;
        }
        match out.last_mut() {
            // Consecutive changed words make one span (their whitespace included).
            Some(last) if previous_changed => last.1 = w.1,
            // Leave the leading whitespace out of a new span.
            _ => {
                let lead = w.2.chars().take_while(|c| c.is_whitespace()).count();
                out.push((w.0 + lead, w.1));
            }
        }
        previous_changed = true;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_the_changed_words() {
        let d = differing_spans(" Paris is the capital.", " Lyon is the capital.");
        assert_eq!(d.a, vec![(1, 6)]);
        assert_eq!(d.b, vec![(1, 5)]);
    }

    #[test]
    fn identical_and_disjoint() {
        assert_eq!(differing_spans("a b", "a b"), DiffSpans::default());
        let d = differing_spans("x y", "z");
        assert_eq!(d.a, vec![(0, 3)]);
        assert_eq!(d.b, vec![(0, 1)]);
    }

    #[test]
    fn counts_characters_not_bytes() {
        assert_eq!(differing_spans("é b", "é c").a, vec![(2, 3)]);
    }
}
