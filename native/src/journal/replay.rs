//! Deterministic replay: the [`Replayable`] contract every journalled state machine meets, and the
//! driver [`replay`] that rebuilds one from the latest usable snapshot plus the journal tail.
//!
//! This is Aeron Cluster's recovery (latest snapshot + log replay) over LMAX's input journal
//! (`../shared/research/reliability_anchors.md` §4). The state machine must depend on nothing but the
//! records: time comes from `ts_recv`, no wall clock, no unseeded randomness, no hash-map iteration
//! order, no config read outside the construction that `make` repeats identically.
//!
//! The driver:
//! 1. lists the snapshots (`snapshot-<seq>.snap`) newest first and takes the first that is valid
//!    (checksum, tag), lies at or before the stop point, restores, reproduces its recorded digest and
//!    whose `chain` matches the journal's record at its seq — every snapshot passed over is reported
//!    in [`ReplayReport::skipped`] with the reason (a corrupt snapshot never aborts recovery while an
//!    older one or genesis remains; it is never used either);
//! 2. reads the journal from the segment holding that seq (verifying crc, seq and chain as always)
//!    and applies every later record in seq order;
//! 3. stops at the end, after seq `S` ([`StopAt::Seq`]) or before the first record stamped after
//!    `T` ([`StopAt::Time`]); optionally writes a snapshot every `N` seqs on the way;
//! 4. reports the state digest, the chain head, and records/s.

use std::path::{Path, PathBuf};

use super::reader::JournalReader;
use super::record::{ChainHash, JournalRecord, GENESIS};
use super::snapshot::{list_snapshots, read_snapshot, write_snapshot, SnapshotError, SnapshotMeta};
use super::JournalError;
use crate::model::UnixNanos;

/// A deterministic state machine driven only by journal records.
///
/// Contract (checked by the tests of every implementation; see `docs/architecture/journal.md`):
/// - **Determinism**: the same records applied in the same order from the same starting state give
///   the same [`digest`](Self::digest), on any thread, core or run.
/// - **Snapshot round trip**: `restore(snapshot())` on a fresh instance gives a state with the same
///   digest that then evolves identically (snapshot + tail == full replay).
/// - **Seq order**: `apply` receives records in seq order without gaps after genesis or the restored
///   snapshot; an implementation may (and [`LedgerState`](super::state::LedgerState) does) refuse a
///   gap.
/// - **Validate before mutate** (LMAX): `apply` returns `Err` only for input it cannot interpret (a
///   payload that does not decode, a seq gap), and then leaves the state unchanged. Input that is
///   well-formed but surprising (a fill for an order never acked, a delete of an unknown L3 order) is
///   counted in the state, not an error: the journal is the truth of what happened.
pub trait Replayable {
    /// What `apply` and `restore` refuse.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Eight bytes naming the state type and its snapshot encoding version (e.g. `b"LEDGER01"`);
    /// written into every snapshot, and a snapshot with another tag is refused.
    const SNAPSHOT_TAG: [u8; 8];

    /// Applies one journal record.
    fn apply(&mut self, rec: &JournalRecord) -> Result<(), Self::Error>;

    /// A 32-byte digest of the whole state, over a canonical encoding (no hash-map order, no
    /// padding, no addresses): equal digests mean equal states.
    fn digest(&self) -> [u8; 32];

    /// Appends the state's canonical encoding to `out` (what a snapshot file stores).
    fn snapshot(&self, out: &mut Vec<u8>);

    /// Replaces this (freshly constructed) state with the one `bytes` encode. Takes `&mut self`
    /// rather than returning `Self` so a state that needs construction arguments outside the journal
    /// (an engine's instrument table, rings, clocks) is built once by the caller's `make` and only
    /// its journalled part comes from the snapshot.
    fn restore(&mut self, bytes: &[u8]) -> Result<(), Self::Error>;
}

/// Where replay stops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StopAt {
    /// At the end of the journal.
    #[default]
    End,
    /// After the record with this seq (0: apply nothing).
    Seq(u64),
    /// Before the first record whose `ts_recv` is later than this.
    Time(UnixNanos),
}

/// How to replay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayOptions {
    /// Where to stop.
    pub stop: StopAt,
    /// Start from the latest usable snapshot (else from genesis).
    pub use_snapshots: bool,
    /// Write a snapshot after every record whose seq is a multiple of this (0: none).
    pub snapshot_every: u64,
}

/// Why replay stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// The journal ended.
    EndOfJournal,
    /// The requested seq was reached.
    AtSeq,
    /// The next record was stamped after the requested time.
    AtTime,
}

/// A snapshot replay passed over, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedSnapshot {
    /// The file.
    pub path: PathBuf,
    /// Its seq (from the file name).
    pub seq: u64,
    /// Why it was not used.
    pub reason: String,
}

/// What [`replay`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayReport {
    /// The snapshot replay started from (`None`: genesis).
    pub snapshot: Option<(u64, PathBuf)>,
    /// Snapshots passed over (newer than the stop point is not a skip; invalid ones are).
    pub skipped: Vec<SkippedSnapshot>,
    /// Records applied after the start point.
    pub applied: u64,
    /// The last seq in the state (the snapshot's if nothing was applied; 0 for an empty state).
    pub last_seq: u64,
    /// `ts_recv` of that record.
    pub last_ts: UnixNanos,
    /// The largest `ts_recv` in the state.
    pub max_ts: UnixNanos,
    /// The journal chain value at `last_seq`.
    pub chain: ChainHash,
    /// The state digest at the end.
    pub digest: [u8; 32],
    /// Why it stopped.
    pub stopped: Stopped,
    /// Snapshots written on the way.
    pub snapshots_written: u64,
    /// Wall time spent (snapshot restore, read, verify and apply), nanoseconds.
    pub elapsed_ns: u64,
}

impl ReplayReport {
    /// Records applied per second of [`Self::elapsed_ns`].
    pub fn events_per_s(&self) -> f64 {
        if self.elapsed_ns == 0 {
            0.0
        } else {
            self.applied as f64 * 1e9 / self.elapsed_ns as f64
        }
    }
}

/// Why replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError<E: std::error::Error + 'static> {
    /// The journal could not be read or is corrupt (never skipped).
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A snapshot could not be written or listed.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// The state refused a record.
    #[error("replay: record seq {seq} refused: {source}")]
    Apply {
        /// The record.
        seq: u64,
        /// The state's error.
        #[source]
        source: E,
    },
}

/// The hex spelling of a digest or chain value.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Rebuilds a state from `dir`: `make` builds a fresh state (called once per snapshot tried, and for
/// genesis); returns the state and the report.
pub fn replay<S: Replayable>(
    dir: &Path,
    mut make: impl FnMut() -> S,
    opts: &ReplayOptions,
) -> Result<(S, ReplayReport), ReplayError<S::Error>> {
    let t0 = clock();
    let mut skipped = Vec::new();
    if opts.use_snapshots {
        for (seq, path) in list_snapshots(dir)?.into_iter().rev() {
            let (meta, bytes) = match read_snapshot(&path, S::SNAPSHOT_TAG) {
                Ok(x) => x,
                Err(e) => {
                    skipped.push(SkippedSnapshot {
                        path,
                        seq,
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            let usable = match opts.stop {
                StopAt::End => true,
                StopAt::Seq(s) => meta.seq <= s,
                StopAt::Time(t) => meta.max_ts <= t,
            };
            if !usable {
                continue;
            }
            let mut state = make();
            if let Err(e) = state.restore(&bytes) {
                skipped.push(SkippedSnapshot {
                    path,
                    seq,
                    reason: format!("restore failed: {e}"),
                });
                continue;
            }
            if state.digest() != meta.digest {
                skipped.push(SkippedSnapshot {
                    path,
                    seq,
                    reason: "restored state's digest differs from the recorded one".into(),
                });
                continue;
            }
            match run(dir, state, Some((&meta, &path)), opts, t0)? {
                Run::Done(state, mut report) => {
                    report.skipped = skipped;
                    return Ok((state, report));
                }
                Run::SnapshotNotInJournal(reason) => {
                    skipped.push(SkippedSnapshot { path, seq, reason })
                }
            }
        }
    }
    match run(dir, make(), None, opts, t0)? {
        Run::Done(state, mut report) => {
            report.skipped = skipped;
            Ok((state, report))
        }
        Run::SnapshotNotInJournal(reason) => Err(ReplayError::Journal(JournalError::Writer {
            reason: format!("replay from genesis: {reason}"),
        })),
    }
}

enum Run<S> {
    Done(S, ReplayReport),
    SnapshotNotInJournal(String),
}

fn run<S: Replayable>(
    dir: &Path,
    mut state: S,
    start: Option<(&SnapshotMeta, &PathBuf)>,
    opts: &ReplayOptions,
    t0: std::time::Instant,
) -> Result<Run<S>, ReplayError<S::Error>> {
    let from = start.map_or(0, |(m, _)| m.seq);
    let mut last_seq = from;
    let mut last_ts = start.map_or(UnixNanos(0), |(m, _)| m.last_ts);
    let mut max_ts = start.map_or(UnixNanos(0), |(m, _)| m.max_ts);
    let mut chain = start.map_or(GENESIS, |(m, _)| m.chain);
    let mut anchored = from == 0;
    let mut applied = 0;
    let mut written = 0;
    let mut stopped = Stopped::EndOfJournal;
    let mut buf = Vec::new();
    if opts.stop == StopAt::Seq(0) && from == 0 {
        stopped = Stopped::AtSeq;
    } else {
        for r in JournalReader::open_from(dir, from)? {
            let r = r?;
            let rec = r.record;
            if !anchored {
                if rec.seq < from {
                    continue;
                }
                if rec.seq > from {
                    return Ok(Run::SnapshotNotInJournal(format!(
                        "the journal has no record {from} (it starts at {})",
                        rec.seq
                    )));
                }
                if r.chain != chain {
                    return Ok(Run::SnapshotNotInJournal(format!(
                        "the journal's chain at seq {from} differs from the snapshot's"
                    )));
                }
                anchored = true;
                continue;
            }
            match opts.stop {
                StopAt::Seq(s) if rec.seq > s => {
                    stopped = Stopped::AtSeq;
                    break;
                }
                StopAt::Time(t) if rec.ts_recv > t => {
                    stopped = Stopped::AtTime;
                    break;
                }
                _ => {}
            }
            state.apply(&rec).map_err(|source| ReplayError::Apply {
                seq: rec.seq,
                source,
            })?;
            applied += 1;
            last_seq = rec.seq;
            last_ts = rec.ts_recv;
            max_ts = max_ts.max(rec.ts_recv);
            chain = r.chain;
            if opts.snapshot_every > 0 && rec.seq % opts.snapshot_every == 0 {
                buf.clear();
                state.snapshot(&mut buf);
                let meta = SnapshotMeta {
                    tag: S::SNAPSHOT_TAG,
                    seq: last_seq,
                    last_ts,
                    max_ts,
                    chain,
                    digest: state.digest(),
                };
                write_snapshot(dir, &meta, &buf)?;
                written += 1;
            }
        }
        if !anchored {
            return Ok(Run::SnapshotNotInJournal(format!(
                "the journal ends before seq {from}"
            )));
        }
        if stopped == Stopped::EndOfJournal && opts.stop == StopAt::Seq(last_seq) {
            stopped = Stopped::AtSeq;
        }
    }
    let digest = state.digest();
    let report = ReplayReport {
        snapshot: start.map(|(m, p)| (m.seq, p.clone())),
        skipped: Vec::new(),
        applied,
        last_seq,
        last_ts,
        max_ts,
        chain,
        digest,
        stopped,
        snapshots_written: written,
        elapsed_ns: u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX),
    };
    Ok(Run::Done(state, report))
}

/// Writes a snapshot of `state` at the end of a replay `report` (the engine does the same from its
/// own snapshot point); returns the path.
pub fn snapshot_now<S: Replayable>(
    dir: &Path,
    state: &S,
    report: &ReplayReport,
) -> Result<PathBuf, SnapshotError> {
    let mut buf = Vec::new();
    state.snapshot(&mut buf);
    let meta = SnapshotMeta {
        tag: S::SNAPSHOT_TAG,
        seq: report.last_seq,
        last_ts: report.last_ts,
        max_ts: report.max_ts,
        chain: report.chain,
        digest: state.digest(),
    };
    write_snapshot(dir, &meta, &buf)
}

/// Replay's stopwatch: measures records/s for the report, never seen by the state machine.
#[allow(clippy::disallowed_methods)]
fn clock() -> std::time::Instant {
    std::time::Instant::now()
}
