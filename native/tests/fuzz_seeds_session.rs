//! Replays the committed seeds of the session parsers' fuzz targets (`binance_user`,
//! `http_response`) through the targets' bodies, with every truncation and byte flip, so
//! `cargo test` keeps them honest without a nightly toolchain.

use std::path::Path;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    out.sort();
    out
}

fn mutate(bytes: &[u8], f: fn(&[u8])) {
    f(bytes);
    for cut in 0..bytes.len() {
        f(&bytes[..cut]);
    }
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x20, 0x80] {
            let mut b = bytes.to_vec();
            b[i] ^= flip;
            f(&b);
        }
    }
}

#[test]
fn binance_user_seeds_decode_and_mutations_never_panic() {
    let s = seeds("binance_user");
    assert!(s.len() >= 6);
    for bytes in &s {
        assert!(_native::gateway::binance_user::decode(bytes).is_ok());
        mutate(bytes, _native::gateway::binance_user::exercise);
    }
}

#[test]
fn http_response_seeds_parse_and_mutations_never_panic() {
    let s = seeds("http_response");
    assert!(s.len() >= 2);
    for bytes in &s {
        assert!(_native::engine::http::complete(bytes).unwrap().is_some());
        mutate(bytes, _native::engine::http::exercise);
    }
}
