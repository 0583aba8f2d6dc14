//! The simulated venue's USD-M futures side: per-key futures accounts with a USDT margin wallet,
//! positions (one-way, or hedge mode when the account switches), leverage, margin type, mark price,
//! funding, maker/taker fees, reduceOnly, GTX post-only, IOC/FOK/MARKET/LIMIT and self-trade
//! prevention, on the same price-time [`MatchingEngine`] as spot.
//!
//! Runs inside the simulated venue (never on pymm's hot path); it never reads a clock (every call
//! takes `now`) and iterates only ordered maps, so a sequence of calls gives the same result bit for
//! bit. Error codes and messages are Binance's (research brief `binance_protocol.md` §3.2-§3.7).
//!
//! # Units
//! Money is `i128` atto-USDT (10^-18), as on spot. A position is signed lots (`amt > 0` long) with a
//! signed **basis** `S` (the cash paid for the open position: positive long, negative short).
//! Buying to open adds `qty × price` to `S`; closing `q` of `|amt|` removes `S × q / |amt|` and
//! realizes `cash − removed` (long) or `−cash − removed` (short). By construction an account's
//! realized PnL equals `C + S`, where `C` is its signed trade cash (sells − buys), so across all
//! accounts `Σ realized = Σ S` and `Σ (realized + unrealized at any mark) = 0` exactly, whatever the
//! rounding of `removed`. Each wallet is `deposits + realized − fees − funding` (checked by
//! [`UsdmVenue::check_invariants`]).
//!
//! # Margin (simplified, documented)
//! Initial margin of a position is `|amt| × mark / leverage`; of open orders, per symbol, the larger
//! of the buy and sell sides' notional beyond what would close the position, over the leverage.
//! `availableBalance = wallet + unrealized − position margin − open-order margin`; a new order that
//! would make it negative is refused (`-2019 "Margin is insufficient."`). ISOLATED and CROSSED are
//! stored, reported and refused/allowed as Binance does, but isolated margin is not segregated and
//! nothing is ever liquidated.
//!
//! # Mark price and funding
//! The mark price is the book's mid (the last trade, then the entry price, when a side is empty). Each
//! symbol has a settable funding rate (10^-8, default 0.0001) and a next funding time; at
//! [`UsdmVenue::settle_funding`] every position pays `amt × mark × rate` (longs pay shorts when the
//! rate is positive); the venue books what it collects and pays in [`UsdmVenue::funding_pool`].

use std::collections::BTreeMap;

use super::account::{parse_atto, ExecType, FeeRates, Level, OrderKey, SetupError, ATTO, RATE_ONE};
use super::matching::{Levels, MatchEvent, MatchingEngine, NewOrder, RejectReason, StpMode};
use crate::model::validator::{validate, MarketContext, OrderRequest, PriceInput, QtyInput};
use crate::model::{
    Instrument, Market, OrderStatus, OrderType, Price, Qty, Side, TimeInForce, UnixNanos,
    VenueError,
};

/// Leverage a symbol starts at (Binance's default).
pub const DEFAULT_LEVERAGE: u32 = 20;
/// Highest leverage accepted.
pub const MAX_LEVERAGE: u32 = 125;
/// Funding rate a symbol starts at, 10^-8 (0.0001 = 0.01%).
pub const DEFAULT_FUNDING_RATE: i64 = 10_000;
/// Binance's default funding interval: 8 hours.
pub const DEFAULT_FUNDING_INTERVAL_NS: u64 = 8 * 3_600 * 1_000_000_000;

/// Margin type of a symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarginType {
    /// Cross margin (the default).
    Crossed,
    /// Isolated margin.
    Isolated,
}

impl MarginType {
    /// The spelling `POST /fapi/v1/marginType` takes.
    pub const fn as_str(self) -> &'static str {
        match self {
            MarginType::Crossed => "CROSSED",
            MarginType::Isolated => "ISOLATED",
        }
    }

    /// The spelling `positionRisk` reports.
    pub const fn risk_str(self) -> &'static str {
        match self {
            MarginType::Crossed => "cross",
            MarginType::Isolated => "isolated",
        }
    }

    /// Parses `ISOLATED` / `CROSSED` (Binance also accepts `CROSS`).
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_uppercase().as_str() {
            "CROSSED" | "CROSS" => Some(MarginType::Crossed),
            "ISOLATED" => Some(MarginType::Isolated),
            _ => None,
        }
    }
}

/// `positionSide`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PositionSide {
    /// One-way mode.
    Both,
    /// Hedge mode, long leg.
    Long,
    /// Hedge mode, short leg.
    Short,
}

impl PositionSide {
    /// Binance's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            PositionSide::Both => "BOTH",
            PositionSide::Long => "LONG",
            PositionSide::Short => "SHORT",
        }
    }

    /// Parses Binance's spelling.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "BOTH" => Some(PositionSide::Both),
            "LONG" => Some(PositionSide::Long),
            "SHORT" => Some(PositionSide::Short),
            _ => None,
        }
    }
}

/// One position (a symbol and side of an account).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// Signed lots (long > 0).
    pub amt: i64,
    /// Signed cost basis, atto-USDT (long > 0, short < 0).
    pub basis: i128,
    /// Realized PnL accumulated on this position, atto.
    pub realized: i128,
    /// Last change.
    pub update_time: UnixNanos,
}

impl Position {
    /// Applies a fill of `signed_lots` (buy > 0) at `price` (`atto_tl` atto per tick·lot); returns
    /// the realized PnL of the part that closed.
    pub fn apply_fill(&mut self, signed_lots: i64, price: Price, atto_tl: i128) -> i128 {
        let px = i128::from(price.ticks()) * atto_tl;
        let mut q = signed_lots;
        let mut realized = 0i128;
        if self.amt != 0 && q != 0 && (q > 0) != (self.amt > 0) {
            let close = q.abs().min(self.amt.abs());
            let removed = self.basis * i128::from(close) / i128::from(self.amt.abs());
            let cash = i128::from(close) * px;
            realized = if self.amt > 0 {
                cash - removed
            } else {
                -cash - removed
            };
            self.basis -= removed;
            let step = if q > 0 { close } else { -close };
            self.amt += step;
            q -= step;
        }
        if q != 0 {
            self.basis += i128::from(q) * px;
            self.amt += q;
        }
        self.realized += realized;
        realized
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SymbolConfig {
    leverage: u32,
    margin: MarginType,
}

impl Default for SymbolConfig {
    fn default() -> Self {
        Self {
            leverage: DEFAULT_LEVERAGE,
            margin: MarginType::Crossed,
        }
    }
}

/// One of an account's fills (a `userTrades` row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuturesTrade {
    /// Symbol index.
    pub symbol: usize,
    /// Trade id (per symbol).
    pub trade_id: u64,
    /// The account's order.
    pub order_id: u64,
    /// Buy or sell.
    pub side: Side,
    /// Position side of the order.
    pub position_side: PositionSide,
    /// Price.
    pub price: Price,
    /// Quantity.
    pub qty: Qty,
    /// Notional, atto.
    pub quote: i128,
    /// Commission, atto-USDT.
    pub commission: i128,
    /// Realized PnL of the fill, atto.
    pub realized: i128,
    /// Whether the order was resting.
    pub is_maker: bool,
    /// Time.
    pub time: UnixNanos,
}

/// One `income` row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Income {
    /// Symbol index (None for transfers).
    pub symbol: Option<usize>,
    /// `REALIZED_PNL`, `COMMISSION`, `FUNDING_FEE`, `TRANSFER`.
    pub kind: &'static str,
    /// Signed amount, atto-USDT.
    pub amount: i128,
    /// Time.
    pub time: UnixNanos,
    /// Trade id for PnL and commission rows.
    pub trade_id: Option<u64>,
    /// Increasing id.
    pub tran_id: u64,
}

#[derive(Clone, Debug, Default)]
struct FuturesAccount {
    wallet: i128,
    dual: bool,
    config: BTreeMap<usize, SymbolConfig>,
    positions: BTreeMap<(usize, PositionSide), Position>,
    trades: Vec<FuturesTrade>,
    income: Vec<Income>,
    deposits: i128,
    fees_paid: i128,
    funding_paid: i128,
    realized: i128,
    update_time: UnixNanos,
}

/// A futures order as the venue keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuturesOrder {
    /// Venue order id.
    pub order_id: u64,
    /// Symbol index.
    pub symbol: usize,
    /// Owner.
    pub account: u32,
    /// The client's id.
    pub client_order_id: String,
    /// Side.
    pub side: Side,
    /// Position side.
    pub position_side: PositionSide,
    /// LIMIT or MARKET.
    pub order_type: OrderType,
    /// Time in force (GTC for MARKET).
    pub time_in_force: TimeInForce,
    /// Limit price (zero for MARKET).
    pub price: Price,
    /// Original quantity.
    pub orig_qty: Qty,
    /// Filled.
    pub executed_qty: Qty,
    /// Σ fill notional, atto (`cumQuote`).
    pub cum_quote: i128,
    /// Status.
    pub status: OrderStatus,
    /// reduceOnly.
    pub reduce_only: bool,
    /// STP mode.
    pub stp: StpMode,
    /// Creation.
    pub time: UnixNanos,
    /// Last change.
    pub update_time: UnixNanos,
}

impl FuturesOrder {
    /// Whether it rests.
    pub fn is_open(&self) -> bool {
        matches!(self.status, OrderStatus::New | OrderStatus::PartiallyFilled)
    }
}

/// One `ORDER_TRADE_UPDATE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderUpdate {
    /// The order after the change.
    pub order: FuturesOrder,
    /// What happened.
    pub exec_type: ExecType,
    /// Fill quantity (zero if none).
    pub last_qty: Qty,
    /// Fill price.
    pub last_price: Price,
    /// Commission, atto.
    pub commission: i128,
    /// Trade id.
    pub trade_id: Option<u64>,
    /// Maker fill.
    pub is_maker: bool,
    /// Realized PnL of the fill, atto.
    pub realized: i128,
    /// Time.
    pub time: UnixNanos,
}

/// A position row as an `ACCOUNT_UPDATE` or `positionRisk` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PositionView {
    /// Symbol index.
    pub symbol: usize,
    /// Side.
    pub side: PositionSide,
    /// The position.
    pub position: Position,
    /// Mark price, atto-USDT per unit of base (zero when unknown).
    pub mark: i128,
    /// Unrealized PnL at the mark, atto.
    pub unrealized: i128,
    /// Notional at the mark (signed), atto.
    pub notional: i128,
    /// Leverage.
    pub leverage: u32,
    /// Margin type.
    pub margin: MarginType,
    /// Initial margin of the position, atto.
    pub initial_margin: i128,
    /// Initial margin of the symbol's open orders, atto.
    pub order_margin: i128,
    /// Entry price, atto per unit.
    pub entry_price: i128,
}

/// Something the futures venue publishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FuturesEvent {
    /// `ORDER_TRADE_UPDATE` to the owner.
    Order {
        /// Owner.
        account: u32,
        /// The update.
        update: Box<OrderUpdate>,
    },
    /// `ACCOUNT_UPDATE` to the owner.
    Account {
        /// Owner.
        account: u32,
        /// `m`: ORDER, FUNDING_FEE, DEPOSIT, MARGIN_TYPE_CHANGE.
        reason: &'static str,
        /// Wallet after the change.
        wallet: i128,
        /// Positions that changed.
        positions: Vec<PositionView>,
        /// Time.
        time: UnixNanos,
    },
    /// `ACCOUNT_CONFIG_UPDATE` (leverage).
    Config {
        /// Owner.
        account: u32,
        /// Symbol.
        symbol: usize,
        /// New leverage.
        leverage: u32,
        /// Time.
        time: UnixNanos,
    },
    /// A public trade.
    Trade {
        /// Symbol.
        symbol: usize,
        /// Trade id.
        trade_id: u64,
        /// Price.
        price: Price,
        /// Quantity.
        qty: Qty,
        /// Buyer was maker.
        buyer_is_maker: bool,
        /// Time.
        time: UnixNanos,
    },
    /// A depth diff: `U`, `u`, `pu` from the venue-wide sequence (U may jump; `pu` links).
    Depth {
        /// Symbol.
        symbol: usize,
        /// `U`.
        first: u64,
        /// `u`.
        last: u64,
        /// `pu`: this symbol's previous `u`.
        prev: u64,
        /// Changed bids, best first.
        bids: Vec<(Price, Qty)>,
        /// Changed asks, best first.
        asks: Vec<(Price, Qty)>,
        /// Time.
        time: UnixNanos,
    },
    /// Best bid/ask after a change.
    BookTicker {
        /// Symbol.
        symbol: usize,
        /// Update id.
        update_id: u64,
        /// Best bid.
        bid: Option<(Price, Qty)>,
        /// Best ask.
        ask: Option<(Price, Qty)>,
        /// Time.
        time: UnixNanos,
    },
    /// `markPriceUpdate`.
    MarkPrice {
        /// Symbol.
        symbol: usize,
        /// Mark, atto per unit.
        mark: i128,
        /// Funding rate, 10^-8.
        rate: i64,
        /// Next funding time.
        next_funding: UnixNanos,
        /// Time.
        time: UnixNanos,
    },
}

/// A new futures order as the front parsed it.
#[derive(Clone, Debug)]
pub struct FuturesPlace<'a> {
    /// Owner.
    pub account: u32,
    /// Symbol text.
    pub symbol: &'a str,
    /// Side.
    pub side: Side,
    /// `positionSide`, if sent.
    pub position_side: Option<PositionSide>,
    /// Type.
    pub order_type: OrderType,
    /// Time in force, if sent.
    pub time_in_force: Option<TimeInForce>,
    /// Price text.
    pub price: Option<&'a str>,
    /// Quantity text.
    pub qty: Option<&'a str>,
    /// `reduceOnly` was sent (true or false).
    pub reduce_only: Option<bool>,
    /// Client order id.
    pub client_order_id: Option<&'a str>,
    /// STP mode (default EXPIRE_MAKER).
    pub stp: Option<StpMode>,
}

/// A modify request (`PUT /fapi/v1/order`) as the front parsed it.
#[derive(Clone, Copy, Debug)]
pub struct FuturesModify<'a> {
    /// Owner.
    pub account: u32,
    /// Symbol text.
    pub symbol: &'a str,
    /// Which order.
    pub key: OrderKey<'a>,
    /// Side (must be the order's).
    pub side: Side,
    /// New quantity text.
    pub qty: &'a str,
    /// New price text.
    pub price: &'a str,
}

/// A past funding settlement (`GET /fapi/v1/fundingRate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FundingRecord {
    /// Symbol.
    pub symbol: usize,
    /// Rate, 10^-8.
    pub rate: i64,
    /// Settlement time.
    pub time: UnixNanos,
    /// Mark at settlement, atto.
    pub mark: i128,
}

#[derive(Debug)]
struct FBook {
    inst: Instrument,
    engine: MatchingEngine,
    last_u: u64,
    last_price: Option<Price>,
    atto_per_lot: i128,
    atto_per_tick_lot: i128,
    /// atto-USDT per tick of price (for mark prices per unit).
    atto_per_tick: i128,
    funding_rate: i64,
    next_funding: UnixNanos,
}

fn rej(code: i32, msg: &str) -> VenueError {
    VenueError {
        code,
        msg: msg.to_owned(),
    }
}

fn pow10(n: u32) -> i128 {
    10i128.pow(n)
}

const MARGIN_INSUFFICIENT: (i32, &str) = (-2019, "Margin is insufficient.");
const REDUCE_ONLY_REJECTED: (i32, &str) = (-2022, "ReduceOnly Order is rejected.");
const GTX_REJECTED: (i32, &str) = (
    -5022,
    "Due to the order could not be executed as maker, the Post Only order will be rejected. The order will not be recorded in the order history",
);
const FOK_REJECTED: (i32, &str) = (
    -5021,
    "Due to the order could not be filled immediately, the FOK order has been rejected. The order will not be recorded in the order history",
);
const SIDE_MISMATCH: (i32, &str) = (
    -4061,
    "Order's position side does not match user's setting.",
);

/// The USD-M futures side of the simulated venue.
#[derive(Debug)]
pub struct UsdmVenue {
    books: Vec<FBook>,
    by_symbol: BTreeMap<String, usize>,
    accounts: BTreeMap<u32, FuturesAccount>,
    orders: BTreeMap<u64, FuturesOrder>,
    client_ids: BTreeMap<(u32, usize, String), u64>,
    next_order_id: u64,
    next_tran_id: u64,
    seq: u64,
    fees: FeeRates,
    fees_collected: i128,
    funding_pool: i128,
    funding_interval: u64,
    funding_history: Vec<FundingRecord>,
    events: Vec<FuturesEvent>,
    scratch: Vec<MatchEvent>,
}

impl UsdmVenue {
    /// An empty venue charging `fees`, settling funding every `funding_interval_ns`.
    pub fn new(fees: FeeRates, funding_interval_ns: u64) -> Self {
        Self {
            books: Vec::new(),
            by_symbol: BTreeMap::new(),
            accounts: BTreeMap::new(),
            orders: BTreeMap::new(),
            client_ids: BTreeMap::new(),
            next_order_id: 1,
            next_tran_id: 1,
            seq: 1,
            fees,
            fees_collected: 0,
            funding_pool: 0,
            funding_interval: funding_interval_ns.max(1),
            funding_history: Vec::new(),
            events: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Lists a USD-M instrument; its first funding is one interval after `now`.
    pub fn list(&mut self, inst: Instrument, now: UnixNanos) -> Result<usize, SetupError> {
        if inst.market != Market::UsdM {
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
        let pm = i128::from(inst.price_scale.mantissa());
        let qm = i128::from(inst.qty_scale.mantissa());
        let idx = self.books.len();
        self.by_symbol.insert(inst.symbol.clone(), idx);
        self.books.push(FBook {
            atto_per_lot: qm * pow10(18 - u32::from(qe)),
            atto_per_tick_lot: pm * qm * pow10(18 - u32::from(pe) - u32::from(qe)),
            atto_per_tick: pm * pow10(18 - u32::from(pe)),
            inst,
            engine: MatchingEngine::new(1),
            last_u: 0,
            last_price: None,
            funding_rate: DEFAULT_FUNDING_RATE,
            next_funding: UnixNanos(now.0 + self.funding_interval),
        });
        Ok(idx)
    }

    /// Symbol index.
    pub fn symbol_index(&self, symbol: &str) -> Option<usize> {
        self.by_symbol.get(symbol).copied()
    }

    /// Instrument at `idx`.
    pub fn instrument(&self, idx: usize) -> Option<&Instrument> {
        self.books.get(idx).map(|b| &b.inst)
    }

    /// All instruments in index order.
    pub fn instruments(&self) -> impl Iterator<Item = &Instrument> {
        self.books.iter().map(|b| &b.inst)
    }

    /// Fee rates.
    pub fn fees(&self) -> FeeRates {
        self.fees
    }

    /// Fees collected, atto-USDT.
    pub fn fees_collected(&self) -> i128 {
        self.fees_collected
    }

    /// What the venue holds from funding (paid by one side, paid out to the other; rounding stays).
    pub fn funding_pool(&self) -> i128 {
        self.funding_pool
    }

    /// The funding interval, ns.
    pub fn funding_interval(&self) -> u64 {
        self.funding_interval
    }

    /// Past funding settlements, oldest first.
    pub fn funding_history(&self) -> &[FundingRecord] {
        &self.funding_history
    }

    /// Takes the events since the last call.
    pub fn drain_events(&mut self) -> Vec<FuturesEvent> {
        std::mem::take(&mut self.events)
    }

    fn symbol_of(&self, text: &str) -> Result<usize, VenueError> {
        self.by_symbol
            .get(text)
            .copied()
            .ok_or_else(|| rej(-1121, "Invalid symbol."))
    }

    /// Credits `amount` of the margin asset (USDT) to `account`'s futures wallet.
    pub fn deposit(
        &mut self,
        account: u32,
        asset: &str,
        amount: &str,
        now: UnixNanos,
    ) -> Result<(), SetupError> {
        let a = parse_atto(amount).ok_or_else(|| SetupError::BadAmount(amount.to_owned()))?;
        if asset != "USDT" {
            return Err(SetupError::BadAmount(format!(
                "{asset}: only USDT is a margin asset"
            )));
        }
        let tran_id = self.next_tran_id;
        self.next_tran_id += 1;
        let acct = self.accounts.entry(account).or_default();
        acct.wallet += a;
        acct.deposits += a;
        acct.update_time = now;
        acct.income.push(Income {
            symbol: None,
            kind: "TRANSFER",
            amount: a,
            time: now,
            trade_id: None,
            tran_id,
        });
        Ok(())
    }

    /// Whether the account exists.
    pub fn has_account(&self, account: u32) -> bool {
        self.accounts.contains_key(&account)
    }

    /// Sets a symbol's funding rate from decimal text (`"0.0001"`, may be negative), 8 places at most.
    pub fn set_funding_rate(&mut self, symbol: &str, rate: &str) -> Result<(), VenueError> {
        let s = self.symbol_of(symbol)?;
        let (neg, body) = match rate.strip_prefix('-') {
            Some(b) => (true, b),
            None => (false, rate),
        };
        let atto = parse_atto(body)
            .ok_or_else(|| rej(-1100, "Illegal characters found in a parameter."))?;
        let unit = ATTO / RATE_ONE;
        if atto % unit != 0 || atto > ATTO {
            return Err(rej(
                -1111,
                "Precision is over the maximum defined for this asset.",
            ));
        }
        let r = i64::try_from(atto / unit).unwrap_or(i64::MAX);
        self.books[s].funding_rate = if neg { -r } else { r };
        Ok(())
    }

    /// A symbol's funding rate (10^-8) and next funding time.
    pub fn funding(&self, symbol: usize) -> Option<(i64, UnixNanos)> {
        self.books
            .get(symbol)
            .map(|b| (b.funding_rate, b.next_funding))
    }

    /// Book update id (`lastUpdateId`) and levels.
    pub fn depth(&self, symbol: usize, limit: usize) -> Option<(u64, Levels, Levels)> {
        let b = self.books.get(symbol)?;
        let (bids, asks) = b.engine.depth(limit);
        Some((b.last_u, bids, asks))
    }

    /// Best bid and ask.
    pub fn top(&self, symbol: usize) -> Option<(Option<Level>, Option<Level>)> {
        let b = self.books.get(symbol)?;
        Some((b.engine.best_bid(), b.engine.best_ask()))
    }

    /// Last trade price.
    pub fn last_price(&self, symbol: usize) -> Option<Price> {
        self.books.get(symbol)?.last_price
    }

    /// atto per lot, per tick·lot, per tick.
    pub fn atto_units(&self, symbol: usize) -> Option<(i128, i128, i128)> {
        let b = self.books.get(symbol)?;
        Some((b.atto_per_lot, b.atto_per_tick_lot, b.atto_per_tick))
    }

    /// The mark price in atto-USDT per unit of base: the mid, else the last trade; None if neither.
    pub fn mark_price(&self, symbol: usize) -> Option<i128> {
        let b = self.books.get(symbol)?;
        match (b.engine.best_bid(), b.engine.best_ask()) {
            (Some((bid, _)), Some((ask, _))) => {
                Some((i128::from(bid.ticks()) + i128::from(ask.ticks())) * b.atto_per_tick / 2)
            }
            _ => b
                .last_price
                .map(|p| i128::from(p.ticks()) * b.atto_per_tick),
        }
    }

    /// `lots` at `mark` (atto per unit): atto-USDT.
    fn notional_at(&self, symbol: usize, lots: i64, mark: i128) -> i128 {
        let b = &self.books[symbol];
        // atto_per_lot / ATTO units per lot: lots × mark × atto_per_lot / ATTO.
        let qe = u32::from(b.inst.qty_scale.exp());
        let qm = i128::from(b.inst.qty_scale.mantissa());
        i128::from(lots) * qm * mark / pow10(qe)
    }

    /// Entry price of a position, atto per unit.
    fn entry_price(&self, symbol: usize, p: &Position) -> i128 {
        if p.amt == 0 {
            return 0;
        }
        let b = &self.books[symbol];
        let qe = u32::from(b.inst.qty_scale.exp());
        let qm = i128::from(b.inst.qty_scale.mantissa());
        (p.basis * pow10(qe) / (i128::from(p.amt) * qm)).abs()
    }

    fn config(&self, account: u32, symbol: usize) -> SymbolConfig {
        self.accounts
            .get(&account)
            .and_then(|a| a.config.get(&symbol))
            .copied()
            .unwrap_or_default()
    }

    /// Initial margin of `account`'s open orders on `symbol`, optionally with one more order.
    fn order_margin(
        &self,
        account: u32,
        symbol: usize,
        extra: Option<(Side, PositionSide, i64, i128)>,
    ) -> i128 {
        let lev = i128::from(self.config(account, symbol).leverage);
        let pos = |ps: PositionSide| {
            self.accounts
                .get(&account)
                .and_then(|a| a.positions.get(&(symbol, ps)))
                .map_or(0, |p| p.amt)
        };
        let b = &self.books[symbol];
        let mut sides: BTreeMap<(PositionSide, u8), (i64, i128)> = BTreeMap::new();
        let mut add = |ps: PositionSide, side: Side, lots: i64, notional: i128| {
            let e = sides.entry((ps, side as u8)).or_default();
            e.0 += lots;
            e.1 += notional;
        };
        for o in self
            .orders
            .values()
            .filter(|o| o.account == account && o.symbol == symbol && o.is_open() && !o.reduce_only)
        {
            let leaves = o.orig_qty.lots() - o.executed_qty.lots();
            let n = i128::from(o.price.ticks()) * i128::from(leaves) * b.atto_per_tick_lot;
            add(o.position_side, o.side, leaves, n);
        }
        if let Some((side, ps, lots, n)) = extra {
            add(ps, side, lots, n);
        }
        let mut total = 0i128;
        for ps in [PositionSide::Both, PositionSide::Long, PositionSide::Short] {
            let amt = pos(ps);
            let mut worst = 0i128;
            for side in [Side::Buy, Side::Sell] {
                let Some(&(lots, n)) = sides.get(&(ps, side as u8)) else {
                    continue;
                };
                if lots <= 0 {
                    continue;
                }
                let closable = match side {
                    Side::Buy => (-amt).max(0),
                    Side::Sell => amt.max(0),
                };
                let excess = (lots - closable).max(0);
                worst = worst.max(n * i128::from(excess) / i128::from(lots));
            }
            total += worst;
        }
        total / lev
    }

    /// One position's view at the current mark.
    fn view(&self, account: u32, symbol: usize, side: PositionSide) -> PositionView {
        let p = self
            .accounts
            .get(&account)
            .and_then(|a| a.positions.get(&(symbol, side)))
            .copied()
            .unwrap_or_default();
        let cfg = self.config(account, symbol);
        let entry = self.entry_price(symbol, &p);
        let mark = self.mark_price(symbol).unwrap_or(entry);
        let notional = self.notional_at(symbol, p.amt, mark);
        let unrealized = if p.amt == 0 { 0 } else { notional - p.basis };
        let initial_margin = notional.abs() / i128::from(cfg.leverage);
        let order_margin = if side == PositionSide::Short {
            0
        } else {
            self.order_margin(account, symbol, None)
        };
        PositionView {
            symbol,
            side,
            position: p,
            mark,
            unrealized,
            notional,
            leverage: cfg.leverage,
            margin: cfg.margin,
            initial_margin,
            order_margin,
            entry_price: entry,
        }
    }

    fn sides_of(&self, account: u32) -> &'static [PositionSide] {
        if self.accounts.get(&account).is_some_and(|a| a.dual) {
            &[PositionSide::Long, PositionSide::Short]
        } else {
            &[PositionSide::Both]
        }
    }

    /// Every position row of `account` (one per symbol in one-way mode, two in hedge mode).
    pub fn positions(&self, account: u32) -> Vec<PositionView> {
        let mut out = Vec::new();
        for s in 0..self.books.len() {
            for &ps in self.sides_of(account) {
                out.push(self.view(account, s, ps));
            }
        }
        out
    }

    /// Wallet, unrealized, position margin, order margin, available (atto).
    pub fn summary(&self, account: u32) -> AccountSummary {
        let wallet = self.accounts.get(&account).map_or(0, |a| a.wallet);
        let (mut unrealized, mut pos_im, mut ord_im) = (0i128, 0i128, 0i128);
        for s in 0..self.books.len() {
            for &ps in self.sides_of(account) {
                let v = self.view(account, s, ps);
                unrealized += v.unrealized;
                pos_im += v.initial_margin;
            }
            ord_im += self.order_margin(account, s, None);
        }
        let available = wallet + unrealized - pos_im - ord_im;
        AccountSummary {
            wallet,
            unrealized,
            position_margin: pos_im,
            order_margin: ord_im,
            available,
            update_time: self
                .accounts
                .get(&account)
                .map_or(UnixNanos(0), |a| a.update_time),
        }
    }

    /// Whether `account` is in hedge mode.
    pub fn dual(&self, account: u32) -> bool {
        self.accounts.get(&account).is_some_and(|a| a.dual)
    }

    fn has_open_orders(&self, account: u32, symbol: Option<usize>) -> bool {
        self.orders
            .values()
            .any(|o| o.account == account && o.is_open() && symbol.is_none_or(|s| o.symbol == s))
    }

    fn has_position(&self, account: u32, symbol: Option<usize>) -> bool {
        self.accounts.get(&account).is_some_and(|a| {
            a.positions
                .iter()
                .any(|((s, _), p)| p.amt != 0 && symbol.is_none_or(|x| *s == x))
        })
    }

    /// `POST /fapi/v1/positionSide/dual`.
    pub fn set_dual(&mut self, account: u32, dual: bool) -> Result<(), VenueError> {
        if self.dual(account) == dual {
            return Err(rej(-4059, "No need to change position side."));
        }
        if self.has_open_orders(account, None) {
            return Err(rej(
                -4067,
                "Position side cannot be changed if there exists open orders.",
            ));
        }
        if self.has_position(account, None) {
            return Err(rej(
                -4068,
                "Position side cannot be changed if there exists position.",
            ));
        }
        let acct = self.accounts.entry(account).or_default();
        acct.dual = dual;
        acct.positions.retain(|_, p| p.amt != 0 || p.realized != 0);
        Ok(())
    }

    /// `POST /fapi/v1/leverage`: returns the leverage and the max notional at it.
    pub fn set_leverage(
        &mut self,
        account: u32,
        symbol: &str,
        leverage: i64,
        now: UnixNanos,
    ) -> Result<(u32, i128), VenueError> {
        let s = self.symbol_of(symbol)?;
        let lev = u32::try_from(leverage)
            .ok()
            .filter(|l| (1..=MAX_LEVERAGE).contains(l))
            .ok_or_else(|| rej(-4028, &format!("Leverage {leverage} is not valid")))?;
        let before = self.config(account, s);
        self.accounts
            .entry(account)
            .or_default()
            .config
            .entry(s)
            .or_default()
            .leverage = lev;
        if self.summary(account).available < 0 {
            self.accounts
                .entry(account)
                .or_default()
                .config
                .insert(s, before);
            return Err(rej(MARGIN_INSUFFICIENT.0, MARGIN_INSUFFICIENT.1));
        }
        self.events.push(FuturesEvent::Config {
            account,
            symbol: s,
            leverage: lev,
            time: now,
        });
        Ok((lev, max_notional(lev)))
    }

    /// `POST /fapi/v1/marginType`.
    pub fn set_margin_type(
        &mut self,
        account: u32,
        symbol: &str,
        margin: MarginType,
    ) -> Result<(), VenueError> {
        let s = self.symbol_of(symbol)?;
        if self.config(account, s).margin == margin {
            return Err(rej(-4046, "No need to change margin type."));
        }
        if self.has_position(account, Some(s)) {
            return Err(rej(
                -4048,
                "Margin type cannot be changed if there exists position.",
            ));
        }
        if self.has_open_orders(account, Some(s)) {
            return Err(rej(
                -4047,
                "Margin type cannot be changed if there exists open orders.",
            ));
        }
        self.accounts
            .entry(account)
            .or_default()
            .config
            .entry(s)
            .or_default()
            .margin = margin;
        Ok(())
    }

    /// Leverage and margin type of a symbol for an account.
    pub fn symbol_config(&self, account: u32, symbol: usize) -> (u32, MarginType) {
        let c = self.config(account, symbol);
        (c.leverage, c.margin)
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

    /// `GET /fapi/v1/order` (`-2013 "Order does not exist."`).
    pub fn query(
        &self,
        account: u32,
        symbol: &str,
        key: OrderKey<'_>,
    ) -> Result<FuturesOrder, VenueError> {
        let s = self.symbol_of(symbol)?;
        self.find(account, s, key)
            .and_then(|id| self.orders.get(&id))
            .cloned()
            .ok_or_else(|| rej(-2013, "Order does not exist."))
    }

    /// Open orders, one symbol or all.
    pub fn open_orders(
        &self,
        account: u32,
        symbol: Option<&str>,
    ) -> Result<Vec<FuturesOrder>, VenueError> {
        let s = symbol.map(|t| self.symbol_of(t)).transpose()?;
        Ok(self
            .orders
            .values()
            .filter(|o| o.account == account && o.is_open() && s.is_none_or(|s| o.symbol == s))
            .cloned()
            .collect())
    }

    /// All orders of a symbol, the last `limit`.
    pub fn all_orders(
        &self,
        account: u32,
        symbol: &str,
        limit: usize,
    ) -> Result<Vec<FuturesOrder>, VenueError> {
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

    /// Fills of a symbol, the last `limit`.
    pub fn trades(
        &self,
        account: u32,
        symbol: &str,
        order_id: Option<u64>,
        limit: usize,
    ) -> Result<Vec<FuturesTrade>, VenueError> {
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

    /// Income rows, the last `limit`, optionally of one kind.
    pub fn income(&self, account: u32, kind: Option<&str>, limit: usize) -> Vec<Income> {
        let Some(a) = self.accounts.get(&account) else {
            return Vec::new();
        };
        let all: Vec<_> = a
            .income
            .iter()
            .filter(|i| kind.is_none_or(|k| i.kind == k))
            .cloned()
            .collect();
        let skip = all.len().saturating_sub(limit);
        all.into_iter().skip(skip).collect()
    }

    fn reference(&self, s: usize) -> Option<crate::model::Decimal> {
        let b = &self.books[s];
        let ticks = match (b.engine.best_bid(), b.engine.best_ask()) {
            (Some((bid, _)), Some((ask, _))) => (bid.ticks() + ask.ticks()) / 2,
            _ => b.last_price?.ticks(),
        };
        b.inst.price_scale.units_to_decimal(ticks)
    }

    /// Places an order: parameters, position mode, filters, reduceOnly, margin, then matching.
    pub fn place(
        &mut self,
        req: &FuturesPlace<'_>,
        now: UnixNanos,
    ) -> Result<FuturesOrder, VenueError> {
        let s = self.symbol_of(req.symbol)?;
        let account = req.account;
        let dual = self.dual(account);
        let ps = match (dual, req.position_side) {
            (false, None | Some(PositionSide::Both)) => PositionSide::Both,
            (true, Some(p @ (PositionSide::Long | PositionSide::Short))) => p,
            _ => return Err(rej(SIDE_MISMATCH.0, SIDE_MISMATCH.1)),
        };
        if dual && req.reduce_only.is_some() {
            return Err(rej(-1106, "Parameter 'reduceOnly' sent when not required."));
        }
        let reduce_only = req.reduce_only == Some(true);
        if req.order_type == OrderType::Market && req.time_in_force.is_some() {
            return Err(rej(
                -1106,
                "Parameter 'timeInForce' sent when not required.",
            ));
        }
        if req.order_type == OrderType::Limit && req.time_in_force.is_none() {
            return Err(rej(
                -1102,
                "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.",
            ));
        }
        let open = self
            .orders
            .values()
            .filter(|o| o.account == account && o.symbol == s && o.is_open())
            .count();
        let inst = &self.books[s].inst;
        let vreq = OrderRequest {
            side: req.side,
            order_type: req.order_type,
            time_in_force: req.time_in_force,
            price: req.price.map(PriceInput::Text),
            qty: req.qty.map(QtyInput::Text),
            reduce_only,
        };
        let ctx = MarketContext {
            reference_price: self.reference(s),
            open_orders: u32::try_from(open).unwrap_or(u32::MAX),
        };
        validate(inst, &vreq, &ctx)?;
        let qty = inst
            .qty_from_str(req.qty.unwrap_or("0"))
            .map_err(|_| rej(-4023, "Qty not increased by step size."))?;
        let price = match req.price {
            Some(p) if req.order_type.has_price() => inst
                .price_from_str(p)
                .map_err(|_| rej(-4014, "Price not increased by tick size."))?,
            _ => Price::ZERO,
        };
        if let Some(c) = req.client_order_id {
            let ok = !c.is_empty()
                && c.len() <= 36
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".:/_-".contains(&b));
            if !ok {
                return Err(rej(
                    -1100,
                    "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
                ));
            }
        }
        let client_order_id = match req.client_order_id {
            Some(c) => c.to_owned(),
            None => format!("sim{}", self.next_order_id),
        };
        if let Some(prev) = self.client_ids.get(&(account, s, client_order_id.clone())) {
            if self.orders.get(prev).is_some_and(FuturesOrder::is_open) {
                return Err(rej(-4015, "Client order id is not valid."));
            }
        }
        // Closing legs: reduceOnly in one-way mode, the opposite side in hedge mode.
        let amt = self
            .accounts
            .get(&account)
            .and_then(|a| a.positions.get(&(s, ps)))
            .map_or(0, |p| p.amt);
        let closing_hedge = matches!(
            (ps, req.side),
            (PositionSide::Long, Side::Sell) | (PositionSide::Short, Side::Buy)
        );
        if reduce_only || closing_hedge {
            let reduces = match req.side {
                Side::Buy => amt < 0 && qty.lots() <= -amt,
                Side::Sell => amt > 0 && qty.lots() <= amt,
            };
            if !reduces {
                return Err(rej(REDUCE_ONLY_REJECTED.0, REDUCE_ONLY_REJECTED.1));
            }
        }
        let book = &self.books[s];
        let est_px = match req.order_type {
            OrderType::Market => match req.side {
                Side::Buy => book.engine.best_ask(),
                Side::Sell => book.engine.best_bid(),
            }
            .map_or(Price::ZERO, |(p, _)| p),
            _ => price,
        };
        let notional = i128::from(est_px.ticks()) * i128::from(qty.lots()) * book.atto_per_tick_lot;
        if !reduce_only && !closing_hedge {
            let mut sum = self.summary(account);
            let without = self.order_margin(account, s, None);
            let with = self.order_margin(account, s, Some((req.side, ps, qty.lots(), notional)));
            sum.available -= with - without;
            // A fee for taking could be due too: keep the taker fee on top.
            let fee = notional * i128::from(self.fees.taker) / RATE_ONE;
            if sum.available - fee < 0 {
                return Err(rej(MARGIN_INSUFFICIENT.0, MARGIN_INSUFFICIENT.1));
            }
        }
        let order_id = self.next_order_id;
        let stp = req.stp.unwrap_or(StpMode::ExpireMaker);
        let tif = req.time_in_force.unwrap_or(TimeInForce::Gtc);
        let (kind, match_tif) = match req.order_type {
            OrderType::Market => (OrderType::Market, TimeInForce::Ioc),
            t => (t, tif),
        };
        let mut ev = std::mem::take(&mut self.scratch);
        ev.clear();
        self.books[s].engine.submit(
            &NewOrder {
                order_id,
                account,
                side: req.side,
                kind,
                tif: match_tif,
                price,
                qty,
                stp,
            },
            now,
            &mut ev,
        );
        let refused = match ev.first() {
            Some(MatchEvent::Rejected { reason, .. }) => Some(match reason {
                RejectReason::WouldTake => rej(GTX_REJECTED.0, GTX_REJECTED.1),
                RejectReason::Invalid | RejectReason::DuplicateId => {
                    rej(-4023, "Qty not increased by step size.")
                }
            }),
            // The matcher expires an unfillable FOK whole, before touching the book.
            Some(MatchEvent::Expired { order_id: id, .. })
                if *id == order_id
                    && tif == TimeInForce::Fok
                    && req.order_type == OrderType::Limit
                    && ev.len() == 1 =>
            {
                Some(rej(FOK_REJECTED.0, FOK_REJECTED.1))
            }
            _ => None,
        };
        if let Some(e) = refused {
            self.scratch = ev;
            return Err(e);
        }
        self.next_order_id += 1;
        let record = FuturesOrder {
            order_id,
            symbol: s,
            account,
            client_order_id: client_order_id.clone(),
            side: req.side,
            position_side: ps,
            order_type: req.order_type,
            time_in_force: tif,
            price,
            orig_qty: qty,
            executed_qty: Qty::ZERO,
            cum_quote: 0,
            status: OrderStatus::New,
            reduce_only,
            stp,
            time: now,
            update_time: now,
        };
        self.orders.insert(order_id, record.clone());
        self.client_ids
            .insert((account, s, client_order_id), order_id);
        self.report(order_id, ExecType::New, now);
        self.apply(s, &ev, now);
        self.scratch = ev;
        Ok(record)
    }

    fn report(&mut self, order_id: u64, exec_type: ExecType, now: UnixNanos) {
        if let Some(o) = self.orders.get(&order_id) {
            self.events.push(FuturesEvent::Order {
                account: o.account,
                update: Box::new(OrderUpdate {
                    order: o.clone(),
                    exec_type,
                    last_qty: Qty::ZERO,
                    last_price: Price::ZERO,
                    commission: 0,
                    trade_id: None,
                    is_maker: false,
                    realized: 0,
                    time: now,
                }),
            });
        }
    }

    fn apply(&mut self, s: usize, ev: &[MatchEvent], now: UnixNanos) {
        let (mut bids, mut asks) = (Vec::new(), Vec::new());
        let mut touched: Vec<(u32, PositionSide)> = Vec::new();
        let atto_tl = self.books[s].atto_per_tick_lot;
        for e in ev {
            match *e {
                MatchEvent::Fill {
                    trade_id,
                    taker,
                    maker,
                    taker_side,
                    price,
                    qty,
                    taker_leaves,
                    maker_leaves,
                    ..
                } => {
                    let quote = i128::from(price.ticks()) * i128::from(qty.lots()) * atto_tl;
                    for (oid, is_maker, leaves) in
                        [(maker, true, maker_leaves), (taker, false, taker_leaves)]
                    {
                        let rate = i128::from(if is_maker {
                            self.fees.maker
                        } else {
                            self.fees.taker
                        });
                        let fee = quote * rate / RATE_ONE;
                        let Some(o) = self.orders.get_mut(&oid) else {
                            continue;
                        };
                        o.executed_qty = Qty::from_lots(o.executed_qty.lots() + qty.lots());
                        o.cum_quote += quote;
                        o.update_time = now;
                        o.status = if leaves.is_zero() {
                            OrderStatus::Filled
                        } else {
                            OrderStatus::PartiallyFilled
                        };
                        let snapshot = o.clone();
                        let (account, side, ps) = (o.account, o.side, o.position_side);
                        let signed = match side {
                            Side::Buy => qty.lots(),
                            Side::Sell => -qty.lots(),
                        };
                        let acct = self.accounts.entry(account).or_default();
                        let pos = acct.positions.entry((s, ps)).or_default();
                        let realized = pos.apply_fill(signed, price, atto_tl);
                        pos.update_time = now;
                        acct.wallet += realized - fee;
                        acct.realized += realized;
                        acct.fees_paid += fee;
                        acct.update_time = now;
                        for (kind, amount) in [("REALIZED_PNL", realized), ("COMMISSION", -fee)] {
                            if amount != 0 {
                                acct.income.push(Income {
                                    symbol: Some(s),
                                    kind,
                                    amount,
                                    time: now,
                                    trade_id: Some(trade_id),
                                    tran_id: self.next_tran_id,
                                });
                                self.next_tran_id += 1;
                            }
                        }
                        acct.trades.push(FuturesTrade {
                            symbol: s,
                            trade_id,
                            order_id: oid,
                            side,
                            position_side: ps,
                            price,
                            qty,
                            quote,
                            commission: fee,
                            realized,
                            is_maker,
                            time: now,
                        });
                        self.fees_collected += fee;
                        touched.push((account, ps));
                        self.events.push(FuturesEvent::Order {
                            account,
                            update: Box::new(OrderUpdate {
                                order: snapshot,
                                exec_type: ExecType::Trade,
                                last_qty: qty,
                                last_price: price,
                                commission: fee,
                                trade_id: Some(trade_id),
                                is_maker,
                                realized,
                                time: now,
                            }),
                        });
                    }
                    self.books[s].last_price = Some(price);
                    self.events.push(FuturesEvent::Trade {
                        symbol: s,
                        trade_id,
                        price,
                        qty,
                        buyer_is_maker: taker_side == Side::Sell,
                        time: now,
                    });
                }
                MatchEvent::Expired {
                    order_id, in_match, ..
                } => {
                    if let Some(o) = self.orders.get_mut(&order_id) {
                        o.status = if in_match {
                            OrderStatus::ExpiredInMatch
                        } else {
                            OrderStatus::Expired
                        };
                        o.update_time = now;
                    }
                    self.report(order_id, ExecType::Expired, now);
                }
                MatchEvent::Canceled { order_id, .. } => {
                    if let Some(o) = self.orders.get_mut(&order_id) {
                        o.status = OrderStatus::Canceled;
                        o.update_time = now;
                    }
                }
                MatchEvent::Level { side, price, qty } => match side {
                    Side::Buy => bids.push((price, qty)),
                    Side::Sell => asks.push((price, qty)),
                },
                MatchEvent::Decremented { .. }
                | MatchEvent::Rested { .. }
                | MatchEvent::Rejected { .. } => {}
            }
        }
        touched.sort_unstable();
        touched.dedup();
        for &(account, ps) in &touched {
            self.expire_stale_reduce_only(account, s, now);
            let view = self.view(account, s, ps);
            let wallet = self.accounts.get(&account).map_or(0, |a| a.wallet);
            self.events.push(FuturesEvent::Account {
                account,
                reason: "ORDER",
                wallet,
                positions: vec![view],
                time: now,
            });
        }
        if !bids.is_empty() || !asks.is_empty() {
            bids.reverse();
            let n = (bids.len() + asks.len()) as u64;
            let first = self.seq + 1;
            self.seq += n;
            let last = self.seq;
            let book = &mut self.books[s];
            let prev = book.last_u;
            book.last_u = last;
            self.events.push(FuturesEvent::Depth {
                symbol: s,
                first,
                last,
                prev,
                bids,
                asks,
                time: now,
            });
            let book = &self.books[s];
            self.events.push(FuturesEvent::BookTicker {
                symbol: s,
                update_id: last,
                bid: book.engine.best_bid(),
                ask: book.engine.best_ask(),
                time: now,
            });
        }
    }

    /// Binance expires reduce-only orders that could no longer reduce the position.
    fn expire_stale_reduce_only(&mut self, account: u32, s: usize, now: UnixNanos) {
        let amt = self
            .accounts
            .get(&account)
            .and_then(|a| a.positions.get(&(s, PositionSide::Both)))
            .map_or(0, |p| p.amt);
        let stale: Vec<u64> = self
            .orders
            .values()
            .filter(|o| {
                o.account == account
                    && o.symbol == s
                    && o.is_open()
                    && o.reduce_only
                    && match o.side {
                        Side::Buy => amt >= 0,
                        Side::Sell => amt <= 0,
                    }
            })
            .map(|o| o.order_id)
            .collect();
        for id in stale {
            let mut ev = Vec::new();
            if self.books[s].engine.cancel(id, &mut ev) {
                if let Some(o) = self.orders.get_mut(&id) {
                    o.status = OrderStatus::Expired;
                    o.update_time = now;
                }
                self.report(id, ExecType::Expired, now);
                // The level change goes out with the next depth event of this request.
                let (mut b, mut a) = (Vec::new(), Vec::new());
                for e in ev {
                    if let MatchEvent::Level { side, price, qty } = e {
                        match side {
                            Side::Buy => b.push((price, qty)),
                            Side::Sell => a.push((price, qty)),
                        }
                    }
                }
                self.push_depth(s, b, a, now);
            }
        }
    }

    fn push_depth(&mut self, s: usize, mut bids: Levels, asks: Levels, now: UnixNanos) {
        if bids.is_empty() && asks.is_empty() {
            return;
        }
        bids.reverse();
        let n = (bids.len() + asks.len()) as u64;
        let first = self.seq + 1;
        self.seq += n;
        let last = self.seq;
        let book = &mut self.books[s];
        let prev = book.last_u;
        book.last_u = last;
        self.events.push(FuturesEvent::Depth {
            symbol: s,
            first,
            last,
            prev,
            bids,
            asks,
            time: now,
        });
        let book = &self.books[s];
        self.events.push(FuturesEvent::BookTicker {
            symbol: s,
            update_id: last,
            bid: book.engine.best_bid(),
            ask: book.engine.best_ask(),
            time: now,
        });
    }

    /// Cancels one order (`-2011 "Unknown order sent."`).
    pub fn cancel(
        &mut self,
        account: u32,
        symbol: &str,
        key: OrderKey<'_>,
        now: UnixNanos,
    ) -> Result<FuturesOrder, VenueError> {
        let s = self.symbol_of(symbol)?;
        let unknown = || rej(-2011, "Unknown order sent.");
        let id = self.find(account, s, key).ok_or_else(unknown)?;
        if !self.orders.get(&id).is_some_and(FuturesOrder::is_open) {
            return Err(unknown());
        }
        let mut ev = std::mem::take(&mut self.scratch);
        ev.clear();
        if !self.books[s].engine.cancel(id, &mut ev) {
            self.scratch = ev;
            return Err(unknown());
        }
        self.apply(s, &ev, now);
        self.scratch = ev;
        self.report(id, ExecType::Canceled, now);
        self.orders.get(&id).cloned().ok_or_else(unknown)
    }

    /// `PUT /fapi/v1/order`: a resting LIMIT order's new quantity and price (`side` must be the
    /// order's). It leaves the queue and re-enters at the new price as if new, so it may trade; a GTX
    /// order that would then take is refused (`-5022`) and left as it was.
    pub fn modify(
        &mut self,
        req: &FuturesModify<'_>,
        now: UnixNanos,
    ) -> Result<FuturesOrder, VenueError> {
        let FuturesModify {
            account,
            symbol,
            key,
            side,
            qty: qty_text,
            price: price_text,
        } = *req;
        let s = self.symbol_of(symbol)?;
        let missing = || rej(-2013, "Order does not exist.");
        let id = self.find(account, s, key).ok_or_else(missing)?;
        let o = self.orders.get(&id).cloned().ok_or_else(missing)?;
        if !o.is_open() {
            return Err(missing());
        }
        if o.side != side {
            return Err(rej(-1100, "Illegal characters found in parameter 'side'."));
        }
        let open = self
            .orders
            .values()
            .filter(|x| x.account == account && x.symbol == s && x.is_open())
            .count()
            .saturating_sub(1);
        let inst = &self.books[s].inst;
        let vreq = OrderRequest {
            side,
            order_type: OrderType::Limit,
            time_in_force: Some(o.time_in_force),
            price: Some(PriceInput::Text(price_text)),
            qty: Some(QtyInput::Text(qty_text)),
            reduce_only: o.reduce_only,
        };
        let ctx = MarketContext {
            reference_price: self.reference(s),
            open_orders: u32::try_from(open).unwrap_or(u32::MAX),
        };
        validate(inst, &vreq, &ctx)?;
        let qty = inst
            .qty_from_str(qty_text)
            .map_err(|_| rej(-4023, "Qty not increased by step size."))?;
        let price = inst
            .price_from_str(price_text)
            .map_err(|_| rej(-4014, "Price not increased by tick size."))?;
        if qty == o.orig_qty && price == o.price {
            return Err(rej(-5027, "No need to modify the order."));
        }
        let leaves = qty.lots() - o.executed_qty.lots();
        if leaves <= 0 {
            return Err(rej(-4003, "Quantity less than or equal to zero."));
        }
        let book = &self.books[s];
        let crosses = match side {
            Side::Buy => book.engine.best_ask().is_some_and(|(a, _)| a <= price),
            Side::Sell => book.engine.best_bid().is_some_and(|(b, _)| b >= price),
        };
        if o.time_in_force == TimeInForce::Gtx && crosses {
            return Err(rej(GTX_REJECTED.0, GTX_REJECTED.1));
        }
        if !o.reduce_only {
            let old_leaves = o.orig_qty.lots() - o.executed_qty.lots();
            let tl = book.atto_per_tick_lot;
            let old_n = i128::from(o.price.ticks()) * i128::from(old_leaves) * tl;
            let new_n = i128::from(price.ticks()) * i128::from(leaves) * tl;
            if new_n > old_n {
                let mut sum = self.summary(account);
                let without = self.order_margin(account, s, None);
                let extra = (side, o.position_side, leaves - old_leaves, new_n - old_n);
                sum.available -= self.order_margin(account, s, Some(extra)) - without;
                if sum.available < 0 {
                    return Err(rej(MARGIN_INSUFFICIENT.0, MARGIN_INSUFFICIENT.1));
                }
            }
        }
        let mut ev = std::mem::take(&mut self.scratch);
        ev.clear();
        if !self.books[s].engine.cancel(id, &mut ev) {
            self.scratch = ev;
            return Err(missing());
        }
        // The order keeps its status: drop the matcher's cancel, keep the level change.
        ev.retain(|e| matches!(e, MatchEvent::Level { .. }));
        if let Some(rec) = self.orders.get_mut(&id) {
            rec.orig_qty = qty;
            rec.price = price;
            rec.update_time = now;
        }
        self.report(id, ExecType::Amendment, now);
        self.books[s].engine.submit(
            &NewOrder {
                order_id: id,
                account,
                side,
                kind: OrderType::Limit,
                tif: o.time_in_force,
                price,
                qty: Qty::from_lots(leaves),
                stp: o.stp,
            },
            now,
            &mut ev,
        );
        self.apply(s, &ev, now);
        self.scratch = ev;
        self.orders.get(&id).cloned().ok_or_else(missing)
    }

    /// Cancels every open order of `account` on `symbol` (none open is fine on futures).
    pub fn cancel_all(
        &mut self,
        account: u32,
        symbol: &str,
        now: UnixNanos,
    ) -> Result<Vec<FuturesOrder>, VenueError> {
        let ids: Vec<u64> = self
            .open_orders(account, Some(symbol))?
            .iter()
            .map(|o| o.order_id)
            .collect();
        ids.into_iter()
            .map(|id| self.cancel(account, symbol, OrderKey::Id(id), now))
            .collect()
    }

    /// Publishes a `markPriceUpdate` for every symbol with a mark.
    pub fn publish_marks(&mut self, now: UnixNanos) {
        for s in 0..self.books.len() {
            if let Some(mark) = self.mark_price(s) {
                let b = &self.books[s];
                self.events.push(FuturesEvent::MarkPrice {
                    symbol: s,
                    mark,
                    rate: b.funding_rate,
                    next_funding: b.next_funding,
                    time: now,
                });
            }
        }
    }

    /// Settles funding for every symbol whose funding time has come; returns the settlements made.
    pub fn settle_funding(&mut self, now: UnixNanos) -> usize {
        let mut n = 0;
        for s in 0..self.books.len() {
            while self.books[s].next_funding <= now {
                let at = self.books[s].next_funding;
                self.books[s].next_funding = UnixNanos(at.0 + self.funding_interval);
                let rate = self.books[s].funding_rate;
                let mark = self.mark_price(s).unwrap_or(0);
                self.funding_history.push(FundingRecord {
                    symbol: s,
                    rate,
                    time: at,
                    mark,
                });
                n += 1;
                let payers: Vec<(u32, PositionSide, i64)> = self
                    .accounts
                    .iter()
                    .flat_map(|(id, a)| {
                        a.positions
                            .iter()
                            .filter(|((sym, _), p)| *sym == s && p.amt != 0)
                            .map(|((_, ps), p)| (*id, *ps, p.amt))
                    })
                    .collect();
                for (account, ps, amt) in payers {
                    let notional = self.notional_at(s, amt, mark);
                    let pay = notional * i128::from(rate) / RATE_ONE;
                    let tran_id = self.next_tran_id;
                    self.next_tran_id += 1;
                    let acct = self.accounts.entry(account).or_default();
                    acct.wallet -= pay;
                    acct.funding_paid += pay;
                    acct.update_time = now;
                    acct.income.push(Income {
                        symbol: Some(s),
                        kind: "FUNDING_FEE",
                        amount: -pay,
                        time: now,
                        trade_id: None,
                        tran_id,
                    });
                    self.funding_pool += pay;
                    let view = self.view(account, s, ps);
                    let wallet = self.accounts.get(&account).map_or(0, |a| a.wallet);
                    self.events.push(FuturesEvent::Account {
                        account,
                        reason: "FUNDING_FEE",
                        wallet,
                        positions: vec![view],
                        time: now,
                    });
                }
            }
        }
        n
    }

    /// Checks the futures invariants; `Err` names the first broken one: quantity (Σ positions per
    /// symbol is zero; each position equals its account's signed fills), per-account ledger (wallet =
    /// deposits + realized − fees − funding; realized = trade cash + basis), and the venue's books
    /// (Σ wallets + fees + funding pool = Σ deposits + Σ realized; Σ realized = Σ basis).
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut net = vec![0i64; self.books.len()];
        let (mut wallets, mut deposits, mut realized, mut basis) = (0i128, 0i128, 0i128, 0i128);
        for (id, a) in &self.accounts {
            let mut by_fills: BTreeMap<(usize, PositionSide), i64> = BTreeMap::new();
            let mut cash = 0i128;
            for t in &a.trades {
                let signed = match t.side {
                    Side::Buy => t.qty.lots(),
                    Side::Sell => -t.qty.lots(),
                };
                *by_fills.entry((t.symbol, t.position_side)).or_default() += signed;
                cash += if t.side == Side::Sell {
                    t.quote
                } else {
                    -t.quote
                };
            }
            let mut acct_basis = 0i128;
            for (k, p) in &a.positions {
                let f = by_fills.get(k).copied().unwrap_or(0);
                if f != p.amt {
                    return Err(format!(
                        "account {id} {k:?}: position {} != fills {f}",
                        p.amt
                    ));
                }
                if p.amt == 0 && p.basis != 0 {
                    return Err(format!("account {id} {k:?}: flat with basis {}", p.basis));
                }
                net[k.0] += p.amt;
                acct_basis += p.basis;
            }
            if a.realized != cash + acct_basis {
                return Err(format!(
                    "account {id}: realized {} != trade cash {cash} + basis {acct_basis}",
                    a.realized
                ));
            }
            let expect = a.deposits + a.realized - a.fees_paid - a.funding_paid;
            if a.wallet != expect {
                return Err(format!(
                    "account {id}: wallet {} != deposits + realized - fees - funding {expect}",
                    a.wallet
                ));
            }
            wallets += a.wallet;
            deposits += a.deposits;
            realized += a.realized;
            basis += acct_basis;
        }
        for (s, n) in net.iter().enumerate() {
            if *n != 0 {
                return Err(format!("symbol {s}: positions sum to {n}, not 0"));
            }
        }
        if realized != basis {
            return Err(format!("Σ realized {realized} != Σ basis {basis}"));
        }
        if wallets + self.fees_collected + self.funding_pool != deposits + realized {
            return Err(format!(
                "wallets {wallets} + fees {} + funding {} != deposits {deposits} + realized {realized}",
                self.fees_collected, self.funding_pool
            ));
        }
        for o in self.orders.values().filter(|o| o.is_open()) {
            let open = self.books[o.symbol].engine.open_qty(o.order_id);
            let want = Qty::from_lots(o.orig_qty.lots() - o.executed_qty.lots());
            if open != Some(want) {
                return Err(format!(
                    "order {}: book has {open:?}, record {want:?}",
                    o.order_id
                ));
            }
        }
        Ok(())
    }
}

/// Account totals, atto-USDT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountSummary {
    /// Wallet balance.
    pub wallet: i128,
    /// Unrealized PnL at the marks.
    pub unrealized: i128,
    /// Initial margin of positions.
    pub position_margin: i128,
    /// Initial margin of open orders.
    pub order_margin: i128,
    /// Available balance.
    pub available: i128,
    /// Last change.
    pub update_time: UnixNanos,
}

/// The notional cap reported for a leverage (a simplified single bracket table).
pub fn max_notional(leverage: u32) -> i128 {
    let usdt = match leverage {
        0..=1 => 500_000_000i128,
        2..=5 => 100_000_000,
        6..=10 => 25_000_000,
        11..=20 => 5_000_000,
        21..=50 => 1_000_000,
        _ => 50_000,
    };
    usdt * ATTO
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testing::usdm_doge;
    use proptest::prelude::*;

    const T: UnixNanos = UnixNanos(1_000_000_000);

    fn venue() -> UsdmVenue {
        let mut v = UsdmVenue::new(FeeRates::from_bps(2, 5).unwrap(), 1_000_000_000);
        v.list(usdm_doge(), UnixNanos(0)).unwrap();
        for a in [1, 2, 3] {
            v.deposit(a, "USDT", "10000", UnixNanos(0)).unwrap();
        }
        v
    }

    fn order<'a>(
        account: u32,
        side: Side,
        px: Option<&'a str>,
        qty: &'a str,
        tif: Option<TimeInForce>,
    ) -> FuturesPlace<'a> {
        FuturesPlace {
            account,
            symbol: "DOGEUSDT",
            side,
            position_side: None,
            order_type: if px.is_some() {
                OrderType::Limit
            } else {
                OrderType::Market
            },
            time_in_force: tif,
            price: px,
            qty: Some(qty),
            reduce_only: None,
            client_order_id: None,
            stp: None,
        }
    }

    fn gtc<'a>(account: u32, side: Side, px: &'a str, qty: &'a str) -> FuturesPlace<'a> {
        order(account, side, Some(px), qty, Some(TimeInForce::Gtc))
    }

    #[test]
    fn positions_pnl_fees_and_gtx() {
        let mut v = venue();
        v.place(&gtc(2, Side::Sell, "0.2", "100"), T).unwrap();
        let e = v
            .place(
                &order(1, Side::Buy, Some("0.2"), "100", Some(TimeInForce::Gtx)),
                T,
            )
            .unwrap_err();
        assert_eq!(e.code, -5022);
        let taken = v.place(&order(1, Side::Buy, None, "100", None), T).unwrap();
        assert_eq!(taken.order_type, OrderType::Market);
        let p = v.positions(1);
        assert_eq!(p[0].position.amt, 100);
        assert_eq!(p[0].entry_price, ATTO / 5);
        // Taker fee 5 bps of 20 USDT = 0.01 USDT.
        assert_eq!(v.summary(1).wallet, 10_000 * ATTO - ATTO / 100);
        // Close at a profit against a bid from account 3.
        v.place(&gtc(3, Side::Buy, "0.21", "100"), T).unwrap();
        let mut close = order(1, Side::Sell, None, "100", None);
        close.reduce_only = Some(true);
        v.place(&close, T).unwrap();
        assert_eq!(v.positions(1)[0].position.amt, 0);
        // +1 USDT realized, fees 0.01 + 0.0105.
        assert_eq!(
            v.summary(1).wallet,
            10_000 * ATTO + ATTO - ATTO / 100 - 105 * ATTO / 10_000
        );
        let again = v.place(&close, T).unwrap_err();
        assert_eq!(again.code, -2022);
        v.check_invariants().unwrap();
    }

    #[test]
    fn fok_leverage_margin_type_and_modes() {
        let mut v = venue();
        v.place(&gtc(2, Side::Sell, "0.2", "100"), T).unwrap();
        let e = v
            .place(
                &order(1, Side::Buy, Some("0.2"), "200", Some(TimeInForce::Fok)),
                T,
            )
            .unwrap_err();
        assert_eq!(e.code, -5021);
        assert_eq!(v.set_leverage(1, "DOGEUSDT", 0, T).unwrap_err().code, -4028);
        assert_eq!(
            v.set_leverage(1, "DOGEUSDT", 126, T).unwrap_err().code,
            -4028
        );
        assert_eq!(v.set_leverage(1, "DOGEUSDT", 1, T).unwrap().0, 1);
        // 1x: 10 000 USDT buys at most 50 000 DOGE at 0.2.
        let e = v.place(&gtc(1, Side::Buy, "0.19", "60000"), T).unwrap_err();
        assert_eq!(e.code, -2019);
        assert_eq!(
            v.set_margin_type(1, "DOGEUSDT", MarginType::Crossed)
                .unwrap_err()
                .code,
            -4046
        );
        v.place(&gtc(1, Side::Buy, "0.2", "50"), T).unwrap();
        assert_eq!(
            v.set_margin_type(1, "DOGEUSDT", MarginType::Isolated)
                .unwrap_err()
                .code,
            -4048
        );
        assert_eq!(v.set_dual(1, true).unwrap_err().code, -4068);
        assert_eq!(v.set_dual(1, false).unwrap_err().code, -4059);
        v.place(&gtc(3, Side::Buy, "0.195", "100"), T).unwrap();
        assert_eq!(v.set_dual(3, true).unwrap_err().code, -4067);
        v.set_dual(2, false).unwrap_err();
        let mut hedge = gtc(1, Side::Buy, "0.1", "100");
        hedge.position_side = Some(PositionSide::Long);
        assert_eq!(v.place(&hedge, T).unwrap_err().code, -4061);
        v.check_invariants().unwrap();
    }

    #[test]
    fn modify_requeues_and_may_trade() {
        let mut v = venue();
        v.place(&gtc(2, Side::Sell, "0.2", "100"), T).unwrap();
        let o = v.place(&gtc(1, Side::Buy, "0.19", "100"), T).unwrap();
        let m = |side: Side, qty: &'static str, price: &'static str| FuturesModify {
            account: 1,
            symbol: "DOGEUSDT",
            key: OrderKey::Id(o.order_id),
            side,
            qty,
            price,
        };
        let same = v.modify(&m(Side::Buy, "100", "0.19"), T);
        assert_eq!(same.unwrap_err().code, -5027);
        let r = v.modify(&m(Side::Buy, "150", "0.195"), T).unwrap();
        assert_eq!((r.orig_qty.lots(), r.status), (150, OrderStatus::New));
        assert_eq!(
            v.top(0).unwrap().0,
            Some((Price::from_ticks(19_500), Qty::from_lots(150)))
        );
        // Crossing: it trades 100 at 0.2 and rests 50.
        let r = v.modify(&m(Side::Buy, "150", "0.2"), T).unwrap();
        assert_eq!(
            (r.executed_qty.lots(), r.status),
            (100, OrderStatus::PartiallyFilled)
        );
        assert_eq!(v.positions(1)[0].position.amt, 100);
        let e = v.modify(&m(Side::Buy, "90", "0.2"), T).unwrap_err();
        assert_eq!(e.code, -4003);
        let e = v.modify(&m(Side::Sell, "150", "0.2"), T).unwrap_err();
        assert_eq!(e.code, -1100);
        v.check_invariants().unwrap();
    }

    #[test]
    fn funding_moves_money_from_longs_to_shorts() {
        let mut v = venue();
        v.place(&gtc(2, Side::Sell, "0.2", "1000"), T).unwrap();
        v.place(&gtc(1, Side::Buy, "0.2", "1000"), T).unwrap();
        v.place(&gtc(3, Side::Buy, "0.19", "100"), T).unwrap();
        v.place(&gtc(3, Side::Sell, "0.21", "100"), T).unwrap();
        v.set_funding_rate("DOGEUSDT", "0.001").unwrap();
        let (w1, w2) = (v.summary(1).wallet, v.summary(2).wallet);
        assert_eq!(v.settle_funding(UnixNanos(2_500_000_000)), 2);
        // Mark 0.2 × 1000 × 0.001 = 0.2 USDT per settlement.
        assert_eq!(v.summary(1).wallet, w1 - 2 * ATTO / 5);
        assert_eq!(v.summary(2).wallet, w2 + 2 * ATTO / 5);
        assert_eq!(v.funding_pool(), 0);
        v.check_invariants().unwrap();
    }

    proptest! {
        /// Quantity is conserved and every ledger balances after any sequence of orders, cancels,
        /// funding settlements and rate changes.
        #[test]
        fn conservation(reqs in proptest::collection::vec((0u32..3, any::<bool>(), 90i64..110, 1i64..400, 0u8..7), 1..200)) {
            let mut v = venue();
            for (i, (acct, buy, px, qty, kind)) in reqs.into_iter().enumerate() {
                let now = UnixNanos(T.0 + i as u64 * 100_000_000);
                let side = if buy { Side::Buy } else { Side::Sell };
                let price = format!("0.{px:03}00");
                let q = qty.to_string();
                let acct = acct + 1;
                match kind {
                    0..=2 => { let _ = v.place(&gtc(acct, side, &price, &q), now); }
                    3 => { let _ = v.place(&order(acct, side, None, &q, None), now); }
                    4 => {
                        let mut r = order(acct, side, Some(&price), &q, Some(TimeInForce::Ioc));
                        r.reduce_only = Some(px % 2 == 0);
                        let _ = v.place(&r, now);
                    }
                    5 => {
                        if let Some(o) = v.open_orders(acct, None).unwrap().first().cloned() {
                            let key = OrderKey::Id(o.order_id);
                            if px % 2 == 0 {
                                // Modify (may trade, may be refused); quantity above what filled.
                                let q = (o.executed_qty.lots() + qty).to_string();
                                let m = FuturesModify { account: acct, symbol: "DOGEUSDT", key, side: o.side, qty: &q, price: &price };
                                let _ = v.modify(&m, now);
                            } else {
                                v.cancel(acct, "DOGEUSDT", key, now).unwrap();
                            }
                        }
                    }
                    _ => {
                        let rate = format!("{}0.000{}", if buy { "" } else { "-" }, px % 10);
                        v.set_funding_rate("DOGEUSDT", &rate).unwrap();
                        v.settle_funding(now);
                    }
                }
                if let Err(e) = v.check_invariants() {
                    prop_assert!(false, "{}", e);
                }
                if let (Some((b, _)), Some((a, _))) = (v.top(0).unwrap().0, v.top(0).unwrap().1) {
                    prop_assert!(b < a);
                }
            }
        }
    }
}
