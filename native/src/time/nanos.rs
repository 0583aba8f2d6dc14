//! [`MonoNanos`]: nanoseconds on the `CLOCK_MONOTONIC_RAW` timeline, and the helpers the time domain
//! needs on both timelines.
//!
//! Two timelines, two types, so they cannot be mixed by accident:
//! - `UnixNanos` (defined in `model`, the one event timestamp type; re-exported by `time`):
//!   nanoseconds since the Unix epoch on `CLOCK_REALTIME` (UTC, may be stepped or slewed by NTP/PTP).
//!   `ts_event`, `ts_recv`, `ts_send`, journals and audit records use it.
//! - [`MonoNanos`]: nanoseconds on the `CLOCK_MONOTONIC_RAW` timeline (since boot, never stepped,
//!   never slewed). Timeouts, rate limits and latency measurements use it.
//!
//! Pure values: no I/O, no allocation. Reading the clocks is `time::Clock`'s job.

use crate::model::UnixNanos;

/// Nanoseconds on the `CLOCK_MONOTONIC_RAW` timeline (since boot; never stepped or slewed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct MonoNanos(pub u64);

impl MonoNanos {
    /// The raw nanosecond count.
    #[inline]
    #[must_use]
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// `self - earlier` in nanoseconds, saturating at zero.
    #[inline]
    #[must_use]
    pub const fn saturating_since(self, earlier: MonoNanos) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// `later - earlier` in signed nanoseconds (negative when `earlier` is later), saturating at the
/// `i64` range. For realtime pairs from two clocks (venue and ours), where the sign matters.
#[inline]
#[must_use]
pub const fn signed_delta(later: UnixNanos, earlier: UnixNanos) -> i64 {
    let d = later.0 as i128 - earlier.0 as i128;
    if d > i64::MAX as i128 {
        i64::MAX
    } else if d < i64::MIN as i128 {
        i64::MIN
    } else {
        d as i64
    }
}

/// `t + ns`, saturating at the ends of the timeline.
#[inline]
#[must_use]
pub const fn add_signed(t: UnixNanos, ns: i64) -> UnixNanos {
    UnixNanos(t.0.saturating_add_signed(ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_delta_has_a_sign_and_saturates() {
        let (a, b) = (UnixNanos(10), UnixNanos(25));
        assert_eq!(signed_delta(b, a), 15);
        assert_eq!(signed_delta(a, b), -15);
        assert_eq!(signed_delta(UnixNanos(u64::MAX), UnixNanos(0)), i64::MAX);
        assert_eq!(signed_delta(UnixNanos(0), UnixNanos(u64::MAX)), i64::MIN);
    }

    #[test]
    fn add_signed_clamps_at_both_ends() {
        assert_eq!(add_signed(UnixNanos(5), -10), UnixNanos(0));
        assert_eq!(add_signed(UnixNanos(5), 7), UnixNanos(12));
        assert_eq!(add_signed(UnixNanos(u64::MAX - 1), 5), UnixNanos(u64::MAX));
    }

    #[test]
    fn mono_since_saturates() {
        assert_eq!(MonoNanos(30).saturating_since(MonoNanos(10)), 20);
        assert_eq!(MonoNanos(10).saturating_since(MonoNanos(30)), 0);
    }
}
