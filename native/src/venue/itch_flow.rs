//! The order flow that drives the ITCH/OUCH venue front ([`super::itch_front`]): anything that
//! produces add / cancel / replace / execute actions implements [`FlowSource`]. [`RandomFlow`] is the
//! seeded, uncalibrated default (the calibrated generator plugs in through the same trait).
//!
//! Runs inside the simulated venue (not on pymm's hot path).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::matching::MatchingEngine;
use crate::model::{Price, Qty, Side};

/// One action of the anonymous crowd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowAction {
    /// A day limit order; it trades first if it crosses, then rests (ITCH `A`).
    Add {
        /// Side.
        side: Side,
        /// Limit price (ITCH units of 1/10000).
        price: Price,
        /// Shares.
        qty: Qty,
    },
    /// Cancel a resting crowd order entirely (ITCH `D`).
    Cancel {
        /// The order (its ITCH reference).
        order_id: u64,
    },
    /// Reduce a resting crowd order to `to` shares, keeping its place (ITCH `X`).
    Reduce {
        /// The order.
        order_id: u64,
        /// Shares left open.
        to: Qty,
    },
    /// Cancel-replace a resting crowd order (ITCH `U`, or `D` then executions when it crosses).
    Replace {
        /// The order.
        order_id: u64,
        /// New price.
        price: Price,
        /// New shares.
        qty: Qty,
    },
    /// A marketable order taking liquidity: buy (`side` Buy) or sell `qty` at market (ITCH `E`/`P`).
    Execute {
        /// The aggressor's side.
        side: Side,
        /// Shares.
        qty: Qty,
    },
}

/// What a flow source may look at before choosing its next action.
pub struct FlowView<'a> {
    pub(crate) engine: &'a MatchingEngine,
    pub(crate) crowd: &'a BTreeSet<u64>,
}

impl FlowView<'_> {
    /// Best bid (price, aggregate shares).
    pub fn best_bid(&self) -> Option<(Price, Qty)> {
        self.engine.best_bid()
    }

    /// Best ask (price, aggregate shares).
    pub fn best_ask(&self) -> Option<(Price, Qty)> {
        self.engine.best_ask()
    }

    /// Number of resting crowd orders.
    pub fn crowd_orders(&self) -> usize {
        self.crowd.len()
    }

    /// The `i`-th resting crowd order id (ascending ids, i.e. oldest first).
    pub fn crowd_order(&self, i: usize) -> Option<u64> {
        self.crowd.iter().nth(i).copied()
    }

    /// A resting order: `(side, price, open shares)`.
    pub fn order(&self, order_id: u64) -> Option<(Side, Price, Qty)> {
        self.engine.order(order_id).map(|(s, p, q, _)| (s, p, q))
    }
}

/// A source of crowd actions. `None`: nothing this time.
pub trait FlowSource: Send {
    /// The next action given the book now.
    fn next_action(&mut self, view: &FlowView<'_>) -> Option<FlowAction>;
}

/// Parameters of [`RandomFlow`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RandomFlowConfig {
    /// Seed.
    pub seed: u64,
    /// Starting mid price in ITCH units (1/10000 dollar), used while a side is empty.
    pub mid: i64,
    /// Price levels either side of the touch where new orders land.
    pub levels: i64,
    /// Order size range in round lots, inclusive.
    pub min_lots: i64,
    /// Largest order, round lots.
    pub max_lots: i64,
    /// Shares per round lot.
    pub round_lot: i64,
    /// Probabilities (relative weights) of add, cancel, reduce, replace, execute.
    pub weights: [u32; 5],
    /// Above this many resting crowd orders, cancels take the place of adds.
    pub max_resting: usize,
}

impl Default for RandomFlowConfig {
    fn default() -> Self {
        Self {
            seed: 7,
            mid: 1_000_000,
            levels: 10,
            min_lots: 1,
            max_lots: 10,
            round_lot: 100,
            weights: [50, 25, 5, 8, 12],
            max_resting: 400,
        }
    }
}

/// Seeded random flow: adds near the touch, cancels, partial cancels, replaces and market orders.
/// Not calibrated against any market (see the calibrated generator for that).
#[derive(Clone, Debug)]
pub struct RandomFlow {
    cfg: RandomFlowConfig,
    tick: i64,
    rng: Rng,
}

/// A 64-bit xorshift* generator (deterministic per seed).
#[derive(Clone, Copy, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is replaced by a constant).
    pub fn new(seed: u64) -> Self {
        let mut s = Self(seed ^ 0x9E37_79B9_7F4A_7C15);
        if s.0 == 0 {
            s.0 = 0x2545_F491_4F6C_DD1D;
        }
        s.next_u64();
        s
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, n)` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// `true` with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next_u64() >> 11) as f64 / ((1u64 << 53) as f64)) < p
    }
}

impl RandomFlow {
    /// A flow for a stock whose tick is `tick` ITCH units.
    pub fn new(cfg: RandomFlowConfig, tick: i64) -> Self {
        let rng = Rng::new(cfg.seed);
        Self {
            cfg,
            tick: tick.max(1),
            rng,
        }
    }

    fn lots(&mut self) -> Qty {
        let span = (self.cfg.max_lots - self.cfg.min_lots).max(0) as u64 + 1;
        let lots = self.cfg.min_lots.max(1) + self.rng.below(span) as i64;
        Qty::from_lots(lots * self.cfg.round_lot.max(1))
    }

    fn price_near(&mut self, side: Side, view: &FlowView<'_>) -> Price {
        let t = self.tick;
        let mid = match (view.best_bid(), view.best_ask()) {
            (Some((b, _)), Some((a, _))) => (b.ticks() + a.ticks()) / 2,
            (Some((b, _)), None) => b.ticks() + t,
            (None, Some((a, _))) => a.ticks() - t,
            (None, None) => self.cfg.mid,
        };
        let mid = mid / t * t;
        let k = 1 + self.rng.below(self.cfg.levels.max(1) as u64) as i64;
        let px = match side {
            Side::Buy => mid - (k - 1) * t,
            Side::Sell => mid + k * t,
        };
        Price::from_ticks(px.max(t))
    }

    fn side(&mut self) -> Side {
        if self.rng.below(2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        }
    }
}

impl FlowSource for RandomFlow {
    fn next_action(&mut self, view: &FlowView<'_>) -> Option<FlowAction> {
        let total: u32 = self.cfg.weights.iter().sum();
        let mut pick = self.rng.below(u64::from(total.max(1))) as u32;
        let mut kind = 0;
        for (i, w) in self.cfg.weights.iter().enumerate() {
            if pick < *w {
                kind = i;
                break;
            }
            pick -= w;
        }
        let n = view.crowd_orders();
        if n > self.cfg.max_resting && kind == 0 {
            kind = 1;
        }
        if n == 0 && (1..=3).contains(&kind) {
            kind = 0;
        }
        let victim = (n > 0)
            .then(|| view.crowd_order(self.rng.below(n as u64) as usize))
            .flatten();
        match kind {
            1 => victim.map(|order_id| FlowAction::Cancel { order_id }),
            2 => {
                let id = victim?;
                let (_, _, q) = view.order(id)?;
                let lots = q.lots() / self.cfg.round_lot.max(1);
                (lots > 1).then(|| FlowAction::Reduce {
                    order_id: id,
                    to: Qty::from_lots(
                        (1 + self.rng.below(lots as u64 - 1) as i64) * self.cfg.round_lot.max(1),
                    ),
                })
            }
            3 => {
                let id = victim?;
                let (side, _, _) = view.order(id)?;
                let price = self.price_near(side, view);
                let qty = self.lots();
                Some(FlowAction::Replace {
                    order_id: id,
                    price,
                    qty,
                })
            }
            4 => {
                let side = self.side();
                let qty = self.lots();
                Some(FlowAction::Execute { side, qty })
            }
            _ => {
                let side = self.side();
                let price = self.price_near(side, view);
                let qty = self.lots();
                Some(FlowAction::Add { side, price, qty })
            }
        }
    }
}
