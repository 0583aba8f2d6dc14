//! The simulated venue's spot account layer: balances, order placement with the venue's filters and
//! error codes, fund reservation, fills with maker/taker fees, cancel and cancel-replace, order and
//! trade queries, and the event stream the Binance front renders (execution reports, public trades,
//! depth diffs with contiguous update ids, book tickers).
//!
//! Runs inside the simulated venue (never on pymm's hot path), on whatever thread owns the
//! [`SpotVenue`]; it never reads a clock (every call takes `now`) and iterates only ordered maps, so a
//! sequence of calls gives the same result bit for bit.
//!
//! # Units
//! Balances are `i128` counts of **10^-18 of an asset** ("atto"). A quantity of `lots` is
//! `lots × step × 10^18` atto of the base asset and a notional `ticks × lots` is
//! `ticks × tick × lots × step × 10^18` atto of the quote asset, so both are exact whenever the tick's
//! and the step's decimal places add up to at most 18 (checked when a symbol is listed). Fee rates are
//! integers in 10^-8 (Binance's `commissionRates` precision: `0.001` is 100 000); a fee is
//! `amount × rate / 10^8` rounded up to 10^-8 of the asset (Binance reports commissions with 8
//! places; a partial fill of 71 DOGE at 0.16902 would otherwise owe 0.001200042 USDT). The venue keeps what it charges in
//! [`SpotVenue::fees_collected`], so deposits = balances + fees, exactly.
//!
//! # Reservations
//! A BUY locks `price × qty` of the quote asset at its limit price (a MARKET buy at the worst price it
//! could reach against other accounts' liquidity, and the matcher is capped at that price); a SELL
//! locks `qty` of the base asset. A fill unlocks its slice and refunds the price improvement; a cancel
//! or expiry unlocks the rest. Invariant: each account's `locked` equals the sum of its open orders'
//! reservations. Binance deducts the fee from the asset received.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

use super::matching::{Levels, MatchEvent, MatchingEngine, NewOrder, RejectReason, StpMode};

/// One price level: `(price, aggregate quantity)`.
pub type Level = (Price, Qty);
use crate::model::validator::{validate, MarketContext, OrderRequest, PriceInput, QtyInput};
use crate::model::{
    Instrument, Market, OrderStatus, OrderType, Price, Qty, Side, TimeInForce, UnixNanos,
    VenueError,
};

/// 10^18: atto per unit of an asset.
pub const ATTO: i128 = 1_000_000_000_000_000_000;
/// Fee rates are in 10^-8.
pub const RATE_ONE: i128 = 100_000_000;

/// Why the venue could not be set up (never a client rejection: those are [`VenueError`]s).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SetupError {
    /// Only spot instruments are listed here.
    #[error("{symbol}: only spot instruments can be listed (got {market})")]
    NotSpot {
        /// The symbol.
        symbol: String,
        /// Its market.
        market: &'static str,
    },
    /// The tick's and step's decimal places exceed 18: notionals would not be exact in atto.
    #[error("{symbol}: tick ({tick_exp} places) and step ({step_exp} places) exceed 18 places")]
    TooPrecise {
        /// The symbol.
        symbol: String,
        /// Decimal places of the tick.
        tick_exp: u8,
        /// Decimal places of the step.
        step_exp: u8,
    },
    /// The symbol is listed twice.
    #[error("{0} is listed twice")]
    Duplicate(String),
    /// A deposit amount is not a decimal with at most 18 places, or is negative.
    #[error("deposit {0:?} is not a non-negative decimal with at most 18 places")]
    BadAmount(String),
    /// A fee rate is negative or above 100%.
    #[error("fee rate {0} (10^-8) is outside 0..=10^8")]
    BadFee(i64),
}

/// Maker and taker commission rates in 10^-8 (`100_000` = 0.1% = 10 bps).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeeRates {
    /// Charged to the resting order's owner.
    pub maker: i64,
    /// Charged to the aggressor.
    pub taker: i64,
}

impl FeeRates {
    /// From basis points (`10` = 0.1%).
    pub fn from_bps(maker: i64, taker: i64) -> Result<Self, SetupError> {
        let f = Self {
            maker: maker.saturating_mul(10_000),
            taker: taker.saturating_mul(10_000),
        };
        for r in [f.maker, f.taker] {
            if !(0..=100_000_000).contains(&r) {
                return Err(SetupError::BadFee(r));
            }
        }
        Ok(f)
    }
}

/// One asset's balance, in atto.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Balance {
    /// Available.
    pub free: i128,
    /// Reserved by open orders.
    pub locked: i128,
}

/// One of an account's fills (a `myTrades` row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountTrade {
    /// Symbol index.
    pub symbol: usize,
    /// Trade id (per symbol).
    pub trade_id: u64,
    /// The account's order.
    pub order_id: u64,
    /// Execution price.
    pub price: Price,
    /// Quantity.
    pub qty: Qty,
    /// `price × qty` in atto of the quote asset.
    pub quote: i128,
    /// Commission in atto of `commission_asset`.
    pub commission: i128,
    /// The asset received (the fee is taken from it).
    pub commission_asset: String,
    /// Trade time.
    pub time: UnixNanos,
    /// Whether the account bought.
    pub is_buyer: bool,
    /// Whether the account's order was resting.
    pub is_maker: bool,
}

#[derive(Clone, Debug, Default)]
struct Account {
    balances: BTreeMap<String, Balance>,
    trades: Vec<AccountTrade>,
}

/// An order as the venue keeps it (open or final).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRecord {
    /// Venue order id (increasing across the venue).
    pub order_id: u64,
    /// Symbol index.
    pub symbol: usize,
    /// Owner.
    pub account: u32,
    /// The client's id.
    pub client_order_id: String,
    /// Buy or sell.
    pub side: Side,
    /// Type as sent.
    pub order_type: OrderType,
    /// Time in force as sent (GTC reported for types that take none).
    pub time_in_force: TimeInForce,
    /// Limit price (zero for MARKET).
    pub price: Price,
    /// Original quantity.
    pub orig_qty: Qty,
    /// Filled so far.
    pub executed_qty: Qty,
    /// Σ fill notional, atto of the quote asset (`cummulativeQuoteQty`).
    pub cum_quote: i128,
    /// State.
    pub status: OrderStatus,
    /// Self-trade prevention mode.
    pub stp: StpMode,
    /// Creation time.
    pub time: UnixNanos,
    /// Last change.
    pub update_time: UnixNanos,
    /// Quantity prevented by STP (`preventedQuantity`), zero if none.
    pub prevented_qty: Qty,
    /// A MARKET order's `quoteOrderQty`, atto of the quote asset (zero if not given).
    pub orig_quote_qty: i128,
    /// The price a BUY's reservation is computed at (limit, or a MARKET buy's cap).
    reserve_px: Price,
    /// What is still locked for the order, atto (quote for BUY, base for SELL).
    reserved: i128,
}

impl OrderRecord {
    /// Whether the order rests on the book.
    pub fn is_open(&self) -> bool {
        matches!(self.status, OrderStatus::New | OrderStatus::PartiallyFilled)
    }
}

/// Binance execution types (`x`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecType {
    /// Accepted.
    New,
    /// Cancelled by the client.
    Canceled,
    /// A fill.
    Trade,
    /// Expired (IOC/FOK/MARKET remainder, or STP).
    Expired,
    /// Price or quantity modified (USD-M `PUT /fapi/v1/order`).
    Amendment,
}

impl ExecType {
    /// Binance's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            ExecType::New => "NEW",
            ExecType::Canceled => "CANCELED",
            ExecType::Trade => "TRADE",
            ExecType::Expired => "EXPIRED",
            ExecType::Amendment => "AMENDMENT",
        }
    }
}

/// One `executionReport`: the order after the change, and what changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutionUpdate {
    /// The order after this report.
    pub order: OrderRecord,
    /// What happened.
    pub exec_type: ExecType,
    /// This fill's quantity (zero if not a fill).
    pub last_qty: Qty,
    /// This fill's price (zero if not a fill).
    pub last_price: Price,
    /// This fill's notional, atto.
    pub last_quote: i128,
    /// Commission on this fill, atto.
    pub commission: i128,
    /// Commission asset ("" if none).
    pub commission_asset: String,
    /// Trade id of this fill.
    pub trade_id: Option<u64>,
    /// Whether this fill was as maker.
    pub is_maker: bool,
    /// Event time.
    pub time: UnixNanos,
    /// For a cancel: the cancel request's client id (`c`), the order's own then goes in `C`.
    pub cancel_client_id: Option<String>,
}

/// Something the venue publishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VenueEvent {
    /// To the owner's user stream.
    Execution {
        /// Owner.
        account: u32,
        /// The report.
        update: Box<ExecutionUpdate>,
    },
    /// The account's balances changed (`outboundAccountPosition`), assets touched only.
    AccountPosition {
        /// Owner.
        account: u32,
        /// `(asset, balance)` after the change.
        balances: Vec<(String, Balance)>,
        /// Event time.
        time: UnixNanos,
    },
    /// A public trade (`<symbol>@trade`).
    Trade {
        /// Symbol index.
        symbol: usize,
        /// Trade id.
        trade_id: u64,
        /// Price.
        price: Price,
        /// Quantity.
        qty: Qty,
        /// Whether the buyer was the maker.
        buyer_is_maker: bool,
        /// Trade time.
        time: UnixNanos,
    },
    /// A depth diff (`<symbol>@depth`): absolute level sizes, zero removes.
    Depth {
        /// Symbol index.
        symbol: usize,
        /// First update id in the event (previous `last` + 1).
        first: u64,
        /// Last update id in the event.
        last: u64,
        /// Changed bid levels.
        bids: Vec<(Price, Qty)>,
        /// Changed ask levels.
        asks: Vec<(Price, Qty)>,
        /// Event time.
        time: UnixNanos,
    },
    /// The best bid/ask after a change (`<symbol>@bookTicker`).
    BookTicker {
        /// Symbol index.
        symbol: usize,
        /// The book's update id.
        update_id: u64,
        /// Best bid.
        bid: Option<(Price, Qty)>,
        /// Best ask.
        ask: Option<(Price, Qty)>,
    },
}

/// A fill of one order, for the `fills` array of a FULL response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderFill {
    /// Price.
    pub price: Price,
    /// Quantity.
    pub qty: Qty,
    /// Commission, atto.
    pub commission: i128,
    /// Commission asset.
    pub commission_asset: String,
    /// Trade id.
    pub trade_id: u64,
}

/// A new order as the front parsed it (texts still as sent: the validator checks them).
#[derive(Clone, Debug)]
pub struct PlaceOrder<'a> {
    /// Owner.
    pub account: u32,
    /// Symbol text.
    pub symbol: &'a str,
    /// Side.
    pub side: Side,
    /// Type.
    pub order_type: OrderType,
    /// Time in force, if sent.
    pub time_in_force: Option<TimeInForce>,
    /// Price text, if sent.
    pub price: Option<&'a str>,
    /// Quantity text, if sent.
    pub qty: Option<&'a str>,
    /// MARKET only: the quote amount to spend (BUY) or receive (SELL) instead of a quantity.
    pub quote_qty: Option<&'a str>,
    /// Client order id, if sent (one is generated otherwise).
    pub client_order_id: Option<&'a str>,
    /// STP mode, if sent (default EXPIRE_MAKER).
    pub stp: Option<StpMode>,
}

/// The result of an accepted order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    /// The order after matching.
    pub order: OrderRecord,
    /// Its fills, in order.
    pub fills: Vec<OrderFill>,
    /// Transaction time.
    pub time: UnixNanos,
}

/// Which order a cancel or query names.
#[derive(Clone, Copy, Debug)]
pub enum OrderKey<'a> {
    /// By venue id.
    Id(u64),
    /// By the client's id.
    ClientId(&'a str),
}

/// `cancelReplaceMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelReplaceMode {
    /// Do not place the new order if the cancel fails.
    StopOnFailure,
    /// Place it anyway.
    AllowFailure,
}

/// What a cancel-replace did: the cancel's result, and the new order's (None: not attempted).
#[derive(Clone, Debug)]
pub struct CancelReplaced {
    /// The cancel.
    pub cancel: Result<OrderRecord, VenueError>,
    /// The new order, if attempted.
    pub new_order: Option<Result<Placed, VenueError>>,
}

/// A new order that passed every check, with what it will reserve.
#[derive(Debug)]
struct Checked {
    symbol: usize,
    qty: Qty,
    price: Price,
    client_order_id: String,
    reserve_px: Price,
    reserve_asset: String,
    reserved: i128,
    orig_quote_qty: i128,
}

#[derive(Debug)]
struct Book {
    inst: Instrument,
    engine: MatchingEngine,
    update_id: u64,
    last_price: Option<Price>,
    /// atto per lot of base.
    atto_per_lot: i128,
    /// atto of quote per tick·lot.
    atto_per_tick_lot: i128,
    /// Lots executed on non-house orders (either side of a fill), for the replay's accounting.
    client_fill_lots: i64,
}

fn rej(code: i32, msg: &str) -> VenueError {
    VenueError {
        code,
        msg: msg.to_owned(),
    }
}

const INSUFFICIENT: &str = "Account has insufficient balance for requested action.";

/// The spot side of the simulated venue: symbols, accounts, orders.
#[derive(Debug)]
pub struct SpotVenue {
    books: Vec<Book>,
    by_symbol: BTreeMap<String, usize>,
    accounts: BTreeMap<u32, Account>,
    orders: BTreeMap<u64, OrderRecord>,
    client_ids: BTreeMap<(u32, usize, String), u64>,
    next_order_id: u64,
    fees: FeeRates,
    fees_collected: BTreeMap<String, i128>,
    deposits: BTreeMap<String, i128>,
    events: Vec<VenueEvent>,
    scratch: Vec<MatchEvent>,
    /// House accounts (the market-flow generator's): no MAX_NUM_ORDERS limit, no user-data events,
    /// and their finished orders and trades can be forgotten ([`SpotVenue::forget_house_history`]).
    house: BTreeSet<u32>,
}

/// `10^n` as i128 (n <= 18).
fn pow10(n: u32) -> i128 {
    10i128.pow(n)
}

/// Parses a non-negative decimal amount into atto.
pub fn parse_atto(text: &str) -> Option<i128> {
    let d = crate::model::Decimal::parse(text).ok()?;
    if d.is_negative() {
        return None;
    }
    Some(i128::from(d.raw()) * pow10(18 - u32::from(d.exp())))
}

/// Atto per 10^-8: Binance charges and reports commissions with 8 decimal places
/// (`baseCommissionPrecision`/`quoteCommissionPrecision` = 8).
const COMMISSION_UNIT: i128 = 10_000_000_000;

/// The commission on `received` atto at `rate` (10^-8 units), rounded up to 10^-8 of the asset:
/// the venue never charges or reports a commission finer than Binance's 8 places (an engine
/// parsing `n` into 1e-8 units must get it exactly). Rounding up is this venue's choice.
fn commission(received: i128, rate: i128) -> i128 {
    let unit = COMMISSION_UNIT * RATE_ONE;
    let x = received * rate;
    if x <= 0 {
        return 0;
    }
    (x + unit - 1) / unit * COMMISSION_UNIT
}

/// Formats atto as a decimal with at least `places` fractional digits (more only if needed to be
/// exact).
pub fn format_atto(v: i128, places: u32) -> String {
    let neg = v < 0;
    let m = v.unsigned_abs();
    let int = m / ATTO.unsigned_abs();
    let mut frac = format!("{:018}", m % ATTO.unsigned_abs());
    while frac.len() > places as usize && frac.ends_with('0') {
        frac.pop();
    }
    let sign = if neg { "-" } else { "" };
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

impl SpotVenue {
    /// An empty venue charging `fees`; order ids start at 1.
    pub fn new(fees: FeeRates) -> Self {
        Self {
            books: Vec::new(),
            by_symbol: BTreeMap::new(),
            accounts: BTreeMap::new(),
            orders: BTreeMap::new(),
            client_ids: BTreeMap::new(),
            next_order_id: 1,
            fees,
            fees_collected: BTreeMap::new(),
            deposits: BTreeMap::new(),
            events: Vec::new(),
            scratch: Vec::new(),
            house: BTreeSet::new(),
        }
    }

    /// Makes `account` a house account (the simulated market's liquidity): its orders are not
    /// limited by MAX_NUM_ORDERS, its user-data events are dropped from [`SpotVenue::drain_events`],
    /// and [`SpotVenue::forget_house_history`] may drop its finished orders and trades.
    pub fn set_house_account(&mut self, account: u32) {
        self.house.insert(account);
    }

    /// Drops the finished orders and the trade history of house accounts (bounded memory over a
    /// long run); open orders and balances stay.
    pub fn forget_house_history(&mut self) {
        if self.house.is_empty() {
            return;
        }
        let house = &self.house;
        self.orders
            .retain(|_, o| o.is_open() || !house.contains(&o.account));
        let orders = &self.orders;
        self.client_ids
            .retain(|(a, _, _), id| !house.contains(a) || orders.contains_key(id));
        for a in house {
            if let Some(acc) = self.accounts.get_mut(a) {
                acc.trades.clear();
            }
        }
    }

    /// Takes `lots` off a house order in place (queue priority kept); cancels it when nothing is
    /// left. `false` when it is not a resting house order.
    pub fn reduce_house_order(
        &mut self,
        symbol: usize,
        order_id: u64,
        lots: i64,
        now: UnixNanos,
    ) -> bool {
        let Some(o) = self.orders.get(&order_id) else {
            return false;
        };
        if !self.house.contains(&o.account) || o.symbol != symbol || !o.is_open() {
            return false;
        }
        let mut ev = std::mem::take(&mut self.scratch);
        ev.clear();
        let ok = self.books[symbol].engine.reduce(order_id, lots, &mut ev);
        if ok {
            self.apply(symbol, order_id, &ev, now);
        }
        self.scratch = ev;
        ok
    }

    /// Lots executed so far on non-house orders of `symbol` (0 for an unknown symbol).
    pub fn fill_lots_of_clients(&self, symbol: usize) -> i64 {
        self.books.get(symbol).map_or(0, |b| b.client_fill_lots)
    }

    /// Whether order `order_id` belongs to `account`.
    pub fn is_account_order(&self, order_id: u64, account: u32) -> bool {
        self.orders
            .get(&order_id)
            .is_some_and(|o| o.account == account)
    }

    /// The queue at one price level of `symbol`, front first: `(order id, account, open qty)`.
    pub fn level_queue(&self, symbol: usize, side: Side, price: Price) -> Vec<(u64, u32, Qty)> {
        self.books
            .get(symbol)
            .map(|b| b.engine.level_queue(side, price))
            .unwrap_or_default()
    }

    /// The open quantity of order `order_id` on symbol `symbol` (None: not resting).
    pub fn open_qty(&self, symbol: usize, order_id: u64) -> Option<Qty> {
        self.books.get(symbol)?.engine.open_qty(order_id)
    }

    /// The quantity queued ahead of resting order `order_id` at its price (None: not resting).
    pub fn queue_ahead(&self, symbol: usize, order_id: u64) -> Option<Qty> {
        self.books.get(symbol)?.engine.queue_ahead(order_id)
    }

    /// Lists a spot instrument; returns its symbol index.
    pub fn list(&mut self, inst: Instrument) -> Result<usize, SetupError> {
        if inst.market != Market::Spot {
            return Err(SetupError::NotSpot {
                symbol: inst.symbol.clone(),
                market: inst.market.as_str(),
            });
        }
        let (pe, qe) = (inst.price_scale.exp(), inst.qty_scale.exp());
        if u32::from(pe) + u32::from(qe) > 18 {
            return Err(SetupError::TooPrecise {
                symbol: inst.symbol.clone(),
                tick_exp: pe,
                step_exp: qe,
            });
        }
        if self.by_symbol.contains_key(&inst.symbol) {
            return Err(SetupError::Duplicate(inst.symbol.clone()));
        }
        let atto_per_lot = i128::from(inst.qty_scale.mantissa()) * pow10(18 - u32::from(qe));
        let atto_per_tick_lot = i128::from(inst.price_scale.mantissa())
            * i128::from(inst.qty_scale.mantissa())
            * pow10(18 - u32::from(pe) - u32::from(qe));
        let idx = self.books.len();
        self.by_symbol.insert(inst.symbol.clone(), idx);
        self.books.push(Book {
            inst,
            engine: MatchingEngine::new(1),
            update_id: 1,
            last_price: None,
            atto_per_lot,
            atto_per_tick_lot,
            client_fill_lots: 0,
        });
        Ok(idx)
    }

    /// The symbol index of `symbol`.
    pub fn symbol_index(&self, symbol: &str) -> Option<usize> {
        self.by_symbol.get(symbol).copied()
    }

    /// The instrument at `idx`.
    pub fn instrument(&self, idx: usize) -> Option<&Instrument> {
        self.books.get(idx).map(|b| &b.inst)
    }

    /// All listed instruments, in index order.
    pub fn instruments(&self) -> impl Iterator<Item = &Instrument> {
        self.books.iter().map(|b| &b.inst)
    }

    /// The fee rates.
    pub fn fees(&self) -> FeeRates {
        self.fees
    }

    /// Credits `amount` (decimal text) of `asset` to `account`, creating the account if needed.
    pub fn deposit(&mut self, account: u32, asset: &str, amount: &str) -> Result<(), SetupError> {
        let a = parse_atto(amount).ok_or_else(|| SetupError::BadAmount(amount.to_owned()))?;
        let acct = self.accounts.entry(account).or_default();
        acct.balances.entry(asset.to_owned()).or_default().free += a;
        *self.deposits.entry(asset.to_owned()).or_default() += a;
        Ok(())
    }

    /// Whether `account` exists.
    pub fn has_account(&self, account: u32) -> bool {
        self.accounts.contains_key(&account)
    }

    /// An account's balances by asset (every asset it ever held).
    pub fn balances(&self, account: u32) -> Vec<(String, Balance)> {
        self.accounts
            .get(&account)
            .map(|a| a.balances.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }

    /// What the venue has charged in fees, per asset (atto).
    pub fn fees_collected(&self) -> &BTreeMap<String, i128> {
        &self.fees_collected
    }

    /// Takes the events published since the last call.
    pub fn drain_events(&mut self) -> Vec<VenueEvent> {
        let mut events = std::mem::take(&mut self.events);
        if !self.house.is_empty() {
            let house = &self.house;
            events.retain(|e| match e {
                VenueEvent::Execution { account, .. }
                | VenueEvent::AccountPosition { account, .. } => !house.contains(account),
                _ => true,
            });
        }
        events
    }

    /// The book's current update id (`lastUpdateId`) and up to `limit` levels per side.
    pub fn depth(&self, symbol: usize, limit: usize) -> Option<(u64, Levels, Levels)> {
        let b = self.books.get(symbol)?;
        let (bids, asks) = b.engine.depth(limit);
        Some((b.update_id, bids, asks))
    }

    /// Best bid and ask of `symbol`.
    pub fn top(&self, symbol: usize) -> Option<(Option<Level>, Option<Level>)> {
        let b = self.books.get(symbol)?;
        Some((b.engine.best_bid(), b.engine.best_ask()))
    }

    /// The last trade price of `symbol`.
    pub fn last_price(&self, symbol: usize) -> Option<Price> {
        self.books.get(symbol)?.last_price
    }

    /// atto of base per lot and of quote per tick·lot for `symbol`.
    pub fn atto_units(&self, symbol: usize) -> Option<(i128, i128)> {
        let b = self.books.get(symbol)?;
        Some((b.atto_per_lot, b.atto_per_tick_lot))
    }

    fn symbol_of(&self, text: &str) -> Result<usize, VenueError> {
        self.by_symbol
            .get(text)
            .copied()
            .ok_or_else(|| rej(-1121, "Invalid symbol."))
    }

    fn find(&self, account: u32, symbol: usize, key: OrderKey<'_>) -> Option<u64> {
        let id = match key {
            OrderKey::Id(id) => id,
            OrderKey::ClientId(c) => *self.client_ids.get(&(account, symbol, c.to_owned()))?,
        };
        self.orders
            .get(&id)
            .filter(|o| o.account == account && o.symbol == symbol)
            .map(|o| o.order_id)
    }

    /// The order `key` of `account` on `symbol` (`-2013 "Order does not exist."`).
    pub fn query(
        &self,
        account: u32,
        symbol: &str,
        key: OrderKey<'_>,
    ) -> Result<OrderRecord, VenueError> {
        let s = self.symbol_of(symbol)?;
        self.find(account, s, key)
            .and_then(|id| self.orders.get(&id))
            .cloned()
            .ok_or_else(|| rej(-2013, "Order does not exist."))
    }

    /// `account`'s open orders, on one symbol or all, by order id.
    pub fn open_orders(
        &self,
        account: u32,
        symbol: Option<&str>,
    ) -> Result<Vec<OrderRecord>, VenueError> {
        let s = symbol.map(|t| self.symbol_of(t)).transpose()?;
        Ok(self
            .orders
            .values()
            .filter(|o| o.account == account && o.is_open() && s.is_none_or(|s| o.symbol == s))
            .cloned()
            .collect())
    }

    /// `account`'s orders on `symbol` (open and final), oldest first, the last `limit`.
    pub fn all_orders(
        &self,
        account: u32,
        symbol: &str,
        limit: usize,
    ) -> Result<Vec<OrderRecord>, VenueError> {
        let s = self.symbol_of(symbol)?;
        let all: Vec<_> = self
            .orders
            .values()
            .filter(|o| o.account == account && o.symbol == s)
            .cloned()
            .collect();
        let skip = all.len().saturating_sub(limit);
        Ok(all.into_iter().skip(skip).collect())
    }

    /// `account`'s fills on `symbol` (optionally of one order), oldest first, at most `limit`.
    pub fn my_trades(
        &self,
        account: u32,
        symbol: &str,
        order_id: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AccountTrade>, VenueError> {
        let s = self.symbol_of(symbol)?;
        let Some(a) = self.accounts.get(&account) else {
            return Ok(Vec::new());
        };
        let all: Vec<_> = a
            .trades
            .iter()
            .filter(|t| t.symbol == s && order_id.is_none_or(|id| t.order_id == id))
            .cloned()
            .collect();
        let skip = all.len().saturating_sub(limit);
        Ok(all.into_iter().skip(skip).collect())
    }

    fn balance_mut(&mut self, account: u32, asset: &str) -> &mut Balance {
        self.accounts
            .entry(account)
            .or_default()
            .balances
            .entry(asset.to_owned())
            .or_default()
    }

    fn publish_position(&mut self, accounts: &[u32], assets: [&str; 2], now: UnixNanos) {
        let mut seen: Vec<u32> = accounts.to_vec();
        seen.sort_unstable();
        seen.dedup();
        for acct in seen {
            let balances = assets
                .iter()
                .map(|a| ((*a).to_owned(), *self.balance_mut(acct, a)))
                .collect();
            self.events.push(VenueEvent::AccountPosition {
                account: acct,
                balances,
                time: now,
            });
        }
    }

    fn report(&mut self, order_id: u64, exec_type: ExecType, now: UnixNanos) {
        if let Some(o) = self.orders.get(&order_id) {
            self.events.push(VenueEvent::Execution {
                account: o.account,
                update: Box::new(ExecutionUpdate {
                    order: o.clone(),
                    exec_type,
                    last_qty: Qty::ZERO,
                    last_price: Price::ZERO,
                    last_quote: 0,
                    commission: 0,
                    commission_asset: String::new(),
                    trade_id: None,
                    is_maker: false,
                    time: now,
                    cancel_client_id: None,
                }),
            });
        }
    }

    /// The price a MARKET buy of `lots` may reach against the resting asks (None: none rest).
    fn market_buy_cap(&self, symbol: usize, lots: i64) -> Option<Price> {
        let b = &self.books[symbol];
        let (_, asks) = b.engine.depth(usize::MAX);
        let mut sum = 0i64;
        let mut cap = None;
        for (p, q) in asks {
            cap = Some(p);
            sum = sum.saturating_add(q.lots());
            if sum >= lots {
                break;
            }
        }
        cap
    }

    /// The lots a MARKET order for `quote` atto of the quote asset takes from the book's opposite
    /// side, walking levels best first and taking whole lots while the amount lasts.
    fn lots_for_quote(&self, symbol: usize, side: Side, quote: i128) -> i64 {
        let b = &self.books[symbol];
        let (bids, asks) = b.engine.depth(usize::MAX);
        let levels = match side {
            Side::Buy => asks,
            Side::Sell => bids,
        };
        let (mut left, mut lots) = (quote, 0i64);
        for (p, q) in levels {
            let per_lot = i128::from(p.ticks()) * b.atto_per_tick_lot;
            if per_lot <= 0 {
                break;
            }
            let take = i64::try_from((left / per_lot).min(i128::from(q.lots()))).unwrap_or(0);
            lots += take;
            left -= i128::from(take) * per_lot;
            if take < q.lots() {
                break;
            }
        }
        lots
    }

    /// What `POST /api/v3/order/test` answers: every check of [`SpotVenue::place`] (filters, funds,
    /// duplicate client id), nothing placed.
    pub fn test_order(&self, req: &PlaceOrder<'_>) -> Result<(), VenueError> {
        self.check(req).map(|_| ())
    }

    /// The read-only half of placing: filters, quantity, price, client id, reservation and funds.
    fn check(&self, req: &PlaceOrder<'_>) -> Result<Checked, VenueError> {
        let s = self.symbol_of(req.symbol)?;
        let (quote_lots, orig_quote_qty) = match (req.order_type, req.quote_qty, req.qty) {
            (_, None, _) => (None, 0),
            (OrderType::Market, Some(q), None) => {
                let quote = parse_atto(q).ok_or_else(|| {
                    rej(
                        -1100,
                        "Illegal characters found in parameter 'quoteOrderQty'.",
                    )
                })?;
                (Some(self.lots_for_quote(s, req.side, quote)), quote)
            }
            _ => {
                return Err(rej(
                    -1106,
                    "Parameter 'quoteOrderQty' sent when not required.",
                ))
            }
        };
        let account = req.account;
        let open = if self.house.contains(&account) {
            0
        } else {
            self.orders
                .values()
                .filter(|o| o.account == account && o.symbol == s && o.is_open())
                .count()
        };
        let book = &self.books[s];
        let inst = &book.inst;
        let reference = book
            .last_price
            .and_then(|p| inst.price_scale.units_to_decimal(p.ticks()));
        let vreq = OrderRequest {
            side: req.side,
            order_type: req.order_type,
            time_in_force: req.time_in_force,
            price: req.price.map(PriceInput::Text),
            qty: match quote_lots {
                Some(lots) => Some(QtyInput::Lots(Qty::from_lots(lots))),
                None => req.qty.map(QtyInput::Text),
            },
            reduce_only: false,
        };
        let ctx = MarketContext {
            reference_price: reference,
            open_orders: u32::try_from(open).unwrap_or(u32::MAX),
        };
        // House orders (the simulated market, recorded books) are the market itself: they only need
        // to be on the grid, which the parsing below enforces.
        if !self.house.contains(&account) {
            validate(inst, &vreq, &ctx)?;
        }
        let qty = match quote_lots {
            Some(lots) => Qty::from_lots(lots),
            None => inst
                .qty_from_str(req.qty.unwrap_or("0"))
                .map_err(|_| rej(-1013, "Filter failure: LOT_SIZE"))?,
        };
        let price = match req.price {
            Some(p) if req.order_type.has_price() => inst
                .price_from_str(p)
                .map_err(|_| rej(-1013, "Filter failure: PRICE_FILTER"))?,
            _ => Price::ZERO,
        };
        let client_order_id = match req.client_order_id {
            Some(c) if !c.is_empty() => c.to_owned(),
            _ => format!("sim{}", self.next_order_id),
        };
        if let Some(prev) = self.client_ids.get(&(account, s, client_order_id.clone())) {
            if self.orders.get(prev).is_some_and(OrderRecord::is_open) {
                return Err(rej(-2010, "Duplicate order sent."));
            }
        }
        let (base, quote) = (inst.base_asset.clone(), inst.quote_asset.clone());
        let (atto_lot, atto_tl) = (book.atto_per_lot, book.atto_per_tick_lot);

        // Reservation.
        let (reserve_px, reserve_asset, reserved) = match req.side {
            Side::Buy => {
                let px = if req.order_type == OrderType::Market {
                    self.market_buy_cap(s, qty.lots()).unwrap_or(Price::ZERO)
                } else {
                    price
                };
                let need = i128::from(px.ticks()) * i128::from(qty.lots()) * atto_tl;
                (px, quote.clone(), need)
            }
            Side::Sell => (price, base.clone(), i128::from(qty.lots()) * atto_lot),
        };
        let free = self
            .accounts
            .get(&account)
            .and_then(|a| a.balances.get(&reserve_asset))
            .map_or(0, |b| b.free);
        if free < reserved {
            return Err(rej(-2010, INSUFFICIENT));
        }
        Ok(Checked {
            symbol: s,
            qty,
            price,
            client_order_id,
            reserve_px,
            reserve_asset,
            reserved,
            orig_quote_qty,
        })
    }

    /// Places an order: filters (the venue's codes), funds (`-2010`), then matching.
    pub fn place(&mut self, req: &PlaceOrder<'_>, now: UnixNanos) -> Result<Placed, VenueError> {
        let Checked {
            symbol: s,
            qty,
            price,
            client_order_id,
            reserve_px,
            reserve_asset,
            reserved,
            orig_quote_qty,
        } = self.check(req)?;
        let account = req.account;
        {
            let bal = self.balance_mut(account, &reserve_asset);
            bal.free -= reserved;
            bal.locked += reserved;
        }
        let order_id = self.next_order_id;
        self.next_order_id += 1;
        let stp = req.stp.unwrap_or(StpMode::ExpireMaker);
        let record = OrderRecord {
            order_id,
            symbol: s,
            account,
            client_order_id: client_order_id.clone(),
            side: req.side,
            order_type: req.order_type,
            time_in_force: req.time_in_force.unwrap_or(TimeInForce::Gtc),
            price,
            orig_qty: qty,
            executed_qty: Qty::ZERO,
            cum_quote: 0,
            status: OrderStatus::New,
            stp,
            time: now,
            update_time: now,
            prevented_qty: Qty::ZERO,
            orig_quote_qty,
            reserve_px,
            reserved,
        };
        self.orders.insert(order_id, record);

        let (kind, tif, match_px) = match (req.order_type, req.side) {
            // A MARKET buy is capped at the price its reservation covers; nothing to buy: expire.
            (OrderType::Market, Side::Buy) => (OrderType::Limit, TimeInForce::Ioc, reserve_px),
            (OrderType::Market, Side::Sell) => (OrderType::Market, TimeInForce::Ioc, Price::ZERO),
            (t, _) => (t, req.time_in_force.unwrap_or(TimeInForce::Gtc), price),
        };
        let mut ev = std::mem::take(&mut self.scratch);
        ev.clear();
        if req.order_type == OrderType::Market && req.side == Side::Buy && reserve_px.ticks() == 0 {
            ev.push(MatchEvent::Expired {
                order_id,
                leaves: qty,
                in_match: false,
            });
        } else {
            self.books[s].engine.submit(
                &NewOrder {
                    order_id,
                    account,
                    side: req.side,
                    kind,
                    tif,
                    price: match_px,
                    qty,
                    stp,
                },
                now,
                &mut ev,
            );
        }
        if let Some(MatchEvent::Rejected { reason, .. }) = ev.first() {
            let reason = *reason;
            self.release(order_id);
            self.orders.remove(&order_id);
            self.scratch = ev;
            return Err(match reason {
                RejectReason::WouldTake => rej(-2010, "Order would immediately match and take."),
                RejectReason::Invalid | RejectReason::DuplicateId => {
                    rej(-1013, "Filter failure: LOT_SIZE")
                }
            });
        }
        self.client_ids
            .insert((account, s, client_order_id), order_id);
        self.report(order_id, ExecType::New, now);
        let fills = self.apply(s, order_id, &ev, now);
        self.scratch = ev;
        let order = self.orders.get(&order_id).cloned().ok_or_else(|| {
            // The record was inserted above and is never removed after acceptance.
            rej(
                -1000,
                "An unknown error occurred while processing the request.",
            )
        })?;
        Ok(Placed {
            order,
            fills,
            time: now,
        })
    }

    /// Unlocks whatever the order still reserves.
    fn release(&mut self, order_id: u64) {
        let Some(o) = self.orders.get_mut(&order_id) else {
            return;
        };
        let amount = std::mem::take(&mut o.reserved);
        let (account, side, s) = (o.account, o.side, o.symbol);
        let inst = &self.books[s].inst;
        let asset = match side {
            Side::Buy => inst.quote_asset.clone(),
            Side::Sell => inst.base_asset.clone(),
        };
        let bal = self.balance_mut(account, &asset);
        bal.locked -= amount;
        bal.free += amount;
    }

    /// Self-trade prevention took `qty` off an order that stays live: unlock that part.
    fn decrement(&mut self, order_id: u64, qty: Qty, now: UnixNanos) {
        let Some(o) = self.orders.get_mut(&order_id) else {
            return;
        };
        let b = &self.books[o.symbol];
        let (slice, asset) = match o.side {
            Side::Buy => (
                i128::from(o.reserve_px.ticks()) * i128::from(qty.lots()) * b.atto_per_tick_lot,
                b.inst.quote_asset.clone(),
            ),
            Side::Sell => (
                i128::from(qty.lots()) * b.atto_per_lot,
                b.inst.base_asset.clone(),
            ),
        };
        o.reserved -= slice;
        o.prevented_qty = Qty::from_lots(o.prevented_qty.lots() + qty.lots());
        o.update_time = now;
        let account = o.account;
        let bal = self.balance_mut(account, &asset);
        bal.locked -= slice;
        bal.free += slice;
    }

    /// Applies the matcher's events for a request on symbol `s` made by `taker`; returns the taker's
    /// fills.
    fn apply(&mut self, s: usize, taker: u64, ev: &[MatchEvent], now: UnixNanos) -> Vec<OrderFill> {
        let mut fills = Vec::new();
        let mut bids = Vec::new();
        let mut asks = Vec::new();
        let mut touched_accounts = Vec::new();
        let (base, quote, atto_lot, atto_tl) = {
            let b = &self.books[s];
            (
                b.inst.base_asset.clone(),
                b.inst.quote_asset.clone(),
                b.atto_per_lot,
                b.atto_per_tick_lot,
            )
        };
        for e in ev {
            match *e {
                MatchEvent::Fill {
                    trade_id,
                    taker: taker_id,
                    maker,
                    taker_side,
                    price,
                    qty,
                    taker_leaves,
                    maker_leaves,
                    ..
                } => {
                    let base_amt = i128::from(qty.lots()) * atto_lot;
                    let quote_amt = i128::from(price.ticks()) * i128::from(qty.lots()) * atto_tl;
                    let (buyer, seller) = match taker_side {
                        Side::Buy => (taker_id, maker),
                        Side::Sell => (maker, taker_id),
                    };
                    for (oid, is_buyer) in [(buyer, true), (seller, false)] {
                        let is_maker = oid == maker;
                        let rate = i128::from(if is_maker {
                            self.fees.maker
                        } else {
                            self.fees.taker
                        });
                        let Some(o) = self.orders.get_mut(&oid) else {
                            continue;
                        };
                        let account = o.account;
                        if !self.house.contains(&account) {
                            self.books[s].client_fill_lots += qty.lots();
                        }
                        let (received_asset, received, slice, locked_asset) = if is_buyer {
                            let slice =
                                i128::from(o.reserve_px.ticks()) * i128::from(qty.lots()) * atto_tl;
                            (base.clone(), base_amt, slice, quote.clone())
                        } else {
                            (quote.clone(), quote_amt, base_amt, base.clone())
                        };
                        let fee = commission(received, rate);
                        o.reserved -= slice;
                        o.executed_qty = Qty::from_lots(o.executed_qty.lots() + qty.lots());
                        o.cum_quote += quote_amt;
                        o.update_time = now;
                        let leaves = if is_maker { maker_leaves } else { taker_leaves };
                        // Done when nothing is left (STP DECREMENT may have taken part of it).
                        o.status = if leaves.is_zero() {
                            OrderStatus::Filled
                        } else {
                            OrderStatus::PartiallyFilled
                        };
                        let snapshot = o.clone();
                        {
                            let bal = self.balance_mut(account, &locked_asset);
                            bal.locked -= slice;
                            if is_buyer {
                                // Refund the price improvement on the reservation.
                                bal.free += slice - quote_amt;
                            }
                        }
                        self.balance_mut(account, &received_asset).free += received - fee;
                        *self
                            .fees_collected
                            .entry(received_asset.clone())
                            .or_default() += fee;
                        self.accounts
                            .entry(account)
                            .or_default()
                            .trades
                            .push(AccountTrade {
                                symbol: s,
                                trade_id,
                                order_id: oid,
                                price,
                                qty,
                                quote: quote_amt,
                                commission: fee,
                                commission_asset: received_asset.clone(),
                                time: now,
                                is_buyer,
                                is_maker,
                            });
                        if oid == taker {
                            fills.push(OrderFill {
                                price,
                                qty,
                                commission: fee,
                                commission_asset: received_asset.clone(),
                                trade_id,
                            });
                        }
                        touched_accounts.push(account);
                        self.events.push(VenueEvent::Execution {
                            account,
                            update: Box::new(ExecutionUpdate {
                                order: snapshot,
                                exec_type: ExecType::Trade,
                                last_qty: qty,
                                last_price: price,
                                last_quote: quote_amt,
                                commission: fee,
                                commission_asset: received_asset,
                                trade_id: Some(trade_id),
                                is_maker,
                                time: now,
                                cancel_client_id: None,
                            }),
                        });
                    }
                    self.books[s].last_price = Some(price);
                    self.events.push(VenueEvent::Trade {
                        symbol: s,
                        trade_id,
                        price,
                        qty,
                        buyer_is_maker: taker_side == Side::Sell,
                        time: now,
                    });
                }
                MatchEvent::Expired {
                    order_id,
                    leaves,
                    in_match,
                } => {
                    if let Some(o) = self.orders.get_mut(&order_id) {
                        o.status = if in_match {
                            OrderStatus::ExpiredInMatch
                        } else {
                            OrderStatus::Expired
                        };
                        if in_match {
                            o.prevented_qty =
                                Qty::from_lots(o.prevented_qty.lots() + leaves.lots());
                        }
                        o.update_time = now;
                        touched_accounts.push(o.account);
                    }
                    self.release(order_id);
                    self.report(order_id, ExecType::Expired, now);
                }
                MatchEvent::Decremented { order_id, qty } => {
                    self.decrement(order_id, qty, now);
                    if let Some(o) = self.orders.get(&order_id) {
                        touched_accounts.push(o.account);
                    }
                }
                MatchEvent::Canceled { order_id, .. } => {
                    if let Some(o) = self.orders.get_mut(&order_id) {
                        o.status = OrderStatus::Canceled;
                        o.update_time = now;
                        touched_accounts.push(o.account);
                    }
                    self.release(order_id);
                }
                MatchEvent::Level { side, price, qty } => match side {
                    Side::Buy => bids.push((price, qty)),
                    Side::Sell => asks.push((price, qty)),
                },
                MatchEvent::Rested { .. } | MatchEvent::Rejected { .. } => {}
            }
        }
        if let Some(o) = self.orders.get(&taker) {
            touched_accounts.push(o.account);
        }
        self.publish_position(&touched_accounts, [&base, &quote], now);
        if !bids.is_empty() || !asks.is_empty() {
            let book = &mut self.books[s];
            bids.reverse(); // best (highest) first
            let n = (bids.len() + asks.len()) as u64;
            let first = book.update_id + 1;
            book.update_id += n;
            let last = book.update_id;
            self.events.push(VenueEvent::Depth {
                symbol: s,
                first,
                last,
                bids,
                asks,
                time: now,
            });
            self.events.push(VenueEvent::BookTicker {
                symbol: s,
                update_id: last,
                bid: book.engine.best_bid(),
                ask: book.engine.best_ask(),
            });
        }
        fills
    }

    /// Cancels one order (`-2011 "Unknown order sent."` when it is not open).
    pub fn cancel(
        &mut self,
        account: u32,
        symbol: &str,
        key: OrderKey<'_>,
        cancel_client_id: Option<&str>,
        now: UnixNanos,
    ) -> Result<OrderRecord, VenueError> {
        let s = self.symbol_of(symbol)?;
        let unknown = || rej(-2011, "Unknown order sent.");
        let id = self.find(account, s, key).ok_or_else(unknown)?;
        if !self.orders.get(&id).is_some_and(OrderRecord::is_open) {
            return Err(unknown());
        }
        let mut ev = std::mem::take(&mut self.scratch);
        ev.clear();
        if !self.books[s].engine.cancel(id, &mut ev) {
            self.scratch = ev;
            return Err(unknown());
        }
        self.apply(s, id, &ev, now);
        self.scratch = ev;
        let o = self.orders.get(&id).cloned().ok_or_else(unknown)?;
        let cancel_id = cancel_client_id
            .filter(|c| !c.is_empty())
            .map_or_else(|| format!("simcancel{id}"), str::to_owned);
        self.events.push(VenueEvent::Execution {
            account,
            update: Box::new(ExecutionUpdate {
                order: o.clone(),
                exec_type: ExecType::Canceled,
                last_qty: Qty::ZERO,
                last_price: Price::ZERO,
                last_quote: 0,
                commission: 0,
                commission_asset: String::new(),
                trade_id: None,
                is_maker: false,
                time: now,
                cancel_client_id: Some(cancel_id),
            }),
        });
        Ok(o)
    }

    /// Cancels every open order of `account` on `symbol` (`-2011` when there is none).
    pub fn cancel_all(
        &mut self,
        account: u32,
        symbol: &str,
        now: UnixNanos,
    ) -> Result<Vec<OrderRecord>, VenueError> {
        let ids: Vec<u64> = self
            .open_orders(account, Some(symbol))?
            .iter()
            .map(|o| o.order_id)
            .collect();
        if ids.is_empty() {
            return Err(rej(-2011, "Unknown order sent."));
        }
        ids.into_iter()
            .map(|id| self.cancel(account, symbol, OrderKey::Id(id), None, now))
            .collect()
    }

    /// Cancels `key` and places `new` (same symbol), per `mode`.
    pub fn cancel_replace(
        &mut self,
        key: OrderKey<'_>,
        cancel_client_id: Option<&str>,
        new: &PlaceOrder<'_>,
        mode: CancelReplaceMode,
        now: UnixNanos,
    ) -> CancelReplaced {
        let cancel = self.cancel(new.account, new.symbol, key, cancel_client_id, now);
        let attempt = cancel.is_ok() || mode == CancelReplaceMode::AllowFailure;
        let new_order = attempt.then(|| self.place(new, now));
        CancelReplaced { cancel, new_order }
    }

    /// Checks the conservation invariants; `Err` names the first broken one. For tests and soak
    /// checks: deposits per asset equal Σ balances + fees collected; nothing is negative; each
    /// account's locked equals its open orders' reservations; final orders reserve nothing.
    pub fn check_invariants(&self) -> Result<(), String> {
        let deposits = &self.deposits;
        let mut totals: BTreeMap<String, i128> = self.fees_collected.clone();
        let mut reserved: BTreeMap<(u32, String), i128> = BTreeMap::new();
        for o in self.orders.values().filter(|o| o.is_open()) {
            let inst = &self.books[o.symbol].inst;
            let asset = match o.side {
                Side::Buy => &inst.quote_asset,
                Side::Sell => &inst.base_asset,
            };
            *reserved.entry((o.account, asset.clone())).or_default() += o.reserved;
        }
        for o in self.orders.values().filter(|o| !o.is_open()) {
            if o.reserved != 0 {
                return Err(format!(
                    "final order {} still reserves {}",
                    o.order_id, o.reserved
                ));
            }
        }
        for (id, a) in &self.accounts {
            for (asset, b) in &a.balances {
                if b.free < 0 || b.locked < 0 {
                    return Err(format!("account {id} {asset} negative: {b:?}"));
                }
                let r = reserved.get(&(*id, asset.clone())).copied().unwrap_or(0);
                if b.locked != r {
                    return Err(format!(
                        "account {id} {asset}: locked {} != open reservations {r}",
                        b.locked
                    ));
                }
                *totals.entry(asset.clone()).or_default() += b.free + b.locked;
            }
        }
        for (asset, d) in deposits {
            let t = totals.get(asset).copied().unwrap_or(0);
            if t != *d {
                return Err(format!("{asset}: deposits {d} != balances + fees {t}"));
            }
        }
        Ok(())
    }
}

/// Parses a Binance STP mode; TRANSFER (trade groups) is not simulated.
pub fn parse_stp(text: &str) -> Option<StpMode> {
    Some(match text {
        "NONE" => StpMode::None,
        "EXPIRE_TAKER" => StpMode::ExpireTaker,
        "EXPIRE_MAKER" => StpMode::ExpireMaker,
        "EXPIRE_BOTH" => StpMode::ExpireBoth,
        "DECREMENT" => StpMode::Decrement,
        _ => return None,
    })
}

/// Binance's spelling of an STP mode.
pub const fn stp_str(m: StpMode) -> &'static str {
    match m {
        StpMode::None => "NONE",
        StpMode::ExpireTaker => "EXPIRE_TAKER",
        StpMode::ExpireMaker => "EXPIRE_MAKER",
        StpMode::ExpireBoth => "EXPIRE_BOTH",
        StpMode::Decrement => "DECREMENT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testing::spot_doge;
    use proptest::prelude::*;

    const T: UnixNanos = UnixNanos(1_000_000);

    fn venue() -> SpotVenue {
        let mut v = SpotVenue::new(FeeRates::from_bps(1, 5).unwrap());
        v.list(spot_doge()).unwrap();
        let mut dep = BTreeMap::new();
        for acct in [1, 2, 3] {
            v.deposit(acct, "USDT", "10000").unwrap();
            v.deposit(acct, "DOGE", "100000").unwrap();
        }
        dep.insert("USDT".to_owned(), 30_000 * ATTO);
        dep.insert("DOGE".to_owned(), 300_000 * ATTO);
        assert_eq!(v.deposits, dep);
        v
    }

    fn order<'a>(
        account: u32,
        side: Side,
        t: OrderType,
        tif: Option<TimeInForce>,
        px: Option<&'a str>,
        qty: &'a str,
    ) -> PlaceOrder<'a> {
        PlaceOrder {
            account,
            symbol: "DOGEUSDT",
            side,
            order_type: t,
            time_in_force: tif,
            price: px,
            qty: Some(qty),
            quote_qty: None,
            client_order_id: None,
            stp: None,
        }
    }

    fn limit<'a>(account: u32, side: Side, px: &'a str, qty: &'a str) -> PlaceOrder<'a> {
        order(
            account,
            side,
            OrderType::Limit,
            Some(TimeInForce::Gtc),
            Some(px),
            qty,
        )
    }

    fn bal(v: &SpotVenue, acct: u32, asset: &str) -> Balance {
        v.balances(acct)
            .into_iter()
            .find(|(a, _)| a == asset)
            .map(|(_, b)| b)
            .unwrap_or_default()
    }

    #[test]
    fn limit_locks_and_cancel_unlocks() {
        let mut v = venue();
        let p = v.place(&limit(1, Side::Buy, "0.2", "1000"), T).unwrap();
        assert_eq!(p.order.status, OrderStatus::New);
        assert_eq!(p.order.order_id, 1);
        assert_eq!(bal(&v, 1, "USDT").locked, 200 * ATTO);
        assert_eq!(bal(&v, 1, "USDT").free, 9_800 * ATTO);
        v.check_invariants().unwrap();
        let c = v.cancel(1, "DOGEUSDT", OrderKey::Id(1), None, T).unwrap();
        assert_eq!(c.status, OrderStatus::Canceled);
        assert_eq!(
            bal(&v, 1, "USDT"),
            Balance {
                free: 10_000 * ATTO,
                locked: 0
            }
        );
        let e = v
            .cancel(1, "DOGEUSDT", OrderKey::Id(1), None, T)
            .unwrap_err();
        assert_eq!((e.code, e.msg.as_str()), (-2011, "Unknown order sent."));
        let q = v.query(1, "DOGEUSDT", OrderKey::Id(99)).unwrap_err();
        assert_eq!((q.code, q.msg.as_str()), (-2013, "Order does not exist."));
        assert_eq!(
            v.query(1, "DOGEUSDT", OrderKey::ClientId("sim1"))
                .unwrap()
                .status,
            OrderStatus::Canceled
        );
        v.check_invariants().unwrap();
    }

    #[test]
    fn insufficient_balance_and_filters_use_venue_codes() {
        let mut v = venue();
        let e = v.place(&limit(1, Side::Buy, "1", "20000"), T).unwrap_err();
        assert_eq!((e.code, e.msg.as_str()), (-2010, INSUFFICIENT));
        let e = v
            .place(&limit(1, Side::Buy, "0.123456", "10"), T)
            .unwrap_err();
        assert_eq!(e.code, -1013, "{e}");
        let e = v.place(&limit(1, Side::Buy, "0.2", "1.5"), T).unwrap_err();
        assert_eq!(e.msg, "Filter failure: LOT_SIZE");
        let e = v.place(&limit(1, Side::Buy, "0.2", "2"), T).unwrap_err();
        assert_eq!(e.msg, "Filter failure: NOTIONAL");
        let mut bad = limit(1, Side::Buy, "0.2", "100");
        bad.symbol = "BTCUSDT";
        assert_eq!(v.place(&bad, T).unwrap_err().code, -1121);
        assert!(v.drain_events().is_empty(), "rejections publish nothing");
    }

    #[test]
    fn fill_moves_funds_with_fees_from_the_received_asset() {
        let mut v = venue();
        v.place(&limit(1, Side::Sell, "0.2", "1000"), T).unwrap();
        // Taker buys 400 at limit 0.25, fills at 0.2: refund of the improvement, taker fee 5 bps
        // in DOGE; maker fee 1 bp in USDT.
        let p = v.place(&limit(2, Side::Buy, "0.25", "400"), T).unwrap();
        assert_eq!(p.order.status, OrderStatus::Filled);
        assert_eq!(p.fills.len(), 1);
        assert_eq!(p.fills[0].commission, 400 * ATTO * 5 / 10_000);
        assert_eq!(p.fills[0].commission_asset, "DOGE");
        assert_eq!(
            bal(&v, 2, "USDT"),
            Balance {
                free: (10_000 - 80) * ATTO,
                locked: 0
            }
        );
        assert_eq!(
            bal(&v, 2, "DOGE").free,
            100_000 * ATTO + 400 * ATTO - 400 * ATTO * 5 / 10_000
        );
        assert_eq!(
            bal(&v, 1, "DOGE"),
            Balance {
                free: 99_000 * ATTO,
                locked: 600 * ATTO
            }
        );
        assert_eq!(
            bal(&v, 1, "USDT").free,
            10_000 * ATTO + 80 * ATTO - 80 * ATTO / 10_000
        );
        v.check_invariants().unwrap();
        let t = v.my_trades(1, "DOGEUSDT", None, 100).unwrap();
        assert_eq!(t.len(), 1);
        assert!(t[0].is_maker && !t[0].is_buyer);
        let q = v.query(1, "DOGEUSDT", OrderKey::Id(1)).unwrap();
        assert_eq!(
            (q.status, q.executed_qty.lots()),
            (OrderStatus::PartiallyFilled, 400)
        );
        assert_eq!(q.cum_quote, 80 * ATTO);
        let ev = v.drain_events();
        let kinds: Vec<_> = ev
            .iter()
            .filter_map(|e| match e {
                VenueEvent::Execution { account, update } => {
                    Some((*account, update.exec_type, update.order.status))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                (1, ExecType::New, OrderStatus::New),
                (2, ExecType::New, OrderStatus::New),
                (2, ExecType::Trade, OrderStatus::Filled),
                (1, ExecType::Trade, OrderStatus::PartiallyFilled),
            ]
        );
    }

    #[test]
    fn depth_ids_are_contiguous_and_match_the_snapshot() {
        let mut v = venue();
        v.place(&limit(1, Side::Sell, "0.2", "1000"), T).unwrap();
        v.place(&limit(1, Side::Sell, "0.21", "1000"), T).unwrap();
        v.place(&limit(2, Side::Buy, "0.21", "1500"), T).unwrap();
        let mut prev = 1;
        for e in v.drain_events() {
            if let VenueEvent::Depth { first, last, .. } = e {
                assert_eq!(first, prev + 1);
                assert!(last >= first);
                prev = last;
            }
        }
        let (last_update_id, bids, asks) = v.depth(0, 10).unwrap();
        assert_eq!(last_update_id, prev);
        assert!(bids.is_empty());
        assert_eq!(asks, vec![(Price::from_ticks(21000), Qty::from_lots(500))]);
    }

    #[test]
    fn limit_maker_market_and_stp() {
        let mut v = venue();
        v.place(&limit(1, Side::Sell, "0.2", "1000"), T).unwrap();
        let lm = order(2, Side::Buy, OrderType::LimitMaker, None, Some("0.2"), "10");
        let e = v.place(&lm, T).unwrap_err();
        assert_eq!(
            (e.code, e.msg.as_str()),
            (-2010, "Order would immediately match and take.")
        );
        assert_eq!(bal(&v, 2, "USDT").locked, 0);
        // MARKET buy of more than rests: fills 1000, expires the rest, reservation released.
        let m = order(2, Side::Buy, OrderType::Market, None, None, "1500");
        let p = v.place(&m, T).unwrap();
        assert_eq!(
            (p.order.status, p.order.executed_qty.lots()),
            (OrderStatus::Expired, 1000)
        );
        assert_eq!(bal(&v, 2, "USDT").locked, 0);
        // MARKET buy with nothing to buy expires unfilled.
        let p = v.place(&m, T).unwrap();
        assert_eq!(
            (p.order.status, p.order.executed_qty.lots()),
            (OrderStatus::Expired, 0)
        );
        // STP: account 3 crosses itself, default EXPIRE_MAKER.
        let m = v.place(&limit(3, Side::Sell, "0.3", "100"), T).unwrap();
        let p = v.place(&limit(3, Side::Buy, "0.3", "100"), T).unwrap();
        assert_eq!(p.order.status, OrderStatus::New);
        let maker = v
            .query(3, "DOGEUSDT", OrderKey::Id(m.order.order_id))
            .unwrap();
        assert_eq!(maker.status, OrderStatus::ExpiredInMatch);
        assert_eq!(maker.prevented_qty.lots(), 100);
        v.check_invariants().unwrap();
    }

    #[test]
    fn stp_decrement_reduces_both_and_unlocks() {
        let mut v = venue();
        let m = v.place(&limit(3, Side::Sell, "0.3", "100"), T).unwrap();
        let mut t = limit(3, Side::Buy, "0.3", "40");
        t.stp = Some(StpMode::Decrement);
        let p = v.place(&t, T).unwrap();
        assert_eq!(p.order.status, OrderStatus::ExpiredInMatch);
        assert_eq!(p.order.prevented_qty.lots(), 40);
        let maker = v
            .query(3, "DOGEUSDT", OrderKey::Id(m.order.order_id))
            .unwrap();
        assert_eq!(
            (maker.status, maker.prevented_qty.lots()),
            (OrderStatus::New, 40)
        );
        assert_eq!(bal(&v, 3, "DOGE").locked, 60 * ATTO);
        assert_eq!(bal(&v, 3, "USDT").locked, 0);
        assert_eq!(
            v.depth(0, 1).unwrap().2,
            vec![(Price::from_ticks(30000), Qty::from_lots(60))]
        );
        v.check_invariants().unwrap();
    }

    #[test]
    fn market_by_quote_amount() {
        let mut v = venue();
        v.place(&limit(1, Side::Sell, "0.2", "100"), T).unwrap();
        v.place(&limit(1, Side::Sell, "0.25", "100"), T).unwrap();
        let mut m = order(2, Side::Buy, OrderType::Market, None, None, "0");
        m.qty = None;
        m.quote_qty = Some("30");
        let p = v.place(&m, T).unwrap();
        // 100 at 0.2 (20 USDT), then 40 whole lots at 0.25 (10 USDT).
        assert_eq!(
            (p.order.status, p.order.executed_qty.lots()),
            (OrderStatus::Filled, 140)
        );
        assert_eq!(p.order.cum_quote, 30 * ATTO);
        assert_eq!(p.order.orig_quote_qty, 30 * ATTO);
        assert_eq!(
            bal(&v, 2, "USDT"),
            Balance {
                free: 9_970 * ATTO,
                locked: 0
            }
        );
        let mut bad = limit(2, Side::Buy, "0.2", "100");
        bad.quote_qty = Some("30");
        assert_eq!(v.place(&bad, T).unwrap_err().code, -1106);
        v.check_invariants().unwrap();
    }

    #[test]
    fn cancel_replace_stop_on_failure() {
        let mut v = venue();
        let new = limit(1, Side::Buy, "0.19", "100");
        let r = v.cancel_replace(
            OrderKey::Id(42),
            None,
            &new,
            CancelReplaceMode::StopOnFailure,
            T,
        );
        assert_eq!(r.cancel.unwrap_err().code, -2011);
        assert!(r.new_order.is_none());
        v.place(&limit(1, Side::Buy, "0.18", "100"), T).unwrap();
        let r = v.cancel_replace(
            OrderKey::Id(1),
            None,
            &new,
            CancelReplaceMode::StopOnFailure,
            T,
        );
        assert_eq!(r.cancel.unwrap().status, OrderStatus::Canceled);
        let n = r.new_order.unwrap().unwrap();
        assert_eq!(n.order.price.ticks(), 19000);
        assert_eq!(v.open_orders(1, Some("DOGEUSDT")).unwrap().len(), 1);
        let all = v.cancel_all(1, "DOGEUSDT", T).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(v.cancel_all(1, "DOGEUSDT", T).unwrap_err().code, -2011);
        v.check_invariants().unwrap();
    }

    #[test]
    fn atto_text_round_trips() {
        assert_eq!(parse_atto("1.5"), Some(ATTO + ATTO / 2));
        assert_eq!(format_atto(ATTO + ATTO / 2, 8), "1.50000000");
        assert_eq!(format_atto(1, 8), "0.000000000000000001");
        assert_eq!(format_atto(0, 8), "0.00000000");
        assert_eq!(parse_atto("-1"), None);
    }

    proptest! {
        /// Any sequence of orders and cancels from three accounts: deposits = balances + fees,
        /// nothing negative, locked = open reservations, after every step.
        #[test]
        fn balances_are_conserved(
            reqs in proptest::collection::vec(
                (1u32..4, any::<bool>(), 18_000i64..22_000, 1i64..3_000, 0u8..8, 0u8..5), 1..150)
        ) {
            let mut v = venue();
            for (acct, buy, px, qty, kind, stp) in reqs {
                let side = if buy { Side::Buy } else { Side::Sell };
                let px_text = crate::model::decimal::format_fixed(px, 5);
                let qty_text = qty.to_string();
                let stp = [StpMode::None, StpMode::ExpireMaker, StpMode::ExpireTaker, StpMode::ExpireBoth, StpMode::Decrement][stp as usize];
                match kind {
                    0..=2 => {
                        let tif = [TimeInForce::Gtc, TimeInForce::Ioc, TimeInForce::Fok][kind as usize];
                        let mut o = limit(acct, side, &px_text, &qty_text);
                        o.time_in_force = Some(tif);
                        o.stp = Some(stp);
                        let _ = v.place(&o, T);
                    }
                    3 => {
                        let mut o = order(acct, side, OrderType::LimitMaker, None, Some(&px_text), &qty_text);
                        o.stp = Some(stp);
                        let _ = v.place(&o, T);
                    }
                    4 => {
                        let mut o = order(acct, side, OrderType::Market, None, None, &qty_text);
                        o.stp = Some(stp);
                        let _ = v.place(&o, T);
                    }
                    6 => {
                        let mut o = order(acct, side, OrderType::Market, None, None, "0");
                        o.qty = None;
                        o.quote_qty = Some(&px_text); // 0.18..0.22 USDT: often below a lot
                        o.stp = Some(stp);
                        let _ = v.place(&o, T);
                        let mut o = order(acct, side, OrderType::Market, None, None, "0");
                        o.qty = None;
                        o.quote_qty = Some(&qty_text);
                        o.stp = Some(stp);
                        let _ = v.place(&o, T);
                    }
                    _ => {
                        let open = v.open_orders(acct, Some("DOGEUSDT")).unwrap();
                        if let Some(o) = open.first() {
                            v.cancel(acct, "DOGEUSDT", OrderKey::Id(o.order_id), None, T).unwrap();
                        }
                    }
                }
                if let Err(e) = v.check_invariants() {
                    prop_assert!(false, "{}", e);
                }
                if let (Some((b, _)), Some((a, _))) = v.top(0).unwrap() {
                    prop_assert!(b < a);
                }
            }
        }
    }
}
