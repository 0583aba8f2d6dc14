//! Replays every committed seed of the order-by-order fuzz targets (`native/fuzz/seeds/{itch,moldudp64,dbn,lobster}/`) and of the bypass frame parser (`udp_frame`) through the targets' bodies.

use std::path::Path;

use _native::feed::fuzz;

fn replay(target: &str, f: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut n = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        f(&std::fs::read(&p).unwrap());
        n += 1;
    }
    assert!(n > 0, "no seeds in {}", dir.display());
}

#[test]
fn itch_seeds() {
    replay("itch", fuzz::itch);
}

#[test]
fn moldudp64_seeds() {
    replay("moldudp64", fuzz::moldudp64);
}

#[test]
fn dbn_seeds() {
    replay("dbn", fuzz::dbn);
}

#[test]
fn lobster_seeds() {
    replay("lobster", fuzz::lobster);
}

#[test]
fn udp_frame_seeds_and_their_truncations() {
    use _native::net::packet::fuzz_udp_frame;
    replay("udp_frame", fuzz_udp_frame);
    replay("udp_frame", |seed| {
        for cut in 0..seed.len() {
            fuzz_udp_frame(&seed[..cut]);
        }
    });
}
