//! The simulated exchange pymm trades against by default: a price-time matching engine per symbol
//! ([`matching`]); the spot account layer with filters, balances, fees and the event stream
//! ([`account`]); the Binance spot wire shapes ([`binance_spot`]); the USD-M futures accounts,
//! positions, margin and funding ([`usdm`]) and their `/fapi` wire shapes ([`binance_usdm`]); the
//! market-flow generator ([`flow`]), the replay driver ([`replay`]) and the latency model
//! ([`latency`]); the colocated-exchange front (ITCH 5.0 over MoldUDP64 A/B multicast with a
//! re-request server, OUCH 4.2 over SoupBinTCP 3.0) is [`itch_front`] (logic), [`itch_venue`]
//! (sockets and threads) and [`itch_flow`] (the pluggable crowd).

pub mod account;
pub mod binance_spot;
pub mod binance_usdm;
pub mod flow;
pub mod itch_flow;
pub mod itch_front;
pub mod itch_venue;
pub mod latency;
pub mod matching;
pub mod replay;
pub mod usdm;

pub use account::{FeeRates, OrderKey, PlaceOrder, SpotVenue, VenueEvent};
pub use flow::{FlowError, FlowGenerator, FlowParams, FlowStats, Rng};
pub use latency::{Jitter, LatencyModel, PathDelay};
pub use matching::{Levels, MatchEvent, MatchingEngine, NewOrder, RejectReason, StpMode};
pub use usdm::{FuturesEvent, UsdmVenue};
