//! [`PlannedOrder`]: an order the quoter or hedger wants on a venue, before the gateway sends it; its
//! [`OrderType`] and [`TimeInForce`], and small bit sets of them ([`OrderTypes`], [`TimesInForce`])
//! for what an instrument allows.
//!
//! Venue-neutral on purpose. Binance spends the same intent differently per market: post-only is the
//! order type `LIMIT_MAKER` on spot and the time in force `GTX` on USD-M; IOC and FOK are times in
//! force of a `LIMIT` order on both. So an IOC order is `OrderType::Limit` + `TimeInForce::Ioc`, not an
//! order type of its own (one concept, one home); [`PlannedOrder::is_post_only`] reads the intent back.
//!
//! # Hot path
//! Plain `Copy` data: built on the engine thread, no allocation.

use super::{ClientOrderId, InstrumentId, Price, Qty, Side, UnixNanos};

/// How an order executes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum OrderType {
    /// A limit order; its [`TimeInForce`] says how long it lives.
    Limit = 0,
    /// Spot's post-only limit order: rejected instead of taking liquidity.
    LimitMaker = 1,
    /// Executes against the book at any price.
    Market = 2,
}

impl OrderType {
    /// Every order type, in declaration order.
    pub const ALL: [OrderType; 3] = [OrderType::Limit, OrderType::LimitMaker, OrderType::Market];

    /// The venue spelling (`LIMIT`, `LIMIT_MAKER`, `MARKET`).
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderType::Limit => "LIMIT",
            OrderType::LimitMaker => "LIMIT_MAKER",
            OrderType::Market => "MARKET",
        }
    }

    /// Parses the venue spelling; `None` for types pymm does not send (stops, take-profits, …).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }

    /// Whether the order carries a limit price.
    pub const fn has_price(self) -> bool {
        !matches!(self, OrderType::Market)
    }
}

/// How long a limit order lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum TimeInForce {
    /// Good till cancelled.
    Gtc = 0,
    /// Immediate or cancel: fill what crosses now, expire the rest.
    Ioc = 1,
    /// Fill or kill: fill entirely now or expire.
    Fok = 2,
    /// Good till crossing: USD-M's post-only (rejected with `-5022` if it would take).
    Gtx = 3,
}

impl TimeInForce {
    /// Every time in force, in declaration order.
    pub const ALL: [TimeInForce; 4] = [
        TimeInForce::Gtc,
        TimeInForce::Ioc,
        TimeInForce::Fok,
        TimeInForce::Gtx,
    ];

    /// The venue spelling (`GTC`, `IOC`, `FOK`, `GTX`).
    pub const fn as_str(self) -> &'static str {
        match self {
            TimeInForce::Gtc => "GTC",
            TimeInForce::Ioc => "IOC",
            TimeInForce::Fok => "FOK",
            TimeInForce::Gtx => "GTX",
        }
    }

    /// Parses the venue spelling; `None` for ones pymm does not send (`GTD`, `RPI`, …).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// A set of [`OrderType`]s (what an instrument accepts), as a bit mask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct OrderTypes(u8);

impl OrderTypes {
    /// The empty set.
    pub const EMPTY: OrderTypes = OrderTypes(0);

    /// The set plus `t`.
    #[must_use]
    pub const fn with(self, t: OrderType) -> Self {
        Self(self.0 | 1 << t as u8)
    }

    /// Whether `t` is in the set.
    pub const fn contains(self, t: OrderType) -> bool {
        self.0 & (1 << t as u8) != 0
    }

    /// The members, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = OrderType> {
        OrderType::ALL
            .into_iter()
            .filter(move |t| self.contains(*t))
    }
}

/// A set of [`TimeInForce`]s, as a bit mask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TimesInForce(u8);

impl TimesInForce {
    /// The empty set.
    pub const EMPTY: TimesInForce = TimesInForce(0);

    /// The set plus `t`.
    #[must_use]
    pub const fn with(self, t: TimeInForce) -> Self {
        Self(self.0 | 1 << t as u8)
    }

    /// Whether `t` is in the set.
    pub const fn contains(self, t: TimeInForce) -> bool {
        self.0 & (1 << t as u8) != 0
    }

    /// The members, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = TimeInForce> {
        TimeInForce::ALL
            .into_iter()
            .filter(move |t| self.contains(*t))
    }
}

/// An order pymm intends to place: the quoter's or hedger's output, the gateway's input.
///
/// Price and quantity are already on the instrument's grid (ticks and lots); a market order's
/// `price` is ignored. Risk checks it next (a "no" becomes `OrderDenied`); the venue may still reject
/// it (`OrderRejected`) — [`crate::model::validator`] predicts that answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlannedOrder {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Our id for the order, unique forever.
    pub client_order_id: ClientOrderId,
    /// Buy or sell.
    pub side: Side,
    /// Limit price in ticks (ignored for [`OrderType::Market`]).
    pub price: Price,
    /// Quantity in lots.
    pub qty: Qty,
    /// Limit, limit-maker (spot post-only) or market.
    pub order_type: OrderType,
    /// How long a limit order lives (`Gtx` = USD-M post-only); `None` where the venue takes none
    /// (spot `LIMIT_MAKER` and `MARKET`).
    pub time_in_force: Option<TimeInForce>,
    /// Only reduce an existing position (USD-M one-way mode); never sent on spot.
    pub reduce_only: bool,
    /// When the planner decided (engine time, from the triggering event).
    pub ts_init: UnixNanos,
}

impl PlannedOrder {
    /// Whether the order must only add liquidity: spot `LIMIT_MAKER` or USD-M `GTX`.
    #[inline]
    pub const fn is_post_only(&self) -> bool {
        matches!(self.order_type, OrderType::LimitMaker)
            || matches!(self.time_in_force, Some(TimeInForce::Gtx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venue_spellings_round_trip() {
        for t in OrderType::ALL {
            assert_eq!(OrderType::parse(t.as_str()), Some(t));
        }
        for t in TimeInForce::ALL {
            assert_eq!(TimeInForce::parse(t.as_str()), Some(t));
        }
        assert_eq!(OrderType::parse("STOP_LOSS"), None);
        assert_eq!(TimeInForce::parse("GTD"), None);
    }

    #[test]
    fn sets_hold_what_was_added() {
        let s = OrderTypes::EMPTY
            .with(OrderType::Limit)
            .with(OrderType::Market);
        assert!(s.contains(OrderType::Limit) && !s.contains(OrderType::LimitMaker));
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            [OrderType::Limit, OrderType::Market]
        );
        let t = TimesInForce::EMPTY.with(TimeInForce::Gtx);
        assert!(t.contains(TimeInForce::Gtx) && !t.contains(TimeInForce::Gtc));
    }

    #[test]
    fn post_only_is_read_from_type_or_tif() {
        let mut o = PlannedOrder {
            instrument: InstrumentId(0),
            client_order_id: ClientOrderId(1),
            side: Side::Buy,
            price: Price::from_ticks(16912),
            qty: Qty::from_lots(100),
            order_type: OrderType::LimitMaker,
            time_in_force: None,
            reduce_only: false,
            ts_init: UnixNanos(0),
        };
        assert!(o.is_post_only());
        o.order_type = OrderType::Limit;
        o.time_in_force = Some(TimeInForce::Gtc);
        assert!(!o.is_post_only());
        o.time_in_force = Some(TimeInForce::Gtx);
        assert!(o.is_post_only());
    }
}
