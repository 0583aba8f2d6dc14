//! DBN metadata and record decoding: no panic on any (uncompressed) stream.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    _native::feed::fuzz::dbn(data);
});
