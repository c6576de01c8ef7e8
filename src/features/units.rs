//! Where a unit occurs in one response: its tokens and its reward.

use super::*;

/// One occurrence of a unit in a response.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitSpan {
    /// The unit's text (a word as written, a token's text, or an n-gram's words joined by one space).
    pub text: String,
    /// A word (also for tokens and n-grams of words), or a unit kept apart (white space, special/template).
    pub kind: UnitKind,
    /// Its tokens (indices into the response's tokens): from its first token to its last.
    pub tokens: Range<usize>,
    /// Its reward: the sum of r_t over its tokens (for an n-gram, over its words' tokens).
    pub reward: f64,
}

/// The occurrences of `unit` in a scored response, in order: for words and tokens every token is in exactly one
/// span; for n-grams, the kept-apart units are listed once each and every run of `min..=max` consecutive words
/// (not crossing a special or template token) is a span.
pub fn unit_spans(response: &ResponseScore, unit: FeatureUnit) -> Vec<UnitSpan> {
    let tokens = &response.tokens;
    let units = words(&response.text, tokens);
    let reward = |r: &Range<usize>| -> f64 {
        tokens
            .get(r.clone())
            .map_or(0.0, |ts| ts.iter().map(|t| t.reward).sum())
    };
    match unit {
        FeatureUnit::Word => units
            .into_iter()
            .map(|w| UnitSpan {
                reward: reward(&w.tokens),
                text: w.text,
                kind: w.kind,
                tokens: w.tokens,
            })
            .collect(),
        FeatureUnit::Token => units
            .iter()
            .flat_map(|w| w.tokens.clone().map(move |i| (i, w.kind)))
            .filter_map(|(i, kind)| {
                let t = tokens.get(i)?;
                Some(UnitSpan {
                    text: t.text.clone(),
                    kind,
                    tokens: i..i + 1,
                    reward: t.reward,
                })
            })
            .collect(),
        FeatureUnit::Ngram { min, max } => {
            let mut out = Vec::new();
            // Runs of words between special units; white space units neither join nor break them.
            let mut run: Vec<(String, Range<usize>, f64)> = Vec::new();
            let flush = |run: &mut Vec<(String, Range<usize>, f64)>, out: &mut Vec<UnitSpan>| {
                for start in 0..run.len() {
                    for n in min..=max {
                        let Some(gram) = run.get(start..start + n) else {
                            break;
                        };
                        let text = gram
                            .iter()
                            .map(|(t, _, _)| t.as_str())
                            .collect::<Vec<_>>()
                            .join(" ");
                        out.push(UnitSpan {
                            text,
                            kind: UnitKind::Word,
                            tokens: gram[0].1.start..gram[n - 1].1.end,
                            reward: gram.iter().map(|(_, _, r)| r).sum(),
                        });
                    }
                }
                run.clear();
            };
            for w in units {
                let r = reward(&w.tokens);
                match w.kind {
                    UnitKind::Word => run.push((w.text, w.tokens, r)),
                    kind => {
                        if kind == UnitKind::Special {
                            flush(&mut run, &mut out);
                        }
                        out.push(UnitSpan {
                            text: w.text,
                            kind,
                            tokens: w.tokens,
                            reward: r,
                        });
                    }
                }
            }
            flush(&mut run, &mut out);
            out
        }
    }
}
