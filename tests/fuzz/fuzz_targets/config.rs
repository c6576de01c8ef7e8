//! Fuzz target: `creditlens::fuzz::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| creditlens::fuzz::config(data));
