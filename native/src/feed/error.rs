//! [`DecodeError`]: why a venue message was refused, and per-kind counters.

use crate::model::DecimalError;
use thiserror::Error;

/// A refused venue message. The hot path counts it by [`DecodeErrorKind`] and drops the message.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The bytes are not the JSON shape expected at this point.
    #[error("malformed message at byte {at}: expected {expected}")]
    Malformed {
        /// Byte offset of the failure.
        at: usize,
        /// What the scanner expected there.
        expected: &'static str,
    },
    /// Containers nested deeper than the scanner allows.
    #[error("nesting deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// A field the message kind requires is absent.
    #[error("{kind} message lacks field {field:?}")]
    MissingField {
        /// The message kind.
        kind: &'static str,
        /// The missing key.
        field: &'static str,
    },
    /// A field has the wrong JSON type.
    #[error("{kind} field {field:?} has the wrong type")]
    WrongType {
        /// The message kind.
        kind: &'static str,
        /// The offending key.
        field: &'static str,
    },
    /// An id or timestamp that is not an unsigned 64-bit integer.
    #[error("field {field:?} is not an unsigned 64-bit integer")]
    BadInteger {
        /// The offending key.
        field: &'static str,
    },
    /// A price or size that is not exactly representable on the instrument's grid.
    #[error("field {field:?}: {source}")]
    BadDecimal {
        /// The offending key.
        field: &'static str,
        /// Why the decimal was refused.
        #[source]
        source: DecimalError,
    },
    /// A message for a symbol this handler does not know.
    #[error("unknown symbol")]
    UnknownSymbol,
}

/// The kind of a [`DecodeError`], for counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum DecodeErrorKind {
    /// [`DecodeError::Malformed`].
    Malformed = 0,
    /// [`DecodeError::TooDeep`].
    TooDeep,
    /// [`DecodeError::MissingField`].
    MissingField,
    /// [`DecodeError::WrongType`].
    WrongType,
    /// [`DecodeError::BadInteger`].
    BadInteger,
    /// [`DecodeError::BadDecimal`].
    BadDecimal,
    /// [`DecodeError::UnknownSymbol`].
    UnknownSymbol,
}

impl DecodeErrorKind {
    /// Every kind, in counter order.
    pub const ALL: [DecodeErrorKind; 7] = [
        Self::Malformed,
        Self::TooDeep,
        Self::MissingField,
        Self::WrongType,
        Self::BadInteger,
        Self::BadDecimal,
        Self::UnknownSymbol,
    ];

    /// A stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::TooDeep => "too_deep",
            Self::MissingField => "missing_field",
            Self::WrongType => "wrong_type",
            Self::BadInteger => "bad_integer",
            Self::BadDecimal => "bad_decimal",
            Self::UnknownSymbol => "unknown_symbol",
        }
    }
}

impl DecodeError {
    /// This error's kind.
    pub const fn kind(&self) -> DecodeErrorKind {
        match self {
            Self::Malformed { .. } => DecodeErrorKind::Malformed,
            Self::TooDeep { .. } => DecodeErrorKind::TooDeep,
            Self::MissingField { .. } => DecodeErrorKind::MissingField,
            Self::WrongType { .. } => DecodeErrorKind::WrongType,
            Self::BadInteger { .. } => DecodeErrorKind::BadInteger,
            Self::BadDecimal { .. } => DecodeErrorKind::BadDecimal,
            Self::UnknownSymbol => DecodeErrorKind::UnknownSymbol,
        }
    }
}

/// Decode errors counted by kind (plain array: no allocation, no hashing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeErrorCounts([u64; 7]);

impl DecodeErrorCounts {
    /// Counts one error.
    #[inline]
    pub fn count(&mut self, e: &DecodeError) {
        self.0[e.kind() as usize] += 1;
    }

    /// The count for one kind.
    pub fn get(&self, kind: DecodeErrorKind) -> u64 {
        self.0[kind as usize]
    }

    /// The total over all kinds.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Adds another set of counts.
    pub fn merge(&mut self, other: &DecodeErrorCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }
}
