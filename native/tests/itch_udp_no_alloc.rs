//! The ITCH session's receive path — `recvmmsg` with kernel timestamps, MoldUDP64, ITCH decode, L3
//! book, quoter, risk, OUCH encode — allocates nothing per datagram after warm-up. Datagrams go over
//! real multicast on `lo`. One test per binary: no other thread allocates meanwhile.

mod common;

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};

use _native::book::l3::L3Config;
use _native::engine::params::param_block;
use _native::engine::pipeline::{IdRange, ItchQuotingPipeline, NoStages, OuchEncoder, QuotingCore};
use _native::feed::itch::ItchHeader;
use _native::feed::itch_encode;
use _native::feed::moldudp64::PacketWriter;
use _native::model::{ClientOrderId, InstrumentId, Price, Qty, Scale, Side, UnixNanos};
use _native::net::transport::{RxTransport, TxTransport};
use _native::net::udp::{KernelUdpRx, UdpRxConfig, UdpTx};
use _native::quoter::{Anchor, QuoteParams};
use _native::risk::{PreTradeRisk, RateLimits, RiskLimits};

#[global_allocator]
static GLOBAL: common::CountingAllocator = common::CountingAllocator;

struct Null(u64);

impl TxTransport for Null {
    fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0 += 1;
        Ok(data.len())
    }
}

#[test]
fn udp_itch_pipeline_allocates_nothing_per_datagram() {
    common::assert_counting();
    let group = Ipv4Addr::new(239, 77, 13, 1);
    let mut rx = KernelUdpRx::open(&UdpRxConfig {
        group: Some(group),
        batch: 16,
        ..Default::default()
    })
    .unwrap();
    let mut udp = UdpTx::connect(
        SocketAddrV4::new(group, rx.local_port()),
        Ipv4Addr::LOCALHOST,
        0,
    )
    .unwrap();
    let id = InstrumentId(0);
    let mut risk = PreTradeRisk::new(
        1,
        RateLimits {
            venue_orders_burst: 1 << 40,
            venue_orders_per_second: 1 << 30,
            messages_burst: 1 << 40,
            messages_per_second: 1 << 30,
        },
        UnixNanos(0),
    );
    risk.set_limits(
        id,
        RiskLimits {
            max_order_qty: Qty::from_lots(1_000_000),
            max_order_notional: i128::MAX,
            price_collar_bps: 1_000,
            max_reference_age_ns: u64::MAX,
            max_long: Qty::from_lots(1 << 40),
            max_short: Qty::from_lots(1 << 40),
            max_position_notional: i128::MAX,
            max_open_orders: 32,
            duplicate_window_ns: 0,
            max_fills_in_window: 256,
            fill_window_ns: 1,
        },
    );
    let (_w, params) = param_block(QuoteParams {
        enabled: 1,
        anchor: Anchor::Mid as i64,
        fair_value_mt: 0,
        half_spread_mt: 1_000,
        skew_mt_per_lot: 0,
        levels: 2,
        level_spacing_ticks: 1,
        size_lots: 100,
        max_inventory_lots: 1 << 40,
        requote_ticks: 0,
        ttl_ns: 0,
        post_only: 1,
    });
    let enc = OuchEncoder::new(*b"AMZN    ", *b"PYMM", Scale::parse("0.0001").unwrap()).unwrap();
    let core = QuotingCore::new(
        id,
        risk,
        params,
        IdRange {
            next: 1,
            end: 99_999_999_999_999,
        },
        enc,
    );
    let mut p = ItchQuotingPipeline::new(core, 1, UnixNanos(0), L3Config::default());
    let mut sink = Null(0);
    let hdr = ItchHeader {
        locate: 1,
        tracking: 0,
        timestamp: 1,
    };
    let stk = itch_encode::stock("AMZN");
    let mut datagram = [0u8; 1400];
    let mut msg = [0u8; 64];
    let mut seq = 1u64;
    let (mut bid, mut ask) = (0u64, 0u64);
    let mut done = [ClientOrderId(0); 32];
    let mut step = |i: u64,
                    udp: &mut UdpTx,
                    rx: &mut KernelUdpRx,
                    p: &mut ItchQuotingPipeline,
                    sink: &mut Null| {
        let base = 10_000 + (i % 2) as i64;
        let mut w = PacketWriter::new(&mut datagram, b"PYMMTEST  ", seq).unwrap();
        if i > 0 {
            for r in [bid, ask] {
                let n = itch_encode::order_delete(&mut msg, hdr, r).unwrap();
                assert!(w.push(&msg[..n]));
            }
        }
        (bid, ask) = (2 * i + 1, 2 * i + 2);
        let n = itch_encode::add_order(
            &mut msg,
            hdr,
            bid,
            Side::Buy,
            500,
            stk,
            Price::from_ticks(base),
        )
        .unwrap();
        assert!(w.push(&msg[..n]));
        let n = itch_encode::add_order(
            &mut msg,
            hdr,
            ask,
            Side::Sell,
            500,
            stk,
            Price::from_ticks(base + 2),
        )
        .unwrap();
        assert!(w.push(&msg[..n]));
        seq += u64::from(w.count());
        let len = w.finish();
        udp.send(&datagram[..len]).unwrap();
        let mut got = 0;
        for _ in 0..10_000_000 {
            got += rx
                .poll(|d, ts| {
                    p.on_packet(d, ts.ts, 1, sink, &mut NoStages).unwrap();
                })
                .unwrap();
            if got > 0 {
                break;
            }
            std::hint::spin_loop();
        }
        assert_eq!(got, 1, "datagram {i} did not arrive");
        let mut k = 0;
        for side in [Side::Buy, Side::Sell] {
            for q in p.core().quoter().working(side).filter(|q| q.pending) {
                done[k] = q.id;
                k += 1;
            }
        }
        for id in &done[..k] {
            p.core().on_order_done(*id);
        }
    };
    for i in 0..200 {
        step(i, &mut udp, &mut rx, &mut p, &mut sink);
    }
    let before = common::allocations();
    for i in 200..5_200 {
        step(i, &mut udp, &mut rx, &mut p, &mut sink);
    }
    let allocs = common::allocations() - before;
    let stats = p.stats();
    assert!(!p.is_stale(), "{stats:?}");
    assert!(
        stats.orders_sent > 5_000,
        "the pipeline must quote: {stats:?}"
    );
    assert_eq!(allocs, 0, "allocations over 5,000 datagrams: {stats:?}");
    assert!(rx.stats().sw_stamped > 0);
}
