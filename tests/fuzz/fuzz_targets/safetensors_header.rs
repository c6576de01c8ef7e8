//! Fuzz target: `creditlens::fuzz::safetensors_header`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| creditlens::fuzz::safetensors_header(data));
