//! Serialising TSC reads for timing one short call: `start()` … `end()` brackets exactly the code
//! between them (no earlier instruction finishes after `start`, no later one starts before `end`).
//! Convert ticks with [`crate::book_l2::ticks_per_ns`]; report next to an empty pair's floor.

/// TSC read that later instructions cannot start before and earlier ones cannot finish after
/// (`lfence; rdtsc; lfence`): the start of a timed region.
#[inline(always)]
pub fn start() -> u64 {
    #[cfg(target_arch = "x86_64")]
    #[allow(unused_unsafe)]
    // SAFETY: LFENCE and RDTSC have no memory effects and exist on every x86_64 CPU.
    unsafe {
        use core::arch::x86_64::{_mm_lfence, _rdtsc};
        _mm_lfence();
        let t = _rdtsc();
        _mm_lfence();
        t
    }
    #[cfg(not(target_arch = "x86_64"))]
    crate::book_l2::ticks()
}

/// TSC read after everything before it retired (`rdtscp; lfence`): the end of a timed region.
#[inline(always)]
pub fn end() -> u64 {
    #[cfg(target_arch = "x86_64")]
    #[allow(unused_unsafe)]
    // SAFETY: RDTSCP writes only `aux` (a local) and LFENCE has no memory effects; both exist on
    // every x86_64 CPU this project targets (RDTSCP since 2006).
    unsafe {
        use core::arch::x86_64::{__rdtscp, _mm_lfence};
        let mut aux = 0u32;
        let t = __rdtscp(&mut aux);
        _mm_lfence();
        t
    }
    #[cfg(not(target_arch = "x86_64"))]
    crate::book_l2::ticks()
}
