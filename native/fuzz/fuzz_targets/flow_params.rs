//! Market-flow generator parameters (TOML): no panic on any text; accepted ones run the generator.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    _native::venue::flow::fuzz_params(data);
});
