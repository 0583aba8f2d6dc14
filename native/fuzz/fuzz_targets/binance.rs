//! Fuzz target: arbitrary bytes through the Binance decoder, the level iterators and a book sync.
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run binance` from `native/` (seeds in `fuzz/seeds/binance/`).
#![no_main]

use _native::feed::binance::exercise;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    exercise(data);
});
