//! The fuzz targets (`creditlens::fuzz`) on their committed corpus (`fixtures/fuzz/<target>/`, minimised from the
//! libFuzzer runs that README's Robustness section reports) and on seeded mutations of it: the brief run CI does.
//! A panic in a reader fails the test, naming the input that caused it.

use crate::util::fixtures;
use std::path::PathBuf;

/// Mutations per target per test run, spread over its corpus (a few seconds in all on two cores).
const MUTATIONS_PER_TARGET: usize = 20_000;

/// The minimised corpus of `target` and its regressions (inputs that once crashed or hung a reader).
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let fuzz = fixtures().join("fuzz");
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in [fuzz.join(target), fuzz.join("regressions").join(target)] {
        if dir.is_dir() {
            let entries =
                std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            files.extend(entries.map(|e| e.expect("entry").path()));
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read corpus file");
            (p, bytes)
        })
        .collect()
}

/// xorshift64*: deterministic, so a failure is reproduced by the same run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One libFuzzer-style mutation: flip a bit, set a byte to an edge value, cut, duplicate or delete a run of bytes,
/// or splice in a piece of another input.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    if b.is_empty() {
        b.push(0);
    }
    let at = rng.below(b.len());
    match rng.below(6) {
        0 => b[at] ^= 1 << rng.below(8),
        1 => b[at] = [0u8, 1, 0x7f, 0x80, 0xff, b'"', b'{', b'['][rng.below(8)],
        2 => b.truncate(at),
        3 => {
            let len = rng.below(16).min(b.len() - at);
            let run = b[at..at + len].to_vec();
            b.splice(at..at, run);
        }
        4 => {
            let len = rng.below(16).min(b.len() - at);
            b.drain(at..at + len);
        }
        _ if !other.is_empty() => {
            let from = rng.below(other.len());
            let len = rng.below(64).min(other.len() - from);
            b.splice(at..at, other[from..from + len].iter().copied());
        }
        _ => b.reverse(),
    }
    b
}

#[test]
fn every_fuzz_target_survives_its_corpus_and_mutations_of_it() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for target in creditlens::fuzz::TARGETS {
        let inputs = corpus(target.name);
        assert!(!inputs.is_empty(), "{}: empty corpus", target.name);
        for (i, (path, bytes)) in inputs.iter().enumerate() {
            let run = |input: &[u8], what: &str| {
                let result = std::panic::catch_unwind(|| (target.run)(input));
                assert!(
                    result.is_ok(),
                    "{} panicked on {what} of {} ({} bytes)",
                    target.name,
                    path.display(),
                    input.len()
                );
            };
            run(bytes, "the corpus file");
            let other = &inputs[(i + 1) % inputs.len()].1;
            for m in 0..(MUTATIONS_PER_TARGET / inputs.len()).max(1) {
                let mutated = mutate(&mut rng, bytes, other);
                run(&mutated, &format!("mutation {m}"));
            }
        }
    }
}
