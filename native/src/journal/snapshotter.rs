//! Snapshots taken off the hot thread: a shadow [`Replayable`] state on the journal writer thread.
//!
//! LMAX/Aeron style (ADR 0006): the writer applies every record it encodes to its own copy of the
//! state machine — the records are the state machine's only input, so the shadow is exactly the
//! state a replay of the journal reaches — and every `every_records` records or `every` of writer
//! time it makes the journal durable up to that record and writes `snapshot-<seq>.snap`
//! atomically. The producer (the engine's hot thread) never encodes, hashes or writes a snapshot;
//! it pays nothing beyond its ring push.
//!
//! Failures never stop the journal: a snapshot that cannot be written is counted and reported
//! ([`SnapshotStats`]) and the next one is tried at the next threshold; a record the shadow
//! refuses stops snapshotting for this writer (reported) — recovery then falls back to older
//! snapshots or genesis, which is always correct, only slower.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::record::{ChainHash, JournalRecord, GENESIS};
use super::replay::Replayable;
use super::snapshot::{list_snapshots, write_snapshot, SnapshotMeta};
use super::writer::WriterTap;
use crate::model::UnixNanos;

/// When the writer snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// After this many records since the last snapshot (0: not by count).
    pub every_records: u64,
    /// After this much writer time since the last snapshot, if any record came (zero: not by time).
    pub every: Duration,
    /// Snapshot files kept (older ones are deleted after a new one is written); at least 1.
    pub keep: usize,
    /// Snapshot at a clean close too (a restart then replays nothing).
    pub at_close: bool,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        Self {
            every_records: 100_000,
            every: Duration::from_secs(60),
            keep: 3,
            at_close: true,
        }
    }
}

/// What the snapshotter did, readable from any thread.
#[derive(Debug, Default)]
pub struct SnapshotStats {
    /// Snapshots written.
    pub written: AtomicU64,
    /// The seq of the last one written (0: none).
    pub seq: AtomicU64,
    /// Snapshots that could not be written, plus a record the shadow refused.
    pub errors: AtomicU64,
    /// Nanoseconds the last snapshot took (encode, write, fsync, rename).
    pub last_ns: AtomicU64,
    /// The last error, if any.
    pub last_error: Mutex<Option<String>>,
}

impl SnapshotStats {
    fn error(&self, e: String) {
        self.errors.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut g) = self.last_error.lock() {
            *g = Some(e);
        }
    }
}

/// A shadow state on the writer thread that snapshots itself (see the module docs).
pub struct Snapshotter<S: Replayable + Send> {
    state: S,
    policy: SnapshotPolicy,
    seq: u64,
    last_ts: UnixNanos,
    max_ts: UnixNanos,
    chain: ChainHash,
    since: u64,
    last_at: Instant,
    broken: bool,
    buf: Vec<u8>,
    stats: Arc<SnapshotStats>,
}

impl<S: Replayable + Send> Snapshotter<S> {
    /// A snapshotter whose shadow `state` holds every record up to `seq` (the last one stamped
    /// `last_ts`, the largest stamp `max_ts`); the writer must hand it record `seq + 1` next.
    pub fn new(
        state: S,
        seq: u64,
        last_ts: UnixNanos,
        max_ts: UnixNanos,
        policy: SnapshotPolicy,
    ) -> (Self, Arc<SnapshotStats>) {
        let stats = Arc::new(SnapshotStats::default());
        (
            Self {
                state,
                policy,
                seq,
                last_ts,
                max_ts,
                chain: GENESIS,
                since: 0,
                last_at: tap_clock(),
                broken: false,
                buf: Vec::new(),
                stats: Arc::clone(&stats),
            },
            stats,
        )
    }

    /// The shadow state.
    pub fn state(&self) -> &S {
        &self.state
    }
}

impl<S: Replayable + Send> WriterTap for Snapshotter<S> {
    fn record(&mut self, rec: &JournalRecord, chain: &ChainHash) {
        if self.broken {
            return;
        }
        if rec.seq != self.seq + 1 {
            self.broken = true;
            self.stats.error(format!(
                "snapshotter: record {} where {} was expected; snapshots stop",
                rec.seq,
                self.seq + 1
            ));
            return;
        }
        if let Err(e) = self.state.apply(rec) {
            self.broken = true;
            self.stats.error(format!(
                "snapshotter: record {} refused: {e}; snapshots stop",
                rec.seq
            ));
            return;
        }
        self.seq = rec.seq;
        self.last_ts = rec.ts_recv;
        self.max_ts = self.max_ts.max(rec.ts_recv);
        self.chain = *chain;
        self.since += 1;
    }

    fn due(&self, closing: bool) -> bool {
        if self.broken || self.since == 0 {
            return false;
        }
        (closing && self.policy.at_close)
            || (self.policy.every_records > 0 && self.since >= self.policy.every_records)
            || (!self.policy.every.is_zero() && self.last_at.elapsed() >= self.policy.every)
    }

    fn durable(&mut self, dir: &Path) {
        let t0 = tap_clock();
        self.buf.clear();
        self.state.snapshot(&mut self.buf);
        let meta = SnapshotMeta {
            tag: S::SNAPSHOT_TAG,
            seq: self.seq,
            last_ts: self.last_ts,
            max_ts: self.max_ts,
            chain: self.chain,
            digest: self.state.digest(),
        };
        self.since = 0;
        self.last_at = t0;
        match write_snapshot(dir, &meta, &self.buf) {
            Ok(_) => {
                self.stats.seq.store(self.seq, Ordering::Release);
                self.stats.written.fetch_add(1, Ordering::AcqRel);
                let ns = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
                self.stats.last_ns.store(ns, Ordering::Release);
                if let Err(e) = prune(dir, self.policy.keep.max(1)) {
                    self.stats.error(e);
                }
            }
            Err(e) => self.stats.error(e.to_string()),
        }
    }
}

/// Deletes all but the newest `keep` snapshot files.
fn prune(dir: &Path, keep: usize) -> Result<(), String> {
    let all = list_snapshots(dir).map_err(|e| e.to_string())?;
    let n = all.len().saturating_sub(keep);
    for (_, path) in &all[..n] {
        std::fs::remove_file(path)
            .map_err(|e| format!("snapshot: cannot remove {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Paces snapshots and times them; never seen by the state machine.
#[allow(clippy::disallowed_methods)]
fn tap_clock() -> Instant {
    Instant::now()
}
