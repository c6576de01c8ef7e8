//! Fuzz target: `creditlens::fuzz::trainer_state`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| creditlens::fuzz::trainer_state(data));
