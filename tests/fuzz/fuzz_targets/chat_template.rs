//! Fuzz target: `creditlens::fuzz::chat_template`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| creditlens::fuzz::chat_template(data));
