//! The feed hot path — MoldUDP64 framing, A/B arbitration, ITCH 5.0 decoding, L3 book apply — does not
//! allocate after warm-up. A counting global allocator wraps the system one for this test binary.
#![allow(unsafe_code)] // the GlobalAlloc impl below; listed in docs/dev/unsafe.md

mod common;

use _native::book::{L3Book, L3Config};
use _native::feed::arbiter::{Arbiter, ArbiterConfig, Line};
use _native::feed::itch::{self, ItchHeader};
use _native::feed::itch_encode as enc;
use _native::feed::moldudp64::PacketWriter;
use _native::model::{InstrumentId, Price, Side, UnixNanos};

#[global_allocator]
static GLOBAL: common::CountingAllocator = common::CountingAllocator;

/// A deterministic stream of ITCH packets: adds around a mid, then cancels, executions, deletes and
/// replaces of resting orders (xorshift, fixed seed). Built before counting starts.
fn packets(n_orders: u64) -> Vec<Vec<u8>> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let stock = enc::stock("TEST");
    let mut out = Vec::new();
    let mut live: Vec<(u64, Side, u32)> = Vec::new();
    let mut seq = 1u64;
    let mut next_ref = 1u64;
    let mut m = [0u8; 64];
    for i in 0..n_orders {
        let mut buf = vec![0u8; 1400];
        let mut w = PacketWriter::new(&mut buf, b"NOALLOC001", seq).unwrap();
        let h = ItchHeader {
            locate: 1,
            tracking: 0,
            timestamp: i,
        };
        for _ in 0..4 {
            let r = rnd();
            let len = if live.len() < 50 || r % 3 == 0 {
                let side = if r & 8 == 0 { Side::Buy } else { Side::Sell };
                let off = (r >> 8) % 40;
                let px = match side {
                    Side::Buy => 10_000 - 1 - off as i64,
                    Side::Sell => 10_000 + 1 + off as i64,
                };
                let q = 1 + (r >> 20) as u32 % 500;
                live.push((next_ref, side, q));
                next_ref += 1;
                enc::add_order(
                    &mut m,
                    h,
                    next_ref - 1,
                    side,
                    q,
                    stock,
                    Price::from_ticks(px),
                )
            } else {
                let k = (r >> 4) as usize % live.len();
                let (id, side, q) = live[k];
                match r % 4 {
                    1 if q > 1 => {
                        live[k].2 -= 1;
                        enc::order_cancel(&mut m, h, id, 1)
                    }
                    2 => {
                        live.swap_remove(k);
                        enc::order_executed(&mut m, h, id, q, i)
                    }
                    3 => {
                        live.swap_remove(k);
                        let px = match side {
                            Side::Buy => 9_990,
                            Side::Sell => 10_010,
                        };
                        live.push((next_ref, side, q));
                        next_ref += 1;
                        enc::order_replace(&mut m, h, id, next_ref - 1, q, Price::from_ticks(px))
                    }
                    _ => {
                        live.swap_remove(k);
                        enc::order_delete(&mut m, h, id)
                    }
                }
            }
            .unwrap();
            assert!(w.push(&m[..len]));
        }
        seq += u64::from(w.count());
        let n = w.finish();
        buf.truncate(n);
        out.push(buf);
    }
    out
}

#[test]
fn feed_path_does_not_allocate_after_warm_up() {
    common::assert_counting();
    let pkts = packets(20_000);
    let mut book = L3Book::new(
        InstrumentId(1),
        L3Config {
            max_orders: 1 << 16,
            max_levels: 1 << 12,
            ladder_len: 1 << 12,
        },
    );
    let mut arb = Arbiter::new(1, ArbiterConfig::default());
    let mut applied = 0u64;
    let mut errors = 0u64;
    let mut run = |pkts: &[Vec<u8>], book: &mut L3Book, arb: &mut Arbiter| {
        for p in pkts {
            // Both lines carry every packet; B's copies are duplicates.
            for line in [Line::A, Line::B] {
                let _ = arb.on_packet(line, p, &mut |seq, msg| {
                    if let Ok(m) = itch::decode(msg) {
                        if let Some(ev) = m.order_event(UnixNanos(0), seq, UnixNanos(0)) {
                            match book.apply(&ev) {
                                Ok(_) => applied += 1,
                                Err(_) => errors += 1,
                            }
                        }
                    }
                });
            }
        }
    };
    let (warm, rest) = pkts.split_at(1_000);
    run(warm, &mut book, &mut arb);
    let before = common::allocations();
    run(rest, &mut book, &mut arb);
    let after = common::allocations();
    assert_eq!(errors, 0);
    assert_eq!(applied, 80_000);
    assert_eq!(arb.stats().duplicates, 80_000);
    assert_eq!(after - before, 0, "allocations on the hot path");
}
