//! Both exposition parsers and `check_metrics` on arbitrary bytes: no
//! panics, no hangs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ember_exposition::fuzz_parse(data);
});
