//! The time domain's hot-path calls allocate nothing after construction: `Clock::now`,
//! `Clock::now_mono`, `LatencyRecorder::record` and `VenueClockOffset::update`, run under a global
//! allocator that counts allocations made by the current thread.
#![allow(unsafe_code)] // the counting `GlobalAlloc` below; listed in docs/dev/unsafe.md

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use _native::model::UnixNanos;
use _native::time::{Clock, ClockConfig, LatencyConfig, LatencyTracker, VenueClockOffset};

struct CountingAlloc;

thread_local! {
    // Const-initialised and destructor-free, so touching it from the allocator cannot recurse.
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to `System` unchanged; the only addition is a thread-local counter
// bump, which neither allocates nor unwinds.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

const N: u64 = 100_000;

#[test]
fn counting_allocator_counts() {
    // The harness must be able to fail: an allocation is seen.
    let before = allocs();
    let v = std::hint::black_box(vec![1u8; 64]);
    assert!(allocs() > before);
    drop(v);
}

#[test]
fn hot_path_calls_do_not_allocate() {
    let clock = Clock::new(ClockConfig {
        initial_calibration_ns: 2_000_000,
        samples: 8,
        ..ClockConfig::default()
    })
    .unwrap();
    let mut tracker =
        LatencyTracker::new(LatencyConfig::default(), &["decode", "quote"], clock.now()).unwrap();
    let mut rec = tracker.take_recorder(0).unwrap();
    let mut offset = VenueClockOffset::new(1024, 0);

    let before = allocs();
    let mut sink = 0u64;
    for i in 0..N {
        let t0 = clock.ticks();
        let now = clock.now();
        let mono = clock.now_mono();
        sink = sink.wrapping_add(mono.as_u64());
        rec.record(clock.ticks().saturating_sub(t0));
        rec.record(i * 1_000_003); // spans many buckets, some clamped
        if let Some(e) = offset.update(UnixNanos(now.as_u64() - 1_000_000 - (i % 97) * 1000), now) {
            sink = sink.wrapping_add(e.offset_ns as u64);
        }
    }
    let after = allocs();
    std::hint::black_box(sink);
    assert_eq!(
        after - before,
        0,
        "{} allocations in {N} iterations",
        after - before
    );
    // The records landed (the loop was not optimised away).
    assert_eq!(tracker.snapshot(0).unwrap().len(), 2 * N);
}
