//! L3 book apply for `pymm bench book`: LOBSTER AMZN level 5 converted to ITCH, and Databento ESH4
//! MBO. The mean is ns per update over whole replays, best of `rounds` (the clock read twice per
//! replay); p50/p99/p99.9 come from one more pass timing every update with the TSC (`book_l2::ticks`),
//! so they include the timer's own cost, reported beside them as `timer_floor_ns`.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use _native::book::{L3Book, L3Config};
use _native::feed::arbiter::{Arbiter, ArbiterConfig, Line};
use _native::feed::dbn::DbnFile;
use _native::feed::itch;
use _native::feed::lobster_to_itch::{convert, datagrams};
use _native::model::{InstrumentId, OrderEvent, UnixNanos};
use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::book_l2;

fn apply_all(events: &[OrderEvent], auction: bool, rounds: usize) -> f64 {
    // One book, cleared between rounds outside the timed region: the steady state of a feed thread.
    let mut b = L3Book::new(InstrumentId(1), L3Config::default());
    b.set_auction(auction);
    let mut best = f64::MAX;
    for _ in 0..rounds {
        b.clear();
        let t = Instant::now();
        let mut ok = 0u64;
        for e in events {
            ok += u64::from(b.apply(black_box(e)).is_ok());
        }
        black_box(ok);
        best = best.min(t.elapsed().as_nanos() as f64 / events.len().max(1) as f64);
    }
    best
}

/// Per-update percentiles (ns) of one timed pass: p50, p99, p99.9, and the timer floor.
fn apply_percentiles(events: &[OrderEvent], auction: bool) -> [f64; 4] {
    let tpn = book_l2::ticks_per_ns(50).max(1e-9);
    let floor = book_l2::timer_floor() as f64 / tpn;
    let mut b = L3Book::new(InstrumentId(1), L3Config::default());
    b.set_auction(auction);
    // Bounded (1 tick .. 10^9 ticks, 3 digits): recording never allocates.
    let Ok(mut h) = Histogram::<u64>::new_with_bounds(1, 1_000_000_000, 3) else {
        return [0.0; 4];
    };
    for e in events {
        let t0 = book_l2::ticks();
        let r = b.apply(black_box(e));
        let t1 = book_l2::ticks();
        black_box(r.is_ok());
        h.saturating_record((t1.saturating_sub(t0)).max(1));
    }
    let q = |x: f64| (h.value_at_quantile(x) as f64 / tpn * 10.0).round() / 10.0;
    [q(0.5), q(0.99), q(0.999), (floor * 10.0).round() / 10.0]
}

fn row(stream: &str, events: &[OrderEvent], auction: bool, rounds: usize) -> Value {
    let [p50, p99, p999, floor] = apply_percentiles(events, auction);
    json!({
        "stream": stream,
        "updates": events.len(),
        "l3_apply_ns_per_update": (apply_all(events, auction, rounds) * 10.0).round() / 10.0,
        "l3_apply_p50_ns": p50,
        "l3_apply_p99_ns": p99,
        "l3_apply_p99_9_ns": p999,
        "timer_floor_ns": floor,
    })
}

fn amzn(dir: &Path, rounds: usize) -> Result<Value, String> {
    let lob = dir.join("lobster_2012-06-21_amzn_aapl/AMZN_2012-06-21_34200000_57600000");
    let msg = format!("{}_message_5.csv.gz", lob.display());
    let book = format!("{}_orderbook_5.csv.gz", lob.display());
    let mold = std::env::temp_dir().join(format!("pymm-bench-l3-{}.mold", std::process::id()));
    convert(Path::new(&msg), Path::new(&book), "AMZN", &mold).map_err(|e| e.to_string())?;
    let bytes = std::fs::read(&mold).map_err(|e| e.to_string());
    let _ = std::fs::remove_file(&mold);
    let bytes = bytes?;
    let mut events = Vec::new();
    let mut arb = Arbiter::new(1, ArbiterConfig::default());
    for p in datagrams(&bytes) {
        let p = p.map_err(|e| e.to_string())?;
        let _ = arb.on_packet(Line::A, p, &mut |seq, m| {
            if let Some(ev) = itch::decode(m)
                .ok()
                .and_then(|m| m.order_event(UnixNanos(0), seq, UnixNanos(0)))
            {
                events.push(ev);
            }
        });
    }
    Ok(row("lobster_amzn_20120621_l5_itch", &events, false, rounds))
}

fn esh4(dir: &Path, rounds: usize) -> Result<Value, String> {
    let path = dir.join("databento_glbx_mbo_esh4_2023-12-25/esh4-glbx-mdp3-20231225.mbo.dbn.zst");
    let f = DbnFile::read(&path).map_err(|e| e.to_string())?;
    let events: Vec<OrderEvent> = f
        .mbo_records()
        .map_err(|e| e.to_string())?
        .iter()
        .filter_map(|r| r.order_event(250_000_000))
        .collect();
    Ok(row("databento_esh4_20231225_mbo", &events, true, rounds))
}

/// One row per L3 stream (`{"stream", "error"}` when its data is missing); mean ns/update, best of `rounds`.
pub fn run(dir: &Path, rounds: usize) -> Value {
    let rows: Vec<Value> = [amzn(dir, rounds), esh4(dir, rounds)]
        .into_iter()
        .zip([
            "lobster_amzn_20120621_l5_itch",
            "databento_esh4_20231225_mbo",
        ])
        .map(|(r, name)| r.unwrap_or_else(|e| json!({"stream": name, "error": e})))
        .collect();
    Value::Array(rows)
}
