//! Fuzz target: `creditlens::fuzz::adapter_config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| creditlens::fuzz::adapter_config(data));
