//! [`ExecutionReport`]: what the venue says happened to one of our orders (an ack, a fill, a cancel,
//! a reject), or that we do not know ([`OrderStatus::Unknown`] after a timeout or a reset after send).
//!
//! Decoded on the order-entry/user-stream thread from Binance `executionReport` /
//! `ORDER_TRADE_UPDATE` (or the simulated venue) and handed to the engine over a ring.
//!
//! # Hot path
//! Plain `Copy` data, no heap.

use super::{
    Asset, ClientOrderId, Decimal, InstrumentId, OrderType, Price, Qty, Side, UnixNanos,
    VenueOrderId,
};

/// An order's state as the venue reports it, plus our own `Unknown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OrderStatus {
    /// Accepted and resting (or about to match).
    New = 0,
    /// Partly filled, the rest still working.
    PartiallyFilled = 1,
    /// Completely filled.
    Filled = 2,
    /// Cancelled (by us or the venue).
    Canceled = 3,
    /// Refused by the venue; never worked.
    Rejected = 4,
    /// Expired: IOC/FOK leftovers, market leftovers, exchange cancels.
    Expired = 5,
    /// Expired by self-trade prevention (Binance `EXPIRED_IN_MATCH`).
    ExpiredInMatch = 6,
    /// Sent, but we could not learn its fate (timeout, reset after send): reserved as if live and
    /// resolved by the user stream, then a query — never blindly resent.
    Unknown = 7,
}

impl OrderStatus {
    /// The venue spelling; `UNKNOWN` is ours.
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStatus::New => "NEW",
            OrderStatus::PartiallyFilled => "PARTIALLY_FILLED",
            OrderStatus::Filled => "FILLED",
            OrderStatus::Canceled => "CANCELED",
            OrderStatus::Rejected => "REJECTED",
            OrderStatus::Expired => "EXPIRED",
            OrderStatus::ExpiredInMatch => "EXPIRED_IN_MATCH",
            OrderStatus::Unknown => "UNKNOWN",
        }
    }

    /// Parses a venue status. Anything unrecognised is `None`: the decoder counts it and the order
    /// becomes `Unknown` (never guessed).
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "NEW" => OrderStatus::New,
            "PARTIALLY_FILLED" => OrderStatus::PartiallyFilled,
            "FILLED" => OrderStatus::Filled,
            "CANCELED" => OrderStatus::Canceled,
            "REJECTED" => OrderStatus::Rejected,
            "EXPIRED" => OrderStatus::Expired,
            "EXPIRED_IN_MATCH" => OrderStatus::ExpiredInMatch,
            "UNKNOWN" => OrderStatus::Unknown,
            _ => return None,
        })
    }

    /// Whether the order can still trade (or might: `Unknown` counts as live for limits).
    pub const fn is_live(self) -> bool {
        matches!(
            self,
            OrderStatus::New | OrderStatus::PartiallyFilled | OrderStatus::Unknown
        )
    }
}

/// Whether a fill added liquidity (maker) or took it (taker).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Liquidity {
    /// No fill in this report.
    None = 0,
    /// Our resting order was hit.
    Maker = 1,
    /// Our order crossed the spread.
    Taker = 2,
}

/// One venue report on one of our orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecutionReport {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Our id of the order.
    pub client_order_id: ClientOrderId,
    /// The venue's id, once it assigned one.
    pub venue_order_id: Option<VenueOrderId>,
    /// Buy or sell.
    pub side: Side,
    /// The order's type.
    pub order_type: OrderType,
    /// The order's state after this report.
    pub status: OrderStatus,
    /// The order's limit price (zero ticks for market orders).
    pub price: Price,
    /// The order's original quantity.
    pub qty: Qty,
    /// Quantity filled so far, this report included. Invariant: `cum_qty <= qty`.
    pub cum_qty: Qty,
    /// Quantity filled by this report (zero when it is not a fill).
    pub last_qty: Qty,
    /// Price of this report's fill (zero ticks when it is not a fill).
    pub last_price: Price,
    /// Σ fill price × fill quantity over all fills so far, in tick·lot units (exact; see
    /// [`crate::model::notional`]). The average fill price is `cum_notional / cum_qty` ticks.
    pub cum_notional: i128,
    /// Fee charged for this report's fill, exact, in `fee_asset`.
    pub fee: Decimal,
    /// The asset the fee was charged in ([`Asset::NONE`] when none).
    pub fee_asset: Asset,
    /// Maker or taker for a fill; `None` otherwise.
    pub liquidity: Liquidity,
    /// The venue's trade id of this fill, if it is one.
    pub trade_id: Option<u64>,
    /// The venue's error code for a rejection (e.g. -1013, -2010, -5022); `0` otherwise.
    pub reject_code: i32,
    /// Venue event time.
    pub ts_event: UnixNanos,
    /// Our receive time.
    pub ts_recv: UnixNanos,
}

impl ExecutionReport {
    /// Whether this report carries a fill.
    #[inline]
    pub const fn is_fill(&self) -> bool {
        self.last_qty.lots() > 0
    }

    /// The average fill price as an exact fraction of ticks `(numerator, denominator)`; `None`
    /// before the first fill.
    #[inline]
    pub fn avg_price_ticks(&self) -> Option<(i128, i64)> {
        (self.cum_qty.lots() > 0).then_some((self.cum_notional, self.cum_qty.lots()))
    }

    /// Quantity still working: `qty - cum_qty` while live, zero once final.
    #[inline]
    pub fn leaves_qty(&self) -> Qty {
        if self.status.is_live() {
            Qty::from_lots((self.qty.lots() - self.cum_qty.lots()).max(0))
        } else {
            Qty::ZERO
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_classify() {
        for s in [
            OrderStatus::New,
            OrderStatus::PartiallyFilled,
            OrderStatus::Filled,
            OrderStatus::Canceled,
            OrderStatus::Rejected,
            OrderStatus::Expired,
            OrderStatus::ExpiredInMatch,
            OrderStatus::Unknown,
        ] {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(OrderStatus::parse("PENDING_CANCEL"), None);
        assert!(OrderStatus::Unknown.is_live());
        assert!(!OrderStatus::Expired.is_live());
    }

    #[test]
    fn fill_and_leaves() {
        let r = ExecutionReport {
            instrument: InstrumentId(0),
            client_order_id: ClientOrderId(7),
            venue_order_id: Some(VenueOrderId(99)),
            side: Side::Sell,
            order_type: OrderType::LimitMaker,
            status: OrderStatus::PartiallyFilled,
            price: Price::from_ticks(16912),
            qty: Qty::from_lots(100),
            cum_qty: Qty::from_lots(40),
            last_qty: Qty::from_lots(40),
            last_price: Price::from_ticks(16912),
            cum_notional: crate::model::notional(Price::from_ticks(16912), Qty::from_lots(40)),
            fee: Decimal::parse("0.00676480").unwrap(),
            fee_asset: Asset::new("USDT").unwrap(),
            liquidity: Liquidity::Maker,
            trade_id: Some(5),
            reject_code: 0,
            ts_event: UnixNanos(1),
            ts_recv: UnixNanos(2),
        };
        assert!(r.is_fill());
        assert_eq!(r.leaves_qty(), Qty::from_lots(60));
        assert_eq!(r.avg_price_ticks(), Some((16912 * 40, 40)));
        let unfilled = ExecutionReport {
            cum_qty: Qty::ZERO,
            cum_notional: 0,
            ..r
        };
        assert_eq!(unfilled.avg_price_ticks(), None);
        let done = ExecutionReport {
            status: OrderStatus::Canceled,
            last_qty: Qty::ZERO,
            ..r
        };
        assert!(!done.is_fill());
        assert_eq!(done.leaves_qty(), Qty::ZERO);
    }
}
