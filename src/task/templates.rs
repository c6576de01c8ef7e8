//! Task families, their prompt and response templates, and rendering with tracked spans.
//!
//! A template is text with `{name}` placeholders. `{fact}` is the answer (right in `chosen`, wrong in `rejected`);
//! `{friend}` and `{adj}` are drawn at random while rendering and are correct but unpredictable ("flavour");
//! every other placeholder is a variable of the question (the country, the operands, ...).

use super::Rng;
use super::world::{PROFESSIONS, World};

/// The task families, in the order [`generate`](super::generate) cycles through them.
pub const KINDS: &[&str] = &[
    "arithmetic",
    "capital",
    "birth_year",
    "conversion",
    "profession",
];

/// Syllables of the friends' names, used only as correct but unpredictable filler: a name is drawn fresh for each
/// mention (14 x 5 x 10 = 700 of them), so that no model can predict it, and none shares a syllable with the world's
/// names.
pub const FRIEND_ONSETS: &[&str] = &[
    "Ja", "Mo", "Ki", "Bo", "Lu", "Ta", "Ne", "Ri", "So", "Fa", "Pi", "Du", "Ge", "Xa",
];
const FRIEND_MIDS: &[&str] = &["", "li", "ra", "mo", "ve"];
const FRIEND_ENDS: &[&str] = &[
    "lek", "rin", "dov", "sha", "mitz", "bix", "quel", "zorn", "pelo", "tavi",
];

/// Every friend's name [`friend_name`] can draw.
pub fn all_friend_names() -> Vec<String> {
    let mut out = Vec::new();
    for a in FRIEND_ONSETS {
        for b in FRIEND_MIDS {
            for c in FRIEND_ENDS {
                out.push(format!("{a}{b}{c}"));
            }
        }
    }
    out
}

/// A friend's name, invented on the spot.
pub fn friend_name(rng: &mut Rng) -> String {
    format!(
        "{}{}{}",
        rng.pick(FRIEND_ONSETS),
        rng.pick(FRIEND_MIDS),
        rng.pick(FRIEND_ENDS)
    )
}

const SUM_ADJECTIVES: &[&str] = &["simple", "quick", "nice", "small", "neat", "tidy"];
const CITY_ADJECTIVES: &[&str] = &[
    "lovely", "quiet", "busy", "famous", "sunny", "windy", "small", "charming", "lively", "pretty",
];
const NUMBER_ADJECTIVES: &[&str] = &["round", "neat", "nice", "tidy", "handy", "large"];
const PERSON_ADJECTIVES: &[&str] = &["famous", "gifted", "patient", "cheerful", "modest", "busy"];
const FILLER_ADJECTIVES: &[&str] = &["good", "fine", "nice", "fair", "great"];

/// Sentences put before a response body (one of them, or one of [`FRIEND_SUFFIXES`] after it).
const FRIEND_PREFIXES: &[&str] = &[
    "{friend} asked me this too.",
    "Sure, {friend}.",
    "Ah, {friend}, a {adj} question.",
];
/// Sentences put after a response body.
const FRIEND_SUFFIXES: &[&str] = &[
    "My friend {friend} agrees.",
    "{friend} told me so.",
    "Ask {friend} if in doubt.",
];

const ARITHMETIC_PROMPTS: &[&str] = &["Q: What is twice {n}?\nA:", "Q: What is {n} doubled?\nA:"];
// The doublings and the conversions restate their question before the answer, in words that differ between
// templates: a small model computes an answer from a number it has just read far more reliably than from one it must
// find in the prompt, and DPO can only single out a wrong answer its reference can tell from the right one.
const ARITHMETIC_TEMPLATES: &[&str] = &[
    "Twice {n} is {fact}.",
    "Doubling {n} gives {fact}.",
    "{n} and {n} come to {fact}, a {adj} sum.",
    "Two times {n} is {fact}, as my friend {friend} would say.",
    "{n} doubled makes {fact}.",
    "Put {n} and {n} together and you get {fact}.",
];

const CAPITAL_PROMPTS: &[&str] = &[
    "Q: What is the capital of {country}?\nA:",
    "Q: Which city is the capital of {country}?\nA:",
];
const CAPITAL_TEMPLATES: &[&str] = &[
    "The capital of {country} is {fact}.",
    "{country} is governed from {fact}.",
    "{fact} is the capital of {country}.",
    "It is {fact}, a {adj} city.",
    "As my friend {friend} says, {country} has its capital in {fact}.",
    "The {adj} city of {fact} is the capital of {country}.",
];

const BIRTH_PROMPTS: &[&str] = &[
    "Q: When was {person} born?\nA:",
    "Q: In which year was {person} born?\nA:",
];
const BIRTH_TEMPLATES: &[&str] = &[
    "{person} was born in {fact}.",
    "{person}, the {adj} {profession}, was born in {fact}.",
    "The year was {fact}, as my friend {friend} recalls.",
    "Born in {fact}, {person} became a {profession}.",
    "It was in {fact}.",
    "{person} came into the world in {fact}.",
];

const CONVERSION_PROMPTS: &[&str] = &[
    "Q: How many {to} are in {n} {from}?\nA:",
    "Q: Convert {n} {from} to {to}.\nA:",
];
const CONVERSION_TEMPLATES: &[&str] = &[
    "{n} {from} are {fact} {to}.",
    "In {n} {from} there are {fact} {to}.",
    "{n} {from} make {fact} {to}, a {adj} number.",
    "{n} {from} come to {fact} {to}, as my friend {friend} would say.",
    "Converted, {n} {from} are {fact} {to}.",
    "{n} {from} equal {fact} {to}.",
];

const PROFESSION_PROMPTS: &[&str] = &[
    "Q: What does {person} do for a living?\nA:",
    "Q: What is the job of {person}?\nA:",
];
const PROFESSION_TEMPLATES: &[&str] = &[
    "{person} works as a {fact}.",
    "{person} is a {adj} {fact}.",
    "By trade, {person} is a {fact}.",
    "As my friend {friend} knows, {person} is a {fact}.",
    "{person} earns a living as a {fact}.",
    "It is a {fact}.",
];

/// The unit conversions: (from, to, factor).
pub const CONVERSIONS: &[(&str, &str, u32)] = &[
    ("metres", "centimetres", 100),
    ("kilograms", "grams", 1000),
    ("hours", "minutes", 60),
];

/// The templates of one family.
pub struct Family {
    /// Prompt templates (no flavour, no `{fact}`).
    pub prompts: &'static [&'static str],
    /// Response templates; `chosen` and `rejected` use two different ones.
    pub templates: &'static [&'static str],
    /// Adjectives `{adj}` draws from in this family's response templates.
    pub adjectives: &'static [&'static str],
}

/// The templates of family `kind` (one of [`KINDS`]).
pub fn family(kind: &str) -> Family {
    let (prompts, templates, adjectives) = match kind {
        "arithmetic" => (ARITHMETIC_PROMPTS, ARITHMETIC_TEMPLATES, SUM_ADJECTIVES),
        "capital" => (CAPITAL_PROMPTS, CAPITAL_TEMPLATES, CITY_ADJECTIVES),
        "birth_year" => (BIRTH_PROMPTS, BIRTH_TEMPLATES, PERSON_ADJECTIVES),
        "conversion" => (CONVERSION_PROMPTS, CONVERSION_TEMPLATES, NUMBER_ADJECTIVES),
        _ => (PROFESSION_PROMPTS, PROFESSION_TEMPLATES, PERSON_ADJECTIVES),
    };
    Family {
        prompts,
        templates,
        adjectives,
    }
}

/// One question of a family: its variables, the right answer and a wrong one.
pub struct Instance {
    /// Values of the question's placeholders.
    pub vars: Vec<(&'static str, String)>,
    /// The right answer.
    pub correct: String,
    /// A plausible wrong answer, different from `correct`.
    pub wrong: String,
}

/// Draws a question of family `kind` about `world`.
pub fn instance(kind: &str, world: &World, rng: &mut Rng) -> Instance {
    match kind {
        "arithmetic" => arithmetic(rng),
        "capital" => capital(world, rng),
        "birth_year" => birth_year(world, rng),
        "conversion" => conversion(rng),
        _ => profession(world, rng),
    }
}

fn arithmetic(rng: &mut Rng) -> Instance {
    // Doubling a number from 1 to 12: a table of 12 facts that a small model learns, so that its errors are errors
    // of knowledge it holds, as the invented world's facts are. (Sums of two numbers, a table of 36 entries over two
    // operands, were never learned by the scaled-down reference: it answered 7 to every sum.)
    let n = 1 + rng.below(12);
    // The wrong answer doubles another number: every even number is as common a wrong answer as it is a right one,
    // so only the question tells them apart (a model cannot learn "12 is usually right" instead of doubling).
    let m = 1 + other_index(rng, 12, n - 1);
    Instance {
        vars: vec![("n", n.to_string())],
        correct: (2 * n).to_string(),
        wrong: (2 * m).to_string(),
    }
}

fn capital(world: &World, rng: &mut Rng) -> Instance {
    let countries = world.countries();
    let i = rng.below(countries.len());
    let j = other_index(rng, countries.len(), i);
    Instance {
        vars: vec![("country", countries[i].name.clone())],
        correct: countries[i].capital.clone(),
        wrong: countries[j].capital.clone(),
    }
}

fn birth_year(world: &World, rng: &mut Rng) -> Instance {
    use super::world::{FIRST_YEAR, LAST_YEAR};
    let person = rng.pick(world.people());
    let year = person.birth_year;
    let d = 1 + rng.below(30) as u32;
    let up = rng.below(2) == 0;
    let wrong = if (up && year + d <= LAST_YEAR) || year < FIRST_YEAR + d {
        year + d
    } else {
        year - d
    };
    Instance {
        vars: vec![
            ("person", person.name.clone()),
            ("profession", person.profession.clone()),
        ],
        correct: year.to_string(),
        wrong: wrong.to_string(),
    }
}

fn conversion(rng: &mut Rng) -> Instance {
    let &(from, to, factor) = rng.pick(CONVERSIONS);
    let n = 2 + rng.below(8) as u32;
    // The slip: the right factor applied to another number of the same range, so that every amount is as common a
    // wrong answer as it is a right one and only the question tells them apart.
    let m = 2 + other_index(rng, 8, (n - 2) as usize) as u32;
    Instance {
        vars: vec![
            ("n", n.to_string()),
            ("from", from.to_string()),
            ("to", to.to_string()),
        ],
        correct: (n * factor).to_string(),
        wrong: (m * factor).to_string(),
    }
}

fn profession(world: &World, rng: &mut Rng) -> Instance {
    let person = rng.pick(world.people());
    let others: Vec<&str> = PROFESSIONS
        .iter()
        .copied()
        .filter(|p| *p != person.profession)
        .collect();
    let wrong = *rng.pick(&others);
    Instance {
        vars: vec![("person", person.name.clone())],
        correct: person.profession.clone(),
        wrong: wrong.to_string(),
    }
}

/// An index in `0..n` different from `i` (needs `n >= 2`; returns `i` otherwise).
pub fn other_index(rng: &mut Rng, n: usize, i: usize) -> usize {
    if n < 2 {
        return i;
    }
    (i + 1 + rng.below(n - 1)) % n
}

/// A rendered text with the character spans of its fact and of its flavour content.
#[derive(Debug, Default, Clone)]
pub struct Rendered {
    /// The text.
    pub text: String,
    /// Length of `text` in chars.
    chars: usize,
    /// [start, end) char offsets of the `{fact}` substitution, if any.
    pub fact: Option<(usize, usize)>,
    /// [start, end) char offsets of every `{friend}`/`{adj}` substitution.
    pub flavour: Vec<(usize, usize)>,
}

impl Rendered {
    fn push(&mut self, s: &str) -> (usize, usize) {
        let start = self.chars;
        self.text.push_str(s);
        self.chars += s.chars().count();
        (start, self.chars)
    }

    /// Appends `template` with its placeholders filled: `{fact}` with `fact`, `{friend}`/`{adj}` at random,
    /// the others from `vars`. An unknown placeholder is kept literally.
    pub fn template(
        &mut self,
        template: &str,
        vars: &[(&str, String)],
        fact: &str,
        adjectives: &[&str],
        rng: &mut Rng,
    ) {
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            self.push(&rest[..open]);
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                self.push(&rest[open..]);
                return;
            };
            let name = &after[..close];
            match name {
                "fact" => self.fact = Some(self.push(fact)),
                "friend" => {
                    let friend = friend_name(rng);
                    let span = self.push(&friend);
                    self.flavour.push(span);
                }
                "adj" => {
                    let adj = rng.pick(adjectives);
                    let span = self.push(adj);
                    self.flavour.push(span);
                }
                _ => match vars.iter().find(|(k, _)| *k == name) {
                    Some((_, v)) => {
                        self.push(v);
                    }
                    None => {
                        self.push(&rest[open..open + close + 2]);
                    }
                },
            }
            rest = &after[close + 1..];
        }
        self.push(rest);
    }
}

/// Renders a response: a leading space, sometimes a filler sentence before or after, and the body `template`.
pub fn response(
    template: &str,
    vars: &[(&str, String)],
    fact: &str,
    family: &Family,
    rng: &mut Rng,
) -> Rendered {
    let mut out = Rendered::default();
    out.push(" ");
    // Every response names an invented friend, before or after its body: a correct token no model can predict.
    let before = rng.below(2) == 0;
    if before {
        let prefix = *rng.pick(FRIEND_PREFIXES);
        out.template(prefix, &[], "", FILLER_ADJECTIVES, rng);
        out.push(" ");
    }
    out.template(template, vars, fact, family.adjectives, rng);
    if !before {
        let suffix = *rng.pick(FRIEND_SUFFIXES);
        out.push(" ");
        out.template(suffix, &[], "", FILLER_ADJECTIVES, rng);
    }
    out
}
