//! Replays the committed `journal` fuzz seeds (`native/fuzz/seeds/journal/`) through the fuzz
//! target's body, plus every truncation and single-byte flip of each, so `cargo test` keeps the
//! decoders panic-free without a nightly toolchain. `write_seeds` regenerates the seed files.

use std::path::{Path, PathBuf};

use _native::journal::fuzz::journal_bytes;
use _native::journal::snapshot::{encode_snapshot, SnapshotMeta};
use _native::journal::synth::synthetic_stream;
use _native::journal::{LedgerState, Replayable};
use _native::model::UnixNanos;

fn seed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/journal")
}

/// The seeds: one payload of every kind from the synthetic stream, and a small ledger snapshot.
fn make_seeds() -> Vec<(String, Vec<u8>)> {
    let recs = synthetic_stream(1, 400);
    let mut out = Vec::new();
    for kind in _native::journal::RecordKind::ALL {
        if let Some(r) = recs.iter().find(|r| r.kind == kind) {
            out.push((format!("payload_{}.bin", kind.name()), r.payload().to_vec()));
        }
    }
    let mut s = LedgerState::new();
    for (i, r) in recs.iter().take(60).enumerate() {
        let mut r = *r;
        r.seq = i as u64 + 1;
        s.apply(&r).unwrap();
    }
    let meta = SnapshotMeta {
        tag: LedgerState::SNAPSHOT_TAG,
        seq: 1,
        last_ts: UnixNanos(1),
        max_ts: UnixNanos(1),
        chain: [3; 16],
        digest: s.digest(),
    };
    out.push((
        "snapshot_ledger.snap".into(),
        encode_snapshot(&meta, &s.canonical()),
    ));
    out
}

#[test]
fn committed_seeds_are_current() {
    let dir = seed_dir();
    for (name, bytes) in make_seeds() {
        let on_disk = std::fs::read(dir.join(&name)).unwrap_or_default();
        assert_eq!(
            on_disk, bytes,
            "{name}: run `cargo test --test fuzz_seeds_journal -- --ignored write_seeds`"
        );
    }
}

#[test]
#[ignore = "regenerates native/fuzz/seeds/journal"]
fn write_seeds() {
    let dir = seed_dir();
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in make_seeds() {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

#[test]
fn seeds_truncations_and_flips_never_panic() {
    for (_, bytes) in make_seeds() {
        journal_bytes(&bytes);
        let step = (bytes.len() / 300).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            journal_bytes(&bytes[..cut]);
        }
        let mut m = bytes.clone();
        for i in (0..m.len()).step_by(step) {
            for b in [0x00, 0x01, 0x7f, 0x80, 0xff, b'"', b'9'] {
                let old = m[i];
                m[i] = b;
                journal_bytes(&m);
                m[i] = old;
            }
        }
    }
}
