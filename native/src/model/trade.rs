//! [`Trade`]: a print on the venue's tape.

use super::{InstrumentId, Price, Qty, Side, UnixNanos};

/// A trade between two parties on the venue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trade {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Execution price.
    pub price: Price,
    /// Executed quantity.
    pub qty: Qty,
    /// The aggressor's side, when the venue says (Binance: buyer is maker ⇒ the aggressor sold).
    pub aggressor: Option<Side>,
    /// The venue's trade id.
    pub trade_id: u64,
    /// Venue event time.
    pub ts_event: UnixNanos,
    /// Our receive time.
    pub ts_recv: UnixNanos,
}
