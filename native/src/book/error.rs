//! [`IntegrityError`]: a book state that must never be patched over.

use crate::model::{Price, Qty, Side};
use thiserror::Error;

/// A book integrity violation. The caller counts it, marks the instrument stale and asks for a resync.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum IntegrityError {
    /// Best bid at or above best ask outside an auction.
    #[error("crossed book: best bid {bid:?} >= best ask {ask:?}")]
    Crossed {
        /// Best bid price.
        bid: Price,
        /// Best ask price.
        ask: Price,
    },
    /// A level with a negative size (zero is a delete in a diff).
    #[error("negative size {qty:?} at {side:?} {price:?}")]
    NegativeQty {
        /// Side of the level.
        side: Side,
        /// Price of the level.
        price: Price,
        /// The refused size.
        qty: Qty,
    },
    /// A snapshot level with size zero (a snapshot lists live levels only).
    #[error("zero size in a snapshot at {side:?} {price:?}")]
    ZeroQtyInSnapshot {
        /// Side of the level.
        side: Side,
        /// Price of the level.
        price: Price,
    },
    /// A price at or below zero, or above [`super::l2::MAX_PRICE_TICKS`].
    #[error("price {price:?} out of range on {side:?}")]
    PriceOutOfRange {
        /// Side of the level.
        side: Side,
        /// The refused price.
        price: Price,
    },
}
