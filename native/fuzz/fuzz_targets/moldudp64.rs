//! MoldUDP64 framing, the A/B arbiter and the ITCH messages inside: no panic on any datagram.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    _native::feed::fuzz::moldudp64(data);
});
