//! Decision latency of the session's hot path, per call, next to an empty-timer floor measured in
//! the same run: pre-trade risk (`PreTradeRisk::check_new`) and the quoter (`Quoter::update`, the
//! diff from the book's top to new / cancel / replace actions).
//!
//! `cargo run --release -p pymm-bench --bin engine_decisions -- [--n N] [--json]`
//!
//! Each call is timed with a serialising TSC pair (`pymm_bench::tsc`: `lfence; rdtsc; lfence` …
//! `rdtscp; lfence`) into a bounded HDR histogram of ticks (no allocation while recording); the
//! empty pair, timed the same way in the same run, is the floor. Ticks are converted to ns with a
//! rate measured against `Instant`. Reported per percentile: raw (floor included) and net of the
//! floor's same percentile. Risk: every order is a fresh client id on alternating sides, released right after
//! (the working table stays at its steady size). Quoter: the top moves one tick every call, three
//! levels a side, so every update re-prices (replace actions), and the actions are reported back as
//! sent and done.

use std::hint::black_box;

use _native::model::{ClientOrderId, InstrumentId, Price, Qty, Side, UnixNanos};
use _native::quoter::{Anchor, QuoteAction, QuoteParams, Quoter, Top};
use _native::risk::{OrderCheck, PreTradeRisk, RateLimits, RiskLimits};
use hdrhistogram::Histogram;
use pymm_bench::book_l2::ticks_per_ns;
use pymm_bench::tsc;
use serde_json::json;

/// Ticks (up to ~10 s at a few GHz).
fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 50_000_000_000, 3).expect("bounds")
}

const QUANTILES: [(&str, f64); 3] = [("p50", 0.5), ("p99", 0.99), ("p999", 0.999)];

/// Raw ns per percentile and max, and ns net of the floor's same percentile.
fn row(h: &Histogram<u64>, floor: &Histogram<u64>, tpn: f64) -> serde_json::Value {
    let ns = |t: u64| (t as f64 / tpn).round() as u64;
    let mut out = json!({ "count": h.len(), "max": ns(h.max()) });
    for (name, q) in QUANTILES {
        let raw = ns(h.value_at_quantile(q));
        out[name] = json!(raw);
        out[format!("{name}_net")] = json!(raw.saturating_sub(ns(floor.value_at_quantile(q))));
    }
    out
}

fn floor(n: u64) -> Histogram<u64> {
    let mut h = hist();
    for _ in 0..n {
        let t = tsc::start();
        black_box(());
        let _ = h.record((tsc::end() - t).max(1));
    }
    h
}

fn risk(n: u64) -> Histogram<u64> {
    let t0 = UnixNanos(1_700_000_000_000_000_000);
    let id = InstrumentId(0);
    let mut r = PreTradeRisk::new(
        1,
        RateLimits {
            venue_orders_burst: u64::MAX / 4,
            venue_orders_per_second: 1 << 40,
            messages_burst: u64::MAX / 4,
            messages_per_second: 1 << 40,
        },
        t0,
    );
    r.set_limits(
        id,
        RiskLimits {
            max_order_qty: Qty::from_lots(10_000),
            max_order_notional: i128::MAX,
            price_collar_bps: 500,
            max_reference_age_ns: 5_000_000_000,
            max_long: Qty::from_lots(1_000_000),
            max_short: Qty::from_lots(1_000_000),
            max_position_notional: i128::MAX,
            max_open_orders: 40,
            duplicate_window_ns: 1_000_000,
            max_fills_in_window: 200,
            fill_window_ns: 1_000_000_000,
        },
    );
    // A steady book of working orders on both sides (the check scans them for self-trade).
    let mut next = 1u64;
    for k in 0..6 {
        let side = if k % 2 == 0 { Side::Buy } else { Side::Sell };
        let px = if side == Side::Buy {
            16_890 - k
        } else {
            16_910 + k
        };
        r.set_reference(id, Price::from_ticks(16_900), t0);
        let _ = r.check_new(
            &OrderCheck {
                instrument: id,
                client_id: ClientOrderId(next),
                side,
                price: Price::from_ticks(px),
                qty: Qty::from_lots(100),
            },
            t0,
        );
        next += 1;
    }
    let mut h = hist();
    for i in 0..n {
        let now = UnixNanos(t0.0 + i * 1_000);
        r.set_reference(id, Price::from_ticks(16_900), now);
        let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
        let o = OrderCheck {
            instrument: id,
            client_id: ClientOrderId(next),
            side,
            price: Price::from_ticks(if side == Side::Buy { 16_895 } else { 16_905 }),
            qty: Qty::from_lots(100 + (i % 50) as i64),
        };
        let t = tsc::start();
        let ok = r.check_new(black_box(&o), now);
        let _ = h.record((tsc::end() - t).max(1));
        assert!(ok.is_ok(), "{ok:?}");
        r.on_done(id, ClientOrderId(next));
        next += 1;
    }
    h
}

fn quoter(n: u64) -> Histogram<u64> {
    let params = QuoteParams {
        enabled: 1,
        anchor: Anchor::Microprice as i64,
        fair_value_mt: 0,
        half_spread_mt: 1_500,
        skew_mt_per_lot: 2,
        levels: 3,
        level_spacing_ticks: 1,
        size_lots: 100,
        max_inventory_lots: 100_000,
        requote_ticks: 0,
        ttl_ns: 0,
        post_only: 1,
    };
    let mut q = Quoter::new();
    let mut next = 1u64;
    let mut h = hist();
    for i in 0..n {
        let mid = 16_900 + (i % 5) as i64;
        let top = Top {
            bid: Some((
                Price::from_ticks(mid - 1),
                Qty::from_lots(3_000 + (i % 7) as i64),
            )),
            ask: Some((Price::from_ticks(mid + 1), Qty::from_lots(2_000))),
        };
        let now = UnixNanos(1_700_000_000_000_000_000 + i * 1_000);
        let t = tsc::start();
        let actions = q.update(black_box(&params), &top, (i % 11) as i64, false, now);
        let _ = h.record((tsc::end() - t).max(1));
        for a in actions.as_slice() {
            match *a {
                QuoteAction::New { side, price, qty } => {
                    q.on_sent(ClientOrderId(next), side, price, qty, now);
                    next += 1;
                }
                QuoteAction::Replace {
                    id,
                    side,
                    price,
                    qty,
                } => {
                    q.on_replace_sent(id, ClientOrderId(next), side, price, qty, now);
                    q.on_done(id);
                    next += 1;
                }
                QuoteAction::Cancel { id } => q.on_done(id),
            }
        }
    }
    h
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args
        .iter()
        .position(|a| a == "--n")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let tpn = ticks_per_ns(200);
    let fl = floor(n);
    let r = risk(n);
    let q = quoter(n);
    let rows = [
        ("timer_floor_ns", "timer floor", row(&fl, &fl, tpn)),
        ("risk_check_new_ns", "risk check_new", row(&r, &fl, tpn)),
        ("quoter_update_ns", "quoter update", row(&q, &fl, tpn)),
    ];
    if args.iter().any(|a| a == "--json") {
        let mut out = json!({ "n": n, "tsc_ticks_per_ns": tpn });
        for (key, _, v) in &rows {
            out[*key] = v.clone();
        }
        println!("{out}");
        return;
    }
    println!(
        "{:<16} {:>6} {:>6} {:>6} {:>8} | net of floor: {:>5} {:>5} {:>6}",
        "ns per call", "p50", "p99", "p99.9", "max", "p50", "p99", "p99.9"
    );
    for (_, name, v) in &rows {
        println!(
            "{:<16} {:>6} {:>6} {:>6} {:>8} | {:>18} {:>5} {:>6}",
            name,
            v["p50"],
            v["p99"],
            v["p999"],
            v["max"],
            v["p50_net"],
            v["p99_net"],
            v["p999_net"]
        );
    }
}
