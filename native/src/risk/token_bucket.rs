//! An integer token bucket driven by event time (deterministic: no clock read inside).

use crate::model::UnixNanos;

/// `capacity` tokens, refilled at `per_second` tokens per second of event time.
///
/// Tokens are kept in nano-tokens (`tokens × 10^9`) so refill is exact integer arithmetic, in `u64`
/// (the capacity is capped at [`MAX_CAPACITY`] tokens so a full bucket fits; refills saturate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenBucket {
    capacity_nt: u64,
    per_second: u64,
    level_nt: u64,
    last: UnixNanos,
}

const NANO: u64 = 1_000_000_000;

/// Largest capacity in tokens (a larger one is capped here): `MAX_CAPACITY × 10^9` nano-tokens fit
/// in a `u64` with room for one refill step. No venue's burst comes near it.
pub const MAX_CAPACITY: u64 = 1_000_000_000;

impl TokenBucket {
    /// A full bucket (`capacity` capped at [`MAX_CAPACITY`]).
    pub const fn new(capacity: u64, per_second: u64, now: UnixNanos) -> Self {
        let capacity = if capacity > MAX_CAPACITY {
            MAX_CAPACITY
        } else {
            capacity
        };
        let cap = capacity * NANO;
        Self {
            capacity_nt: cap,
            per_second,
            level_nt: cap,
            last: now,
        }
    }

    #[inline]
    fn refill(&mut self, now: UnixNanos) {
        if now.0 > self.last.0 {
            let add = (now.0 - self.last.0).saturating_mul(self.per_second);
            self.level_nt = self.level_nt.saturating_add(add).min(self.capacity_nt);
            self.last = now;
        }
    }

    /// Takes `n` tokens at event time `now` if available.
    #[inline]
    pub fn try_take(&mut self, n: u64, now: UnixNanos) -> bool {
        self.refill(now);
        let need = n.saturating_mul(NANO);
        if self.level_nt >= need {
            self.level_nt -= need;
            true
        } else {
            false
        }
    }

    /// Whole tokens available at `now` (refills first).
    pub fn available(&mut self, now: UnixNanos) -> u64 {
        self.refill(now);
        self.level_nt / NANO
    }
}

impl TokenBucket {
    /// Appends the bucket's state (level and last refill time; capacity and rate are configuration
    /// and are not part of a snapshot).
    pub fn snap_put(&self, w: &mut Vec<u8>) {
        use crate::journal::codec::Snap;
        let Self {
            capacity_nt: _,
            per_second: _,
            level_nt,
            last,
        } = self;
        // Written as `u128` (the snapshot format from when the level was kept in one).
        u128::from(*level_nt).put(w);
        last.put(w);
    }

    /// Restores the state [`TokenBucket::snap_put`] wrote (the level is capped at this bucket's
    /// capacity).
    pub fn snap_take(
        &mut self,
        r: &mut crate::journal::codec::SnapReader<'_>,
    ) -> Result<(), crate::journal::codec::SnapDecodeError> {
        use crate::journal::codec::Snap;
        let level = u128::get(r)?.min(u128::from(self.capacity_nt));
        self.level_nt = u64::try_from(level).unwrap_or(self.capacity_nt);
        self.last = UnixNanos::get(r)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refills_at_the_rate_and_caps() {
        let t0 = UnixNanos(1_000_000_000);
        let mut b = TokenBucket::new(10, 5, t0);
        for _ in 0..10 {
            assert!(b.try_take(1, t0));
        }
        assert!(!b.try_take(1, t0));
        // 0.2 s at 5/s = exactly one token.
        assert!(!b.try_take(1, UnixNanos(t0.0 + 199_999_999)));
        assert!(b.try_take(1, UnixNanos(t0.0 + 200_000_000)));
        assert_eq!(b.available(UnixNanos(t0.0 + 100_000_000_000)), 10);
        // Time going backwards never adds tokens.
        assert!(b.try_take(10, UnixNanos(t0.0 + 100_000_000_000)));
        assert!(!b.try_take(1, t0));
    }

    #[test]
    fn huge_capacity_is_capped_and_long_gaps_saturate() {
        let t0 = UnixNanos(1);
        let mut b = TokenBucket::new(u64::MAX, u64::MAX, t0);
        assert_eq!(b.available(t0), MAX_CAPACITY);
        assert!(b.try_take(MAX_CAPACITY, t0));
        assert!(!b.try_take(1, t0));
        assert!(!b.try_take(u64::MAX, UnixNanos(u64::MAX)));
        assert_eq!(b.available(UnixNanos(u64::MAX)), MAX_CAPACITY);
    }

    #[test]
    fn snapshot_round_trips_the_level() {
        let t0 = UnixNanos(5);
        let mut b = TokenBucket::new(10, 3, t0);
        assert!(b.try_take(7, t0));
        let mut w = Vec::new();
        b.snap_put(&mut w);
        let mut c = TokenBucket::new(10, 3, UnixNanos(0));
        c.snap_take(&mut crate::journal::codec::SnapReader::new(&w))
            .unwrap();
        assert_eq!(c, b);
    }
}
