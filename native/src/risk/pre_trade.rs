//! Pre-trade risk for one venue session: every order passes here before it is encoded.
//!
//! Fail closed: an instrument without limits, a missing or stale reference price, or an arithmetic
//! overflow denies the order. Orders count against limits from the moment they are accepted here
//! (not when the venue acknowledges them), and an order whose fate is UNKNOWN stays reserved as if
//! live until the gateway resolves it.
//!
//! # Hot path
//! Runs on the session's pinned thread. All state is preallocated at construction (working orders
//! in a fixed table per instrument, rings for duplicate and fill history); no allocation, no lock,
//! no clock read (time comes in as the event's `now`).

use crate::model::{notional, ClientOrderId, InstrumentId, Price, Qty, Side, UnixNanos};

use super::deny::DenyReason;
use super::limits::{RateLimits, RiskLimits};
use super::token_bucket::TokenBucket;

/// Most working orders tracked per instrument.
pub const MAX_WORKING: usize = 64;
const DUP_RING: usize = 16;
const FILL_RING: usize = 256;

/// A new order as risk sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderCheck {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Our client order id (unique forever).
    pub client_id: ClientOrderId,
    /// Buy or sell.
    pub side: Side,
    /// Limit price.
    pub price: Price,
    /// Quantity.
    pub qty: Qty,
}

/// A working order's reservation state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// Sent, or acknowledged and resting.
    Live,
    /// Its fate is unknown (timeout, reset after send): reserved as live until resolved.
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Working {
    id: ClientOrderId,
    side: Side,
    price: Price,
    open: Qty,
    state: Reservation,
}

const EMPTY_WORKING: Working = Working {
    id: ClientOrderId(0),
    side: Side::Buy,
    price: Price::ZERO,
    open: Qty::ZERO,
    state: Reservation::Live,
};

/// A recently accepted order, as journal snapshots encode it (the ring itself is [`Recent`]).
#[derive(Clone, Copy, Debug)]
struct Submitted {
    side: Side,
    price: Price,
    qty: Qty,
    at: UnixNanos,
}

/// The last [`DUP_RING`] accepted orders, for the duplicate-order check, as parallel arrays: a
/// 32-bit fingerprint of (price, signed quantity) that one vectorisable pass compares, and the exact
/// price in ticks, quantity in lots signed by side (buy positive; 0 is an empty slot, which never
/// matches: an order's quantity is positive) and acceptance time, read only when a fingerprint
/// matched (a repeat, or a rare collision).
#[derive(Clone, Copy, Debug)]
struct Recent {
    fingerprint: [u32; DUP_RING],
    price: [i64; DUP_RING],
    signed_qty: [i64; DUP_RING],
    at: [u64; DUP_RING],
    next: usize,
}

impl Recent {
    const EMPTY: Self = Self {
        fingerprint: [0; DUP_RING],
        price: [0; DUP_RING],
        signed_qty: [0; DUP_RING],
        at: [0; DUP_RING],
        next: 0,
    };

    #[inline]
    fn fingerprint(price: i64, signed_qty: i64) -> u32 {
        let h = (price as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (signed_qty as u64);
        (h.wrapping_mul(0xC2B2_AE3D_27D4_EB4F) >> 32) as u32
    }

    fn set(&mut self, k: usize, price: i64, signed_qty: i64, at: u64) {
        self.fingerprint[k] = Self::fingerprint(price, signed_qty);
        self.price[k] = price;
        self.signed_qty[k] = signed_qty;
        self.at[k] = at;
    }

    fn push(&mut self, side: Side, price: Price, qty: Qty, at: UnixNanos) {
        let k = self.next;
        self.set(k, price.ticks(), side.sign() * qty.lots(), at.0);
        self.next = (k + 1) % DUP_RING;
    }

    /// Whether an order with `price` and `signed_qty` (non-zero) was accepted less than `window_ns`
    /// before `now`.
    #[inline]
    fn contains(&self, price: i64, signed_qty: i64, now: UnixNanos, window_ns: u64) -> bool {
        let f = Self::fingerprint(price, signed_qty);
        let mut seen = false;
        for &g in &self.fingerprint {
            seen |= g == f;
        }
        seen && (0..DUP_RING).any(|k| {
            self.price[k] == price
                && self.signed_qty[k] == signed_qty
                && now.0.saturating_sub(self.at[k]) < window_ns
        })
    }

    /// The ring in the snapshot's form (`None` for an empty slot).
    fn to_snap(self) -> [Option<Submitted>; DUP_RING] {
        let mut out = [None; DUP_RING];
        for (k, o) in out.iter_mut().enumerate() {
            let q = self.signed_qty[k];
            if q != 0 {
                *o = Some(Submitted {
                    side: if q > 0 { Side::Buy } else { Side::Sell },
                    price: Price::from_ticks(self.price[k]),
                    qty: Qty::from_lots(q.saturating_abs()),
                    at: UnixNanos(self.at[k]),
                });
            }
        }
        out
    }

    fn from_snap(ring: &[Option<Submitted>; DUP_RING], next: usize) -> Self {
        let mut r = Self::EMPTY;
        for (k, s) in ring.iter().enumerate() {
            if let Some(s) = s {
                r.set(
                    k,
                    s.price.ticks(),
                    s.side.sign().saturating_mul(s.qty.lots()),
                    s.at.0,
                );
            }
        }
        r.next = next;
        r
    }
}

/// What one pass over an instrument's working orders found for a new order.
struct Scan {
    id_working: bool,
    buys: i64,
    sells: i64,
    crosses_own: bool,
}

/// Per-instrument risk state.
#[derive(Clone, Debug)]
struct InstrumentRisk {
    limits: Option<RiskLimits>,
    /// Signed position in lots (long positive).
    position: i64,
    working: [Working; MAX_WORKING],
    n_working: usize,
    reference: Option<(Price, UnixNanos)>,
    recent: Recent,
    fills: [UnixNanos; FILL_RING],
    fills_next: usize,
    fills_seen: u64,
}

impl InstrumentRisk {
    fn new() -> Self {
        Self {
            limits: None,
            position: 0,
            working: [EMPTY_WORKING; MAX_WORKING],
            n_working: 0,
            reference: None,
            recent: Recent::EMPTY,
            fills: [UnixNanos(0); FILL_RING],
            fills_next: 0,
            fills_seen: 0,
        }
    }

    fn working(&self) -> &[Working] {
        &self.working[..self.n_working]
    }

    fn find(&self, id: ClientOrderId) -> Option<usize> {
        self.working().iter().position(|w| w.id == id)
    }

    /// One pass over the working orders (UNKNOWN included) for a new order `o`: whether its client
    /// id is already working, the working buy and sell lots, and whether `o` would match one of our
    /// own orders (a buy at or above a working sell, or the reverse).
    fn scan(&self, o: &OrderCheck) -> Scan {
        let mut s = Scan {
            id_working: false,
            buys: 0,
            sells: 0,
            crosses_own: false,
        };
        for w in self.working() {
            s.id_working |= w.id == o.client_id;
            match w.side {
                Side::Buy => {
                    s.buys += w.open.lots();
                    s.crosses_own |= o.side == Side::Sell && o.price <= w.price;
                }
                Side::Sell => {
                    s.sells += w.open.lots();
                    s.crosses_own |= o.side == Side::Buy && o.price >= w.price;
                }
            }
        }
        s
    }

    fn remove(&mut self, idx: usize) {
        self.n_working -= 1;
        self.working[idx] = self.working[self.n_working];
    }
}

// Snapshot encoding (`journal::codec`): everything but the limits (configuration).
crate::snap_enum!(Reservation { Live, Unknown });
crate::snap_struct!(Working {
    id,
    side,
    price,
    open,
    state
});
crate::snap_struct!(Submitted {
    side,
    price,
    qty,
    at
});

impl InstrumentRisk {
    fn snap_put(&self, w: &mut Vec<u8>) {
        use crate::journal::codec::Snap;
        let Self {
            limits: _,
            position,
            working,
            n_working,
            reference,
            recent,
            fills,
            fills_next,
            fills_seen,
        } = self;
        position.put(w);
        working.put(w);
        n_working.put(w);
        reference.put(w);
        recent.to_snap().put(w);
        recent.next.put(w);
        fills.put(w);
        fills_next.put(w);
        fills_seen.put(w);
    }

    fn snap_take(
        &mut self,
        r: &mut crate::journal::codec::SnapReader<'_>,
    ) -> Result<(), crate::journal::codec::SnapDecodeError> {
        use crate::journal::codec::Snap;
        self.position = Snap::get(r)?;
        self.working = Snap::get(r)?;
        self.n_working = Snap::get(r)?;
        if self.n_working > MAX_WORKING {
            return Err(r.bad(
                "risk n_working",
                format!("{} > {MAX_WORKING}", self.n_working),
            ));
        }
        self.reference = Snap::get(r)?;
        let recent: [Option<Submitted>; DUP_RING] = Snap::get(r)?;
        let recent_next: usize = Snap::get(r)?;
        self.fills = Snap::get(r)?;
        self.fills_next = Snap::get(r)?;
        self.fills_seen = Snap::get(r)?;
        if recent_next >= DUP_RING || self.fills_next >= FILL_RING {
            return Err(r.bad("risk ring index", "out of range"));
        }
        self.recent = Recent::from_snap(&recent, recent_next);
        Ok(())
    }
}

/// Counters of what risk decided (read by the metrics snapshotter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RiskStats {
    /// Orders accepted.
    pub accepted: u64,
    /// Orders denied, all reasons.
    pub denied: u64,
    /// Cancels passed (cancels are never denied: refusing one only adds risk).
    pub cancels: u64,
    /// Lifecycle events naming an order risk does not know (a reconciliation signal).
    pub unknown_order_events: u64,
}

crate::snap_struct!(RiskStats {
    accepted,
    denied,
    cancels,
    unknown_order_events
});

/// Pre-trade risk for one venue session.
#[derive(Clone, Debug)]
pub struct PreTradeRisk {
    instruments: Vec<InstrumentRisk>,
    venue_orders: TokenBucket,
    messages: TokenBucket,
    killed: bool,
    throttled: bool,
    venue_block_until: UnixNanos,
    stats: RiskStats,
}

impl PreTradeRisk {
    /// Appends risk's journalled state for a snapshot (`journal::codec`): positions, working
    /// reservations, duplicate and fill history, bucket levels, the kill latch, blocks, counters.
    /// Limits and rates are configuration and stay as constructed.
    pub fn snap_put(&self, w: &mut Vec<u8>) {
        use crate::journal::codec::Snap;
        let Self {
            instruments,
            venue_orders,
            messages,
            killed,
            throttled,
            venue_block_until,
            stats,
        } = self;
        instruments.len().put(w);
        for i in instruments {
            i.snap_put(w);
        }
        venue_orders.snap_put(w);
        messages.snap_put(w);
        killed.put(w);
        throttled.put(w);
        venue_block_until.put(w);
        stats.put(w);
    }

    /// Restores what [`PreTradeRisk::snap_put`] wrote into risk built with the same instruments.
    pub fn snap_take(
        &mut self,
        r: &mut crate::journal::codec::SnapReader<'_>,
    ) -> Result<(), crate::journal::codec::SnapDecodeError> {
        use crate::journal::codec::Snap;
        let n = usize::get(r)?;
        if n != self.instruments.len() {
            return Err(r.bad(
                "risk instruments",
                format!("{n} in the snapshot, {} configured", self.instruments.len()),
            ));
        }
        for i in &mut self.instruments {
            i.snap_take(r)?;
        }
        self.venue_orders.snap_take(r)?;
        self.messages.snap_take(r)?;
        self.killed = Snap::get(r)?;
        self.throttled = Snap::get(r)?;
        self.venue_block_until = Snap::get(r)?;
        self.stats = Snap::get(r)?;
        Ok(())
    }
}

impl PreTradeRisk {
    /// Risk for `n_instruments` instruments (ids `0..n`), none allowed until limits are set.
    pub fn new(n_instruments: usize, rates: RateLimits, now: UnixNanos) -> Self {
        Self {
            instruments: (0..n_instruments).map(|_| InstrumentRisk::new()).collect(),
            venue_orders: TokenBucket::new(
                rates.venue_orders_burst,
                rates.venue_orders_per_second,
                now,
            ),
            messages: TokenBucket::new(rates.messages_burst, rates.messages_per_second, now),
            killed: false,
            throttled: false,
            venue_block_until: UnixNanos(0),
            stats: RiskStats::default(),
        }
    }

    /// Sets (or replaces) an instrument's limits, which also puts it on the allow-list.
    ///
    /// Returns `false` for an unknown instrument id.
    pub fn set_limits(&mut self, instrument: InstrumentId, limits: RiskLimits) -> bool {
        match self.instruments.get_mut(instrument.0 as usize) {
            Some(r) => {
                r.limits = Some(limits);
                true
            }
            None => false,
        }
    }

    /// Takes an instrument off the allow-list (its working orders stay reserved).
    pub fn disallow(&mut self, instrument: InstrumentId) {
        if let Some(r) = self.instruments.get_mut(instrument.0 as usize) {
            r.limits = None;
        }
    }

    /// Records the reference price for the collar and position notional (e.g. the mid).
    #[inline]
    pub fn set_reference(&mut self, instrument: InstrumentId, price: Price, at: UnixNanos) {
        if let Some(r) = self.instruments.get_mut(instrument.0 as usize) {
            r.reference = Some((price, at));
        }
    }

    /// Sets the position (after reconciliation with the venue).
    pub fn set_position(&mut self, instrument: InstrumentId, lots: i64) {
        if let Some(r) = self.instruments.get_mut(instrument.0 as usize) {
            r.position = lots;
        }
    }

    /// The signed position in lots.
    pub fn position(&self, instrument: InstrumentId) -> Option<i64> {
        self.instruments
            .get(instrument.0 as usize)
            .map(|r| r.position)
    }

    /// Latches the kill switch: every new order is denied until [`PreTradeRisk::lift_kill`].
    pub fn kill(&mut self) {
        self.killed = true;
    }

    /// Lifts the kill latch (the supervisor enforces who may, and journals it).
    pub fn lift_kill(&mut self) {
        self.killed = false;
    }

    /// Whether the kill switch is latched.
    pub fn is_killed(&self) -> bool {
        self.killed
    }

    /// Whether the repeated-execution throttle is latched.
    pub fn is_throttled(&self) -> bool {
        self.throttled
    }

    /// Re-arms the repeated-execution throttle (a person's decision, journalled by the caller).
    pub fn rearm_throttle(&mut self) {
        self.throttled = false;
        for r in &mut self.instruments {
            r.fills_seen = 0;
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> RiskStats {
        self.stats
    }

    /// Working orders on an instrument (UNKNOWN included).
    pub fn open_orders(&self, instrument: InstrumentId) -> usize {
        self.instruments
            .get(instrument.0 as usize)
            .map_or(0, |r| r.n_working)
    }

    /// Checks a new order at event time `now`; on acceptance it is reserved as live at once.
    ///
    /// # Hot path
    /// O(working orders + 16); no allocation.
    pub fn check_new(&mut self, o: &OrderCheck, now: UnixNanos) -> Result<(), DenyReason> {
        let result = self.evaluate(o, now);
        match result {
            Ok(()) => {
                self.stats.accepted += 1;
                let r = &mut self.instruments[o.instrument.0 as usize];
                r.working[r.n_working] = Working {
                    id: o.client_id,
                    side: o.side,
                    price: o.price,
                    open: o.qty,
                    state: Reservation::Live,
                };
                r.n_working += 1;
                r.recent.push(o.side, o.price, o.qty, now);
            }
            Err(_) => self.stats.denied += 1,
        }
        result
    }

    /// Checks an in-place amendment of working order `o.client_id` (a USD-M modify keeps the client
    /// id) as if the old terms were gone and `o` were new; on acceptance `o` replaces the old
    /// reservation, on denial the old one stays. An order risk does not know is denied
    /// (`InvalidOrder`).
    ///
    /// # Hot path
    /// As [`Self::check_new`].
    pub fn check_replace(&mut self, o: &OrderCheck, now: UnixNanos) -> Result<(), DenyReason> {
        let Some((r, i)) = self.slot(o.instrument, o.client_id) else {
            self.stats.denied += 1;
            return Err(DenyReason::InvalidOrder);
        };
        let old = r.working[i];
        r.remove(i);
        let result = self.check_new(o, now);
        if result.is_err() {
            let r = &mut self.instruments[o.instrument.0 as usize];
            r.working[r.n_working] = old;
            r.n_working += 1;
        } else if old.state == Reservation::Unknown {
            self.on_unknown(o.instrument, o.client_id);
        }
        result
    }

    fn evaluate(&mut self, o: &OrderCheck, now: UnixNanos) -> Result<(), DenyReason> {
        if self.killed {
            return Err(DenyReason::Killed);
        }
        if self.throttled {
            return Err(DenyReason::ExecutionThrottle);
        }
        let r = self
            .instruments
            .get(o.instrument.0 as usize)
            .ok_or(DenyReason::NotAllowed)?;
        let lim = r.limits.as_ref().ok_or(DenyReason::NotAllowed)?;
        if o.qty.lots() <= 0 || o.price.ticks() <= 0 {
            return Err(DenyReason::InvalidOrder);
        }
        let (ref_px, ref_at) = r.reference.ok_or(DenyReason::NoReference)?;
        if now.saturating_since(ref_at) > lim.max_reference_age_ns {
            return Err(DenyReason::StaleReference);
        }
        // Collar: |price - ref| * 10_000 <= ref * bps, in i128.
        let dev = (i128::from(o.price.ticks()) - i128::from(ref_px.ticks())).abs();
        if dev * 10_000 > i128::from(ref_px.ticks()) * i128::from(lim.price_collar_bps) {
            return Err(DenyReason::PriceCollar);
        }
        if o.qty > lim.max_order_qty {
            return Err(DenyReason::MaxOrderQty);
        }
        if notional(o.price, o.qty) > lim.max_order_notional {
            return Err(DenyReason::MaxOrderNotional);
        }
        if r.n_working >= MAX_WORKING || r.n_working as u64 >= u64::from(lim.max_open_orders) {
            return Err(DenyReason::MaxOpenOrders);
        }
        let Scan {
            id_working,
            buys,
            sells,
            crosses_own,
        } = r.scan(o);
        if id_working {
            return Err(DenyReason::DuplicateClientId);
        }
        let worst_long = r
            .position
            .checked_add(buys)
            .and_then(|v| v.checked_add(o.qty.lots()));
        let worst_short = r
            .position
            .checked_sub(sells)
            .and_then(|v| v.checked_sub(o.qty.lots()));
        match o.side {
            Side::Buy => {
                let wl = worst_long.ok_or(DenyReason::Overflow)?;
                if wl > lim.max_long.lots() {
                    return Err(DenyReason::MaxLong);
                }
                if notional(ref_px, Qty::from_lots(wl.abs())) > lim.max_position_notional {
                    return Err(DenyReason::MaxPositionNotional);
                }
            }
            Side::Sell => {
                let ws = worst_short.ok_or(DenyReason::Overflow)?;
                if -ws > lim.max_short.lots() {
                    return Err(DenyReason::MaxShort);
                }
                if notional(ref_px, Qty::from_lots(ws.abs())) > lim.max_position_notional {
                    return Err(DenyReason::MaxPositionNotional);
                }
            }
        }
        // Self-trade: a buy at or above one of our working sells (or the reverse) would match it.
        if crosses_own {
            return Err(DenyReason::SelfTrade);
        }
        // (A window of 0 matches nothing: the check is off.) `qty > 0` was checked above, so the
        // signed quantity is never an empty slot's 0.
        if r.recent.contains(
            o.price.ticks(),
            o.side.sign() * o.qty.lots(),
            now,
            lim.duplicate_window_ns,
        ) {
            return Err(DenyReason::Duplicate);
        }
        // Budgets last, so a denied order does not spend them. Internal first: it is ours to keep.
        if !self.messages.try_take(1, now) {
            return Err(DenyReason::MessageRate);
        }
        if now.0 < self.venue_block_until.0 || !self.venue_orders.try_take(1, now) {
            return Err(DenyReason::VenueOrderRate);
        }
        Ok(())
    }

    /// The venue reported usage near its own limit (or answered 429): spend our venue-order budget
    /// now, so our throttle refuses new orders until it refills and the venue's limit is never hit.
    pub fn drain_venue_orders(&mut self, now: UnixNanos) {
        let left = self.venue_orders.available(now);
        let _ = self.venue_orders.try_take(left, now);
    }

    /// Refuses new orders for venue rate until `until` (the venue's usage is near its limit, or it
    /// answered 429 with a retry time); also drains the bucket so the budget restarts from empty.
    pub fn block_venue_orders_until(&mut self, until: UnixNanos, now: UnixNanos) {
        if until.0 > self.venue_block_until.0 {
            self.venue_block_until = until;
        }
        self.drain_venue_orders(now);
    }

    /// A cancel is about to be sent: counted against the message budget, never denied.
    pub fn on_cancel_sent(&mut self, now: UnixNanos) {
        self.stats.cancels += 1;
        let _ = self.messages.try_take(1, now);
    }

    /// The order's fate is unknown (timeout, reset after send): it stays reserved as live.
    pub fn on_unknown(&mut self, instrument: InstrumentId, id: ClientOrderId) {
        match self.slot(instrument, id) {
            Some((r, i)) => r.working[i].state = Reservation::Unknown,
            None => self.stats.unknown_order_events += 1,
        }
    }

    /// An UNKNOWN order turned out to be live (the venue answered, or reconciliation showed it):
    /// still reserved, now as live.
    pub fn on_live(&mut self, instrument: InstrumentId, id: ClientOrderId) {
        match self.slot(instrument, id) {
            Some((r, i)) => r.working[i].state = Reservation::Live,
            None => self.stats.unknown_order_events += 1,
        }
    }

    /// A fill of `qty` on our order `id`. Updates the position, releases the reservation, and feeds
    /// the repeated-execution throttle. Returns whether the throttle latched now.
    pub fn on_fill(
        &mut self,
        instrument: InstrumentId,
        id: ClientOrderId,
        side: Side,
        qty: Qty,
        at: UnixNanos,
    ) -> bool {
        let Some(r) = self.instruments.get_mut(instrument.0 as usize) else {
            self.stats.unknown_order_events += 1;
            return false;
        };
        // The position moves even for an order we lost track of: a fill is a fact.
        r.position = r
            .position
            .saturating_add(side.sign().saturating_mul(qty.lots()));
        match r.find(id) {
            Some(i) => {
                let left = r.working[i].open.lots() - qty.lots();
                if left <= 0 {
                    r.remove(i);
                } else {
                    r.working[i].open = Qty::from_lots(left);
                }
            }
            None => self.stats.unknown_order_events += 1,
        }
        let Some(lim) = r.limits else { return false };
        r.fills[r.fills_next] = at;
        r.fills_next = (r.fills_next + 1) % FILL_RING;
        r.fills_seen += 1;
        let n = (lim.max_fills_in_window as usize).clamp(1, FILL_RING);
        if r.fills_seen >= n as u64 {
            // The fill n-1 places before this one.
            let oldest = r.fills[(r.fills_next + FILL_RING - n) % FILL_RING];
            if at.saturating_since(oldest) <= lim.fill_window_ns && !self.throttled {
                self.throttled = true;
                return true;
            }
        }
        false
    }

    /// The order left the book (cancelled, expired, rejected, or resolved as never live).
    pub fn on_done(&mut self, instrument: InstrumentId, id: ClientOrderId) {
        match self.slot(instrument, id) {
            Some((r, i)) => r.remove(i),
            None => self.stats.unknown_order_events += 1,
        }
    }

    /// The order's reservation state, if it is working.
    pub fn reservation(&self, instrument: InstrumentId, id: ClientOrderId) -> Option<Reservation> {
        let r = self.instruments.get(instrument.0 as usize)?;
        r.find(id).map(|i| r.working[i].state)
    }

    fn slot(
        &mut self,
        instrument: InstrumentId,
        id: ClientOrderId,
    ) -> Option<(&mut InstrumentRisk, usize)> {
        let r = self.instruments.get_mut(instrument.0 as usize)?;
        let i = r.find(id)?;
        Some((r, i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const I: InstrumentId = InstrumentId(0);
    const T0: UnixNanos = UnixNanos(1_700_000_000_000_000_000);

    fn limits() -> RiskLimits {
        RiskLimits {
            max_order_qty: Qty::from_lots(1_000),
            max_order_notional: 1_000 * 10_000,
            price_collar_bps: 500,
            max_reference_age_ns: 1_000_000_000,
            max_long: Qty::from_lots(2_000),
            max_short: Qty::from_lots(2_000),
            max_position_notional: 2_000 * 20_000,
            max_open_orders: 10,
            duplicate_window_ns: 1_000_000,
            max_fills_in_window: 3,
            fill_window_ns: 1_000_000_000,
        }
    }

    fn rates() -> RateLimits {
        RateLimits {
            venue_orders_burst: 100,
            venue_orders_per_second: 10,
            messages_burst: 100,
            messages_per_second: 10,
        }
    }

    fn risk() -> PreTradeRisk {
        let mut r = PreTradeRisk::new(2, rates(), T0);
        assert!(r.set_limits(I, limits()));
        r.set_reference(I, Price::from_ticks(10_000), T0);
        r
    }

    fn order(id: u64, side: Side, px: i64, qty: i64) -> OrderCheck {
        OrderCheck {
            instrument: I,
            client_id: ClientOrderId(id),
            side,
            price: Price::from_ticks(px),
            qty: Qty::from_lots(qty),
        }
    }

    #[test]
    fn replace_swaps_the_reservation_or_keeps_the_old_one() {
        let mut r = risk();
        r.check_new(&order(1, Side::Buy, 9_990, 1_000), T0).unwrap();
        r.check_new(&order(2, Side::Buy, 9_980, 1_000), T0).unwrap();
        // At max_long with both: the replacement only fits because the old terms are gone.
        assert_eq!(
            r.check_replace(&order(1, Side::Buy, 9_970, 1_000), T0),
            Ok(())
        );
        assert_eq!(r.open_orders(I), 2);
        assert_eq!(
            r.check_replace(&order(1, Side::Buy, 9_960, 1_001), T0),
            Err(DenyReason::MaxOrderQty)
        );
        assert_eq!(r.open_orders(I), 2, "the old reservation stays");
        assert_eq!(
            r.check_new(&order(3, Side::Buy, 9_950, 1), T0),
            Err(DenyReason::MaxLong),
            "and still counts"
        );
        assert_eq!(
            r.check_replace(&order(9, Side::Buy, 10_000, 1), T0),
            Err(DenyReason::InvalidOrder)
        );
    }

    #[test]
    fn fails_closed_without_limits_or_reference() {
        let mut r = PreTradeRisk::new(2, rates(), T0);
        assert_eq!(
            r.check_new(&order(1, Side::Buy, 10_000, 1), T0),
            Err(DenyReason::NotAllowed)
        );
        r.set_limits(I, limits());
        assert_eq!(
            r.check_new(&order(1, Side::Buy, 10_000, 1), T0),
            Err(DenyReason::NoReference)
        );
        r.set_reference(I, Price::from_ticks(10_000), T0);
        assert_eq!(
            r.check_new(
                &order(1, Side::Buy, 10_000, 1),
                UnixNanos(T0.0 + 1_000_000_001)
            ),
            Err(DenyReason::StaleReference)
        );
        assert_eq!(r.check_new(&order(1, Side::Buy, 10_000, 1), T0), Ok(()));
        let other = OrderCheck {
            instrument: InstrumentId(7),
            ..order(2, Side::Buy, 10_000, 1)
        };
        assert_eq!(r.check_new(&other, T0), Err(DenyReason::NotAllowed));
    }

    #[test]
    fn collar_bounds_are_inclusive() {
        let mut r = risk();
        // 500 bps of 10_000 ticks = 500 ticks either side.
        assert_eq!(r.check_new(&order(1, Side::Buy, 9_500, 1), T0), Ok(()));
        assert_eq!(
            r.check_new(&order(2, Side::Buy, 9_499, 1), T0),
            Err(DenyReason::PriceCollar)
        );
        assert_eq!(r.check_new(&order(3, Side::Sell, 10_500, 1), T0), Ok(()));
        assert_eq!(
            r.check_new(&order(4, Side::Sell, 10_501, 1), T0),
            Err(DenyReason::PriceCollar)
        );
    }

    #[test]
    fn size_and_notional_limits() {
        let mut r = risk();
        assert_eq!(
            r.check_new(&order(1, Side::Buy, 10_000, 1_001), T0),
            Err(DenyReason::MaxOrderQty)
        );
        assert_eq!(
            r.check_new(&order(2, Side::Sell, 10_400, 1_000), T0),
            Err(DenyReason::MaxOrderNotional)
        );
        assert_eq!(
            r.check_new(&order(3, Side::Buy, 10_000, 0), T0),
            Err(DenyReason::InvalidOrder)
        );
        assert_eq!(r.check_new(&order(4, Side::Buy, 10_000, 1_000), T0), Ok(()));
    }

    #[test]
    fn working_and_unknown_orders_count_as_filled() {
        let mut r = risk();
        r.set_position(I, 500);
        assert_eq!(r.check_new(&order(1, Side::Buy, 9_900, 1_000), T0), Ok(()));
        r.on_unknown(I, ClientOrderId(1));
        assert_eq!(
            r.reservation(I, ClientOrderId(1)),
            Some(Reservation::Unknown)
        );
        // 500 + 1000 working (unknown) + 501 > 2000.
        assert_eq!(
            r.check_new(&order(2, Side::Buy, 9_899, 501), T0),
            Err(DenyReason::MaxLong)
        );
        assert_eq!(r.check_new(&order(3, Side::Buy, 9_899, 500), T0), Ok(()));
        // Resolving the unknown order as never live frees its reservation.
        r.on_done(I, ClientOrderId(1));
        assert_eq!(r.check_new(&order(4, Side::Buy, 9_898, 1_000), T0), Ok(()));
    }

    #[test]
    fn self_trade_and_duplicates() {
        let mut r = risk();
        assert_eq!(r.check_new(&order(1, Side::Sell, 10_010, 10), T0), Ok(()));
        assert_eq!(
            r.check_new(&order(2, Side::Buy, 10_010, 10), T0),
            Err(DenyReason::SelfTrade)
        );
        assert_eq!(r.check_new(&order(3, Side::Buy, 10_009, 10), T0), Ok(()));
        assert_eq!(
            r.check_new(&order(4, Side::Buy, 10_009, 10), T0),
            Err(DenyReason::Duplicate)
        );
        assert_eq!(
            r.check_new(
                &order(5, Side::Buy, 10_009, 10),
                UnixNanos(T0.0 + 1_000_000)
            ),
            Ok(())
        );
        assert_eq!(
            r.check_new(&order(5, Side::Buy, 10_001, 10), T0),
            Err(DenyReason::DuplicateClientId)
        );
    }

    #[test]
    fn kill_latch_and_open_order_cap() {
        let mut r = risk();
        for i in 0..10 {
            assert_eq!(
                r.check_new(&order(i, Side::Buy, 9_990 - i as i64, 1), T0),
                Ok(())
            );
        }
        assert_eq!(
            r.check_new(&order(99, Side::Buy, 9_900, 1), T0),
            Err(DenyReason::MaxOpenOrders)
        );
        r.on_done(I, ClientOrderId(3));
        r.kill();
        assert_eq!(
            r.check_new(&order(100, Side::Buy, 9_900, 1), T0),
            Err(DenyReason::Killed)
        );
        r.on_cancel_sent(T0);
        r.lift_kill();
        assert_eq!(r.check_new(&order(100, Side::Buy, 9_900, 1), T0), Ok(()));
        assert_eq!(r.stats().cancels, 1);
    }

    #[test]
    fn repeated_executions_latch_until_rearmed() {
        let mut r = risk();
        for i in 0..3 {
            assert_eq!(
                r.check_new(&order(i, Side::Buy, 9_990 - i as i64, 1), T0),
                Ok(())
            );
        }
        assert!(!r.on_fill(I, ClientOrderId(0), Side::Buy, Qty::from_lots(1), T0));
        assert!(!r.on_fill(
            I,
            ClientOrderId(1),
            Side::Buy,
            Qty::from_lots(1),
            UnixNanos(T0.0 + 10)
        ));
        assert!(r.on_fill(
            I,
            ClientOrderId(2),
            Side::Buy,
            Qty::from_lots(1),
            UnixNanos(T0.0 + 20)
        ));
        assert_eq!(r.position(I), Some(3));
        assert_eq!(
            r.check_new(&order(9, Side::Buy, 9_900, 1), T0),
            Err(DenyReason::ExecutionThrottle)
        );
        r.rearm_throttle();
        assert_eq!(r.check_new(&order(9, Side::Buy, 9_900, 1), T0), Ok(()));
    }

    #[test]
    fn venue_budget_is_spent_only_by_accepted_orders() {
        let mut r = PreTradeRisk::new(
            1,
            RateLimits {
                venue_orders_burst: 2,
                venue_orders_per_second: 1,
                messages_burst: 100,
                messages_per_second: 100,
            },
            T0,
        );
        r.set_limits(I, limits());
        r.set_reference(I, Price::from_ticks(10_000), T0);
        assert_eq!(
            r.check_new(&order(1, Side::Buy, 20_000, 1), T0),
            Err(DenyReason::PriceCollar)
        );
        assert_eq!(r.check_new(&order(2, Side::Buy, 9_999, 1), T0), Ok(()));
        assert_eq!(r.check_new(&order(3, Side::Buy, 9_998, 1), T0), Ok(()));
        assert_eq!(
            r.check_new(&order(4, Side::Buy, 9_997, 1), T0),
            Err(DenyReason::VenueOrderRate)
        );
        assert_eq!(
            r.check_new(
                &order(4, Side::Buy, 9_997, 1),
                UnixNanos(T0.0 + 1_000_000_000)
            ),
            Ok(())
        );
    }

    /// Fault-matrix row 18, the reference model: the order-level checks written out independently of
    /// `evaluate` (no working orders, fresh budgets): `None` is "must be accepted", `Some(r)` "must be
    /// denied with `r`" (the first failing check in the documented order).
    fn row18_model(
        limits: Option<&RiskLimits>,
        reference: Option<(i64, u64)>,
        o: &OrderCheck,
        now: u64,
    ) -> Option<DenyReason> {
        let Some(l) = limits else {
            return Some(DenyReason::NotAllowed);
        };
        let (px, qty) = (o.price.ticks(), o.qty.lots());
        if qty <= 0 || px <= 0 {
            return Some(DenyReason::InvalidOrder);
        }
        let Some((ref_px, ref_at)) = reference else {
            return Some(DenyReason::NoReference);
        };
        if now.saturating_sub(ref_at) > l.max_reference_age_ns {
            return Some(DenyReason::StaleReference);
        }
        // |px - ref| / ref > bps / 10_000, cross-multiplied in exact integers.
        let dev = (i128::from(px) - i128::from(ref_px)).abs();
        if dev * 10_000 > i128::from(ref_px) * i128::from(l.price_collar_bps) {
            return Some(DenyReason::PriceCollar);
        }
        if qty > l.max_order_qty.lots() {
            return Some(DenyReason::MaxOrderQty);
        }
        if i128::from(px) * i128::from(qty) > l.max_order_notional {
            return Some(DenyReason::MaxOrderNotional);
        }
        let worst = i128::from(qty);
        let side_limit = match o.side {
            Side::Buy => l.max_long.lots(),
            Side::Sell => l.max_short.lots(),
        };
        if worst > i128::from(side_limit) {
            return Some(match o.side {
                Side::Buy => DenyReason::MaxLong,
                Side::Sell => DenyReason::MaxShort,
            });
        }
        if i128::from(ref_px) * worst > l.max_position_notional {
            return Some(DenyReason::MaxPositionNotional);
        }
        None
    }

    fn arb_limits() -> impl Strategy<Value = RiskLimits> {
        (
            1i64..2_000,
            1i128..30_000_000,
            0u32..2_000,
            0u64..3_000_000_000,
            (1i64..3_000, 1i64..3_000),
            1i128..40_000_000,
        )
            .prop_map(|(qty, notional, bps, age, (long, short), pos_notional)| {
                RiskLimits {
                    max_order_qty: Qty::from_lots(qty),
                    max_order_notional: notional,
                    price_collar_bps: bps,
                    max_reference_age_ns: age,
                    max_long: Qty::from_lots(long),
                    max_short: Qty::from_lots(short),
                    max_position_notional: pos_notional,
                    max_open_orders: 10,
                    duplicate_window_ns: 0,
                    max_fills_in_window: 3,
                    fill_window_ns: 1_000_000_000,
                }
            })
    }

    proptest! {
        /// The fingerprinted duplicate ring answers exactly as a plain scan of the same orders
        /// (small price and size domains, so repeats and near-repeats are common), and survives a
        /// snapshot round trip unchanged.
        #[test]
        fn recent_ring_matches_a_plain_scan(
            pushed in proptest::collection::vec((any::<bool>(), 1i64..4, 1i64..4, 0u64..50), 0..40),
            probe in (any::<bool>(), 1i64..4, 1i64..4),
            now in 0u64..60,
            window in 0u64..20,
        ) {
            let mut ring = Recent::EMPTY;
            let mut plain: Vec<(i64, i64, u64)> = Vec::new();
            for &(buy, px, qty, at) in &pushed {
                let side = if buy { Side::Buy } else { Side::Sell };
                ring.push(side, Price::from_ticks(px), Qty::from_lots(qty), UnixNanos(at));
                plain.push((px, side.sign() * qty, at));
            }
            let last = &plain[plain.len().saturating_sub(DUP_RING)..];
            let (buy, px, qty) = probe;
            let sq = if buy { qty } else { -qty };
            let want = last
                .iter()
                .any(|&(p, q, at)| p == px && q == sq && now.saturating_sub(at) < window);
            prop_assert_eq!(ring.contains(px, sq, UnixNanos(now), window), want);
            let back = Recent::from_snap(&ring.to_snap(), ring.next);
            prop_assert_eq!(back.contains(px, sq, UnixNanos(now), window), want);
            prop_assert_eq!(back.fingerprint, ring.fingerprint);
        }

        /// Row 18: over random limits (or none), reference prices (or none, or stale) and orders, every
        /// order outside its collar, over its size or value limits, on an instrument without limits
        /// or without a fresh reference is denied before anything is reserved, with the model's
        /// reason; every other order is accepted.
        #[test]
        fn row18_collar_limits_and_reference_fail_closed(
            limits in proptest::option::weighted(0.9, arb_limits()),
            reference in proptest::option::weighted(0.9, (1i64..20_000, 0u64..4_000_000_000)),
            buy in any::<bool>(),
            px in -5i64..25_000,
            qty in -2i64..2_500,
            now in 0u64..4_000_000_000,
            // 0: px, qty and the reference age as drawn; 1: px at the collar's edge + off; 2: qty at
            // max_order_qty + off, px at the reference; 3: the reference's age at
            // max_reference_age_ns + off, px at the reference; 4: max_order_notional at px × qty + off,
            // px at the reference.
            edge in 0u8..5,
            off in -2i64..=2,
        ) {
            let mut limits = limits;
            let mut reference = reference.map(|(p, at)| (p, at.min(now)));
            let (mut px, mut qty) = (px, qty);
            match (edge, limits.as_mut(), reference.as_mut()) {
                (1, Some(l), Some((p, _))) => {
                    // A multiple of 10_000 ticks puts the edge on a whole tick.
                    *p = 10_000 * (1 + *p % 3);
                    let width = *p * i64::from(l.price_collar_bps) / 10_000;
                    px = *p + if buy { -width } else { width } + off;
                }
                (2, Some(l), r) => {
                    qty = l.max_order_qty.lots() + off;
                    px = r.map_or(px, |(p, _)| *p);
                }
                (3, Some(l), Some((p, at))) => {
                    px = *p;
                    *at = now.saturating_sub(l.max_reference_age_ns.saturating_add_signed(off));
                }
                (4, Some(l), Some((p, _))) => {
                    px = *p;
                    l.max_order_notional = (i128::from(px) * i128::from(qty) + i128::from(off)).max(1);
                }
                _ => {}
            }
            let mut r = PreTradeRisk::new(1, rates(), T0);
            if let Some(l) = limits {
                r.set_limits(I, l);
            }
            if let Some((p, at)) = reference {
                r.set_reference(I, Price::from_ticks(p), UnixNanos(T0.0 + at));
            }
            let o = order(1, if buy { Side::Buy } else { Side::Sell }, px, qty);
            let want = row18_model(limits.as_ref(), reference, &o, now);
            let got = r.check_new(&o, UnixNanos(T0.0 + now)).err();
            prop_assert_eq!(got, want);
            prop_assert_eq!(r.open_orders(I), usize::from(want.is_none()), "reserved only if accepted");
        }

        /// Whatever is accepted, worst-case exposure never exceeds the limits.
        #[test]
        fn accepted_orders_never_breach_position_limits(
            ops in proptest::collection::vec((any::<bool>(), 9_600i64..10_400, 1i64..1_200, 0u8..4), 1..200)
        ) {
            let mut r = risk();
            let mut next = 1u64;
            let mut live: Vec<(u64, Side, i64)> = Vec::new();
            for (buy, px, qty, action) in ops {
                let side = if buy { Side::Buy } else { Side::Sell };
                match action {
                    0 | 1 => {
                        if r.check_new(&order(next, side, px, qty), T0).is_ok() {
                            live.push((next, side, qty));
                        }
                        next += 1;
                    }
                    2 if !live.is_empty() => {
                        let (id, s, q) = live.remove(0);
                        r.on_fill(I, ClientOrderId(id), s, Qty::from_lots(q), T0);
                        r.rearm_throttle();
                    }
                    _ if !live.is_empty() => {
                        let (id, _, _) = live.pop().unwrap();
                        r.on_done(I, ClientOrderId(id));
                    }
                    _ => {}
                }
                let pos = r.position(I).unwrap();
                let buys: i64 = live.iter().filter(|l| l.1 == Side::Buy).map(|l| l.2).sum();
                let sells: i64 = live.iter().filter(|l| l.1 == Side::Sell).map(|l| l.2).sum();
                prop_assert!(pos + buys <= 2_000 || buys == 0, "long {pos}+{buys}");
                prop_assert!(pos - sells >= -2_000 || sells == 0, "short {pos}-{sells}");
                prop_assert!(r.open_orders(I) <= 10);
            }
        }
    }
}
