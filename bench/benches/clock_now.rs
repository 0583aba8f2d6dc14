//! Criterion: one clock read, pymm's `Clock` against raw `rdtsc` and `clock_gettime`, same run.
//! `cargo bench -p pymm-bench --bench clock_now`.

use std::hint::black_box;

use _native::time::posix_clock::PosixClock;
use _native::time::{tsc, Clock, ClockConfig};
use criterion::{criterion_group, criterion_main, Criterion};

fn clock_now(c: &mut Criterion) {
    let clock = Clock::new(ClockConfig::default()).expect("clock calibration");
    let mut g = c.benchmark_group("clock_now");
    g.bench_function("clock_now_realtime", |b| b.iter(|| black_box(clock.now())));
    g.bench_function("clock_now_mono", |b| b.iter(|| black_box(clock.now_mono())));
    g.bench_function("rdtsc", |b| b.iter(|| black_box(tsc::read())));
    g.bench_function("rdtscp", |b| b.iter(|| black_box(tsc::read_ordered())));
    g.bench_function("clock_gettime_monotonic", |b| {
        b.iter(|| black_box(PosixClock::Monotonic.now_ns()))
    });
    g.bench_function("clock_gettime_realtime", |b| {
        b.iter(|| black_box(PosixClock::Realtime.now_ns()))
    });
    g.finish();
}

criterion_group!(benches, clock_now);
criterion_main!(benches);
