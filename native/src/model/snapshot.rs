//! [`MarketSnapshot`]: the top `N` levels of one instrument's book at one moment, in fixed arrays.
//!
//! Written by the book on the feed thread after each applied update and read by the quoter on the
//! same thread (or copied into the ring for Python): no heap, `Copy`, a fixed size known at compile
//! time.

use super::{InstrumentId, Price, Qty, UnixNanos};

/// The default number of levels per side kept in a snapshot.
pub const SNAPSHOT_DEPTH: usize = 10;

/// One price level: its price and the aggregate quantity resting there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Level {
    /// The level's price.
    pub price: Price,
    /// Aggregate quantity at that price (positive for a filled slot).
    pub qty: Qty,
}

/// The top `N` bid and ask levels of one book, best first.
///
/// Invariant: slots `0..bid_len` of `bids` hold strictly decreasing prices with positive quantity,
/// slots `0..ask_len` of `asks` strictly increasing prices with positive quantity; the other slots
/// are `Level::default()`. [`MarketSnapshot::from_levels`] enforces it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarketSnapshot<const N: usize = SNAPSHOT_DEPTH> {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Bid levels, best (highest) first.
    pub bids: [Level; N],
    /// Ask levels, best (lowest) first.
    pub asks: [Level; N],
    /// Number of filled bid slots.
    pub bid_len: u16,
    /// Number of filled ask slots.
    pub ask_len: u16,
    /// The venue sequence number of the last update applied.
    pub sequence: u64,
    /// Venue event time of the last update applied.
    pub ts_event: UnixNanos,
    /// Our receive time of the last update applied.
    pub ts_recv: UnixNanos,
}

/// Why levels were refused by [`MarketSnapshot::from_levels`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// More levels than the snapshot holds on one side.
    #[error("{given} levels given, the snapshot holds {capacity}")]
    TooManyLevels {
        /// Levels given.
        given: usize,
        /// Levels per side held.
        capacity: usize,
    },
    /// A side is not strictly ordered best first, or a level has no quantity.
    #[error("level {index} ({price:?}, {qty:?}) is out of order or empty")]
    BadLevel {
        /// Index of the offending level on its side.
        index: usize,
        /// Its price.
        price: Price,
        /// Its quantity.
        qty: Qty,
    },
}

impl<const N: usize> MarketSnapshot<N> {
    /// An empty book for `instrument`.
    pub const fn empty(instrument: InstrumentId) -> Self {
        Self {
            instrument,
            bids: [Level {
                price: Price::ZERO,
                qty: Qty::ZERO,
            }; N],
            asks: [Level {
                price: Price::ZERO,
                qty: Qty::ZERO,
            }; N],
            bid_len: 0,
            ask_len: 0,
            sequence: 0,
            ts_event: UnixNanos(0),
            ts_recv: UnixNanos(0),
        }
    }

    /// A snapshot from best-first bid and ask levels, checked against the invariant.
    pub fn from_levels(
        instrument: InstrumentId,
        bids: &[Level],
        asks: &[Level],
    ) -> Result<Self, SnapshotError> {
        let mut s = Self::empty(instrument);
        s.bid_len = fill(&mut s.bids, bids, |a, b| a > b)?;
        s.ask_len = fill(&mut s.asks, asks, |a, b| a < b)?;
        Ok(s)
    }

    /// The filled bid levels, best first.
    #[inline]
    pub fn bids(&self) -> &[Level] {
        &self.bids[..usize::from(self.bid_len).min(N)]
    }

    /// The filled ask levels, best first.
    #[inline]
    pub fn asks(&self) -> &[Level] {
        &self.asks[..usize::from(self.ask_len).min(N)]
    }

    /// The best bid, if any.
    #[inline]
    pub fn best_bid(&self) -> Option<Level> {
        self.bids().first().copied()
    }

    /// The best ask, if any.
    #[inline]
    pub fn best_ask(&self) -> Option<Level> {
        self.asks().first().copied()
    }

    /// Best ask minus best bid, in ticks (negative if the book is crossed).
    #[inline]
    pub fn spread_ticks(&self) -> Option<i64> {
        Some(self.best_ask()?.price.ticks() - self.best_bid()?.price.ticks())
    }

    /// Best bid plus best ask, in ticks: twice the mid, kept whole so no half tick is lost.
    #[inline]
    pub fn mid_x2_ticks(&self) -> Option<i64> {
        Some(self.best_ask()?.price.ticks() + self.best_bid()?.price.ticks())
    }
}

fn fill<const N: usize>(
    slots: &mut [Level; N],
    levels: &[Level],
    better: fn(Price, Price) -> bool,
) -> Result<u16, SnapshotError> {
    if levels.len() > N || levels.len() > usize::from(u16::MAX) {
        return Err(SnapshotError::TooManyLevels {
            given: levels.len(),
            capacity: N,
        });
    }
    for (i, l) in levels.iter().enumerate() {
        let ordered = i == 0 || better(levels[i - 1].price, l.price);
        if !ordered || l.qty.lots() <= 0 {
            return Err(SnapshotError::BadLevel {
                index: i,
                price: l.price,
                qty: l.qty,
            });
        }
        slots[i] = *l;
    }
    // levels.len() <= u16::MAX (checked above).
    Ok(levels.len() as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lv(p: i64, q: i64) -> Level {
        Level {
            price: Price::from_ticks(p),
            qty: Qty::from_lots(q),
        }
    }

    #[test]
    fn top_of_book_and_spread() {
        let s: MarketSnapshot = MarketSnapshot::from_levels(
            InstrumentId(1),
            &[lv(16911, 500), lv(16910, 20)],
            &[lv(16913, 7)],
        )
        .unwrap();
        assert_eq!(s.best_bid(), Some(lv(16911, 500)));
        assert_eq!(s.best_ask(), Some(lv(16913, 7)));
        assert_eq!(s.spread_ticks(), Some(2));
        assert_eq!(s.mid_x2_ticks(), Some(33824));
        assert_eq!(s.bids().len(), 2);
        let e = MarketSnapshot::<5>::empty(InstrumentId(1));
        assert_eq!(e.best_bid(), None);
        assert_eq!(e.spread_ticks(), None);
    }

    #[test]
    fn refuses_disorder_and_overflow() {
        let bad = MarketSnapshot::<10>::from_levels(InstrumentId(1), &[lv(1, 1), lv(2, 1)], &[]);
        assert!(matches!(bad, Err(SnapshotError::BadLevel { index: 1, .. })));
        let empty_qty = MarketSnapshot::<10>::from_levels(InstrumentId(1), &[], &[lv(3, 0)]);
        assert!(matches!(
            empty_qty,
            Err(SnapshotError::BadLevel { index: 0, .. })
        ));
        let many = [lv(1, 1); 3];
        assert!(matches!(
            MarketSnapshot::<2>::from_levels(InstrumentId(1), &many, &[]),
            Err(SnapshotError::TooManyLevels {
                given: 3,
                capacity: 2
            })
        ));
    }

    #[test]
    fn is_fixed_size_plain_data() {
        // 10 levels × 2 sides × 16 bytes + header: no pointer inside.
        assert!(std::mem::size_of::<MarketSnapshot>() >= 320);
        fn is_copy<T: Copy>() {}
        is_copy::<MarketSnapshot>();
    }
}
