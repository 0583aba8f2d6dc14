//! pymm's native core: the hot path of a market-making appliance.
//!
//! Domains (one module each, see `docs/architecture/`):
//! - [`model`]: fixed-point prices and sizes, sides, identifiers, the core DTOs, the instrument master;
//! - [`time`]: the clock authority (TSC with calibration, clock_gettime fallback), venue-clock offset,
//!   and per-stage latency histograms;
//! - [`feed`]: wire decoders (ITCH 5.0, MoldUDP64, Databento DBN, LOBSTER), A/B arbitration, gap
//!   recovery, stale-tick gating, replay drivers;
//! - [`book`]: order books (L3 order by order) with integrity checks.
//!
//! Nothing outside [`bindings`] names PyO3; the `python` feature (on for maturin, off for plain cargo)
//! gates the binding layer so `cargo test`, benches and fuzz targets need no libpython.

pub mod book;
pub mod feed;
pub mod model;
pub mod time;

#[cfg(feature = "python")]
mod bindings;
