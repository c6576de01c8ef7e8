//! The invented knowledge base: countries with capitals, people with birth years and professions.

use super::Rng;

/// Number of invented countries in every [`World`].
pub const N_COUNTRIES: usize = 24;
/// Number of invented people in every [`World`].
pub const N_PEOPLE: usize = 24;
/// Earliest birth year of an invented person.
pub const FIRST_YEAR: u32 = 1800;
/// Latest birth year of an invented person.
pub const LAST_YEAR: u32 = 1999;

/// The professions people can have (all start with a consonant, so "a baker" always reads right).
pub const PROFESSIONS: &[&str] = &[
    "baker",
    "painter",
    "sailor",
    "farmer",
    "doctor",
    "teacher",
    "potter",
    "weaver",
    "miller",
    "tailor",
    "carpenter",
    "singer",
];

const COUNTRY_ONSETS: &[&str] = &[
    "Vel", "Kal", "Dra", "Bel", "Sor", "Zan", "Fen", "Gal", "Hes", "Lum", "Nor", "Ost", "Pra",
    "Ril", "Quen", "Yor",
];
const COUNTRY_MIDS: &[&str] = &["o", "a", "e", "i", "u", ""];
const COUNTRY_ENDS: &[&str] = &["ria", "land", "via", "stan", "mark", "nia"];

const CAPITAL_ONSETS: &[&str] = &[
    "Tar", "Mor", "Ash", "Bri", "Cal", "Dun", "El", "Har", "Kes", "Lin", "Mar", "Pel", "Ros",
    "Sel", "Tor", "Wen",
];
const CAPITAL_ENDS: &[&str] = &[
    "sun", "vane", "holm", "burg", "dor", "mere", "ford", "wick", "gate", "moor",
];

/// First names of invented people; disjoint from the friends' names used as filler.
const FIRST_NAMES: &[&str] = &[
    "Ilsa", "Bram", "Corin", "Dalia", "Edvin", "Freya", "Gunnar", "Hedda", "Ivo", "Jorun",
    "Kasper", "Liv", "Magnus", "Nora", "Odd", "Petra", "Rune", "Sigrid", "Tove", "Ulf", "Vera",
    "Wilma", "Yrsa", "Axel",
];
const LAST_NAMES: &[&str] = &[
    "Brandt", "Holm", "Vik", "Lund", "Berg", "Dahl", "Strand", "Falk", "Moberg", "Ek", "Sund",
    "Rask",
];

/// An invented country and its capital.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Country {
    /// The country's name, e.g. "Veloria".
    pub name: String,
    /// Its capital, e.g. "Tarsun".
    pub capital: String,
}

/// An invented person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Full name, e.g. "Ilsa Brandt".
    pub name: String,
    /// Year of birth, in `FIRST_YEAR..=LAST_YEAR`.
    pub birth_year: u32,
    /// One of [`PROFESSIONS`].
    pub profession: String,
}

/// The invented knowledge base the task asks about.
///
/// All names are ASCII and unique across countries, capitals and people; the same `seed` gives the same world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct World {
    countries: Vec<Country>,
    people: Vec<Person>,
}

impl World {
    /// Builds a world of [`N_COUNTRIES`] countries with capitals and [`N_PEOPLE`] people with birth years
    /// (1800-1999) and professions, drawn deterministically from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x5752_4c44_0000_0001);
        let mut used: Vec<String> = Vec::new();
        let mut countries = Vec::with_capacity(N_COUNTRIES);
        for _ in 0..N_COUNTRIES {
            let name = fresh(&mut rng, &mut used, |r| {
                format!(
                    "{}{}{}",
                    r.pick(COUNTRY_ONSETS),
                    r.pick(COUNTRY_MIDS),
                    r.pick(COUNTRY_ENDS)
                )
            });
            let capital = fresh(&mut rng, &mut used, |r| {
                format!("{}{}", r.pick(CAPITAL_ONSETS), r.pick(CAPITAL_ENDS))
            });
            countries.push(Country { name, capital });
        }
        let mut firsts: Vec<&str> = FIRST_NAMES.to_vec();
        rng.shuffle(&mut firsts);
        let mut people = Vec::with_capacity(N_PEOPLE);
        for i in 0..N_PEOPLE {
            let first = firsts[i % firsts.len()];
            let name = fresh(&mut rng, &mut used, |r| {
                format!("{first} {}", r.pick(LAST_NAMES))
            });
            let birth_year = FIRST_YEAR + rng.below((LAST_YEAR - FIRST_YEAR + 1) as usize) as u32;
            let profession = (*rng.pick(PROFESSIONS)).to_string();
            people.push(Person {
                name,
                birth_year,
                profession,
            });
        }
        World { countries, people }
    }

    /// The countries, in a fixed order.
    pub fn countries(&self) -> &[Country] {
        &self.countries
    }

    /// The people, in a fixed order.
    pub fn people(&self) -> &[Person] {
        &self.people
    }

    /// The capital of the country called `country`, if there is one.
    pub fn capital_of(&self, country: &str) -> Option<&str> {
        self.countries
            .iter()
            .find(|c| c.name == country)
            .map(|c| c.capital.as_str())
    }

    /// The person called `name`, if there is one.
    pub fn person(&self, name: &str) -> Option<&Person> {
        self.people.iter().find(|p| p.name == name)
    }
}

/// Draws names with `make` until one is not in `used`; falls back to appending letters so it always ends.
fn fresh(rng: &mut Rng, used: &mut Vec<String>, make: impl Fn(&mut Rng) -> String) -> String {
    for _ in 0..1000 {
        let name = make(rng);
        if !used.contains(&name) {
            used.push(name.clone());
            return name;
        }
    }
    let base = make(rng);
    let mut k = 1;
    loop {
        let name = format!("{base}{}", "a".repeat(k));
        if !used.contains(&name) {
            used.push(name.clone());
            return name;
        }
        k += 1;
    }
}
