//! Decode and L2 apply on the recorded Binance streams (`../shared/data`, README §1).
//!
//! What is measured, on the same input in the same run:
//! - **decode**: [`binance::decode`] of every recorded line (envelope, kind, fields; levels not yet
//!   converted), and decode + conversion of every level onto the grid for depth messages;
//! - **apply**: one level set (`L2Book::set`) of every level of every diff the synchroniser applied,
//!   starting from the snapshot state — the dense ladder and the `BTreeMap` baseline
//!   ([`BTreeL2Book`]) side by side;
//! - **pipeline**: decode + sequence check + apply + crossed check of a whole diff ([`BookSync`]).
//!
//! Per-operation latencies come from the TSC (`rdtsc`, x86_64) converted with a frequency measured
//! against `Instant` in the same run; the cost of an empty timed region (the *floor*) is measured the
//! same way and reported, and p50/p99 are also given floor-corrected. Means come from untimed loops
//! (`pass time / operations`, no timer overhead), the best of the passes: on a shared host the other
//! passes measure the neighbours.

use _native::book::{BTreeL2Book, L2Book};
use _native::feed::binance::{self, Message};
use _native::feed::{BookSync, SequenceRule, SyncEvent};
use _native::model::{Price, Qty, Scale, Side};
use hdrhistogram::Histogram;
use std::hint::black_box;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Price levels, best first.
pub type Levels = Vec<(Price, Qty)>;

/// One recorded stream prepared for measurement.
pub struct Stream {
    /// A short name (`usdm_btcusdt_20240808`).
    pub name: String,
    /// Every JSON message, in file order.
    pub lines: Vec<Vec<u8>>,
    /// Tick and lot.
    pub scales: (Scale, Scale),
    /// The continuity rule.
    pub rule: SequenceRule,
    /// The snapshot levels (bids, asks).
    pub snapshot: (Levels, Levels),
    /// Every level update of every applied diff, in order.
    pub updates: Vec<(Side, Price, Qty)>,
    /// Indices (into `lines`) of the diffs applied after the snapshot, and the snapshot line.
    pub applied_diffs: Vec<usize>,
    /// Index of the snapshot line.
    pub snapshot_line: usize,
}

/// Reads a gzip recording of `<ts> <json>` lines.
pub fn read_lines(path: &Path) -> Vec<Vec<u8>> {
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut text = Vec::new();
    flate2::read::MultiGzDecoder::new(&raw[..])
        .read_to_end(&mut text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| match l.iter().position(|&c| c == b' ') {
            Some(i) => l[i + 1..].to_vec(),
            None => l.to_vec(),
        })
        .collect()
}

/// Prepares one hftbacktest recording: finds the snapshot and the applied diffs with a real sync.
pub fn prepare(path: &Path, tick: &str, lot: &str, rule: SequenceRule) -> Stream {
    let lines = read_lines(path);
    let scales = (Scale::parse(tick).unwrap(), Scale::parse(lot).unwrap());
    let mut sync = BookSync::new(rule, scales.0, scales.1, L2Book::default());
    let mut snapshot = (Vec::new(), Vec::new());
    let mut snapshot_line = 0;
    let mut applied_diffs = Vec::new();
    let mut updates = Vec::new();
    let mut pending: Vec<usize> = Vec::new();
    let collect = |d: &binance::DepthUpdate<'_>, out: &mut Vec<(Side, Price, Qty)>| {
        for (side, levels) in [(Side::Buy, d.bids), (Side::Sell, d.asks)] {
            levels
                .for_each_scaled::<_native::feed::DecodeError>(scales.0, scales.1, |p, q| {
                    out.push((side, p, q));
                    Ok(())
                })
                .unwrap();
        }
    };
    for (i, line) in lines.iter().enumerate() {
        match binance::decode(line).unwrap().message {
            Message::DepthUpdate(d) => {
                let before = sync.counters().applied;
                let ev = sync.on_depth_update(line, &d);
                if ev == SyncEvent::Buffered {
                    pending.push(i);
                } else if sync.counters().applied > before {
                    applied_diffs.push(i);
                    collect(&d, &mut updates);
                }
            }
            Message::DepthSnapshot(s) => {
                snapshot_line = i;
                for (levels, out) in [(s.bids, &mut snapshot.0), (s.asks, &mut snapshot.1)] {
                    levels
                        .for_each_scaled::<_native::feed::DecodeError>(
                            scales.0,
                            scales.1,
                            |p, q| {
                                out.push((p, q));
                                Ok(())
                            },
                        )
                        .unwrap();
                }
                let before = sync.counters().applied;
                sync.on_snapshot(&s);
                // The buffered diffs that bridged and followed the snapshot, in order.
                let n = (sync.counters().applied - before) as usize;
                let replayed: Vec<usize> = pending
                    .iter()
                    .copied()
                    .filter(|&j| match binance::decode(&lines[j]).unwrap().message {
                        Message::DepthUpdate(d) => {
                            d.final_update_id > s.last_update_id
                                || rule == SequenceRule::Futures
                                    && d.final_update_id == s.last_update_id
                        }
                        _ => false,
                    })
                    .take(n)
                    .collect();
                for j in replayed {
                    if let Message::DepthUpdate(d) = binance::decode(&lines[j]).unwrap().message {
                        applied_diffs.push(j);
                        collect(&d, &mut updates);
                    }
                }
            }
            _ => {}
        }
    }
    assert!(
        !sync.is_stale(),
        "{}: the recording did not sync",
        path.display()
    );
    Stream {
        name: path
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".gz")
            .to_string(),
        lines,
        scales,
        rule,
        snapshot,
        updates,
        applied_diffs,
        snapshot_line,
    }
}

/// Reads the time-stamp counter (x86_64), or a monotonic nanosecond count elsewhere.
#[inline(always)]
pub fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC has no memory effects and exists on every x86_64 CPU.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        use std::sync::OnceLock;
        static T0: OnceLock<Instant> = OnceLock::new();
        T0.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

/// Timer ticks per nanosecond, measured against `Instant` over `ms` milliseconds.
pub fn ticks_per_ns(ms: u64) -> f64 {
    let (t0, c0) = (Instant::now(), ticks());
    while t0.elapsed().as_millis() < u128::from(ms) {
        std::hint::spin_loop();
    }
    let (ns, c1) = (t0.elapsed().as_nanos() as f64, ticks());
    (c1 - c0) as f64 / ns
}

/// A latency distribution in nanoseconds.
#[derive(Clone, Debug)]
pub struct Dist {
    /// Operations timed.
    pub count: u64,
    /// Untimed-loop mean, ns per operation: the best pass (least disturbed by other processes).
    pub mean_ns: f64,
    /// Percentiles (raw, timer floor included), ns.
    pub p50: f64,
    /// 99th percentile, ns.
    pub p99: f64,
    /// 99.9th percentile, ns.
    pub p999: f64,
    /// Maximum, ns.
    pub max: f64,
    /// Floor-corrected p50, ns.
    pub p50_net: f64,
    /// Floor-corrected p99, ns.
    pub p99_net: f64,
}

impl Dist {
    fn from(h: &Histogram<u64>, tpn: f64, floor_ns: f64, mean_ns: f64) -> Self {
        let q = |x: f64| h.value_at_quantile(x) as f64 / tpn;
        Dist {
            count: h.len(),
            mean_ns,
            p50: q(0.5),
            p99: q(0.99),
            p999: q(0.999),
            max: h.max() as f64 / tpn,
            p50_net: (q(0.5) - floor_ns).max(0.0),
            p99_net: (q(0.99) - floor_ns).max(0.0),
        }
    }

    /// As JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "count": self.count, "mean_ns": r(self.mean_ns), "p50_ns": r(self.p50), "p99_ns": r(self.p99),
            "p999_ns": r(self.p999), "max_ns": r(self.max), "p50_net_ns": r(self.p50_net), "p99_net_ns": r(self.p99_net),
        })
    }
}

fn r(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn hist() -> Histogram<u64> {
    // Bounded: 1 tick .. 10^9 ticks, 3 significant digits; never resizes while recording.
    Histogram::new_with_bounds(1, 1_000_000_000, 3).unwrap()
}

/// The cost of an empty timed region, in timer ticks (p50 of many).
pub fn timer_floor() -> u64 {
    let mut h = hist();
    for _ in 0..200_000 {
        let t0 = ticks();
        let t1 = ticks();
        h.record((t1 - t0).max(1)).unwrap();
    }
    h.value_at_quantile(0.5)
}

/// The L2 book interface both implementations offer, for one generic measurement loop.
pub trait Book {
    /// Sets one level.
    fn put(&mut self, side: Side, price: Price, qty: Qty);
    /// Touches the best levels (so the optimiser cannot drop the work).
    fn touch(&self) -> i64;
    /// Removes every level (keeps the memory).
    fn reset(&mut self);
}

impl Book for L2Book {
    fn reset(&mut self) {
        self.clear();
    }
    #[inline(always)]
    fn put(&mut self, side: Side, price: Price, qty: Qty) {
        let _ = self.set(side, price, qty);
    }
    fn touch(&self) -> i64 {
        self.best_bid().map_or(0, |b| b.0.ticks()) + self.best_ask().map_or(0, |a| a.0.ticks())
    }
}

impl Book for BTreeL2Book {
    fn reset(&mut self) {
        self.clear();
    }
    #[inline(always)]
    fn put(&mut self, side: Side, price: Price, qty: Qty) {
        let _ = self.set(side, price, qty);
    }
    fn touch(&self) -> i64 {
        self.best_bid().map_or(0, |b| b.0.ticks()) + self.best_ask().map_or(0, |a| a.0.ticks())
    }
}

fn load<B: Book>(b: &mut B, s: &Stream) {
    for &(p, q) in &s.snapshot.0 {
        b.put(Side::Buy, p, q);
    }
    for &(p, q) in &s.snapshot.1 {
        b.put(Side::Sell, p, q);
    }
}

/// Apply: `passes` passes over the stream's level updates from the snapshot state.
pub fn apply<B: Book>(
    make: impl Fn() -> B,
    s: &Stream,
    passes: usize,
    tpn: f64,
    floor_ns: f64,
) -> Dist {
    let mut h = hist();
    let mut best = f64::INFINITY;
    // One book for the whole run, as in production (allocated once, pages warm after the first pass).
    let mut b = make();
    load(&mut b, s);
    for &(side, p, q) in &s.updates {
        b.put(side, p, q);
    }
    for _ in 0..passes {
        // Untimed loop for the mean.
        b.reset();
        load(&mut b, s);
        let t0 = Instant::now();
        for &(side, p, q) in &s.updates {
            b.put(side, black_box(p), black_box(q));
        }
        best = best.min(t0.elapsed().as_nanos() as f64 / s.updates.len() as f64);
        black_box(b.touch());
        // Timed per operation.
        b.reset();
        load(&mut b, s);
        for &(side, p, q) in &s.updates {
            let t0 = ticks();
            b.put(side, black_box(p), black_box(q));
            let t1 = ticks();
            h.record((t1 - t0).max(1)).unwrap();
        }
        black_box(b.touch());
    }
    Dist::from(&h, tpn, floor_ns, best)
}

/// Decode of every line (envelope, kind, fields).
pub fn decode(s: &Stream, passes: usize, tpn: f64, floor_ns: f64) -> Dist {
    let mut h = hist();
    let mut mean = f64::INFINITY;
    for _ in 0..passes {
        let t0 = Instant::now();
        for l in &s.lines {
            black_box(binance::decode(black_box(l)).is_ok());
        }
        mean = mean.min(t0.elapsed().as_nanos() as f64 / s.lines.len() as f64);
    }
    for _ in 0..passes {
        for l in &s.lines {
            let t0 = ticks();
            black_box(binance::decode(black_box(l)).is_ok());
            let t1 = ticks();
            h.record((t1 - t0).max(1)).unwrap();
        }
    }
    Dist::from(&h, tpn, floor_ns, mean)
}

/// Decode of every applied diff, with or without the conversion of every level onto the grid.
/// With `levels == false`, decode only (the level lists are skipped over, not converted).
pub fn decode_depth(s: &Stream, levels: bool, passes: usize, tpn: f64, floor_ns: f64) -> Dist {
    let (ps, qs) = s.scales;
    let run = |l: &[u8]| -> i64 {
        let mut acc = 0i64;
        if let Ok(env) = binance::decode(l) {
            if let Message::DepthUpdate(d) = env.message {
                acc = d.final_update_id as i64;
                if !levels {
                    return acc;
                }
                for levels in [d.bids, d.asks] {
                    let _ = levels.for_each_scaled::<_native::feed::DecodeError>(ps, qs, |p, q| {
                        acc = acc.wrapping_add(p.ticks() ^ q.lots());
                        Ok(())
                    });
                }
            }
        }
        acc
    };
    let mut h = hist();
    let mut mean = f64::INFINITY;
    for _ in 0..passes {
        let t0 = Instant::now();
        for &i in &s.applied_diffs {
            black_box(run(black_box(&s.lines[i])));
        }
        mean = mean.min(t0.elapsed().as_nanos() as f64 / s.applied_diffs.len() as f64);
    }
    for _ in 0..passes {
        for &i in &s.applied_diffs {
            let t0 = ticks();
            black_box(run(black_box(&s.lines[i])));
            let t1 = ticks();
            h.record((t1 - t0).max(1)).unwrap();
        }
    }
    Dist::from(&h, tpn, floor_ns, mean)
}

/// Whole pipeline per diff: decode + sequence + apply + crossed check, from the snapshot on.
pub fn pipeline(s: &Stream, passes: usize, tpn: f64, floor_ns: f64) -> Dist {
    let (ps, qs) = s.scales;
    let fresh = || {
        let mut sync = BookSync::new(s.rule, ps, qs, L2Book::default());
        // Buffer the diffs before the snapshot, then load it: the same start as the live session.
        for l in &s.lines[..s.snapshot_line] {
            if let Ok(env) = binance::decode(l) {
                if let Message::DepthUpdate(d) = env.message {
                    sync.on_depth_update(l, &d);
                }
            }
        }
        if let Message::DepthSnapshot(snap) =
            binance::decode(&s.lines[s.snapshot_line]).unwrap().message
        {
            sync.on_snapshot(&snap);
        }
        sync
    };
    let step = |sync: &mut BookSync, l: &[u8]| {
        if let Ok(env) = binance::decode(l) {
            if let Message::DepthUpdate(d) = env.message {
                black_box(sync.on_depth_update(l, &d));
            }
        }
    };
    let live: Vec<usize> = s
        .applied_diffs
        .iter()
        .copied()
        .filter(|&i| i > s.snapshot_line)
        .collect();
    let mut h = hist();
    let mut best = f64::INFINITY;
    for _ in 0..passes {
        let mut sync = fresh();
        let t0 = Instant::now();
        for &i in &live {
            step(&mut sync, &s.lines[i]);
        }
        best = best.min(t0.elapsed().as_nanos() as f64 / live.len() as f64);
        assert!(!sync.is_stale());
        let mut sync = fresh();
        for &i in &live {
            let t0 = ticks();
            step(&mut sync, &s.lines[i]);
            let t1 = ticks();
            h.record((t1 - t0).max(1)).unwrap();
        }
    }
    Dist::from(&h, tpn, floor_ns, best)
}

/// The recordings measured, with their grids (tick, lot) and rules.
pub fn streams(data: &Path) -> Vec<(PathBuf, &'static str, &'static str, SequenceRule)> {
    let d = data.join("binance_hftbacktest_btc_2024-08-08");
    vec![
        (
            d.join("usdm_btcusdt_20240808.gz"),
            "0.1",
            "0.001",
            SequenceRule::Futures,
        ),
        (
            d.join("spot_btcusdt_20240808.gz"),
            "0.01",
            "0.000001",
            SequenceRule::Spot,
        ),
    ]
}

/// `$PYMM_DATA_DIR`, default `../shared/data` beside the repository.
pub fn data_dir() -> PathBuf {
    std::env::var_os("PYMM_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")))
}

/// Runs everything; returns the JSON report.
pub fn run(passes: usize) -> serde_json::Value {
    let tpn = ticks_per_ns(200);
    let floor_ticks = timer_floor();
    let floor_ns = floor_ticks as f64 / tpn;
    let mut out = Vec::new();
    for (path, tick, lot, rule) in streams(&data_dir()) {
        let s = prepare(&path, tick, lot, rule);
        let ladder = apply(L2Book::default, &s, passes, tpn, floor_ns);
        let btree = apply(BTreeL2Book::default, &s, passes, tpn, floor_ns);
        let windows: serde_json::Map<String, serde_json::Value> =
            [4096usize, 65536, 262_144, 1_048_576]
                .into_iter()
                .map(|w| {
                    (
                        w.to_string(),
                        apply(|| L2Book::new(w, 8192), &s, passes, tpn, floor_ns).json(),
                    )
                })
                .collect();
        out.push(serde_json::json!({
            "stream": s.name,
            "messages": s.lines.len(),
            "applied_diffs": s.applied_diffs.len(),
            "level_updates": s.updates.len(),
            "decode_ns_per_msg": decode(&s, passes, tpn, floor_ns).json(),
            "decode_depth_ns_per_msg": decode_depth(&s, false, passes, tpn, floor_ns).json(),
            "decode_depth_with_levels_ns_per_msg": decode_depth(&s, true, passes, tpn, floor_ns).json(),
            "l2_apply_ns_per_update": ladder.json(),
            "btree_apply_ns_per_update": btree.json(),
            "l2_apply_by_window": windows,
            "ladder_vs_btree_mean_ratio": r(ladder.mean_ns / btree.mean_ns * 100.0) / 100.0,
            "pipeline_ns_per_diff": pipeline(&s, passes, tpn, floor_ns).json(),
        }));
    }
    serde_json::json!({
        "bench": "book",
        "commit": option_env!("PYMM_COMMIT").unwrap_or("unknown"),
        "host": std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim(),
        "cpu": cpu_model(),
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "passes": passes,
        "timer": if cfg!(target_arch = "x86_64") { "rdtsc" } else { "Instant" },
        "timer_ticks_per_ns": r(tpn * 1000.0) / 1000.0,
        "timer_floor_ns": r(floor_ns),
        "targets": { "l2_apply_ns": 15.0 },
        "streams": out,
    })
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default()
}
