//! Per-instrument risk limits, in the instrument's own fixed-point units.

use crate::model::Qty;

/// Limits for one instrument. Every field is required: an instrument without limits is not
/// allowed to trade (the allow-list is the set of instruments that have limits).
///
/// Notional values are in `tick × lot` units of the instrument (convert a quote-currency amount
/// with the instrument's scales when building the limits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RiskLimits {
    /// Largest quantity of one order.
    pub max_order_qty: Qty,
    /// Largest `price × qty` of one order.
    pub max_order_notional: i128,
    /// Collar half-width around the reference price, in basis points.
    pub price_collar_bps: u32,
    /// Oldest acceptable reference price, in nanoseconds of event time.
    pub max_reference_age_ns: u64,
    /// Largest long position counting working buys (and UNKNOWN orders) as filled.
    pub max_long: Qty,
    /// Largest short position (a positive number) counting working sells as filled.
    pub max_short: Qty,
    /// Largest worst-case position notional at the reference price.
    pub max_position_notional: i128,
    /// Most working orders at once.
    pub max_open_orders: u32,
    /// An identical order within this many ns of another is a duplicate (0 turns the check off).
    pub duplicate_window_ns: u64,
    /// This many fills within `fill_window_ns` latch the execution throttle (at most 256).
    pub max_fills_in_window: u32,
    /// The window of the execution throttle.
    pub fill_window_ns: u64,
}

/// Venue and internal message budgets for one session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Venue order budget (new orders and replaces): burst capacity (at most
    /// [`super::token_bucket::MAX_CAPACITY`]; a larger one is capped there).
    pub venue_orders_burst: u64,
    /// Venue order budget refill per second.
    pub venue_orders_per_second: u64,
    /// Internal message budget (new, replace, cancel): burst capacity (capped as above).
    pub messages_burst: u64,
    /// Internal message budget refill per second.
    pub messages_per_second: u64,
}
