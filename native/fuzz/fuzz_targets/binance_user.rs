//! Fuzz target: arbitrary bytes through the WebSocket-API response / user-stream decoders.
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run binance_user` from `native/` (seeds in
//! `fuzz/seeds/binance_user/`).
#![no_main]

use _native::gateway::binance_user::exercise;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    exercise(data);
});
