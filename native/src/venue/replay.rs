//! The replay driver: a recorded market fed into the simulated venue's book, with the client's
//! resting orders queued behind the recorded ones.
//!
//! Recorded liquidity rests in the [`SpotVenue`] as orders of a house account (the *book* account),
//! so the venue's depth stream, REST depth and matching see recorded and client orders in one
//! price-time queue. Recorded trades are replayed as IOC orders of a second house account (the
//! *taker*), so they consume the queue front first, client orders included: a client order fills
//! only once the quantity ahead of it has traded. The recording is not changed by what the client
//! does (no market impact): after a client fill the recorded levels are re-aligned with the
//! recording at the next update.
//!
//! **L3** (DBN MBO, LOBSTER): every recorded order is one engine order, so the queue is exact FIFO.
//! A recorded execution of order `X` first sends a taker IOC for the client quantity that rests
//! ahead of `X` (at better prices, or at `X`'s price in front of it): in a FIFO market the aggressor
//! would have met those first. Partial cancels keep priority; a modify that changes the price or
//! raises the size loses it (CME and Nasdaq rules).
//!
//! **L2** (Binance `depth@100ms` captures): a level is a stack of recorded *chunks*. An increase
//! adds a chunk at the back of the level (behind any client order already there). A decrease that
//! is not explained by a replayed trade is taken from the chunks by the [`QueueModel`]:
//!
//! * [`QueueModel::RiskAverse`]: from the back first (the client never advances except through
//!   trades or when the level shrinks below the quantity ahead) — hftbacktest's `RiskAdverseQueueModel`;
//! * [`QueueModel::Power`]`(n)`: the share taken from ahead of the first client order is
//!   `f(front) / (f(front) + f(back))` with `f(x) = x^n` (hftbacktest's `ProbQueueModel` with
//!   `PowerProbQueueFunc`): cancels are likelier where more quantity rests.

use std::collections::BTreeMap;
use std::path::Path;

use super::account::{OrderKey, PlaceOrder, SpotVenue};
use super::matching::StpMode;
use crate::feed::binance::{self, Message};
use crate::model::order::{OrderType, TimeInForce};
use crate::model::{Instrument, Price, Qty, Side, UnixNanos};

/// House account holding the recorded book.
pub const BOOK_ACCOUNT: u32 = 4_000_000_101;
/// House account sending the recorded trades.
pub const TAKER_ACCOUNT: u32 = 4_000_000_102;

/// How an L2 level decrease is split between the quantity ahead of and behind a client order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum QueueModel {
    /// Decreases come from behind first.
    RiskAverse,
    /// Probabilistic split with `f(x) = x^n`.
    Power(f64),
}

/// One recorded event, in venue units (ticks, lots).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayEvent {
    /// L2: the recorded quantity of a level is now `qty` (0: gone).
    Level {
        /// Side.
        side: Side,
        /// Price.
        price: Price,
        /// New aggregate quantity.
        qty: Qty,
    },
    /// A recorded trade print (L2 sources): `aggressor` took `qty` at `price`.
    Trade {
        /// The taker's side.
        aggressor: Side,
        /// Price.
        price: Price,
        /// Quantity.
        qty: Qty,
    },
    /// L3: a new order.
    Add {
        /// Recorded order id.
        id: u64,
        /// Side.
        side: Side,
        /// Price.
        price: Price,
        /// Size.
        qty: Qty,
    },
    /// L3: `qty` cancelled from an order (`i64::MAX` lots: all of it); priority kept.
    Cancel {
        /// Recorded order id.
        id: u64,
        /// Quantity removed.
        qty: Qty,
    },
    /// L3: the order now has `price` and `qty`.
    Modify {
        /// Recorded order id.
        id: u64,
        /// New price.
        price: Price,
        /// New size.
        qty: Qty,
    },
    /// L3: recorded order `id` executed `qty`; `book_effect`: the execution also removes the
    /// quantity from the order (LOBSTER); otherwise a later cancel/modify does (Databento MBO).
    Execute {
        /// Recorded order id.
        id: u64,
        /// Quantity.
        qty: Qty,
        /// Whether to take `qty` off the order here.
        book_effect: bool,
    },
    /// Everything recorded is gone (Databento `R`).
    Clear,
}

/// A recording loaded into memory: events with their times (ns, the source's clock).
#[derive(Clone, Debug, Default)]
pub struct Recording {
    /// Symbol (from the file, or given).
    pub symbol: String,
    /// `(time, event)` in file order.
    pub events: Vec<(UnixNanos, ReplayEvent)>,
    /// Lines or records that did not decode (counted, skipped).
    pub bad_records: u64,
    /// Quantities finer than the instrument's step (legacy orders), rounded down to it (counted).
    pub rounded_qty: u64,
}

/// What a replay did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Events applied.
    pub events: u64,
    /// Recorded trades replayed.
    pub trades: u64,
    /// Lots of client orders filled by replayed flow.
    pub client_fill_lots: i64,
    /// L3 events naming an order the replay does not know (e.g. rested before the file began).
    pub unknown_orders: u64,
    /// Recorded orders the venue refused (off-grid price, ...).
    pub rejects: u64,
}

/// Feeds a [`Recording`] into a [`SpotVenue`]; see the module docs.
#[derive(Debug)]
pub struct ReplayDriver {
    symbol: String,
    idx: usize,
    model: QueueModel,
    recording: Recording,
    next: usize,
    /// Recorded order id → (venue order id, side, price).
    l3: BTreeMap<u64, (u64, Side, Price)>,
    /// Time shift added to recorded times (so a replay can run on the venue's clock).
    offset: i128,
    stats: ReplayStats,
}

/// Errors loading a recording.
#[derive(Debug, thiserror::Error)]
pub enum ReplayLoadError {
    /// Could not read.
    #[error("{0}")]
    Io(String),
    /// Not a recognised recording.
    #[error("{0}")]
    Format(String),
}

impl ReplayDriver {
    /// A driver for `recording` on `venue` (the symbol must be listed); funds and registers the two
    /// house accounts. Recorded times are shifted so the first event happens at `start`.
    pub fn new(
        venue: &mut SpotVenue,
        recording: Recording,
        model: QueueModel,
        start: UnixNanos,
    ) -> Result<Self, ReplayLoadError> {
        let idx = venue.symbol_index(&recording.symbol).ok_or_else(|| {
            ReplayLoadError::Format(format!("symbol {} is not listed", recording.symbol))
        })?;
        let inst = venue
            .instrument(idx)
            .ok_or_else(|| ReplayLoadError::Format("no instrument".into()))?
            .clone();
        for acct in [BOOK_ACCOUNT, TAKER_ACCOUNT] {
            for asset in [&inst.base_asset, &inst.quote_asset] {
                venue
                    .deposit(acct, asset, "1000000000000000")
                    .map_err(|e| ReplayLoadError::Format(e.to_string()))?;
            }
            venue.set_house_account(acct);
        }
        let first = recording.events.first().map_or(0, |e| e.0 .0);
        Ok(Self {
            symbol: recording.symbol.clone(),
            idx,
            model,
            offset: i128::from(start.0) - i128::from(first),
            recording,
            next: 0,
            l3: BTreeMap::new(),
            stats: ReplayStats::default(),
        })
    }

    /// Counters.
    pub fn stats(&self) -> ReplayStats {
        self.stats
    }

    /// Whether every event was applied.
    pub fn done(&self) -> bool {
        self.next >= self.recording.events.len()
    }

    /// The venue time of the next event (None: done).
    pub fn next_time(&self) -> Option<UnixNanos> {
        self.recording
            .events
            .get(self.next)
            .map(|(t, _)| self.shift(*t))
    }

    fn shift(&self, t: UnixNanos) -> UnixNanos {
        UnixNanos((i128::from(t.0) + self.offset).max(0) as u64)
    }

    /// Applies every event whose (shifted) time is `<= until`; returns how many.
    pub fn advance(&mut self, venue: &mut SpotVenue, until: UnixNanos) -> u64 {
        let mut n = 0;
        while let Some(&(t, ev)) = self.recording.events.get(self.next) {
            let t = self.shift(t);
            if t > until {
                break;
            }
            self.next += 1;
            self.apply(venue, ev, t);
            n += 1;
        }
        if n > 0 {
            venue.forget_house_history();
        }
        n
    }

    /// Applies one event at venue time `now`.
    pub fn apply(&mut self, venue: &mut SpotVenue, ev: ReplayEvent, now: UnixNanos) {
        self.stats.events += 1;
        match ev {
            ReplayEvent::Level { side, price, qty } => self.level(venue, side, price, qty, now),
            ReplayEvent::Trade {
                aggressor,
                price,
                qty,
            } => {
                self.stats.trades += 1;
                self.take(venue, aggressor, price, qty.lots(), now);
            }
            ReplayEvent::Add {
                id,
                side,
                price,
                qty,
            } => {
                if let Some(vid) = self.rest(venue, side, price, qty.lots(), now) {
                    self.l3.insert(id, (vid, side, price));
                }
            }
            ReplayEvent::Cancel { id, qty } => match self.l3.get(&id).copied() {
                Some((vid, _, _)) => {
                    let open = venue.open_qty(self.idx, vid).map_or(0, Qty::lots);
                    venue.reduce_house_order(self.idx, vid, qty.lots().min(open), now);
                    if venue.open_qty(self.idx, vid).is_none() {
                        self.l3.remove(&id);
                    }
                }
                None => self.stats.unknown_orders += 1,
            },
            ReplayEvent::Modify { id, price, qty } => match self.l3.get(&id).copied() {
                Some((vid, side, old_px)) => {
                    let open = venue.open_qty(self.idx, vid).map_or(0, Qty::lots);
                    if price == old_px && qty.lots() <= open {
                        venue.reduce_house_order(self.idx, vid, open - qty.lots(), now);
                        if venue.open_qty(self.idx, vid).is_none() {
                            self.l3.remove(&id);
                        }
                    } else {
                        self.remove(venue, vid, now);
                        self.l3.remove(&id);
                        if let Some(v) = self.rest(venue, side, price, qty.lots(), now) {
                            self.l3.insert(id, (v, side, price));
                        }
                    }
                }
                None => self.stats.unknown_orders += 1,
            },
            ReplayEvent::Execute {
                id,
                qty,
                book_effect,
            } => match self.l3.get(&id).copied() {
                Some((vid, side, price)) => {
                    let ahead = self.client_ahead(venue, side, price, Some(vid));
                    let hit = ahead.min(qty.lots());
                    if hit > 0 {
                        self.take(venue, side.opposite(), price, hit, now);
                    }
                    if book_effect {
                        let open = venue.open_qty(self.idx, vid).map_or(0, Qty::lots);
                        venue.reduce_house_order(self.idx, vid, qty.lots().min(open), now);
                        if venue.open_qty(self.idx, vid).is_none() {
                            self.l3.remove(&id);
                        }
                    }
                }
                None => self.stats.unknown_orders += 1,
            },
            ReplayEvent::Clear => {
                let ids: Vec<u64> = self.l3.values().map(|v| v.0).collect();
                for vid in ids {
                    self.remove(venue, vid, now);
                }
                self.l3.clear();
            }
        }
    }

    fn text(&self, venue: &SpotVenue, price: Price, lots: i64) -> Option<(String, String)> {
        let inst: &Instrument = venue.instrument(self.idx)?;
        let q = inst.qty_scale;
        Some((
            inst.price_to_string(price),
            crate::model::decimal::format_fixed(lots * q.mantissa(), q.exp()),
        ))
    }

    /// Rests a recorded order (never trades with recorded liquidity: STP expires it instead; it
    /// may trade with a client order it crosses, as the recorded order would have).
    fn rest(
        &mut self,
        venue: &mut SpotVenue,
        side: Side,
        price: Price,
        lots: i64,
        now: UnixNanos,
    ) -> Option<u64> {
        if lots <= 0 || price.ticks() <= 0 {
            return None;
        }
        let (px, qty) = self.text(venue, price, lots)?;
        let req = PlaceOrder {
            account: BOOK_ACCOUNT,
            symbol: &self.symbol,
            side,
            order_type: OrderType::Limit,
            time_in_force: Some(TimeInForce::Gtc),
            price: Some(&px),
            qty: Some(&qty),
            quote_qty: None,
            client_order_id: None,
            stp: Some(StpMode::ExpireTaker),
        };
        let before = venue.fill_lots_of_clients(self.idx);
        let r = venue.place(&req, now);
        self.stats.client_fill_lots += venue.fill_lots_of_clients(self.idx) - before;
        match r {
            Ok(p) if p.order.is_open() => Some(p.order.order_id),
            Ok(_) => None,
            Err(_) => {
                self.stats.rejects += 1;
                None
            }
        }
    }

    fn remove(&mut self, venue: &mut SpotVenue, vid: u64, now: UnixNanos) {
        let _ = venue.cancel(BOOK_ACCOUNT, &self.symbol, OrderKey::Id(vid), None, now);
    }

    /// A replayed trade: an IOC of the taker account (STP NONE: it may meet recorded orders).
    fn take(
        &mut self,
        venue: &mut SpotVenue,
        aggressor: Side,
        price: Price,
        lots: i64,
        now: UnixNanos,
    ) {
        if lots <= 0 {
            return;
        }
        let Some((px, qty)) = self.text(venue, price, lots) else {
            return;
        };
        let req = PlaceOrder {
            account: TAKER_ACCOUNT,
            symbol: &self.symbol,
            side: aggressor,
            order_type: OrderType::Limit,
            time_in_force: Some(TimeInForce::Ioc),
            price: Some(&px),
            qty: Some(&qty),
            quote_qty: None,
            client_order_id: None,
            stp: Some(StpMode::None),
        };
        let before = venue.fill_lots_of_clients(self.idx);
        if venue.place(&req, now).is_err() {
            self.stats.rejects += 1;
        }
        self.stats.client_fill_lots += venue.fill_lots_of_clients(self.idx) - before;
    }

    /// Client quantity an aggressor against `side` meets before recorded order `vid` (or before the
    /// level's recorded orders when None): client orders at better prices, and at `price` ahead of
    /// `vid`.
    fn client_ahead(&self, venue: &SpotVenue, side: Side, price: Price, vid: Option<u64>) -> i64 {
        let mut sum = 0;
        let (bids, asks) = venue
            .depth(self.idx, usize::MAX)
            .map_or_else(Default::default, |d| (d.1, d.2));
        let levels = match side {
            Side::Buy => bids,
            Side::Sell => asks,
        };
        for (p, _) in levels {
            let better = match side {
                Side::Buy => p > price,
                Side::Sell => p < price,
            };
            if !better && p != price {
                break;
            }
            for (id, acct, q) in venue.level_queue(self.idx, side, p) {
                if p == price && Some(id) == vid {
                    break;
                }
                if acct != BOOK_ACCOUNT && acct != TAKER_ACCOUNT {
                    sum += q.lots();
                }
            }
        }
        sum
    }

    /// L2: sets the recorded quantity at `(side, price)` to `qty`.
    fn level(&mut self, venue: &mut SpotVenue, side: Side, price: Price, qty: Qty, now: UnixNanos) {
        let queue = venue.level_queue(self.idx, side, price);
        let recorded: i64 = queue
            .iter()
            .filter(|q| q.1 == BOOK_ACCOUNT)
            .map(|q| q.2.lots())
            .sum();
        let target = qty.lots();
        if target > recorded {
            self.rest(venue, side, price, target - recorded, now);
            return;
        }
        let mut cut = recorded - target;
        if cut == 0 {
            return;
        }
        // front: recorded quantity ahead of the first client order; back: the rest.
        let first_client = queue
            .iter()
            .position(|q| q.1 != BOOK_ACCOUNT && q.1 != TAKER_ACCOUNT);
        let (front, back) = match first_client {
            None => (0, recorded),
            Some(i) => {
                let f: i64 = queue[..i]
                    .iter()
                    .filter(|q| q.1 == BOOK_ACCOUNT)
                    .map(|q| q.2.lots())
                    .sum();
                (f, recorded - f)
            }
        };
        let from_front = match (first_client, self.model) {
            (None, _) => 0,
            (Some(_), QueueModel::RiskAverse) => (cut - back).max(0),
            (Some(_), QueueModel::Power(n)) => {
                let (ff, fb) = ((front as f64).powf(n), (back as f64).powf(n));
                let share = if ff + fb > 0.0 { ff / (ff + fb) } else { 0.0 };
                let mut f = (cut as f64 * share).round() as i64;
                // What the back cannot give comes from the front, and vice versa.
                f = f.max(cut - back).min(front);
                f
            }
        };
        let mut from_back = cut - from_front;
        // Take from the front (oldest first) and from the back (newest first).
        let book: Vec<(u64, i64, bool)> = {
            let mut seen_client = false;
            queue
                .iter()
                .filter_map(|q| {
                    if q.1 != BOOK_ACCOUNT {
                        if q.1 != TAKER_ACCOUNT {
                            seen_client = true;
                        }
                        return None;
                    }
                    Some((q.0, q.2.lots(), !seen_client))
                })
                .collect()
        };
        let mut front_left = from_front;
        for &(id, lots, is_front) in &book {
            if !is_front || front_left == 0 {
                continue;
            }
            let k = lots.min(front_left);
            venue.reduce_house_order(self.idx, id, k, now);
            front_left -= k;
            cut -= k;
        }
        for &(id, lots, is_front) in book.iter().rev() {
            if is_front || from_back == 0 {
                continue;
            }
            let k = lots.min(from_back);
            venue.reduce_house_order(self.idx, id, k, now);
            from_back -= k;
            cut -= k;
        }
        // Rounding leftovers: from whatever recorded quantity remains, back first.
        if cut > 0 {
            for (id, _, q) in venue.level_queue(self.idx, side, price).into_iter().rev() {
                if cut == 0 {
                    break;
                }
                let _ = q;
                if let Some(open) = venue.open_qty(self.idx, id) {
                    if venue.is_account_order(id, BOOK_ACCOUNT) {
                        let k = open.lots().min(cut);
                        venue.reduce_house_order(self.idx, id, k, now);
                        cut -= k;
                    }
                }
            }
        }
    }
}

fn parse_scaled(scale: crate::model::Scale, text: &[u8]) -> Option<i64> {
    scale.parse_units(text).ok()
}

/// A quantity in lots; one finer than the step (old Binance orders predate today's step size) is
/// rounded down to it and `rounded` counts it.
fn parse_qty(scale: crate::model::Scale, text: &[u8], rounded: &mut u64) -> Option<i64> {
    if let Ok(v) = scale.parse_units(text) {
        return Some(v);
    }
    let fine = crate::model::Scale::new(1, 12)
        .ok()?
        .parse_units(text)
        .ok()?;
    let per_lot = scale
        .mantissa()
        .checked_mul(10i64.checked_pow(12u32.checked_sub(u32::from(scale.exp()))?)?)?;
    *rounded += 1;
    Some(fine / per_lot)
}

/// A recorded print `(price, qty, buyer is maker, trade time ms)` as a [`ReplayEvent::Trade`].
fn push_trade(
    rec: &mut Recording,
    ps: crate::model::Scale,
    qs: crate::model::Scale,
    (price, qty, buyer_is_maker, time_ms): (&[u8], &[u8], bool, u64),
    rounded: &mut u64,
) {
    match (parse_scaled(ps, price), parse_qty(qs, qty, rounded)) {
        (Some(p), Some(q)) => rec.events.push((
            UnixNanos::from_millis(time_ms),
            ReplayEvent::Trade {
                aggressor: if buyer_is_maker {
                    Side::Sell
                } else {
                    Side::Buy
                },
                price: Price::from_ticks(p),
                qty: Qty::from_lots(q),
            },
        )),
        _ => rec.bad_records += 1,
    }
}

/// A diff buffered before the snapshot: `(U, u, E ms, level changes)`.
type PendingDiff = (u64, u64, u64, Vec<(Side, Price, Qty)>);

/// Loads a Binance capture (`<ns> <json>` lines, gzip or plain; several files of one session in
/// order): the REST snapshot seeds the book, the bridged `depth` diffs become [`ReplayEvent::Level`]
/// (within a diff, decreases before increases), `trade`/`aggTrade` prints become
/// [`ReplayEvent::Trade`]. Times are the exchange's (`E`, `T`), in ns.
pub fn load_binance(paths: &[&Path], inst: &Instrument) -> Result<Recording, ReplayLoadError> {
    let (ps, qs) = (inst.price_scale, inst.qty_scale);
    let mut rec = Recording {
        symbol: inst.symbol.clone(),
        ..Recording::default()
    };
    let mut synced = false;
    let mut last_u: Option<u64> = None;
    let mut pending: Vec<PendingDiff> = Vec::new();
    let mut last_t = UnixNanos(0);
    let mut rounded = 0u64;
    let mut levels =
        |side: Side, l: binance::Levels<'_>, out: &mut Vec<(Side, Price, Qty)>| -> bool {
            for lv in l.iter() {
                let Ok((p, q)) = lv else { return false };
                match (parse_scaled(ps, p), parse_qty(qs, q, &mut rounded)) {
                    (Some(p), Some(q)) => out.push((side, Price::from_ticks(p), Qty::from_lots(q))),
                    _ => return false,
                }
            }
            true
        };
    let push_diff = |rec: &mut Recording,
                     t: UnixNanos,
                     mut ch: Vec<(Side, Price, Qty)>,
                     book: &BTreeMap<(u8, i64), i64>| {
        // Decreases first, so a recorded add never meets a recorded level about to vanish.
        ch.sort_by_key(|(s, p, q)| {
            let old = book.get(&(*s as u8, p.ticks())).copied().unwrap_or(0);
            q.lots() >= old
        });
        for (side, price, qty) in ch {
            rec.events
                .push((t, ReplayEvent::Level { side, price, qty }));
        }
    };
    let mut book: BTreeMap<(u8, i64), i64> = BTreeMap::new();
    let mut trade_rounded = 0u64;
    let track = |book: &mut BTreeMap<(u8, i64), i64>, ch: &[(Side, Price, Qty)]| {
        for (s, p, q) in ch {
            if q.lots() == 0 {
                book.remove(&(*s as u8, p.ticks()));
            } else {
                book.insert((*s as u8, p.ticks()), q.lots());
            }
        }
    };
    for path in paths {
        let bytes = crate::feed::replay::read_maybe_gzip(path)
            .map_err(|e| ReplayLoadError::Io(e.to_string()))?;
        for line in bytes.split(|&c| c == b'\n') {
            if line.is_empty() {
                continue;
            }
            let Some(sp) = line.iter().position(|&c| c == b' ') else {
                rec.bad_records += 1;
                continue;
            };
            let Ok(env) = binance::decode(&line[sp + 1..]) else {
                rec.bad_records += 1;
                continue;
            };
            if let Some(s) = env.stream {
                let sym = inst.symbol.to_ascii_lowercase();
                if !s.starts_with(sym.as_bytes()) {
                    continue;
                }
            }
            match env.message {
                Message::DepthSnapshot(s) if !synced => {
                    let mut ch = Vec::new();
                    if !levels(Side::Buy, s.bids, &mut ch) || !levels(Side::Sell, s.asks, &mut ch) {
                        rec.bad_records += 1;
                        continue;
                    }
                    synced = true;
                    let t = pending
                        .first()
                        .map_or(last_t, |p| UnixNanos::from_millis(p.2));
                    track(&mut book, &ch);
                    push_diff(&mut rec, t, ch, &BTreeMap::new());
                    for (_, u, e, ch) in std::mem::take(&mut pending) {
                        if u > s.last_update_id {
                            push_diff(&mut rec, UnixNanos::from_millis(e), ch.clone(), &book);
                            track(&mut book, &ch);
                            last_u = Some(u);
                        }
                    }
                }
                Message::DepthUpdate(d) => {
                    let mut ch = Vec::new();
                    if !levels(Side::Buy, d.bids, &mut ch) || !levels(Side::Sell, d.asks, &mut ch) {
                        rec.bad_records += 1;
                        continue;
                    }
                    last_t = UnixNanos::from_millis(d.event_time_ms);
                    if !synced {
                        pending.push((d.first_update_id, d.final_update_id, d.event_time_ms, ch));
                        continue;
                    }
                    if let Some(u) = last_u {
                        if d.first_update_id != u + 1 && d.prev_final_update_id != Some(u) {
                            return Err(ReplayLoadError::Format(format!(
                                "{}: sequence gap before U={}",
                                path.display(),
                                d.first_update_id
                            )));
                        }
                    }
                    push_diff(&mut rec, last_t, ch.clone(), &book);
                    track(&mut book, &ch);
                    last_u = Some(d.final_update_id);
                }
                Message::Trade(t) if synced => {
                    let print = (t.price, t.qty, t.buyer_is_maker, t.trade_time_ms);
                    push_trade(&mut rec, ps, qs, print, &mut trade_rounded);
                }
                Message::AggTrade(t) if synced => {
                    let print = (t.price, t.qty, t.buyer_is_maker, t.trade_time_ms);
                    push_trade(&mut rec, ps, qs, print, &mut trade_rounded);
                }
                _ => {}
            }
        }
    }
    if !synced {
        return Err(ReplayLoadError::Format(
            "no depth snapshot for the symbol in the capture".into(),
        ));
    }
    rec.rounded_qty = rounded + trade_rounded;
    // Trades carry T, diffs E (the later of the two for the same change): order by time, stably.
    rec.events.sort_by_key(|e| e.0);
    Ok(rec)
}

/// Loads a Databento MBO file (`.dbn`, `.dbn.zst`) for the instrument whose tick is
/// `tick_nanos` (price units of 1e-9): A/C/M/R become book events, F (fill) an [`ReplayEvent::Execute`]
/// without book effect (the C/M that follows removes the quantity). Snapshot records replay at
/// their own time.
pub fn load_dbn(path: &Path, symbol: &str, tick_nanos: i64) -> Result<Recording, ReplayLoadError> {
    let f =
        crate::feed::dbn::DbnFile::read(path).map_err(|e| ReplayLoadError::Io(e.to_string()))?;
    let recs = f
        .mbo_records()
        .map_err(|e| ReplayLoadError::Format(e.to_string()))?;
    let mut rec = Recording {
        symbol: symbol.to_owned(),
        ..Recording::default()
    };
    for r in recs {
        let t = UnixNanos(r.ts_recv);
        let side = if r.side == b'B' {
            Side::Buy
        } else {
            Side::Sell
        };
        let price = Price::from_ticks(if r.price == i64::MAX {
            0
        } else {
            r.price / tick_nanos.max(1)
        });
        let qty = Qty::from_lots(i64::from(r.size));
        let ev = match r.action {
            b'A' => ReplayEvent::Add {
                id: r.order_id,
                side,
                price,
                qty,
            },
            b'C' => ReplayEvent::Cancel {
                id: r.order_id,
                qty,
            },
            b'M' => ReplayEvent::Modify {
                id: r.order_id,
                price,
                qty,
            },
            b'F' => ReplayEvent::Execute {
                id: r.order_id,
                qty,
                book_effect: false,
            },
            b'R' => ReplayEvent::Clear,
            _ => continue,
        };
        rec.events.push((t, ev));
    }
    Ok(rec)
}

/// Loads a LOBSTER message file: 1 add, 2 partial cancel, 3 delete, 4 visible execution (with book
/// effect); hidden executions (5), crosses (6) and halts (7) do not touch the visible book. Prices
/// are LOBSTER's (USD × 10 000) divided by `tick_units`; times are ns after midnight.
pub fn load_lobster(
    path: &Path,
    symbol: &str,
    tick_units: i64,
) -> Result<Recording, ReplayLoadError> {
    let msgs = crate::feed::lobster::read_messages(path)
        .map_err(|e| ReplayLoadError::Io(e.to_string()))?;
    let mut rec = Recording {
        symbol: symbol.to_owned(),
        ..Recording::default()
    };
    for m in msgs {
        let t = UnixNanos(m.time_ns);
        let qty = Qty::from_lots(m.size);
        let ev = match m.kind {
            1 => ReplayEvent::Add {
                id: m.order_id,
                side: m.side(),
                price: Price::from_ticks(m.price / tick_units.max(1)),
                qty,
            },
            2 => ReplayEvent::Cancel {
                id: m.order_id,
                qty,
            },
            3 => ReplayEvent::Cancel {
                id: m.order_id,
                qty: Qty::from_lots(i64::MAX),
            },
            4 => ReplayEvent::Execute {
                id: m.order_id,
                qty,
                book_effect: true,
            },
            _ => continue,
        };
        rec.events.push((t, ev));
    }
    Ok(rec)
}
