//! LOBSTER message/order-book parsing and replay: no panic on any text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    _native::feed::fuzz::lobster(data);
});
