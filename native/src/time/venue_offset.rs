//! [`VenueClockOffset`]: how far our clock is from a venue's, from event timestamps alone.
//!
//! Each market-data event gives a pair (`ts_event` by the venue's clock, `ts_recv` by ours). Its
//! apparent delay `d = ts_recv - ts_event` is the clock offset `θ` (ours minus the venue's) plus the
//! one-way latency `L ≥ L_min`. Queueing only ever adds, so the smallest `d` over a window is the
//! best estimate of `θ + L_min` — the minimum-delay filter NTP applies to its round trips (RFC 5905
//! §10, "clock filter"). One-way data cannot split `θ` from `L_min`; a caller that knows `L_min` (from
//! order-entry round trips, or a cross-connect's length) passes it as the latency floor, otherwise it
//! is 0 and the offset absorbs it.
//!
//! Owned by the thread that decodes the venue's feed (one estimator per venue); `update` is O(1)
//! amortised over a fixed ring: no allocation after construction, no lock, no syscall. It never
//! decides anything itself: it reports, and the caller chooses to act (stale-feed gate, latency
//! monitor).
//!
//! The window is counted in events, not time, so a quiet feed keeps its old minimum longer; size it
//! to cover a few seconds of the venue's typical rate so drift between the clocks (ppm) stays small
//! within it.

use super::nanos::{add_signed, signed_delta};
use crate::model::UnixNanos;

/// The estimate after one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffsetEstimate {
    /// Our clock minus the venue's, in nanoseconds: `min_delay_ns - latency floor`.
    pub offset_ns: i64,
    /// Smallest apparent delay (`ts_recv - ts_event`) in the window.
    pub min_delay_ns: i64,
    /// This event's apparent delay.
    pub delay_ns: i64,
    /// This event's one-way latency estimate: `delay_ns - offset_ns` (≥ the floor).
    pub latency_ns: i64,
    /// Events accepted so far.
    pub samples: u64,
}

/// A sliding-window minimum-delay estimator of the venue clock's offset.
#[derive(Debug, Clone)]
pub struct VenueClockOffset {
    window: u64,
    floor_ns: i64,
    /// Monotonic deque of (sequence, delay): sequences increase front to back and so do delays;
    /// the front is the window's minimum. At most `window` entries, so the ring never overflows.
    ring: Box<[(u64, i64)]>,
    head: usize,
    len: usize,
    seq: u64,
    rejected: u64,
    last: Option<OffsetEstimate>,
}

impl VenueClockOffset {
    /// An estimator over the last `window` events (≥ 1) with a known minimum one-way latency
    /// `latency_floor_ns` (0 if unknown). Allocates the ring once, here.
    #[must_use]
    pub fn new(window: usize, latency_floor_ns: i64) -> Self {
        let window = window.max(1);
        Self {
            window: window as u64,
            floor_ns: latency_floor_ns,
            ring: vec![(0, 0); window].into_boxed_slice(),
            head: 0,
            len: 0,
            seq: 0,
            rejected: 0,
            last: None,
        }
    }

    /// Feeds one event's venue timestamp and our receive timestamp; returns the updated estimate,
    /// or `None` when the pair is unusable (either timestamp unset, i.e. 0; counted in
    /// [`VenueClockOffset::rejected`]).
    ///
    /// # Hot path
    /// Feed thread. O(1) amortised, no allocation, no lock.
    #[inline]
    pub fn update(&mut self, ts_event: UnixNanos, ts_recv: UnixNanos) -> Option<OffsetEstimate> {
        if ts_event.0 == 0 || ts_recv.0 == 0 {
            self.rejected += 1;
            return None;
        }
        let d = signed_delta(ts_recv, ts_event);
        let cap = self.ring.len();
        // Drop entries that can never be the minimum again (not smaller than the newcomer).
        while self.len > 0 {
            let back = (self.head + self.len - 1) % cap;
            if self.ring[back].1 >= d {
                self.len -= 1;
            } else {
                break;
            }
        }
        // Expire the front if it left the window.
        if self.len > 0 && self.ring[self.head].0 + self.window <= self.seq {
            self.head = (self.head + 1) % cap;
            self.len -= 1;
        }
        // Invariant: len < cap here — entries have distinct sequences within the last `window`
        // events, and the one `window` events old was expired above.
        debug_assert!(
            self.len < cap,
            "Invariant: the deque holds fewer than `window` entries"
        );
        let slot = (self.head + self.len) % cap;
        self.ring[slot] = (self.seq, d);
        self.len += 1;
        self.seq += 1;

        let min = self.ring[self.head].1;
        let offset = min.saturating_sub(self.floor_ns);
        let est = OffsetEstimate {
            offset_ns: offset,
            min_delay_ns: min,
            delay_ns: d,
            latency_ns: d.saturating_sub(offset),
            samples: self.seq,
        };
        self.last = Some(est);
        Some(est)
    }

    /// The latest estimate, if any event was accepted.
    #[must_use]
    pub const fn estimate(&self) -> Option<OffsetEstimate> {
        self.last
    }

    /// A venue timestamp moved onto our clock with the current offset (unchanged before the first
    /// event).
    #[must_use]
    pub fn to_local(&self, ts_event: UnixNanos) -> UnixNanos {
        match self.last {
            Some(e) => add_signed(ts_event, e.offset_ns),
            None => ts_event,
        }
    }

    /// Events rejected for an unset timestamp.
    #[must_use]
    pub const fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Window length in events.
    #[must_use]
    pub const fn window(&self) -> u64 {
        self.window
    }

    /// The latency floor the offset is corrected by.
    #[must_use]
    pub const fn latency_floor_ns(&self) -> i64 {
        self.floor_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts(ns: u64) -> UnixNanos {
        UnixNanos(ns)
    }

    /// Venue clock 1.5 ms behind ours, latency 80 us plus jitter up to 400 us, one event per ms.
    fn feed(
        e: &mut VenueClockOffset,
        n: u64,
        offset: i64,
        jitter: impl Fn(u64) -> i64,
    ) -> OffsetEstimate {
        let mut last = None;
        for i in 0..n {
            let venue = 1_700_000_000_000_000_000 + i * 1_000_000;
            let recv = (venue as i64 + offset + 80_000 + jitter(i)) as u64;
            last = e.update(ts(venue), ts(recv));
        }
        last.unwrap()
    }

    #[test]
    fn minimum_delay_recovers_offset_plus_floor() {
        let mut e = VenueClockOffset::new(64, 0);
        // Jitter hits 0 once every 37 events.
        let est = feed(&mut e, 500, 1_500_000, |i| {
            ((i * 7919) % 37 * 11_000) as i64
        });
        assert_eq!(est.min_delay_ns, 1_580_000);
        assert_eq!(est.offset_ns, 1_580_000);
        assert!(est.latency_ns >= 0);
        assert_eq!(est.samples, 500);

        let mut with_floor = VenueClockOffset::new(64, 80_000);
        let est = feed(&mut with_floor, 500, 1_500_000, |i| {
            ((i * 7919) % 37 * 11_000) as i64
        });
        assert_eq!(est.offset_ns, 1_500_000);
        assert_eq!(
            with_floor.to_local(ts(1_000_000_000)).as_u64(),
            1_001_500_000
        );
    }

    #[test]
    fn a_negative_offset_is_fine() {
        let mut e = VenueClockOffset::new(16, 80_000);
        let est = feed(&mut e, 100, -3_000_000, |i| (i % 5) as i64 * 1000);
        assert_eq!(est.offset_ns, -3_000_000);
    }

    #[test]
    fn old_minimum_expires_after_the_window() {
        let mut e = VenueClockOffset::new(10, 0);
        // One absurdly small delay (a venue timestamp glitch)...
        e.update(ts(1_000_000), ts(1_000_010)).unwrap();
        for i in 1..10u64 {
            let est = e
                .update(ts(1_000_000 + i), ts(1_000_000 + i + 5_000))
                .unwrap();
            assert_eq!(
                est.min_delay_ns, 10,
                "event {i}: the glitch is still in the window"
            );
        }
        // ...leaves the window after 10 events.
        let est = e.update(ts(2_000_000), ts(2_005_000)).unwrap();
        assert_eq!(est.min_delay_ns, 5_000);
    }

    #[test]
    fn a_clock_step_is_followed_within_one_window() {
        let mut e = VenueClockOffset::new(20, 0);
        feed(&mut e, 100, 1_000_000, |_| 0);
        // Our clock steps back by 600 us (offset shrinks): a smaller delay shows at once.
        let est = feed(&mut e, 1, 400_000, |_| 0);
        assert_eq!(est.offset_ns, 480_000);
        // It steps forward again: the old smaller minimum persists for the window, then follows.
        let mut e = VenueClockOffset::new(20, 0);
        feed(&mut e, 100, 400_000, |_| 0);
        let est = feed(&mut e, 19, 1_000_000, |_| 0);
        assert_eq!(est.offset_ns, 480_000);
        let est = feed(&mut e, 1, 1_000_000, |_| 0);
        assert_eq!(est.offset_ns, 1_080_000);
    }

    #[test]
    fn unset_timestamps_are_rejected_and_counted() {
        let mut e = VenueClockOffset::new(4, 0);
        assert!(e.update(UnixNanos(0), ts(5)).is_none());
        assert!(e.update(ts(5), UnixNanos(0)).is_none());
        assert_eq!(e.rejected(), 2);
        assert!(e.estimate().is_none());
        assert_eq!(e.to_local(ts(7)), ts(7));
    }

    proptest! {
        /// The estimate equals a brute-force minimum over the last `window` delays.
        #[test]
        fn matches_brute_force_sliding_minimum(
            window in 1usize..40,
            delays in proptest::collection::vec(-1_000_000i64..1_000_000, 1..300),
        ) {
            let mut e = VenueClockOffset::new(window, 0);
            for (i, d) in delays.iter().enumerate() {
                let venue = 1_000_000_000_000u64 + i as u64 * 1000;
                let est = e.update(ts(venue), ts(venue.wrapping_add_signed(*d))).unwrap();
                let lo = i.saturating_sub(window - 1);
                let brute = *delays[lo..=i].iter().min().unwrap();
                prop_assert_eq!(est.min_delay_ns, brute);
                prop_assert_eq!(est.delay_ns, *d);
            }
        }
    }
}
