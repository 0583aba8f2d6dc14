//! Replays the committed seeds of the venue's server-side fuzz targets (`soupbintcp_server`,
//! `mold_rerequest`) through the targets' bodies, with every truncation and a set of byte flips, so
//! `cargo test` keeps them honest without a nightly toolchain.

use std::path::Path;

use _native::venue::itch_venue::{fuzz_rerequest, fuzz_soup_server};

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn soupbintcp_server_seeds_truncations_and_flips() {
    let s = seeds("soupbintcp_server");
    assert!(s.len() >= 8);
    for bytes in &s {
        for cut in 0..=bytes.len() {
            fuzz_soup_server(&bytes[..cut]);
        }
        let mut m = bytes.clone();
        for i in 0..m.len() {
            for b in [0u8, 1, b'U', b'O', b'X', b'L', 0xff] {
                let old = m[i];
                m[i] = b;
                fuzz_soup_server(&m);
                m[i] = old;
            }
        }
    }
}

#[test]
fn mold_rerequest_seeds_truncations_and_flips() {
    let s = seeds("mold_rerequest");
    assert!(s.len() >= 6);
    let all: Vec<u8> = s.join(&b'\n');
    fuzz_rerequest(&all);
    for bytes in &s {
        let mut cuts = Vec::new();
        for cut in 0..=bytes.len() {
            cuts.extend_from_slice(&bytes[..cut]);
            cuts.push(b'\n');
        }
        let mut m = bytes.clone();
        for i in 0..m.len() {
            for b in [0u8, 0xff, b'\n'] {
                let old = m[i];
                m[i] = b;
                cuts.extend_from_slice(&m);
                cuts.push(b'\n');
                m[i] = old;
            }
        }
        fuzz_rerequest(&cuts);
    }
}
