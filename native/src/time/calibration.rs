//! Ticks → nanoseconds: the fixed-point mapping, the least-squares fit that produces it, and the slew
//! that replaces one mapping by the next without a jump.
//!
//! Pure arithmetic over samples: no clock reads, no I/O, no allocation (fits take a slice). The
//! conversion ([`TickMapping::to_ns`]) runs on every thread that timestamps, the hot loop first; it is
//! one 64×64→128-bit multiply, a shift and an add: no float, no division. Fitting and slewing run on
//! the re-calibration thread and may use floats and division.

use super::ClockError;

/// Fraction bits of [`TickMapping::mult`]. 48 keeps the multiplier's rounding error below
/// 2^-49 ns per tick (below 1e-14 relative at 0.1 GHz and slower ticks) while any tick rate down to
/// one tick per 65 µs still fits the multiplier in 64 bits.
pub const SHIFT: u32 = 48;

/// Fixed-point affine map from counter ticks to nanoseconds:
/// `ns = base_ns + ((ticks - base_ticks) * mult) >> SHIFT`, with `ticks - base_ticks` signed so
/// ticks read just before `base_ticks` convert correctly too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TickMapping {
    /// The anchor tick, usually the newest calibration sample.
    pub base_ticks: u64,
    /// Nanoseconds at `base_ticks` on the target timeline.
    pub base_ns: u64,
    /// Nanoseconds per tick, scaled by `2^SHIFT`. Always > 0.
    pub mult: u64,
}

impl TickMapping {
    /// Ticks are nanoseconds already (the `clock_gettime` fallback).
    pub const IDENTITY: Self = Self {
        base_ticks: 0,
        base_ns: 0,
        mult: 1 << SHIFT,
    };

    /// A mapping with `ns_per_tick` (> 0) through (`base_ticks`, `base_ns`).
    pub fn from_slope(base_ticks: u64, base_ns: u64, ns_per_tick: f64) -> Result<Self, ClockError> {
        let mult = ns_per_tick * (1u64 << SHIFT) as f64;
        if !(mult >= 1.0 && mult < u64::MAX as f64) {
            return Err(ClockError::ImplausibleFrequency {
                hz: 1e9 / ns_per_tick,
            });
        }
        Ok(Self {
            base_ticks,
            base_ns,
            mult: mult.round() as u64,
        })
    }

    /// Converts a tick count. Saturates at 0 and `u64::MAX` instead of wrapping.
    ///
    /// # Hot path
    /// Any thread. Integer multiply, shift and add; no float, no division, no branch but the clamp.
    #[inline]
    #[must_use]
    pub fn to_ns(&self, ticks: u64) -> u64 {
        // Reinterpreting the wrapped difference as i64 gives the signed distance for any two ticks
        // less than 2^63 apart (146 years at 2 GHz).
        let delta = ticks.wrapping_sub(self.base_ticks) as i64;
        let off = (i128::from(delta) * i128::from(self.mult)) >> SHIFT;
        let ns = i128::from(self.base_ns) + off;
        ns.clamp(0, i128::from(u64::MAX)) as u64
    }

    /// Nanoseconds per tick as a float (diagnostics only).
    #[must_use]
    pub fn ns_per_tick(&self) -> f64 {
        self.mult as f64 / (1u64 << SHIFT) as f64
    }

    /// Tick rate in Hz (diagnostics only).
    #[must_use]
    pub fn hz(&self) -> f64 {
        1e9 / self.ns_per_tick()
    }

    /// Replaces `self` by a mapping that agrees with `self` at `now_ticks` (no jump) and meets
    /// `target` `horizon_ticks` later, changing the rate by at most `max_slew_ppm` relative to
    /// `target`'s rate (the phase error left over is absorbed by later slews). A phase error larger
    /// than `step_above_ns` is not slewed: the result is `target` itself (a step), for timelines that
    /// may step (realtime after an NTP/PTP step). Pass `u64::MAX` to never step.
    #[must_use]
    pub fn slew_towards(
        &self,
        target: &Self,
        now_ticks: u64,
        horizon_ticks: u64,
        max_slew_ppm: u32,
        step_above_ns: u64,
    ) -> Self {
        let here = self.to_ns(now_ticks);
        let error = i128::from(target.to_ns(now_ticks)) - i128::from(here);
        if error.unsigned_abs() > u128::from(step_above_ns) {
            return *target;
        }
        let horizon = i128::from(horizon_ticks.max(1));
        let at_horizon = i128::from(target.to_ns(now_ticks.wrapping_add(horizon_ticks.max(1))));
        // mult such that here + horizon * mult >> SHIFT == at_horizon.
        let want = ((at_horizon - i128::from(here)) << SHIFT) / horizon;
        let t = i128::from(target.mult);
        let band = t * i128::from(max_slew_ppm) / 1_000_000;
        let mult = want.clamp((t - band).max(1), t + band);
        Self {
            base_ticks: now_ticks,
            base_ns: here,
            mult: mult.clamp(1, i128::from(u64::MAX)) as u64,
        }
    }
}

/// One paired reading of the tick counter and a reference clock: the reference was read between two
/// tick reads `window_ticks` apart, and `ticks` is their midpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PairedSample {
    /// Midpoint of the bracketing tick reads.
    pub ticks: u64,
    /// The reference clock's reading, in nanoseconds.
    pub ns: u64,
    /// Distance between the bracketing tick reads: the uncertainty of `ticks`.
    pub window_ticks: u64,
}

/// The least-squares line through a set of samples, anchored at the newest one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LineFit {
    /// The fitted mapping, anchored at the newest sample's tick.
    pub mapping: TickMapping,
    /// Fitted nanoseconds per tick.
    pub ns_per_tick: f64,
    /// Largest absolute residual of a sample, in nanoseconds.
    pub max_residual_ns: f64,
    /// Root-mean-square residual, in nanoseconds.
    pub rms_residual_ns: f64,
    /// Samples used.
    pub samples: usize,
    /// Ticks from the oldest to the newest sample.
    pub span_ticks: u64,
}

/// Fewest samples a fit accepts.
pub const MIN_SAMPLES: usize = 4;

/// Fits `ns = a + b * ticks` by ordinary least squares. Samples must be in tick order (as taken).
/// Works on values centred on the first sample, so 64-bit counters lose no precision in `f64`.
pub fn fit(samples: &[PairedSample]) -> Result<LineFit, ClockError> {
    if samples.len() < MIN_SAMPLES {
        return Err(ClockError::TooFewSamples {
            got: samples.len(),
            need: MIN_SAMPLES,
        });
    }
    let (t0, n0) = (samples[0].ticks, samples[0].ns);
    let x = |s: &PairedSample| s.ticks.wrapping_sub(t0) as i64 as f64;
    let y = |s: &PairedSample| s.ns.wrapping_sub(n0) as i64 as f64;
    let n = samples.len() as f64;
    let mx = samples.iter().map(x).sum::<f64>() / n;
    let my = samples.iter().map(y).sum::<f64>() / n;
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for s in samples {
        let dx = x(s) - mx;
        sxx += dx * dx;
        sxy += dx * (y(s) - my);
    }
    if sxx <= 0.0 {
        return Err(ClockError::Stalled);
    }
    let b = sxy / sxx;
    if b <= 0.0 || !b.is_finite() {
        return Err(ClockError::ImplausibleFrequency { hz: 1e9 / b });
    }
    let a = my - b * mx;
    let (mut max_r, mut sum_r2) = (0.0f64, 0.0);
    for s in samples {
        let r = y(s) - (a + b * x(s));
        max_r = max_r.max(r.abs());
        sum_r2 += r * r;
    }
    let last = samples[samples.len() - 1];
    let y_last = a + b * x(&last);
    let base_ns = (i128::from(n0) + y_last.round() as i128).clamp(0, i128::from(u64::MAX)) as u64;
    Ok(LineFit {
        mapping: TickMapping::from_slope(last.ticks, base_ns, b)?,
        ns_per_tick: b,
        max_residual_ns: max_r,
        rms_residual_ns: (sum_r2 / n).sqrt(),
        samples: samples.len(),
        span_ticks: last.ticks.wrapping_sub(t0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(hz: f64, t0: u64, n0: u64, count: usize, step: u64) -> Vec<PairedSample> {
        (0..count as u64)
            .map(|i| {
                let ticks = t0 + i * step;
                PairedSample {
                    ticks,
                    ns: n0 + ((i * step) as f64 * 1e9 / hz).round() as u64,
                    window_ticks: 40,
                }
            })
            .collect()
    }

    #[test]
    fn identity_maps_ticks_to_themselves() {
        for t in [0, 1, 1_000_000_007, u64::MAX / 3] {
            assert_eq!(TickMapping::IDENTITY.to_ns(t), t);
        }
    }

    #[test]
    fn fit_recovers_an_exact_line() {
        let s = line(2_994_000_000.0, 1 << 40, 5_000_000_000, 64, 3_000_000);
        let f = fit(&s).unwrap();
        // The samples' ns are rounded to integers: ±0.5 ns over a 64 ms span is ~1e-8 of the rate.
        assert!(
            (f.mapping.hz() / 2_994_000_000.0 - 1.0).abs() < 2e-8,
            "{}",
            f.mapping.hz()
        );
        assert!(f.max_residual_ns <= 1.0, "{}", f.max_residual_ns);
        for p in &s {
            assert!(f.mapping.to_ns(p.ticks).abs_diff(p.ns) <= 2, "{p:?}");
        }
        assert_eq!(f.mapping.base_ticks, s[63].ticks);
    }

    #[test]
    fn fit_averages_out_symmetric_noise() {
        let mut s = line(1e9, 1000, 1000, 101, 10_000_000);
        for (i, p) in s.iter_mut().enumerate() {
            // +-50 ns alternating: the slope must not move.
            p.ns = if i % 2 == 0 { p.ns + 50 } else { p.ns - 50 };
        }
        let f = fit(&s).unwrap();
        assert!((f.ns_per_tick - 1.0).abs() < 1e-9, "{}", f.ns_per_tick);
        assert!((f.max_residual_ns - 50.0).abs() < 1.0);
    }

    #[test]
    fn fit_rejects_too_few_and_flat_input() {
        assert!(matches!(
            fit(&line(1e9, 0, 0, 3, 10)),
            Err(ClockError::TooFewSamples { got: 3, need: 4 })
        ));
        let flat = vec![
            PairedSample {
                ticks: 7,
                ns: 7,
                window_ticks: 0
            };
            8
        ];
        assert!(matches!(fit(&flat), Err(ClockError::Stalled)));
        let mut backwards = line(1e9, 1000, 1_000_000, 8, 100);
        backwards
            .iter_mut()
            .enumerate()
            .for_each(|(i, p)| p.ns = 1_000_000 - i as u64 * 100);
        assert!(matches!(
            fit(&backwards),
            Err(ClockError::ImplausibleFrequency { .. })
        ));
    }

    #[test]
    fn slew_is_continuous_and_bounded() {
        let old = TickMapping::from_slope(1_000, 1_000_000, 1.0 / 3.0).unwrap();
        // Target runs 10 us ahead at the switch point.
        let target = TickMapping {
            base_ns: old.base_ns + 10_000,
            ..old
        };
        let now = 4_000_000_000;
        let new = old.slew_towards(&target, now, 3_000_000_000, 500, u64::MAX);
        assert_eq!(new.to_ns(now), old.to_ns(now));
        // 10 us over 1 s is 10 ppm: within the band, so the target is met at the horizon.
        let h = now + 3_000_000_000;
        assert!(new.to_ns(h).abs_diff(target.to_ns(h)) <= 1);
        // 10 ms over 1 s would need 10_000 ppm: clamped to 500 ppm.
        let far = TickMapping {
            base_ns: old.base_ns + 10_000_000,
            ..old
        };
        let slewed = old.slew_towards(&far, now, 3_000_000_000, 500, u64::MAX);
        let ratio = slewed.mult as f64 / far.mult as f64;
        assert!((ratio - 1.0005).abs() < 1e-9, "{ratio}");
        // ...unless stepping is allowed above 1 ms.
        assert_eq!(
            old.slew_towards(&far, now, 3_000_000_000, 500, 1_000_000),
            far
        );
    }

    proptest! {
        /// The fixed-point conversion is within 1 ns (the shift's floor) of the line its multiplier
        /// represents, and within 1 ns plus |d| * 2^-48 ns (the multiplier's rounding) of the requested
        /// rate, for 0.1-10 GHz and up to 2^42 ticks either side of the anchor (~25 min at 3 GHz).
        #[test]
        fn conversion_error_is_bounded(
            hz in 1e8f64..1e10,
            base_ticks in 0u64..(1 << 60),
            base_ns in (1u64 << 47)..(1 << 62),
            delta in -(1i64 << 42)..(1i64 << 42),
        ) {
            let m = TickMapping::from_slope(base_ticks, base_ns, 1e9 / hz).unwrap();
            let got = (i128::from(m.to_ns(base_ticks.wrapping_add_signed(delta))) - i128::from(base_ns)) as f64;
            // |offset| < 2^46, so f64 carries it to 2^-6 ns.
            let represented = delta as f64 * m.ns_per_tick();
            prop_assert!((got - represented).abs() <= 1.02, "got {got} represented {represented}");
            let requested = delta as f64 * 1e9 / hz;
            let bound = 1.02 + delta.unsigned_abs() as f64 * 2f64.powi(-48);
            prop_assert!((got - requested).abs() <= bound, "got {got} requested {requested}");
        }

        /// Conversion is monotonic in ticks.
        #[test]
        fn conversion_is_monotonic(
            hz in 1e8f64..1e10,
            base_ticks in 0u64..(1 << 60),
            a in -(1i64 << 40)..(1i64 << 40),
            step in 0u64..1_000_000,
        ) {
            let m = TickMapping::from_slope(base_ticks, 1 << 50, 1e9 / hz).unwrap();
            let t1 = base_ticks.wrapping_add_signed(a);
            prop_assert!(m.to_ns(t1) <= m.to_ns(t1 + step));
        }

        /// A slew never jumps at the switch tick and keeps the rate positive.
        #[test]
        fn slew_never_jumps(
            hz in 1e8f64..1e10,
            phase in -1_000_000i64..1_000_000,
            ppm in 0u32..1000,
            later in 1u64..(1 << 36),
        ) {
            let old = TickMapping::from_slope(1 << 30, 1 << 50, 1e9 / hz).unwrap();
            let target = TickMapping::from_slope(1 << 30, (1u64 << 50).wrapping_add_signed(phase), 1e9 / hz * 1.00001).unwrap();
            let now = (1u64 << 30) + later;
            let new = old.slew_towards(&target, now, 1 << 30, ppm, u64::MAX);
            prop_assert_eq!(new.to_ns(now), old.to_ns(now));
            prop_assert!(new.mult > 0);
            prop_assert!(new.to_ns(now + 1_000_000) >= new.to_ns(now));
        }
    }
}
