//! The simulated exchange pymm trades against by default: a price-time matching engine per symbol
//! ([`matching`]); the spot account layer with filters, balances, fees and the event stream
//! ([`account`]); the Binance spot wire shapes ([`binance_spot`]); the market-flow generator, the
//! replay driver build on it; the colocated-exchange front (ITCH 5.0 over MoldUDP64 A/B multicast with
//! a re-request server, OUCH 4.2 over SoupBinTCP 3.0) is [`itch_front`] (logic), [`itch_venue`]
//! (sockets and threads) and [`itch_flow`] (the pluggable crowd).

pub mod account;
pub mod binance_spot;
pub mod itch_flow;
pub mod itch_front;
pub mod itch_venue;
pub mod matching;

pub use account::{FeeRates, OrderKey, PlaceOrder, SpotVenue, VenueEvent};
pub use matching::{Levels, MatchEvent, MatchingEngine, NewOrder, RejectReason, StpMode};
