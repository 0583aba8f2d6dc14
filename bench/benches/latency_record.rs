//! Criterion: one `LatencyRecorder::record` (the hot-thread side of the latency histograms), against
//! recording straight into an `hdrhistogram::Histogram` owned by the same thread.
//! `cargo bench -p pymm-bench --bench latency_record`.

use std::hint::black_box;

use _native::model::UnixNanos;
use _native::time::{LatencyConfig, LatencyTracker};
use criterion::{criterion_group, criterion_main, Criterion};
use hdrhistogram::Histogram;

fn latency_record(c: &mut Criterion) {
    let cfg = LatencyConfig::default();
    let mut tracker = LatencyTracker::new(cfg, &["stage"], UnixNanos(0)).expect("tracker");
    let mut rec = tracker.take_recorder(0).expect("recorder");
    let mut direct =
        Histogram::<u64>::new_with_bounds(1, cfg.highest_ns, cfg.sigfig).expect("bounds");
    // A spread of values so the counters touched vary like real latencies (100 ns .. ~100 us).
    let values: Vec<u64> = (0..4096u64).map(|i| 100 + (i * 7919) % 100_000).collect();
    let mut g = c.benchmark_group("latency_record");
    let mut i = 0usize;
    g.bench_function("recorder_record", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            rec.record(black_box(values[i]));
        })
    });
    g.bench_function("hdrhistogram_record", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            let _ = direct.record(black_box(values[i]));
        })
    });
    g.finish();
    black_box(tracker.snapshot(0).map(|h| h.len()).unwrap_or(0));
}

criterion_group!(benches, latency_record);
criterion_main!(benches);
