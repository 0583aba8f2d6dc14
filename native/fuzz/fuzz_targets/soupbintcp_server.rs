//! The venue's SoupBinTCP server session after a valid login: any inbound bytes (framing, logins,
//! OUCH enter / replace / cancel against the matching engine) — no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    _native::venue::itch_venue::fuzz_soup_server(data);
});
