//! The value types every other domain speaks: fixed-point [`Price`]/[`Qty`], [`Side`], identifiers,
//! events (DTOs), and the instrument master with its order validator.
//!
//! Pure data and arithmetic: no I/O, no allocation in the types used on the hot path.
