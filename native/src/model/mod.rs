//! The value types every other domain speaks: fixed-point [`Price`]/[`Qty`] with a per-instrument
//! [`Scale`], [`Side`], identifiers, events (DTOs), and the instrument master with its order validator.
//!
//! Pure data and arithmetic: no I/O, no allocation in the types used on the hot path.

pub mod book_delta;
pub mod decimal;
pub mod identifiers;
pub mod nanos;
pub mod price;
pub mod scale;
pub mod side;
pub mod trade;

pub use book_delta::{BookDelta, OrderAction, OrderEvent};
pub use decimal::{Decimal, DecimalError};
pub use identifiers::{ClientOrderId, InstrumentId, OrderRef, VenueOrderId};
pub use nanos::UnixNanos;
pub use price::{notional, Price, Qty};
pub use scale::Scale;
pub use side::Side;
pub use trade::Trade;
