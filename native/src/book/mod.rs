//! Order books: [`l2`] (price levels, a dense tick ladder around the touch) and their integrity
//! checks ([`IntegrityError`]).
//!
//! Runs on the venue session's pinned feed thread, right after the decoder. Must never allocate after
//! warm-up, lock, log, or silently repair a bad state: a crossed book or a non-positive size is an
//! [`IntegrityError`], and the caller (the feed synchroniser) marks the instrument stale and resyncs.

pub mod error;
pub mod l2;
pub mod l2_btree;

pub use error::IntegrityError;
pub use l2::L2Book;
pub use l2_btree::BTreeL2Book;
