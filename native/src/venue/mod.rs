//! The simulated exchange pymm trades against by default: a price-time matching engine per symbol
//! ([`matching`]); the spot account layer with filters, balances, fees and the event stream
//! ([`account`]); the Binance spot wire shapes ([`binance_spot`]); the market-flow generator, the
//! replay driver and the ITCH/OUCH fronts build on it.

pub mod account;
pub mod binance_spot;
pub mod flow;
pub mod latency;
pub mod matching;
pub mod replay;

pub use account::{FeeRates, OrderKey, PlaceOrder, SpotVenue, VenueEvent};
pub use flow::{FlowError, FlowGenerator, FlowParams, FlowStats, Rng};
pub use latency::{Jitter, LatencyModel, PathDelay};
pub use matching::{Levels, MatchEvent, MatchingEngine, NewOrder, RejectReason, StpMode};
