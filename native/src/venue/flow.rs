//! The market-flow generator: a seeded, event-driven stochastic order flow that makes the simulated
//! venue's book out of real orders, so a client's resting order queues behind them and is filled
//! only when marketable flow reaches it.
//!
//! The model is a zero-intelligence queue model in the family of Cont, Stoikov and Talreja (2010),
//! with rates measured per tick of distance from the own side's best price (not from the opposite
//! best: Binance spot books are one tick wide nearly all the time, so "distance behind the touch" is
//! what varies):
//!
//! * **limit arrivals** at distance `d` ticks behind the own-side best (`d = 0` joins the touch),
//!   a Poisson process per side and level with rate `add_rate[d]`; sizes drawn from the empirical
//!   quantiles `add_size`;
//! * **improvements**: when the spread is wider than one tick, orders that step one tick inside it,
//!   rate `inside_rate` per side;
//! * **cancellations**: every resting generator order is cancelled at rate `cancel_rate[d]` (per
//!   order per second, `d` its current distance from its side's best; the last entry also applies
//!   farther out), i.e. exponential lifetimes whose mean depends on where the order sits;
//! * **marketable orders**: MARKET orders, rate `market_rate` per side, sizes from `market_size`,
//!   capped at half the quantity resting in the modelled window on the other side (the real book's
//!   tail beyond the window is not simulated; counted in [`FlowStats::skipped_markets`] when that
//!   leaves less than the smallest order).
//!
//! Boundary condition: the model covers a window of `add_rate.len()` ticks, a few orders deep, while
//! the real book behind it never empties; a side left empty gets one order a tick off the other
//! side at once ([`FlowStats::refills`]).
//!
//! The mid-price is not simulated separately: it moves when marketable orders and cancels empty the
//! touch and improvements refill the spread, always on the tick grid, as on the real venue.
//!
//! Everything is one continuous-time Markov chain driven by a xoshiro256** generator seeded with
//! SplitMix64: the same seed and the same calls give the same orders. Orders go through
//! [`SpotVenue::place`] / [`SpotVenue::cancel`] as a house account, so filters, balances and the
//! market-data stream treat them exactly like any client's.
//!
//! Parameters come from a TOML file (`config/flow/<SYMBOL>.toml`, written by `pymm research
//! calibrate-flow`; the method is in `docs/venue/flow-calibration.md`).

use serde::Deserialize;

use super::account::{OrderKey, PlaceOrder, SpotVenue};
use crate::model::order::{OrderType, TimeInForce};
use crate::model::{Price, Qty, Side, UnixNanos};

/// The generator's parameters (one symbol), as stored in `config/flow/<SYMBOL>.toml`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FlowParams {
    /// Symbol the parameters were made for.
    pub symbol: String,
    /// Where the numbers come from (free text, for the record).
    #[serde(default)]
    pub source: String,
    /// Starting mid price (decimal text) when the book is empty.
    pub reference_price: String,
    /// Limit arrivals per second per side at distance `d` ticks behind the own-side best.
    pub add_rate: Vec<f64>,
    /// Arrivals per second per side one tick inside the spread (only while it is wider than a tick).
    pub inside_rate: f64,
    /// Cancellation rate per resting order per second at distance `d` (last entry: farther out).
    pub cancel_rate: Vec<f64>,
    /// MARKET orders per second per side.
    pub market_rate: f64,
    /// Limit order sizes in base units: quantiles at equally spaced probabilities 0..=1.
    pub add_size: Vec<f64>,
    /// MARKET order sizes in base units: quantiles at equally spaced probabilities 0..=1.
    pub market_size: Vec<f64>,
    /// Mean resting quantity (base units) at distance `d`, used to seed the book at start.
    pub initial_depth: Vec<f64>,
}

/// Why parameters were refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FlowError {
    /// The TOML did not parse or has unknown keys.
    #[error("flow parameters: {0}")]
    Parse(String),
    /// A value is out of range.
    #[error("flow parameters: {0}")]
    Invalid(String),
    /// The symbol is not listed on the venue.
    #[error("flow parameters: symbol {0} is not listed")]
    UnknownSymbol(String),
}

impl FlowParams {
    /// Parses and checks a TOML document.
    pub fn from_toml(text: &str) -> Result<Self, FlowError> {
        let p: Self = toml::from_str(text).map_err(|e| FlowError::Parse(e.to_string()))?;
        p.validate()?;
        Ok(p)
    }

    fn validate(&self) -> Result<(), FlowError> {
        let bad = |m: &str| Err(FlowError::Invalid(m.to_owned()));
        let finite_nonneg = |v: &[f64]| v.iter().all(|x| x.is_finite() && *x >= 0.0);
        if self.add_rate.is_empty() || self.add_rate.len() > 1000 {
            return bad("add_rate needs 1..=1000 levels");
        }
        if self.cancel_rate.is_empty() || self.initial_depth.is_empty() {
            return bad("cancel_rate and initial_depth need at least one level");
        }
        let too_big = |v: &[f64]| v.iter().any(|x| *x > 1e6);
        if too_big(&self.add_rate)
            || too_big(&self.cancel_rate)
            || too_big(&[self.inside_rate, self.market_rate])
        {
            return bad("rates above 1e6 per second are not a market");
        }
        if !finite_nonneg(&self.add_rate)
            || !finite_nonneg(&self.cancel_rate)
            || !finite_nonneg(&self.initial_depth)
            || !finite_nonneg(&[self.inside_rate, self.market_rate])
        {
            return bad("rates and depths must be finite and >= 0");
        }
        for (name, q) in [
            ("add_size", &self.add_size),
            ("market_size", &self.market_size),
        ] {
            if q.len() < 2 || !q.iter().all(|x| x.is_finite() && *x > 0.0) {
                return Err(FlowError::Invalid(format!(
                    "{name} needs >= 2 positive quantiles"
                )));
            }
            if q.windows(2).any(|w| w[1] < w[0]) {
                return Err(FlowError::Invalid(format!("{name} must be non-decreasing")));
            }
        }
        match self.reference_price.parse::<f64>() {
            Ok(p) if p > 0.0 && p.is_finite() => Ok(()),
            _ => bad("reference_price must be a positive decimal"),
        }
    }
}

/// A small, fast, seedable generator: xoshiro256** (Blackman and Vigna) seeded by SplitMix64.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// Seeds the four words from `seed` with SplitMix64 (never all zero).
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Self {
            s: [next(), next(), next(), next()],
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `(0, 1]` (never 0, so `ln` is finite).
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Exponential with rate `rate` (> 0).
    pub fn exp(&mut self, rate: f64) -> f64 {
        -self.unit().ln() / rate
    }

    /// Standard normal (Box–Muller, one of the pair).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// A draw from a quantile table (values at equally spaced probabilities 0..=1), interpolated
    /// linearly in log space between neighbouring quantiles.
    pub fn from_quantiles(&mut self, q: &[f64]) -> f64 {
        let n = q.len();
        if n == 1 {
            return q[0];
        }
        let x = (1.0 - self.unit()) * (n - 1) as f64;
        let i = (x.floor() as usize).min(n - 2);
        let f = x - i as f64;
        let (a, b) = (q[i].ln(), q[i + 1].ln());
        (a + (b - a) * f).exp()
    }
}

/// Counters of what the generator did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// Events simulated.
    pub events: u64,
    /// Limit orders placed (arrivals and improvements).
    pub adds: u64,
    /// Cancels sent.
    pub cancels: u64,
    /// MARKET orders sent.
    pub markets: u64,
    /// Orders the venue refused (e.g. a filter); counted, the flow goes on.
    pub rejects: u64,
    /// Cancels that found the order already gone (filled in between).
    pub cancel_misses: u64,
    /// MARKET orders not sent: the opposite side's window held too little.
    pub skipped_markets: u64,
    /// Orders placed because a side was empty (the boundary condition; included in `adds`).
    pub refills: u64,
}

#[derive(Clone, Copy, Debug)]
struct Resting {
    id: u64,
    side: Side,
    price: Price,
}

/// The generator for one symbol of a [`SpotVenue`]; see the module docs.
#[derive(Debug)]
pub struct FlowGenerator {
    params: FlowParams,
    symbol: String,
    symbol_idx: usize,
    account: u32,
    rng: Rng,
    /// Simulated time reached so far.
    now: UnixNanos,
    /// Lots per base unit and the smallest order (lots) the filters accept at the reference price.
    lots_per_unit: f64,
    min_lots: i64,
    max_lots: i64,
    /// Mid (ticks) used when a side is empty.
    last_mid: i64,
    resting: Vec<Resting>,
    weights: Vec<f64>,
    stats: FlowStats,
    since_forget: u32,
    tick_text: TickText,
    /// The next event's time drawn ahead by [`FlowGenerator::next_event`], with the total rate it was
    /// drawn at; [`FlowGenerator::advance`] uses it while the total rate is unchanged.
    ahead: Option<Ahead>,
}

/// A next-event time drawn ahead (ns since the epoch, as `f64` like the chain's clock) and the bits
/// of the total rate it was drawn at.
#[derive(Debug, Clone, Copy)]
struct Ahead {
    total_bits: u64,
    at: f64,
}

/// The chain's rates in the current state.
#[derive(Debug, Clone, Copy)]
struct Rates {
    bid: i64,
    ask: i64,
    cancel_total: f64,
    inside: f64,
    per_side: f64,
    total: f64,
}

/// Price/qty → decimal text for the venue's parser.
#[derive(Debug, Clone, Copy)]
struct TickText {
    price_exp: u8,
    price_mant: i64,
    qty_exp: u8,
    qty_mant: i64,
}

impl TickText {
    fn price(&self, p: Price) -> String {
        crate::model::decimal::format_fixed(p.ticks() * self.price_mant, self.price_exp)
    }
    fn qty(&self, q: Qty) -> String {
        crate::model::decimal::format_fixed(q.lots() * self.qty_mant, self.qty_exp)
    }
}

fn dec_f64(d: impl std::fmt::Display) -> f64 {
    d.to_string().parse().unwrap_or(0.0)
}

impl FlowGenerator {
    /// A generator quoting `params.symbol` on `venue` as house account `account` (funded here with
    /// effectively unlimited balances), starting at `start`. Call [`Self::seed_book`] once, then
    /// [`Self::advance`].
    pub fn new(
        venue: &mut SpotVenue,
        params: FlowParams,
        account: u32,
        seed: u64,
        start: UnixNanos,
    ) -> Result<Self, FlowError> {
        params.validate()?;
        let idx = venue
            .symbol_index(&params.symbol)
            .ok_or_else(|| FlowError::UnknownSymbol(params.symbol.clone()))?;
        let inst = venue
            .instrument(idx)
            .ok_or_else(|| FlowError::UnknownSymbol(params.symbol.clone()))?
            .clone();
        let ps = inst.price_scale;
        let qs = inst.qty_scale;
        let tick = ps.mantissa() as f64 / 10f64.powi(i32::from(ps.exp()));
        let step = qs.mantissa() as f64 / 10f64.powi(i32::from(qs.exp()));
        let ref_px: f64 = params.reference_price.parse().unwrap_or(0.0);
        let min_notional = inst
            .filters
            .notional
            .as_ref()
            .map(|f| dec_f64(f.min_notional))
            .into_iter()
            .chain(
                inst.filters
                    .min_notional
                    .as_ref()
                    .map(|f| dec_f64(f.min_notional)),
            )
            .fold(0.0, f64::max);
        let (min_qty, max_qty) = inst
            .filters
            .lot_size
            .as_ref()
            .map_or((0.0, 0.0), |f| (dec_f64(f.min_qty), dec_f64(f.max_qty)));
        // 10% above the notional minimum, so a later price drop does not make orders too small.
        let min_lots = ((min_notional * 1.1 / ref_px).max(min_qty) / step)
            .ceil()
            .max(1.0) as i64;
        let max_lots = if max_qty > 0.0 {
            (max_qty / step).floor() as i64
        } else {
            i64::MAX / 4
        };
        // Unlimited for practical purposes, and conserved like any deposit.
        for asset in [&inst.base_asset, &inst.quote_asset] {
            venue
                .deposit(account, asset, "1000000000000")
                .map_err(|e| FlowError::Invalid(e.to_string()))?;
        }
        venue.set_house_account(account);
        let last_mid = (ref_px / tick).round() as i64;
        Ok(Self {
            symbol: params.symbol.clone(),
            params,
            symbol_idx: idx,
            account,
            rng: Rng::new(seed),
            now: start,
            lots_per_unit: 1.0 / step,
            min_lots,
            max_lots: max_lots.max(min_lots),
            last_mid,
            resting: Vec::new(),
            weights: Vec::new(),
            stats: FlowStats::default(),
            since_forget: 0,
            ahead: None,
            tick_text: TickText {
                price_exp: ps.exp(),
                price_mant: ps.mantissa(),
                qty_exp: qs.exp(),
                qty_mant: qs.mantissa(),
            },
        })
    }

    /// What the generator did so far.
    pub fn stats(&self) -> FlowStats {
        self.stats
    }

    /// Simulated time reached.
    pub fn now(&self) -> UnixNanos {
        self.now
    }

    /// The symbol it drives.
    pub fn symbol(&self) -> &str {
        &self.symbol
    }

    /// Resting generator orders (as far as the generator knows; fills are noticed on refresh).
    pub fn resting_orders(&self) -> usize {
        self.resting.len()
    }

    /// Puts `initial_depth` on both sides around the reference price (or the current touch).
    pub fn seed_book(&mut self, venue: &mut SpotVenue) {
        let depth = self.params.initial_depth.clone();
        let (bid0, ask0) = self.touch(venue);
        for side in [Side::Buy, Side::Sell] {
            for (d, want) in depth.iter().enumerate() {
                let want_lots = (want * self.lots_per_unit).round() as i64;
                let mut placed = 0i64;
                let mut guard = 0;
                while placed < want_lots && guard < 64 {
                    guard += 1;
                    let lots = self.add_lots();
                    let d = d as i64;
                    let px = match side {
                        Side::Buy => bid0 - d,
                        Side::Sell => ask0 + d,
                    };
                    if px <= 0 {
                        break;
                    }
                    if self.limit(venue, side, px, lots) {
                        placed += lots;
                    } else {
                        break;
                    }
                }
            }
        }
    }

    /// Best bid / ask ticks, filling an empty side from the other or the last mid.
    fn touch(&mut self, venue: &SpotVenue) -> (i64, i64) {
        let (b, a) = venue.top(self.symbol_idx).unwrap_or((None, None));
        let (b, a) = (b.map(|l| l.0.ticks()), a.map(|l| l.0.ticks()));
        let (bid, ask) = match (b, a) {
            (Some(b), Some(a)) => (b, a),
            (Some(b), None) => (b, b + 1),
            (None, Some(a)) => (a - 1, a),
            (None, None) => (self.last_mid, self.last_mid + 1),
        };
        self.last_mid = (bid + ask) / 2;
        (bid, ask)
    }

    fn lots_of(&self, units: f64) -> i64 {
        ((units * self.lots_per_unit).round() as i64).clamp(self.min_lots, self.max_lots)
    }

    fn add_lots(&mut self) -> i64 {
        let u = self.rng.from_quantiles(&self.params.add_size);
        self.lots_of(u)
    }

    fn limit(&mut self, venue: &mut SpotVenue, side: Side, px: i64, lots: i64) -> bool {
        let price = self.tick_text.price(Price::from_ticks(px));
        let qty = self.tick_text.qty(Qty::from_lots(lots));
        let req = PlaceOrder {
            account: self.account,
            symbol: &self.symbol,
            side,
            order_type: OrderType::Limit,
            time_in_force: Some(TimeInForce::Gtc),
            price: Some(&price),
            qty: Some(&qty),
            quote_qty: None,
            client_order_id: None,
            stp: None,
        };
        match venue.place(&req, self.now) {
            Ok(p) => {
                self.stats.adds += 1;
                if p.order.is_open() {
                    self.resting.push(Resting {
                        id: p.order.order_id,
                        side,
                        price: Price::from_ticks(px),
                    });
                }
                true
            }
            Err(_) => {
                self.stats.rejects += 1;
                false
            }
        }
    }

    fn market(&mut self, venue: &mut SpotVenue, side: Side) {
        let u = self.rng.from_quantiles(&self.params.market_size);
        // The model covers `add_rate.len()` ticks; the real book's tail beyond is not simulated, so a
        // marketable order takes at most half of what rests in that window (an order that would
        // sweep the whole window would otherwise empty the side).
        let window = self.params.add_rate.len();
        let available: i64 = venue
            .depth(self.symbol_idx, window)
            .map(|(_, b, a)| match side {
                Side::Buy => a.iter().map(|l| l.1.lots()).sum(),
                Side::Sell => b.iter().map(|l| l.1.lots()).sum(),
            })
            .unwrap_or(0);
        let lots = self.lots_of(u).min(available / 2);
        if lots < self.min_lots {
            self.stats.skipped_markets += 1;
            return;
        }
        let qty = self.tick_text.qty(Qty::from_lots(lots));
        let req = PlaceOrder {
            account: self.account,
            symbol: &self.symbol,
            side,
            order_type: OrderType::Market,
            time_in_force: None,
            price: None,
            qty: Some(&qty),
            quote_qty: None,
            client_order_id: None,
            // The generator's own resting orders are other traders: let it trade with them.
            stp: Some(super::StpMode::None),
        };
        match venue.place(&req, self.now) {
            Ok(_) => self.stats.markets += 1,
            Err(_) => self.stats.rejects += 1,
        }
        self.refresh(venue);
    }

    /// Forgets generator orders that are no longer resting (filled by anyone).
    fn refresh(&mut self, venue: &SpotVenue) {
        let s = self.symbol_idx;
        self.resting.retain(|r| venue.open_qty(s, r.id).is_some());
    }

    /// The boundary condition: a side left empty (the modelled window is a few orders deep; the
    /// real book behind it never empties) gets one order a tick off the other side at once.
    fn refill(&mut self, venue: &mut SpotVenue) {
        let (b, a) = venue.top(self.symbol_idx).unwrap_or((None, None));
        if b.is_some() && a.is_some() {
            return;
        }
        let (bid, ask) = self.touch(venue);
        for (side, empty, px) in [
            (Side::Buy, b.is_none(), bid),
            (Side::Sell, a.is_none(), ask),
        ] {
            if empty && px > 0 {
                let lots = self.add_lots();
                if self.limit(venue, side, px, lots) {
                    self.stats.refills += 1;
                }
            }
        }
    }

    fn cancel_rate_at(&self, d: i64) -> f64 {
        let c = &self.params.cancel_rate;
        c[(d.max(0) as usize).min(c.len() - 1)]
    }

    /// The chain's rates now: touch, cancel weights (into `self.weights`), improvements, per side.
    fn rates(&mut self, venue: &SpotVenue) -> Rates {
        let (bid, ask) = self.touch(venue);
        let spread = ask - bid;
        // Cancel weights of every resting generator order at its current distance.
        self.weights.clear();
        let mut cancel_total = 0.0;
        for i in 0..self.resting.len() {
            let r = self.resting[i];
            let d = match r.side {
                Side::Buy => bid - r.price.ticks(),
                Side::Sell => r.price.ticks() - ask,
            };
            let w = self.cancel_rate_at(d);
            cancel_total += w;
            self.weights.push(w);
        }
        let inside = if spread > 1 {
            self.params.inside_rate
        } else {
            0.0
        };
        let add_total: f64 = self.params.add_rate.iter().sum();
        let per_side = add_total + inside + self.params.market_rate;
        Rates {
            bid,
            ask,
            cancel_total,
            inside,
            per_side,
            total: 2.0 * per_side + cancel_total,
        }
    }

    /// When the next flow event happens if nothing changes the rates first (None: nothing can
    /// happen). The time is drawn ahead and kept, so [`Self::advance`] to it meets that event on
    /// time: a server sleeps until then instead of stepping on a fixed interval, and an event is
    /// published when it happens rather than up to one interval later. Without calls to this
    /// method the chain draws exactly as before (same seed, same calls, same orders).
    pub fn next_event(&mut self, venue: &SpotVenue) -> Option<UnixNanos> {
        self.refresh(venue);
        let total = self.rates(venue).total;
        if total <= 0.0 {
            self.ahead = None;
            return None;
        }
        let at = match self.ahead {
            Some(a) if a.total_bits == total.to_bits() && a.at >= self.now.0 as f64 => a.at,
            _ => {
                let at = self.now.0 as f64 + self.rng.exp(total) * 1e9;
                self.ahead = Some(Ahead {
                    total_bits: total.to_bits(),
                    at,
                });
                at
            }
        };
        Some(UnixNanos(at as u64))
    }

    /// Runs the flow up to `until` (no-op if it is not later than the time reached).
    pub fn advance(&mut self, venue: &mut SpotVenue, until: UnixNanos) -> u64 {
        if until <= self.now {
            return 0;
        }
        self.refresh(venue);
        let mut n = 0u64;
        loop {
            self.refill(venue);
            let Rates {
                bid,
                ask,
                cancel_total,
                inside,
                per_side,
                total,
            } = self.rates(venue);
            if total <= 0.0 {
                self.now = until;
                self.ahead = None;
                break;
            }
            // A time drawn ahead by `next_event` stands while the total rate is the same (the wait
            // is exponential: only the total rate matters, and no event happened before it).
            let ahead = self
                .ahead
                .take()
                .filter(|a| a.total_bits == total.to_bits() && a.at >= self.now.0 as f64);
            let t = match ahead {
                Some(a) => a.at,
                None => self.now.0 as f64 + self.rng.exp(total) * 1e9,
            };
            // A time drawn ahead compares in whole nanoseconds (the f64 clock's grain is 256 ns
            // today), so an advance to just past the time `next_event` returned meets the event.
            let later = match ahead {
                Some(_) => t as u64 >= until.0,
                None => t >= until.0 as f64,
            };
            if later {
                // Memoryless: the next event is re-drawn from `until` on the next call (a time
                // drawn ahead is kept: it is still the next event while the rates stay).
                self.now = until;
                if ahead.is_some() {
                    self.ahead = Some(Ahead {
                        total_bits: total.to_bits(),
                        at: t,
                    });
                }
                break;
            }
            self.now = UnixNanos(t as u64);
            n += 1;
            self.stats.events += 1;
            let mut x = self.rng.unit() * total;
            if x < cancel_total {
                let mut pick = self.weights.len().saturating_sub(1);
                for (i, w) in self.weights.iter().enumerate() {
                    if x < *w {
                        pick = i;
                        break;
                    }
                    x -= w;
                }
                if pick < self.resting.len() {
                    let r = self.resting.swap_remove(pick);
                    self.stats.cancels += 1;
                    if venue
                        .cancel(
                            self.account,
                            &self.symbol,
                            OrderKey::Id(r.id),
                            None,
                            self.now,
                        )
                        .is_err()
                    {
                        self.stats.cancel_misses += 1;
                    }
                }
            } else {
                x -= cancel_total;
                let side = if x < per_side { Side::Buy } else { Side::Sell };
                if x >= per_side {
                    x -= per_side;
                }
                if x < self.params.market_rate {
                    self.market(venue, side);
                } else {
                    x -= self.params.market_rate;
                    let px = if x < inside {
                        match side {
                            Side::Buy => bid + 1,
                            Side::Sell => ask - 1,
                        }
                    } else {
                        x -= inside;
                        let mut d = self.params.add_rate.len() - 1;
                        for (i, r) in self.params.add_rate.iter().enumerate() {
                            if x < *r {
                                d = i;
                                break;
                            }
                            x -= r;
                        }
                        match side {
                            Side::Buy => bid - d as i64,
                            Side::Sell => ask + d as i64,
                        }
                    };
                    if px > 0 {
                        let lots = self.add_lots();
                        self.limit(venue, side, px, lots);
                    }
                }
            }
            self.since_forget += 1;
            if self.since_forget >= 4096 {
                self.since_forget = 0;
                venue.forget_house_history();
            }
        }
        self.refill(venue);
        n
    }
}

/// Fuzz body (`native/fuzz/fuzz_targets/flow_params.rs`): any text as a parameters file; accepted
/// parameters of a modest total rate also run the generator for a simulated second on DOGEUSDT.
/// Must never panic.
pub fn fuzz_params(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut p) = FlowParams::from_toml(text) else {
        return;
    };
    let total: f64 = p.add_rate.iter().sum::<f64>() + p.inside_rate + p.market_rate;
    if total > 1e3 || p.initial_depth.iter().sum::<f64>() > 1e9 {
        return;
    }
    p.symbol = "DOGEUSDT".into();
    let inst = include_str!("../../../config/instruments/DOGEUSDT.spot.toml");
    let Ok(master) = crate::model::InstrumentMaster::from_toml_str(inst) else {
        return;
    };
    let Ok(fees) = super::FeeRates::from_bps(1, 1) else {
        return;
    };
    let mut v = SpotVenue::new(fees);
    for i in master.iter() {
        let _ = v.list(i.clone());
    }
    if let Ok(mut g) = FlowGenerator::new(&mut v, p, 7, 1, UnixNanos(1_000_000_000)) {
        g.seed_book(&mut v);
        g.advance(&mut v, UnixNanos(2_000_000_000));
        let _ = v.check_invariants();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic_and_uniform_enough() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        let xs: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(Rng::new(43).next_u64(), xs[0]);
        let mut r = Rng::new(1);
        let mean: f64 = (0..100_000).map(|_| r.unit()).sum::<f64>() / 100_000.0;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
        let m: f64 = (0..100_000).map(|_| r.exp(4.0)).sum::<f64>() / 100_000.0;
        assert!((m - 0.25).abs() < 0.01, "{m}");
    }

    #[test]
    fn quantile_draws_stay_in_range_and_follow_the_median() {
        let q = [1.0, 10.0, 100.0];
        let mut r = Rng::new(9);
        let mut v: Vec<f64> = (0..20_001).map(|_| r.from_quantiles(&q)).collect();
        assert!(v.iter().all(|x| (1.0..=100.0 + 1e-9).contains(x)));
        v.sort_by(f64::total_cmp);
        let med = v[10_000];
        assert!((med / 10.0 - 1.0).abs() < 0.1, "{med}");
    }

    #[test]
    fn bad_parameters_are_refused() {
        let ok = r#"
symbol = "X"
reference_price = "1.0"
add_rate = [1.0]
inside_rate = 0.0
cancel_rate = [0.1]
market_rate = 0.1
add_size = [1.0, 2.0]
market_size = [1.0, 2.0]
initial_depth = [5.0]
"#;
        assert!(FlowParams::from_toml(ok).is_ok());
        assert!(matches!(
            FlowParams::from_toml(&ok.replace("[1.0, 2.0]", "[2.0, 1.0]")),
            Err(FlowError::Invalid(_))
        ));
        assert!(matches!(
            FlowParams::from_toml(&ok.replace("market_rate = 0.1", "market_rate = -1.0")),
            Err(FlowError::Invalid(_))
        ));
        assert!(matches!(
            FlowParams::from_toml(&format!("{ok}\nbogus = 1")),
            Err(FlowError::Parse(_))
        ));
    }
}
