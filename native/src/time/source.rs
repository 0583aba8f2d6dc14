//! [`TimeSource`]: the role "tells the time", so code that needs now (timeouts, rate limits, stamps)
//! can run on the real [`super::Clock`] in production and on a [`super::ManualClock`] in tests
//! (reliability drill "clock step": jump realtime by minutes, monotonic time must not care).
//!
//! Hot-path code is generic over it (`fn poll<T: TimeSource>(&mut self, time: &T)`), not `dyn`.
//! Implementations must never allocate, lock or block in `now`/`now_mono`.

use super::nanos::MonoNanos;
use crate::model::UnixNanos;

/// Something that tells the time on both timelines.
pub trait TimeSource {
    /// Realtime now (`CLOCK_REALTIME` timeline): event and journal stamps.
    fn now(&self) -> UnixNanos;
    /// Monotonic now (`CLOCK_MONOTONIC_RAW` timeline): timeouts, rate limits, latency.
    fn now_mono(&self) -> MonoNanos;
}

impl TimeSource for super::Clock {
    #[inline]
    fn now(&self) -> UnixNanos {
        super::Clock::now(self)
    }

    #[inline]
    fn now_mono(&self) -> MonoNanos {
        super::Clock::now_mono(self)
    }
}

impl<T: TimeSource + ?Sized> TimeSource for &T {
    #[inline]
    fn now(&self) -> UnixNanos {
        (**self).now()
    }

    #[inline]
    fn now_mono(&self) -> MonoNanos {
        (**self).now_mono()
    }
}

impl<T: TimeSource + ?Sized> TimeSource for std::sync::Arc<T> {
    #[inline]
    fn now(&self) -> UnixNanos {
        (**self).now()
    }

    #[inline]
    fn now_mono(&self) -> MonoNanos {
        (**self).now_mono()
    }
}
