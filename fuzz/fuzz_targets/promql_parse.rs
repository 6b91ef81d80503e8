//! The PromQL parser on arbitrary bytes: no panics, no hangs, no stack
//! overflows, and every query that parses prints to text that parses back
//! to the same tree.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ember_promql::fuzz_parse(data);
});
