//! Exact conversion between venue decimal strings ("0.00001000") and fixed-point integers.
//!
//! A value at exponent `exp` is an `i64` count of `10^-exp` units. Parsing never rounds: a string with
//! more significant fractional digits than `exp` allows is refused with [`DecimalError::NotRepresentable`].
//! Trailing zeros beyond `exp` are fine ("0.00001000" at `exp` 5 is 1).
//!
//! # Hot path
//! [`parse_fixed`] and [`write_fixed`] run on the feed and gateway threads: no allocation, O(len).

use thiserror::Error;

/// The largest exponent supported: `10^18` still fits an `i64`.
pub const MAX_EXP: u8 = 18;

/// `10^n` for `n` in `0..=18`.
pub const POW10: [i64; 19] = {
    let mut t = [1i64; 19];
    let mut i = 1;
    while i < 19 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// Why a decimal string was refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DecimalError {
    /// Not of the form `[-]digits[.digits]`.
    #[error("malformed decimal {text:?}")]
    Malformed {
        /// The refused input, lossily decoded.
        text: String,
    },
    /// More significant fractional digits than the scale holds.
    #[error("{text:?} is not representable with {exp} decimal places")]
    NotRepresentable {
        /// The refused input.
        text: String,
        /// The exponent it was parsed at.
        exp: u8,
    },
    /// The value does not fit an `i64` at this exponent.
    #[error("{text:?} overflows a 64-bit fixed-point value at {exp} decimal places")]
    Overflow {
        /// The refused input.
        text: String,
        /// The exponent it was parsed at.
        exp: u8,
    },
    /// The value is representable but not a whole multiple of the instrument's increment.
    #[error("{text:?} is not a multiple of the increment {increment}")]
    NotOnGrid {
        /// The refused input.
        text: String,
        /// The increment (tick or lot size) as text.
        increment: String,
    },
    /// The exponent exceeds [`MAX_EXP`].
    #[error("exponent {exp} exceeds the maximum of 18")]
    BadExponent {
        /// The refused exponent.
        exp: u8,
    },
}

#[cold]
#[inline(never)]
fn err_text(s: &[u8]) -> String {
    String::from_utf8_lossy(s).into_owned()
}

/// Parses `s` as a decimal into `10^-exp` units, exactly.
///
/// Accepts `[-]d+[.d+]`. Refuses (never rounds) anything else.
///
/// # Hot path
/// No allocation on success; the error path allocates (it is cold).
pub fn parse_fixed(s: &[u8], exp: u8) -> Result<i64, DecimalError> {
    if exp > MAX_EXP {
        return Err(DecimalError::BadExponent { exp });
    }
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    // Magnitudes accumulate in i128 so that i64::MIN (one more than i64::MAX) is reachable.
    let mut int: i128 = 0;
    let mut i = 0;
    while i < digits.len() && digits[i].is_ascii_digit() {
        if int <= i128::from(i64::MAX) {
            int = int * 10 + i128::from(digits[i] - b'0');
        }
        i += 1;
    }
    if i == 0 {
        return Err(DecimalError::Malformed { text: err_text(s) });
    }
    let mut frac: i64 = 0;
    let mut frac_digits: u8 = 0;
    if i < digits.len() {
        if digits[i] != b'.' || i + 1 == digits.len() {
            return Err(DecimalError::Malformed { text: err_text(s) });
        }
        i += 1;
        let mut excess_nonzero = false;
        while i < digits.len() {
            let c = digits[i];
            if !c.is_ascii_digit() {
                return Err(DecimalError::Malformed { text: err_text(s) });
            }
            if frac_digits < exp {
                frac = frac * 10 + i64::from(c - b'0');
                frac_digits += 1;
            } else if c != b'0' {
                excess_nonzero = true;
            }
            i += 1;
        }
        if excess_nonzero {
            return Err(DecimalError::NotRepresentable {
                text: err_text(s),
                exp,
            });
        }
    }
    // int <= ~10 * i64::MAX and 10^exp <= 10^18: the product fits an i128.
    let mag = int * i128::from(POW10[usize::from(exp)])
        + i128::from(frac) * i128::from(POW10[usize::from(exp - frac_digits)]);
    i64::try_from(if neg { -mag } else { mag }).map_err(|_| DecimalError::Overflow {
        text: err_text(s),
        exp,
    })
}

/// The most bytes [`write_fixed`] writes: sign, 19 digits, point, leading zero.
pub const MAX_FIXED_LEN: usize = 22;

/// Writes `value` (in `10^-exp` units) as a decimal with exactly `exp` fractional digits.
///
/// Returns the number of bytes written into `buf`.
///
/// # Hot path
/// Gateway encoders: no allocation.
pub fn write_fixed(value: i64, exp: u8, buf: &mut [u8; MAX_FIXED_LEN]) -> usize {
    let exp = usize::from(exp.min(MAX_EXP));
    let mut tmp = [0u8; MAX_FIXED_LEN];
    let mut n = 0;
    let mut v = value.unsigned_abs();
    // Digits, least significant first; at least exp + 1 of them (a leading zero before the point).
    while v > 0 || n <= exp {
        if n == exp && exp > 0 {
            tmp[n] = b'.';
            n += 1;
        }
        tmp[n] = b'0' + (v % 10) as u8;
        v /= 10;
        n += 1;
    }
    let mut out = 0;
    if value < 0 {
        buf[0] = b'-';
        out = 1;
    }
    for k in (0..n).rev() {
        buf[out] = tmp[k];
        out += 1;
    }
    out
}

/// Writes `v` in decimal into `out`; returns the digits as a sub-slice (no allocation).
#[inline]
pub fn write_u64(mut v: u64, out: &mut [u8; 20]) -> &[u8] {
    let mut i = out.len();
    loop {
        i -= 1;
        out[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &out[i..]
}

/// [`write_fixed`] into a new `String` (off the hot path).
pub fn format_fixed(value: i64, exp: u8) -> String {
    let mut buf = [0u8; MAX_FIXED_LEN];
    let n = write_fixed(value, exp, &mut buf);
    // write_fixed emits only ASCII digits, '-' and '.'.
    buf[..n].iter().map(|&b| b as char).collect()
}

/// Counts the decimal places a plain decimal string uses, ignoring trailing zeros ("0.00100" → 3).
pub fn significant_decimals(s: &str) -> u8 {
    match s.split_once('.') {
        Some((_, frac)) => frac.trim_end_matches('0').len().min(usize::from(u8::MAX)) as u8,
        None => 0,
    }
}

/// An exact decimal `raw × 10^-exp`, for venue values that are not on an instrument's grid: filter
/// bounds, percent-price multipliers, reference prices, fees.
///
/// Invariant: `exp <= 18` and the representation is normalized (no trailing zero digit while
/// `exp > 0`), so the derived equality is value equality.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Decimal {
    raw: i64,
    exp: u8,
}

impl Decimal {
    /// Zero.
    pub const ZERO: Decimal = Decimal { raw: 0, exp: 0 };

    /// `raw × 10^-exp`, normalized.
    pub fn new(raw: i64, exp: u8) -> Result<Self, DecimalError> {
        if exp > MAX_EXP {
            return Err(DecimalError::BadExponent { exp });
        }
        Ok(Self::normalized(raw, exp))
    }

    const fn normalized(mut raw: i64, mut exp: u8) -> Self {
        while exp > 0 && raw % 10 == 0 {
            raw /= 10;
            exp -= 1;
        }
        Self { raw, exp }
    }

    /// Parses a venue decimal string exactly, at the fewest places that hold it ("0.00100" is
    /// `1 × 10^-3`). More than 18 significant places is refused.
    pub fn parse(text: &str) -> Result<Self, DecimalError> {
        let exp = significant_decimals(text);
        if exp > MAX_EXP {
            return Err(DecimalError::NotRepresentable {
                text: text.to_owned(),
                exp: MAX_EXP,
            });
        }
        Ok(Self::normalized(parse_fixed(text.as_bytes(), exp)?, exp))
    }

    /// The raw integer (in `10^-exp` units).
    pub const fn raw(self) -> i64 {
        self.raw
    }

    /// The number of decimal places (the fewest that hold the value).
    pub const fn exp(self) -> u8 {
        self.exp
    }

    /// Whether the value is zero.
    pub const fn is_zero(self) -> bool {
        self.raw == 0
    }

    /// Whether the value is below zero.
    pub const fn is_negative(self) -> bool {
        self.raw < 0
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Both raws fit an i64 and the exponent gap is at most 18: the scaled values fit an i128.
        let e = self.exp.max(other.exp);
        let a = i128::from(self.raw) * i128::from(POW10[usize::from(e - self.exp)]);
        let b = i128::from(other.raw) * i128::from(POW10[usize::from(e - other.exp)]);
        a.cmp(&b)
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for Decimal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_fixed(self.raw, self.exp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_venue_strings() {
        assert_eq!(parse_fixed(b"0.00001000", 8), Ok(1000));
        assert_eq!(parse_fixed(b"0.00001000", 5), Ok(1));
        assert_eq!(parse_fixed(b"61234.56", 2), Ok(6_123_456));
        assert_eq!(parse_fixed(b"12", 0), Ok(12));
        assert_eq!(parse_fixed(b"12.000", 0), Ok(12));
        assert_eq!(parse_fixed(b"-0.5", 1), Ok(-5));
        assert_eq!(parse_fixed(b"0", 8), Ok(0));
    }

    #[test]
    fn refuses_unrepresentable_and_malformed() {
        assert!(matches!(
            parse_fixed(b"0.000001", 5),
            Err(DecimalError::NotRepresentable { exp: 5, .. })
        ));
        assert!(matches!(
            parse_fixed(b"1.5", 0),
            Err(DecimalError::NotRepresentable { .. })
        ));
        for bad in [
            &b""[..],
            b"-",
            b".5",
            b"1.",
            b"1..2",
            b"1e5",
            b"+1",
            b"1 ",
            b"0x10",
            b"1.2.3",
        ] {
            assert!(
                matches!(parse_fixed(bad, 8), Err(DecimalError::Malformed { .. })),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse_fixed(b"99999999999", 9),
            Err(DecimalError::Overflow { .. })
        ));
        assert!(matches!(
            parse_fixed(b"99999999999999999999", 0),
            Err(DecimalError::Overflow { .. })
        ));
        assert!(matches!(
            parse_fixed(b"1", 19),
            Err(DecimalError::BadExponent { exp: 19 })
        ));
    }

    #[test]
    fn writes_u64_digits() {
        let mut b = [0u8; 20];
        assert_eq!(write_u64(0, &mut b), b"0");
        assert_eq!(write_u64(12_345, &mut b), b"12345");
        assert_eq!(write_u64(u64::MAX, &mut b), b"18446744073709551615");
    }

    #[test]
    fn formats_with_exact_places() {
        assert_eq!(format_fixed(1000, 8), "0.00001000");
        assert_eq!(format_fixed(-5, 1), "-0.5");
        assert_eq!(format_fixed(0, 0), "0");
        assert_eq!(format_fixed(0, 3), "0.000");
        assert_eq!(format_fixed(i64::MIN, 18), "-9.223372036854775808");
        assert_eq!(format_fixed(i64::MAX, 0), "9223372036854775807");
        assert_eq!(significant_decimals("0.00100"), 3);
        assert_eq!(significant_decimals("10"), 0);
    }

    #[test]
    fn decimal_values_are_normalized_and_ordered() {
        let a = Decimal::parse("0.00100").unwrap();
        assert_eq!((a.raw(), a.exp()), (1, 3));
        assert_eq!(a, Decimal::new(1000, 6).unwrap());
        assert_eq!(a.to_string(), "0.001");
        assert_eq!(Decimal::parse("5").unwrap().to_string(), "5");
        assert_eq!(Decimal::parse("0.00000000").unwrap(), Decimal::ZERO);
        assert!(Decimal::parse("0.2").unwrap() < Decimal::parse("0.21").unwrap());
        assert!(Decimal::parse("-1").unwrap().is_negative());
        assert!(Decimal::parse("0.0000000000000000001").is_err());
        assert!(Decimal::new(1, 19).is_err());
    }

    proptest! {
        /// Every representable value round-trips exactly through its canonical string.
        #[test]
        fn fixed_string_fixed_is_identity(v in any::<i64>(), exp in 0u8..=18) {
            let s = format_fixed(v, exp);
            prop_assert_eq!(parse_fixed(s.as_bytes(), exp), Ok(v));
        }

        /// A canonical string parses and formats back to itself, with extra trailing zeros accepted.
        #[test]
        fn string_fixed_string_is_identity(int in 0u64..1_000_000_000, frac in 0u64..100_000_000,
                                          exp in 8u8..=9, zeros in 0usize..4) {
            let s = format!("{int}.{frac:08}{}", "0".repeat(zeros));
            let v = parse_fixed(s.as_bytes(), exp).unwrap();
            let back = format_fixed(v, exp);
            prop_assert_eq!(back.trim_end_matches('0'), s.trim_end_matches('0'));
        }

        /// A value with a nonzero digit past the scale is refused, never rounded.
        #[test]
        fn excess_precision_is_refused(v in 1i64..1_000_000_000, exp in 0u8..=8) {
            let s = format_fixed(v, exp + 1);
            let representable = v % 10 == 0;
            prop_assert_eq!(parse_fixed(s.as_bytes(), exp).is_ok(), representable);
        }

        /// Arbitrary bytes never panic.
        #[test]
        fn arbitrary_bytes_never_panic(s in proptest::collection::vec(any::<u8>(), 0..32), exp in 0u8..=20) {
            let _ = parse_fixed(&s, exp);
        }

        /// Decimal order agrees with exact rational order (cross-multiplied in i128).
        #[test]
        fn decimal_order_is_exact(a in any::<i64>(), ea in 0u8..=18, b in any::<i64>(), eb in 0u8..=18) {
            let (x, y) = (Decimal::new(a, ea).unwrap(), Decimal::new(b, eb).unwrap());
            let e = ea.max(eb);
            let ax = i128::from(a) * i128::from(POW10[usize::from(e - ea)]);
            let by = i128::from(b) * i128::from(POW10[usize::from(e - eb)]);
            prop_assert_eq!(x.cmp(&y), ax.cmp(&by));
            prop_assert_eq!(Decimal::parse(&x.to_string()), Ok(x));
        }
    }
}
