//! Opens arbitrary bytes as an index file and exercises every read path;
//! see `ember_index::fuzz_read` for the invariants checked. Seeds live in
//! `fuzz/corpus/index_read/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ember_index::fuzz_read(data);
});
