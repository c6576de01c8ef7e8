//! Fuzz target: `creditlens::fuzz::data_records`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| creditlens::fuzz::data_records(data));
