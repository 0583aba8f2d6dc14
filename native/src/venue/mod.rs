//! The simulated exchange pymm trades against by default: a price-time matching engine per symbol
//! ([`matching`]); the spot account layer with filters, balances, fees and the event stream
//! ([`account`]); the Binance spot wire shapes ([`binance_spot`]); the USD-M futures accounts,
//! positions, margin and funding ([`usdm`]) and their `/fapi` wire shapes ([`binance_usdm`]); the market-flow generator, the
//! replay driver and the ITCH/OUCH fronts build on it.

pub mod account;
pub mod binance_spot;
pub mod binance_usdm;
pub mod flow;
pub mod latency;
pub mod matching;
pub mod replay;
pub mod usdm;

pub use account::{FeeRates, OrderKey, PlaceOrder, SpotVenue, VenueEvent};
pub use flow::{FlowError, FlowGenerator, FlowParams, FlowStats, Rng};
pub use latency::{Jitter, LatencyModel, PathDelay};
pub use matching::{Levels, MatchEvent, MatchingEngine, NewOrder, RejectReason, StpMode};
pub use usdm::{FuturesEvent, UsdmVenue};
