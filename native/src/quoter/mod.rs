//! The fast quoter: from Python-set [`QuoteParams`] and the book's top, the desired multi-level
//! quotes and the minimal set of new / cancel / replace actions that turns our working quotes into
//! them.
//!
//! Prices in the parameters are in milli-ticks (1/1000 of a tick) so Python can steer with
//! fractional fair values; quotes land on the tick grid by a named side (bids floor, asks ceil).
//!
//! # Hot path
//! Runs on the session's pinned thread after every book change. Fixed-size arrays only; no
//! allocation, no clock read (time is the event's `now`).

use arrayvec::ArrayVec;

use crate::engine::params::Words;
use crate::model::{ClientOrderId, Price, Qty, Side, UnixNanos};

/// Most quote levels per side.
pub const MAX_LEVELS: usize = 8;
/// Most working quotes tracked per side (levels plus ones being cancelled).
pub const MAX_QUOTES: usize = 2 * MAX_LEVELS;
/// Most actions one [`Quoter::update`] emits.
pub const MAX_ACTIONS: usize = 2 * MAX_QUOTES;

/// How the quote anchor is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i64)]
pub enum Anchor {
    /// `fair_value_mt` as Python set it.
    FairValue = 0,
    /// Stoikov's weighted mid from the top of book: `(bid·askQty + ask·bidQty) / (bidQty + askQty)`.
    Microprice = 1,
    /// `(bid + ask) / 2`.
    Mid = 2,
}

/// Quoting parameters, written by Python through the parameter block (all `i64` words).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuoteParams {
    /// 1 to quote, 0 to pull every quote.
    pub enabled: i64,
    /// [`Anchor`] as its integer.
    pub anchor: i64,
    /// Fair value in milli-ticks (used with `Anchor::FairValue`).
    pub fair_value_mt: i64,
    /// Half spread around the reservation price, in milli-ticks (≥ 0).
    pub half_spread_mt: i64,
    /// Inventory skew: the reservation price moves down this many milli-ticks per lot held long.
    pub skew_mt_per_lot: i64,
    /// Levels per side, 1..=[`MAX_LEVELS`].
    pub levels: i64,
    /// Ticks between levels (≥ 1).
    pub level_spacing_ticks: i64,
    /// Lots per quote (> 0).
    pub size_lots: i64,
    /// At |inventory| ≥ this many lots, stop quoting the side that would grow it.
    pub max_inventory_lots: i64,
    /// Keep a working quote whose price is within this many ticks of the desired one (queue priority
    /// is worth more than a small improvement).
    pub requote_ticks: i64,
    /// Replace a quote older than this many ns (0: no time-to-live).
    pub ttl_ns: i64,
    /// 1: never cross the opposite touch (post-only).
    pub post_only: i64,
}

/// Words published through the parameter block, in field order.
pub const QUOTE_PARAM_WORDS: usize = 12;

impl Words<QUOTE_PARAM_WORDS> for QuoteParams {
    fn to_words(&self) -> [u64; QUOTE_PARAM_WORDS] {
        [
            self.enabled,
            self.anchor,
            self.fair_value_mt,
            self.half_spread_mt,
            self.skew_mt_per_lot,
            self.levels,
            self.level_spacing_ticks,
            self.size_lots,
            self.max_inventory_lots,
            self.requote_ticks,
            self.ttl_ns,
            self.post_only,
        ]
        .map(|v| v as u64)
    }

    fn from_words(w: [u64; QUOTE_PARAM_WORDS]) -> Self {
        let w = w.map(|v| v as i64);
        Self {
            enabled: w[0],
            anchor: w[1],
            fair_value_mt: w[2],
            half_spread_mt: w[3],
            skew_mt_per_lot: w[4],
            levels: w[5],
            level_spacing_ticks: w[6],
            size_lots: w[7],
            max_inventory_lots: w[8],
            requote_ticks: w[9],
            ttl_ns: w[10],
            post_only: w[11],
        }
    }
}

impl QuoteParams {
    /// Quoting off.
    pub const DISABLED: QuoteParams = QuoteParams {
        enabled: 0,
        anchor: 2,
        fair_value_mt: 0,
        half_spread_mt: 0,
        skew_mt_per_lot: 0,
        levels: 1,
        level_spacing_ticks: 1,
        size_lots: 1,
        max_inventory_lots: 0,
        requote_ticks: 0,
        ttl_ns: 0,
        post_only: 1,
    };

    fn valid(&self) -> bool {
        (1..=MAX_LEVELS as i64).contains(&self.levels)
            && self.half_spread_mt >= 0
            && self.level_spacing_ticks >= 1
            && self.size_lots > 0
            && self.max_inventory_lots >= 0
            && self.requote_ticks >= 0
            && self.ttl_ns >= 0
            && (0..=2).contains(&self.anchor)
    }
}

/// The top of the book the quoter sees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Top {
    /// Best bid price and size.
    pub bid: Option<(Price, Qty)>,
    /// Best ask price and size.
    pub ask: Option<(Price, Qty)>,
}

/// One action for the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuoteAction {
    /// Place a new quote.
    New {
        /// Side.
        side: Side,
        /// Price.
        price: Price,
        /// Quantity.
        qty: Qty,
    },
    /// Cancel a working quote.
    Cancel {
        /// Its client order id.
        id: ClientOrderId,
    },
    /// Cancel-replace a working quote with a new price and quantity.
    Replace {
        /// The quote being replaced.
        id: ClientOrderId,
        /// Side.
        side: Side,
        /// New price.
        price: Price,
        /// New quantity.
        qty: Qty,
    },
}

/// A fixed-capacity list of actions (inline, not initialised past its length: building one costs
/// nothing per unused slot).
#[derive(Clone, Debug, Default)]
pub struct Actions {
    buf: ArrayVec<QuoteAction, MAX_ACTIONS>,
}

impl Actions {
    fn push(&mut self, a: QuoteAction) {
        // Capacity: at most MAX_QUOTES cancels/replaces per side and MAX_LEVELS news per side.
        let _ = self.buf.try_push(a);
    }

    /// The actions, in the order to send them (cancels first, then replaces, then new quotes).
    pub fn as_slice(&self) -> &[QuoteAction] {
        &self.buf
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// One of our working quotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkingQuote {
    /// Client order id.
    pub id: ClientOrderId,
    /// Price.
    pub price: Price,
    /// Remaining quantity.
    pub qty: Qty,
    /// When it was sent.
    pub placed_at: UnixNanos,
    /// A cancel or replace is in flight: not matched, not cancelled again.
    pub pending: bool,
}

/// Counters of the quoter's decisions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuoterStats {
    /// Updates that produced desired quotes.
    pub updates: u64,
    /// Updates refused because the parameters were invalid (quotes pulled).
    pub bad_params: u64,
    /// Updates where the anchor could not be computed (book one-sided or empty; quotes pulled).
    pub no_anchor: u64,
    /// Working quotes kept as they were.
    pub kept: u64,
}

/// The quoter for one instrument: our working quotes per side and the diffing logic.
#[derive(Clone, Debug, Default)]
pub struct Quoter {
    bids: [Option<WorkingQuote>; MAX_QUOTES],
    asks: [Option<WorkingQuote>; MAX_QUOTES],
    stats: QuoterStats,
}

// Snapshot encoding (`journal::codec`): the working quotes are decision state.
crate::snap_struct!(WorkingQuote {
    id,
    price,
    qty,
    placed_at,
    pending
});
crate::snap_struct!(QuoterStats {
    updates,
    bad_params,
    no_anchor,
    kept
});
crate::snap_struct!(Quoter { bids, asks, stats });
crate::snap_struct!(Top { bid, ask });

fn div_floor(a: i64, b: i64) -> i64 {
    let q = a / b;
    if (a % b != 0) && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    }
}

fn div_ceil(a: i64, b: i64) -> i64 {
    -div_floor(-a, b)
}

/// The desired quotes for one side, best first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ladder {
    prices: [Price; MAX_LEVELS],
    qty: Qty,
    len: usize,
}

impl Ladder {
    /// The desired prices, best first.
    pub fn prices(&self) -> &[Price] {
        &self.prices[..self.len]
    }

    /// The size of every level.
    pub fn qty(&self) -> Qty {
        self.qty
    }
}

/// The anchor in milli-ticks, or `None` when the book cannot give one.
pub fn anchor_mt(params: &QuoteParams, top: &Top) -> Option<i64> {
    match params.anchor {
        0 => Some(params.fair_value_mt),
        1 => {
            let ((b, bq), (a, aq)) = (top.bid?, top.ask?);
            if b >= a {
                return None;
            }
            // In i64 when it fits (every real book: a 128-bit division costs tens of ns), else in
            // i128; both truncate toward zero, so they agree wherever both are defined.
            let fast = || {
                let den = bq.lots().checked_add(aq.lots())?;
                let num = b
                    .ticks()
                    .checked_mul(aq.lots())?
                    .checked_add(a.ticks().checked_mul(bq.lots())?)?
                    .checked_mul(1000)?;
                Some((num, den))
            };
            match fast() {
                Some((_, den)) if den <= 0 => None,
                Some((num, den)) => Some(num / den),
                None => {
                    let den = i128::from(bq.lots()) + i128::from(aq.lots());
                    if den <= 0 {
                        return None;
                    }
                    // Checked: two products near 2^126 would overflow even i128 (no real book).
                    let num = (i128::from(b.ticks()) * i128::from(aq.lots()))
                        .checked_add(i128::from(a.ticks()) * i128::from(bq.lots()))?
                        .checked_mul(1000)?;
                    i64::try_from(num / den).ok()
                }
            }
        }
        2 => {
            let ((b, _), (a, _)) = (top.bid?, top.ask?);
            if b >= a {
                return None;
            }
            b.ticks().checked_add(a.ticks())?.checked_mul(500)
        }
        _ => None,
    }
}

/// The desired bid and ask ladders for `params`, `top` and `inventory` (signed lots).
pub fn desired(params: &QuoteParams, top: &Top, inventory: i64) -> Option<(Ladder, Ladder)> {
    let anchor = anchor_mt(params, top)?;
    let skew = params.skew_mt_per_lot.checked_mul(inventory)?;
    let reservation = anchor.checked_sub(skew)?;
    let mut best_bid = div_floor(reservation.checked_sub(params.half_spread_mt)?, 1000);
    let mut best_ask = div_ceil(reservation.checked_add(params.half_spread_mt)?, 1000);
    if params.post_only != 0 {
        if let Some((a, _)) = top.ask {
            best_bid = best_bid.min(a.ticks() - 1);
        }
        if let Some((b, _)) = top.bid {
            best_ask = best_ask.max(b.ticks() + 1);
        }
    }
    if best_bid >= best_ask {
        best_bid = best_ask - 1;
    }
    let qty = Qty::from_lots(params.size_lots);
    let mut bids = Ladder {
        qty,
        ..Ladder::default()
    };
    let mut asks = Ladder {
        qty,
        ..Ladder::default()
    };
    let levels = params.levels as usize;
    let quote_bids = inventory < params.max_inventory_lots;
    let quote_asks = inventory > -params.max_inventory_lots;
    for i in 0..levels {
        let step = params.level_spacing_ticks.checked_mul(i as i64)?;
        if quote_bids && best_bid - step > 0 {
            bids.prices[bids.len] = Price::from_ticks(best_bid - step);
            bids.len += 1;
        }
        if quote_asks {
            asks.prices[asks.len] = Price::from_ticks(best_ask.checked_add(step)?);
            asks.len += 1;
        }
    }
    Some((bids, asks))
}

/// One side's diff as indices (see [`Quoter::plan_side`]).
#[derive(Clone, Copy, Default)]
struct SidePlan {
    /// (desired level, working-quote slot) pairs to cancel-replace.
    replace: [(u8, u8); MAX_LEVELS],
    n_replace: usize,
    /// Desired levels to place new.
    new: [u8; MAX_LEVELS],
    n_new: usize,
    /// Working-quote slots to cancel.
    cancel: [u8; MAX_QUOTES],
    n_cancel: usize,
}

impl Quoter {
    /// A quoter with no working quotes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counters so far.
    pub fn stats(&self) -> QuoterStats {
        self.stats
    }

    fn side_mut(&mut self, side: Side) -> &mut [Option<WorkingQuote>; MAX_QUOTES] {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    /// Our working quotes on a side.
    pub fn working(&self, side: Side) -> impl Iterator<Item = &WorkingQuote> {
        match side {
            Side::Buy => self.bids.iter(),
            Side::Sell => self.asks.iter(),
        }
        .flatten()
    }

    /// Computes the actions that move our quotes to the desired ones. `stale` pulls everything (the
    /// book cannot be trusted). The caller sends the actions, then reports them back with
    /// [`Quoter::on_sent`], [`Quoter::on_replace_sent`] and [`Quoter::on_cancel_sent`].
    pub fn update(
        &mut self,
        params: &QuoteParams,
        top: &Top,
        inventory: i64,
        stale: bool,
        now: UnixNanos,
    ) -> Actions {
        let mut out = Actions::default();
        let want = if stale || params.enabled == 0 {
            None
        } else if !params.valid() {
            self.stats.bad_params += 1;
            None
        } else {
            let d = desired(params, top, inventory);
            if d.is_none() {
                self.stats.no_anchor += 1;
            }
            d
        };
        let Some((bids, asks)) = want else {
            self.cancel_all(&mut out);
            return out;
        };
        self.stats.updates += 1;
        let plans = [
            self.plan_side(Side::Buy, &bids, params, now),
            self.plan_side(Side::Sell, &asks, params, now),
        ];
        // Cancels first (both sides), then replaces, then new quotes: what leaves the book goes
        // before what joins it.
        for (side, plan) in [Side::Buy, Side::Sell].into_iter().zip(&plans) {
            let quotes = self.side(side);
            for &qi in &plan.cancel[..plan.n_cancel] {
                if let Some(q) = &quotes[qi as usize] {
                    out.push(QuoteAction::Cancel { id: q.id });
                }
            }
        }
        for ((side, ladder), plan) in [(Side::Buy, &bids), (Side::Sell, &asks)]
            .into_iter()
            .zip(&plans)
        {
            let quotes = self.side(side);
            for &(di, qi) in &plan.replace[..plan.n_replace] {
                if let Some(q) = &quotes[qi as usize] {
                    out.push(QuoteAction::Replace {
                        id: q.id,
                        side,
                        price: ladder.prices[di as usize],
                        qty: ladder.qty(),
                    });
                }
            }
        }
        for ((side, ladder), plan) in [(Side::Buy, &bids), (Side::Sell, &asks)]
            .into_iter()
            .zip(&plans)
        {
            for &di in &plan.new[..plan.n_new] {
                out.push(QuoteAction::New {
                    side,
                    price: ladder.prices[di as usize],
                    qty: ladder.qty(),
                });
            }
        }
        out
    }

    fn cancel_all(&mut self, out: &mut Actions) {
        for side in [Side::Buy, Side::Sell] {
            for q in self.side(side).iter().flatten() {
                if !q.pending {
                    out.push(QuoteAction::Cancel { id: q.id });
                }
            }
        }
    }

    fn side(&self, side: Side) -> &[Option<WorkingQuote>; MAX_QUOTES] {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    /// How one side's working quotes become `ladder`: which quotes stay (matched within the
    /// requote tolerance, keeping their queue priority), which are replaced by which level, which
    /// levels are new and which quotes are cancelled. Indices only: the actions are written once,
    /// in their sending order, by [`Quoter::update`].
    fn plan_side(
        &mut self,
        side: Side,
        ladder: &Ladder,
        params: &QuoteParams,
        now: UnixNanos,
    ) -> SidePlan {
        let quotes = match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        };
        let mut matched_q = [false; MAX_QUOTES];
        let mut matched_d = [false; MAX_LEVELS];
        let fresh = |q: &WorkingQuote| {
            params.ttl_ns == 0 || now.saturating_since(q.placed_at) < params.ttl_ns as u64
        };
        // Sort keys: ascending key = best first on both sides (bids are negated).
        let dir = match side {
            Side::Buy => -1,
            Side::Sell => 1,
        };
        let mut cand = [(0i64, 0u8); MAX_QUOTES];
        let mut n = 0;
        for (qi, q) in quotes.iter().enumerate() {
            if let Some(q) = q {
                if !q.pending && q.qty == ladder.qty() && fresh(q) {
                    cand[n] = (dir * q.price.ticks(), qi as u8);
                    n += 1;
                }
            }
        }
        cand[..n].sort_unstable();
        // Two pointers over both best-first lists: the greedy matching of points within the requote
        // tolerance keeps the most quotes (and their queue priority); with tolerance 0 it is exact.
        let tol = params.requote_ticks;
        let (mut i, mut j, mut kept) = (0, 0, 0);
        while i < ladder.len && j < n {
            let kd = dir * ladder.prices[i].ticks();
            let (kc, qi) = cand[j];
            if (kd - kc).abs() <= tol {
                matched_d[i] = true;
                matched_q[qi as usize] = true;
                kept += 1;
                i += 1;
                j += 1;
            } else if kc < kd {
                j += 1;
            } else {
                i += 1;
            }
        }
        // Unmatched levels take the unmatched, settled quotes in slot order (replace), then are new;
        // the quotes left over are cancelled.
        let unmatched = |qi: usize| quotes[qi].is_some_and(|q| !matched_q[qi] && !q.pending);
        let mut plan = SidePlan::default();
        let mut qi = 0;
        for (di, &matched) in matched_d.iter().enumerate().take(ladder.len) {
            if matched {
                continue;
            }
            while qi < MAX_QUOTES && !unmatched(qi) {
                qi += 1;
            }
            if qi < MAX_QUOTES {
                plan.replace[plan.n_replace] = (di as u8, qi as u8);
                plan.n_replace += 1;
                qi += 1;
            } else {
                plan.new[plan.n_new] = di as u8;
                plan.n_new += 1;
            }
        }
        for qi in qi..MAX_QUOTES {
            if unmatched(qi) {
                plan.cancel[plan.n_cancel] = qi as u8;
                plan.n_cancel += 1;
            }
        }
        self.stats.kept += kept;
        plan
    }

    /// Whether `side` can track one more working quote (check before sending a new one).
    pub fn has_room(&self, side: Side) -> bool {
        match side {
            Side::Buy => self.bids.iter().any(Option::is_none),
            Side::Sell => self.asks.iter().any(Option::is_none),
        }
    }

    /// A new quote was sent with client order id `id`. Returns `false` when the side is full (the
    /// caller must not have sent it; [`MAX_QUOTES`] bounds the table).
    pub fn on_sent(
        &mut self,
        id: ClientOrderId,
        side: Side,
        price: Price,
        qty: Qty,
        now: UnixNanos,
    ) -> bool {
        let slots = self.side_mut(side);
        match slots.iter_mut().find(|s| s.is_none()) {
            Some(slot) => {
                *slot = Some(WorkingQuote {
                    id,
                    price,
                    qty,
                    placed_at: now,
                    pending: false,
                });
                true
            }
            None => false,
        }
    }

    /// A cancel for `id` was sent: the quote stays until [`Quoter::on_done`], but is not matched.
    pub fn on_cancel_sent(&mut self, id: ClientOrderId) {
        if let Some(q) = self.find_mut(id) {
            q.pending = true;
        }
    }

    /// The venue refused our cancel of `id` and the order still rests: it may be matched again.
    pub fn on_cancel_rejected(&mut self, id: ClientOrderId) {
        if let Some(q) = self.find_mut(id) {
            q.pending = false;
        }
    }

    /// A cancel-replace was sent: `old` is pending cancel and `new_id` takes its place.
    pub fn on_replace_sent(
        &mut self,
        old: ClientOrderId,
        new_id: ClientOrderId,
        side: Side,
        price: Price,
        qty: Qty,
        now: UnixNanos,
    ) -> bool {
        self.on_cancel_sent(old);
        self.on_sent(new_id, side, price, qty, now)
    }

    /// `qty` of quote `id` filled.
    pub fn on_fill(&mut self, id: ClientOrderId, qty: Qty) {
        let mut gone = false;
        if let Some(q) = self.find_mut(id) {
            q.qty = Qty::from_lots(q.qty.lots() - qty.lots());
            gone = q.qty.lots() <= 0;
        }
        if gone {
            self.on_done(id);
        }
    }

    /// Quote `id` left the book (filled, cancelled, expired, rejected).
    pub fn on_done(&mut self, id: ClientOrderId) {
        // Client ids are unique forever: at most one slot holds `id`.
        if let Some(slot) = self
            .bids
            .iter_mut()
            .chain(self.asks.iter_mut())
            .find(|s| s.is_some_and(|q| q.id == id))
        {
            *slot = None;
        }
    }

    fn find_mut(&mut self, id: ClientOrderId) -> Option<&mut WorkingQuote> {
        self.bids
            .iter_mut()
            .chain(self.asks.iter_mut())
            .flatten()
            .find(|q| q.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: UnixNanos = UnixNanos(1_000);

    fn params() -> QuoteParams {
        QuoteParams {
            enabled: 1,
            anchor: Anchor::Mid as i64,
            fair_value_mt: 0,
            half_spread_mt: 1_500,
            skew_mt_per_lot: 0,
            levels: 3,
            level_spacing_ticks: 1,
            size_lots: 10,
            max_inventory_lots: 100,
            requote_ticks: 0,
            ttl_ns: 0,
            post_only: 1,
        }
    }

    fn top(b: i64, a: i64) -> Top {
        Top {
            bid: Some((Price::from_ticks(b), Qty::from_lots(5))),
            ask: Some((Price::from_ticks(a), Qty::from_lots(5))),
        }
    }

    /// Sends the actions with ids from `next`, as the engine would.
    fn apply(q: &mut Quoter, acts: &Actions, next: &mut u64, now: UnixNanos) {
        for a in acts.as_slice() {
            match *a {
                QuoteAction::New { side, price, qty } => {
                    assert!(q.on_sent(ClientOrderId(*next), side, price, qty, now));
                    *next += 1;
                }
                QuoteAction::Replace {
                    id,
                    side,
                    price,
                    qty,
                } => {
                    assert!(q.on_replace_sent(id, ClientOrderId(*next), side, price, qty, now));
                    q.on_done(id);
                    *next += 1;
                }
                QuoteAction::Cancel { id } => {
                    q.on_cancel_sent(id);
                    q.on_done(id);
                }
            }
        }
    }

    fn prices(q: &Quoter, side: Side) -> Vec<i64> {
        let mut v: Vec<i64> = q.working(side).map(|w| w.price.ticks()).collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn symmetric_ladder_around_mid() {
        // mid 100.5 ticks, half spread 1.5 ticks: bid floor(99.0)=99, ask ceil(102.0)=102.
        let (b, a) = desired(&params(), &top(100, 101), 0).unwrap();
        assert_eq!(
            b.prices(),
            &[
                Price::from_ticks(99),
                Price::from_ticks(98),
                Price::from_ticks(97)
            ]
        );
        assert_eq!(
            a.prices(),
            &[
                Price::from_ticks(102),
                Price::from_ticks(103),
                Price::from_ticks(104)
            ]
        );
    }

    #[test]
    fn microprice_leans_toward_the_thin_side() {
        let p = QuoteParams {
            anchor: Anchor::Microprice as i64,
            ..params()
        };
        let t = Top {
            bid: Some((Price::from_ticks(100), Qty::from_lots(9))),
            ask: Some((Price::from_ticks(101), Qty::from_lots(1))),
        };
        // (100·1 + 101·9)/10 = 100.9 ticks.
        assert_eq!(anchor_mt(&p, &t), Some(100_900));
    }

    #[test]
    fn inventory_skews_and_caps() {
        let p = QuoteParams {
            skew_mt_per_lot: 100,
            ..params()
        };
        // Long 10 lots: reservation 100.5 - 1.0 = 99.5 → bid 98, ask 101.
        let (b, a) = desired(&p, &top(100, 101), 10).unwrap();
        assert_eq!((b.prices()[0].ticks(), a.prices()[0].ticks()), (98, 101));
        let (b, a) = desired(&p, &top(100, 101), 100).unwrap();
        assert!(b.prices().is_empty(), "at max long, no bids");
        assert_eq!(a.prices().len(), 3);
    }

    #[test]
    fn post_only_never_crosses_the_touch() {
        let p = QuoteParams {
            anchor: Anchor::FairValue as i64,
            fair_value_mt: 110_000,
            half_spread_mt: 0,
            ..params()
        };
        let (b, a) = desired(&p, &top(100, 101), 0).unwrap();
        assert_eq!(b.prices()[0].ticks(), 100, "bid clamped below the ask");
        assert!(a.prices()[0].ticks() >= 110);
    }

    #[test]
    fn no_actions_when_nothing_changed_and_keeps_priority_within_threshold() {
        let mut q = Quoter::new();
        let mut next = 1;
        let acts = q.update(&params(), &top(100, 101), 0, false, T0);
        assert_eq!(acts.as_slice().len(), 6);
        apply(&mut q, &acts, &mut next, T0);
        assert!(q.update(&params(), &top(100, 101), 0, false, T0).is_empty());
        // The book moves up one tick: with requote 0, one replace per side (the ladders overlap).
        let acts = q.update(&params(), &top(101, 102), 0, false, T0);
        assert_eq!(acts.as_slice().len(), 2, "{:?}", acts.as_slice());
        assert!(acts
            .as_slice()
            .iter()
            .all(|a| matches!(a, QuoteAction::Replace { .. })));
        // With a requote threshold of 1 tick, nothing moves.
        let p = QuoteParams {
            requote_ticks: 1,
            ..params()
        };
        assert!(q.update(&p, &top(101, 102), 0, false, T0).is_empty());
    }

    #[test]
    fn stale_bad_params_or_one_sided_book_pull_everything() {
        let mut q = Quoter::new();
        let mut next = 1;
        let acts = q.update(&params(), &top(100, 101), 0, false, T0);
        apply(&mut q, &acts, &mut next, T0);
        let pulled = q.update(&params(), &top(100, 101), 0, true, T0);
        assert_eq!(pulled.as_slice().len(), 6);
        assert!(pulled
            .as_slice()
            .iter()
            .all(|a| matches!(a, QuoteAction::Cancel { .. })));
        let bad = QuoteParams {
            levels: 0,
            ..params()
        };
        assert_eq!(
            q.update(&bad, &top(100, 101), 0, false, T0)
                .as_slice()
                .len(),
            6
        );
        assert_eq!(q.stats().bad_params, 1);
        let one_sided = Top {
            ask: None,
            ..top(100, 101)
        };
        assert_eq!(
            q.update(&params(), &one_sided, 0, false, T0)
                .as_slice()
                .len(),
            6
        );
        // Pending cancels are not cancelled twice.
        for a in pulled.as_slice() {
            if let QuoteAction::Cancel { id } = a {
                q.on_cancel_sent(*id);
            }
        }
        assert!(q.update(&params(), &top(100, 101), 0, true, T0).is_empty());
    }

    #[test]
    fn ttl_expiry_replaces_old_quotes() {
        let p = QuoteParams {
            ttl_ns: 1_000,
            levels: 1,
            ..params()
        };
        let mut q = Quoter::new();
        let mut next = 1;
        let acts = q.update(&p, &top(100, 101), 0, false, T0);
        apply(&mut q, &acts, &mut next, T0);
        assert!(q
            .update(&p, &top(100, 101), 0, false, UnixNanos(T0.0 + 999))
            .is_empty());
        assert_eq!(
            q.update(&p, &top(100, 101), 0, false, UnixNanos(T0.0 + 1_000))
                .as_slice()
                .len(),
            2
        );
    }

    proptest! {
        /// The microprice in i64 (the fast path) equals the i128 formula wherever the inputs fit,
        /// and falls back to it (same answer) near the edges of the integer range.
        #[test]
        fn microprice_matches_the_wide_formula(
            b in prop_oneof![1i64..1_000_000, 1i64..i64::MAX / 2],
            width in 1i64..1_000,
            bq in prop_oneof![0i64..10_000_000, 0i64..i64::MAX / 2],
            aq in prop_oneof![0i64..10_000_000, 0i64..i64::MAX / 2],
        ) {
            let a = b.saturating_add(width);
            let p = QuoteParams { anchor: Anchor::Microprice as i64, ..params() };
            let t = Top {
                bid: Some((Price::from_ticks(b), Qty::from_lots(bq))),
                ask: Some((Price::from_ticks(a), Qty::from_lots(aq))),
            };
            let den = i128::from(bq) + i128::from(aq);
            let wide = (den > 0 && b < a)
                .then(|| {
                    (i128::from(b) * i128::from(aq))
                        .checked_add(i128::from(a) * i128::from(bq))?
                        .checked_mul(1000)
                })
                .flatten()
                .and_then(|v| i64::try_from(v / den).ok());
            prop_assert_eq!(anchor_mt(&p, &t), wide);
        }

        /// After sending the actions, our quotes are exactly the desired ladders; bids < asks; the
        /// post-only quotes never cross the touch.
        #[test]
        fn actions_reach_the_desired_state(
            steps in proptest::collection::vec((50i64..150, 1i64..5, -150i64..150, 0i64..3_000, 1i64..5, 0i64..3), 1..40)
        ) {
            let mut q = Quoter::new();
            let mut next = 1;
            for (bid, width, inv, hs, levels, requote) in steps {
                let p = QuoteParams { half_spread_mt: hs, levels, skew_mt_per_lot: 10, requote_ticks: requote, ..params() };
                let t = top(bid, bid + width);
                let acts = q.update(&p, &t, inv, false, T0);
                apply(&mut q, &acts, &mut next, T0);
                let (b, a) = desired(&p, &t, inv).unwrap();
                let (qb, qa) = (prices(&q, Side::Buy), prices(&q, Side::Sell));
                prop_assert_eq!(qb.len(), b.prices().len());
                prop_assert_eq!(qa.len(), a.prices().len());
                if requote == 0 {
                    let mut wb: Vec<i64> = b.prices().iter().map(|p| p.ticks()).collect();
                    wb.sort_unstable();
                    let mut wa: Vec<i64> = a.prices().iter().map(|p| p.ticks()).collect();
                    wa.sort_unstable();
                    prop_assert_eq!(&qb, &wb);
                    prop_assert_eq!(&qa, &wa);
                }
                if let (Some(hb), Some(la)) = (b.prices().first(), a.prices().first()) {
                    prop_assert!(hb < la);
                    prop_assert!(hb.ticks() < bid + width && la.ticks() > bid);
                }
            }
        }
    }
}
