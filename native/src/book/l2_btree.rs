//! [`BTreeL2Book`]: the naive L2 book on two `BTreeMap`s — the reference model for property tests and
//! the baseline the dense ladder is measured against (`bench/benches/book_l2.rs`). Not for the hot path.

use super::IntegrityError;
use crate::model::{Price, Qty, Side};
use std::collections::BTreeMap;

/// Sizes by price, one ordered map per side.
#[derive(Clone, Debug, Default)]
pub struct BTreeL2Book {
    bids: BTreeMap<i64, i64>,
    asks: BTreeMap<i64, i64>,
}

impl BTreeL2Book {
    /// Sets the absolute size of a level (0 deletes); refuses what [`super::L2Book::set`] refuses.
    pub fn set(&mut self, side: Side, price: Price, qty: Qty) -> Result<(), IntegrityError> {
        if price.ticks() <= 0 || price.ticks() > super::l2::MAX_PRICE_TICKS {
            return Err(IntegrityError::PriceOutOfRange { side, price });
        }
        if qty.lots() < 0 {
            return Err(IntegrityError::NegativeQty { side, price, qty });
        }
        let map = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        if qty.is_zero() {
            map.remove(&price.ticks());
        } else {
            map.insert(price.ticks(), qty.lots());
        }
        Ok(())
    }

    /// The best bid, if any.
    pub fn best_bid(&self) -> Option<(Price, Qty)> {
        self.bids
            .iter()
            .next_back()
            .map(|(&p, &q)| (Price::from_ticks(p), Qty::from_lots(q)))
    }

    /// The best ask, if any.
    pub fn best_ask(&self) -> Option<(Price, Qty)> {
        self.asks
            .iter()
            .next()
            .map(|(&p, &q)| (Price::from_ticks(p), Qty::from_lots(q)))
    }

    /// Every level of `side`, best first.
    pub fn levels(&self, side: Side) -> Vec<(Price, Qty)> {
        let conv = |(&p, &q): (&i64, &i64)| (Price::from_ticks(p), Qty::from_lots(q));
        match side {
            Side::Buy => self.bids.iter().rev().map(conv).collect(),
            Side::Sell => self.asks.iter().map(conv).collect(),
        }
    }

    /// Removes every level.
    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }
}
