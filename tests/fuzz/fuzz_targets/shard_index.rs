//! Fuzz target: `creditlens::fuzz::shard_index`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| creditlens::fuzz::shard_index(data));
