//! Ethernet/IPv4/UDP frame parsing of the kernel-bypass receivers (AF_XDP, ef_vi): no panic, the
//! payload stays inside the frame, and build → parse round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    _native::net::packet::fuzz_udp_frame(data);
});
