//! The canonical byte encoding of snapshot state: fixed-width little-endian integers, one tag byte
//! per `Option` and enum, arrays element by element, struct fields in declaration order.
//!
//! Deterministic by construction (no padding, no addresses, no map order), so equal states encode
//! to equal bytes. Decoding is strict: a bad tag, a length that does not match, a short read or
//! trailing bytes is an error naming the field and the reason; nothing is guessed. Only the
//! journalled part of a state is encoded: configuration (limits, rates, the instrument, the client
//! prefix) comes from the construction that both the live engine and every replay repeat, and
//! scratch buffers are rebuilt empty.
//!
//! Types implement [`Snap`]; plain data structs do it with [`snap_struct!`] (the struct literal in
//! `get` refuses to compile when a field is added and not listed), fieldless enums with
//! [`snap_enum!`].

use crate::gateway::order_state::OrderState;
use crate::model::{ClientOrderId, InstrumentId, Price, Qty, Side, UnixNanos};

/// Why snapshot state bytes do not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("snapshot state at byte {at}: {what}: {reason}")]
pub struct SnapDecodeError {
    /// The byte offset where decoding failed.
    pub at: usize,
    /// What was being read.
    pub what: &'static str,
    /// Why it failed.
    pub reason: String,
}

/// Reads snapshot state bytes front to back.
pub struct SnapReader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> SnapReader<'a> {
    /// A reader over `b`.
    pub fn new(b: &'a [u8]) -> Self {
        Self { b, pos: 0 }
    }

    /// An error at the current position.
    pub fn bad(&self, what: &'static str, reason: impl Into<String>) -> SnapDecodeError {
        SnapDecodeError {
            at: self.pos,
            what,
            reason: reason.into(),
        }
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], SnapDecodeError> {
        if self.b.len() - self.pos < n {
            return Err(self.bad(
                what,
                format!("needs {n} bytes, {} left", self.b.len() - self.pos),
            ));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Fails unless every byte was read.
    pub fn finish(&self) -> Result<(), SnapDecodeError> {
        if self.pos == self.b.len() {
            Ok(())
        } else {
            Err(self.bad("end", format!("{} trailing bytes", self.b.len() - self.pos)))
        }
    }
}

/// A value with a canonical snapshot encoding.
pub trait Snap: Sized {
    /// Appends the encoding.
    fn put(&self, w: &mut Vec<u8>);
    /// Reads one value written by [`Snap::put`].
    fn get(r: &mut SnapReader<'_>) -> Result<Self, SnapDecodeError>;
}

macro_rules! snap_int {
    ($($t:ty),*) => {$(
        impl Snap for $t {
            fn put(&self, w: &mut Vec<u8>) {
                w.extend_from_slice(&self.to_le_bytes());
            }
            fn get(r: &mut SnapReader<'_>) -> Result<Self, SnapDecodeError> {
                const N: usize = std::mem::size_of::<$t>();
                let mut a = [0u8; N];
                a.copy_from_slice(r.bytes(N, stringify!($t))?);
                Ok(<$t>::from_le_bytes(a))
            }
        }
    )*};
}
snap_int!(u8, u16, u32, u64, i64, u128);

impl Snap for usize {
    fn put(&self, w: &mut Vec<u8>) {
        (*self as u64).put(w);
    }
    fn get(r: &mut SnapReader<'_>) -> Result<Self, SnapDecodeError> {
        let v = u64::get(r)?;
        usize::try_from(v).map_err(|_| r.bad("usize", format!("{v} does not fit")))
    }
}

impl Snap for bool {
    fn put(&self, w: &mut Vec<u8>) {
        w.push(u8::from(*self));
    }
    fn get(r: &mut SnapReader<'_>) -> Result<Self, SnapDecodeError> {
        match u8::get(r)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(r.bad("bool", format!("byte {v}"))),
        }
    }
}

impl<T: Snap> Snap for Option<T> {
    fn put(&self, w: &mut Vec<u8>) {
        match self {
            None => w.push(0),
            Some(v) => {
                w.push(1);
                v.put(w);
            }
        }
    }
    fn get(r: &mut SnapReader<'_>) -> Result<Self, SnapDecodeError> {
        match u8::get(r)? {
            0 => Ok(None),
            1 => T::get(r).map(Some),
            v => Err(r.bad("option tag", format!("byte {v}"))),
        }
    }
}

impl<T: Snap, const N: usize> Snap for [T; N] {
    fn put(&self, w: &mut Vec<u8>) {
        for v in self {
            v.put(w);
        }
    }
    fn get(r: &mut SnapReader<'_>) -> Result<Self, SnapDecodeError> {
        let v = (0..N).map(|_| T::get(r)).collect::<Result<Vec<T>, _>>()?;
        v.try_into()
            .map_err(|_| r.bad("array", format!("not {N} elements")))
    }
}

impl<A: Snap, B: Snap> Snap for (A, B) {
    fn put(&self, w: &mut Vec<u8>) {
        self.0.put(w);
        self.1.put(w);
    }
    fn get(r: &mut SnapReader<'_>) -> Result<Self, SnapDecodeError> {
        Ok((A::get(r)?, B::get(r)?))
    }
}

macro_rules! snap_newtype {
    ($($t:ident($inner:ty)),*) => {$(
        impl Snap for $t {
            fn put(&self, w: &mut Vec<u8>) {
                self.0.put(w);
            }
            fn get(r: &mut SnapReader<'_>) -> Result<Self, SnapDecodeError> {
                <$inner>::get(r).map($t)
            }
        }
    )*};
}
snap_newtype!(UnixNanos(u64), ClientOrderId(u64), InstrumentId(u32));

impl Snap for Price {
    fn put(&self, w: &mut Vec<u8>) {
        self.ticks().put(w);
    }
    fn get(r: &mut SnapReader<'_>) -> Result<Self, SnapDecodeError> {
        i64::get(r).map(Price::from_ticks)
    }
}

impl Snap for Qty {
    fn put(&self, w: &mut Vec<u8>) {
        self.lots().put(w);
    }
    fn get(r: &mut SnapReader<'_>) -> Result<Self, SnapDecodeError> {
        i64::get(r).map(Qty::from_lots)
    }
}

/// Implements [`Snap`] for a struct from the list of all its fields (in declaration order).
#[macro_export]
#[doc(hidden)]
macro_rules! snap_struct {
    ($t:ident { $($f:ident),* $(,)? }) => {
        impl $crate::journal::codec::Snap for $t {
            fn put(&self, w: &mut Vec<u8>) {
                $( $crate::journal::codec::Snap::put(&self.$f, w); )*
            }
            fn get(
                r: &mut $crate::journal::codec::SnapReader<'_>,
            ) -> Result<Self, $crate::journal::codec::SnapDecodeError> {
                Ok(Self { $( $f: $crate::journal::codec::Snap::get(r)?, )* })
            }
        }
    };
}

/// Implements [`Snap`] for a fieldless enum from the list of all its variants (one byte: the
/// variant's position in the list).
#[macro_export]
#[doc(hidden)]
macro_rules! snap_enum {
    ($t:ident { $($v:ident),+ $(,)? }) => {
        impl $crate::journal::codec::Snap for $t {
            fn put(&self, w: &mut Vec<u8>) {
                let all = [$($t::$v),+];
                let i = all.iter().position(|v| v == self).unwrap_or(0);
                w.push(i as u8);
            }
            fn get(
                r: &mut $crate::journal::codec::SnapReader<'_>,
            ) -> Result<Self, $crate::journal::codec::SnapDecodeError> {
                let all = [$($t::$v),+];
                let i = <u8 as $crate::journal::codec::Snap>::get(r)?;
                all.get(usize::from(i))
                    .copied()
                    .ok_or_else(|| r.bad(stringify!($t), format!("variant {i}")))
            }
        }
    };
}

snap_enum!(Side { Buy, Sell });
snap_enum!(OrderState {
    PendingNew,
    New,
    PartiallyFilled,
    PendingCancel,
    Unknown,
    Filled,
    Canceled,
    Rejected,
    Expired,
    NeverLive,
});

#[cfg(test)]
mod tests {
    use super::*;

    fn round<T: Snap + PartialEq + std::fmt::Debug>(v: T) {
        let mut b = Vec::new();
        v.put(&mut b);
        let mut r = SnapReader::new(&b);
        assert_eq!(T::get(&mut r).unwrap(), v);
        r.finish().unwrap();
    }

    #[test]
    fn values_round_trip() {
        round(0xdead_beef_u64);
        round(-5i64);
        round(u128::MAX - 3);
        round(Some((Price::from_ticks(7), Qty::from_lots(-2))));
        round(None::<u64>);
        round([Side::Sell, Side::Buy, Side::Sell]);
        round(OrderState::NeverLive);
        round(UnixNanos(9));
        round(true);
    }

    #[test]
    fn bad_bytes_are_named_errors() {
        let e = bool::get(&mut SnapReader::new(&[2])).unwrap_err();
        assert_eq!((e.at, e.what), (1, "bool"));
        let e = u64::get(&mut SnapReader::new(&[1, 2])).unwrap_err();
        assert!(e.to_string().contains("needs 8 bytes, 2 left"), "{e}");
        let e = OrderState::get(&mut SnapReader::new(&[10])).unwrap_err();
        assert!(e.to_string().contains("OrderState"), "{e}");
        let e = Option::<u8>::get(&mut SnapReader::new(&[7])).unwrap_err();
        assert!(e.to_string().contains("option tag"), "{e}");
        let mut r = SnapReader::new(&[0, 0]);
        u8::get(&mut r).unwrap();
        assert!(r.finish().unwrap_err().to_string().contains("1 trailing"));
    }
}
