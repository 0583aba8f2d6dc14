//! The simulated exchange pymm trades against by default: a price-time matching engine per symbol
//! ([`matching`]); the account layer (filters, balances, positions, fees), the market-flow generator,
//! the replay driver and the Binance-compatible and ITCH/OUCH fronts build on it.

pub mod matching;

pub use matching::{Levels, MatchEvent, MatchingEngine, NewOrder, RejectReason, StpMode};
