//! The synthetic preference task with labelled errors.
//!
//! Questions about an invented [`World`] (capitals, birth years, professions), doublings of 1 to 12 and unit
//! conversions. Each [`LabelledPair`] has a correct `chosen` response and a `rejected` one, written
//! with a different template, that states exactly one wrong fact; `error_spans` marks that fact. Every response names
//! an invented friend (drawn afresh for each mention) and some carry a free adjective: correct but unpredictable
//! content, so surprisal alone is a poor error detector. Everything is deterministic in its seeds.

pub mod check;
mod templates;
mod world;

pub use crate::rng::Rng;
use serde::{Deserialize, Serialize};

pub use templates::{CONVERSIONS, FRIEND_ONSETS, KINDS, all_friend_names, friend_name};
pub use world::{
    Country, FIRST_YEAR, LAST_YEAR, N_COUNTRIES, N_PEOPLE, PROFESSIONS, Person, World,
};

/// One preference pair with its labelled error.
///
/// Serialised with serde_json it is a TRL standard preference record plus two extras:
/// `{"prompt", "chosen", "rejected", "error_spans": [[s, e]], "kind"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelledPair {
    /// The question, ending in "A:".
    pub prompt: String,
    /// The correct response (starts with a space).
    pub chosen: String,
    /// The response with one wrong fact (starts with a space).
    pub rejected: String,
    /// [start, end) character (Unicode scalar) offsets of the error in `rejected`; exactly one span.
    pub error_spans: Vec<(usize, usize)>,
    /// Which task family produced it: "arithmetic", "capital", "birth_year", "conversion" or "profession".
    pub kind: String,
}

/// A pair with what was used to build it (for tests and inspection).
#[derive(Debug, Clone)]
#[cfg_attr(not(test), allow(dead_code))]
struct Detailed {
    pair: LabelledPair,
    /// The right answer, as written in `chosen`.
    correct: String,
    /// Index of the chosen and the rejected response template in the family.
    templates: (usize, usize),
    /// Span of the right answer in `chosen`.
    chosen_fact: (usize, usize),
    /// Spans of flavour content in `chosen`.
    chosen_flavour: Vec<(usize, usize)>,
    /// Spans of flavour content in `rejected`.
    rejected_flavour: Vec<(usize, usize)>,
}

/// `n` pairs drawn with `seed` from `world`.
///
/// The families come in shuffled blocks of one each, so they are mixed evenly; a different `seed` with the same
/// `world` gives a held-out split about the same facts.
pub fn generate(world: &World, seed: u64, n: usize) -> Vec<LabelledPair> {
    generate_with(world, seed, n, Wording::Different)
}

/// How the two responses of a pair are worded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wording {
    /// Different templates (the held-out pairs always are), so the error is not simply the textual difference.
    Different,
    /// The same template (fillers and free content still drawn independently), so the pair differs mainly in the
    /// fact: near-minimal pairs, for training.
    Same,
}

/// [`generate`] with a choice of [`Wording`].
pub fn generate_with(world: &World, seed: u64, n: usize, wording: Wording) -> Vec<LabelledPair> {
    generate_detailed(world, seed, n, wording)
        .into_iter()
        .map(|d| d.pair)
        .collect()
}

fn generate_detailed(world: &World, seed: u64, n: usize, wording: Wording) -> Vec<Detailed> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(n);
    let mut block: Vec<&str> = Vec::new();
    while out.len() < n {
        if block.is_empty() {
            block = KINDS.to_vec();
            rng.shuffle(&mut block);
        }
        let kind = block.remove(0);
        if let Some(d) = one(world, kind, &mut rng, wording) {
            out.push(d);
        }
    }
    out
}

/// One pair of family `kind`; `None` only if the templates failed to place the fact (never, for the built-in ones).
fn one(world: &World, kind: &str, rng: &mut Rng, wording: Wording) -> Option<Detailed> {
    let family = templates::family(kind);
    let inst = templates::instance(kind, world, rng);
    let mut prompt = templates::Rendered::default();
    let prompt_template = rng.pick(family.prompts);
    prompt.template(prompt_template, &inst.vars, "", &[], rng);
    let ci = rng.below(family.templates.len());
    let ri = templates::other_index(rng, family.templates.len(), ci);
    let ri = if wording == Wording::Same { ci } else { ri };
    let chosen = templates::response(
        family.templates[ci],
        &inst.vars,
        &inst.correct,
        &family,
        rng,
    );
    let rejected = templates::response(family.templates[ri], &inst.vars, &inst.wrong, &family, rng);
    let chosen_fact = chosen.fact?;
    let error = rejected.fact?;
    Some(Detailed {
        pair: LabelledPair {
            prompt: prompt.text,
            chosen: chosen.text,
            rejected: rejected.text,
            error_spans: vec![error],
            kind: kind.to_string(),
        },
        correct: inst.correct,
        templates: (ci, ri),
        chosen_fact,
        chosen_flavour: chosen.flavour,
        rejected_flavour: rejected.flavour,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(s: &str, (a, b): (usize, usize)) -> String {
        s.chars().skip(a).take(b - a).collect()
    }

    fn overlaps((a, b): (usize, usize), (c, d): (usize, usize)) -> bool {
        a < d && c < b
    }

    /// The right answer, worked out from the prompt and the world independently of the generator.
    fn right_answer(world: &World, pair: &LabelledPair) -> String {
        let q = pair
            .prompt
            .trim_start_matches("Q: ")
            .trim_end_matches("\nA:")
            .trim_end_matches(['?', '.']);
        let words: Vec<&str> = q.split(' ').collect();
        match pair.kind.as_str() {
            "arithmetic" => {
                let n: u32 = words.iter().find_map(|w| w.parse().ok()).unwrap();
                assert!(q.contains("twice") || q.contains("doubled"), "{q}");
                (2 * n).to_string()
            }
            "capital" => {
                let country = words.last().unwrap();
                world.capital_of(country).unwrap().to_string()
            }
            "birth_year" | "profession" => {
                let person = world.people().iter().find(|p| q.contains(&p.name)).unwrap();
                if pair.kind == "birth_year" {
                    person.birth_year.to_string()
                } else {
                    person.profession.clone()
                }
            }
            "conversion" => {
                let n: u32 = words.iter().find_map(|w| w.parse().ok()).unwrap();
                let (_, _, f) = CONVERSIONS
                    .iter()
                    .find(|(from, to, _)| q.contains(from) && q.contains(to))
                    .unwrap();
                (n * f).to_string()
            }
            k => panic!("kind {k}"),
        }
    }

    #[test]
    fn spans_mark_the_wrong_fact() {
        let world = World::new(7);
        for d in generate_detailed(&world, 1, 500, Wording::Different) {
            let p = &d.pair;
            assert_eq!(p.error_spans.len(), 1);
            let span = p.error_spans[0];
            assert!(
                span.0 < span.1 && span.1 <= p.rejected.chars().count(),
                "{p:?}"
            );
            let wrong = slice(&p.rejected, span);
            let right = right_answer(&world, p);
            assert_eq!(right, d.correct, "{p:?}");
            assert_ne!(wrong, right, "{p:?}");
            assert_eq!(slice(&p.chosen, d.chosen_fact), right, "{p:?}");
            // The wrong fact is a whole word, not part of one.
            let before = p.rejected.chars().nth(span.0 - 1);
            let after = p.rejected.chars().nth(span.1);
            assert!(!before.is_some_and(|c| c.is_alphanumeric()), "{p:?}");
            assert!(!after.is_some_and(|c| c.is_alphanumeric()), "{p:?}");
            match p.kind.as_str() {
                "arithmetic" => {
                    let w: i64 = wrong.parse().unwrap();
                    let r: i64 = right.parse().unwrap();
                    assert!((2..=24).contains(&r) && r % 2 == 0, "{p:?}");
                    assert!((2..=24).contains(&w) && w % 2 == 0 && w != r, "{p:?}");
                }
                "capital" => {
                    let other = world
                        .countries()
                        .iter()
                        .find(|c| c.capital == wrong)
                        .unwrap();
                    assert_ne!(world.capital_of(&other.name), Some(right.as_str()));
                    assert!(!p.rejected.contains(&right));
                }
                "birth_year" => {
                    let w: u32 = wrong.parse().unwrap();
                    let r: u32 = right.parse().unwrap();
                    assert!((1..=30).contains(&w.abs_diff(r)));
                    assert!((FIRST_YEAR..=LAST_YEAR).contains(&w));
                }
                "conversion" => {
                    let w: u32 = wrong.parse().unwrap();
                    let r: u32 = right.parse().unwrap();
                    let &(_, _, factor) = CONVERSIONS
                        .iter()
                        .find(|(_, to, _)| p.prompt.contains(to))
                        .unwrap();
                    assert!(w.is_multiple_of(factor) && (2..=9).contains(&(w / factor)) && w != r);
                }
                "profession" => {
                    assert!(PROFESSIONS.contains(&wrong.as_str()));
                }
                k => panic!("kind {k}"),
            }
            // Flavour content never overlaps the error or the right answer.
            for f in &d.rejected_flavour {
                assert!(!overlaps(*f, span), "{p:?}");
            }
            for f in &d.chosen_flavour {
                assert!(!overlaps(*f, d.chosen_fact), "{p:?}");
            }
        }
    }

    #[test]
    fn pairs_are_well_formed() {
        let world = World::new(3);
        let mut flavoured = 0;
        let names: Vec<String> = all_friend_names().iter().map(|n| format!(" {n}")).collect();
        for d in generate_detailed(&world, 11, 500, Wording::Different) {
            let p = &d.pair;
            assert_ne!(p.chosen, p.rejected);
            assert_ne!(d.templates.0, d.templates.1);
            assert_eq!(p.error_spans.len(), 1);
            assert!(p.prompt.starts_with("Q: ") && p.prompt.ends_with("\nA:"));
            for r in [&p.chosen, &p.rejected] {
                assert!(r.starts_with(' ') && !r.starts_with("  "), "{r:?}");
                assert!(
                    r.is_ascii() && !r.contains('{') && !r.contains('}'),
                    "{r:?}"
                );
                assert!(r.split_whitespace().count() < 30, "{r:?}");
                assert!(p.prompt.len() + r.len() < 160, "{r:?}");
            }
            if !d.chosen_flavour.is_empty() || !d.rejected_flavour.is_empty() {
                flavoured += 1;
            }
            // Every response names a friend, one of the names the tokenizer can hold whole.
            for r in [&p.chosen, &p.rejected] {
                assert!(names.iter().any(|n| r.contains(n.as_str())), "{r:?}");
            }
        }
        assert_eq!(flavoured, 500);
    }

    #[test]
    fn minimal_pairs_share_the_template() {
        let world = World::new(4);
        for d in generate_detailed(&world, 3, 200, Wording::Same) {
            assert_eq!(d.templates.0, d.templates.1);
            assert_ne!(d.pair.chosen, d.pair.rejected);
            assert_eq!(d.pair.error_spans.len(), 1);
        }
        // The default wording is unchanged by the option's existence.
        assert_eq!(
            generate(&world, 3, 50),
            generate_with(&world, 3, 50, Wording::Different)
        );
    }

    #[test]
    fn deterministic_in_the_seed() {
        let world = World::new(5);
        assert_eq!(world, World::new(5));
        assert_ne!(world, World::new(6));
        let a = generate(&world, 42, 100);
        assert_eq!(a, generate(&world, 42, 100));
        assert_ne!(a, generate(&world, 43, 100));
        // A fixed value pins the generator across machines and versions.
        let mut rng = Rng::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn families_mixed_evenly() {
        let world = World::new(1);
        let pairs = generate(&world, 2, 200);
        assert_eq!(pairs.len(), 200);
        for kind in KINDS {
            let count = pairs.iter().filter(|p| p.kind == *kind).count();
            assert_eq!(count, 40, "{kind}");
        }
    }

    #[test]
    fn world_names_are_unique() {
        let world = World::new(9);
        assert_eq!(world.countries().len(), N_COUNTRIES);
        assert_eq!(world.people().len(), N_PEOPLE);
        let mut names: Vec<&str> = world
            .countries()
            .iter()
            .flat_map(|c| [c.name.as_str(), c.capital.as_str()])
            .chain(world.people().iter().map(|p| p.name.as_str()))
            .collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
        for p in world.people() {
            assert!((FIRST_YEAR..=LAST_YEAR).contains(&p.birth_year));
            assert!(!FRIEND_ONSETS.iter().any(|f| p.name.starts_with(f)));
        }
    }

    #[test]
    fn json_is_a_trl_pair_with_spans() {
        let world = World::new(1);
        let pair = generate(&world, 1, 1).remove(0);
        let v: serde_json::Value = serde_json::to_value(&pair).unwrap();
        let obj = v.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(|k| k.as_str()).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["chosen", "error_spans", "kind", "prompt", "rejected"]
        );
        let spans = obj["error_spans"].as_array().unwrap();
        assert_eq!(spans.len(), 1);
        let span = spans[0].as_array().unwrap();
        assert_eq!(span.len(), 2);
        assert!(span.iter().all(|x| x.is_u64()));
        let back: LabelledPair = serde_json::from_value(v).unwrap();
        assert_eq!(back, pair);
    }
}
