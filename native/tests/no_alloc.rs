//! Decode + sync + book apply of recorded Binance messages allocates nothing after warm-up.
//!
//! A counting global allocator wraps the system one; the test warms the book up on the start of the
//! USD-M capture (snapshot, buffer replay, first diffs), then counts allocations over the rest of the
//! file: every depthUpdate applied, every bookTicker and trade decoded and converted onto the grid.
//! One test per binary, so no other thread allocates meanwhile.

use _native::book::L2Book;
use _native::feed::binance::{self, Message};
use _native::feed::{BookSync, SequenceRule, SyncEvent};
use _native::model::{InstrumentId, Scale, UnixNanos};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: defers every call to `System`, only counting; the layout contract is passed through.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same layout contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("PYMM_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data"))
        });
    if dir.join("README.md").is_file() {
        return Some(dir);
    }
    let msg = format!(
        "recorded data not found at {} (set PYMM_DATA_DIR)",
        dir.display()
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
    eprintln!("skipped: {msg}");
    None
}

#[test]
fn decode_and_apply_allocate_nothing_after_warm_up() {
    let Some(dir) = data_dir() else { return };
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
    let before = ALLOCS.load(Ordering::Relaxed);
    let (applied, others) = run(&lines[warm_up..], &mut sync);
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    assert!(applied > 5_000 && others > 80_000, "{applied} {others}");
    assert_eq!(
        allocs, 0,
        "{allocs} allocations over {applied} diffs and {others} other messages"
    );
    assert!(!sync.is_stale());
}
