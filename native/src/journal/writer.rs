//! The writer thread and the producer's [`JournalHandle`].
//!
//! The hot thread owns the handle: [`JournalHandle::append`] stamps the next seq on a `Copy` record
//! and pushes it into an SPSC ring — no allocation, no lock, no syscall. The writer thread (core 5 in
//! DESIGN §3) pops records, encodes frames into one reusable buffer, writes a batch per wake-up,
//! rolls segments by size and calls `fdatasync` as the [`FsyncPolicy`] says. A full ring refuses the
//! record and counts it in `dropped_full`: the engine stops quoting on it (a decision it cannot
//! journal, it must not take).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use super::reader::open_for_append;
use super::reader::Recovery;
use super::record::{encode_frame, ChainHash, JournalRecord, MAX_RECORD_LEN};
use super::segment::{FsyncPolicy, SegmentFile, MAX_SEGMENT_BYTES, MIN_SEGMENT_BYTES};
use super::JournalError;
use crate::net::ring::{channel, Consumer, Producer, RingMemory};

/// How a journal is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalConfig {
    /// When to `fdatasync`.
    pub fsync: FsyncPolicy,
    /// Roll to a new segment before one would grow past this many bytes.
    pub segment_bytes: u64,
    /// Records the ring between the hot thread and the writer holds (rounded up to a power of two).
    pub ring_capacity: usize,
    /// Bytes the writer encodes before it issues a `write`.
    pub batch_bytes: usize,
    /// How long the writer sleeps when the ring is empty (the producer never wakes it: no syscall).
    pub idle_sleep: Duration,
    /// Pins the writer thread to this core (its own one, ideally isolated: DESIGN §3's layout);
    /// `None` leaves it to the scheduler. [`open`] fails, naming the core, if the kernel refuses.
    pub core: Option<usize>,
}

impl Default for JournalConfig {
    fn default() -> Self {
        Self {
            fsync: FsyncPolicy::default(),
            segment_bytes: 64 << 20,
            ring_capacity: 1 << 16,
            batch_bytes: 256 << 10,
            idle_sleep: Duration::from_micros(100),
            core: None,
        }
    }
}

impl JournalConfig {
    /// Refuses values outside their ranges, naming the value.
    pub fn validate(&self) -> Result<(), JournalError> {
        let bad = |reason: String| Err(JournalError::Config { reason });
        if !(MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES).contains(&self.segment_bytes) {
            return bad(format!(
                "segment_bytes {} outside {MIN_SEGMENT_BYTES}..={MAX_SEGMENT_BYTES}",
                self.segment_bytes
            ));
        }
        if !(2..=1 << 24).contains(&self.ring_capacity) {
            return bad(format!(
                "ring_capacity {} outside 2..=16777216",
                self.ring_capacity
            ));
        }
        if !(MAX_RECORD_LEN..=64 << 20).contains(&self.batch_bytes) {
            return bad(format!(
                "batch_bytes {} outside {MAX_RECORD_LEN}..=67108864",
                self.batch_bytes
            ));
        }
        Ok(())
    }
}

/// Why [`JournalHandle::append`] refused a record. None of these is retried by the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// The ring is full: the writer is behind. Counted in `dropped_full`.
    #[error("journal ring full")]
    Full,
    /// The journal is closing or closed.
    #[error("journal closed")]
    Closed,
    /// The writer thread stopped on an error (see [`JournalWriter::close`]).
    #[error("journal writer failed")]
    WriterFailed,
}

const RUNNING: u8 = 0;
const CLOSING: u8 = 1;
const FAILED: u8 = 2;

#[derive(Default)]
struct ProducerCounters {
    /// Records accepted by `append`; written only by the producer.
    appended: AtomicU64,
    /// Records refused because the ring was full; written only by the producer.
    dropped_full: AtomicU64,
    /// Set once when the handle is dropped.
    gone: AtomicBool,
}

#[derive(Default)]
struct HealthCounters {
    /// Write/sync/create errors that stopped the writer (0 or 1 today: the writer stops at the first).
    io_errors: AtomicU64,
    /// The OS error number of the last one (0: none or not an OS error).
    last_errno: std::sync::atomic::AtomicI32,
}

#[derive(Default)]
struct WriterCounters {
    /// Records handed to `write`; written only by the writer.
    written: AtomicU64,
    /// Bytes handed to `write`, segment headers included.
    bytes: AtomicU64,
    /// `fdatasync` calls.
    fsyncs: AtomicU64,
    /// Segments created.
    segments_created: AtomicU64,
    /// The last seq handed to `write` (0: none).
    written_seq: AtomicU64,
    /// The last seq known to be on stable storage (0: none).
    durable_seq: AtomicU64,
}

/// Sees every record the writer thread encodes, on that thread (never on the producer's): what
/// takes snapshots without work on the hot thread ([`super::snapshotter::Snapshotter`]).
pub trait WriterTap: Send {
    /// `rec` was encoded (it is in the journal's byte stream in seq order); `chain` is the
    /// journal's chain value after it.
    fn record(&mut self, rec: &JournalRecord, chain: &ChainHash);
    /// Whether it wants [`WriterTap::durable`] now (`closing`: the writer is about to stop).
    fn due(&self, closing: bool) -> bool;
    /// Every record handed to [`WriterTap::record`] is written and synced; `dir` is the journal
    /// directory.
    fn durable(&mut self, dir: &Path);
}

/// State shared by the handle, the writer thread and the writer's owner. Each side's counters sit
/// on their own cache lines so the producer's stores never share a line with the writer's.
#[derive(Default)]
struct Shared {
    state: CachePadded<AtomicU8>,
    producer: CachePadded<ProducerCounters>,
    writer: CachePadded<WriterCounters>,
    health: CachePadded<HealthCounters>,
    /// A tap handed over by [`JournalWriter::set_tap`], picked up by the writer before the next
    /// record it encodes.
    tap_pending: AtomicBool,
    tap_slot: std::sync::Mutex<Option<Box<dyn WriterTap>>>,
    /// Where the ring's slots live (fixed at open).
    ring: RingMemory,
}

/// A snapshot of a journal's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// Records accepted by `append`.
    pub appended: u64,
    /// Records refused because the ring was full.
    pub dropped_full: u64,
    /// Records handed to `write`.
    pub written: u64,
    /// Bytes handed to `write`.
    pub bytes_written: u64,
    /// `fdatasync` calls.
    pub fsyncs: u64,
    /// Segments created by this writer.
    pub segments_created: u64,
    /// The last seq handed to `write` (0: none yet).
    pub written_seq: u64,
    /// The last seq on stable storage (0: none yet).
    pub durable_seq: u64,
    /// Bytes of the ring's slot array.
    pub ring_bytes: u64,
    /// Bytes of it on transparent huge pages at open (see [`RingMemory`]); equal to `ring_bytes`
    /// when the whole ring is on huge pages.
    pub ring_huge_page_bytes: u64,
}

impl Shared {
    fn stats(&self) -> JournalStats {
        let p = &self.producer;
        let w = &self.writer;
        JournalStats {
            appended: p.appended.load(Ordering::Relaxed),
            dropped_full: p.dropped_full.load(Ordering::Relaxed),
            written: w.written.load(Ordering::Relaxed),
            bytes_written: w.bytes.load(Ordering::Relaxed),
            fsyncs: w.fsyncs.load(Ordering::Relaxed),
            segments_created: w.segments_created.load(Ordering::Relaxed),
            written_seq: w.written_seq.load(Ordering::Relaxed),
            durable_seq: w.durable_seq.load(Ordering::Acquire),
            ring_bytes: self.ring.bytes as u64,
            ring_huge_page_bytes: (self.ring.huge_page_bytes.min(self.ring.bytes)) as u64,
        }
    }
}

/// The journal's health as the hot thread sees it: one relaxed atomic load per check.
///
/// Fail closed: while [`JournalHealth::is_ok`] is false the engine must not act on anything it could
/// not journal — it refuses new orders (risk answers "journal down"), cancels what rests, stops
/// quoting, and raises the alert `journal_unwritable` (the `health()` binding and
/// `JournalStats`-style counters carry the error count and errno). It is false once the writer
/// stopped on an I/O error (disk full `ENOSPC`, file size limit `EFBIG` with `SIGXFSZ` ignored,
/// `EIO`, a vanished directory), and while the journal is closing or closed. It never becomes true
/// again for this writer: recovery is a restart (reopen cuts any torn tail).
#[derive(Clone)]
pub struct JournalHealth {
    shared: Arc<Shared>,
}

impl JournalHealth {
    /// Whether records are being written. One relaxed load; no lock, no syscall.
    #[inline]
    pub fn is_ok(&self) -> bool {
        self.shared.state.load(Ordering::Relaxed) == RUNNING
    }

    /// Whether the writer stopped on an error (as opposed to a clean close).
    pub fn has_failed(&self) -> bool {
        self.shared.state.load(Ordering::Acquire) == FAILED
    }

    /// I/O errors that stopped the writer.
    pub fn io_errors(&self) -> u64 {
        self.shared.health.io_errors.load(Ordering::Acquire)
    }

    /// The OS error number of the last failure (0: none, or not an OS error).
    pub fn last_errno(&self) -> i32 {
        self.shared.health.last_errno.load(Ordering::Acquire)
    }
}

/// The producer's end: owned by the one thread that sequences inputs.
pub struct JournalHandle {
    producer: Producer<JournalRecord>,
    next_seq: u64,
    appended: u64,
    dropped_full: u64,
    shared: Arc<Shared>,
}

impl JournalHandle {
    /// Stamps `rec` with the next seq and hands it to the writer; returns that seq.
    ///
    /// # Hot path
    /// No allocation, no lock, no syscall: one relaxed load of the journal state, a 128-byte copy
    /// into the ring, two relaxed counter stores. A refused record does not consume a seq.
    #[inline]
    pub fn append(&mut self, mut rec: JournalRecord) -> Result<u64, AppendError> {
        let state = self.shared.state.load(Ordering::Relaxed);
        if state != RUNNING {
            return Err(refused(state));
        }
        let seq = self.next_seq;
        rec.seq = seq;
        if self.producer.push(rec).is_err() {
            return Err(self.full());
        }
        self.next_seq += 1;
        self.appended += 1;
        self.shared
            .producer
            .appended
            .store(self.appended, Ordering::Relaxed);
        Ok(seq)
    }

    #[cold]
    #[inline(never)]
    fn full(&mut self) -> AppendError {
        self.dropped_full += 1;
        self.shared
            .producer
            .dropped_full
            .store(self.dropped_full, Ordering::Relaxed);
        AppendError::Full
    }

    /// The seq the next accepted record gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Records accepted so far by this handle.
    pub fn appended(&self) -> u64 {
        self.appended
    }

    /// Records refused because the ring was full.
    pub fn dropped_full(&self) -> u64 {
        self.dropped_full
    }

    /// The highest seq on stable storage (0: none yet); an engine that must not act before its
    /// input is durable compares against it.
    pub fn durable_seq(&self) -> u64 {
        self.shared.writer.durable_seq.load(Ordering::Acquire)
    }

    /// Ring slots free right now (a lower bound).
    pub fn free_slots(&self) -> usize {
        self.producer.free_slots()
    }

    /// The health flag to check before every decision that must be journalled.
    pub fn health(&self) -> JournalHealth {
        JournalHealth {
            shared: Arc::clone(&self.shared),
        }
    }
}

#[cold]
fn refused(state: u8) -> AppendError {
    if state == FAILED {
        AppendError::WriterFailed
    } else {
        AppendError::Closed
    }
}

impl Drop for JournalHandle {
    fn drop(&mut self) {
        self.shared.producer.gone.store(true, Ordering::Release);
    }
}

/// The writer thread's owner: stats, and a clean shutdown that flushes and fsyncs.
pub struct JournalWriter {
    thread: Option<JoinHandle<Result<(), JournalError>>>,
    shared: Arc<Shared>,
    dir: PathBuf,
}

impl JournalWriter {
    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> JournalStats {
        self.shared.stats()
    }

    /// The health flag (see [`JournalHealth`]).
    pub fn health(&self) -> JournalHealth {
        JournalHealth {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Hands `tap` to the writer thread: it sees every record encoded after the producer's next
    /// `append` (install it before appending what it must see first). Replaces an earlier tap.
    pub fn set_tap(&self, tap: Box<dyn WriterTap>) {
        if let Ok(mut g) = self.shared.tap_slot.lock() {
            *g = Some(tap);
        }
        self.shared.tap_pending.store(true, Ordering::Release);
    }

    /// Whether the writer thread stopped on an error.
    pub fn has_failed(&self) -> bool {
        self.shared.state.load(Ordering::Acquire) == FAILED
    }

    /// Stops accepting records, writes what the ring holds, fsyncs and joins the writer thread.
    /// Call it after the producer is done: a record appended concurrently with `close` may be lost,
    /// which shows as `appended > written` in the returned stats.
    pub fn close(mut self) -> Result<JournalStats, JournalError> {
        self.stop()?;
        Ok(self.shared.stats())
    }

    fn stop(&mut self) -> Result<(), JournalError> {
        let _ = self.shared.state.compare_exchange(
            RUNNING,
            CLOSING,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        match self.thread.take() {
            None => Ok(()),
            Some(t) => t.join().unwrap_or_else(|_| {
                Err(JournalError::Writer {
                    reason: "writer thread panicked".into(),
                })
            }),
        }
    }
}

impl Drop for JournalWriter {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// An opened journal: the producer's handle, the writer's owner, and what recovery did.
pub struct OpenJournal {
    /// Give it to the thread that sequences inputs.
    pub handle: JournalHandle,
    /// Keep it where shutdown happens.
    pub writer: JournalWriter,
    /// What [`open_for_append`] found and repaired.
    pub recovery: Recovery,
}

/// Opens an engine's journal from its config fields (`journal_dir`, `journal_core`,
/// `journal_idle_sleep_us`; the Binance and ITCH engines share this): `base` with the writer pinned
/// to `core`, sleeping `idle_sleep_us` when idle — by default spinning when it has a core of its own
/// (nothing else wants that core), else `base.idle_sleep`. The error names the config field.
pub fn open_engine_journal(
    dir: &str,
    core: Option<usize>,
    idle_sleep_us: Option<u64>,
    base: JournalConfig,
) -> Result<OpenJournal, String> {
    let mut cfg = JournalConfig { core, ..base };
    match (idle_sleep_us, core) {
        (Some(us), _) => cfg.idle_sleep = Duration::from_micros(us),
        (None, Some(_)) => cfg.idle_sleep = Duration::ZERO,
        (None, None) => {}
    }
    open(Path::new(dir), cfg).map_err(|e| match e {
        JournalError::Config { .. } if core.is_some() => format!("journal_core: {e}"),
        _ => format!("journal_dir {dir}: {e}"),
    })
}

/// Opens (or creates) the journal in `dir` for appending: recovers the tail, then starts the writer
/// thread. The first record gets `recovery.next_seq`.
pub fn open(dir: &Path, cfg: JournalConfig) -> Result<OpenJournal, JournalError> {
    cfg.validate()?;
    let recovery = open_for_append(dir)?;
    let seg = match &recovery.last {
        Some(last) => Some(SegmentFile::open_append(
            &last.info.path,
            last.len,
            last.records,
        )?),
        None => None,
    };
    let (producer, consumer) = channel(cfg.ring_capacity);
    let shared = Arc::new(Shared {
        ring: producer.memory(),
        ..Shared::default()
    });
    let last_seq = recovery.next_seq - 1;
    shared.writer.written_seq.store(last_seq, Ordering::Relaxed);
    shared.writer.durable_seq.store(last_seq, Ordering::Relaxed);
    let mut w = WriterThread {
        dir: dir.to_path_buf(),
        cfg,
        consumer,
        shared: Arc::clone(&shared),
        seg,
        chain: recovery.head,
        buf: Vec::with_capacity(cfg.batch_bytes + MAX_RECORD_LEN),
        scratch: Vec::with_capacity(MAX_RECORD_LEN + 8),
        buffered: 0,
        buffered_seq: last_seq,
        unsynced: 0,
        last_sync: writer_clock(),
        tap: None,
    };
    // The writer pins itself first and reports how that went before `open` returns.
    let (pinned_tx, pinned_rx) = std::sync::mpsc::sync_channel::<Result<(), String>>(1);
    let thread = std::thread::Builder::new()
        .name("pymm-journal".into())
        .spawn(move || {
            if let Some(core) = w.cfg.core {
                if let Err(e) = crate::engine::affinity::pin_current_thread(core) {
                    let reason = format!("core {core}: the writer thread cannot be pinned: {e}");
                    let _ = pinned_tx.send(Err(reason.clone()));
                    return Err(JournalError::Config { reason });
                }
            }
            let _ = pinned_tx.send(Ok(()));
            let r = w.run();
            if let Err(e) = &r {
                let errno = match e {
                    JournalError::Io { source, .. } => source.raw_os_error().unwrap_or(0),
                    _ => 0,
                };
                let h = &w.shared.health;
                h.last_errno.store(errno, Ordering::Release);
                h.io_errors.fetch_add(1, Ordering::AcqRel);
                w.shared.state.store(FAILED, Ordering::Release);
            }
            r
        })
        .map_err(|e| JournalError::io("spawn writer for", dir, e))?;
    if let Ok(Err(reason)) = pinned_rx.recv() {
        let _ = thread.join();
        return Err(JournalError::Config { reason });
    }
    Ok(OpenJournal {
        handle: JournalHandle {
            producer,
            next_seq: recovery.next_seq,
            appended: 0,
            dropped_full: 0,
            shared: Arc::clone(&shared),
        },
        writer: JournalWriter {
            thread: Some(thread),
            shared,
            dir: dir.to_path_buf(),
        },
        recovery,
    })
}

/// The writer thread's clock: it paces `FsyncPolicy::EveryMs` and nothing else (no decision and no
/// record ever sees it), so the monotonic clock is the right one here.
#[allow(clippy::disallowed_methods)]
fn writer_clock() -> Instant {
    Instant::now()
}

struct WriterThread {
    dir: PathBuf,
    cfg: JournalConfig,
    consumer: Consumer<JournalRecord>,
    shared: Arc<Shared>,
    /// The open segment; `None` until the first record of an empty journal.
    seg: Option<SegmentFile>,
    /// The chain value after the last encoded record.
    chain: ChainHash,
    /// Encoded frames not yet written; reused, never shrunk.
    buf: Vec<u8>,
    /// Scratch for segment headers.
    scratch: Vec<u8>,
    /// Records in `buf`.
    buffered: u64,
    /// The seq of the last record encoded.
    buffered_seq: u64,
    /// Records written since the last sync.
    unsynced: u64,
    last_sync: Instant,
    tap: Option<Box<dyn WriterTap>>,
}

impl WriterThread {
    fn run(&mut self) -> Result<(), JournalError> {
        loop {
            // Read the stop condition before draining: whatever was pushed before it was set is drained.
            let stopping = self.shared.state.load(Ordering::Acquire) != RUNNING
                || self.shared.producer.gone.load(Ordering::Acquire);
            let n = self.drain()?;
            self.tap_durable(false)?;
            if n > 0 {
                continue;
            }
            if stopping {
                if self.unsynced > 0 {
                    self.sync()?;
                }
                self.tap_durable(true)?;
                return Ok(());
            }
            if let (Some(interval), true) = (self.cfg.fsync.interval(), self.unsynced > 0) {
                if self.last_sync.elapsed() >= interval {
                    self.sync()?;
                }
            }
            std::thread::sleep(self.cfg.idle_sleep);
        }
    }

    /// Pops until the ring is empty, writing a batch whenever `batch_bytes` are encoded.
    fn drain(&mut self) -> Result<u64, JournalError> {
        let mut n = 0;
        while let Some(rec) = self.consumer.pop() {
            self.encode(&rec)?;
            self.tap_durable(false)?;
            n += 1;
            if self.buf.len() >= self.cfg.batch_bytes {
                self.flush()?;
            }
        }
        if !self.buf.is_empty() {
            self.flush()?;
        }
        Ok(n)
    }

    fn encode(&mut self, rec: &JournalRecord) -> Result<(), JournalError> {
        let size = super::record::HEADER_LEN + rec.payload().len() + super::record::TRAILER_LEN;
        let roll = match &self.seg {
            None => true,
            Some(seg) => seg.is_full_for(size, self.cfg.segment_bytes),
        };
        if roll {
            self.roll(rec)?;
        }
        if let Some(seg) = self.seg.as_mut() {
            seg.reserve(size);
        }
        self.chain = encode_frame(&mut self.buf, rec, &self.chain);
        if self.shared.tap_pending.load(Ordering::Acquire) {
            self.take_tap();
        }
        if let Some(t) = self.tap.as_mut() {
            t.record(rec, &self.chain);
        }
        self.buffered += 1;
        self.buffered_seq = rec.seq;
        Ok(())
    }

    #[cold]
    fn take_tap(&mut self) {
        self.shared.tap_pending.store(false, Ordering::Release);
        if let Ok(mut g) = self.shared.tap_slot.lock() {
            if let Some(t) = g.take() {
                self.tap = Some(t);
            }
        }
    }

    /// Makes everything encoded durable and hands the tap its turn, if it asks.
    fn tap_durable(&mut self, closing: bool) -> Result<(), JournalError> {
        if !self.tap.as_ref().is_some_and(|t| t.due(closing)) {
            return Ok(());
        }
        self.flush()?;
        if self.unsynced > 0 {
            self.sync()?;
        }
        if let Some(t) = self.tap.as_mut() {
            t.durable(&self.dir);
        }
        Ok(())
    }

    #[cold]
    fn roll(&mut self, first: &JournalRecord) -> Result<(), JournalError> {
        if self.seg.is_some() {
            // A closed segment is always synced (whatever the policy; one fsync per segment), so
            // `durable_seq` only ever needs the open segment's sync to be true.
            self.flush()?;
            if self.unsynced > 0 {
                self.sync()?;
            }
        }
        let (seg, chain) = SegmentFile::create(
            &self.dir,
            first.seq,
            &self.chain,
            first.ts_recv,
            &mut self.scratch,
        )?;
        let w = &self.shared.writer;
        w.segments_created.fetch_add(1, Ordering::Relaxed);
        w.bytes.fetch_add(seg.bytes(), Ordering::Relaxed);
        self.seg = Some(seg);
        self.chain = chain;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), JournalError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let Some(seg) = self.seg.as_mut() else {
            return Err(JournalError::Writer {
                reason: "records buffered without an open segment".into(),
            });
        };
        seg.write(&self.buf)?;
        let w = &self.shared.writer;
        w.written.fetch_add(self.buffered, Ordering::Relaxed);
        w.bytes.fetch_add(self.buf.len() as u64, Ordering::Relaxed);
        w.written_seq.store(self.buffered_seq, Ordering::Relaxed);
        self.unsynced += self.buffered;
        self.buffered = 0;
        self.buf.clear();
        let due = match self.cfg.fsync {
            FsyncPolicy::Never => false,
            FsyncPolicy::Always => true,
            FsyncPolicy::EveryN(n) => self.unsynced >= u64::from(n),
            FsyncPolicy::EveryMs(ms) => {
                self.last_sync.elapsed() >= Duration::from_millis(u64::from(ms))
            }
        };
        if due {
            self.sync()?;
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), JournalError> {
        if let Some(seg) = self.seg.as_mut() {
            seg.sync()?;
        }
        let w = &self.shared.writer;
        w.fsyncs.fetch_add(1, Ordering::Relaxed);
        w.durable_seq
            .store(w.written_seq.load(Ordering::Relaxed), Ordering::Release);
        self.unsynced = 0;
        self.last_sync = writer_clock();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::testing::{nth_record, read_all, small, with_seqs, write_all, TempDir};
    use crate::journal::{list_segments_for_tests, verify};

    #[test]
    fn writes_rolls_and_reads_back() {
        let dir = TempDir::new("roll");
        let recs: Vec<_> = (0..200).map(nth_record).collect();
        let stats = write_all(dir.path(), small(1024, FsyncPolicy::EveryN(7)), &recs);
        assert_eq!(stats.appended, 200);
        assert_eq!(stats.written, 200);
        assert_eq!(stats.written_seq, 200);
        assert_eq!(stats.durable_seq, 200, "close fsyncs whatever the policy");
        assert!(stats.segments_created > 5, "{stats:?}");
        assert_eq!(read_all(dir.path()), with_seqs(&recs, 1));
        let segs = list_segments_for_tests(dir.path());
        assert_eq!(segs.len() as u64, stats.segments_created);
        for s in &segs {
            assert!(std::fs::metadata(&s.path).unwrap().len() <= 1024);
        }
        let report = verify(dir.path()).unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!((report.records, report.last_seq), (200, Some(200)));
    }

    #[test]
    fn reopening_continues_seq_and_chain() {
        let dir = TempDir::new("reopen");
        let a: Vec<_> = (0..30).map(nth_record).collect();
        let b: Vec<_> = (30..70).map(nth_record).collect();
        write_all(dir.path(), small(2048, FsyncPolicy::Never), &a);
        let head_a = verify(dir.path()).unwrap().head_hash;
        let j = open(dir.path(), small(2048, FsyncPolicy::Always)).unwrap();
        assert_eq!(j.recovery.next_seq, 31);
        assert_eq!(j.recovery.head, head_a);
        assert_eq!(j.recovery.cut, None);
        drop(j);
        write_all(dir.path(), small(2048, FsyncPolicy::Always), &b);
        let all: Vec<_> = a.iter().chain(&b).copied().collect();
        assert_eq!(read_all(dir.path()), with_seqs(&all, 1));
        assert!(verify(dir.path()).unwrap().is_intact());
    }

    #[test]
    fn full_ring_refuses_and_counts_without_burning_a_seq() {
        let dir = TempDir::new("full");
        let cfg = JournalConfig {
            ring_capacity: 2,
            idle_sleep: Duration::from_millis(300),
            ..small(4096, FsyncPolicy::Never)
        };
        let j = open(dir.path(), cfg).unwrap();
        let mut h = j.handle;
        // The writer drains once at start, then sleeps: let it get there.
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(h.append(nth_record(0)), Ok(1));
        assert_eq!(h.append(nth_record(1)), Ok(2));
        assert_eq!(h.append(nth_record(2)), Err(AppendError::Full));
        assert_eq!((h.dropped_full(), h.next_seq()), (1, 3));
        let stats = j.writer.stats();
        assert_eq!((stats.appended, stats.dropped_full), (2, 1));
        let writer = j.writer;
        let stats = writer.close().unwrap();
        assert_eq!(stats.written, 2);
        assert_eq!(h.append(nth_record(3)), Err(AppendError::Closed));
        assert_eq!(read_all(dir.path()).len(), 2);
    }

    #[test]
    fn every_ms_policy_syncs_while_idle() {
        let dir = TempDir::new("everyms");
        let j = open(dir.path(), small(4096, FsyncPolicy::EveryMs(1))).unwrap();
        let mut h = j.handle;
        h.append(nth_record(0)).unwrap();
        let mut waited = 0;
        while h.durable_seq() < 1 && waited < 5000 {
            std::thread::sleep(Duration::from_millis(1));
            waited += 1;
        }
        assert_eq!(h.durable_seq(), 1);
        assert!(j.writer.stats().fsyncs >= 1);
    }

    #[test]
    fn a_failed_writer_refuses_appends_and_close_reports_why() {
        let dir = TempDir::new("fail");
        let j = open(dir.path(), small(512, FsyncPolicy::Never)).unwrap();
        let mut h = j.handle;
        h.append(nth_record(0)).unwrap();
        while j.writer.stats().written < 1 {
            std::thread::yield_now();
        }
        // Pull the directory out from under the writer: the next rollover cannot create a segment.
        std::fs::remove_dir_all(dir.path()).unwrap();
        let mut i = 1;
        let refused = loop {
            match h.append(nth_record(i)) {
                Ok(_) | Err(AppendError::Full) => i += 1,
                Err(e) => break e,
            }
            std::thread::yield_now();
        };
        assert_eq!(refused, AppendError::WriterFailed);
        assert!(j.writer.has_failed());
        let health = h.health();
        assert!(!health.is_ok() && health.has_failed());
        assert_eq!(health.io_errors(), 1);
        assert_eq!(health.last_errno(), libc::ENOENT);
        assert!(matches!(j.writer.close(), Err(JournalError::Io { .. })));
    }

    #[test]
    fn config_is_checked() {
        let dir = TempDir::new("cfg");
        for cfg in [
            JournalConfig {
                segment_bytes: 10,
                ..JournalConfig::default()
            },
            JournalConfig {
                ring_capacity: 0,
                ..JournalConfig::default()
            },
            JournalConfig {
                batch_bytes: 1,
                ..JournalConfig::default()
            },
        ] {
            assert!(matches!(
                open(dir.path(), cfg),
                Err(JournalError::Config { .. })
            ));
        }
    }
}
