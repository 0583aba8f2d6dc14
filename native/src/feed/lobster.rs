//! LOBSTER message and order-book files (lobsterdata.com), and [`LobsterReplayer`], which turns a
//! level-L message file plus its order-book file into L3 book events and checks the book after every
//! message.
//!
//! Off the hot path: replay, backtests and validation. Reads plain or gzip CSV (by the `.gz` suffix).
//!
//! # File formats (LOBSTER documentation)
//! - message file, no header: `time` (seconds after midnight, up to 9 decimals), `type` (1 add,
//!   2 partial cancel, 3 delete, 4 visible execution, 5 hidden execution, 6 cross trade, 7 halt),
//!   `order id`, `size`, `price` (USD × 10 000), `direction` (1 buy, −1 sell; for executions the side
//!   of the resting order);
//! - order-book file: row k is the book *after* message k: ask price, ask size, bid price, bid size
//!   for levels 1..L; empty levels carry dummy prices (±9 999 999 999) and size 0.
//!
//! # What a level-L file does not say, and what the replayer does about it
//! A level-L message file holds only the events that touch the top L levels *at the time*. Orders
//! that rested before 09:30 have no add, and orders added or cancelled deeper than level L are never
//! mentioned. An order-by-order replay therefore knows the book completely only down to the *horizon*:
//! the level-L price of the previous order-book row (or everything, when that row had fewer than L
//! levels on the side, since then the book had no deeper levels). The replayer:
//! 1. seeds the book from row 0 with message 0's effect undone (row k is the state *after* message
//!    k): one *synthetic* order per visible level, with a reserved id (≥ 2^48);
//! 2. applies message k (types 1–4) to the L3 book; a cancel, delete or execution of an order id the
//!    book does not hold (it rested before the horizon let us see it) reduces the synthetic order at
//!    the message's side and price by the message's size — if there is none, or it is too small, that
//!    is an integrity error; type 5 (hidden execution) never changes the visible book (LOBSTER: "hidden
//!    orders are not part of the visible book"), types 6 and 7 neither;
//! 3. compares the book's top L levels (price and size) with row k **inside the horizon** of row
//!    k−1: any difference there is a mismatch — our book and the exchange disagree on information the
//!    message file fully covered;
//! 4. reconciles what lies beyond that horizon: every level of row k deeper than the old horizon is
//!    *revealed* — its orders (possibly stale: their cancellations were never reported) are removed and
//!    one synthetic order carries the row's size; a deeper level of ours absent from row k (within
//!    row k's range) is *pruned*. Every reconciling change is emitted as an ordinary book event, so the
//!    ITCH round trip replays the exact same book.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::wire_error::DataError;
use crate::book::l3::IntegrityError;
use crate::book::{L3Book, L3Config, LevelView};
use crate::model::{InstrumentId, OrderAction, OrderEvent, OrderRef, Price, Qty, Side, UnixNanos};

/// First synthetic order id (LOBSTER ids are Nasdaq order reference numbers, far below 2^48).
pub const SYNTHETIC_ID_BASE: u64 = 1 << 48;

/// One row of a LOBSTER message file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LobsterMessage {
    /// Nanoseconds after midnight.
    pub time_ns: u64,
    /// Event type 1–7.
    pub kind: u8,
    /// Order id (0 for some hidden executions).
    pub order_id: u64,
    /// Shares.
    pub size: i64,
    /// Price, USD × 10 000 (ITCH `Price(4)` units).
    pub price: i64,
    /// 1 buy, −1 sell.
    pub direction: i8,
}

impl LobsterMessage {
    /// The side (`direction` 1 buy, −1 sell).
    pub fn side(&self) -> Side {
        if self.direction > 0 {
            Side::Buy
        } else {
            Side::Sell
        }
    }
}

fn open(path: &Path) -> Result<Box<dyn BufRead>, DataError> {
    let f = std::fs::File::open(path).map_err(|source| DataError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let r: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(f))
    } else {
        Box::new(f)
    };
    Ok(Box::new(BufReader::with_capacity(1 << 16, r)))
}

fn parse_int(field: &[u8]) -> Option<i64> {
    let (neg, digits) = match field.first()? {
        b'-' => (true, &field[1..]),
        _ => (false, field),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(if neg { -v } else { v })
}

/// Seconds with decimals → nanoseconds (truncated to the nanosecond).
fn parse_time(field: &[u8]) -> Option<u64> {
    let (int, frac) = match field.iter().position(|&c| c == b'.') {
        Some(i) => (&field[..i], &field[i + 1..]),
        None => (field, &field[..0]),
    };
    // Some LOBSTER files print more than 9 decimals (binary floating-point noise, e.g.
    // "43002.632812672004"): digits past the nanosecond are checked and dropped.
    if int.len() > 9 || frac.len() > 24 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let secs = u64::try_from(parse_int(int)?).ok()?;
    let mut ns = 0u64;
    for i in 0..9 {
        let d = match frac.get(i) {
            Some(c) if c.is_ascii_digit() => u64::from(c - b'0'),
            Some(_) => return None,
            None => 0,
        };
        ns = ns * 10 + d;
    }
    Some(secs * 1_000_000_000 + ns)
}

/// Parses one message-file line (without the line end).
pub fn parse_message_line(line: &[u8]) -> Result<LobsterMessage, &'static str> {
    let mut it = line.split(|&c| c == b',');
    let mut next = |what: &'static str| it.next().ok_or(what);
    let time_ns = parse_time(next("missing time")?).ok_or("bad time")?;
    let kind = parse_int(next("missing type")?).ok_or("bad type")?;
    let order_id = parse_int(next("missing order id")?).ok_or("bad order id")?;
    let size = parse_int(next("missing size")?).ok_or("bad size")?;
    let price = parse_int(next("missing price")?).ok_or("bad price")?;
    let direction = parse_int(next("missing direction")?).ok_or("bad direction")?;
    if !(1..=7).contains(&kind) {
        return Err("type outside 1..7");
    }
    if direction != 1 && direction != -1 {
        return Err("direction not 1 or -1");
    }
    Ok(LobsterMessage {
        time_ns,
        kind: kind as u8,
        order_id: u64::try_from(order_id).map_err(|_| "negative order id")?,
        size,
        price,
        direction: direction as i8,
    })
}

fn trim_eol(mut l: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r'] = l {
        l = rest;
    }
    l
}

/// Reads a whole message file.
pub fn read_messages(path: &Path) -> Result<Vec<LobsterMessage>, DataError> {
    let mut r = open(path)?;
    let mut out = Vec::new();
    let mut line = Vec::new();
    let mut n = 0u64;
    loop {
        line.clear();
        let got = r
            .read_until(b'\n', &mut line)
            .map_err(|source| DataError::Io {
                path: path.display().to_string(),
                source,
            })?;
        if got == 0 {
            break;
        }
        n += 1;
        let l = trim_eol(&line);
        if l.is_empty() {
            continue;
        }
        out.push(
            parse_message_line(l).map_err(|reason| DataError::Malformed {
                path: path.display().to_string(),
                line: n,
                reason: reason.to_owned(),
            })?,
        );
    }
    Ok(out)
}

/// A LOBSTER order-book file: `rows × 4L` integers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LobsterBook {
    /// Levels per side.
    pub levels: usize,
    data: Vec<i64>,
}

impl LobsterBook {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.data.len() / (4 * self.levels).max(1)
    }

    /// Non-empty levels of `side` in row `k`, best first, written to `out`; returns how many.
    pub fn side_levels(&self, k: usize, side: Side, out: &mut [(i64, i64)]) -> usize {
        let row = &self.data[k * 4 * self.levels..(k + 1) * 4 * self.levels];
        let off = match side {
            Side::Sell => 0,
            Side::Buy => 2,
        };
        let mut n = 0;
        for l in 0..self.levels.min(out.len()) {
            let (p, q) = (row[4 * l + off], row[4 * l + off + 1]);
            if q > 0 {
                out[n] = (p, q);
                n += 1;
            }
        }
        n
    }

    /// Parses an order-book file from bytes already read (tests and fuzzing).
    pub fn parse(text: &[u8]) -> Result<Self, (u64, &'static str)> {
        let mut data = Vec::new();
        let mut levels = 0usize;
        for (i, line) in text.split(|&c| c == b'\n').enumerate() {
            let l = trim_eol(line);
            if l.is_empty() {
                continue;
            }
            let before = data.len();
            for f in l.split(|&c| c == b',') {
                data.push(parse_int(f).ok_or((i as u64 + 1, "bad integer"))?);
            }
            let width = data.len() - before;
            if width == 0 || width % 4 != 0 {
                return Err((i as u64 + 1, "row width is not a multiple of 4"));
            }
            if levels == 0 {
                levels = width / 4;
            } else if width != 4 * levels {
                return Err((i as u64 + 1, "rows differ in width"));
            }
        }
        Ok(Self { levels, data })
    }
}

/// Reads a whole order-book file.
pub fn read_orderbook(path: &Path) -> Result<LobsterBook, DataError> {
    let mut r = open(path)?;
    let mut text = Vec::new();
    r.read_to_end(&mut text).map_err(|source| DataError::Io {
        path: path.display().to_string(),
        source,
    })?;
    LobsterBook::parse(&text).map_err(|(line, reason)| DataError::Malformed {
        path: path.display().to_string(),
        line,
        reason: reason.to_owned(),
    })
}

/// What the replayer emits for one message: book events (including reconciling ones) and the
/// non-book events the ITCH converter needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LobsterOp {
    /// An event applied to the L3 book.
    Book(OrderEvent),
    /// Type 5: execution against a hidden order.
    HiddenExecution {
        /// Side of the hidden resting order.
        side: Side,
        /// Price.
        price: Price,
        /// Shares.
        size: i64,
    },
    /// Type 6: cross trade.
    Cross {
        /// Price.
        price: Price,
        /// Shares.
        size: i64,
    },
    /// Type 7: halt (`price` −1), quoting resumes (0), trading resumes (1).
    Halt {
        /// LOBSTER's price field of the halt message.
        code: i64,
    },
}

/// Counters and the first differences found by a [`LobsterReplayer`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LobsterStats {
    /// Messages per type 1–7 (index = type).
    pub by_type: [u64; 8],
    /// Rows compared.
    pub checked: u64,
    /// Rows whose in-horizon levels differ from the file (must be 0).
    pub mismatched: u64,
    /// Rows whose full top L differs after reconciliation (must be 0).
    pub mismatched_after_reconcile: u64,
    /// Book events refused by the L3 book.
    pub integrity_errors: u64,
    /// Cancels/deletes/executions of ids the book did not hold, applied to a synthetic order.
    pub unknown_resolved: u64,
    /// Levels revealed from beyond the horizon.
    pub revealed: u64,
    /// Deep levels pruned.
    pub pruned: u64,
    /// Synthetic orders created.
    pub synthetic: u64,
    /// The first few mismatches and errors, described.
    pub first_problems: Vec<String>,
}

const MAX_LEVELS: usize = 64;

/// Replays a LOBSTER message file against its order-book file, order by order (see module docs).
#[derive(Debug)]
pub struct LobsterReplayer {
    book: L3Book,
    levels: usize,
    synth: BTreeMap<(u8, i64), u64>,
    next_synth: u64,
    /// Horizon per side (index `Side as usize`): `None` = the whole side is known.
    horizon: [Option<i64>; 2],
    stats: LobsterStats,
    scratch: Vec<(OrderRef, Qty)>,
}

fn worse(side: Side, a: i64, b: i64) -> bool {
    // Is price `a` deeper in the book than `b`?
    match side {
        Side::Buy => a < b,
        Side::Sell => a > b,
    }
}

impl LobsterReplayer {
    /// A replayer for a file with `levels` levels per side.
    pub fn new(instrument: InstrumentId, levels: usize, config: L3Config) -> Self {
        Self {
            book: L3Book::new(instrument, config),
            levels: levels.clamp(1, MAX_LEVELS),
            synth: BTreeMap::new(),
            next_synth: SYNTHETIC_ID_BASE,
            horizon: [None, None],
            stats: LobsterStats::default(),
            scratch: Vec::new(),
        }
    }

    /// The book.
    pub fn book(&self) -> &L3Book {
        &self.book
    }

    /// Counters.
    pub fn stats(&self) -> &LobsterStats {
        &self.stats
    }

    fn event(
        &self,
        action: OrderAction,
        id: u64,
        side: Side,
        price: i64,
        qty: i64,
        t: u64,
    ) -> OrderEvent {
        OrderEvent {
            instrument: self.book.instrument(),
            action,
            order: OrderRef(id),
            side,
            price: Price::from_ticks(price),
            qty: Qty::from_lots(qty),
            sequence: 0,
            ts_event: UnixNanos(t),
            ts_recv: UnixNanos(t),
        }
    }

    fn problem(&mut self, text: String) {
        if self.stats.first_problems.len() < 10 {
            self.stats.first_problems.push(text);
        }
    }

    fn apply(
        &mut self,
        ev: OrderEvent,
        sink: &mut impl FnMut(&LobsterOp),
    ) -> Result<(), IntegrityError> {
        match self.book.apply(&ev) {
            Ok(_) => {
                sink(&LobsterOp::Book(ev));
                Ok(())
            }
            Err(e) => {
                self.book.clear_resync();
                self.stats.integrity_errors += 1;
                self.problem(format!("integrity error {e} on {ev:?}"));
                Err(e)
            }
        }
    }

    fn add_synthetic(
        &mut self,
        side: Side,
        price: i64,
        qty: i64,
        t: u64,
        sink: &mut impl FnMut(&LobsterOp),
    ) {
        let id = self.next_synth;
        self.next_synth += 1;
        self.stats.synthetic += 1;
        let ev = self.event(OrderAction::Add, id, side, price, qty, t);
        if self.apply(ev, sink).is_ok() {
            self.synth.insert((side as u8, price), id);
        }
    }

    /// Removes every order at (`side`, `price`) through Delete events.
    fn clear_level(&mut self, side: Side, price: i64, t: u64, sink: &mut impl FnMut(&LobsterOp)) {
        let mut ids = std::mem::take(&mut self.scratch);
        ids.clear();
        self.book
            .for_each_order_at(side, Price::from_ticks(price), |o, q| ids.push((o, q)));
        for &(o, _) in &ids {
            let ev = self.event(OrderAction::Delete, o.0, side, price, 0, t);
            let _ = self.apply(ev, sink);
        }
        self.synth.remove(&(side as u8, price));
        self.scratch = ids;
    }

    /// Seeds the book with the state before message 0: row 0 with message 0's effect undone.
    pub fn seed(
        &mut self,
        first: &LobsterMessage,
        book: &LobsterBook,
        sink: &mut impl FnMut(&LobsterOp),
    ) {
        let mut lv = [(0i64, 0i64); MAX_LEVELS + 1];
        for side in [Side::Buy, Side::Sell] {
            let mut n = book.side_levels(0, side, &mut lv[..self.levels]);
            self.horizon[side as usize] = (n == self.levels).then(|| lv[n - 1].0);
            if first.side() == side && (1..=4).contains(&first.kind) {
                let delta = if first.kind == 1 {
                    -first.size
                } else {
                    first.size
                };
                match lv[..n].iter().position(|l| l.0 == first.price) {
                    Some(i) => lv[i].1 += delta,
                    None => {
                        lv[n] = (first.price, delta);
                        n += 1;
                    }
                }
            }
            for &(p, q) in &lv[..n] {
                if q > 0 {
                    self.add_synthetic(side, p, q, first.time_ns, sink);
                }
            }
        }
    }

    /// Applies message `msg` (row `k` of the files), checks the book against row `k`, reconciles the
    /// levels beyond the horizon, and emits every book change through `sink`.
    pub fn step(
        &mut self,
        k: usize,
        msg: &LobsterMessage,
        book: &LobsterBook,
        sink: &mut impl FnMut(&LobsterOp),
    ) {
        self.stats.by_type[usize::from(msg.kind)] += 1;
        let side = msg.side();
        let t = msg.time_ns;
        match msg.kind {
            1 => {
                let ev = self.event(OrderAction::Add, msg.order_id, side, msg.price, msg.size, t);
                let _ = self.apply(ev, sink);
            }
            2..=4 => {
                let action = match msg.kind {
                    2 => OrderAction::Cancel,
                    3 => OrderAction::Delete,
                    _ => OrderAction::Execute,
                };
                if self.book.order(OrderRef(msg.order_id)).is_some() {
                    let ev = self.event(action, msg.order_id, side, msg.price, msg.size, t);
                    let _ = self.apply(ev, sink);
                } else {
                    self.reduce_synthetic(msg, sink);
                }
            }
            5 => sink(&LobsterOp::HiddenExecution {
                side,
                price: Price::from_ticks(msg.price),
                size: msg.size,
            }),
            6 => sink(&LobsterOp::Cross {
                price: Price::from_ticks(msg.price),
                size: msg.size,
            }),
            _ => sink(&LobsterOp::Halt { code: msg.price }),
        }
        self.check_and_reconcile(k, book, t, sink);
    }

    fn reduce_synthetic(&mut self, msg: &LobsterMessage, sink: &mut impl FnMut(&LobsterOp)) {
        let side = msg.side();
        let Some(&sid) = self.synth.get(&(side as u8, msg.price)) else {
            self.stats.integrity_errors += 1;
            self.problem(format!(
                "unknown order {} and no synthetic order at {side:?} {}",
                msg.order_id, msg.price
            ));
            return;
        };
        self.stats.unknown_resolved += 1;
        let action = if msg.kind == 4 {
            OrderAction::Execute
        } else {
            OrderAction::Cancel
        };
        let ev = self.event(action, sid, side, msg.price, msg.size, msg.time_ns);
        if self.apply(ev, sink).is_ok() && self.book.order(OrderRef(sid)).is_none() {
            self.synth.remove(&(side as u8, msg.price));
        }
    }

    fn ours(&self, side: Side, out: &mut [LevelView]) -> usize {
        self.book.top(side, out)
    }

    fn check_and_reconcile(
        &mut self,
        k: usize,
        book: &LobsterBook,
        t: u64,
        sink: &mut impl FnMut(&LobsterOp),
    ) {
        let l = self.levels;
        let mut file = [(0i64, 0i64); MAX_LEVELS];
        let mut mine = [LevelView::default(); MAX_LEVELS];
        let mut bad = false;
        for side in [Side::Buy, Side::Sell] {
            let nf = book.side_levels(k, side, &mut file[..l]);
            let nm = self.ours(side, &mut mine[..l]);
            let h = self.horizon[side as usize];
            let trusted = |p: i64| h.is_none_or(|h| !worse(side, p, h));
            let a = mine[..nm]
                .iter()
                .filter(|v| trusted(v.price.ticks()))
                .map(|v| (v.price.ticks(), v.qty.lots()));
            let b = file[..nf].iter().copied().filter(|v| trusted(v.0));
            if !a.eq(b) {
                bad = true;
            }
        }
        self.stats.checked += 1;
        if bad {
            self.stats.mismatched += 1;
            let text = format!(
                "row {k}: in-horizon levels differ: {}",
                self.describe(k, book)
            );
            self.problem(text);
        }
        for side in [Side::Buy, Side::Sell] {
            self.reconcile(side, k, book, t, sink);
        }
        // Full comparison after reconciliation.
        let mut same = true;
        for side in [Side::Buy, Side::Sell] {
            let nf = book.side_levels(k, side, &mut file[..l]);
            let nm = self.ours(side, &mut mine[..l]);
            same &= nf == nm
                && file[..nf]
                    .iter()
                    .zip(&mine[..nm])
                    .all(|(f, m)| f.0 == m.price.ticks() && f.1 == m.qty.lots());
        }
        if !same {
            self.stats.mismatched_after_reconcile += 1;
            let text = format!(
                "row {k}: differs after reconcile: {}",
                self.describe(k, book)
            );
            self.problem(text);
        }
    }

    fn reconcile(
        &mut self,
        side: Side,
        k: usize,
        book: &LobsterBook,
        t: u64,
        sink: &mut impl FnMut(&LobsterOp),
    ) {
        let l = self.levels;
        let mut file = [(0i64, 0i64); MAX_LEVELS];
        let nf = book.side_levels(k, side, &mut file[..l]);
        let new_horizon = (nf == l).then(|| file[nf - 1].0);
        let old = self.horizon[side as usize];
        self.horizon[side as usize] = new_horizon;
        let Some(h) = old else {
            return; // the whole side was known: nothing to reveal or prune
        };
        if let Some(nh) = new_horizon {
            if !worse(side, nh, h) {
                return; // the row ends inside the old horizon: nothing beyond it is shown
            }
        }
        // Our untrusted levels within the row's range that the row does not show: pruned.
        let mut mine = [LevelView::default(); MAX_LEVELS];
        let nm = self.ours(side, &mut mine);
        for v in &mine[..nm] {
            let p = v.price.ticks();
            let within = new_horizon.is_none_or(|nh| !worse(side, p, nh));
            if worse(side, p, h) && within && !file[..nf].iter().any(|f| f.0 == p) {
                self.clear_level(side, p, t, sink);
                self.stats.pruned += 1;
            }
        }
        // The row's levels beyond the old horizon: revealed.
        for &(p, q) in &file[..nf] {
            if worse(side, p, h) {
                self.clear_level(side, p, t, sink);
                self.add_synthetic(side, p, q, t, sink);
                self.stats.revealed += 1;
            }
        }
    }

    fn describe(&self, k: usize, book: &LobsterBook) -> String {
        let mut file = [(0i64, 0i64); MAX_LEVELS];
        let mut mine = [LevelView::default(); MAX_LEVELS];
        let mut s = String::new();
        for side in [Side::Buy, Side::Sell] {
            let nf = book.side_levels(k, side, &mut file[..self.levels]);
            let nm = self.ours(side, &mut mine[..self.levels]);
            let m: Vec<_> = mine[..nm]
                .iter()
                .map(|v| (v.price.ticks(), v.qty.lots()))
                .collect();
            s += &format!("{side:?} ours {m:?} file {:?}; ", &file[..nf]);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines() {
        let m = parse_message_line(b"34200.18960767,1,11885113,21,2238100,1").unwrap();
        assert_eq!(m.time_ns, 34_200_189_607_670);
        assert_eq!(
            (m.kind, m.order_id, m.size, m.price, m.side()),
            (1, 11885113, 21, 2238100, Side::Buy)
        );
        assert!(parse_message_line(b"1,8,0,1,1,1").is_err());
        assert!(parse_message_line(b"1,1,0,1,1,0").is_err());
        assert!(parse_message_line(b"x").is_err());
        let m = parse_message_line(b"43002.632812672004,3,1,100,2238700,-1").unwrap();
        assert_eq!(m.time_ns, 43_002_632_812_672);
        let b = LobsterBook::parse(b"10,1,9,2\n11,0,9,3\n").unwrap();
        assert_eq!((b.levels, b.rows()), (1, 2));
        let mut out = [(0, 0); 1];
        assert_eq!(b.side_levels(1, Side::Sell, &mut out), 0);
        assert_eq!(b.side_levels(1, Side::Buy, &mut out), 1);
        assert_eq!(out[0], (9, 3));
        assert!(LobsterBook::parse(b"1,2,3\n").is_err());
    }

    #[test]
    fn replays_a_tiny_level_one_file() {
        // Level 1. Seed: ask 101×5 (synthetic), bid 99×4. Then: add bid 100×2 (new best),
        // delete it, execute 3 of an unknown bid at 99 (synthetic), hidden execution.
        let msgs = [
            "1.0,1,7,2,100,1",
            "1.1,3,7,2,100,1",
            "1.2,4,55,3,99,1",
            "1.3,5,0,9,100,-1",
        ];
        let rows = b"101,5,100,2\n101,5,99,4\n101,5,99,1\n101,5,99,1\n";
        let book = LobsterBook::parse(rows).unwrap();
        let msgs: Vec<_> = msgs
            .iter()
            .map(|l| parse_message_line(l.as_bytes()).unwrap())
            .collect();
        let mut r = LobsterReplayer::new(InstrumentId(1), 1, L3Config::default());
        let mut ops = vec![];
        r.seed(&msgs[0], &book, &mut |op| ops.push(*op));
        for (k, m) in msgs.iter().enumerate() {
            r.step(k, m, &book, &mut |op| ops.push(*op));
        }
        let s = r.stats();
        assert_eq!(
            (
                s.mismatched,
                s.mismatched_after_reconcile,
                s.integrity_errors
            ),
            (0, 0, 0),
            "{s:?}"
        );
        assert_eq!(s.unknown_resolved, 1);
        assert!(ops
            .iter()
            .any(|o| matches!(o, LobsterOp::HiddenExecution { size: 9, .. })));
    }
}
