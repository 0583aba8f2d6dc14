//! The whole quoting pipeline — decode, sync, book, quoter, risk, encode, WebSocket frame — makes no
//! allocation per message after warm-up, on the recorded Binance spot BTCUSDT capture.
//!
//! A counting global allocator wraps the system one; one test per binary so no other thread
//! allocates meanwhile.

mod common;

use std::io::{self, Read};

use _native::engine::params::param_block;
use _native::engine::pipeline::{
    BinanceQuotingPipeline, IdRange, MaskGen, NoStages, PipelineInstrument,
};
use _native::feed::SequenceRule;
use _native::model::{ClientOrderId, InstrumentId, Qty, Scale, Side, UnixNanos};
use _native::net::transport::TxTransport;
use _native::quoter::{Anchor, QuoteParams};
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

#[test]
fn quoting_pipeline_allocates_nothing_after_warm_up() {
    common::assert_counting();
    let Some(dir) = common::data_dir() else {
        return;
    };
    let raw =
        std::fs::read(dir.join("binance_hftbacktest_btc_2024-08-08/spot_btcusdt_20240808.gz"))
            .unwrap();
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(&raw[..])
        .read_to_end(&mut text)
        .unwrap();
    // (receive time, payload) per line; the combined-stream envelope stays on, as received.
    let lines: Vec<(u64, &[u8])> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let sp = l.iter().position(|&c| c == b' ').unwrap();
            (
                std::str::from_utf8(&l[..sp]).unwrap().parse().unwrap(),
                &l[sp + 1..],
            )
        })
        .collect();
    let t0 = UnixNanos(lines[0].0);
    let id = InstrumentId(0);
    let mut risk = PreTradeRisk::new(
        1,
        RateLimits {
            venue_orders_burst: 1 << 40,
            venue_orders_per_second: 1 << 30,
            messages_burst: 1 << 40,
            messages_per_second: 1 << 30,
        },
        t0,
    );
    risk.set_limits(
        id,
        RiskLimits {
            max_order_qty: Qty::from_lots(100_000_000),
            max_order_notional: i128::MAX,
            price_collar_bps: 10_000,
            max_reference_age_ns: u64::MAX,
            max_long: Qty::from_lots(i64::MAX / 4),
            max_short: Qty::from_lots(i64::MAX / 4),
            max_position_notional: i128::MAX,
            max_open_orders: 64,
            duplicate_window_ns: 0,
            max_fills_in_window: 256,
            fill_window_ns: 1,
        },
    );
    let (_writer, reader) = param_block(QuoteParams {
        enabled: 1,
        anchor: Anchor::Microprice as i64,
        fair_value_mt: 0,
        half_spread_mt: 3_000,
        skew_mt_per_lot: 0,
        levels: 3,
        level_spacing_ticks: 2,
        size_lots: 100_000,
        max_inventory_lots: 1 << 40,
        requote_ticks: 0,
        ttl_ns: 0,
        post_only: 1,
    });
    let mut symbol = [0u8; 20];
    symbol[..7].copy_from_slice(b"BTCUSDT");
    let mut p = BinanceQuotingPipeline::new(
        PipelineInstrument {
            id,
            symbol,
            symbol_len: 7,
            tick: Scale::parse("0.01").unwrap(),
            lot: Scale::parse("0.00000001").unwrap(),
            rule: SequenceRule::Spot,
        },
        risk,
        reader,
        IdRange {
            next: 1,
            end: u64::MAX,
        },
        b"pymm-",
        MaskGen::new(42),
    );
    let mut sink = Null(0);
    let warm_up = 2_000;
    let feed = |msgs: &[(u64, &[u8])], p: &mut BinanceQuotingPipeline, sink: &mut Null| {
        let mut sent = 0;
        for &(ts, payload) in msgs {
            sent += p
                .on_market_data(payload, UnixNanos(ts), ts / 1_000_000, sink, &mut NoStages)
                .unwrap();
            // The venue confirms every cancel and replace at once (a fixed array: no allocation).
            let mut done = [ClientOrderId(0); 64];
            let mut n = 0;
            for side in [Side::Buy, Side::Sell] {
                for q in p.quoter().working(side).filter(|q| q.pending) {
                    done[n] = q.id;
                    n += 1;
                }
            }
            for id in &done[..n] {
                p.on_order_done(*id);
            }
        }
        sent
    };
    feed(&lines[..warm_up], &mut p, &mut sink);
    let before = common::allocations();
    let sent = feed(&lines[warm_up..], &mut p, &mut sink);
    let allocs = common::allocations() - before;
    let stats = p.stats();
    assert!(sent > 1_000, "the pipeline must actually quote: {stats:?}");
    assert_eq!(stats.encode_errors, 0);
    // Risk counts an order with a cancel-replace in flight as live, so a bid that would cross our
    // own ask being replaced waits for the venue's confirmation: self-trade is the only denial.
    let self_trade = _native::risk::DenyReason::SelfTrade as usize;
    assert_eq!(stats.denied, stats.denied_by[self_trade], "{stats:?}");
    assert!(stats.denied < stats.orders_sent, "{stats:?}");
    assert_eq!(stats.quote_table_full, 0, "{stats:?}");
    assert_eq!(
        allocs,
        0,
        "allocations over {} messages, {sent} frames sent: {stats:?}",
        lines.len() - warm_up
    );
}
