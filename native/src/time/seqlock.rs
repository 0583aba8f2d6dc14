//! A sequence lock over a few `u64` words: one rare writer, many readers that never block or write.
//!
//! Owns the published clock parameters. Readers (every thread that converts a timestamp, the hot loop
//! first of all) retry while a write is in progress; the writer (the re-calibration thread, a few
//! times a second at most) never waits for readers. It must never hold anything a reader needs to make
//! progress other than the words themselves, and it never allocates.
//!
//! The words are `AtomicU64`s loaded and stored `Relaxed`, so a torn read is impossible at the word
//! level and the code needs no `unsafe`; the sequence counter turns the word reads into one consistent
//! snapshot. The orderings follow H.-J. Boehm, "Can Seqlocks Get Along With Programming Language
//! Memory Models?" (MSPC 2012), the fence variant, also used by `crossbeam-utils`' `SeqLock`:
//!
//! - writer: `seq` odd (CAS, `Acquire`, which also makes writers mutually exclusive), `fence(Release)`,
//!   data stores (`Relaxed`), `seq` even (`store`, `Release`);
//! - reader: `s1 = seq.load(Acquire)`, retry if odd, data loads (`Relaxed`), `fence(Acquire)`,
//!   `s2 = seq.load(Relaxed)`, retry if `s1 != s2`.
//!
//! If a reader's data loads saw any store of a write, its acquire fence synchronises with that write's
//! release fence, so its `s2` load sees the odd value (or later) and it retries; if `s1` saw the end of
//! a write (`Release` store), every data store of that write is visible. On x86_64 both fences compile
//! to nothing and a read is two loads of `seq` plus the data loads.

#[cfg(loom)]
use loom::sync::atomic::{fence, AtomicU64, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{fence, AtomicU64, Ordering};

/// Back off while the other side is mid-write (under loom: let the model schedule another thread).
#[inline(always)]
fn backoff() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}

/// `N` words published together. Align to the x86_64 prefetch pair (128 bytes) so the block shares
/// its lines with nothing else (see `crossbeam_utils::CachePadded`).
#[derive(Debug)]
#[repr(align(128))]
pub struct SeqLock<const N: usize> {
    /// Even: stable; odd: a write is in progress. Only ever increases.
    seq: AtomicU64,
    words: [AtomicU64; N],
}

impl<const N: usize> SeqLock<N> {
    /// A lock holding `init`.
    #[must_use]
    pub fn new(init: [u64; N]) -> Self {
        Self {
            seq: AtomicU64::new(0),
            words: init.map(AtomicU64::new),
        }
    }

    /// Reads a consistent snapshot of all words.
    ///
    /// # Hot path
    /// Any thread. No lock, no write to shared memory, no allocation; spins only while a write is in
    /// progress (a handful of stores).
    #[inline]
    #[must_use]
    pub fn read(&self) -> [u64; N] {
        loop {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                backoff();
                continue;
            }
            let out: [u64; N] = std::array::from_fn(|i| self.words[i].load(Ordering::Relaxed));
            fence(Ordering::Acquire);
            let s2 = self.seq.load(Ordering::Relaxed);
            if s1 == s2 {
                return out;
            }
            backoff();
        }
    }

    /// Publishes `value`. Concurrent writers are serialised (a writer spins while another writes).
    /// Never blocks readers for longer than the `N` stores.
    pub fn write(&self, value: [u64; N]) {
        let mut s = self.seq.load(Ordering::Relaxed);
        loop {
            if s & 1 == 0 {
                match self
                    .seq
                    .compare_exchange_weak(s, s + 1, Ordering::Acquire, Ordering::Relaxed)
                {
                    Ok(_) => break,
                    Err(cur) => s = cur,
                }
            } else {
                backoff();
                s = self.seq.load(Ordering::Relaxed);
            }
        }
        // Orders the odd `seq` above before the data stores below for any reader that sees one of
        // them (pairs with the reader's acquire fence).
        fence(Ordering::Release);
        for (w, v) in self.words.iter().zip(value) {
            w.store(v, Ordering::Relaxed);
        }
        // Makes the data stores visible to any reader whose first `seq` load sees `s + 2`.
        self.seq.store(s + 2, Ordering::Release);
    }

    /// How many writes were published (for tests and diagnostics).
    #[must_use]
    pub fn version(&self) -> u64 {
        self.seq.load(Ordering::Acquire) / 2
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[test]
    fn read_returns_last_write() {
        let l = SeqLock::new([1, 2, 3]);
        assert_eq!(l.read(), [1, 2, 3]);
        l.write([4, 5, 6]);
        assert_eq!(l.read(), [4, 5, 6]);
        assert_eq!(l.version(), 1);
    }

    /// Readers must never see a mix of two writes. Every write stores `[k, k, k, k, !k, k]`; a torn
    /// snapshot breaks the pattern. A stress test on real threads; the orderings themselves are
    /// model-checked in `loom_tests` below.
    #[test]
    fn concurrent_readers_never_see_a_torn_snapshot() {
        let lock = Arc::new(SeqLock::new([0, 0, 0, 0, !0, 0]));
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..2u64)
            .map(|w| {
                let lock = Arc::clone(&lock);
                std::thread::spawn(move || {
                    for k in 0..20_000u64 {
                        let v = k * 2 + w;
                        lock.write([v, v, v, v, !v, v]);
                    }
                })
            })
            .collect();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let lock = Arc::clone(&lock);
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) || n < 1000 {
                        let s = lock.read();
                        assert!(
                            s[..4].iter().all(|&x| x == s[0]) && s[4] == !s[0] && s[5] == s[0],
                            "torn read {s:?}"
                        );
                        n += 1;
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.join().unwrap();
        }
        assert_eq!(lock.version(), 40_000);
    }
}

/// Model-checked with loom: `RUSTFLAGS="--cfg loom" cargo test -p pymm-native --lib --release
/// time::seqlock::loom_tests` (see docs/dev/loom.md). Every interleaving (up to loom's preemption
/// bound) of a writer publishing two values against a reader, and of two writers, is explored.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    #[test]
    fn a_reader_sees_only_whole_writes() {
        loom::model(|| {
            let lock = Arc::new(SeqLock::new([0, 0, 0]));
            let w = {
                let lock = Arc::clone(&lock);
                loom::thread::spawn(move || {
                    lock.write([1, 1, 1]);
                    lock.write([2, 2, 2]);
                })
            };
            let s = lock.read();
            assert!(s[0] == s[1] && s[1] == s[2], "torn read {s:?}");
            w.join().unwrap();
            assert_eq!(lock.read(), [2, 2, 2]);
        });
    }

    #[test]
    fn two_writers_are_serialised() {
        loom::model(|| {
            let lock = Arc::new(SeqLock::new([0, 0]));
            let hs: Vec<_> = [1u64, 2]
                .into_iter()
                .map(|v| {
                    let lock = Arc::clone(&lock);
                    loom::thread::spawn(move || lock.write([v, v]))
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            let s = lock.read();
            assert!(s[0] == s[1] && s[0] != 0, "{s:?}");
            assert_eq!(lock.version(), 2);
        });
    }
}
