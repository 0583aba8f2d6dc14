//! The clock authority: a TSC clock calibrated against `CLOCK_MONOTONIC_RAW` and mapped to
//! `CLOCK_REALTIME`, a `clock_gettime` fallback, the venue-clock offset estimator, and lock-free
//! per-stage latency histograms.
//!
//! - [`nanos`]: [`MonoNanos`] (monotonic raw); realtime is `model::UnixNanos`, re-exported here;
//! - [`tsc`]: raw `rdtsc`/`rdtscp` and invariant-TSC detection (CPUID + `/proc/cpuinfo`);
//! - [`posix_clock`]: `clock_gettime` for the reference clocks;
//! - [`calibration`]: the fixed-point tick→ns mapping, the least-squares fit, the slew;
//! - [`seqlock`]: how new parameters reach readers without locks;
//! - [`clock`]: [`Clock`], the one place the crate reads time, and its re-calibration;
//! - [`source`]: [`TimeSource`], the role both [`Clock`] and the test double [`ManualClock`]
//!   ([`manual_clock`]) play, for code that must run on either;
//! - [`venue_offset`]: [`VenueClockOffset`], the venue clock versus ours from event timestamps;
//! - [`latency`]: [`LatencyTracker`] and [`LatencyRecorder`], HDR histograms per pipeline stage.
//!
//! Threads: reads (`Clock::now`, `LatencyRecorder::record`) run on any thread, the hot loop first;
//! calibration and histogram export run on a supervisor or metrics thread. Nothing here allocates,
//! locks or makes a syscall on the read/record path (the `clock_gettime` fallback is a vDSO call).

pub mod calibration;
pub mod clock;
pub mod latency;
pub mod manual_clock;
pub mod nanos;
pub mod posix_clock;
pub mod seqlock;
pub mod source;
pub mod tsc;
pub mod venue_offset;

pub use crate::model::UnixNanos;
pub use clock::{
    CalibrationReport, Calibrator, Clock, ClockConfig, ClockParams, ClockSource,
    RecalibrationThread, SourceChoice,
};
pub use latency::{
    encode_compressed, LatencyConfig, LatencyError, LatencyRecorder, LatencyTracker,
    PercentileTable,
};
pub use manual_clock::ManualClock;
pub use nanos::MonoNanos;
pub use source::TimeSource;
pub use tsc::TscSupport;
pub use venue_offset::{OffsetEstimate, VenueClockOffset};

/// Why the clock could not be built or calibrated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClockError {
    /// A fit needs more samples than it was given.
    #[error("calibration needs at least {need} samples, got {got}")]
    TooFewSamples {
        /// Samples given.
        got: usize,
        /// Samples needed.
        need: usize,
    },
    /// The tick counter did not advance across the samples.
    #[error("the tick counter did not advance across the calibration samples")]
    Stalled,
    /// The fitted tick rate is outside 0.1-10 GHz (or negative).
    #[error("implausible tick rate {hz:.0} Hz (expected 0.1-10 GHz)")]
    ImplausibleFrequency {
        /// The fitted rate.
        hz: f64,
    },
    /// The TSC was asked for on a target without one.
    #[error("no usable TSC (needs x86_64 with rdtscp); use the monotonic_raw source")]
    TscUnavailable,
    /// The re-calibration thread could not be started.
    #[error("cannot start the re-calibration thread: {0}")]
    Thread(String),
}
