//! [`Price`] in whole ticks and [`Qty`] in whole lots of an instrument; notional in `i128`.
//!
//! The scale (tick size, lot size) lives on the instrument, never in the value: a `Price` is only
//! meaningful together with its instrument. Conversions happen at the edges (decoders, encoders,
//! bindings); float model outputs become prices through a named rounding side.

/// A price in whole ticks of its instrument's tick size. Never a float.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct Price(i64);

/// A quantity in whole lots of its instrument's lot size. Never a float.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct Qty(i64);

impl Price {
    /// Zero ticks.
    pub const ZERO: Price = Price(0);

    /// A price from trusted ticks.
    #[inline]
    pub const fn from_ticks(ticks: i64) -> Self {
        Self(ticks)
    }

    /// The price in ticks.
    #[inline]
    pub const fn ticks(self) -> i64 {
        self.0
    }

    /// The highest tick at or below `x` ticks (bids round down, never improving on the model).
    #[inline]
    pub fn floor_to_tick(x: f64) -> Option<Self> {
        let f = x.floor();
        (f.is_finite() && f >= i64::MIN as f64 && f < i64::MAX as f64).then_some(Self(f as i64))
    }

    /// The lowest tick at or above `x` ticks (asks round up).
    #[inline]
    pub fn ceil_to_tick(x: f64) -> Option<Self> {
        let c = x.ceil();
        (c.is_finite() && c >= i64::MIN as f64 && c < i64::MAX as f64).then_some(Self(c as i64))
    }

    /// `self + n` ticks, `None` on overflow.
    #[inline]
    pub fn checked_add_ticks(self, n: i64) -> Option<Self> {
        self.0.checked_add(n).map(Self)
    }
}

impl Qty {
    /// Zero lots.
    pub const ZERO: Qty = Qty(0);

    /// A quantity from trusted lots.
    #[inline]
    pub const fn from_lots(lots: i64) -> Self {
        Self(lots)
    }

    /// The quantity in lots.
    #[inline]
    pub const fn lots(self) -> i64 {
        self.0
    }

    /// Whether the quantity is zero.
    #[inline]
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self + other`, `None` on overflow.
    #[inline]
    pub fn checked_add(self, other: Qty) -> Option<Self> {
        self.0.checked_add(other.0).map(Self)
    }

    /// `self - other`, `None` on overflow.
    #[inline]
    pub fn checked_sub(self, other: Qty) -> Option<Self> {
        self.0.checked_sub(other.0).map(Self)
    }
}

/// `price × qty` in `tick × lot` units; an `i128` never overflows for `i64` operands.
#[inline]
pub fn notional(price: Price, qty: Qty) -> i128 {
    i128::from(price.0) * i128::from(qty.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_sides() {
        assert_eq!(Price::floor_to_tick(100.7), Some(Price::from_ticks(100)));
        assert_eq!(Price::ceil_to_tick(100.2), Some(Price::from_ticks(101)));
        assert_eq!(Price::floor_to_tick(-0.5), Some(Price::from_ticks(-1)));
        assert_eq!(Price::ceil_to_tick(f64::NAN), None);
        assert_eq!(Price::floor_to_tick(1e300), None);
    }

    #[test]
    fn notional_does_not_overflow() {
        let n = notional(Price::from_ticks(i64::MAX), Qty::from_lots(i64::MAX));
        assert_eq!(n, i128::from(i64::MAX) * i128::from(i64::MAX));
        assert_eq!(
            Qty::from_lots(i64::MAX).checked_add(Qty::from_lots(1)),
            None
        );
    }
}
