//! The clock authority: a TSC clock calibrated against `CLOCK_MONOTONIC_RAW` and mapped to
//! `CLOCK_REALTIME`, a `clock_gettime` fallback, the venue-clock offset estimator, and lock-free
//! per-stage latency histograms.
