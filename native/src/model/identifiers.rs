//! Identifier newtypes: integers on the hot path, rendered as venue text only in gateway encoders.

/// An instrument within one engine (index into the instrument master).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct InstrumentId(pub u32);

/// Our client order id: unique forever (a persisted counter), never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct ClientOrderId(pub u64);

/// The venue's order id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct VenueOrderId(pub u64);

/// An order id in a third-party L3 feed (ITCH order reference number, DBN order id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct OrderRef(pub u64);
