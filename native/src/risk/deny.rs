//! Why pre-trade risk said no: a reason code that becomes an `OrderDenied` event.

/// The reason an order was denied by our own pre-trade risk (a venue's refusal is a *reject*).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum DenyReason {
    /// The kill switch is latched: no new orders until a person lifts it.
    Killed = 1,
    /// The repeated-execution throttle latched: no new orders until re-armed.
    ExecutionThrottle = 2,
    /// The instrument is not on the allow-list (no limits configured): fail closed.
    NotAllowed = 3,
    /// No reference price has been seen: the collar cannot be checked, so the order is refused.
    NoReference = 4,
    /// The reference price is older than the limit allows.
    StaleReference = 5,
    /// The price is outside the collar around the reference.
    PriceCollar = 6,
    /// Quantity is zero or negative, or price is not positive.
    InvalidOrder = 7,
    /// Quantity above the per-order maximum.
    MaxOrderQty = 8,
    /// Notional above the per-order maximum.
    MaxOrderNotional = 9,
    /// Position plus working buys would exceed the long limit.
    MaxLong = 10,
    /// Position minus working sells would exceed the short limit.
    MaxShort = 11,
    /// Worst-case position notional at the reference would exceed its limit.
    MaxPositionNotional = 12,
    /// Too many open orders on the instrument.
    MaxOpenOrders = 13,
    /// An identical order (side, price, quantity) was sent within the duplicate window.
    Duplicate = 14,
    /// The order would trade against one of our own working orders.
    SelfTrade = 15,
    /// The venue's order-rate budget is spent.
    VenueOrderRate = 16,
    /// Our internal message-rate budget is spent.
    MessageRate = 17,
    /// An arithmetic overflow while checking (refuse rather than wrap).
    Overflow = 18,
    /// The client order id is already in use.
    DuplicateClientId = 19,
}

impl DenyReason {
    /// A stable snake_case name for logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            DenyReason::Killed => "killed",
            DenyReason::ExecutionThrottle => "execution_throttle",
            DenyReason::NotAllowed => "not_allowed",
            DenyReason::NoReference => "no_reference",
            DenyReason::StaleReference => "stale_reference",
            DenyReason::PriceCollar => "price_collar",
            DenyReason::InvalidOrder => "invalid_order",
            DenyReason::MaxOrderQty => "max_order_qty",
            DenyReason::MaxOrderNotional => "max_order_notional",
            DenyReason::MaxLong => "max_long",
            DenyReason::MaxShort => "max_short",
            DenyReason::MaxPositionNotional => "max_position_notional",
            DenyReason::MaxOpenOrders => "max_open_orders",
            DenyReason::Duplicate => "duplicate",
            DenyReason::SelfTrade => "self_trade",
            DenyReason::VenueOrderRate => "venue_order_rate",
            DenyReason::MessageRate => "message_rate",
            DenyReason::Overflow => "overflow",
            DenyReason::DuplicateClientId => "duplicate_client_id",
        }
    }
}
