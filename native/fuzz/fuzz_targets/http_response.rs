//! Fuzz target: arbitrary bytes through the HTTP/1.1 response parser (REST snapshots).
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run http_response` from `native/`.
#![no_main]

use _native::engine::http::exercise;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    exercise(data);
});
