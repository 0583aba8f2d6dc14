//! [`Clock`]: the one authority for time in the crate.
//!
//! Owns the tick source (the TSC when it is invariant, else `clock_gettime(CLOCK_MONOTONIC_RAW)`) and
//! the published tick→nanosecond mappings for two timelines: [`MonoNanos`] (fitted to
//! `CLOCK_MONOTONIC_RAW`) and [`UnixNanos`] (fitted to `CLOCK_REALTIME`). Any thread reads it through
//! `&Clock` (share it in an `Arc`); reads never lock, allocate or make a syscall on the TSC path.
//!
//! Calibration ([`Clock::calibrate`], [`Calibrator`], [`RecalibrationThread`]) runs on a non-critical
//! thread: it pairs tick reads with `clock_gettime` readings, fits a line by least squares
//! ([`super::calibration::fit`]) and publishes it through a seqlock ([`super::seqlock::SeqLock`]). A
//! re-calibration never makes the monotonic timeline jump: the new mapping starts where the old one is
//! and slews (at most `max_slew_ppm`) towards the fit. The realtime timeline slews the same way but
//! steps when `CLOCK_REALTIME` itself stepped (an NTP/PTP step larger than `realtime_step_ns`).
//!
//! Publishers (start-up, `calibrate`, the re-calibration thread) take a mutex among themselves, since
//! a slew is computed from the published parameters; readers never see it.
//!
//! Must never: run calibration on the hot thread (it sleeps), or be bypassed — nothing else in the
//! crate calls `Instant::now`/`SystemTime::now` (clippy enforces it).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::calibration::{fit, LineFit, PairedSample, TickMapping};
use super::nanos::MonoNanos;
use super::posix_clock::PosixClock;
use super::seqlock::SeqLock;
use super::tsc::{self, TscSupport};
use super::ClockError;
use crate::model::UnixNanos;

/// Where ticks come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockSource {
    /// The CPU's invariant time-stamp counter (x86_64).
    Tsc,
    /// `clock_gettime(CLOCK_MONOTONIC_RAW)`; ticks are nanoseconds.
    MonotonicRaw,
}

impl ClockSource {
    /// The name used in reports and Python (`"tsc"`, `"monotonic_raw"`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Tsc => "tsc",
            Self::MonotonicRaw => "monotonic_raw",
        }
    }
}

/// Which source to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SourceChoice {
    /// The TSC when [`TscSupport::is_invariant`], else `MonotonicRaw`.
    #[default]
    Auto,
    /// Exactly this source (`Tsc` fails with [`ClockError::TscUnavailable`] without an x86_64 TSC
    /// and `rdtscp`; invariance is not checked, that is what forcing means).
    Force(ClockSource),
}

/// How a [`Clock`] calibrates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockConfig {
    /// Tick source.
    pub source: SourceChoice,
    /// How long [`Clock::new`] samples before the first fit, in nanoseconds.
    pub initial_calibration_ns: u64,
    /// Paired samples per calibration (≥ [`super::calibration::MIN_SAMPLES`]).
    pub samples: usize,
    /// Expected time between re-calibrations; a slew aims to absorb the phase error within it.
    pub recalibration_interval_ns: u64,
    /// Largest rate change a slew may apply, in parts per million of the fitted rate.
    pub max_slew_ppm: u32,
    /// A realtime phase error above this (ns) is a step of `CLOCK_REALTIME` and is stepped, not slewed.
    pub realtime_step_ns: u64,
}

impl Default for ClockConfig {
    fn default() -> Self {
        Self {
            source: SourceChoice::Auto,
            initial_calibration_ns: 20_000_000,
            samples: 32,
            recalibration_interval_ns: 1_000_000_000,
            max_slew_ppm: 500,
            realtime_step_ns: 1_000_000,
        }
    }
}

/// The mappings readers use, as published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockParams {
    /// Ticks → `CLOCK_MONOTONIC_RAW` nanoseconds.
    pub mono: TickMapping,
    /// Ticks → `CLOCK_REALTIME` nanoseconds.
    pub realtime: TickMapping,
}

impl ClockParams {
    const fn to_words(self) -> [u64; 6] {
        [
            self.mono.base_ticks,
            self.mono.base_ns,
            self.mono.mult,
            self.realtime.base_ticks,
            self.realtime.base_ns,
            self.realtime.mult,
        ]
    }

    const fn from_words(w: [u64; 6]) -> Self {
        Self {
            mono: TickMapping {
                base_ticks: w[0],
                base_ns: w[1],
                mult: w[2],
            },
            realtime: TickMapping {
                base_ticks: w[3],
                base_ns: w[4],
                mult: w[5],
            },
        }
    }
}

/// One paired reading: the tick counter against `CLOCK_MONOTONIC_RAW` and against `CLOCK_REALTIME`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockSample {
    /// Ticks against `CLOCK_MONOTONIC_RAW`.
    pub mono_raw: PairedSample,
    /// Ticks against `CLOCK_REALTIME`.
    pub realtime: PairedSample,
}

/// What one calibration found and published.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CalibrationReport {
    /// Fitted tick rate (Hz); 1e9 for the `MonotonicRaw` source.
    pub tick_hz: f64,
    /// Samples in the fit.
    pub samples: usize,
    /// Time covered by the samples, in nanoseconds.
    pub span_ns: u64,
    /// Largest residual of the monotonic fit (ns).
    pub mono_max_residual_ns: f64,
    /// RMS residual of the monotonic fit (ns).
    pub mono_rms_residual_ns: f64,
    /// Largest residual of the realtime fit (ns).
    pub realtime_max_residual_ns: f64,
    /// Published monotonic time minus fitted, at the switch (ns); what the slew will absorb.
    pub mono_phase_error_ns: i64,
    /// Published realtime minus fitted, at the switch (ns).
    pub realtime_phase_error_ns: i64,
    /// `CLOCK_REALTIME` stepped inside the window; the realtime mapping was re-anchored.
    pub realtime_stepped: bool,
    /// Publications so far, this one included.
    pub generation: u64,
}

/// The clock authority. Cheap to read from any thread; share it in an `Arc`.
#[derive(Debug)]
pub struct Clock {
    source: ClockSource,
    support: TscSupport,
    config: ClockConfig,
    params: SeqLock<6>,
    /// Serialises publishers (start-up, a `calibrate` call, the re-calibration thread): a slew is
    /// computed from the published parameters, so read-slew-write must not interleave. Readers never
    /// touch it.
    publish_lock: Mutex<()>,
}

impl Clock {
    /// Detects the TSC, picks the source and runs the initial calibration (blocks for
    /// `config.initial_calibration_ns`). Cold: call once at start-up, off the hot thread.
    pub fn new(config: ClockConfig) -> Result<Self, ClockError> {
        let clock = Self::uncalibrated(config, TscSupport::detect())?;
        clock.calibrate(config.initial_calibration_ns, config.samples)?;
        Ok(clock)
    }

    /// A clock with a rough mapping (1 GHz for the TSC, identity for `MonotonicRaw`) that
    /// [`Clock::calibrate`] has not yet corrected. For tests and for callers that calibrate themselves.
    pub fn uncalibrated(config: ClockConfig, support: TscSupport) -> Result<Self, ClockError> {
        let source = match config.source {
            SourceChoice::Auto if support.is_invariant() && support.rdtscp => ClockSource::Tsc,
            SourceChoice::Auto => ClockSource::MonotonicRaw,
            // Calibration brackets with `rdtscp`; a CPU (or VM) that hides it cannot use the TSC.
            SourceChoice::Force(ClockSource::Tsc) if !(support.available && support.rdtscp) => {
                return Err(ClockError::TscUnavailable);
            }
            SourceChoice::Force(s) => s,
        };
        if config.samples < super::calibration::MIN_SAMPLES {
            return Err(ClockError::TooFewSamples {
                got: config.samples,
                need: super::calibration::MIN_SAMPLES,
            });
        }
        let raw = PosixClock::MonotonicRaw.now_ns();
        let real = PosixClock::Realtime.now_ns();
        let ticks = match source {
            ClockSource::Tsc => tsc::read(),
            ClockSource::MonotonicRaw => raw,
        };
        let params = ClockParams {
            mono: TickMapping {
                base_ticks: ticks,
                base_ns: raw,
                ..TickMapping::IDENTITY
            },
            realtime: TickMapping {
                base_ticks: ticks,
                base_ns: real,
                ..TickMapping::IDENTITY
            },
        };
        Ok(Self {
            source,
            support,
            config,
            params: SeqLock::new(params.to_words()),
            publish_lock: Mutex::new(()),
        })
    }

    /// Reads the tick counter.
    ///
    /// # Hot path
    /// Any thread. `rdtsc` (TSC source) or a vDSO `clock_gettime` (fallback); no lock, no allocation.
    #[inline]
    #[must_use]
    pub fn ticks(&self) -> u64 {
        match self.source {
            ClockSource::Tsc => tsc::read(),
            ClockSource::MonotonicRaw => PosixClock::MonotonicRaw.now_ns(),
        }
    }

    /// Reads the tick counter after all earlier instructions completed (`rdtscp`); for timing a
    /// short section and for calibration.
    #[inline]
    #[must_use]
    pub fn ticks_ordered(&self) -> u64 {
        match self.source {
            ClockSource::Tsc => tsc::read_ordered().0,
            ClockSource::MonotonicRaw => PosixClock::MonotonicRaw.now_ns(),
        }
    }

    /// Realtime now.
    ///
    /// # Hot path
    /// Any thread. A tick read, a seqlock read (plain loads), one multiply-shift-add.
    #[inline]
    #[must_use]
    pub fn now(&self) -> UnixNanos {
        self.ticks_to_unix(self.ticks())
    }

    /// Monotonic (`CLOCK_MONOTONIC_RAW` timeline) now. Same cost as [`Clock::now`].
    #[inline]
    #[must_use]
    pub fn now_mono(&self) -> MonoNanos {
        self.ticks_to_mono(self.ticks())
    }

    /// Converts a tick reading to the monotonic timeline with the current parameters.
    #[inline]
    #[must_use]
    pub fn ticks_to_mono(&self, ticks: u64) -> MonoNanos {
        let w = self.params.read();
        MonoNanos(ClockParams::from_words(w).mono.to_ns(ticks))
    }

    /// Converts a tick reading to realtime with the current parameters.
    #[inline]
    #[must_use]
    pub fn ticks_to_unix(&self, ticks: u64) -> UnixNanos {
        let w = self.params.read();
        UnixNanos(ClockParams::from_words(w).realtime.to_ns(ticks))
    }

    /// The published parameters.
    #[must_use]
    pub fn params(&self) -> ClockParams {
        ClockParams::from_words(self.params.read())
    }

    /// How many parameter sets were published (0 before the first calibration).
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.params.version()
    }

    /// The tick rate of the published monotonic mapping, in Hz.
    #[must_use]
    pub fn tick_hz(&self) -> f64 {
        self.params().mono.hz()
    }

    /// The tick source in use.
    #[must_use]
    pub const fn source(&self) -> ClockSource {
        self.source
    }

    /// What detection found about the TSC.
    #[must_use]
    pub const fn tsc_support(&self) -> TscSupport {
        self.support
    }

    /// The configuration this clock was built with.
    #[must_use]
    pub const fn config(&self) -> &ClockConfig {
        &self.config
    }

    /// Takes one paired reading, keeping the tightest of a few tries (a try interrupted by
    /// preemption has a wide tick window and loses).
    #[must_use]
    pub fn sample(&self) -> ClockSample {
        let mut best = ClockSample::default();
        let mut best_window = u64::MAX;
        for _ in 0..5 {
            let s = self.sample_once();
            let w = s.mono_raw.window_ticks + s.realtime.window_ticks;
            if w < best_window {
                best_window = w;
                best = s;
            }
        }
        best
    }

    fn sample_once(&self) -> ClockSample {
        match self.source {
            ClockSource::Tsc => {
                let t0 = self.ticks_ordered();
                let raw = PosixClock::MonotonicRaw.now_ns();
                let t1 = self.ticks_ordered();
                let real = PosixClock::Realtime.now_ns();
                let t2 = self.ticks_ordered();
                ClockSample {
                    mono_raw: midpoint(t0, t1, raw),
                    realtime: midpoint(t1, t2, real),
                }
            }
            ClockSource::MonotonicRaw => {
                let raw = PosixClock::MonotonicRaw.now_ns();
                let real = PosixClock::Realtime.now_ns();
                let raw2 = PosixClock::MonotonicRaw.now_ns();
                ClockSample {
                    mono_raw: PairedSample {
                        ticks: raw,
                        ns: raw,
                        window_ticks: 0,
                    },
                    realtime: midpoint(raw, raw2, real),
                }
            }
        }
    }

    /// Samples `samples` times spread over `duration_ns` (sleeping in between), fits and publishes.
    /// Blocks the calling thread for `duration_ns`. Cold.
    pub fn calibrate(
        &self,
        duration_ns: u64,
        samples: usize,
    ) -> Result<CalibrationReport, ClockError> {
        let mut cal = Calibrator::new(samples.max(super::calibration::MIN_SAMPLES));
        let n = cal.capacity();
        let gap = Duration::from_nanos(duration_ns / (n as u64 - 1).max(1));
        for i in 0..n {
            if i > 0 {
                std::thread::sleep(gap);
            }
            cal.push(self.sample());
        }
        cal.recalibrate(self)
    }

    /// Publishes mappings fitted to the newest samples: directly the first time, as a slew
    /// afterwards (see the module doc).
    fn publish(
        &self,
        mono_fit: &LineFit,
        realtime_target: TickMapping,
        stepped: bool,
    ) -> CalibrationReport {
        // A poisoned lock only means another publisher panicked; the parameters are still whole
        // (the seqlock write cannot be half-done), so carry on.
        let _guard = self
            .publish_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let first = self.generation() == 0;
        let old = self.params();
        let now = self.ticks_ordered();
        let horizon = (self.config.recalibration_interval_ns as f64 / mono_fit.ns_per_tick) as u64;
        let mono_target = match self.source {
            ClockSource::Tsc => mono_fit.mapping,
            ClockSource::MonotonicRaw => TickMapping::IDENTITY,
        };
        let mono_phase = old.mono.to_ns(now) as i128 - mono_target.to_ns(now) as i128;
        let rt_phase = old.realtime.to_ns(now) as i128 - realtime_target.to_ns(now) as i128;
        let new = if first {
            ClockParams {
                mono: mono_target,
                realtime: realtime_target,
            }
        } else {
            ClockParams {
                mono: old.mono.slew_towards(
                    &mono_target,
                    now,
                    horizon,
                    self.config.max_slew_ppm,
                    u64::MAX,
                ),
                realtime: if stepped {
                    realtime_target
                } else {
                    old.realtime.slew_towards(
                        &realtime_target,
                        now,
                        horizon,
                        self.config.max_slew_ppm,
                        self.config.realtime_step_ns,
                    )
                },
            }
        };
        self.params.write(new.to_words());
        let span_ns = (mono_fit.span_ticks as f64 * mono_fit.ns_per_tick) as u64;
        CalibrationReport {
            tick_hz: mono_target.hz(),
            samples: mono_fit.samples,
            span_ns,
            mono_max_residual_ns: mono_fit.max_residual_ns,
            mono_rms_residual_ns: mono_fit.rms_residual_ns,
            realtime_max_residual_ns: 0.0,
            mono_phase_error_ns: clamp_i64(mono_phase),
            realtime_phase_error_ns: clamp_i64(rt_phase),
            realtime_stepped: stepped,
            generation: self.generation(),
        }
    }

    /// Starts a thread that samples every `interval / samples` and re-calibrates every `interval`
    /// over a sliding window of the last `samples` samples. Stopped and joined when the handle drops.
    pub fn spawn_recalibration(
        self: &Arc<Self>,
        interval: Duration,
    ) -> Result<RecalibrationThread, ClockError> {
        let stop = Arc::new(AtomicBool::new(false));
        let failures = Arc::new(AtomicU64::new(0));
        let clock = Arc::clone(self);
        let (stop2, failures2) = (Arc::clone(&stop), Arc::clone(&failures));
        let handle = std::thread::Builder::new()
            .name("pymm-clock-cal".into())
            .spawn(move || {
                let mut cal = Calibrator::new(clock.config.samples);
                let tick = interval / clock.config.samples.max(1) as u32;
                let mut since_fit = Duration::ZERO;
                while !stop2.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    cal.push(clock.sample());
                    since_fit += tick;
                    if since_fit >= interval {
                        since_fit = Duration::ZERO;
                        if cal.recalibrate(&clock).is_err() {
                            failures2.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
            .map_err(|e| ClockError::Thread(e.to_string()))?;
        Ok(RecalibrationThread {
            stop,
            failures,
            handle: Some(handle),
        })
    }
}

fn clamp_i64(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

fn midpoint(before: u64, after: u64, ns: u64) -> PairedSample {
    let window = after.wrapping_sub(before);
    PairedSample {
        ticks: before.wrapping_add(window / 2),
        ns,
        window_ticks: window,
    }
}

/// A sliding window of paired samples and the fit over it. Owned by the calibrating thread.
#[derive(Debug)]
pub struct Calibrator {
    /// Ring of samples; `len` valid, the oldest at `head`.
    ring: Box<[ClockSample]>,
    head: usize,
    len: usize,
    /// Scratch for the fits (no allocation per fit).
    mono: Vec<PairedSample>,
    realtime: Vec<PairedSample>,
}

impl Calibrator {
    /// A window of `capacity` samples (at least [`super::calibration::MIN_SAMPLES`]).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(super::calibration::MIN_SAMPLES);
        Self {
            ring: vec![ClockSample::default(); capacity].into_boxed_slice(),
            head: 0,
            len: 0,
            mono: Vec::with_capacity(capacity),
            realtime: Vec::with_capacity(capacity),
        }
    }

    /// Window size.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.ring.len()
    }

    /// Samples held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// No samples held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a sample, dropping the oldest when full.
    pub fn push(&mut self, s: ClockSample) {
        let cap = self.ring.len();
        if self.len < cap {
            self.ring[(self.head + self.len) % cap] = s;
            self.len += 1;
        } else {
            self.ring[self.head] = s;
            self.head = (self.head + 1) % cap;
        }
    }

    fn drop_all_but_newest(&mut self) {
        if self.len > 1 {
            let cap = self.ring.len();
            self.head = (self.head + self.len - 1) % cap;
            self.len = 1;
        }
    }

    /// Fits the window and publishes to `clock`.
    pub fn recalibrate(&mut self, clock: &Clock) -> Result<CalibrationReport, ClockError> {
        let cap = self.ring.len();
        self.mono.clear();
        self.realtime.clear();
        for i in 0..self.len {
            let s = self.ring[(self.head + i) % cap];
            self.mono.push(s.mono_raw);
            self.realtime.push(s.realtime);
        }
        let mono_fit = match clock.source {
            ClockSource::Tsc => fit(&self.mono)?,
            // Ticks are MONOTONIC_RAW nanoseconds: the fit is the identity by construction.
            ClockSource::MonotonicRaw => LineFit {
                mapping: TickMapping::IDENTITY,
                ns_per_tick: 1.0,
                max_residual_ns: 0.0,
                rms_residual_ns: 0.0,
                samples: self.len,
                span_ticks: self
                    .mono
                    .last()
                    .zip(self.mono.first())
                    .map_or(0, |(l, f)| l.ticks.wrapping_sub(f.ticks)),
            },
        };
        let hz = 1e9 / mono_fit.ns_per_tick;
        if !(1e8..=1e10).contains(&hz) {
            return Err(ClockError::ImplausibleFrequency { hz });
        }
        let rt_fit = fit(&self.realtime)?;
        let stepped = rt_fit.max_residual_ns > clock.config.realtime_step_ns as f64;
        let realtime_target = if stepped {
            // CLOCK_REALTIME stepped inside the window: trust only the newest sample, at the
            // monotonic rate, and forget the samples from before the step.
            let newest = self.realtime[self.realtime.len() - 1];
            self.drop_all_but_newest();
            TickMapping {
                base_ticks: newest.ticks,
                base_ns: newest.ns,
                mult: mono_fit.mapping.mult,
            }
        } else {
            rt_fit.mapping
        };
        let mut report = clock.publish(&mono_fit, realtime_target, stepped);
        report.realtime_max_residual_ns = rt_fit.max_residual_ns;
        Ok(report)
    }
}

/// The background re-calibration thread; stops and joins on drop.
#[derive(Debug)]
pub struct RecalibrationThread {
    stop: Arc<AtomicBool>,
    failures: Arc<AtomicU64>,
    handle: Option<JoinHandle<()>>,
}

impl RecalibrationThread {
    /// Re-calibrations that failed (too few samples, implausible rate) so far.
    #[must_use]
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Stops the thread and waits for it (at most one sample period).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            // A panic in the calibration thread has nothing left to clean up; joining only waits.
            let _ = h.join();
        }
    }
}

impl Drop for RecalibrationThread {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick() -> ClockConfig {
        ClockConfig {
            initial_calibration_ns: 5_000_000,
            samples: 8,
            ..ClockConfig::default()
        }
    }

    #[test]
    fn auto_picks_tsc_only_when_invariant() {
        let cpuinfo = "flags : tsc rdtscp constant_tsc nonstop_tsc\n";
        let inv = TscSupport::from_parts(false, true, cpuinfo);
        let not = TscSupport::from_parts(false, true, "flags : tsc\n");
        let c = Clock::uncalibrated(quick(), inv).unwrap();
        let expect = if cfg!(target_arch = "x86_64") {
            ClockSource::Tsc
        } else {
            ClockSource::MonotonicRaw
        };
        assert_eq!(c.source(), expect);
        assert_eq!(
            Clock::uncalibrated(quick(), not).unwrap().source(),
            ClockSource::MonotonicRaw
        );
    }

    #[test]
    fn calibrated_tsc_rate_is_plausible_and_now_is_monotonic() {
        let c = Clock::new(quick()).unwrap();
        assert_eq!(c.generation(), 1);
        let hz = c.tick_hz();
        assert!((1e8..=1e10).contains(&hz), "{hz}");
        let mut last = c.now_mono();
        let mut last_rt = c.now();
        for _ in 0..100_000 {
            let m = c.now_mono();
            let r = c.now();
            assert!(m >= last, "{last:?} -> {m:?}");
            last = m;
            // Realtime may slew but not go back between publications.
            assert!(r >= last_rt, "{last_rt:?} -> {r:?}");
            last_rt = r;
        }
    }

    #[test]
    fn realtime_is_near_clock_realtime() {
        // Not a timing bound: a broken mapping is off by seconds or years, not microseconds.
        let c = Clock::new(quick()).unwrap();
        let ours = c.now().as_u64();
        let theirs = PosixClock::Realtime.now_ns();
        assert!(ours.abs_diff(theirs) < 1_000_000_000, "{ours} vs {theirs}");
        let mono = c.now_mono().as_u64();
        assert!(mono.abs_diff(PosixClock::MonotonicRaw.now_ns()) < 1_000_000_000);
    }

    #[test]
    fn recalibration_keeps_monotonic_time_continuous() {
        let c = Clock::new(quick()).unwrap();
        let mut cal = Calibrator::new(8);
        let mut last = c.now_mono();
        for round in 0..3 {
            for _ in 0..8 {
                cal.push(c.sample());
                let m = c.now_mono();
                assert!(m >= last, "round {round}: {last:?} -> {m:?}");
                last = m;
            }
            let before = c.now_mono();
            let report = cal.recalibrate(&c).unwrap();
            let after = c.now_mono();
            assert!(after >= before, "{before:?} -> {after:?}");
            assert_eq!(report.generation, round + 2);
            assert!(!report.realtime_stepped);
        }
    }

    #[test]
    fn concurrent_publishers_keep_monotonic_time_monotonic() {
        let c = Arc::new(Clock::new(quick()).unwrap());
        let g0 = c.generation();
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let c = Arc::clone(&c);
                std::thread::spawn(move || {
                    for _ in 0..3 {
                        c.calibrate(1_000_000, 4).unwrap();
                    }
                })
            })
            .collect();
        let mut last = c.now_mono();
        while !writers.iter().all(std::thread::JoinHandle::is_finished) {
            let m = c.now_mono();
            assert!(m >= last, "{last:?} -> {m:?}");
            last = m;
        }
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(c.generation(), g0 + 6);
    }

    #[test]
    fn fallback_source_is_identity_on_monotonic_raw() {
        let cfg = ClockConfig {
            source: SourceChoice::Force(ClockSource::MonotonicRaw),
            ..quick()
        };
        let c = Clock::new(cfg).unwrap();
        assert_eq!(c.params().mono, TickMapping::IDENTITY);
        assert!((c.tick_hz() - 1e9).abs() < 1e-3);
        let a = PosixClock::MonotonicRaw.now_ns();
        let m = c.now_mono().as_u64();
        let b = PosixClock::MonotonicRaw.now_ns();
        assert!(a <= m && m <= b, "{a} <= {m} <= {b}");
    }

    #[test]
    fn calibrator_window_slides() {
        let mut cal = Calibrator::new(4);
        for i in 0..6u64 {
            cal.push(ClockSample {
                mono_raw: PairedSample {
                    ticks: i,
                    ns: i,
                    window_ticks: 0,
                },
                ..ClockSample::default()
            });
        }
        assert_eq!(cal.len(), 4);
        let oldest = cal.ring[cal.head].mono_raw.ticks;
        assert_eq!(oldest, 2);
        cal.drop_all_but_newest();
        assert_eq!(cal.len(), 1);
        assert_eq!(cal.ring[cal.head].mono_raw.ticks, 5);
    }

    #[test]
    fn background_thread_publishes_and_stops() {
        let c = Arc::new(Clock::new(quick()).unwrap());
        let g0 = c.generation();
        let mut t = c.spawn_recalibration(Duration::from_millis(16)).unwrap();
        // Wait for a publication by polling the generation, not by asserting a duration.
        let mut spins = 0u64;
        while c.generation() == g0 && spins < 2_000 {
            std::thread::sleep(Duration::from_millis(5));
            spins += 1;
        }
        t.stop();
        assert!(c.generation() > g0, "no re-calibration published");
        assert_eq!(t.failures(), 0);
    }
}
