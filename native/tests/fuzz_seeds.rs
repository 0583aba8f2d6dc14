//! Replays the committed fuzz seeds (`native/fuzz/seeds/binance/`) through the fuzz target's body, so
//! `cargo test` keeps the corpus honest without a nightly toolchain; plus a few thousand mutations.

use _native::feed::binance::{self, exercise};
use std::path::Path;

fn seeds() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/binance");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_seed_runs_and_well_formed_ones_decode() {
    let seeds = seeds();
    assert!(seeds.len() >= 10);
    for (name, bytes) in &seeds {
        exercise(bytes);
        let decoded = binance::decode(bytes);
        assert_eq!(
            decoded.is_ok(),
            !name.starts_with("truncated"),
            "{name}: {decoded:?}"
        );
    }
}

#[test]
fn truncations_and_byte_flips_never_panic() {
    for (_, bytes) in seeds() {
        for cut in 0..bytes.len() {
            exercise(&bytes[..cut]);
        }
        let mut m = bytes.clone();
        for i in 0..m.len() {
            for b in [
                b'"', b'[', b']', b'{', b'}', b',', b':', b'0', b'-', b'.', 0xff,
            ] {
                let old = m[i];
                m[i] = b;
                exercise(&m);
                m[i] = old;
            }
        }
    }
}
