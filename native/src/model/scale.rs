//! An instrument's increment (tick size or lot size) as mantissa × 10^-exp, and conversion between
//! venue decimal strings and whole increments.

use super::decimal::{
    format_fixed, parse_fixed, write_fixed, Decimal, DecimalError, MAX_EXP, MAX_FIXED_LEN, POW10,
};

/// An increment `mantissa × 10^-exp` (e.g. tick size "0.00001" is `1 × 10^-5`, "0.5" is `5 × 10^-1`).
///
/// Invariant: `mantissa >= 1`, `exp <= 18`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scale {
    mantissa: i64,
    exp: u8,
}

impl Scale {
    /// The increment 1 (whole units).
    pub const ONE: Scale = Scale {
        mantissa: 1,
        exp: 0,
    };

    /// A scale from its parts, checked.
    pub fn new(mantissa: i64, exp: u8) -> Result<Self, DecimalError> {
        if exp > MAX_EXP {
            return Err(DecimalError::BadExponent { exp });
        }
        if mantissa < 1 {
            return Err(DecimalError::Malformed {
                text: format!("increment {mantissa}e-{exp}"),
            });
        }
        Ok(Self { mantissa, exp })
    }

    /// Parses a venue increment such as "0.00001000", using the fewest decimal places that hold it.
    pub fn parse(text: &str) -> Result<Self, DecimalError> {
        let exp = super::decimal::significant_decimals(text);
        if exp > MAX_EXP {
            return Err(DecimalError::NotRepresentable {
                text: text.to_owned(),
                exp: MAX_EXP,
            });
        }
        let mantissa = parse_fixed(text.as_bytes(), exp)?;
        if mantissa < 1 {
            return Err(DecimalError::Malformed {
                text: text.to_owned(),
            });
        }
        // Reduce e.g. "10" (exp 0, mantissa 10) is kept as is; "0.50" is 5e-1 already.
        Ok(Self { mantissa, exp })
    }

    /// The mantissa (increment in `10^-exp` units).
    pub const fn mantissa(self) -> i64 {
        self.mantissa
    }

    /// The decimal exponent.
    pub const fn exp(self) -> u8 {
        self.exp
    }

    /// Parses `text` into whole increments, exactly: off-grid or over-precise input is refused.
    ///
    /// # Hot path
    /// Feed decoders: no allocation on success.
    #[inline]
    pub fn parse_units(self, text: &[u8]) -> Result<i64, DecimalError> {
        let raw = parse_fixed(text, self.exp)?;
        if raw % self.mantissa != 0 {
            return Err(self.off_grid(text));
        }
        Ok(raw / self.mantissa)
    }

    #[cold]
    #[inline(never)]
    fn off_grid(self, text: &[u8]) -> DecimalError {
        DecimalError::NotOnGrid {
            text: String::from_utf8_lossy(text).into_owned(),
            increment: self.to_string(),
        }
    }

    /// Writes `units` increments as a decimal with `exp` places; returns the length.
    ///
    /// # Hot path
    /// Gateway encoders: no allocation. `units × mantissa` must fit an i64 (instrument limits ensure it).
    #[inline]
    pub fn write_units(self, units: i64, buf: &mut [u8; MAX_FIXED_LEN]) -> usize {
        write_fixed(units.saturating_mul(self.mantissa), self.exp, buf)
    }

    /// `units` increments as a decimal string (off the hot path).
    pub fn format_units(self, units: i64) -> String {
        format_fixed(units.saturating_mul(self.mantissa), self.exp)
    }

    /// `units` increments as an `f64` (for models and display only, never for decisions on prices).
    pub fn to_f64(self, units: i64) -> f64 {
        (units as f64) * (self.mantissa as f64) / (POW10[usize::from(self.exp)] as f64)
    }
}

impl Scale {
    /// The increment itself as an exact [`Decimal`].
    pub fn to_decimal(self) -> Decimal {
        // Invariant: exp <= MAX_EXP (checked by every constructor), so `new` cannot fail; the
        // fallback is never taken.
        Decimal::new(self.mantissa, self.exp).unwrap_or(Decimal::ZERO)
    }

    /// `units` increments as an exact [`Decimal`]; `None` when `units × mantissa` overflows an i64.
    pub fn units_to_decimal(self, units: i64) -> Option<Decimal> {
        let raw = units.checked_mul(self.mantissa)?;
        Decimal::new(raw, self.exp).ok()
    }

    /// The whole number of increments in `value`, or `None` when `value` is off this grid (or the
    /// count overflows an i64). Exact: no rounding.
    pub fn units_of(self, value: Decimal) -> Option<i64> {
        // `value` is normalized: a nonzero digit past `self.exp` means it is off the grid.
        let shift = self.exp.checked_sub(value.exp())?;
        let raw = value.raw().checked_mul(POW10[usize::from(shift)])?;
        (raw % self.mantissa == 0).then_some(raw / self.mantissa)
    }
}

impl std::fmt::Display for Scale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_fixed(self.mantissa, self.exp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_increments() {
        let tick = Scale::parse("0.00001000").unwrap();
        assert_eq!((tick.mantissa(), tick.exp()), (1, 5));
        let half = Scale::parse("0.50000000").unwrap();
        assert_eq!((half.mantissa(), half.exp()), (5, 1));
        let ten = Scale::parse("10.00").unwrap();
        assert_eq!((ten.mantissa(), ten.exp()), (10, 0));
        assert!(Scale::parse("0").is_err());
        assert!(Scale::parse("-1").is_err());
        assert!(Scale::new(0, 2).is_err());
        assert_eq!(tick.to_string(), "0.00001");
    }

    #[test]
    fn units_on_the_grid_only() {
        let half = Scale::parse("0.5").unwrap();
        assert_eq!(half.parse_units(b"101.5"), Ok(203));
        assert!(matches!(
            half.parse_units(b"101.3"),
            Err(DecimalError::NotOnGrid { .. })
        ));
        assert!(matches!(
            half.parse_units(b"101.55"),
            Err(DecimalError::NotRepresentable { .. })
        ));
        assert_eq!(half.format_units(203), "101.5");
        let tick = Scale::parse("0.00001").unwrap();
        assert_eq!(tick.parse_units(b"0.16912000"), Ok(16912));
        assert_eq!(tick.format_units(16912), "0.16912");
        assert!((tick.to_f64(16912) - 0.16912).abs() < 1e-12);
    }

    #[test]
    fn decimals_on_and_off_the_grid() {
        let half = Scale::parse("0.5").unwrap();
        assert_eq!(half.to_decimal().to_string(), "0.5");
        assert_eq!(half.units_of(Decimal::parse("101.5").unwrap()), Some(203));
        assert_eq!(half.units_of(Decimal::parse("101.3").unwrap()), None);
        assert_eq!(half.units_of(Decimal::parse("101.55").unwrap()), None);
        assert_eq!(half.units_of(Decimal::parse("7").unwrap()), Some(14));
        assert_eq!(
            half.units_to_decimal(203),
            Some(Decimal::parse("101.5").unwrap())
        );
        assert_eq!(half.units_to_decimal(i64::MAX), None);
    }

    proptest! {
        #[test]
        fn units_round_trip(units in -1_000_000_000_000i64..1_000_000_000_000, m in 1i64..100, exp in 0u8..=8) {
            let s = Scale::new(m, exp).unwrap();
            let text = s.format_units(units);
            prop_assert_eq!(s.parse_units(text.as_bytes()), Ok(units));
        }

        /// `units_of` inverts `units_to_decimal` for every on-grid value.
        #[test]
        fn decimal_units_round_trip(units in -1_000_000_000_000i64..1_000_000_000_000, m in 1i64..100, exp in 0u8..=8) {
            let s = Scale::new(m, exp).unwrap();
            let d = s.units_to_decimal(units).unwrap();
            prop_assert_eq!(s.units_of(d), Some(units));
        }
    }
}
