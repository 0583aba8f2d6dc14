//! The live OUCH session's client side (`engine::ouch_session`): arbitrary server bytes (framing,
//! login answers, sequenced OUCH messages) into a logged-in core with orders working — no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    _native::engine::ouch_session::fuzz_ouch_client(data);
});
