//! `clock_gettime(2)` for the three POSIX clocks pymm uses, as nanoseconds.
//!
//! Owns nothing; callable from any thread. With a vDSO-capable clocksource (`tsc`, `kvm-clock`) a read
//! costs 20–40 ns and no syscall; with `xen`, `hpet` or `acpi_pm` it is a real syscall, which is why the
//! hot path reads the TSC through [`super::Clock`] instead. Never called in a loop on the hot path
//! except as the fallback tick source when the TSC is not usable.
#![allow(unsafe_code)]

/// A POSIX clock this crate reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PosixClock {
    /// `CLOCK_MONOTONIC_RAW`: hardware rate, never slewed or stepped. The calibration reference.
    MonotonicRaw,
    /// `CLOCK_MONOTONIC`: slewed by NTP/PTP frequency corrections, never stepped.
    Monotonic,
    /// `CLOCK_REALTIME`: UTC, slewed and possibly stepped.
    Realtime,
}

impl PosixClock {
    const fn id(self) -> libc::clockid_t {
        match self {
            Self::MonotonicRaw => libc::CLOCK_MONOTONIC_RAW,
            Self::Monotonic => libc::CLOCK_MONOTONIC,
            Self::Realtime => libc::CLOCK_REALTIME,
        }
    }

    /// Reads the clock in nanoseconds (since boot for the monotonic clocks, since the epoch for
    /// `Realtime`). A clock that cannot be read (never the case on Linux for these ids) reads 0.
    #[inline]
    #[must_use]
    pub fn now_ns(self) -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, exclusively borrowed `timespec` for the duration of the call, and
        // the clock ids above are ones Linux always supports; clock_gettime writes only into `ts`.
        let rc = unsafe { libc::clock_gettime(self.id(), &mut ts) };
        if rc != 0 {
            return 0;
        }
        // tv_sec and tv_nsec are non-negative for these clocks; the casts cannot lose a bit before
        // year 2554.
        (ts.tv_sec as u64)
            .wrapping_mul(1_000_000_000)
            .wrapping_add(ts.tv_nsec as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_clocks_do_not_go_backwards() {
        for clock in [PosixClock::MonotonicRaw, PosixClock::Monotonic] {
            let mut last = clock.now_ns();
            assert!(last > 0, "{clock:?} read 0");
            for _ in 0..10_000 {
                let now = clock.now_ns();
                assert!(now >= last, "{clock:?} went back: {last} -> {now}");
                last = now;
            }
        }
    }

    #[test]
    fn realtime_is_after_2020() {
        // 2020-01-01T00:00:00Z; a host clock before that is broken, not a timing flake.
        assert!(PosixClock::Realtime.now_ns() > 1_577_836_800_000_000_000);
    }
}
