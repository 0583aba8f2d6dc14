//! Venue feed handling: decoders ([`binance`]; [`itch`] 5.0 over [`moldudp64`] with the A/B
//! [`arbiter`] and re-request client; Databento [`dbn`]; [`lobster`] files), the snapshot/diff book
//! synchroniser ([`sync`]), the [`stale_gate`], and the replay of recorded captures ([`replay`],
//! [`replay_l3`] for order-by-order data).
//!
//! Decoders and the synchroniser run on the venue session's pinned feed thread: they must never
//! allocate after warm-up, lock, log or make a syscall. A bad message is a [`DecodeError`] (JSON
//! venues) or a [`WireError`] (binary wire formats), counted and dropped; a sequence gap marks the
//! instrument stale and asks for a resync. Replay is an offline tool (file I/O, allocation allowed)
//! that drives the very same decoders and books.

pub mod arbiter;
pub mod binance;
pub mod dbn;
pub mod error;
pub mod fuzz;
pub mod itch;
pub mod itch_encode;
pub mod lobster;
pub mod lobster_to_itch;
pub mod moldudp64;
pub mod replay;
pub mod replay_l3;
pub mod stale_gate;
pub mod sync;
pub mod wire_error;

pub use error::{DecodeError, DecodeErrorCounts, DecodeErrorKind};
pub use replay::ReplaySummary;
pub use sync::{BookSync, SequenceRule, SyncCounters, SyncEvent};
pub use wire_error::{DataError, WireError};
