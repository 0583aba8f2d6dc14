//! Order books: [`l2`] (price levels, a dense tick ladder around the touch), [`l3`] (order by order:
//! price-time FIFO queues, an order-id index) and their integrity checks ([`IntegrityError`] for L2,
//! [`l3::IntegrityError`] for L3, to be unified).
//!
//! Runs on the venue session's pinned feed thread, right after the decoder. Must never allocate after
//! warm-up, lock, log, or silently repair a bad state: a crossed book or a non-positive size is an
//! [`IntegrityError`], and the caller (the feed synchroniser) marks the instrument stale and resyncs.

pub mod error;
pub mod l2;
pub mod l2_btree;
pub mod l3;

pub use error::IntegrityError;
pub use l2::L2Book;
pub use l2_btree::BTreeL2Book;
pub use l3::{L3Book, L3Config, LevelView};
