//! Shared helpers of the data-driven integration tests.

use std::path::PathBuf;

/// `$PYMM_DATA_DIR` (default `../../shared/data` from the crate): `None` with a printed reason when
/// absent, a panic under `CI=true`.
#[allow(dead_code)] // each test binary uses its own subset of this module
pub fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("PYMM_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    if dir.join("README.md").is_file() {
        return Some(dir);
    }
    let msg = format!(
        "recorded data not found at {} (set PYMM_DATA_DIR)",
        dir.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}");
    }
    eprintln!("skipped: {msg}");
    None
}

/// A global allocator that counts, per thread, the allocations (and reallocations) the calling
/// thread makes; the allocation proofs declare it as their `#[global_allocator]` and compare
/// [`allocations`] before and after the measured loop. Threads other than the measured one (a
/// journal writer, a test harness) do not disturb the count.
#[allow(dead_code)] // each test binary uses its own subset of this module
pub struct CountingAllocator;

thread_local! {
    /// Const-initialised, so reading it never allocates (the allocator calls it).
    static ALLOCS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

#[allow(dead_code)]
fn count_one() {
    // `try_with`: the thread-local may already be gone while a thread is torn down.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

/// Allocations the calling thread has made so far.
#[allow(dead_code)]
pub fn allocations() -> u64 {
    ALLOCS.try_with(std::cell::Cell::get).unwrap_or(0)
}

// SAFETY: every call is forwarded to `System` with the caller's arguments, so `System`'s guarantees
// hold; the counting touches only a const-initialised thread-local `Cell`, which never allocates.
#[allow(unsafe_code)]
unsafe impl std::alloc::GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        count_one();
        // SAFETY: same layout contract as our caller's.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}

/// Fails unless the counting allocator is installed and counts on this thread (so a zero in an
/// allocation proof means "no allocation", not "not counted").
#[allow(dead_code)]
pub fn assert_counting() {
    let before = allocations();
    let boxed = std::hint::black_box(Box::new([0u8; 64]));
    drop(boxed);
    assert!(
        allocations() > before,
        "the counting allocator is not installed"
    );
}
