//! Decode + sync + book apply of recorded Binance messages allocates nothing after warm-up.
//!
//! A counting global allocator wraps the system one; the test warms the book up on the start of the
//! USD-M capture (snapshot, buffer replay, first diffs), then counts allocations over the rest of the
//! file: every depthUpdate applied, every bookTicker and trade decoded and converted onto the grid.
//! One test per binary, so no other thread allocates meanwhile.

mod common;

use _native::book::L2Book;
use _native::feed::binance::{self, Message};
use _native::feed::{BookSync, SequenceRule, SyncEvent};
use _native::model::{InstrumentId, Scale, UnixNanos};
use std::io::Read;

#[global_allocator]
static GLOBAL: common::CountingAllocator = common::CountingAllocator;

#[test]
fn decode_and_apply_allocate_nothing_after_warm_up() {
    common::assert_counting();
    let Some(dir) = common::data_dir() else {
        return;
    };
    let raw =
        std::fs::read(dir.join("binance_hftbacktest_btc_2024-08-08/usdm_btcusdt_20240808.gz"))
            .unwrap();
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(&raw[..])
        .read_to_end(&mut text)
        .unwrap();
    let lines: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| &l[l.iter().position(|&c| c == b' ').unwrap() + 1..])
        .collect();
    let (ps, qs) = (Scale::parse("0.1").unwrap(), Scale::parse("0.001").unwrap());
    let mut sync = BookSync::new(SequenceRule::Futures, ps, qs, L2Book::default());
    let warm_up = 5_000;
    let run = |msgs: &[&[u8]], sync: &mut BookSync| {
        let mut applied = 0u64;
        let mut others = 0u64;
        for &m in msgs {
            match binance::decode(m).unwrap().message {
                Message::DepthUpdate(d) => {
                    let ev = sync.on_depth_update(m, &d);
                    assert!(
                        matches!(
                            ev,
                            SyncEvent::Applied | SyncEvent::Buffered | SyncEvent::DroppedStale
                        ),
                        "{ev:?}"
                    );
                    applied += u64::from(ev == SyncEvent::Applied);
                }
                Message::DepthSnapshot(s) => {
                    assert_eq!(sync.on_snapshot(&s), SyncEvent::SnapshotLoaded)
                }
                Message::BookTicker(bt) => {
                    let touch = bt.to_touch(ps, qs).unwrap();
                    others += u64::from(touch.0 .0.ticks() > 0);
                }
                Message::Trade(t) => {
                    let tr = t.to_trade(InstrumentId(1), ps, qs, UnixNanos(0)).unwrap();
                    others += u64::from(tr.qty.lots() > 0);
                }
                _ => {}
            }
        }
        (applied, others)
    };
    run(&lines[..warm_up], &mut sync);
    assert!(!sync.is_stale());
    let before = common::allocations();
    let (applied, others) = run(&lines[warm_up..], &mut sync);
    let allocs = common::allocations() - before;
    assert!(applied > 5_000 && others > 80_000, "{applied} {others}");
    assert_eq!(
        allocs, 0,
        "{allocs} allocations over {applied} diffs and {others} other messages"
    );
    assert!(!sync.is_stale());
}
