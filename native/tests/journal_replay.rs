//! Deterministic replay and snapshots over real journals on disk (`journal::replay`,
//! `journal::snapshot`, `journal::state::LedgerState`):
//! - replaying twice, and on one pinned core versus two threads at once, gives the same digest;
//! - snapshot + tail equals a full replay at every sampled seq (proptest over random streams);
//! - a corrupt snapshot, a snapshot of another journal and a snapshot ahead of the journal are
//!   skipped with a reason, never used; stop at a seq and at a time.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use _native::engine::affinity;
use _native::journal::snapshot::list_snapshots;
use _native::journal::synth::synthetic_stream;
use _native::journal::{
    self, replay, AppendError, FsyncPolicy, JournalConfig, JournalRecord, LedgerState,
    ReplayOptions, Replayable, StopAt, Stopped,
};
use _native::model::UnixNanos;
use proptest::prelude::*;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "pymm-replay-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write(dir: &Path, recs: &[JournalRecord], segment_bytes: u64) {
    let j = journal::open(
        dir,
        JournalConfig {
            fsync: FsyncPolicy::Never,
            segment_bytes,
            ring_capacity: 1024,
            batch_bytes: 64 << 10,
            idle_sleep: Duration::from_micros(50),
            core: None,
        },
    )
    .unwrap();
    let mut h = j.handle;
    for r in recs {
        loop {
            match h.append(*r) {
                Ok(_) => break,
                Err(AppendError::Full) => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
    }
    drop(h);
    j.writer.close().unwrap();
}

fn full(dir: &Path, stop: StopAt) -> journal::ReplayReport {
    let opts = ReplayOptions {
        stop,
        ..ReplayOptions::default()
    };
    replay(dir, LedgerState::new, &opts).unwrap().1
}

#[test]
fn replay_twice_and_across_threads_gives_one_digest() {
    let dir = TempDir::new("twice");
    let recs = synthetic_stream(7, 20_000);
    write(dir.path(), &recs, 64 << 10);
    let a = full(dir.path(), StopAt::End);
    let b = full(dir.path(), StopAt::End);
    assert_eq!(a.applied, 20_000);
    assert_eq!(a.stopped, Stopped::EndOfJournal);
    assert_eq!(a.digest, b.digest);
    assert_eq!(a.chain, journal::verify(dir.path()).unwrap().head_hash);

    // One pinned core, then two threads at once on two cores (or wherever the OS puts them).
    let cores = affinity::allowed_cores().unwrap();
    let on = |core: Option<usize>| {
        let p = dir.path().to_path_buf();
        std::thread::spawn(move || {
            if let Some(c) = core {
                affinity::pin_current_thread(c).unwrap();
            }
            full(&p, StopAt::End).digest
        })
    };
    let pinned = on(cores.first().copied()).join().unwrap();
    let (x, y) = (on(cores.first().copied()), on(cores.get(1).copied()));
    assert_eq!(pinned, a.digest);
    assert_eq!(x.join().unwrap(), a.digest);
    assert_eq!(y.join().unwrap(), a.digest);

    // The state is not trivially equal: a different stream gives another digest.
    let other = TempDir::new("other");
    write(other.path(), &synthetic_stream(8, 20_000), 64 << 10);
    assert_ne!(full(other.path(), StopAt::End).digest, a.digest);
}

#[test]
fn ledger_state_sees_every_kind() {
    let dir = TempDir::new("kinds");
    write(dir.path(), &synthetic_stream(3, 5_000), 1 << 20);
    let (s, _) = replay(dir.path(), LedgerState::new, &ReplayOptions::default()).unwrap();
    for k in [
        "book_delta",
        "order_event",
        "trade",
        "order_ack",
        "fill",
        "reject",
        "param_push",
        "operator_command",
        "timer_tick",
    ] {
        assert!(
            s.counts.get(k).copied().unwrap_or(0) > 0,
            "{k}: {:?}",
            s.counts
        );
    }
    assert_eq!(
        s.anomalies,
        Default::default(),
        "the synthetic stream is coherent"
    );
    assert!(s.client_id_hwm > 0 && s.orders.contains_key(&s.client_id_hwm));
    // Position = Σ fills, checked independently of the state's own bookkeeping.
    let filled: i128 = s
        .instruments
        .values()
        .map(|i| i.position.bought - i.position.sold)
        .sum();
    let pos: i128 = s.instruments.values().map(|i| i.position.qty).sum();
    assert_eq!(filled, pos);
    assert!(s.params.pushes > 0 && !s.params.words.is_empty());
    assert!(s.kill.kills > 0);
    // Restoring the canonical bytes gives the same state and digest.
    let mut r = LedgerState::new();
    r.restore(&s.canonical()).unwrap();
    assert_eq!(r, s);
    assert_eq!(r.digest(), s.digest());
}

#[test]
fn stops_at_seq_and_time() {
    let dir = TempDir::new("stop");
    let recs = synthetic_stream(11, 3_000);
    write(dir.path(), &recs, 32 << 10);
    let r = full(dir.path(), StopAt::Seq(1234));
    assert_eq!(
        (r.applied, r.last_seq, r.stopped),
        (1234, 1234, Stopped::AtSeq)
    );
    let t = recs[999].ts_recv;
    let r = full(dir.path(), StopAt::Time(t));
    assert_eq!((r.last_seq, r.stopped), (1000, Stopped::AtTime));
    let r = full(dir.path(), StopAt::Time(UnixNanos(0)));
    assert_eq!((r.applied, r.stopped), (0, Stopped::AtTime));
    assert_eq!(r.digest, LedgerState::new().digest());
    let r = full(dir.path(), StopAt::Seq(u64::MAX));
    assert_eq!((r.last_seq, r.stopped), (3_000, Stopped::EndOfJournal));
}

fn with_snapshots(dir: &Path, every: u64) -> journal::ReplayReport {
    let opts = ReplayOptions {
        snapshot_every: every,
        ..ReplayOptions::default()
    };
    replay(dir, LedgerState::new, &opts).unwrap().1
}

fn from_snapshot(dir: &Path, stop: StopAt) -> journal::ReplayReport {
    let opts = ReplayOptions {
        stop,
        use_snapshots: true,
        ..ReplayOptions::default()
    };
    replay(dir, LedgerState::new, &opts).unwrap().1
}

#[test]
fn a_bad_snapshot_is_skipped_with_a_reason() {
    let dir = TempDir::new("badsnap");
    write(dir.path(), &synthetic_stream(5, 4_000), 32 << 10);
    let w = with_snapshots(dir.path(), 1_000);
    assert_eq!(w.snapshots_written, 4);
    let snaps = list_snapshots(dir.path()).unwrap();
    assert_eq!(
        snaps.iter().map(|s| s.0).collect::<Vec<_>>(),
        [1000, 2000, 3000, 4000]
    );

    let clean = from_snapshot(dir.path(), StopAt::End);
    assert_eq!(clean.snapshot.as_ref().map(|s| s.0), Some(4000));
    assert_eq!((clean.applied, clean.digest), (0, w.digest));

    // Flip one byte of the newest: skipped (checksum), the next older one is used.
    let newest = &snaps[3].1;
    let mut b = std::fs::read(newest).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0x40;
    std::fs::write(newest, &b).unwrap();
    let r = from_snapshot(dir.path(), StopAt::End);
    assert_eq!(r.snapshot.as_ref().map(|s| s.0), Some(3000));
    assert_eq!(r.skipped.len(), 1);
    assert!(r.skipped[0].reason.contains("checksum"), "{:?}", r.skipped);
    assert_eq!((r.applied, r.digest), (1000, w.digest));

    // A truncated one too.
    let third = &snaps[2].1;
    let b = std::fs::read(third).unwrap();
    std::fs::write(third, &b[..b.len() - 10]).unwrap();
    let r = from_snapshot(dir.path(), StopAt::End);
    assert_eq!(r.snapshot.as_ref().map(|s| s.0), Some(2000));
    assert_eq!(r.skipped.len(), 2);
    assert_eq!(r.digest, w.digest);
}

#[test]
fn a_snapshot_ahead_of_or_foreign_to_the_journal_is_skipped() {
    let dir = TempDir::new("ahead");
    let recs = synthetic_stream(9, 3_000);
    write(dir.path(), &recs[..2_000], 32 << 10);
    with_snapshots(dir.path(), 1_000);
    std::fs::remove_file(&list_snapshots(dir.path()).unwrap()[1].1).unwrap(); // keep seq 1000 only
    let other = TempDir::new("foreign");
    write(other.path(), &synthetic_stream(10, 3_000), 32 << 10);
    // A snapshot at seq 3000 from another journal, copied in: ahead of this journal's end.
    with_snapshots(other.path(), 1_500);
    let foreign = list_snapshots(other.path()).unwrap();
    std::fs::copy(
        &foreign[1].1,
        dir.path().join(foreign[1].1.file_name().unwrap()),
    )
    .unwrap();
    // And its seq-1500 snapshot: inside this journal's range, but the chain differs.
    std::fs::copy(
        &foreign[0].1,
        dir.path().join(foreign[0].1.file_name().unwrap()),
    )
    .unwrap();
    let r = from_snapshot(dir.path(), StopAt::End);
    assert_eq!(r.snapshot.as_ref().map(|s| s.0), Some(1000));
    let reasons: Vec<_> = r
        .skipped
        .iter()
        .map(|s| (s.seq, s.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].1.contains("ends before"), "{reasons:?}");
    assert!(reasons[1].1.contains("chain"), "{reasons:?}");
    assert_eq!(r.digest, full(dir.path(), StopAt::End).digest);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Snapshot + tail == full replay at every sampled stop seq, whatever the stream and the
    /// snapshot spacing.
    #[test]
    fn snapshot_plus_tail_equals_full_replay(
        seed in any::<u64>(),
        n in 50usize..1_500,
        every in 7u64..400,
        stops in proptest::collection::vec(0u64..1_600, 1..8),
    ) {
        let dir = TempDir::new("prop");
        write(dir.path(), &synthetic_stream(seed, n), 8 << 10);
        with_snapshots(dir.path(), every);
        for s in stops {
            let a = full(dir.path(), StopAt::Seq(s));
            let b = from_snapshot(dir.path(), StopAt::Seq(s));
            prop_assert_eq!(a.digest, b.digest, "stop {}", s);
            prop_assert_eq!(a.last_seq, b.last_seq);
            prop_assert_eq!(a.chain, b.chain);
            let expect_snap = (s.min(n as u64) / every) * every;
            prop_assert_eq!(b.snapshot.map_or(0, |x| x.0), expect_snap);
            prop_assert!(b.skipped.is_empty());
        }
    }
}
