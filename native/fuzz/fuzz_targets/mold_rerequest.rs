//! The venue's MoldUDP64 re-request server: any datagrams (newline-separated) — no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    _native::venue::itch_venue::fuzz_rerequest(data);
});
