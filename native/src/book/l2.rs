//! [`L2Book`]: a price-level book on a dense tick ladder around the touch.
//!
//! Each side keeps a ring of `window` slots (a power of two) indexed by tick, plus a bitmap of the
//! non-empty slots, covering the `window` prices nearest the touch; levels further away sit in a
//! sorted overflow vector with preallocated capacity. Prices are stored as side-normalised *keys*
//! (bids: `ticks`, asks: `-ticks`) so "better" is always "larger key" and one implementation serves
//! both sides.
//!
//! Invariants per side (checked by `debug_assert!` and the proptests below):
//! - no level has a key `>= base + window` (the window always reaches the best possible level);
//! - every overflow key is `< base`, sorted ascending, with a positive size;
//! - the side is empty, or its best level lies in the window (`best >= base`).
//!
//! # Hot path
//! Pinned feed thread. No allocation while the overflow stays within its preallocated capacity, no
//! lock, no syscall. A set inside the window is O(1); removing the best level scans the bitmap down to
//! the next level (64 slots per word); moving the window (recentre) is O(levels moved), `#[cold]`.

use super::IntegrityError;
use crate::model::{Price, Qty, Side};

/// The largest price a book accepts, in ticks (keeps every window computation far from overflow).
pub const MAX_PRICE_TICKS: i64 = i64::MAX / 4;
/// Default ladder window per side, in ticks (a power of two): 2 MiB of sizes per side, allocated zeroed
/// (pages are only touched where levels live) and a 32 KiB bitmap. Measured on the recorded BTCUSDT
/// streams (`bench/README.md`): Binance diffs touch many levels far from the touch, and each one outside
/// the window costs a binary search and a shift of the overflow; 262144 ticks (±$1,310 at a 0.01 tick)
/// cut the p99 from ~200 ns (4096) to 20–50 ns, and beat 1048576 (more TLB misses).
pub const DEFAULT_WINDOW: usize = 262_144;
/// Default preallocated overflow capacity per side, in levels (REST snapshots carry up to 5000).
pub const DEFAULT_FAR_CAPACITY: usize = 8192;

/// One side of the book, in side-normalised keys.
#[derive(Clone, Debug)]
struct LadderSide {
    /// Key of the lowest slot of the window; slots hold keys `[base, base + window)`.
    base: i64,
    /// Sizes by ring slot (`key & mask`); 0 = no level.
    qty: Box<[i64]>,
    /// Bit `slot` set ⇔ `qty[slot] > 0`; always in sync with `qty`.
    bits: Box<[u64]>,
    /// `window - 1`.
    mask: u64,
    /// Number of non-empty slots in the window.
    ladder_levels: usize,
    /// Key of the best level; meaningful only when `ladder_levels > 0`.
    best: i64,
    /// Levels below the window: `(key, qty)`, keys ascending, all `< base`.
    far: Vec<(i64, i64)>,
}

impl LadderSide {
    fn new(window: usize, far_capacity: usize) -> Self {
        let window = window.max(64).next_power_of_two();
        Self {
            base: 0,
            qty: vec![0; window].into_boxed_slice(),
            bits: vec![0; window / 64].into_boxed_slice(),
            mask: (window - 1) as u64,
            ladder_levels: 0,
            best: 0,
            far: Vec::with_capacity(far_capacity),
        }
    }

    #[inline]
    fn window(&self) -> i64 {
        // mask + 1 <= 2^62 (a Vec length): fits an i64.
        (self.mask + 1) as i64
    }

    #[inline]
    fn slot(&self, key: i64) -> usize {
        // Two's complement makes `key & mask` the Euclidean remainder for any key.
        ((key as u64) & self.mask) as usize
    }

    #[inline]
    fn len(&self) -> usize {
        self.ladder_levels + self.far.len()
    }

    #[inline]
    fn best(&self) -> Option<(i64, i64)> {
        if self.ladder_levels == 0 {
            return None;
        }
        Some((self.best, self.qty[self.slot(self.best)]))
    }

    /// The size at `key` (0 if none).
    fn get(&self, key: i64) -> i64 {
        if key >= self.base + self.window() {
            0
        } else if key >= self.base {
            self.qty[self.slot(key)]
        } else {
            match self.far.binary_search_by(|l| l.0.cmp(&key)) {
                Ok(i) => self.far[i].1,
                Err(_) => 0,
            }
        }
    }

    /// Sets the level at `key` to `qty` (`qty == 0` deletes; deleting a missing level is a no-op).
    #[inline]
    fn set(&mut self, key: i64, qty: i64) {
        debug_assert!(
            qty >= 0,
            "Invariant: sizes are checked non-negative by L2Book::set"
        );
        if key >= self.base + self.window() {
            if qty == 0 {
                return;
            }
            self.recentre_on(key);
        } else if key < self.base {
            if self.ladder_levels == 0 {
                // Invariant: an empty window means an empty side; centre the window on the new level.
                if qty == 0 {
                    return;
                }
                self.recentre_on(key);
            } else {
                self.set_far(key, qty);
                return;
            }
        }
        let slot = self.slot(key);
        let old = self.qty[slot];
        self.qty[slot] = qty;
        if qty > 0 {
            if old == 0 {
                self.bits[slot >> 6] |= 1u64 << (slot & 63);
                self.ladder_levels += 1;
                if self.ladder_levels == 1 || key > self.best {
                    self.best = key;
                }
            }
        } else if old > 0 {
            self.bits[slot >> 6] &= !(1u64 << (slot & 63));
            self.ladder_levels -= 1;
            if key == self.best {
                self.best_removed(key);
            }
        }
    }

    /// The best level at `key` was removed: find the next one.
    #[inline]
    fn best_removed(&mut self, key: i64) {
        if self.ladder_levels > 0 {
            match self.find_below(key) {
                Some(k) => self.best = k,
                None => debug_assert!(
                    false,
                    "Invariant: ladder_levels > 0 but no level below best"
                ),
            }
        } else if !self.far.is_empty() {
            self.pull_far_into_window();
        }
    }

    /// The largest non-empty key in `[base, key)`.
    #[inline]
    fn find_below(&self, key: i64) -> Option<i64> {
        let mut cur = key - 1;
        while cur >= self.base {
            let slot = self.slot(cur);
            let bit = (slot & 63) as u32;
            // Bits at positions 0..=bit of this word.
            let m = self.bits[slot >> 6] & (u64::MAX >> (63 - bit));
            if m != 0 {
                let hi = 63 - m.leading_zeros();
                let cand = cur - i64::from(bit - hi);
                return (cand >= self.base).then_some(cand);
            }
            cur -= i64::from(bit) + 1;
        }
        None
    }

    #[inline]
    fn set_far(&mut self, key: i64, qty: i64) {
        match self.far.binary_search_by(|l| l.0.cmp(&key)) {
            Ok(i) => {
                if qty > 0 {
                    self.far[i].1 = qty;
                } else {
                    self.far.remove(i);
                }
            }
            Err(i) => {
                if qty > 0 {
                    self.far.insert(i, (key, qty));
                }
            }
        }
    }

    /// Moves the window so that `key` sits in its middle. Levels that fall below the window go to the
    /// overflow (they are all above every overflow key, so they append in order); overflow levels that
    /// fall inside come back into the ring.
    #[cold]
    #[inline(never)]
    fn recentre_on(&mut self, key: i64) {
        let new_base = key - self.window() / 2;
        if new_base > self.base {
            // Evict [base, min(new_base, base + window)) to the overflow, ascending, word by word.
            let end = new_base.min(self.base + self.window());
            let mut k = self.base;
            while k < end && self.ladder_levels > 0 {
                let slot = self.slot(k);
                let bit = slot & 63;
                // Keys k .. k + n share this bitmap word (n >= 1).
                let n = ((64 - bit) as i64).min(end - k);
                let mut m = self.bits[slot >> 6] >> bit;
                if n < 64 {
                    m &= (1u64 << n) - 1;
                }
                while m != 0 {
                    let key = k + i64::from(m.trailing_zeros());
                    m &= m - 1;
                    let s = self.slot(key);
                    self.far.push((key, self.qty[s]));
                    self.qty[s] = 0;
                    self.bits[s >> 6] &= !(1u64 << (s & 63));
                    self.ladder_levels -= 1;
                }
                k += n;
            }
            self.base = new_base;
        } else if new_base < self.base {
            // Only reached with an empty window (the best is the new key or in the overflow); keys in
            // [new_base + window, old window) cannot exist because the window is empty.
            debug_assert_eq!(
                self.ladder_levels, 0,
                "Invariant: moving down only an empty window"
            );
            self.base = new_base;
            self.pull_far_suffix();
        }
    }

    /// The window is empty and the overflow is not: centre the window on the overflow's best level.
    #[cold]
    #[inline(never)]
    fn pull_far_into_window(&mut self) {
        let Some(&(best, _)) = self.far.last() else {
            return;
        };
        self.base = best - self.window() / 2;
        self.pull_far_suffix();
    }

    /// Moves every overflow level with `key >= base` into the ring (a suffix of `far`).
    fn pull_far_suffix(&mut self) {
        let top = self.base + self.window();
        while let Some(&(k, q)) = self.far.last() {
            if k < self.base {
                break;
            }
            self.far.pop();
            debug_assert!(k < top, "Invariant: no overflow key above the window");
            let slot = self.slot(k);
            self.qty[slot] = q;
            self.bits[slot >> 6] |= 1u64 << (slot & 63);
            self.ladder_levels += 1;
            if self.ladder_levels == 1 || k > self.best {
                self.best = k;
            }
        }
    }

    /// Empties the side touching only the bitmap and the occupied slots (a large, mostly untouched
    /// window keeps its pages untouched).
    fn clear(&mut self) {
        for w in 0..self.bits.len() {
            let mut m = self.bits[w];
            while m != 0 {
                self.qty[w * 64 + m.trailing_zeros() as usize] = 0;
                m &= m - 1;
            }
            self.bits[w] = 0;
        }
        self.ladder_levels = 0;
        self.far.clear();
    }

    /// Writes up to `out.len()` levels, best first, as `(key, qty)`; returns how many.
    fn top_keys(&self, mut f: impl FnMut(usize, i64, i64), n: usize) -> usize {
        let mut written = 0;
        if self.ladder_levels == 0 || n == 0 {
            return 0;
        }
        let mut k = self.best;
        loop {
            f(written, k, self.qty[self.slot(k)]);
            written += 1;
            if written == n {
                return written;
            }
            match self.find_below(k) {
                Some(next) => k = next,
                None => break,
            }
        }
        for &(k, q) in self.far.iter().rev() {
            f(written, k, q);
            written += 1;
            if written == n {
                break;
            }
        }
        written
    }
}

/// A level-2 book: per side, sizes by price in a dense tick ladder near the touch.
#[derive(Clone, Debug)]
pub struct L2Book {
    bids: LadderSide,
    asks: LadderSide,
}

impl Default for L2Book {
    fn default() -> Self {
        Self::new(DEFAULT_WINDOW, DEFAULT_FAR_CAPACITY)
    }
}

#[inline]
const fn key(side: Side, price: Price) -> i64 {
    match side {
        Side::Buy => price.ticks(),
        Side::Sell => -price.ticks(),
    }
}

#[inline]
const fn price_of(side: Side, key: i64) -> Price {
    match side {
        Side::Buy => Price::from_ticks(key),
        Side::Sell => Price::from_ticks(-key),
    }
}

impl L2Book {
    /// A book whose ladder spans `window` ticks per side (rounded up to a power of two, at least 64)
    /// with room for `far_capacity` levels outside it before the overflow reallocates.
    pub fn new(window: usize, far_capacity: usize) -> Self {
        Self {
            bids: LadderSide::new(window, far_capacity),
            asks: LadderSide::new(window, far_capacity),
        }
    }

    #[inline]
    fn side_mut(&mut self, side: Side) -> &mut LadderSide {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    #[inline]
    fn side(&self, side: Side) -> &LadderSide {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    /// Sets the absolute size of one level (`qty == 0` deletes it; deleting a missing level is normal).
    /// Prices must lie in `1..=MAX_PRICE_TICKS`.
    ///
    /// # Hot path
    /// O(1) inside the window; see the module docs. A negative size or a non-positive price is refused
    /// (the book is unchanged) — never clamped.
    #[inline]
    pub fn set(&mut self, side: Side, price: Price, qty: Qty) -> Result<(), IntegrityError> {
        if qty.lots() < 0 || price.ticks() <= 0 || price.ticks() > MAX_PRICE_TICKS {
            return Err(Self::bad_level(side, price, qty));
        }
        self.side_mut(side).set(key(side, price), qty.lots());
        Ok(())
    }

    /// Sets levels in order, each as [`Self::set`] does (a replay of levels already in ticks and lots,
    /// e.g. from a columnar store); returns how many were set, or the first refused level's error
    /// (the levels before it stay set).
    ///
    /// # Hot path
    /// [`Self::set`] per level; no allocation.
    pub fn set_levels(
        &mut self,
        levels: impl IntoIterator<Item = (Side, Price, Qty)>,
    ) -> Result<usize, IntegrityError> {
        let mut n = 0;
        for (side, price, qty) in levels {
            self.set(side, price, qty)?;
            n += 1;
        }
        Ok(n)
    }

    #[cold]
    #[inline(never)]
    fn bad_level(side: Side, price: Price, qty: Qty) -> IntegrityError {
        if price.ticks() <= 0 || price.ticks() > MAX_PRICE_TICKS {
            IntegrityError::PriceOutOfRange { side, price }
        } else {
            IntegrityError::NegativeQty { side, price, qty }
        }
    }

    /// Checks the book is not crossed (best bid < best ask, or a side empty).
    #[inline]
    pub fn check_crossed(&self) -> Result<(), IntegrityError> {
        match (self.best_bid(), self.best_ask()) {
            (Some((bid, _)), Some((ask, _))) if bid >= ask => {
                Err(IntegrityError::Crossed { bid, ask })
            }
            _ => Ok(()),
        }
    }

    /// The best bid, if any.
    #[inline]
    pub fn best_bid(&self) -> Option<(Price, Qty)> {
        self.bids
            .best()
            .map(|(k, q)| (price_of(Side::Buy, k), Qty::from_lots(q)))
    }

    /// The best ask, if any.
    #[inline]
    pub fn best_ask(&self) -> Option<(Price, Qty)> {
        self.asks
            .best()
            .map(|(k, q)| (price_of(Side::Sell, k), Qty::from_lots(q)))
    }

    /// The size at one price (zero if no level).
    pub fn level(&self, side: Side, price: Price) -> Qty {
        Qty::from_lots(self.side(side).get(key(side, price)))
    }

    /// The number of levels on one side.
    pub fn len(&self, side: Side) -> usize {
        self.side(side).len()
    }

    /// True when both sides are empty.
    pub fn is_empty(&self) -> bool {
        self.bids.len() == 0 && self.asks.len() == 0
    }

    /// Writes the best `out.len()` levels of `side`, best first, into `out`; returns how many.
    ///
    /// # Hot path
    /// No allocation: the caller owns the buffer.
    pub fn top(&self, side: Side, out: &mut [(Price, Qty)]) -> usize {
        let n = out.len();
        self.side(side)
            .top_keys(|i, k, q| out[i] = (price_of(side, k), Qty::from_lots(q)), n)
    }

    /// Removes every level (cold: resync).
    #[cold]
    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }

    /// Every level of `side`, best first (off the hot path: tests, snapshots).
    pub fn levels(&self, side: Side) -> Vec<(Price, Qty)> {
        let mut out = vec![(Price::ZERO, Qty::ZERO); self.len(side)];
        let n = self.top(side, &mut out);
        out.truncate(n);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::BTreeL2Book;
    use proptest::prelude::*;

    fn p(t: i64) -> Price {
        Price::from_ticks(t)
    }
    fn q(l: i64) -> Qty {
        Qty::from_lots(l)
    }

    #[test]
    fn set_levels_applies_in_order_and_stops_at_a_refused_level() {
        let mut b = L2Book::new(64, 16);
        let n = b
            .set_levels([
                (Side::Buy, p(100), q(5)),
                (Side::Sell, p(101), q(2)),
                (Side::Buy, p(100), q(0)),
                (Side::Buy, p(99), q(3)),
            ])
            .unwrap();
        assert_eq!(n, 4);
        assert_eq!(b.best_bid(), Some((p(99), q(3))));
        assert_eq!(b.best_ask(), Some((p(101), q(2))));
        let err = b.set_levels([(Side::Sell, p(102), q(1)), (Side::Sell, p(103), q(-1))]);
        assert!(matches!(err, Err(IntegrityError::NegativeQty { .. })));
        assert_eq!(b.level(Side::Sell, p(102)), q(1));
        assert_eq!(b.level(Side::Sell, p(103)), q(0));
    }

    #[test]
    fn best_tracks_inserts_and_deletes() {
        let mut b = L2Book::new(64, 16);
        b.set(Side::Buy, p(100), q(5)).unwrap();
        b.set(Side::Buy, p(99), q(3)).unwrap();
        b.set(Side::Sell, p(101), q(2)).unwrap();
        b.set(Side::Sell, p(105), q(1)).unwrap();
        assert_eq!(b.best_bid(), Some((p(100), q(5))));
        assert_eq!(b.best_ask(), Some((p(101), q(2))));
        b.set(Side::Buy, p(100), q(0)).unwrap();
        assert_eq!(b.best_bid(), Some((p(99), q(3))));
        b.set(Side::Sell, p(101), q(0)).unwrap();
        assert_eq!(b.best_ask(), Some((p(105), q(1))));
        assert!(b.check_crossed().is_ok());
        b.set(Side::Buy, p(105), q(1)).unwrap();
        assert_eq!(
            b.check_crossed(),
            Err(IntegrityError::Crossed {
                bid: p(105),
                ask: p(105)
            })
        );
    }

    #[test]
    fn refuses_negative_size_and_price() {
        let mut b = L2Book::default();
        assert!(matches!(
            b.set(Side::Buy, p(10), q(-1)),
            Err(IntegrityError::NegativeQty { .. })
        ));
        assert!(matches!(
            b.set(Side::Sell, p(0), q(1)),
            Err(IntegrityError::PriceOutOfRange { .. })
        ));
        assert!(matches!(
            b.set(Side::Sell, p(i64::MAX), q(1)),
            Err(IntegrityError::PriceOutOfRange { .. })
        ));
        assert!(b.is_empty());
    }

    #[test]
    fn far_levels_and_recentring() {
        let mut b = L2Book::new(64, 4);
        for t in [1000, 900, 800, 10, 5000] {
            b.set(Side::Buy, p(t), q(t)).unwrap();
        }
        assert_eq!(b.best_bid(), Some((p(5000), q(5000))));
        assert_eq!(b.len(Side::Buy), 5);
        b.set(Side::Buy, p(5000), q(0)).unwrap();
        assert_eq!(b.best_bid(), Some((p(1000), q(1000))));
        b.set(Side::Buy, p(1000), q(0)).unwrap();
        b.set(Side::Buy, p(900), q(0)).unwrap();
        assert_eq!(b.best_bid(), Some((p(800), q(800))));
        assert_eq!(b.level(Side::Buy, p(10)), q(10));
        let mut out = [(Price::ZERO, Qty::ZERO); 4];
        assert_eq!(b.top(Side::Buy, &mut out), 2);
        assert_eq!(&out[..2], &[(p(800), q(800)), (p(10), q(10))]);
    }

    #[derive(Clone, Debug)]
    struct Op {
        side: Side,
        tick: i64,
        lots: i64,
    }

    fn op() -> impl Strategy<Value = Op> {
        (any::<bool>(), 1i64..600, prop_oneof![Just(0i64), 1i64..50]).prop_map(|(b, tick, lots)| {
            Op {
                side: if b { Side::Buy } else { Side::Sell },
                tick,
                lots,
            }
        })
    }

    fn same(a: &L2Book, r: &BTreeL2Book) -> Result<(), TestCaseError> {
        for side in [Side::Buy, Side::Sell] {
            prop_assert_eq!(a.levels(side), r.levels(side));
        }
        prop_assert_eq!(a.best_bid(), r.best_bid());
        prop_assert_eq!(a.best_ask(), r.best_ask());
        Ok(())
    }

    proptest! {
        /// Any sequence of sets matches the naive BTreeMap model level for level (small window:
        /// exercises recentring and the overflow).
        #[test]
        fn matches_reference(ops in proptest::collection::vec(op(), 0..400), window in prop_oneof![Just(64usize), Just(128), Just(4096)]) {
            let mut a = L2Book::new(window, 8);
            let mut r = BTreeL2Book::default();
            for o in &ops {
                a.set(o.side, p(o.tick), q(o.lots)).unwrap();
                r.set(o.side, p(o.tick), q(o.lots)).unwrap();
            }
            same(&a, &r)?;
        }

        /// Applying levels then deleting them leaves the book as it was.
        #[test]
        fn apply_then_delete_is_identity(base in proptest::collection::vec(op(), 0..100), extra in proptest::collection::vec(op(), 0..100)) {
            let mut a = L2Book::new(64, 8);
            for o in &base { a.set(o.side, p(o.tick), q(o.lots)).unwrap(); }
            let before_b = a.levels(Side::Buy);
            let before_a = a.levels(Side::Sell);
            // Only levels absent from the base book, so deleting them restores it.
            let fresh: Vec<&Op> = extra.iter().filter(|o| a.level(o.side, p(o.tick)).is_zero()).collect();
            for o in &fresh { a.set(o.side, p(o.tick), q(o.lots.max(1))).unwrap(); }
            for o in &fresh { a.set(o.side, p(o.tick), Qty::ZERO).unwrap(); }
            prop_assert_eq!(a.levels(Side::Buy), before_b);
            prop_assert_eq!(a.levels(Side::Sell), before_a);
        }

        /// A snapshot (the reference state after a prefix) plus the remaining diffs equals the full replay.
        #[test]
        fn snapshot_plus_diffs_equals_full_replay(ops in proptest::collection::vec(op(), 0..300), cut in 0usize..300) {
            let cut = cut.min(ops.len());
            let mut full = L2Book::new(64, 8);
            let mut prefix = BTreeL2Book::default();
            for o in &ops { full.set(o.side, p(o.tick), q(o.lots)).unwrap(); }
            for o in &ops[..cut] { prefix.set(o.side, p(o.tick), q(o.lots)).unwrap(); }
            let mut from_snap = L2Book::new(64, 8);
            for side in [Side::Buy, Side::Sell] {
                for (px, qty) in prefix.levels(side) { from_snap.set(side, px, qty).unwrap(); }
            }
            for o in &ops[cut..] { from_snap.set(o.side, p(o.tick), q(o.lots)).unwrap(); }
            for side in [Side::Buy, Side::Sell] {
                prop_assert_eq!(from_snap.levels(side), full.levels(side));
            }
        }

        /// After a valid apply (the check passes) the book is not crossed; a crossing update is always
        /// reported, never hidden.
        #[test]
        fn never_crossed_after_valid_apply(ops in proptest::collection::vec(op(), 0..300)) {
            let mut a = L2Book::new(64, 8);
            let mut r = BTreeL2Book::default();
            for o in &ops {
                let mut trial = a.clone();
                trial.set(o.side, p(o.tick), q(o.lots)).unwrap();
                r.set(o.side, p(o.tick), q(o.lots)).unwrap();
                let ref_crossed = matches!((r.best_bid(), r.best_ask()), (Some(b), Some(s)) if b.0 >= s.0);
                prop_assert_eq!(trial.check_crossed().is_err(), ref_crossed);
                if trial.check_crossed().is_ok() {
                    a = trial;
                } else {
                    r.set(o.side, p(o.tick), a.level(o.side, p(o.tick))).unwrap();
                }
                if let (Some(b), Some(s)) = (a.best_bid(), a.best_ask()) {
                    prop_assert!(b.0 < s.0);
                }
            }
        }
    }
}
