//! The parameter block: Python (one writer) publishes a whole parameter set; the hot thread reads a
//! consistent copy without locks.
//!
//! Built on the clock's [`SeqLock`] (`time/seqlock.rs`: atomic words only, no `unsafe`, checked
//! with loom): a parameter type converts itself to and from `N` `u64` words ([`Words`]), so there is
//! one sequence lock in the crate and no raw memory copy.
//!
//! # Hot path
//! [`ParamReader::read`] on the pinned thread: no allocation, no syscall, no write to shared
//! memory; two loads of the sequence plus one relaxed load per word; retries only while a write is
//! in flight.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::time::seqlock::SeqLock;

/// A plain value that round-trips through `N` 64-bit words.
pub trait Words<const N: usize>: Copy + Send + 'static {
    /// The value as words.
    fn to_words(&self) -> [u64; N];
    /// The value back from words written by [`Words::to_words`].
    fn from_words(words: [u64; N]) -> Self;
}

impl<const N: usize> Words<N> for [u64; N] {
    fn to_words(&self) -> [u64; N] {
        *self
    }
    fn from_words(words: [u64; N]) -> Self {
        words
    }
}

impl<const N: usize> Words<N> for [i64; N] {
    fn to_words(&self) -> [u64; N] {
        self.map(|v| v as u64)
    }
    fn from_words(words: [u64; N]) -> Self {
        words.map(|w| w as i64)
    }
}

/// The single writer (Python's side). Not `Clone`.
pub struct ParamWriter<T: Words<N>, const N: usize> {
    lock: Arc<SeqLock<N>>,
    _t: PhantomData<T>,
}

/// A reader (the hot thread's side). Cloneable: readers do not interfere with each other.
pub struct ParamReader<T: Words<N>, const N: usize> {
    lock: Arc<SeqLock<N>>,
    _t: PhantomData<T>,
}

impl<T: Words<N>, const N: usize> Clone for ParamReader<T, N> {
    fn clone(&self) -> Self {
        Self {
            lock: Arc::clone(&self.lock),
            _t: PhantomData,
        }
    }
}

/// Creates a parameter block holding `initial`.
pub fn param_block<T: Words<N>, const N: usize>(
    initial: T,
) -> (ParamWriter<T, N>, ParamReader<T, N>) {
    let lock = Arc::new(SeqLock::new(initial.to_words()));
    (
        ParamWriter {
            lock: Arc::clone(&lock),
            _t: PhantomData,
        },
        ParamReader {
            lock,
            _t: PhantomData,
        },
    )
}

impl<T: Words<N>, const N: usize> ParamWriter<T, N> {
    /// Publishes a new parameter set; returns how many sets have been published.
    pub fn write(&mut self, value: T) -> u64 {
        self.lock.write(value.to_words());
        self.lock.version()
    }

    /// A reader of this block.
    pub fn reader(&self) -> ParamReader<T, N> {
        ParamReader {
            lock: Arc::clone(&self.lock),
            _t: PhantomData,
        }
    }
}

impl<T: Words<N>, const N: usize> ParamReader<T, N> {
    /// A consistent copy of the current parameters.
    #[inline]
    pub fn read(&self) -> T {
        T::from_words(self.lock.read())
    }

    /// How many sets have been published (cheap "did anything change?").
    #[inline]
    pub fn version(&self) -> u64 {
        self.lock.version()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_what_was_written() {
        let (mut w, r) = param_block([1i64, -2, 3]);
        assert_eq!(r.read(), [1, -2, 3]);
        assert_eq!(w.write([4, 5, -6]), 1);
        assert_eq!(r.read(), [4, 5, -6]);
        assert_eq!(w.reader().version(), 1);
    }

    #[test]
    fn readers_never_see_a_torn_set() {
        const WRITES: u64 = 100_000;
        let (mut w, r) = param_block([0u64; 8]);
        let reader = std::thread::spawn(move || {
            let mut last = 0;
            let mut seen = 0u64;
            while last < WRITES {
                let v = r.read();
                assert!(v.iter().all(|&x| x == v[0]), "torn read {v:?}");
                assert!(v[0] >= last, "went backwards");
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
