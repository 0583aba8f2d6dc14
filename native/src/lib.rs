//! pymm's native core: the hot path of a market-making appliance.
//!
//! Domains (one module each, see `docs/architecture/`):
//! - [`model`]: fixed-point prices and sizes, sides, identifiers, the core DTOs, the instrument master;
//! - [`time`]: the clock authority (TSC with calibration, clock_gettime fallback), venue-clock offset,
//!   and per-stage latency histograms;
//! - [`net`]: transports and the SPSC rings between threads;
//! - [`engine`]: thread placement and the seqlock'd parameter block;
//! - [`gateway`]: the order state machine with UNKNOWN, client order ids unique forever;
//! - [`quoter`]: desired multi-level quotes and the minimal actions to reach them;
//! - [`venue`]: the simulated exchange (matching engine first);
//! - [`risk`]: pre-trade checks, token buckets, reservations, kill and throttle latches;
//! - [`feed`]: venue decoders (Binance JSON; ITCH 5.0, MoldUDP64 with A/B arbitration and re-request,
//!   Databento DBN, LOBSTER), snapshot/diff book sync, stale-tick gating, replay of recordings;
//! - [`book`]: L2 price-level and L3 order-by-order books and their integrity checks;
//! - [`journal`]: the append-only, hash-chained input journal (audit ledger, replay input).
//!
//! Nothing outside [`bindings`] names PyO3; the `python` feature (on for maturin, off for plain cargo)
//! gates the binding layer so `cargo test`, benches and fuzz targets need no libpython.

pub mod book;
pub mod engine;
pub mod feed;
pub mod gateway;
pub mod journal;
pub mod model;
pub mod net;
pub mod quoter;
pub mod risk;
pub mod time;
pub mod venue;

#[cfg(feature = "python")]
mod bindings;
