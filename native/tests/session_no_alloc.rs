//! The session's per-message path — decode a WS-API response or user-stream event, normalise it,
//! apply it to the session core, requote, encode and "send" — allocates nothing after warm-up.
//!
//! A counting global allocator wraps the system one; one test per binary so no other thread
//! allocates meanwhile.

mod common;

use std::io;

use _native::engine::events::event_ring;
use _native::engine::params::param_block;
use _native::engine::pipeline::{IdRange, PipelineInstrument};
use _native::engine::session::{Input, Normalizer, SessionCore, SessionSettings, Stamped};
use _native::feed::SequenceRule;
use _native::model::{decimal::write_u64, InstrumentId, Price, Qty, Scale, Side, UnixNanos};
use _native::net::transport::TxTransport;
use _native::quoter::{Anchor, QuoteParams, Top};
use _native::risk::{PreTradeRisk, RateLimits, RiskLimits};

#[global_allocator]
static GLOBAL: common::CountingAllocator = common::CountingAllocator;

/// Counts bytes, keeps nothing.
struct Null(u64);

impl TxTransport for Null {
    fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0 += data.len() as u64;
        Ok(data.len())
    }
}

/// Writes a frame into a fixed buffer by concatenating parts (no allocation).
fn build(buf: &mut [u8; 1024], parts: &[&[u8]]) -> usize {
    let mut n = 0;
    for p in parts {
        buf[n..n + p.len()].copy_from_slice(p);
        n += p.len();
    }
    n
}

#[test]
fn session_message_path_allocates_nothing_after_warm_up() {
    common::assert_counting();
    let mut symbol = [0u8; 20];
    symbol[..8].copy_from_slice(b"DOGEUSDT");
    let inst = PipelineInstrument {
        id: InstrumentId(0),
        symbol,
        symbol_len: 8,
        tick: Scale::parse("0.00001").unwrap(),
        lot: Scale::parse("1").unwrap(),
        rule: SequenceRule::Spot,
    };
    let mut prefix = [0u8; 8];
    prefix[..2].copy_from_slice(b"pm");
    let t0 = 1_700_000_000_000_000_000u64;
    let settings = SessionSettings {
        inst,
        limits: RiskLimits {
            max_order_qty: Qty::from_lots(10_000),
            max_order_notional: i128::MAX,
            price_collar_bps: 1_000,
            max_reference_age_ns: u64::MAX,
            max_long: Qty::from_lots(1 << 40),
            max_short: Qty::from_lots(1 << 40),
            max_position_notional: i128::MAX,
            max_open_orders: 60,
            duplicate_window_ns: 0,
            max_fills_in_window: 256,
            fill_window_ns: 1,
        },
        prefix,
        prefix_len: 2,
        order_timeout_ns: 1 << 62,
        venue_rate_guard_pct: 80,
    };
    let risk = PreTradeRisk::new(
        1,
        RateLimits {
            venue_orders_burst: 1 << 40,
            venue_orders_per_second: 1 << 30,
            messages_burst: 1 << 40,
            messages_per_second: 1 << 30,
        },
        UnixNanos(t0),
    );
    let params = QuoteParams {
        enabled: 1,
        anchor: Anchor::Mid as i64,
        fair_value_mt: 0,
        half_spread_mt: 1_000,
        skew_mt_per_lot: 0,
        levels: 3,
        level_spacing_ticks: 1,
        size_lots: 100,
        max_inventory_lots: 1 << 40,
        requote_ticks: 0,
        ttl_ns: 0,
        post_only: 1,
    };
    let (_w, r) = param_block(params);
    let (sink, mut events) = event_ring(1 << 16);
    let mut core = SessionCore::new(
        settings,
        risk,
        r,
        IdRange {
            next: 1,
            end: 1 << 40,
        },
        params,
        sink,
        7,
    );
    let mut norm = Normalizer::new(inst, b"pm", "DOGE", "USDT");
    let mut tx = Null(0);
    let mut pending: Vec<Stamped> = Vec::with_capacity(64);
    let at = |ns: u64| UnixNanos(t0 + ns);
    let s = |ns: u64, input| Stamped {
        ts_recv: at(ns),
        ts_event: at(ns),
        input,
    };
    core.apply(&s(0, Input::OrderConnected), &mut tx);
    core.apply(&s(1, Input::OpenOrdersEnd { ok: true }), &mut tx);

    let mut frame = [0u8; 1024];
    let mut ids: Vec<(u64, Side, bool)> = Vec::with_capacity(256);
    let mut run = |from: u64,
                   steps: u64,
                   core: &mut SessionCore,
                   tx: &mut Null,
                   norm: &mut Normalizer| {
        for k in from..from + steps {
            let ts = 1_000_000 * k;
            let mid = 16_900 + (k % 7) as i64;
            let top = Top {
                bid: Some((Price::from_ticks(mid - 1), Qty::from_lots(5_000))),
                ask: Some((Price::from_ticks(mid + 1), Qty::from_lots(5_000))),
            };
            core.apply(&s(ts, Input::Top { top, stale: false }), tx);
            // Every order the core tracks is acknowledged, and one is filled, through real frames.
            ids.clear();
            ids.extend(core.orders().map(|o| {
                (
                    o.id.0,
                    o.side,
                    o.state == _native::gateway::OrderState::PendingCancel,
                )
            }));
            let fill_at = (k as usize) % ids.len().max(1);
            for (j, &(id, side, cancelling)) in ids.iter().enumerate() {
                if cancelling {
                    let mut d = [0u8; 20];
                    let id_txt = write_u64(id, &mut d);
                    let n = build(
                        &mut frame,
                        &[
                            br#"{"subscriptionId":0,"event":{"e":"executionReport","E":1,"s":"DOGEUSDT","c":"x","C":"pm"#,
                            id_txt,
                            br#"","S":"BUY","q":"100","p":"0.169","x":"CANCELED","X":"CANCELED","i":5,"l":"0","z":"0","L":"0","n":"0","N":null,"T":1,"t":-1,"m":false}}"#,
                        ],
                    );
                    norm.frame(&frame[..n], at(ts + 1), &mut |x| pending.push(x));
                    continue;
                }
                let mut d = [0u8; 20];
                let id_txt = write_u64(id, &mut d);
                let n = build(
                    &mut frame,
                    &[
                        br#"{"id":""#,
                        id_txt,
                        br#"","status":200,"result":{"symbol":"DOGEUSDT","orderId":5,"clientOrderId":"pm"#,
                        id_txt,
                        br#"","status":"NEW","executedQty":"0","cummulativeQuoteQty":"0"},"rateLimits":[{"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":10,"limit":100000,"count":1}]}"#,
                    ],
                );
                norm.frame(&frame[..n], at(ts + 1), &mut |x| pending.push(x));
                if j == fill_at {
                    let n = build(
                        &mut frame,
                        &[
                            br#"{"subscriptionId":0,"event":{"e":"executionReport","E":1700000000123,"s":"DOGEUSDT","c":"pm"#,
                            id_txt,
                            br#"","S":""#,
                            if side == Side::Buy { b"BUY" } else { b"SELL" },
                            br#"","q":"100.00000000","p":"0.16901000","C":"","x":"TRADE","X":"PARTIALLY_FILLED","i":77,"l":"10.00000000","z":"10.00000000","L":"0.16901000","n":"0.00016901","N":"USDT","T":1,"t":9,"m":true,"Y":"1.69010000"}}"#,
                        ],
                    );
                    norm.frame(&frame[..n], at(ts + 2), &mut |x| pending.push(x));
                }
            }
            for p in pending.drain(..) {
                core.apply(&p, tx);
            }
            core.apply(&s(ts + 3, Input::Tick), tx);
        }
    };
    run(0, 300, &mut core, &mut tx, &mut norm);
    while events.pop().is_some() {}
    let before = common::allocations();
    run(300, 2_000, &mut core, &mut tx, &mut norm);
    let allocs = common::allocations() - before;
    let c = core.counters();
    let a = core.account();
    assert!(c.accepted > 1_000 && a.fills > 1_000, "{c:?} {a:?}");
    assert!(tx.0 > 0);
    assert_eq!(norm.stats().decode_errors, 0);
    assert_eq!(allocs, 0, "allocations over 2000 steps: {c:?}");
}
