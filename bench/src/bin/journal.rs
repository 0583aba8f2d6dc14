//! Journal append benchmark: end-to-end throughput (records/s, MB/s) for each fsync policy, and the
//! producer's `JournalHandle::append` latency (p50/p99/p99.9/max) next to an empty-timer floor
//! measured in the same run.
//!
//! `cargo run --release -p pymm-bench --bin journal -- [--quick] [--records N] [--dir DIR] [--json] [--no-pin] [--ring N] [--writer-idle-us N]`
//!
//! `--ring N`: ring capacity in records (default `JournalConfig::default()`, 65 536); `--writer-idle-us N`:
//! the writer's sleep when the ring is empty (default 100; 0 = the writer spins, yielding).
//!
//! Pinning: with 2+ allowed cores the producer (this thread) and the writer thread run on two
//! different cores (the writer inherits the core this thread is on when `journal::open` spawns it,
//! then this thread moves to its own), the appliance layout of DESIGN §3. `--no-pin` leaves both to
//! the scheduler.
//! Push cost (`push`): each `append` timed with a serialising TSC pair (`lfence; rdtsc` …
//! `rdtscp; lfence`), the empty pair measured the same way in the same run, and the amortised
//! cost per push over bursts of 64 back-to-back appends; all HDR histograms in TSC ticks,
//! reported in ns.
//! Writer: `encode only` times the writer's per-record work (frame encode, crc32c, blake3 chain)
//! on this thread without I/O, to split the writer's throughput into encode and write.
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
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use _native::engine::affinity;
use _native::journal::record::{chain_next, encode_frame, GENESIS, HEADER_LEN};
use _native::journal::synth::synthetic_stream;
use _native::journal::{
    self, AppendError, FsyncPolicy, JournalConfig, JournalReader, JournalRecord, LedgerState,
    ReplayOptions, Replayable,
};
use _native::model::{BookDelta, InstrumentId, Price, Qty, Side, UnixNanos};
use hdrhistogram::Histogram;
use pymm_bench::book_l2::ticks_per_ns;
use pymm_bench::tsc::{end as tsc_end, start as tsc_start};
use serde_json::json;

/// Producer and writer cores when 2+ are allowed and pinning was not turned off.
#[derive(Clone, Copy)]
struct Pins {
    producer: usize,
    writer: usize,
}

fn pins(enabled: bool) -> Option<Pins> {
    if !enabled {
        return None;
    }
    let cores = affinity::allowed_cores().ok()?;
    match cores.as_slice() {
        [a, b, ..] => Some(Pins {
            producer: *a,
            writer: *b,
        }),
        _ => None,
    }
}

/// Opens the journal with its writer thread on `pins.writer` and leaves this thread on
/// `pins.producer` (a spawned thread inherits its parent's affinity).
fn open_pinned(dir: &Path, cfg: JournalConfig, pins: Option<Pins>) -> journal::OpenJournal {
    let cfg = JournalConfig {
        core: pins.map(|p| p.writer),
        ..cfg
    };
    let j = journal::open(dir, cfg).expect("open");
    if let Some(p) = pins {
        affinity::pin_current_thread(p.producer).expect("pin producer core");
    }
    j
}

fn spin_ticks(ticks: u64) {
    let t = tsc_end();
    while tsc_end().wrapping_sub(t) < ticks {
        std::hint::spin_loop();
    }
}

/// Per-push TSC histograms from one pinned (if possible) paced run.
struct PushCost {
    /// One `append` per sample, ticks (floor included).
    single: Histogram<u64>,
    /// The empty TSC pair, ticks, same run.
    floor: Histogram<u64>,
    /// A burst of 64 appends per sample, ticks for the whole burst.
    burst64: Histogram<u64>,
    refused: u64,
    /// The journal's counters at the end of the run (ring size and huge pages).
    stats: journal::JournalStats,
}

fn tick_histogram() -> Histogram<u64> {
    // 1 .. 10^9 ticks (~0.3 s at 3 GHz), 3 significant digits, fixed bounds: never allocates.
    Histogram::new_with_bounds(1, 1_000_000_000, 3).expect("bounds")
}

fn push_cost(dir: &Path, n: u64, pins: Option<Pins>, tpn: f64) -> PushCost {
    let _ = std::fs::remove_dir_all(dir);
    let j = open_pinned(dir, config(FsyncPolicy::Never), pins);
    let mut h = j.handle;
    let (mut single, mut floor, mut burst64) =
        (tick_histogram(), tick_histogram(), tick_histogram());
    let gap = (2_000.0 * tpn) as u64;
    let mut refused = 0;
    for i in 0..n {
        let rec = record(i);
        let t0 = tsc_start();
        black_box(&rec);
        let t1 = tsc_end();
        floor.saturating_record((t1 - t0).max(1));
        let t0 = tsc_start();
        let r = h.append(black_box(rec));
        let t1 = tsc_end();
        match r {
            Ok(_) => single.saturating_record((t1 - t0).max(1)),
            Err(_) => refused += 1,
        }
        spin_ticks(gap);
    }
    let recs: Vec<JournalRecord> = (0..64).map(record).collect();
    for _ in 0..n / 64 {
        let t0 = tsc_start();
        for r in &recs {
            if h.append(black_box(*r)).is_err() {
                refused += 1;
            }
        }
        let t1 = tsc_end();
        burst64.saturating_record((t1 - t0).max(1));
        // 64 records every ~130 µs: the writer (idle sleep 100 µs) keeps the ring from filling.
        spin_ticks(gap * 64);
    }
    drop(h);
    let stats = j.writer.close().expect("close");
    PushCost {
        single,
        floor,
        burst64,
        refused,
        stats,
    }
}

/// ns per record the writer spends encoding (frame, crc32c, blake3 chain), no I/O, this thread.
fn encode_only(n: u64) -> f64 {
    let cfg = JournalConfig::default();
    let mut buf = Vec::with_capacity(cfg.batch_bytes + 256);
    let mut chain = GENESIS;
    let t0 = Instant::now();
    for i in 0..n {
        let mut rec = record(i);
        rec.seq = i + 1;
        chain = encode_frame(&mut buf, &rec, &chain);
        if buf.len() >= cfg.batch_bytes {
            black_box(&buf);
            buf.clear();
        }
    }
    black_box(chain);
    t0.elapsed().as_nanos() as f64 / n as f64
}

/// Where `encode_only`'s time goes: ns per record for crc32c alone and the blake3 chain alone, over
/// the same record bodies (header + payload), this thread.
fn encode_split(n: u64) -> (f64, f64) {
    let mut frame = Vec::with_capacity(256);
    let bodies: Vec<Vec<u8>> = (0..1024)
        .map(|i| {
            frame.clear();
            let mut rec = record(i);
            rec.seq = i + 1;
            encode_frame(&mut frame, &rec, &GENESIS);
            frame[..HEADER_LEN + rec.payload().len()].to_vec()
        })
        .collect();
    let t0 = Instant::now();
    let mut acc = 0u32;
    for i in 0..n {
        acc ^= crc32c::crc32c(black_box(&bodies[(i & 1023) as usize]));
    }
    black_box(acc);
    let crc = t0.elapsed().as_nanos() as f64 / n as f64;
    let mut chain = GENESIS;
    let t0 = Instant::now();
    for i in 0..n {
        chain = chain_next(&chain, black_box(&bodies[(i & 1023) as usize]));
    }
    black_box(chain);
    (crc, t0.elapsed().as_nanos() as f64 / n as f64)
}

fn tick_summary(h: &Histogram<u64>, tpn: f64, per: f64) -> serde_json::Value {
    let ns = |t: u64| t as f64 / tpn / per;
    json!({
        "count": h.len(),
        "p50_ns": ns(h.value_at_quantile(0.50)),
        "p99_ns": ns(h.value_at_quantile(0.99)),
        "p999_ns": ns(h.value_at_quantile(0.999)),
        "max_ns": ns(h.max()),
    })
}

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

/// The ring capacity and writer idle sleep every run uses (`--ring`, `--writer-idle-us`).
static BASE: OnceLock<JournalConfig> = OnceLock::new();

fn config(fsync: FsyncPolicy) -> JournalConfig {
    JournalConfig {
        fsync,
        ..BASE.get().copied().unwrap_or_default()
    }
}

struct Throughput {
    records: u64,
    secs: f64,
    bytes: u64,
    fsyncs: u64,
    full_spins: u64,
}

fn throughput(dir: &Path, fsync: FsyncPolicy, n: u64, pins: Option<Pins>) -> Throughput {
    let _ = std::fs::remove_dir_all(dir);
    let j = open_pinned(dir, config(fsync), pins);
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

fn latency(dir: &Path, fsync: FsyncPolicy, n: u64, pins: Option<Pins>) -> (Histogram<u64>, u64) {
    let _ = std::fs::remove_dir_all(dir);
    let j = open_pinned(dir, config(fsync), pins);
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

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
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
    let defaults = JournalConfig::default();
    let base_cfg = JournalConfig {
        ring_capacity: value("--ring")
            .map(|v| v.parse().expect("--ring N"))
            .unwrap_or(defaults.ring_capacity),
        idle_sleep: value("--writer-idle-us")
            .map(|v| Duration::from_micros(v.parse().expect("--writer-idle-us N")))
            .unwrap_or(defaults.idle_sleep),
        ..defaults
    };
    base_cfg.validate().expect("--ring");
    let _ = BASE.set(base_cfg);
    let base: PathBuf = value("--dir").map(PathBuf::from).unwrap_or_else(|| {
        std::env::temp_dir().join(format!("pymm-bench-journal-{}", std::process::id()))
    });

    let policies = [
        FsyncPolicy::Never,
        FsyncPolicy::EveryN(1000),
        FsyncPolicy::EveryMs(10),
        FsyncPolicy::Always,
    ];
    let pins = pins(!args.iter().any(|a| a == "--no-pin"));
    let tpn = ticks_per_ns(200);
    let load_before = loadavg();
    let fl = floor(lat_n);
    let pc = push_cost(&base.join("push"), lat_n, pins, tpn);
    let enc_ns = encode_only(n);
    let (crc_ns, chain_ns) = encode_split(n);
    let ring_huge = pc.stats.ring_bytes > 0 && pc.stats.ring_huge_page_bytes >= pc.stats.ring_bytes;
    if !as_json {
        let q = |h: &Histogram<u64>, per: f64, x: f64| h.value_at_quantile(x) as f64 / tpn / per;
        println!(
            "pinning: {}; TSC {tpn:.3} ticks/ns; load average {load_before}",
            match pins {
                Some(p) => format!("producer core {}, writer core {}", p.producer, p.writer),
                None => "none".into(),
            }
        );
        for (name, h, per) in [
            ("TSC floor (empty pair)", &pc.floor, 1.0),
            ("push (one append)", &pc.single, 1.0),
            ("push, burst of 64 (per push)", &pc.burst64, 64.0),
        ] {
            println!(
                "{name:<30} p50 {:>7.1} ns  p99 {:>7.1} ns  p99.9 {:>8.1} ns  max {:>10.1} ns",
                q(h, per, 0.5),
                q(h, per, 0.99),
                q(h, per, 0.999),
                h.max() as f64 / tpn / per,
            );
        }
        println!(
            "push minus floor: p50 {:.1} ns, p99 {:.1} ns, p99.9 {:.1} ns; refused {}",
            q(&pc.single, 1.0, 0.5) - q(&pc.floor, 1.0, 0.5),
            q(&pc.single, 1.0, 0.99) - q(&pc.floor, 1.0, 0.5),
            q(&pc.single, 1.0, 0.999) - q(&pc.floor, 1.0, 0.5),
            pc.refused
        );
        println!(
            "ring: {} slots, {} KiB, {} KiB on huge pages ({}); writer idle sleep {} us",
            base_cfg.ring_capacity.next_power_of_two(),
            pc.stats.ring_bytes >> 10,
            pc.stats.ring_huge_page_bytes >> 10,
            if ring_huge {
                "huge pages"
            } else {
                "NOT all on huge pages"
            },
            base_cfg.idle_sleep.as_micros(),
        );
        println!(
            "writer encode only (frame + crc32c + blake3, no I/O): {enc_ns:.1} ns/record = {:.0} rec/s \
             (of which crc32c {crc_ns:.1} ns, blake3 chain {chain_ns:.1} ns)",
            1e9 / enc_ns
        );
    }
    let mut rows = Vec::new();
    for p in policies {
        let dir = base.join(p.to_string().replace(':', "_"));
        let t = throughput(&dir, p, n, pins);
        let (lat, refused) = latency(&dir, p, lat_n, pins);
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
        "load_average_at_start": load_before,
        "pinned": pins.map(|p| json!({"producer_core": p.producer, "writer_core": p.writer})),
        "tsc_ticks_per_ns": tpn,
        "push_tsc": {
            "floor": tick_summary(&pc.floor, tpn, 1.0),
            "single": tick_summary(&pc.single, tpn, 1.0),
            "burst64_per_push": tick_summary(&pc.burst64, tpn, 64.0),
            "refused": pc.refused,
        },
        "ring": {
            "capacity": base_cfg.ring_capacity.next_power_of_two(),
            "bytes": pc.stats.ring_bytes,
            "huge_page_bytes": pc.stats.ring_huge_page_bytes,
            "huge_pages": ring_huge,
        },
        "writer_idle_us": base_cfg.idle_sleep.as_micros() as u64,
        "writer_encode_only_ns_per_record": enc_ns,
        "writer_encode_split_ns": {"crc32c": crc_ns, "blake3_chain": chain_ns},
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
            "timer floor (empty Instant pair): p50 {} ns, p99 {} ns; load average at end {}",
            fl.value_at_quantile(0.5),
            fl.value_at_quantile(0.99),
            loadavg()
        );
    }
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    if std::fs::create_dir_all(&results).is_ok() {
        let _ = std::fs::write(results.join("journal.json"), format!("{out:#}\n"));
    }
}
