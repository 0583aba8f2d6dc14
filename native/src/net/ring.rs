//! A bounded single-producer/single-consumer ring: how the hot thread hands records to the journal
//! writer, the metrics snapshotter and Python without locks.
//!
//! # Hot path
//! `push` and `pop` are wait-free: one relaxed load of the own index, an acquire load of the other
//! side's index only when the cached copy says full/empty, one release store. No allocation after
//! [`channel`]; never blocks, never logs. A full ring refuses the record (`Err(value)`): the caller
//! counts and decides (the engine treats a full journal ring as a reason to stop quoting).
#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_utils::CachePadded;

struct Ring<T> {
    /// Slot `i & mask` holds an initialised `T` iff `head <= i < tail` (indices wrap as `usize`).
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    mask: usize,
    /// Next index the consumer reads; written only by the consumer.
    head: CachePadded<AtomicUsize>,
    /// Next index the producer writes; written only by the producer.
    tail: CachePadded<AtomicUsize>,
}

// SAFETY: the ring moves `T`s from one thread to another; each slot is accessed by exactly one side
// at a time (the producer before publishing `tail`, the consumer after observing it), so `T: Send`
// suffices for sharing the ring between the two handle owners.
unsafe impl<T: Send> Sync for Ring<T> {}
// SAFETY: as above; the ring owns its `T`s.
unsafe impl<T: Send> Send for Ring<T> {}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        let head = *self.head.get_mut();
        let tail = *self.tail.get_mut();
        let mut i = head;
        while i != tail {
            // SAFETY: `head <= i < tail`, so slot `i & mask` is initialised (see `slots`), and `&mut self`
            // means no handle can touch it concurrently.
            unsafe { self.slots[i & self.mask].get_mut().assume_init_drop() };
            i = i.wrapping_add(1);
        }
    }
}

/// The writing end. Not `Clone`: exactly one producer exists.
pub struct Producer<T> {
    ring: Arc<Ring<T>>,
    tail: usize,
    /// The consumer's `head` as last seen; may be stale (only ever behind), refreshed when full.
    cached_head: usize,
}

/// The reading end. Not `Clone`: exactly one consumer exists.
pub struct Consumer<T> {
    ring: Arc<Ring<T>>,
    head: usize,
    /// The producer's `tail` as last seen; may be stale (only ever behind), refreshed when empty.
    cached_tail: usize,
}

/// Creates a ring holding up to `capacity` records (rounded up to a power of two, at least 1).
pub fn channel<T: Send>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    let cap = capacity.max(1).next_power_of_two();
    let slots = (0..cap)
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect();
    let ring = Arc::new(Ring {
        slots,
        mask: cap - 1,
        head: CachePadded::new(AtomicUsize::new(0)),
        tail: CachePadded::new(AtomicUsize::new(0)),
    });
    (
        Producer {
            ring: Arc::clone(&ring),
            tail: 0,
            cached_head: 0,
        },
        Consumer {
            ring,
            head: 0,
            cached_tail: 0,
        },
    )
}

impl<T> Producer<T> {
    /// Appends `value`, or gives it back when the ring is full.
    #[inline]
    pub fn push(&mut self, value: T) -> Result<(), T> {
        let cap = self.ring.mask + 1;
        if self.tail.wrapping_sub(self.cached_head) == cap {
            self.cached_head = self.ring.head.load(Ordering::Acquire);
            if self.tail.wrapping_sub(self.cached_head) == cap {
                return Err(value);
            }
        }
        let slot = &self.ring.slots[self.tail & self.ring.mask];
        // SAFETY: `tail - head < cap`, so slot `tail & mask` is outside `head..tail`: the consumer does not
        // read it until the release store of `tail` below, and it holds no initialised value to leak.
        unsafe { (*slot.get()).write(value) };
        self.tail = self.tail.wrapping_add(1);
        self.ring.tail.store(self.tail, Ordering::Release);
        Ok(())
    }

    /// How many more records fit right now (a lower bound: the consumer may have freed more).
    pub fn free_slots(&self) -> usize {
        let head = self.ring.head.load(Ordering::Acquire);
        self.ring.mask + 1 - self.tail.wrapping_sub(head)
    }

    /// The ring's capacity.
    pub fn capacity(&self) -> usize {
        self.ring.mask + 1
    }
}

impl<T> Consumer<T> {
    /// Takes the oldest record, if any.
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        if self.head == self.cached_tail {
            self.cached_tail = self.ring.tail.load(Ordering::Acquire);
            if self.head == self.cached_tail {
                return None;
            }
        }
        let slot = &self.ring.slots[self.head & self.ring.mask];
        // SAFETY: `head < tail` (acquire-loaded above, synchronising with the producer's release store), so
        // the slot is initialised and the producer will not write it until our release store of `head`.
        let value = unsafe { (*slot.get()).assume_init_read() };
        self.head = self.head.wrapping_add(1);
        self.ring.head.store(self.head, Ordering::Release);
        Some(value)
    }

    /// Records waiting right now (a lower bound: the producer may have added more).
    pub fn len(&self) -> usize {
        self.ring
            .tail
            .load(Ordering::Acquire)
            .wrapping_sub(self.head)
    }

    /// Whether no record waits right now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn fifo_and_full() {
        let (mut p, mut c) = channel::<u32>(3);
        assert_eq!(p.capacity(), 4);
        for i in 0..4 {
            p.push(i).unwrap();
        }
        assert_eq!(p.push(9), Err(9));
        assert_eq!(c.len(), 4);
        assert_eq!(c.pop(), Some(0));
        p.push(4).unwrap();
        let got: Vec<_> = std::iter::from_fn(|| c.pop()).collect();
        assert_eq!(got, [1, 2, 3, 4]);
        assert!(c.is_empty());
        assert_eq!(p.free_slots(), 4);
    }

    #[test]
    fn drops_what_was_not_consumed() {
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        struct D;
        impl Drop for D {
            fn drop(&mut self) {
                DROPS.fetch_add(1, Ordering::Relaxed);
            }
        }
        let (mut p, mut c) = channel::<D>(8);
        for _ in 0..5 {
            assert!(p.push(D).is_ok());
        }
        drop(c.pop());
        assert_eq!(DROPS.load(Ordering::Relaxed), 1);
        drop((p, c));
        assert_eq!(DROPS.load(Ordering::Relaxed), 5);
    }

    #[test]
    fn two_threads_keep_order_and_lose_nothing() {
        const N: u64 = 200_000;
        let (mut p, mut c) = channel::<u64>(64);
        let producer = std::thread::spawn(move || {
            let mut i = 0;
            while i < N {
                if p.push(i).is_ok() {
                    i += 1;
                } else {
                    std::hint::spin_loop();
                }
            }
        });
        let mut expect = 0;
        while expect < N {
            match c.pop() {
                Some(v) => {
                    assert_eq!(v, expect);
                    expect += 1;
                }
                None => std::hint::spin_loop(),
            }
        }
        producer.join().unwrap();
        assert_eq!(c.pop(), None);
    }
}
