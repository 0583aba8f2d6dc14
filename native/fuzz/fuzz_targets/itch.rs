//! ITCH 5.0 decoder: any bytes decode or fail cleanly; decoded messages convert without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    _native::feed::fuzz::itch(data);
});
