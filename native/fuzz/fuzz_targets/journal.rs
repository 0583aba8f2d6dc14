//! Journal frames, typed payloads (then the ledger state), snapshot files: no panic on any bytes, and
//! whatever decodes re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    _native::journal::fuzz::journal_bytes(data);
});
