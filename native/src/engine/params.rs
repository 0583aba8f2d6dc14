//! The parameter block: Python (one writer) publishes a whole parameter set; the hot thread reads a
//! consistent copy without locks. A sequence lock over 64-bit atomic words.
//!
//! Readers never block the writer and never see a torn set: a read that overlaps a write retries.
//! Every byte of the value moves through `AtomicU64` words, so there is no data race even in the
//! overlapping case (the classic seqlock's `read_volatile` of plain memory is a race in Rust's model).
//!
//! # Hot path
//! [`ParamReader::read`] on the pinned thread: no allocation, no syscall; two acquire loads plus
//! one relaxed load per 8 bytes; retries only while a write is in flight (a few ns).
#![allow(unsafe_code)]

use std::mem::{size_of, MaybeUninit};
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_utils::CachePadded;

/// A plain value made only of 64-bit words.
///
/// # Safety
/// Implementors must be `#[repr(C)]`, have a size that is a multiple of 8 and no padding bytes, and
/// every bit pattern must be a valid value (integers, arrays of integers; no `bool`, no enums, no
/// references). The seqlock copies the value word by word through `u64`s.
pub unsafe trait Words: Copy + Send + 'static {}

// SAFETY: 8 bytes, no padding, every pattern valid.
unsafe impl Words for u64 {}
// SAFETY: 8 bytes, no padding, every pattern valid.
unsafe impl Words for i64 {}
// SAFETY: arrays of `Words` have no padding between elements and stay valid for every pattern.
unsafe impl<T: Words, const N: usize> Words for [T; N] {}

struct Block<T: Words> {
    /// Even: stable; odd: a write is in flight. Only the writer changes it.
    seq: CachePadded<AtomicU64>,
    /// `size_of::<T>() / 8` words holding the current value.
    words: Box<[AtomicU64]>,
    _t: std::marker::PhantomData<T>,
}

/// The single writer (Python's side). Not `Clone`.
pub struct ParamWriter<T: Words> {
    block: Arc<Block<T>>,
}

/// A reader (the hot thread's side). Cloneable: readers do not interfere with each other.
pub struct ParamReader<T: Words> {
    block: Arc<Block<T>>,
}

impl<T: Words> Clone for ParamReader<T> {
    fn clone(&self) -> Self {
        Self {
            block: Arc::clone(&self.block),
        }
    }
}

/// Creates a parameter block holding `initial`.
pub fn param_block<T: Words>(initial: T) -> (ParamWriter<T>, ParamReader<T>) {
    const {
        assert!(
            size_of::<T>() % 8 == 0,
            "Words types are whole 64-bit words"
        )
    };
    let n = size_of::<T>() / 8;
    let block = Arc::new(Block {
        seq: CachePadded::new(AtomicU64::new(0)),
        words: (0..n).map(|_| AtomicU64::new(0)).collect(),
        _t: std::marker::PhantomData,
    });
    store_words(&block.words, &initial);
    (
        ParamWriter {
            block: Arc::clone(&block),
        },
        ParamReader { block },
    )
}

fn store_words<T: Words>(words: &[AtomicU64], value: &T) {
    let src = (value as *const T).cast::<u64>();
    for (i, w) in words.iter().enumerate() {
        // SAFETY: `T: Words` has size `8 * words.len()`, no padding and alignment ≥ 1; an unaligned
        // read of word `i < words.len()` stays inside `*value`, and every byte is initialised.
        let word = unsafe { src.add(i).read_unaligned() };
        w.store(word, Ordering::Relaxed);
    }
}

impl<T: Words> ParamWriter<T> {
    /// Publishes a new parameter set; returns its version (even, increasing).
    pub fn write(&mut self, value: T) -> u64 {
        let b = &self.block;
        let s = b.seq.load(Ordering::Relaxed);
        b.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        // Orders the odd sequence before the word stores (pairs with the reader's acquire fence).
        fence(Ordering::Release);
        store_words(&b.words, &value);
        b.seq.store(s.wrapping_add(2), Ordering::Release);
        s.wrapping_add(2)
    }

    /// A reader of this block.
    pub fn reader(&self) -> ParamReader<T> {
        ParamReader {
            block: Arc::clone(&self.block),
        }
    }
}

impl<T: Words> ParamReader<T> {
    /// A consistent copy of the current parameters, with its version.
    #[inline]
    pub fn read(&self) -> (T, u64) {
        let b = &self.block;
        loop {
            let s1 = b.seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let mut out = MaybeUninit::<T>::uninit();
            let dst = out.as_mut_ptr().cast::<u64>();
            for (i, w) in b.words.iter().enumerate() {
                // SAFETY: `out` has room for `words.len()` u64s (size of `T`); unaligned writes are fine.
                unsafe { dst.add(i).write_unaligned(w.load(Ordering::Relaxed)) };
            }
            // Orders the word loads before the re-check (pairs with the writer's release fence).
            fence(Ordering::Acquire);
            if b.seq.load(Ordering::Relaxed) == s1 {
                // SAFETY: every word of `out` was written above, and `T: Words` is valid for any bits;
                // the unchanged even sequence means no write overlapped, so the words form one value.
                return (unsafe { out.assume_init() }, s1);
            }
        }
    }

    /// The current version without copying the value (cheap "did anything change?").
    #[inline]
    pub fn version(&self) -> u64 {
        self.block.seq.load(Ordering::Acquire) & !1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_what_was_written() {
        let (mut w, r) = param_block([1i64, 2, 3]);
        assert_eq!(r.read(), ([1, 2, 3], 0));
        assert_eq!(w.write([4, 5, 6]), 2);
        assert_eq!(r.read(), ([4, 5, 6], 2));
        assert_eq!(w.reader().version(), 2);
    }

    #[test]
    fn readers_never_see_a_torn_set() {
        const WRITES: u64 = 100_000;
        let (mut w, r) = param_block([0u64; 8]);
        let reader = std::thread::spawn(move || {
            let mut last = 0;
            let mut seen = 0u64;
            while last < WRITES {
                let (v, ver) = r.read();
                assert!(v.iter().all(|&x| x == v[0]), "torn read {v:?}");
                assert!(v[0] >= last, "went backwards");
                assert_eq!(ver, 2 * v[0], "version and value disagree");
                last = v[0];
                seen += 1;
            }
            seen
        });
        for k in 1..=WRITES {
            w.write([k; 8]);
        }
        assert!(reader.join().unwrap() > 0);
    }
}
