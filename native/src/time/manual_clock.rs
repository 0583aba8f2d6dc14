//! [`ManualClock`]: a [`super::TimeSource`] that moves only when told to. For tests and replay.
//!
//! Shared between the test (which advances it) and the code under test (which reads it), from any
//! threads: both timelines are `AtomicU64`s. Never used by the product's live path.

use std::sync::atomic::{AtomicU64, Ordering};

use super::nanos::MonoNanos;
use super::source::TimeSource;
use crate::model::UnixNanos;

/// A clock that moves only when told to: `advance` moves both timelines, `step_realtime` moves only
/// realtime (an NTP/PTP step), as the real clocks behave.
#[derive(Debug, Default)]
pub struct ManualClock {
    realtime: AtomicU64,
    mono: AtomicU64,
}

impl ManualClock {
    /// A clock reading `realtime` and `mono`.
    #[must_use]
    pub fn new(realtime: UnixNanos, mono: MonoNanos) -> Self {
        Self {
            realtime: AtomicU64::new(realtime.0),
            mono: AtomicU64::new(mono.0),
        }
    }

    /// Lets `ns` nanoseconds pass on both timelines.
    pub fn advance(&self, ns: u64) {
        self.realtime.fetch_add(ns, Ordering::Relaxed);
        self.mono.fetch_add(ns, Ordering::Relaxed);
    }

    /// Steps realtime by `ns` (either sign, saturating at 0); monotonic time does not move.
    pub fn step_realtime(&self, ns: i64) {
        // fetch_update never fails with a closure that always returns Some.
        let _ = self
            .realtime
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.saturating_add_signed(ns))
            });
    }
}

impl TimeSource for ManualClock {
    #[inline]
    fn now(&self) -> UnixNanos {
        UnixNanos(self.realtime.load(Ordering::Relaxed))
    }

    #[inline]
    fn now_mono(&self) -> MonoNanos {
        MonoNanos(self.mono.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{Clock, ClockConfig};

    /// A deadline written against the role, as the engine will.
    fn expired<T: TimeSource>(time: &T, deadline: MonoNanos) -> bool {
        time.now_mono() >= deadline
    }

    #[test]
    fn advance_moves_both_and_step_moves_realtime_only() {
        let c = ManualClock::new(UnixNanos(1_000), MonoNanos(50));
        c.advance(10);
        assert_eq!((c.now(), c.now_mono()), (UnixNanos(1_010), MonoNanos(60)));
        // A clock step of minus ten minutes: realtime jumps back, a monotonic deadline is unaffected.
        let deadline = MonoNanos(100);
        c.step_realtime(-600_000_000_000);
        assert_eq!(c.now(), UnixNanos(0));
        assert_eq!(c.now_mono(), MonoNanos(60));
        assert!(!expired(&c, deadline));
        c.step_realtime(600_000_000_000);
        c.advance(40);
        assert!(expired(&c, deadline));
        assert_eq!(c.now(), UnixNanos(600_000_000_040));
    }

    #[test]
    fn the_real_clock_plays_the_same_role() {
        let clock = std::sync::Arc::new(
            Clock::new(ClockConfig {
                initial_calibration_ns: 2_000_000,
                samples: 8,
                ..ClockConfig::default()
            })
            .unwrap(),
        );
        assert!(expired(&clock, MonoNanos(0)));
        assert!(!expired(&&*clock, MonoNanos(u64::MAX)));
    }
}
