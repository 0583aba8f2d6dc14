//! Book changes as decoders emit them: [`BookDelta`] for price-level (L2) feeds and [`OrderEvent`]
//! for order-by-order (L3) feeds.

use super::{InstrumentId, OrderRef, Price, Qty, Side, UnixNanos};

/// One L2 level set: the aggregate quantity at `price` on `side` becomes `qty` (zero deletes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookDelta {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Bid or ask.
    pub side: Side,
    /// The level's price.
    pub price: Price,
    /// The new aggregate quantity; zero deletes the level.
    pub qty: Qty,
    /// The venue's sequence number of the update this delta belongs to.
    pub sequence: u64,
    /// Venue event time.
    pub ts_event: UnixNanos,
    /// Our receive time.
    pub ts_recv: UnixNanos,
}

/// What an L3 event does to the order it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderAction {
    /// A new resting order.
    Add,
    /// Part of the order's remaining quantity is cancelled (`qty` is the cancelled amount).
    Cancel,
    /// The whole order leaves the book.
    Delete,
    /// Part of the order executes (`qty` is the executed amount, `price` the execution price).
    Execute,
    /// The order is replaced by `new_ref` with a new price and quantity (loses priority).
    Replace {
        /// The replacing order's reference.
        new_ref: OrderRef,
    },
    /// Empty the book (a snapshot is about to start, or the venue said so).
    Clear,
}

/// One order-by-order book event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderEvent {
    /// The instrument.
    pub instrument: InstrumentId,
    /// What happens.
    pub action: OrderAction,
    /// The order it concerns.
    pub order: OrderRef,
    /// Side of the order.
    pub side: Side,
    /// Price (of the order, or of the execution for `Execute`).
    pub price: Price,
    /// Quantity (new size for `Add`/`Replace`, the change for `Cancel`/`Execute`).
    pub qty: Qty,
    /// Venue sequence number.
    pub sequence: u64,
    /// Venue event time.
    pub ts_event: UnixNanos,
    /// Our receive time.
    pub ts_recv: UnixNanos,
}
