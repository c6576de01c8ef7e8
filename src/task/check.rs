//! The task's own checker: whether a free-form answer to one of its questions is right. It reads the question's
//! variables back from the prompt (by the family's prompt templates), computes the right answer from the
//! [`World`], and marks an answer correct when it states that fact and no other fact of the same kind (another
//! number, capital or profession). It judges generated answers in the beam-search experiment.

use super::templates::{CONVERSIONS, family};
use super::world::{PROFESSIONS, World};

/// The placeholders' values when `text` is an instance of `template` (`{name}` placeholders; each value is a run
/// of characters up to the next literal part).
fn match_template(template: &str, text: &str) -> Option<Vec<(String, String)>> {
    let mut vars = Vec::new();
    let mut rest_t = template;
    let mut rest = text;
    loop {
        match rest_t.find('{') {
            None => return (rest_t == rest).then_some(vars),
            Some(open) => {
                let literal = &rest_t[..open];
                rest = rest.strip_prefix(literal)?;
                let close = rest_t[open..].find('}')? + open;
                let name = rest_t[open + 1..close].to_string();
                rest_t = &rest_t[close + 1..];
                let next = rest_t.find('{').map_or(rest_t, |i| &rest_t[..i]);
                let end = if next.is_empty() {
                    rest.len()
                } else {
                    rest.find(next)?
                };
                vars.push((name, rest[..end].to_string()));
                rest = &rest[end..];
            }
        }
    }
}

/// The right answer to `prompt`, a question of family `kind` about `world`; `None` when the prompt is not one of
/// the family's questions (or names something the world does not have).
pub fn answer(world: &World, kind: &str, prompt: &str) -> Option<String> {
    let vars = family(kind)
        .prompts
        .iter()
        .find_map(|t| match_template(t, prompt))?;
    let var = |name: &str| {
        vars.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    match kind {
        "arithmetic" => Some((2 * var("n")?.parse::<u64>().ok()?).to_string()),
        "capital" => world.capital_of(var("country")?).map(str::to_string),
        "birth_year" => Some(world.person(var("person")?)?.birth_year.to_string()),
        "conversion" => {
            let n: u64 = var("n")?.parse().ok()?;
            let (from, to) = (var("from")?, var("to")?);
            let &(_, _, factor) = CONVERSIONS.iter().find(|c| c.0 == from && c.1 == to)?;
            Some((n * u64::from(factor)).to_string())
        }
        "profession" => Some(world.person(var("person")?)?.profession.clone()),
        _ => None,
    }
}

/// The words of `text` (runs of letters and digits).
fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Whether `response` answers `prompt` (family `kind`) right: it states the right answer and no other answer of
/// the kind (numbers other than those of the question, other capitals, other professions). `None` when the
/// prompt is not a question of the task.
pub fn is_correct(world: &World, kind: &str, prompt: &str, response: &str) -> Option<bool> {
    let right = answer(world, kind, prompt)?;
    let said = words(response);
    let asked = words(prompt);
    let stated: Vec<&str> = match kind {
        "arithmetic" | "conversion" | "birth_year" => said
            .iter()
            .copied()
            .filter(|w| w.chars().all(|c| c.is_ascii_digit()) && !asked.contains(w))
            .collect(),
        "capital" => said
            .iter()
            .copied()
            .filter(|w| world.countries().iter().any(|c| c.capital == *w))
            .collect(),
        _ => said
            .iter()
            .copied()
            .filter(|w| PROFESSIONS.contains(w))
            .collect(),
    };
    Some(!stated.is_empty() && stated.iter().all(|w| *w == right))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::{KINDS, generate};

    #[test]
    fn templates_match_back_their_variables() {
        let vars = match_template(
            "Q: Convert {n} {from} to {to}.\nA:",
            "Q: Convert 7 hours to minutes.\nA:",
        )
        .unwrap();
        assert_eq!(
            vars,
            vec![
                ("n".to_string(), "7".to_string()),
                ("from".to_string(), "hours".to_string()),
                ("to".to_string(), "minutes".to_string())
            ]
        );
        assert!(match_template("Q: What is twice {n}?\nA:", "Q: What is 3 doubled?\nA:").is_none());
    }

    /// Every chosen response of the task's own pairs is correct and every rejected one (one wrong fact) is not.
    #[test]
    fn chosen_answers_are_correct_and_rejected_ones_are_not() {
        let world = World::new(11);
        let pairs = generate(&world, 12, 400);
        let mut kinds = std::collections::BTreeSet::new();
        for p in &pairs {
            assert_eq!(
                is_correct(&world, &p.kind, &p.prompt, &p.chosen),
                Some(true),
                "{p:?}"
            );
            assert_eq!(
                is_correct(&world, &p.kind, &p.prompt, &p.rejected),
                Some(false),
                "{p:?}"
            );
            assert_eq!(
                is_correct(&world, &p.kind, &p.prompt, " I do not know."),
                Some(false)
            );
            kinds.insert(p.kind.clone());
        }
        assert_eq!(kinds.len(), KINDS.len());
        assert_eq!(
            is_correct(&world, "capital", "Q: Who are you?\nA:", "x"),
            None
        );
    }
}
