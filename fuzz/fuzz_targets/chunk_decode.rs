//! Decodes arbitrary bytes as an XOR chunk; see `ember_chunks::fuzz_decode`
//! for the invariants checked. Seeds live in `fuzz/corpus/chunk_decode/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ember_chunks::fuzz_decode(data);
});
