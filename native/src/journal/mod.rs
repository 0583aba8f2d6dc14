//! The append-only, checksummed, hash-chained journal of every input that can change engine state
//! (market data after sequencing, order acks, fills, rejects, parameter pushes, operator commands,
//! timer ticks) — the audit ledger and the input of deterministic replay.
//!
//! - [`record`]: the fixed-size [`JournalRecord`] the hot thread pushes, the on-disk frame
//!   (header, payload, crc32c, blake3 chain) and the payload encodings of the model types;
//! - [`segment`]: segment files, rollover, the [`FsyncPolicy`];
//! - [`writer`]: the writer thread and the producer's [`JournalHandle`];
//! - [`reader`]: iteration with verification, and [`open_for_append`] (torn-tail recovery);
//! - [`verify`](mod@verify): the audit check behind `pymm ledger verify`;
//! - [`replay`](mod@replay): the [`Replayable`] contract and the replay driver (snapshot + tail);
//! - [`snapshot`]: snapshot files next to the segments;
//! - [`payloads`]: typed payloads of the order-flow and control kinds;
//! - [`state`]: [`LedgerState`], the state the records describe (books, orders, positions, params,
//!   kill latch), a concrete `Replayable`.
//!
//! Threads: the hot thread only calls [`JournalHandle::append`] (no allocation, no lock, no
//! syscall); all I/O happens on the writer thread or in offline tools. Nothing here ever skips a bad
//! record silently: the only repair is cutting a torn tail off the last segment, and it is reported.
//! Format and guarantees: `docs/architecture/journal.md`, `docs/adr/0003-journal-format.md`.

pub mod codec;
pub mod error;
pub mod export;
#[doc(hidden)]
pub mod fuzz;
pub mod payloads;
pub mod reader;
pub mod record;
pub mod replay;
pub mod segment;
pub mod snapshot;
pub mod snapshotter;
pub mod state;
pub mod synth;
#[cfg(test)]
mod testing;
pub mod verify;
pub mod writer;

pub use error::{BadReason, BadRecord, JournalError};
pub use reader::{open_for_append, AppendSegment, JournalReader, ReadRecord, Recovery, TailCut};
pub use record::{
    ChainHash, FrameError, JournalRecord, Payload, PayloadError, RecordError, RecordKind,
    SegmentHeaderPayload, GENESIS, MAX_PAYLOAD_LEN,
};
pub use replay::{replay, ReplayError, ReplayOptions, ReplayReport, Replayable, StopAt, Stopped};
pub use segment::{FsyncPolicy, SegmentInfo};
pub use state::{LedgerError, LedgerState};
pub use verify::{verify, FirstBad, VerifyReport};
pub use writer::{
    open, open_engine_journal, AppendError, JournalConfig, JournalHandle, JournalHealth,
    JournalStats, JournalWriter, OpenJournal, WriterTap,
};

#[cfg(test)]
fn list_segments_for_tests(dir: &std::path::Path) -> Vec<SegmentInfo> {
    segment::list_segments(dir).unwrap()
}
