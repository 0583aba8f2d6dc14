//! The value types every other domain speaks: fixed-point [`Price`]/[`Qty`] with a per-instrument
//! [`Scale`], [`Side`], identifiers, events (DTOs), and the instrument master with its order validator.
//!
//! Pure data and arithmetic: no I/O, no allocation in the types used on the hot path. The exceptions
//! are named: [`instrument_master`] reads files and parses JSON/TOML at start-up, off the hot path.

pub mod asset;
pub mod book_delta;
pub mod decimal;
pub mod execution_report;
pub mod identifiers;
pub mod instrument;
pub mod instrument_master;
pub mod nanos;
pub mod order;
pub mod price;
pub mod scale;
pub mod side;
pub mod snapshot;
pub mod trade;
pub mod validator;

#[cfg(test)]
pub(crate) mod testing;

pub use asset::Asset;
pub use book_delta::{BookDelta, OrderAction, OrderEvent};
pub use decimal::{Decimal, DecimalError};
pub use execution_report::{ExecutionReport, Liquidity, OrderStatus};
pub use identifiers::{ClientOrderId, InstrumentId, OrderRef, VenueOrderId};
pub use instrument::{Instrument, InstrumentStatus, Market};
pub use instrument_master::{InstrumentError, InstrumentMaster};
pub use nanos::UnixNanos;
pub use order::{OrderType, OrderTypes, PlannedOrder, TimeInForce, TimesInForce};
pub use price::{notional, Price, Qty};
pub use scale::Scale;
pub use side::Side;
pub use snapshot::{Level, MarketSnapshot, SnapshotError, SNAPSHOT_DEPTH};
pub use trade::Trade;
pub use validator::{validate, MarketContext, OrderRequest, PriceInput, QtyInput, VenueError};
