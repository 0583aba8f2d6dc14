//! The producer side of the journal never allocates: after the journal is open, appending records
//! (including the ring-full path) performs zero heap allocations on the appending thread.
//!
//! A counting `#[global_allocator]` counts only while a thread-local switch is on, so the writer
//! thread's own (buffer) allocations do not mask or pollute the measurement.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use _native::journal::{self, AppendError, FsyncPolicy, JournalConfig, JournalRecord, RecordKind};
use _native::model::{
    BookDelta, InstrumentId, OrderAction, OrderEvent, OrderRef, Price, Qty, Side, Trade, UnixNanos,
};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call forwards to `System` with the caller's arguments unchanged, so `System`'s
// guarantees hold; the counting touches only an atomic and a const-initialised thread-local `Cell`,
// neither of which allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` via `alloc`/`realloc` above with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: forwarded unchanged; `ptr`/`layout` came from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn inputs(i: u64) -> [JournalRecord; 4] {
    let ts = UnixNanos(i);
    [
        JournalRecord::book_delta(&BookDelta {
            instrument: InstrumentId(1),
            side: Side::Buy,
            price: Price::from_ticks(i as i64),
            qty: Qty::from_lots(3),
            sequence: i,
            ts_event: ts,
            ts_recv: ts,
        }),
        JournalRecord::order_event(&OrderEvent {
            instrument: InstrumentId(1),
            action: OrderAction::Replace {
                new_ref: OrderRef(i + 1),
            },
            order: OrderRef(i),
            side: Side::Sell,
            price: Price::from_ticks(5),
            qty: Qty::from_lots(1),
            sequence: i,
            ts_event: ts,
            ts_recv: ts,
        }),
        JournalRecord::trade(&Trade {
            instrument: InstrumentId(1),
            price: Price::from_ticks(5),
            qty: Qty::from_lots(1),
            aggressor: Some(Side::Buy),
            trade_id: i,
            ts_event: ts,
            ts_recv: ts,
        }),
        JournalRecord::new(RecordKind::TimerTick, ts, ts, &i.to_le_bytes()).unwrap(),
    ]
}

#[test]
fn appending_does_not_allocate() {
    let dir = std::env::temp_dir().join(format!("pymm-journal-noalloc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = JournalConfig {
        fsync: FsyncPolicy::Never,
        segment_bytes: 1 << 20,
        ring_capacity: 256,
        batch_bytes: 16 << 10,
        idle_sleep: Duration::from_micros(20),
        core: None,
    };
    let j = journal::open(&dir, cfg).unwrap();
    let mut h = j.handle;
    let (mut ok, mut full) = (0u64, 0u64);
    let mut run = |h: &mut journal::JournalHandle, from: u64, to: u64| {
        for i in from..to {
            for rec in inputs(i) {
                loop {
                    match h.append(rec) {
                        Ok(_) => {
                            ok += 1;
                            break;
                        }
                        Err(AppendError::Full) => {
                            full += 1;
                            std::hint::spin_loop();
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        }
    };
    run(&mut h, 0, 1_000); // warm-up
    COUNTING.with(|c| c.set(true));
    run(&mut h, 1_000, 51_000);
    COUNTING.with(|c| c.set(false));
    let allocs = ALLOCS.load(Ordering::Relaxed);
    drop(h);
    let stats = j.writer.close().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(allocs, 0, "the producer allocated {allocs} times");
    assert_eq!(stats.written, ok);
    assert_eq!(stats.dropped_full, full);
    eprintln!("appended {ok} records, {full} ring-full refusals, 0 allocations");
}
