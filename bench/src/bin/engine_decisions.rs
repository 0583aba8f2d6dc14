//! Decision latency of the session's hot path, per call, next to an empty-timer floor measured in
//! the same run: pre-trade risk (`PreTradeRisk::check_new`) and the quoter (`Quoter::update`, the
//! diff from the book's top to new / cancel / replace actions).
//!
//! `cargo run --release -p pymm-bench --bin engine_decisions -- [--n N] [--json]`
//!
//! Each call is timed with an `Instant` pair into a bounded HDR histogram (no allocation while
//! recording). Risk: every order is a fresh client id on alternating sides, released right after
//! (the working table stays at its steady size). Quoter: the top moves one tick every call, three
//! levels a side, so every update re-prices (replace actions), and the actions are reported back as
//! sent and done.

use std::hint::black_box;
use std::time::Instant;

use _native::model::{ClientOrderId, InstrumentId, Price, Qty, Side, UnixNanos};
use _native::quoter::{Anchor, QuoteAction, QuoteParams, Quoter, Top};
use _native::risk::{OrderCheck, PreTradeRisk, RateLimits, RiskLimits};
use hdrhistogram::Histogram;
use serde_json::json;

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 10_000_000, 3).expect("bounds")
}

fn row(h: &Histogram<u64>) -> serde_json::Value {
    json!({
        "count": h.len(),
        "p50": h.value_at_quantile(0.5),
        "p99": h.value_at_quantile(0.99),
        "p999": h.value_at_quantile(0.999),
        "max": h.max(),
    })
}

fn floor(n: u64) -> Histogram<u64> {
    let mut h = hist();
    for _ in 0..n {
        let t = Instant::now();
        black_box(());
        let _ = h.record(t.elapsed().as_nanos() as u64);
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
        let t = Instant::now();
        let ok = r.check_new(black_box(&o), now);
        let _ = h.record(t.elapsed().as_nanos() as u64);
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
        let t = Instant::now();
        let actions = q.update(black_box(&params), &top, (i % 11) as i64, false, now);
        let _ = h.record(t.elapsed().as_nanos() as u64);
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
    let fl = floor(n);
    let r = risk(n);
    let q = quoter(n);
    let out = json!({
        "n": n,
        "timer_floor_ns": row(&fl),
        "risk_check_new_ns": row(&r),
        "quoter_update_ns": row(&q),
    });
    if args.iter().any(|a| a == "--json") {
        println!("{out}");
        return;
    }
    println!(
        "{:<22} {:>8} {:>8} {:>8} {:>10}",
        "ns per call", "p50", "p99", "p99.9", "max"
    );
    for (name, h) in [
        ("timer floor", &fl),
        ("risk check_new", &r),
        ("quoter update", &q),
    ] {
        println!(
            "{:<22} {:>8} {:>8} {:>8} {:>10}",
            name,
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max()
        );
    }
}
