//! [`UnixNanos`]: nanoseconds since the Unix epoch, the one timestamp type of every event.

/// Nanoseconds since the Unix epoch (UTC). Events carry `ts_event` (venue), `ts_recv` (our receive),
/// `ts_send` in this type; decisions read time only from these fields, never from a wall clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct UnixNanos(pub u64);

impl UnixNanos {
    /// From milliseconds (Binance event times).
    #[inline]
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms.saturating_mul(1_000_000))
    }

    /// From microseconds.
    #[inline]
    pub const fn from_micros(us: u64) -> Self {
        Self(us.saturating_mul(1_000))
    }

    /// The raw nanosecond count.
    #[inline]
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// `self - earlier` in nanoseconds, saturating at zero.
    #[inline]
    pub const fn saturating_since(self, earlier: UnixNanos) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}
