//! Clock benchmark: the cost of a clock read, and how far the calibrated TSC clock is from the kernel's
//! clocks over a run of ≥ 10 s.
//!
//! ```text
//! cargo run --release -p pymm-bench --bin clock              # full: 12 s of error sampling
//! cargo run --release -p pymm-bench --bin clock -- --quick   # CI: ~1 s, proves the harness works
//! cargo run --release -p pymm-bench --bin clock -- --seconds 30 --out bench/results
//! ```
//!
//! Prints one JSON document. Read cost: ns per call of `Clock::now` (realtime), `Clock::now_mono`,
//! raw `rdtsc`/`rdtscp`, `LatencyRecorder::record`, and `clock_gettime` of each POSIX clock, measured
//! in the same run, with the ratio of each to `clock_gettime(CLOCK_MONOTONIC)` (the floor a program
//! gets without pymm's clock).
//! Calibration error: two clocks run side by side — `recalibrated` (re-fitted every second, as the
//! engine runs it) and `one_shot` (the 20 ms start-up fit only) — and are compared, once per
//! millisecond, with `CLOCK_MONOTONIC_RAW` (their reference), `CLOCK_MONOTONIC` (slewed by NTP; our
//! reading is moved by `MONOTONIC - MONOTONIC_RAW` as the kernel reports it at the start, the slew
//! accumulated since boot) and `CLOCK_REALTIME`. The one-shot clock was fitted before the read-cost
//! phase (seconds earlier), so its error includes the drift accumulated since. Each comparison brackets our read between two reference reads and
//! uses the midpoint. With `--out DIR`, writes `clock.json` and the |error| histograms as
//! `clock.hlog` there.

use std::hint::black_box;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use _native::model::UnixNanos;
use _native::time::posix_clock::PosixClock;
use _native::time::{tsc, Clock, ClockConfig, LatencyConfig, LatencyTracker, SourceChoice};
use serde_json::{json, Value};

struct Args {
    quick: bool,
    seconds: f64,
    out: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        quick: false,
        seconds: 12.0,
        out: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => a.quick = true,
            "--seconds" => {
                a.seconds = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or("--seconds needs a number")?;
            }
            "--out" => a.out = Some(it.next().ok_or("--out needs a directory")?),
            "-h" | "--help" => {
                return Err("usage: clock [--quick] [--seconds S] [--out DIR]".into());
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if a.quick {
        a.seconds = a.seconds.min(1.0);
    }
    Ok(a)
}

/// Median over `rounds` of the mean ns per call over `iters` calls.
fn ns_per_call(rounds: usize, iters: u64, mut f: impl FnMut() -> u64) -> f64 {
    let mut per = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t0 = PosixClock::Monotonic.now_ns();
        let mut acc = 0u64;
        for _ in 0..iters {
            acc = acc.wrapping_add(f());
        }
        black_box(acc);
        let t1 = PosixClock::Monotonic.now_ns();
        per.push((t1 - t0) as f64 / iters as f64);
    }
    per.sort_by(f64::total_cmp);
    per[per.len() / 2]
}

fn read_costs(clock: &Clock, quick: bool) -> Value {
    let (rounds, iters) = if quick { (5, 200_000) } else { (9, 2_000_000) };
    let mut rows: Vec<(&str, f64)> = vec![
        ("loop_overhead", ns_per_call(rounds, iters, || black_box(1))),
        ("rdtsc", ns_per_call(rounds, iters, tsc::read)),
        (
            "rdtscp",
            ns_per_call(rounds, iters, || tsc::read_ordered().0),
        ),
        ("clock_ticks", ns_per_call(rounds, iters, || clock.ticks())),
        (
            "clock_now_realtime",
            ns_per_call(rounds, iters, || clock.now().as_u64()),
        ),
        (
            "clock_now_mono",
            ns_per_call(rounds, iters, || clock.now_mono().as_u64()),
        ),
    ];
    // The hot-thread side of the latency histograms, for scale: one record per timestamp pair.
    if let Ok(mut t) = LatencyTracker::new(LatencyConfig::default(), &["s"], UnixNanos(0)) {
        if let Ok(mut rec) = t.take_recorder(0) {
            let mut v = 0u64;
            let ns = ns_per_call(rounds, iters, || {
                v = (v + 7919) % 100_000;
                rec.record(black_box(v + 100));
                v
            });
            rows.push(("latency_recorder_record", ns));
        }
    }
    for (name, c) in [
        ("clock_gettime_monotonic", PosixClock::Monotonic),
        ("clock_gettime_monotonic_raw", PosixClock::MonotonicRaw),
        ("clock_gettime_realtime", PosixClock::Realtime),
    ] {
        rows.push((name, ns_per_call(rounds, iters, || c.now_ns())));
    }
    let floor = rows
        .iter()
        .find(|(n, _)| *n == "clock_gettime_monotonic")
        .map_or(f64::NAN, |r| r.1);
    let mut out = serde_json::Map::new();
    for (name, ns) in rows {
        out.insert(
            name.to_owned(),
            json!({ "ns_per_call": round2(ns), "ratio_to_clock_gettime_monotonic": round3(ns / floor) }),
        );
    }
    json!({ "rounds": rounds, "calls_per_round": iters, "statistic": "median of rounds", "calls": out })
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Samples whose reference reads are further apart than this are dropped (and counted): the error
/// of a kept sample is known to within half of it. An undisturbed bracket is ~30 ns here.
const MAX_BRACKET_NS: u64 = 200;

/// One comparison series: our clock minus the reference (ns) at elapsed times (ns).
#[derive(Default)]
struct Series {
    elapsed: Vec<f64>,
    err: Vec<f64>,
    bracket: Vec<u64>,
    skipped: u64,
}

impl Series {
    /// Brackets `ours` (shifted by `shift` ns onto the reference's timeline) between two reads of
    /// `reference`; keeps samples with a tight bracket.
    fn sample(&mut self, elapsed: u64, reference: PosixClock, shift: i64, ours: impl Fn() -> u64) {
        let r0 = reference.now_ns();
        let o = ours().saturating_add_signed(shift);
        let r1 = reference.now_ns();
        let width = r1.saturating_sub(r0);
        if width > MAX_BRACKET_NS {
            // Interrupted inside the bracket (VM exit, preemption): the midpoint says too little.
            self.skipped += 1;
            return;
        }
        let mid = r0 + width / 2;
        self.elapsed.push(elapsed as f64);
        // Subtract in integers: realtime values (~1.8e18) have a 256 ns ulp as f64.
        self.err.push((i128::from(o) - i128::from(mid)) as f64);
        self.bracket.push(width);
    }

    fn summary(&self, tracker: &mut LatencyTracker, stage: &str) -> Value {
        let n = self.err.len();
        if n < 2 {
            return json!({ "samples": n, "skipped": self.skipped });
        }
        let mut abs: Vec<f64> = self.err.iter().map(|e| e.abs()).collect();
        abs.sort_by(f64::total_cmp);
        let q = |p: f64| abs[((n - 1) as f64 * p).round() as usize];
        let mean = self.err.iter().sum::<f64>() / n as f64;
        // Least-squares slope of error against elapsed time: drift in ns/ns, reported in ppm.
        let mx = self.elapsed.iter().sum::<f64>() / n as f64;
        let (mut sxx, mut sxy) = (0.0, 0.0);
        for (x, y) in self.elapsed.iter().zip(&self.err) {
            sxx += (x - mx) * (x - mx);
            sxy += (x - mx) * (y - mean);
        }
        let drift_ppm = if sxx > 0.0 { sxy / sxx * 1e6 } else { 0.0 };
        let mut br = self.bracket.clone();
        br.sort_unstable();
        // Largest |error| in each second of the run: shows drift (one-shot) and slews (recalibrated).
        let secs = (self.elapsed[n - 1] / 1e9) as usize + 1;
        let mut per_second = vec![0.0f64; secs];
        for (x, e) in self.elapsed.iter().zip(&self.err) {
            let i = (x / 1e9) as usize;
            per_second[i] = per_second[i].max(e.abs());
        }
        // Steady state: after the first re-calibration has been absorbed (2 s in).
        let mut steady: Vec<f64> = self
            .elapsed
            .iter()
            .zip(&self.err)
            .filter(|(x, _)| **x >= 2e9)
            .map(|(_, e)| e.abs())
            .collect();
        steady.sort_by(f64::total_cmp);
        let steady_json = if steady.len() > 1 {
            let m = steady.len();
            json!({
                "samples": m,
                "p50": steady[(m - 1) / 2],
                "p99": steady[((m - 1) as f64 * 0.99).round() as usize],
                "max": steady[m - 1],
            })
        } else {
            Value::Null
        };
        if let Ok(i) = tracker.stage_index(stage) {
            if let Ok(mut r) = tracker.take_recorder(i) {
                abs.iter().for_each(|&a| r.record(a as u64));
            }
        }
        json!({
            "samples": n,
            "skipped_wide_bracket": self.skipped,
            "abs_error_ns": { "p50": round2(q(0.5)), "p99": round2(q(0.99)), "max": round2(abs[n - 1]) },
            "mean_error_ns": round2(mean),
            "drift_ppm": (drift_ppm * 1e4).round() / 1e4,
            "bracket_ns_p50": br[br.len() / 2],
            "bracket_ns_max": br[br.len() - 1],
            "abs_error_ns_after_2s": steady_json,
            "max_abs_error_ns_per_second": per_second,
        })
    }
}

/// `CLOCK_MONOTONIC - CLOCK_MONOTONIC_RAW` now (ns): the NTP slew accumulated since boot. Tightest
/// bracket of 100 tries.
fn monotonic_minus_raw() -> i64 {
    let mut best = (u64::MAX, 0i64);
    for _ in 0..100 {
        let r0 = PosixClock::MonotonicRaw.now_ns();
        let m = PosixClock::Monotonic.now_ns();
        let r1 = PosixClock::MonotonicRaw.now_ns();
        let w = r1 - r0;
        if w < best.0 {
            best = (w, (i128::from(m) - i128::from(r0 + w / 2)) as i64);
        }
    }
    best.1
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    if let Err(e) = run(&args, &command) {
        eprintln!("clock bench failed: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args, command: &str) -> Result<(), String> {
    let cfg = ClockConfig {
        source: SourceChoice::Auto,
        ..ClockConfig::default()
    };
    let recal = Arc::new(Clock::new(cfg).map_err(|e| e.to_string())?);
    let one_shot = Clock::new(cfg).map_err(|e| e.to_string())?;
    // Re-calibration runs from the start, as in the engine (also during the read-cost phase).
    let mut thread = recal
        .spawn_recalibration(Duration::from_secs(1))
        .map_err(|e| e.to_string())?;
    let reads = read_costs(&recal, args.quick);

    let stages = [
        "recal_vs_monotonic_raw",
        "recal_vs_monotonic",
        "recal_vs_realtime",
        "oneshot_vs_monotonic_raw",
        "oneshot_vs_monotonic",
    ];
    let mut tracker = LatencyTracker::new(LatencyConfig::default(), &stages, recal.now())
        .map_err(|e| e.to_string())?;
    let mut series: Vec<Series> = (0..stages.len()).map(|_| Series::default()).collect();

    // Our clocks live on the MONOTONIC_RAW timeline; move them onto MONOTONIC's by the offset the
    // kernel reports at the start, so the comparison measures rate (NTP slew) and our own error.
    let mono_shift = monotonic_minus_raw();
    let start = PosixClock::MonotonicRaw.now_ns();
    let duration = (args.seconds * 1e9) as u64;
    loop {
        let elapsed = PosixClock::MonotonicRaw.now_ns() - start;
        if elapsed >= duration {
            break;
        }
        series[0].sample(elapsed, PosixClock::MonotonicRaw, 0, || {
            recal.now_mono().as_u64()
        });
        series[1].sample(elapsed, PosixClock::Monotonic, mono_shift, || {
            recal.now_mono().as_u64()
        });
        series[2].sample(elapsed, PosixClock::Realtime, 0, || recal.now().as_u64());
        series[3].sample(elapsed, PosixClock::MonotonicRaw, 0, || {
            one_shot.now_mono().as_u64()
        });
        series[4].sample(elapsed, PosixClock::Monotonic, mono_shift, || {
            one_shot.now_mono().as_u64()
        });
        std::thread::sleep(Duration::from_millis(1));
    }
    thread.stop();
    let end = recal.now();

    let mut series = series.into_iter();
    let mut next = || series.next().unwrap_or_default();
    let mut calib = serde_json::Map::new();
    calib.insert(
        "recal_vs_monotonic_raw".into(),
        next().summary(&mut tracker, stages[0]),
    );
    calib.insert(
        "recal_vs_monotonic".into(),
        next().summary(&mut tracker, stages[1]),
    );
    calib.insert(
        "recal_vs_realtime".into(),
        next().summary(&mut tracker, stages[2]),
    );
    calib.insert(
        "oneshot_vs_monotonic_raw".into(),
        next().summary(&mut tracker, stages[3]),
    );
    calib.insert(
        "oneshot_vs_monotonic".into(),
        next().summary(&mut tracker, stages[4]),
    );

    let support = recal.tsc_support();
    let report = json!({
        "bench": "clock",
        "quick": args.quick,
        "host": pymm_bench::host::host_info(command),
        "tsc": {
            "source": recal.source().as_str(),
            "invariant": support.is_invariant(),
            "cpuid_invariant": support.cpuid_invariant,
            "constant_tsc": support.constant_tsc,
            "nonstop_tsc": support.nonstop_tsc,
            "tick_hz_recalibrated": recal.tick_hz().round(),
            "tick_hz_one_shot": one_shot.tick_hz().round(),
        },
        "read_cost": reads,
        "calibration_error": {
            "seconds": args.seconds,
            "sample_every_ms": 1,
            "recalibration_interval_s": 1,
            "monotonic_minus_raw_at_start_ns": mono_shift,
            "recalibrations": recal.generation(),
            "recalibration_failures": thread.failures(),
            "series": calib,
        },
    });
    let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}").map_err(|e| e.to_string())?;
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        std::fs::write(format!("{dir}/clock.json"), &text).map_err(|e| e.to_string())?;
        tracker
            .end_interval(UnixNanos(end.as_u64()))
            .map_err(|e| e.to_string())?;
        std::fs::write(format!("{dir}/clock.hlog"), tracker.hlog()).map_err(|e| e.to_string())?;
    }
    Ok(())
}
