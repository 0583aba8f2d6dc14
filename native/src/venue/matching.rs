//! The simulated venue's matching engine for one symbol: price-time priority, LIMIT (GTC/IOC/FOK),
//! post-only (spot LIMIT_MAKER, futures GTX), MARKET, cancel, and self-trade prevention with the
//! taker's mode deciding (EXPIRE_TAKER, EXPIRE_MAKER, EXPIRE_BOTH, DECREMENT), as Binance documents.
//!
//! It runs inside the simulated venue (not on pymm's hot path): ordered maps keep it deterministic.
//! Filters, balances, positions and fees live in the account layer above it; this layer only
//! matches. Every change is reported as [`MatchEvent`]s in the order they happened, ending with the
//! final quantity of every price level the request touched (for the depth stream).

use std::collections::{BTreeMap, VecDeque};

use crate::model::order::{OrderType, TimeInForce};
use crate::model::{Price, Qty, Side, UnixNanos};

/// Self-trade prevention mode (the taker's decides).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StpMode {
    /// Trade with yourself.
    None,
    /// Expire the taker's remainder.
    ExpireTaker,
    /// Expire the resting order.
    ExpireMaker,
    /// Expire both.
    ExpireBoth,
    /// Reduce both by the prevented quantity; the one left with nothing expires.
    Decrement,
}

/// A new order as it reaches the matcher (already validated against the filters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewOrder {
    /// Venue order id (assigned by the account layer, increasing).
    pub order_id: u64,
    /// The owner (for self-trade prevention).
    pub account: u32,
    /// Buy or sell.
    pub side: Side,
    /// Type.
    pub kind: OrderType,
    /// Time in force (ignored for MARKET and LIMIT_MAKER).
    pub tif: TimeInForce,
    /// Limit price (ignored for MARKET).
    pub price: Price,
    /// Quantity.
    pub qty: Qty,
    /// Self-trade prevention mode.
    pub stp: StpMode,
}

/// Why the matcher refused an order without touching the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectReason {
    /// A post-only order would have taken liquidity (spot -2010, futures -5022).
    WouldTake,
    /// Non-positive quantity or price.
    Invalid,
    /// The order id is already resting.
    DuplicateId,
}

/// Something the matcher did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchEvent {
    /// The order was refused; the book is unchanged.
    Rejected {
        /// Order id.
        order_id: u64,
        /// Why.
        reason: RejectReason,
    },
    /// A trade between the taker and a resting maker.
    Fill {
        /// Trade id (increasing per symbol).
        trade_id: u64,
        /// Taker's order id.
        taker: u64,
        /// Maker's order id.
        maker: u64,
        /// Maker's account.
        maker_account: u32,
        /// Taker's side (the aggressor).
        taker_side: Side,
        /// Execution price (the maker's).
        price: Price,
        /// Executed quantity.
        qty: Qty,
        /// Taker's open quantity after this fill.
        taker_leaves: Qty,
        /// Maker's open quantity after this fill.
        maker_leaves: Qty,
    },
    /// The order now rests on the book with `leaves` open.
    Rested {
        /// Order id.
        order_id: u64,
        /// Open quantity.
        leaves: Qty,
    },
    /// The order's remainder expired (IOC/FOK/MARKET remainder, or self-trade prevention).
    Expired {
        /// Order id.
        order_id: u64,
        /// Quantity that expired.
        leaves: Qty,
        /// `true` when self-trade prevention expired it (status EXPIRED_IN_MATCH).
        in_match: bool,
    },
    /// Self-trade prevention (DECREMENT) took `qty` off a resting maker that stays on the book.
    Decremented {
        /// The maker's order id.
        order_id: u64,
        /// Quantity prevented.
        qty: Qty,
    },
    /// The order was cancelled.
    Canceled {
        /// Order id.
        order_id: u64,
        /// Quantity that was open.
        leaves: Qty,
    },
    /// A price level's aggregate quantity after the request (zero: the level is gone).
    Level {
        /// Side of the level.
        side: Side,
        /// Its price.
        price: Price,
        /// Aggregate open quantity.
        qty: Qty,
    },
}

/// Price levels, best first: `(price, aggregate quantity)`.
pub type Levels = Vec<(Price, Qty)>;

#[derive(Clone, Copy, Debug)]
struct Resting {
    order_id: u64,
    account: u32,
    leaves: i64,
    #[allow(dead_code)] // kept for queue-position reporting
    since: UnixNanos,
}

#[derive(Clone, Debug, Default)]
struct Level {
    orders: VecDeque<Resting>,
    total: i64,
}

/// One symbol's order book and matcher.
#[derive(Clone, Debug, Default)]
pub struct MatchingEngine {
    bids: BTreeMap<Price, Level>,
    asks: BTreeMap<Price, Level>,
    index: BTreeMap<u64, (Side, Price)>,
    next_trade_id: u64,
    touched: Vec<(Side, Price)>,
}

impl MatchingEngine {
    /// An empty book whose first trade id is `first_trade_id`.
    pub fn new(first_trade_id: u64) -> Self {
        Self {
            next_trade_id: first_trade_id,
            ..Self::default()
        }
    }

    fn book(&mut self, side: Side) -> &mut BTreeMap<Price, Level> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    /// Best bid price and aggregate size.
    pub fn best_bid(&self) -> Option<(Price, Qty)> {
        self.bids
            .iter()
            .next_back()
            .map(|(p, l)| (*p, Qty::from_lots(l.total)))
    }

    /// Best ask price and aggregate size.
    pub fn best_ask(&self) -> Option<(Price, Qty)> {
        self.asks
            .iter()
            .next()
            .map(|(p, l)| (*p, Qty::from_lots(l.total)))
    }

    /// Up to `n` levels per side, best first.
    pub fn depth(&self, n: usize) -> (Levels, Levels) {
        let b = self
            .bids
            .iter()
            .rev()
            .take(n)
            .map(|(p, l)| (*p, Qty::from_lots(l.total)))
            .collect();
        let a = self
            .asks
            .iter()
            .take(n)
            .map(|(p, l)| (*p, Qty::from_lots(l.total)))
            .collect();
        (b, a)
    }

    /// How many orders rest.
    pub fn resting_orders(&self) -> usize {
        self.index.len()
    }

    /// The open quantity of a resting order.
    pub fn open_qty(&self, order_id: u64) -> Option<Qty> {
        let (side, price) = *self.index.get(&order_id)?;
        let level = match side {
            Side::Buy => self.bids.get(&price)?,
            Side::Sell => self.asks.get(&price)?,
        };
        level
            .orders
            .iter()
            .find(|o| o.order_id == order_id)
            .map(|o| Qty::from_lots(o.leaves))
    }

    /// Quantity resting ahead of `order_id` at its price (its queue position).
    pub fn queue_ahead(&self, order_id: u64) -> Option<Qty> {
        let (side, price) = *self.index.get(&order_id)?;
        let level = match side {
            Side::Buy => self.bids.get(&price)?,
            Side::Sell => self.asks.get(&price)?,
        };
        let mut ahead = 0;
        for o in &level.orders {
            if o.order_id == order_id {
                return Some(Qty::from_lots(ahead));
            }
            ahead += o.leaves;
        }
        None
    }

    /// A resting order: `(side, price, open quantity, account)`.
    pub fn order(&self, order_id: u64) -> Option<(Side, Price, Qty, u32)> {
        let (side, price) = *self.index.get(&order_id)?;
        let level = match side {
            Side::Buy => self.bids.get(&price)?,
            Side::Sell => self.asks.get(&price)?,
        };
        level
            .orders
            .iter()
            .find(|o| o.order_id == order_id)
            .map(|o| (side, price, Qty::from_lots(o.leaves), o.account))
    }

    /// Calls `f(side, price, order_id, open quantity)` for every resting order: bids best first,
    /// then asks best first, each level in time priority.
    pub fn for_each_order(&self, mut f: impl FnMut(Side, Price, u64, Qty)) {
        for (p, l) in self.bids.iter().rev() {
            for o in &l.orders {
                f(Side::Buy, *p, o.order_id, Qty::from_lots(o.leaves));
            }
        }
        for (p, l) in &self.asks {
            for o in &l.orders {
                f(Side::Sell, *p, o.order_id, Qty::from_lots(o.leaves));
            }
        }
    }

    /// Whether an order on `side` at `limit` (`None`: a market order) would trade on arrival.
    pub fn would_take(&self, side: Side, limit: Option<Price>) -> bool {
        self.best_opposite(side)
            .is_some_and(|p| Self::crosses(side, limit, p))
    }

    /// Reduces a resting order's open quantity to `to` (`0 < to < open`), keeping its queue place
    /// (OUCH Cancel with a share count, ITCH `X`). Returns the quantity taken off, or `None` when the
    /// order does not rest or `to` is not below its open quantity.
    pub fn reduce_to(&mut self, order_id: u64, to: Qty) -> Option<Qty> {
        let (side, price) = *self.index.get(&order_id)?;
        let level = self.book(side).get_mut(&price)?;
        let o = level.orders.iter_mut().find(|o| o.order_id == order_id)?;
        if to.lots() <= 0 || to.lots() >= o.leaves {
            return None;
        }
        let cut = o.leaves - to.lots();
        o.leaves = to.lots();
        level.total -= cut;
        Some(Qty::from_lots(cut))
    }

    fn crosses(side: Side, limit: Option<Price>, level: Price) -> bool {
        match (side, limit) {
            (_, None) => true,
            (Side::Buy, Some(p)) => level <= p,
            (Side::Sell, Some(p)) => level >= p,
        }
    }

    fn best_opposite(&self, side: Side) -> Option<Price> {
        match side {
            Side::Buy => self.asks.keys().next().copied(),
            Side::Sell => self.bids.keys().next_back().copied(),
        }
    }

    /// Quantity available to a taker on `side` up to `limit` (for FOK).
    fn available(&self, side: Side, limit: Option<Price>, want: i64) -> i64 {
        let mut sum = 0i64;
        let mut add = |p: &Price, l: &Level| {
            if !Self::crosses(side, limit, *p) || sum >= want {
                return false;
            }
            sum = sum.saturating_add(l.total);
            true
        };
        match side {
            Side::Buy => {
                for (p, l) in &self.asks {
                    if !add(p, l) {
                        break;
                    }
                }
            }
            Side::Sell => {
                for (p, l) in self.bids.iter().rev() {
                    if !add(p, l) {
                        break;
                    }
                }
            }
        }
        sum
    }

    /// Submits an order at time `now`, appending what happened to `out`.
    pub fn submit(&mut self, o: &NewOrder, now: UnixNanos, out: &mut Vec<MatchEvent>) {
        self.touched.clear();
        if o.qty.lots() <= 0 || (o.kind != OrderType::Market && o.price.ticks() <= 0) {
            out.push(MatchEvent::Rejected {
                order_id: o.order_id,
                reason: RejectReason::Invalid,
            });
            return;
        }
        if self.index.contains_key(&o.order_id) {
            out.push(MatchEvent::Rejected {
                order_id: o.order_id,
                reason: RejectReason::DuplicateId,
            });
            return;
        }
        let limit = (o.kind != OrderType::Market).then_some(o.price);
        let post_only = o.kind == OrderType::LimitMaker
            || (o.kind == OrderType::Limit && o.tif == TimeInForce::Gtx);
        if post_only
            && self
                .best_opposite(o.side)
                .is_some_and(|p| Self::crosses(o.side, limit, p))
        {
            out.push(MatchEvent::Rejected {
                order_id: o.order_id,
                reason: RejectReason::WouldTake,
            });
            return;
        }
        let fok = o.kind == OrderType::Limit && o.tif == TimeInForce::Fok;
        if fok && self.available(o.side, limit, o.qty.lots()) < o.qty.lots() {
            out.push(MatchEvent::Expired {
                order_id: o.order_id,
                leaves: o.qty,
                in_match: false,
            });
            return;
        }
        let mut leaves = o.qty.lots();
        let mut taker_expired = false;
        while leaves > 0 {
            let Some(level_px) = self.best_opposite(o.side) else {
                break;
            };
            if !Self::crosses(o.side, limit, level_px) {
                break;
            }
            let opp = o.side.opposite();
            let trade_id = self.next_trade_id;
            let book = self.book(opp);
            let Some(level) = book.get_mut(&level_px) else {
                break;
            };
            let Some(maker) = level.orders.front_mut() else {
                break;
            };
            if maker.account == o.account && o.stp == StpMode::Decrement {
                let prevented = leaves.min(maker.leaves);
                maker.leaves -= prevented;
                level.total -= prevented;
                leaves -= prevented;
                let (maker_id, maker_left) = (maker.order_id, maker.leaves);
                if maker_left == 0 {
                    level.orders.pop_front();
                    if level.orders.is_empty() {
                        book.remove(&level_px);
                    }
                    self.index.remove(&maker_id);
                    out.push(MatchEvent::Expired {
                        order_id: maker_id,
                        leaves: Qty::from_lots(prevented),
                        in_match: true,
                    });
                } else {
                    out.push(MatchEvent::Decremented {
                        order_id: maker_id,
                        qty: Qty::from_lots(prevented),
                    });
                }
                self.touched.push((opp, level_px));
                if leaves == 0 {
                    out.push(MatchEvent::Expired {
                        order_id: o.order_id,
                        leaves: Qty::from_lots(prevented),
                        in_match: true,
                    });
                    taker_expired = true;
                    break;
                }
                // The taker keeps `leaves` less the prevented part: report it with its expiry or rest.
                out.push(MatchEvent::Decremented {
                    order_id: o.order_id,
                    qty: Qty::from_lots(prevented),
                });
                continue;
            }
            if maker.account == o.account && o.stp != StpMode::None {
                let maker_id = maker.order_id;
                let maker_leaves = maker.leaves;
                if matches!(o.stp, StpMode::ExpireMaker | StpMode::ExpireBoth) {
                    level.total -= maker_leaves;
                    level.orders.pop_front();
                    if level.orders.is_empty() {
                        book.remove(&level_px);
                    }
                    self.index.remove(&maker_id);
                    self.touched.push((opp, level_px));
                    out.push(MatchEvent::Expired {
                        order_id: maker_id,
                        leaves: Qty::from_lots(maker_leaves),
                        in_match: true,
                    });
                }
                if matches!(o.stp, StpMode::ExpireTaker | StpMode::ExpireBoth) {
                    out.push(MatchEvent::Expired {
                        order_id: o.order_id,
                        leaves: Qty::from_lots(leaves),
                        in_match: true,
                    });
                    taker_expired = true;
                    break;
                }
                continue;
            }
            let qty = leaves.min(maker.leaves);
            maker.leaves -= qty;
            leaves -= qty;
            level.total -= qty;
            let (maker_id, maker_account, maker_leaves) =
                (maker.order_id, maker.account, maker.leaves);
            if maker_leaves == 0 {
                level.orders.pop_front();
                if level.orders.is_empty() {
                    book.remove(&level_px);
                }
                self.index.remove(&maker_id);
            }
            self.next_trade_id += 1;
            self.touched.push((opp, level_px));
            out.push(MatchEvent::Fill {
                trade_id,
                taker: o.order_id,
                maker: maker_id,
                maker_account,
                taker_side: o.side,
                price: level_px,
                qty: Qty::from_lots(qty),
                taker_leaves: Qty::from_lots(leaves),
                maker_leaves: Qty::from_lots(maker_leaves),
            });
        }
        if leaves > 0 && !taker_expired {
            let rests = o.kind != OrderType::Market
                && matches!(o.tif, TimeInForce::Gtc | TimeInForce::Gtx)
                || o.kind == OrderType::LimitMaker;
            if rests {
                let level = self.book(o.side).entry(o.price).or_default();
                level.orders.push_back(Resting {
                    order_id: o.order_id,
                    account: o.account,
                    leaves,
                    since: now,
                });
                level.total += leaves;
                self.index.insert(o.order_id, (o.side, o.price));
                self.touched.push((o.side, o.price));
                out.push(MatchEvent::Rested {
                    order_id: o.order_id,
                    leaves: Qty::from_lots(leaves),
                });
            } else {
                out.push(MatchEvent::Expired {
                    order_id: o.order_id,
                    leaves: Qty::from_lots(leaves),
                    in_match: false,
                });
            }
        }
        self.emit_levels(out);
    }

    /// Cancels a resting order; `false` when it is not resting (Binance: -2011 "Unknown order sent.").
    pub fn cancel(&mut self, order_id: u64, out: &mut Vec<MatchEvent>) -> bool {
        self.touched.clear();
        let Some((side, price)) = self.index.remove(&order_id) else {
            return false;
        };
        let book = self.book(side);
        let Some(level) = book.get_mut(&price) else {
            return false;
        };
        let Some(pos) = level.orders.iter().position(|r| r.order_id == order_id) else {
            return false;
        };
        let Some(r) = level.orders.remove(pos) else {
            return false;
        };
        level.total -= r.leaves;
        if level.orders.is_empty() {
            book.remove(&price);
        }
        self.touched.push((side, price));
        out.push(MatchEvent::Canceled {
            order_id,
            leaves: Qty::from_lots(r.leaves),
        });
        self.emit_levels(out);
        true
    }

    /// Takes `lots` off a resting order without moving it in its queue (a recorded partial cancel
    /// or a replayed level decrease); reported as [`MatchEvent::Decremented`] then the level. An
    /// order reduced to nothing is cancelled instead. `false` when it is not resting.
    pub fn reduce(&mut self, order_id: u64, lots: i64, out: &mut Vec<MatchEvent>) -> bool {
        let Some(&(side, price)) = self.index.get(&order_id) else {
            return false;
        };
        let Some(level) = self.book(side).get_mut(&price) else {
            return false;
        };
        let Some(r) = level.orders.iter_mut().find(|r| r.order_id == order_id) else {
            return false;
        };
        if lots >= r.leaves {
            return self.cancel(order_id, out);
        }
        if lots <= 0 {
            return true;
        }
        r.leaves -= lots;
        level.total -= lots;
        self.touched.clear();
        self.touched.push((side, price));
        out.push(MatchEvent::Decremented {
            order_id,
            qty: Qty::from_lots(lots),
        });
        self.emit_levels(out);
        true
    }

    /// The queue at one price level, front first: `(order id, account, open quantity)`.
    pub fn level_queue(&self, side: Side, price: Price) -> Vec<(u64, u32, Qty)> {
        match side {
            Side::Buy => self.bids.get(&price),
            Side::Sell => self.asks.get(&price),
        }
        .map(|l| {
            l.orders
                .iter()
                .map(|r| (r.order_id, r.account, Qty::from_lots(r.leaves)))
                .collect()
        })
        .unwrap_or_default()
    }

    fn emit_levels(&mut self, out: &mut Vec<MatchEvent>) {
        self.touched.sort_unstable_by_key(|(s, p)| (*s as u8, *p));
        self.touched.dedup();
        for &(side, price) in &self.touched {
            let total = match side {
                Side::Buy => self.bids.get(&price),
                Side::Sell => self.asks.get(&price),
            }
            .map_or(0, |l| l.total);
            out.push(MatchEvent::Level {
                side,
                price,
                qty: Qty::from_lots(total),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: UnixNanos = UnixNanos(0);

    fn limit(id: u64, account: u32, side: Side, px: i64, qty: i64, tif: TimeInForce) -> NewOrder {
        NewOrder {
            order_id: id,
            account,
            side,
            kind: OrderType::Limit,
            tif,
            price: Price::from_ticks(px),
            qty: Qty::from_lots(qty),
            stp: StpMode::ExpireMaker,
        }
    }

    fn fills(ev: &[MatchEvent]) -> Vec<(u64, u64, i64, i64)> {
        ev.iter()
            .filter_map(|e| match e {
                MatchEvent::Fill {
                    taker,
                    maker,
                    price,
                    qty,
                    ..
                } => Some((*taker, *maker, price.ticks(), qty.lots())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn price_then_time_priority() {
        let mut m = MatchingEngine::new(1);
        let mut ev = Vec::new();
        m.submit(
            &limit(1, 1, Side::Sell, 101, 5, TimeInForce::Gtc),
            T,
            &mut ev,
        );
        m.submit(
            &limit(2, 2, Side::Sell, 100, 5, TimeInForce::Gtc),
            T,
            &mut ev,
        );
        m.submit(
            &limit(3, 3, Side::Sell, 100, 5, TimeInForce::Gtc),
            T,
            &mut ev,
        );
        assert_eq!(m.queue_ahead(3), Some(Qty::from_lots(5)));
        ev.clear();
        m.submit(
            &limit(4, 9, Side::Buy, 101, 12, TimeInForce::Gtc),
            T,
            &mut ev,
        );
        assert_eq!(
            fills(&ev),
            vec![(4, 2, 100, 5), (4, 3, 100, 5), (4, 1, 101, 2)]
        );
        assert_eq!(m.open_qty(1), Some(Qty::from_lots(3)));
        assert_eq!(
            m.best_ask(),
            Some((Price::from_ticks(101), Qty::from_lots(3)))
        );
        assert!(ev.contains(&MatchEvent::Level {
            side: Side::Sell,
            price: Price::from_ticks(100),
            qty: Qty::ZERO
        }));
    }

    #[test]
    fn ioc_fok_market_and_post_only() {
        let mut m = MatchingEngine::new(1);
        let mut ev = Vec::new();
        m.submit(
            &limit(1, 1, Side::Sell, 100, 5, TimeInForce::Gtc),
            T,
            &mut ev,
        );
        ev.clear();
        m.submit(
            &limit(2, 2, Side::Buy, 100, 8, TimeInForce::Fok),
            T,
            &mut ev,
        );
        assert_eq!(
            ev,
            vec![MatchEvent::Expired {
                order_id: 2,
                leaves: Qty::from_lots(8),
                in_match: false
            }]
        );
        ev.clear();
        m.submit(
            &limit(3, 2, Side::Buy, 100, 8, TimeInForce::Ioc),
            T,
            &mut ev,
        );
        assert_eq!(fills(&ev), vec![(3, 1, 100, 5)]);
        assert!(ev.contains(&MatchEvent::Expired {
            order_id: 3,
            leaves: Qty::from_lots(3),
            in_match: false
        }));
        m.submit(
            &limit(4, 1, Side::Sell, 102, 5, TimeInForce::Gtc),
            T,
            &mut ev,
        );
        ev.clear();
        let maker = NewOrder {
            kind: OrderType::LimitMaker,
            ..limit(5, 2, Side::Buy, 102, 1, TimeInForce::Gtc)
        };
        m.submit(&maker, T, &mut ev);
        assert_eq!(
            ev,
            vec![MatchEvent::Rejected {
                order_id: 5,
                reason: RejectReason::WouldTake
            }]
        );
        ev.clear();
        m.submit(
            &limit(6, 2, Side::Buy, 101, 1, TimeInForce::Gtx),
            T,
            &mut ev,
        );
        assert_eq!(
            ev[0],
            MatchEvent::Rested {
                order_id: 6,
                leaves: Qty::from_lots(1)
            }
        );
        ev.clear();
        let mkt = NewOrder {
            kind: OrderType::Market,
            ..limit(7, 3, Side::Buy, 0, 9, TimeInForce::Gtc)
        };
        m.submit(&mkt, T, &mut ev);
        assert_eq!(fills(&ev), vec![(7, 4, 102, 5)]);
        assert!(ev.contains(&MatchEvent::Expired {
            order_id: 7,
            leaves: Qty::from_lots(4),
            in_match: false
        }));
    }

    #[test]
    fn self_trade_prevention_modes() {
        for (mode, maker_gone, taker_rests) in [
            (StpMode::ExpireMaker, true, true),
            (StpMode::ExpireTaker, false, false),
            (StpMode::ExpireBoth, true, false),
        ] {
            let mut m = MatchingEngine::new(1);
            let mut ev = Vec::new();
            m.submit(
                &limit(1, 7, Side::Sell, 100, 5, TimeInForce::Gtc),
                T,
                &mut ev,
            );
            ev.clear();
            m.submit(
                &NewOrder {
                    stp: mode,
                    ..limit(2, 7, Side::Buy, 100, 5, TimeInForce::Gtc)
                },
                T,
                &mut ev,
            );
            assert!(fills(&ev).is_empty(), "{mode:?}");
            assert_eq!(m.open_qty(1).is_none(), maker_gone, "{mode:?}");
            assert_eq!(m.open_qty(2).is_some(), taker_rests, "{mode:?}");
            assert!(ev
                .iter()
                .any(|e| matches!(e, MatchEvent::Expired { in_match: true, .. })));
        }
        let mut m = MatchingEngine::new(1);
        let mut ev = Vec::new();
        m.submit(
            &limit(1, 7, Side::Sell, 100, 5, TimeInForce::Gtc),
            T,
            &mut ev,
        );
        m.submit(
            &NewOrder {
                stp: StpMode::None,
                ..limit(2, 7, Side::Buy, 100, 5, TimeInForce::Gtc)
            },
            T,
            &mut ev,
        );
        assert_eq!(fills(&ev), vec![(2, 1, 100, 5)]);
    }

    #[test]
    fn decrement_reduces_both_sides() {
        let mut m = MatchingEngine::new(1);
        let mut ev = Vec::new();
        m.submit(
            &limit(1, 7, Side::Sell, 100, 5, TimeInForce::Gtc),
            T,
            &mut ev,
        );
        ev.clear();
        let taker = NewOrder {
            stp: StpMode::Decrement,
            ..limit(2, 7, Side::Buy, 100, 8, TimeInForce::Gtc)
        };
        m.submit(&taker, T, &mut ev);
        assert!(fills(&ev).is_empty());
        assert!(ev.contains(&MatchEvent::Expired {
            order_id: 1,
            leaves: Qty::from_lots(5),
            in_match: true
        }));
        assert!(ev.contains(&MatchEvent::Decremented {
            order_id: 2,
            qty: Qty::from_lots(5)
        }));
        assert_eq!(m.open_qty(2), Some(Qty::from_lots(3)));
    }

    #[test]
    fn cancel_and_unknown_cancel() {
        let mut m = MatchingEngine::new(1);
        let mut ev = Vec::new();
        m.submit(&limit(1, 1, Side::Buy, 99, 5, TimeInForce::Gtc), T, &mut ev);
        ev.clear();
        assert!(m.cancel(1, &mut ev));
        assert_eq!(
            ev[0],
            MatchEvent::Canceled {
                order_id: 1,
                leaves: Qty::from_lots(5)
            }
        );
        assert!(!m.cancel(1, &mut ev));
        assert_eq!(m.resting_orders(), 0);
        assert_eq!(m.best_bid(), None);
    }

    #[test]
    fn reduce_keeps_priority_and_iteration_is_in_priority_order() {
        let mut m = MatchingEngine::new(1);
        let mut ev = Vec::new();
        for (id, side, px) in [
            (1, Side::Buy, 99),
            (2, Side::Buy, 99),
            (3, Side::Buy, 100),
            (4, Side::Sell, 102),
        ] {
            m.submit(&limit(id, 1, side, px, 10, TimeInForce::Gtc), T, &mut ev);
        }
        assert_eq!(m.reduce_to(1, Qty::from_lots(4)), Some(Qty::from_lots(6)));
        assert_eq!(
            m.reduce_to(1, Qty::from_lots(4)),
            None,
            "not below the open quantity"
        );
        assert_eq!(m.reduce_to(9, Qty::from_lots(1)), None);
        assert_eq!(m.queue_ahead(2), Some(Qty::from_lots(4)));
        assert_eq!(
            m.order(1),
            Some((Side::Buy, Price::from_ticks(99), Qty::from_lots(4), 1))
        );
        let mut seen = Vec::new();
        m.for_each_order(|_, p, id, q| seen.push((id, p.ticks(), q.lots())));
        assert_eq!(
            seen,
            vec![(3, 100, 10), (1, 99, 4), (2, 99, 10), (4, 102, 10)]
        );
        assert!(m.would_take(Side::Buy, Some(Price::from_ticks(102))));
        assert!(!m.would_take(Side::Buy, Some(Price::from_ticks(101))));
        assert!(m.would_take(Side::Sell, None));
    }

    proptest! {
        /// The book is never crossed after any request; quantity is conserved; level totals match.
        #[test]
        fn never_crossed_and_conserves_quantity(
            reqs in proptest::collection::vec((any::<bool>(), 90i64..110, 1i64..20, 0u8..5, 0u32..3), 1..300)
        ) {
            let mut m = MatchingEngine::new(1);
            let mut ev = Vec::new();
            let (mut submitted, mut filled2, mut expired, mut canceled) = (0i64, 0i64, 0i64, 0i64);
            for (i, (buy, px, qty, kind, acct)) in reqs.into_iter().enumerate() {
                ev.clear();
                let side = if buy { Side::Buy } else { Side::Sell };
                let id = i as u64 + 1;
                if kind == 4 && m.resting_orders() > 0 {
                    let victim = *m.index.keys().next().unwrap();
                    m.cancel(victim, &mut ev);
                } else {
                    let tif = [TimeInForce::Gtc, TimeInForce::Ioc, TimeInForce::Fok, TimeInForce::Gtx][kind as usize % 4];
                    let stp = [StpMode::None, StpMode::ExpireMaker, StpMode::ExpireTaker, StpMode::ExpireBoth, StpMode::Decrement][(px % 5) as usize];
                    m.submit(&NewOrder { stp, ..limit(id, acct, side, px, qty, tif) }, T, &mut ev);
                    if !matches!(ev.first(), Some(MatchEvent::Rejected { .. })) {
                        submitted += qty;
                    }
                }
                for e in &ev {
                    match e {
                        MatchEvent::Fill { qty, .. } => filled2 += 2 * qty.lots(),
                        MatchEvent::Expired { leaves, .. } => expired += leaves.lots(),
                        MatchEvent::Canceled { leaves, .. } => canceled += leaves.lots(),
                        MatchEvent::Decremented { qty, .. } => expired += qty.lots(),
                        _ => {}
                    }
                }
                if let (Some((b, _)), Some((a, _))) = (m.best_bid(), m.best_ask()) {
                    prop_assert!(b < a, "crossed: {b:?} >= {a:?}");
                }
                let resting: i64 = m.bids.values().chain(m.asks.values()).map(|l| l.total).sum();
                let by_orders: i64 = m.bids.values().chain(m.asks.values()).flat_map(|l| l.orders.iter()).map(|o| o.leaves).sum();
                prop_assert_eq!(resting, by_orders);
                prop_assert_eq!(submitted, resting + filled2 + expired + canceled);
            }
        }
    }
}
