//! A bounded single-producer/single-consumer ring: how the hot thread hands records to the journal
//! writer, the metrics snapshotter and Python without locks.
//!
//! # Hot path
//! `push` and `pop` are wait-free: one relaxed load of the own index, an acquire load of the other
//! side's index only when the cached copy says full/empty, one release store. No allocation after
//! [`channel`]; never blocks, never logs. A full ring refuses the record (`Err(value)`): the caller
//! counts and decides (the engine treats a full journal ring as a reason to stop quoting).
//!
//! # Memory
//! A slot array of at least [`HUGE_PAGE`] bytes (the journal's 65 536 × 128 B = 8 MiB ring) lives on
//! its own 2 MiB-aligned anonymous mapping advised `MADV_HUGEPAGE` and pre-faulted at creation: the
//! hot thread never page-faults on it, and with transparent huge pages it spans a handful of TLB
//! entries instead of one per 4 KiB (an 8 MiB ring on 4 KiB pages walks a new page every 32
//! pushes). Without THP, or if the mapping fails, the slots stay on (pre-faulted) normal pages or
//! the heap; [`RingMemory`] says which. Smaller rings stay on the heap.
#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_utils::CachePadded;
use memmap2::{Advice, MmapMut, MmapOptions};

/// The x86-64 transparent huge page size; slot arrays at least this large are mapped, not boxed.
pub const HUGE_PAGE: usize = 2 << 20;

/// Where a ring's slots live; fixed at [`channel`], read off the hot path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingMemory {
    /// Bytes of the slot array.
    pub bytes: usize,
    /// Whether the slots are on their own pre-faulted anonymous mapping (advised `MADV_HUGEPAGE`)
    /// rather than on the heap.
    pub mapped: bool,
    /// Bytes of that mapping the kernel backed with transparent huge pages right after the
    /// pre-fault (`AnonHugePages` of its `/proc/self/smaps` entry); 0 on the heap, with THP off or
    /// unreadable smaps.
    pub huge_page_bytes: usize,
}

impl RingMemory {
    /// Whether every slot is on a huge page.
    pub fn on_huge_pages(&self) -> bool {
        self.bytes > 0 && self.huge_page_bytes >= self.bytes
    }
}

/// The slot array: `len` cells at `ptr`, owned (a leaked boxed slice, or inside `map`).
struct Slots<T> {
    ptr: NonNull<UnsafeCell<MaybeUninit<T>>>,
    len: usize,
    /// The mapping `ptr` points into; `None`: `ptr` came from `Box::into_raw`.
    map: Option<MmapMut>,
    memory: RingMemory,
}

impl<T> Slots<T> {
    fn new(len: usize) -> Self {
        if let Some(s) = Self::mapped(len) {
            return s;
        }
        let boxed: Box<[UnsafeCell<MaybeUninit<T>>]> = (0..len)
            .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
            .collect();
        let ptr = NonNull::from(Box::leak(boxed)).cast();
        Slots {
            ptr,
            len,
            map: None,
            memory: RingMemory {
                bytes: len * std::mem::size_of::<T>(),
                ..RingMemory::default()
            },
        }
    }

    /// `len` slots on a 2 MiB-aligned, `MADV_HUGEPAGE`-advised, pre-faulted anonymous mapping; `None`
    /// for arrays under [`HUGE_PAGE`] or when the mapping fails (the caller falls back to the heap).
    fn mapped(len: usize) -> Option<Self> {
        let bytes = len.checked_mul(std::mem::size_of::<T>())?;
        if bytes < HUGE_PAGE || std::mem::align_of::<T>() > 4096 {
            return None;
        }
        let span = bytes.checked_next_multiple_of(HUGE_PAGE)?;
        // One huge page of slack so an aligned `span` fits whatever address the kernel picks; the
        // slack is never touched, so it costs address space only.
        let mut map = MmapOptions::new()
            .len(span.checked_add(HUGE_PAGE)?)
            .map_anon()
            .ok()?;
        let base = map.as_ptr() as usize;
        let off = base.checked_next_multiple_of(HUGE_PAGE)? - base;
        // Refused without THP (EINVAL): normal pages then, still pre-faulted below.
        let _ = map.advise_range(Advice::HugePage, off, span);
        // Pre-fault: the first write to each page allocates it (a huge page where THP obliges).
        let region = &mut map[off..off + span];
        region.fill(0);
        let ptr = NonNull::new(region.as_mut_ptr())?.cast();
        let huge_page_bytes = anon_huge_bytes(base + off).unwrap_or(0).min(span);
        Some(Slots {
            ptr,
            len,
            map: Some(map),
            memory: RingMemory {
                bytes,
                mapped: true,
                huge_page_bytes,
            },
        })
    }

    #[inline]
    fn get(&self) -> &[UnsafeCell<MaybeUninit<T>>] {
        // SAFETY: `ptr` points to `len` contiguous cells owned by `self` for its whole life (a leaked
        // box, or a live mapping whose zeroed bytes are valid `MaybeUninit<T>`s, aligned: the
        // mapping is 4 KiB-aligned and `align_of::<T>() <= 4096` was checked); nothing takes a
        // `&mut` to them, all writes go through the `UnsafeCell`s.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> Drop for Slots<T> {
    fn drop(&mut self) {
        if self.map.is_none() {
            let raw = std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.len);
            // SAFETY: without a mapping, `ptr`/`len` are exactly the slice `Box::leak` gave in `new`,
            // and this is the only place that frees it. The cells are `MaybeUninit`: no `T` is dropped
            // here (`Ring::drop` dropped the live ones before).
            drop(unsafe { Box::from_raw(raw) });
        }
    }
}

/// The `AnonHugePages` bytes of the `/proc/self/smaps` entry containing `addr`.
fn anon_huge_bytes(addr: usize) -> Option<usize> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    let mut inside = false;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or_default();
        if let Some((lo, hi)) = first.split_once('-') {
            if let (Ok(lo), Ok(hi)) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
            {
                inside = (lo..hi).contains(&addr);
                continue;
            }
        }
        if inside {
            if let Some(kb) = line.strip_prefix("AnonHugePages:") {
                let kb = kb.trim().trim_end_matches("kB").trim();
                return kb.parse::<usize>().ok()?.checked_mul(1024);
            }
        }
    }
    None
}

struct Ring<T> {
    /// Slot `i & mask` holds an initialised `T` iff `head <= i < tail` (indices wrap as `usize`).
    slots: Slots<T>,
    mask: usize,
    /// Next index the consumer reads; written only by the consumer.
    head: CachePadded<AtomicUsize>,
    /// Next index the producer writes; written only by the producer.
    tail: CachePadded<AtomicUsize>,
}

// SAFETY: the ring moves `T`s from one thread to another; each slot is accessed by exactly one side
// at a time (the producer before publishing `tail`, the consumer after observing it), so `T: Send`
// suffices for sharing the ring between the two handle owners. The slot memory itself (a leaked box
// or an anonymous mapping behind a raw pointer) is owned by the ring and freed once, by its last
// owner's drop, on whichever thread that is.
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
            unsafe { (*self.slots.get()[i & self.mask].get()).assume_init_drop() };
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
    let ring = Arc::new(Ring {
        slots: Slots::new(cap),
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
        let slot = &self.ring.slots.get()[self.tail & self.ring.mask];
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

    /// Where the slots live (heap, mapping, huge pages).
    pub fn memory(&self) -> RingMemory {
        self.ring.slots.memory
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
        let slot = &self.ring.slots.get()[self.head & self.ring.mask];
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

    /// Where the slots live (heap, mapping, huge pages).
    pub fn memory(&self) -> RingMemory {
        self.ring.slots.memory
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
    fn small_rings_stay_on_the_heap() {
        let (p, c) = channel::<[u8; 128]>(1024);
        let m = p.memory();
        assert_eq!(m, c.memory());
        assert_eq!(
            (m.bytes, m.mapped, m.huge_page_bytes),
            (128 << 10, false, 0)
        );
        assert!(!m.on_huge_pages());
    }

    /// The mapped path: a 4 MiB ring of 128-byte records (the journal's slot size) is mapped,
    /// 2 MiB-aligned, pre-faulted, works as a ring across wrap-around, and drops what it holds. Huge
    /// pages themselves are up to the kernel (THP mode, free memory): never beyond the ring's size,
    /// and reported (not failed) when THP is offered but none was obtained.
    #[test]
    fn big_rings_are_mapped_aligned_and_prefer_huge_pages() {
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        #[repr(align(64))]
        struct Rec([u64; 16]);
        impl Drop for Rec {
            fn drop(&mut self) {
                DROPS.fetch_add(1, Ordering::Relaxed);
            }
        }
        let (mut p, mut c) = channel::<Rec>(1 << 15);
        let m = p.memory();
        assert_eq!((m.bytes, m.mapped), (4 << 20, true));
        assert_eq!(p.ring.slots.ptr.as_ptr() as usize % HUGE_PAGE, 0);
        assert!(m.huge_page_bytes <= m.bytes);
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .unwrap_or_default();
        if (thp.contains("[always]") || thp.contains("[madvise]")) && m.huge_page_bytes == 0 {
            // Not a failure: the kernel may find no free 2 MiB page (fragmented memory). The bench
            // reports what a run got (`ring.huge_page_bytes`).
            eprintln!(
                "THP offered ({}) but no huge page obtained: {m:?}",
                thp.trim()
            );
        }
        let n = (1u64 << 15) + 1000;
        for i in 0..n {
            assert!(p.push(Rec([i; 16])).is_ok());
            let r = c.pop().unwrap();
            assert_eq!(r.0[15], i);
        }
        assert_eq!(DROPS.load(Ordering::Relaxed), n as usize);
        for i in 0..10 {
            assert!(p.push(Rec([i; 16])).is_ok());
        }
        drop(p);
        assert_eq!(c.len(), 10);
        drop(c);
        assert_eq!(DROPS.load(Ordering::Relaxed), n as usize + 10);
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
