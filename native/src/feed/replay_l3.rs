//! Replay drivers for order-by-order data: LOBSTER files, mold files of ITCH 5.0 (as
//! [`super::lobster_to_itch`] writes them) and Databento DBN MBO files, each into [`L3Book`]s, with a
//! serialisable [`L3ReplayReport`].
//!
//! Off the hot path (tools, tests, the `pymm` CLI through the bindings), though the ITCH driver uses
//! the hot-path pieces (arbiter, decoder, book) exactly as the feed thread does.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::arbiter::{Arbiter, ArbiterConfig, Line};
use super::dbn::{DbnFile, FLAG_LAST, RTYPE_MBO};
use super::itch::{self, ItchMessage};
use super::lobster::{read_messages, read_orderbook, LobsterBook, LobsterReplayer};
use super::lobster_to_itch::datagrams;
use super::wire_error::DataError;
use crate::book::l3::IntegrityError;
use crate::book::{L3Book, L3Config, LevelView};
use crate::model::{decimal::format_fixed, InstrumentId, Scale, Side, UnixNanos};

/// Best bid and ask of one instrument at the end of a replay, as decimal strings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TopOfBook {
    /// Best bid price.
    pub bid_price: Option<String>,
    /// Best bid size.
    pub bid_size: Option<i64>,
    /// Best ask price.
    pub ask_price: Option<String>,
    /// Best ask size.
    pub ask_size: Option<i64>,
    /// Non-empty bid levels.
    pub bid_levels: u32,
    /// Non-empty ask levels.
    pub ask_levels: u32,
    /// Events applied to this book.
    pub applied_updates: u64,
    /// Events this book refused.
    pub integrity_errors: u64,
}

/// What an L3 replay saw.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct L3ReplayReport {
    /// Where the data came from.
    pub source: String,
    /// Messages (records, rows) read.
    pub messages: u64,
    /// Messages per type (ITCH type letter, LOBSTER type number, DBN action letter).
    pub messages_by_type: BTreeMap<String, u64>,
    /// Sequence gaps, duplicates or framing errors.
    pub sequence_errors: u64,
    /// Messages that failed to decode.
    pub decode_errors: u64,
    /// Book events refused by the L3 book.
    pub integrity_errors: u64,
    /// Crossed/locked states refused outside an auction.
    pub crossed_events: u64,
    /// Final best bid/ask per instrument (key: instrument id or symbol).
    pub top_of_book: BTreeMap<String, TopOfBook>,
    /// Book states compared with an expected book.
    pub checked_states: u64,
    /// Book states that differed.
    pub mismatched_states: u64,
    /// The first differences and errors, described.
    pub first_mismatches: Vec<String>,
    /// Orders resting at the end (all instruments).
    pub resting_orders: u64,
    /// LOBSTER only: levels revealed from beyond the horizon, deep levels pruned, ids resolved to a
    /// level's synthetic order (see `feed::lobster`).
    pub revealed_levels: u64,
    /// See `revealed_levels`.
    pub pruned_levels: u64,
    /// See `revealed_levels`.
    pub unknown_ids_resolved: u64,
    /// DBN only: LAST-flagged states that were crossed or locked while the instrument was still in
    /// its pre-open auction (before its first trade), where that is legal.
    pub crossed_in_auction: u64,
    /// DBN only: the price increment found in the file (the GCD of order prices), decimal string.
    pub tick: Option<String>,
}

impl L3ReplayReport {
    fn note(&mut self, text: String) {
        if self.first_mismatches.len() < 10 {
            self.first_mismatches.push(text);
        }
    }

    fn count(&mut self, kind: &str) {
        *self.messages_by_type.entry(kind.to_owned()).or_default() += 1;
    }
}

/// The top of `book` with prices rendered by `fmt`.
pub fn top_of_book(book: &L3Book, fmt: impl Fn(i64) -> String) -> TopOfBook {
    let b = book.best_bid();
    let a = book.best_ask();
    TopOfBook {
        bid_price: b.map(|l| fmt(l.price.ticks())),
        bid_size: b.map(|l| l.qty.lots()),
        ask_price: a.map(|l| fmt(l.price.ticks())),
        ask_size: a.map(|l| l.qty.lots()),
        bid_levels: book.level_count(Side::Buy),
        ask_levels: book.level_count(Side::Sell),
        applied_updates: book.stats().applied,
        integrity_errors: book.stats().integrity_errors,
    }
}

fn price4(p: i64) -> String {
    format_fixed(p, 4)
}

/// Replays a LOBSTER message file against its order-book file (see `feed::lobster` for the rules).
pub fn replay_lobster(msg_path: &Path, book_path: &Path) -> Result<L3ReplayReport, DataError> {
    let msgs = read_messages(msg_path)?;
    let book = read_orderbook(book_path)?;
    check_rows(&book, msgs.len(), book_path)?;
    let mut r = LobsterReplayer::new(InstrumentId(1), book.levels, L3Config::default());
    let mut rep = L3ReplayReport {
        source: msg_path.display().to_string(),
        ..Default::default()
    };
    if let Some(first) = msgs.first() {
        r.seed(first, &book, &mut |_| {});
    }
    for (k, m) in msgs.iter().enumerate() {
        r.step(k, m, &book, &mut |_| {});
    }
    let s = r.stats();
    rep.messages = msgs.len() as u64;
    for (t, &n) in s.by_type.iter().enumerate().skip(1) {
        if n > 0 {
            rep.messages_by_type.insert(t.to_string(), n);
        }
    }
    rep.integrity_errors = s.integrity_errors;
    rep.crossed_events = r.book().stats().crossed;
    rep.checked_states = s.checked;
    rep.mismatched_states = s.mismatched + s.mismatched_after_reconcile;
    rep.first_mismatches = s.first_problems.clone();
    rep.revealed_levels = s.revealed;
    rep.pruned_levels = s.pruned;
    rep.unknown_ids_resolved = s.unknown_resolved;
    rep.resting_orders = u64::from(r.book().order_count());
    rep.top_of_book
        .insert("1".into(), top_of_book(r.book(), price4));
    Ok(rep)
}

fn check_rows(book: &LobsterBook, n: usize, path: &Path) -> Result<(), DataError> {
    if book.rows() == n {
        return Ok(());
    }
    Err(DataError::Malformed {
        path: path.display().to_string(),
        line: book.rows() as u64,
        reason: format!("{} book rows for {n} messages", book.rows()),
    })
}

/// Replays a mold file (MoldUDP64 datagrams carrying ITCH 5.0) into one L3 book per stock locate.
///
/// With `expect_book` (a LOBSTER order-book file), the file must have the converter's layout — a
/// preamble packet, one packet per row, a trailer — and the book of the first instrument in the
/// directory is compared with row k after data packet k+1 (all L levels, price and size).
pub fn replay_itch(path: &Path, expect_book: Option<&Path>) -> Result<L3ReplayReport, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let expect = expect_book.map(read_orderbook).transpose()?;
    let mut rep = L3ReplayReport {
        source: path.display().to_string(),
        ..Default::default()
    };
    let mut books: Vec<Option<L3Book>> = Vec::new();
    let mut symbols: BTreeMap<u16, String> = BTreeMap::new();
    let mut first_locate: Option<u16> = None;
    let mut arb = Arbiter::new(1, ArbiterConfig::default());
    let mut data_packets = 0usize;
    let levels = expect.as_ref().map_or(0, |b| b.levels);
    let mut file = vec![(0i64, 0i64); levels];
    let mut mine = vec![LevelView::default(); levels];
    for d in datagrams(&bytes) {
        let Ok(d) = d else {
            rep.sequence_errors += 1;
            rep.note("truncated mold file".into());
            break;
        };
        let mut is_data = false;
        let r = arb.on_packet(Line::A, d, &mut |seq, msg| {
            is_data = true;
            rep.messages += 1;
            let m = match itch::decode(msg) {
                Ok(m) => m,
                Err(e) => {
                    rep.decode_errors += 1;
                    rep.note(format!("seq {seq}: {e}"));
                    return;
                }
            };
            rep.count(&char::from(msg[0]).to_string());
            match m {
                ItchMessage::StockDirectory { hdr, stock, .. } => {
                    let i = usize::from(hdr.locate);
                    if books.len() <= i {
                        books.resize_with(i + 1, || None);
                    }
                    books[i] = Some(L3Book::new(
                        InstrumentId(u32::from(hdr.locate)),
                        L3Config::default(),
                    ));
                    symbols.insert(
                        hdr.locate,
                        String::from_utf8_lossy(&stock).trim_end().to_owned(),
                    );
                    first_locate.get_or_insert(hdr.locate);
                }
                ItchMessage::TradingAction { hdr, state, .. } => {
                    if let Some(Some(b)) = books.get_mut(usize::from(hdr.locate)) {
                        // Crosses happen outside continuous trading: allow a locked/crossed book then.
                        b.set_auction(state != b'T');
                    }
                }
                _ => {
                    if let Some(ev) = m.order_event(UnixNanos(0), seq, UnixNanos(0)) {
                        match books.get_mut(usize::from(m.header().locate)) {
                            Some(Some(b)) => {
                                if let Err(e) = b.apply(&ev) {
                                    b.clear_resync();
                                    rep.integrity_errors += 1;
                                    if matches!(e, IntegrityError::Crossed { .. }) {
                                        rep.crossed_events += 1;
                                    }
                                    rep.note(format!("seq {seq}: {e}"));
                                }
                            }
                            _ => {
                                rep.integrity_errors += 1;
                                rep.note(format!(
                                    "seq {seq}: locate {} not in the directory",
                                    m.header().locate
                                ));
                            }
                        }
                    }
                }
            }
        });
        match r {
            Ok(Some(g)) => {
                rep.sequence_errors += 1;
                rep.note(format!("gap {}..{}", g.from, g.to));
            }
            Ok(None) => {}
            Err(e) => {
                rep.sequence_errors += 1;
                rep.note(format!("bad packet: {e}"));
            }
        }
        if !is_data {
            continue;
        }
        data_packets += 1;
        let (Some(eb), Some(loc)) = (expect.as_ref(), first_locate) else {
            continue;
        };
        let k = data_packets.wrapping_sub(2); // packet 1 is the preamble
        if data_packets < 2 || k >= eb.rows() {
            continue;
        }
        let Some(Some(b)) = books.get(usize::from(loc)) else {
            continue;
        };
        let mut same = true;
        for side in [Side::Buy, Side::Sell] {
            let nf = eb.side_levels(k, side, &mut file);
            let nm = b.top(side, &mut mine);
            same &= nf == nm
                && file[..nf]
                    .iter()
                    .zip(&mine[..nm])
                    .all(|(f, m)| f.0 == m.price.ticks() && f.1 == m.qty.lots());
        }
        rep.checked_states += 1;
        if !same {
            rep.mismatched_states += 1;
            rep.note(format!("row {k}: book differs from the expected book"));
        }
    }
    if let Some(eb) = &expect {
        if data_packets != eb.rows() + 2 {
            rep.sequence_errors += 1;
            rep.note(format!(
                "{data_packets} data packets for {} rows (+2 expected)",
                eb.rows()
            ));
        }
    }
    if !arb.ended() {
        rep.note("no end-of-session packet".into());
    }
    let s = arb.stats();
    rep.sequence_errors += s.duplicates + s.bad_packets;
    for (i, b) in books.iter().enumerate() {
        if let Some(b) = b {
            rep.resting_orders += u64::from(b.order_count());
            let name = symbols
                .get(&(i as u16))
                .cloned()
                .unwrap_or_else(|| i.to_string());
            rep.top_of_book.insert(name, top_of_book(b, price4));
        }
    }
    Ok(rep)
}

fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.abs()
}

/// Replays a DBN MBO file into one L3 book per instrument.
///
/// Book building uses A (add), C (cancel `size` from the order), M (modify: price and/or size) and
/// R (clear); T (trade) and F (fill) report executions whose book effect arrives as C/M records, so
/// they are counted but not applied (Databento's MBO semantics). Prices are divided by the file's
/// price increment, found as the GCD of every add/modify price.
///
/// Crossed books: records are only consistent at event boundaries (records flagged LAST): CME's
/// MBO adds an aggressive order before the fills and the cancel that take it out again, so the book
/// runs in auction (deferred-check) mode and is checked with [`L3Book::verify_uncrossed`] at every
/// LAST record. An instrument is in its pre-open auction until its first T or F record: a crossed
/// or locked book is legal there (counted in `crossed_in_auction`) and an integrity error after.
pub fn replay_dbn(path: &Path) -> Result<L3ReplayReport, DataError> {
    let f = DbnFile::read(path)?;
    let mut rep = L3ReplayReport {
        source: path.display().to_string(),
        ..Default::default()
    };
    let decode_err = |record: u64, source| DataError::Decode {
        path: path.display().to_string(),
        record,
        source,
    };
    let mut tick = 0i64;
    for (i, r) in f.records().enumerate() {
        let (t, rec) = r.map_err(|e| decode_err(i as u64, e))?;
        if t == RTYPE_MBO {
            let m = super::dbn::decode_mbo(rec).map_err(|e| decode_err(i as u64, e))?;
            if matches!(m.action, b'A' | b'M') && m.price != i64::MAX && m.price != 0 {
                tick = gcd(tick, m.price);
            }
        }
    }
    let tick = tick.max(1);
    // The increment as a decimal Scale: tick × 1e-9, reduced.
    let (mut mant, mut exp) = (tick, 9u8);
    while exp > 0 && mant % 10 == 0 {
        mant /= 10;
        exp -= 1;
    }
    let scale = Scale::new(mant, exp).unwrap_or(Scale::ONE);
    rep.tick = Some(scale.to_string());
    let mut books: BTreeMap<u32, (L3Book, bool)> = BTreeMap::new();
    let mut last_seq = 0u32;
    for (i, r) in f.records().enumerate() {
        let (t, rec) = r.map_err(|e| decode_err(i as u64, e))?;
        rep.messages += 1;
        if t != RTYPE_MBO {
            rep.count(&format!("rtype 0x{t:02x}"));
            continue;
        }
        let m = super::dbn::decode_mbo(rec).map_err(|e| decode_err(i as u64, e))?;
        rep.count(&char::from(m.action).to_string());
        if m.flags & super::dbn::FLAG_SNAPSHOT == 0 {
            if m.sequence < last_seq {
                rep.sequence_errors += 1;
            }
            last_seq = m.sequence;
        }
        let (book, in_auction) = books.entry(m.instrument_id).or_insert_with(|| {
            let mut b = L3Book::new(InstrumentId(m.instrument_id), L3Config::default());
            b.set_auction(true); // checked at event boundaries instead, see above
            (b, true)
        });
        if matches!(m.action, b'T' | b'F') {
            *in_auction = false;
        }
        if let Some(ev) = m.order_event(tick) {
            if let Err(e) = book.apply(&ev) {
                book.clear_resync();
                rep.integrity_errors += 1;
                if matches!(e, IntegrityError::Crossed { .. }) {
                    rep.crossed_events += 1;
                }
                rep.note(format!("record {i}: {e} ({m:?})"));
            }
        }
        if m.flags & FLAG_LAST != 0 {
            if *in_auction {
                if let (Some(b), Some(a)) = (book.best_bid(), book.best_ask()) {
                    if b.price >= a.price {
                        rep.crossed_in_auction += 1;
                    }
                }
            } else if let Err(e) = book.verify_uncrossed() {
                book.clear_resync();
                rep.integrity_errors += 1;
                rep.crossed_events += 1;
                rep.note(format!("record {i}: {e} at the end of an event"));
            }
        }
    }
    for (id, (b, _)) in &books {
        rep.resting_orders += u64::from(b.order_count());
        rep.top_of_book
            .insert(id.to_string(), top_of_book(b, |p| scale.format_units(p)));
    }
    Ok(rep)
}

/// The replay as the format-agnostic [`super::replay::ReplaySummary`] that `pymm replay` prints.
pub fn to_summary(format: &str, path: &Path, r: &L3ReplayReport) -> super::replay::ReplaySummary {
    use super::replay::{InstrumentSummary, ReplaySummary};
    let increment = match format {
        "dbn" => r.tick.clone().unwrap_or_default(),
        _ => "0.0001".to_owned(),
    };
    let mut s = ReplaySummary {
        format: format.to_owned(),
        path: path.display().to_string(),
        inputs: vec![path.display().to_string()],
        messages: r.messages,
        messages_by_type: r.messages_by_type.clone(),
        decode_errors: r.decode_errors,
        sequence_errors: r.sequence_errors,
        integrity_errors: r.integrity_errors,
        crossed_events: r.crossed_events,
        checked_states: r.checked_states,
        mismatched_states: r.mismatched_states,
        first_mismatches: r.first_mismatches.clone(),
        ..Default::default()
    };
    if r.checked_states > 0 {
        s.checked_by_kind
            .insert("expected_book".into(), r.checked_states);
    }
    for (name, t) in &r.top_of_book {
        s.applied_updates += t.applied_updates;
        s.instruments.insert(
            name.clone(),
            InstrumentSummary {
                synced: true,
                stale: t.integrity_errors > 0,
                price_increment: increment.clone(),
                qty_increment: "1".into(),
                applied_updates: t.applied_updates,
                integrity_errors: t.integrity_errors,
                bid_price: t.bid_price.clone(),
                bid_qty: t.bid_size.map(|q| q.to_string()),
                ask_price: t.ask_price.clone(),
                ask_qty: t.ask_size.map(|q| q.to_string()),
                bid_levels: t.bid_levels as usize,
                ask_levels: t.ask_levels as usize,
                ..Default::default()
            },
        );
    }
    s
}
