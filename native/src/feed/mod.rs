//! Venue feed handling: decoders ([`binance`]), the snapshot/diff book synchroniser ([`sync`]) and
//! the replay of recorded captures ([`replay`]).
//!
//! Decoders and the synchroniser run on the venue session's pinned feed thread: they must never
//! allocate after warm-up, lock, log or make a syscall. A bad message is a [`DecodeError`], counted
//! by kind and dropped; a sequence gap marks the instrument stale and asks for a resync. Replay is an
//! offline tool (file I/O, allocation allowed) that drives the very same decoders and books.

pub mod binance;
pub mod error;
pub mod replay;
pub mod sync;

pub use error::{DecodeError, DecodeErrorCounts, DecodeErrorKind};
pub use replay::ReplaySummary;
pub use sync::{BookSync, SequenceRule, SyncCounters, SyncEvent};
