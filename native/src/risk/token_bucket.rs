//! An integer token bucket driven by event time (deterministic: no clock read inside).

use crate::model::UnixNanos;

/// `capacity` tokens, refilled at `per_second` tokens per second of event time.
///
/// Tokens are kept in nano-tokens (`tokens × 10^9`) so refill is exact integer arithmetic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenBucket {
    capacity_nt: u128,
    per_second: u64,
    level_nt: u128,
    last: UnixNanos,
}

const NANO: u128 = 1_000_000_000;

impl TokenBucket {
    /// A full bucket.
    pub const fn new(capacity: u64, per_second: u64, now: UnixNanos) -> Self {
        let cap = capacity as u128 * NANO;
        Self {
            capacity_nt: cap,
            per_second,
            level_nt: cap,
            last: now,
        }
    }

    fn refill(&mut self, now: UnixNanos) {
        if now > self.last {
            let dt = u128::from(now.0 - self.last.0);
            self.level_nt =
                (self.level_nt + dt * u128::from(self.per_second)).min(self.capacity_nt);
            self.last = now;
        }
    }

    /// Takes `n` tokens at event time `now` if available.
    #[inline]
    pub fn try_take(&mut self, n: u64, now: UnixNanos) -> bool {
        self.refill(now);
        let need = u128::from(n) * NANO;
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
        (self.level_nt / NANO) as u64
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
        level_nt.put(w);
        last.put(w);
    }

    /// Restores the state [`TokenBucket::snap_put`] wrote (the level is capped at this bucket's
    /// capacity).
    pub fn snap_take(
        &mut self,
        r: &mut crate::journal::codec::SnapReader<'_>,
    ) -> Result<(), crate::journal::codec::SnapDecodeError> {
        use crate::journal::codec::Snap;
        self.level_nt = u128::get(r)?.min(self.capacity_nt);
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
}
