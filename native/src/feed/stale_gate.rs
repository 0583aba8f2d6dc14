//! The stale-tick gate: per instrument, is the book fresh enough to quote from?
//!
//! Runs on the pinned feed thread (updates) and is read by the quoter on the same thread. Three
//! thresholds, each optional (0 disables it): time since the instrument's last update, time since the
//! session's last packet or heartbeat, and the lag between the venue's event time and our receive time
//! of the latest update. All times come in as event fields (`ts_event`, `ts_recv`) or the caller's
//! clock reading, never from a wall clock. Fixed capacity, no allocation after construction.

use crate::model::{InstrumentId, UnixNanos};

/// Thresholds in nanoseconds; 0 disables a check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StaleConfig {
    /// Max age of the instrument's last book update.
    pub max_update_age_ns: u64,
    /// Max age of the session's last packet (data or heartbeat).
    pub max_heartbeat_age_ns: u64,
    /// Max `ts_recv - ts_event` of the last update.
    pub max_lag_ns: u64,
}

/// Why an instrument is stale (bit flags, so several reasons combine).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Staleness(pub u8);

impl Staleness {
    /// Never updated.
    pub const NO_DATA: u8 = 1;
    /// Update too old.
    pub const UPDATE_AGE: u8 = 2;
    /// Session silent too long.
    pub const HEARTBEAT_AGE: u8 = 4;
    /// Venue-to-receive lag too large.
    pub const LAG: u8 = 8;

    /// Fresh?
    pub fn is_fresh(self) -> bool {
        self.0 == 0
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    seen: bool,
    last_recv: u64,
    lag: u64,
}

/// Per-instrument freshness for one session; instruments are dense ids `< capacity`.
#[derive(Debug)]
pub struct StaleGate {
    config: StaleConfig,
    entries: Vec<Entry>,
    last_packet: u64,
}

impl StaleGate {
    /// A gate for instrument ids `0..capacity`.
    pub fn new(config: StaleConfig, capacity: usize) -> Self {
        Self {
            config,
            entries: vec![Entry::default(); capacity],
            last_packet: 0,
        }
    }

    /// A packet (data or heartbeat) arrived at `ts_recv`.
    #[inline]
    pub fn on_packet(&mut self, ts_recv: UnixNanos) {
        self.last_packet = self.last_packet.max(ts_recv.0);
    }

    /// The instrument's book changed by an event stamped `ts_event` and received at `ts_recv`.
    /// Ids beyond capacity are ignored (they are reported stale by [`StaleGate::check`]).
    #[inline]
    pub fn on_update(&mut self, instrument: InstrumentId, ts_event: UnixNanos, ts_recv: UnixNanos) {
        if let Some(e) = self.entries.get_mut(instrument.0 as usize) {
            e.seen = true;
            e.last_recv = e.last_recv.max(ts_recv.0);
            e.lag = ts_recv.0.saturating_sub(ts_event.0);
        }
        self.on_packet(ts_recv);
    }

    /// The instrument's staleness at `now` (the caller's clock, same epoch as `ts_recv`).
    #[inline]
    pub fn check(&self, instrument: InstrumentId, now: UnixNanos) -> Staleness {
        let Some(e) = self.entries.get(instrument.0 as usize).filter(|e| e.seen) else {
            return Staleness(Staleness::NO_DATA);
        };
        let c = &self.config;
        let mut s = 0;
        if c.max_update_age_ns > 0 && now.0.saturating_sub(e.last_recv) > c.max_update_age_ns {
            s |= Staleness::UPDATE_AGE;
        }
        if c.max_heartbeat_age_ns > 0
            && now.0.saturating_sub(self.last_packet) > c.max_heartbeat_age_ns
        {
            s |= Staleness::HEARTBEAT_AGE;
        }
        if c.max_lag_ns > 0 && e.lag > c.max_lag_ns {
            s |= Staleness::LAG;
        }
        Staleness(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_threshold_flags() {
        let cfg = StaleConfig {
            max_update_age_ns: 100,
            max_heartbeat_age_ns: 50,
            max_lag_ns: 10,
        };
        let mut g = StaleGate::new(cfg, 4);
        let i = InstrumentId(2);
        assert_eq!(g.check(i, UnixNanos(0)).0, Staleness::NO_DATA);
        g.on_update(i, UnixNanos(995), UnixNanos(1000));
        assert!(g.check(i, UnixNanos(1040)).is_fresh());
        assert_eq!(g.check(i, UnixNanos(1060)).0, Staleness::HEARTBEAT_AGE);
        g.on_packet(UnixNanos(1090));
        assert_eq!(g.check(i, UnixNanos(1101)).0, Staleness::UPDATE_AGE);
        g.on_update(i, UnixNanos(1000), UnixNanos(1200));
        assert_eq!(g.check(i, UnixNanos(1200)).0, Staleness::LAG);
        assert_eq!(g.check(InstrumentId(9), UnixNanos(0)).0, Staleness::NO_DATA);
    }
}
