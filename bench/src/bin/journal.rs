//! Journal append benchmark: end-to-end throughput (records/s, MB/s) for each fsync policy, and the
//! producer's `JournalHandle::append` latency (p50/p99/p99.9/max) next to an empty-timer floor
//! measured in the same run.
//!
//! `cargo run --release -p pymm-bench --bin journal -- [--quick] [--records N] [--dir DIR] [--json]`
//!
//! Throughput: one thread appends N book-delta records as fast as the ring takes them (spinning on
//! `Full`); the clock stops when `close()` returns, i.e. everything is written and fsynced.
//! Latency: a paced run (a short spin between appends, so the ring never fills) times every append
//! with `Instant` pairs into a bounded HDR histogram (no allocation while recording).
//! Replay: a seeded synthetic stream of every record kind (`journal::synth`) is written once, then
//! (median of 3) read + verified only, replayed through `LedgerState` from disk (read + verify +
//! apply), and applied from memory (apply only) — in events/s, beside hftbacktest's 8.9 M events/s.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use _native::journal::synth::synthetic_stream;
use _native::journal::{
    self, AppendError, FsyncPolicy, JournalConfig, JournalReader, JournalRecord, LedgerState,
    ReplayOptions, Replayable,
};
use _native::model::{BookDelta, InstrumentId, Price, Qty, Side, UnixNanos};
use hdrhistogram::Histogram;
use serde_json::json;

fn record(i: u64) -> JournalRecord {
    JournalRecord::book_delta(&BookDelta {
        instrument: InstrumentId(1),
        side: if i & 1 == 0 { Side::Buy } else { Side::Sell },
        price: Price::from_ticks(1_000_000 + (i % 1000) as i64),
        qty: Qty::from_lots(1 + (i % 17) as i64),
        sequence: i,
        ts_event: UnixNanos(1_700_000_000_000_000_000 + i),
        ts_recv: UnixNanos(1_700_000_000_000_000_500 + i),
    })
}

fn config(fsync: FsyncPolicy) -> JournalConfig {
    JournalConfig {
        fsync,
        ..JournalConfig::default()
    }
}

struct Throughput {
    records: u64,
    secs: f64,
    bytes: u64,
    fsyncs: u64,
    full_spins: u64,
}

fn throughput(dir: &Path, fsync: FsyncPolicy, n: u64) -> Throughput {
    let _ = std::fs::remove_dir_all(dir);
    let j = journal::open(dir, config(fsync)).expect("open");
    let mut h = j.handle;
    let mut full_spins = 0;
    let t0 = Instant::now();
    for i in 0..n {
        let rec = record(i);
        loop {
            match h.append(rec) {
                Ok(_) => break,
                Err(AppendError::Full) => {
                    full_spins += 1;
                    std::hint::spin_loop();
                }
                Err(e) => panic!("append: {e}"),
            }
        }
    }
    drop(h);
    let stats = j.writer.close().expect("close");
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(stats.written, n);
    Throughput {
        records: n,
        secs,
        bytes: stats.bytes_written,
        fsyncs: stats.fsyncs,
        full_spins,
    }
}

fn histogram() -> Histogram<u64> {
    // 1 ns .. 10 ms, 3 significant digits, fixed bounds: recording never allocates.
    Histogram::new_with_bounds(1, 10_000_000, 3).expect("bounds")
}

fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

fn latency(dir: &Path, fsync: FsyncPolicy, n: u64) -> (Histogram<u64>, u64) {
    let _ = std::fs::remove_dir_all(dir);
    let j = journal::open(dir, config(fsync)).expect("open");
    let mut h = j.handle;
    let mut hist = histogram();
    let mut refused = 0;
    for i in 0..n {
        let rec = record(i);
        let t = Instant::now();
        let r = h.append(black_box(rec));
        let ns = t.elapsed().as_nanos() as u64;
        match r {
            Ok(_) => hist.saturating_record(ns.max(1)),
            Err(_) => refused += 1,
        }
        spin(Duration::from_micros(2));
    }
    drop(h);
    j.writer.close().expect("close");
    (hist, refused)
}

fn floor(n: u64) -> Histogram<u64> {
    let mut hist = histogram();
    for i in 0..n {
        let t = Instant::now();
        black_box(i);
        hist.saturating_record((t.elapsed().as_nanos() as u64).max(1));
    }
    hist
}

fn summary(h: &Histogram<u64>) -> serde_json::Value {
    json!({
        "count": h.len(),
        "p50_ns": h.value_at_quantile(0.50),
        "p99_ns": h.value_at_quantile(0.99),
        "p999_ns": h.value_at_quantile(0.999),
        "max_ns": h.max(),
    })
}

fn host() -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_default();
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "loadavg": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
        "commit": commit,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Replay speeds over `n` synthetic records: (verify-only, replay from disk, apply-only) events/s.
fn replay_speed(dir: &Path, n: usize) -> (f64, f64, f64) {
    let _ = std::fs::remove_dir_all(dir);
    let recs = synthetic_stream(20_261_202, n);
    let j = journal::open(dir, config(FsyncPolicy::Never)).expect("open");
    let mut h = j.handle;
    let mut stamped = Vec::with_capacity(n);
    for r in &recs {
        loop {
            match h.append(*r) {
                Ok(seq) => {
                    let mut s = *r;
                    s.seq = seq;
                    stamped.push(s);
                    break;
                }
                Err(AppendError::Full) => std::thread::yield_now(),
                Err(e) => panic!("append: {e}"),
            }
        }
    }
    drop(h);
    j.writer.close().expect("close");
    let (mut verify, mut disk, mut mem) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        let t0 = Instant::now();
        let mut c = 0u64;
        for r in JournalReader::open(dir).expect("reader") {
            black_box(r.expect("read"));
            c += 1;
        }
        verify.push(c as f64 / t0.elapsed().as_secs_f64());
        let (_, rep) =
            journal::replay(dir, LedgerState::new, &ReplayOptions::default()).expect("replay");
        disk.push(rep.events_per_s());
        let mut st = LedgerState::new();
        let t0 = Instant::now();
        for r in &stamped {
            st.apply(r).expect("apply");
        }
        mem.push(stamped.len() as f64 / t0.elapsed().as_secs_f64());
        black_box(st.digest());
    }
    let _ = std::fs::remove_dir_all(dir);
    (median(verify), median(disk), median(mem))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let as_json = args.iter().any(|a| a == "--json");
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let n: u64 = value("--records")
        .map(|v| v.parse().expect("--records N"))
        .unwrap_or(if quick { 50_000 } else { 2_000_000 });
    let lat_n = if quick { 20_000 } else { 200_000 };
    let base: PathBuf = value("--dir").map(PathBuf::from).unwrap_or_else(|| {
        std::env::temp_dir().join(format!("pymm-bench-journal-{}", std::process::id()))
    });

    let policies = [
        FsyncPolicy::Never,
        FsyncPolicy::EveryN(1000),
        FsyncPolicy::EveryMs(10),
        FsyncPolicy::Always,
    ];
    let fl = floor(lat_n);
    let mut rows = Vec::new();
    for p in policies {
        let dir = base.join(p.to_string().replace(':', "_"));
        let t = throughput(&dir, p, n);
        let (lat, refused) = latency(&dir, p, lat_n);
        let _ = std::fs::remove_dir_all(&dir);
        let row = json!({
            "fsync": p.to_string(),
            "records": t.records,
            "seconds": t.secs,
            "records_per_s": t.records as f64 / t.secs,
            "mb_per_s": t.bytes as f64 / t.secs / 1e6,
            "bytes_written": t.bytes,
            "fsyncs": t.fsyncs,
            "ring_full_spins": t.full_spins,
            "append_latency": summary(&lat),
            "append_refused_in_paced_run": refused,
        });
        if !as_json {
            println!(
                "{:<14} {:>10.0} rec/s {:>8.1} MB/s  fsyncs {:>6}  append p50 {:>4} ns  p99 {:>5} ns  p99.9 {:>6} ns  max {:>8} ns",
                p.to_string(),
                t.records as f64 / t.secs,
                t.bytes as f64 / t.secs / 1e6,
                t.fsyncs,
                lat.value_at_quantile(0.5),
                lat.value_at_quantile(0.99),
                lat.value_at_quantile(0.999),
                lat.max(),
            );
        }
        rows.push(row);
    }
    let replay_n = if quick { 100_000 } else { 1_000_000 };
    let (verify_rate, disk_rate, mem_rate) = replay_speed(&base.join("replay"), replay_n);
    if !as_json {
        println!(
            "replay of {replay_n} synthetic records: read+verify {verify_rate:.0} rec/s, \
             LedgerState from disk {disk_rate:.0} events/s, apply only {mem_rate:.0} events/s \
             (hftbacktest goto_end: 8.9 M events/s)"
        );
    }
    let _ = std::fs::remove_dir_all(&base);
    let out = json!({
        "bench": "journal_append",
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "host": host(),
        "timer_floor": summary(&fl),
        "rows": rows,
        "replay": {
            "records": replay_n,
            "read_verify_per_s": verify_rate,
            "ledger_replay_from_disk_per_s": disk_rate,
            "ledger_apply_only_per_s": mem_rate,
            "peer_hftbacktest_goto_end_per_s": 8.9e6,
        },
    });
    if as_json {
        println!("{out:#}");
    } else {
        println!(
            "timer floor (empty Instant pair): p50 {} ns, p99 {} ns",
            fl.value_at_quantile(0.5),
            fl.value_at_quantile(0.99)
        );
    }
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    if std::fs::create_dir_all(&results).is_ok() {
        let _ = std::fs::write(results.join("journal.json"), format!("{out:#}\n"));
    }
}
