//! The Binance replay driver: reads the two recording formats in `../shared/data`, routes every
//! message through [`binance::decode`] and one [`BookSync`] per symbol, and checks the books against
//! the recorded `bookTicker` messages.
//!
//! Recording formats (one record per line, gzip or plain):
//! - hftbacktest: `<local_recv_ts_ns> <json>` (the REST snapshot is a line without `"stream"`, for the
//!   file's single symbol);
//! - cryptofeed: `<ts_seconds>: <json>` for websocket messages, `<url> -> <ts_seconds>: <json>` for REST
//!   bodies (the symbol is the URL's `symbol=`), `<url> <-> <ts>` connect lines and a leading
//!   `configuration: {...}` (skipped). A `.ws.`/`.http.` pair is merged by timestamp.
//!
//! Scales: a recording carries no exchangeInfo, so each symbol's increments are inferred when its
//! first snapshot arrives. Tick: `10^-d`, `d` the most *significant* decimals among the snapshot's and
//! the buffered diffs' prices (a 1000-level snapshot exposes the price grid; a dense ladder wants the
//! coarsest true tick). Lot: `10^-w`, `w` the decimals sizes are *printed* with (Binance prints every
//! size of a symbol with the same number of decimals; the spot BTCUSDT capture has 6-decimal sizes in
//! later diffs although its snapshot shows only 5, so significant decimals would be too coarse).
//! A finer value later is refused (a decode error; the book resyncs) — never rounded.
//!
//! Checking: a `bookTicker` whose `u` equals the final `u` of a diff describes the book state right
//! after that diff, so its best bid/ask price and size must equal the book's exactly. Counted by kind:
//! `bookTicker_after_diff` (the ticker arrives after the diff; the data README's oracle, 126 states in
//! the USD-M 0808 capture) and `bookTicker_before_diff` (the real-time ticker arrives first and waits,
//! at most 256 per symbol, until the batched diff ending at its `u` is applied).

use super::{read_maybe_gzip, InstrumentSummary, Progress, ReplayError, ReplaySummary};
use crate::book::L2Book;
use crate::feed::binance::{self, DepthSnapshot, Levels, Message};
use crate::feed::{BookSync, DecodeError, DecodeErrorKind, SequenceRule, SyncCounters, SyncEvent};
use crate::model::decimal::{parse_fixed, MAX_EXP};
use crate::model::{InstrumentId, Price, Qty, Scale, Side, UnixNanos};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One record of a recording.
struct Record<'a> {
    ts_ns: u64,
    json: &'a [u8],
    /// `symbol=` of a REST URL.
    rest_symbol: Option<&'a [u8]>,
}

/// Splits a line into a record, or `None` for a line without a message.
fn parse_line(line: &[u8]) -> Option<Record<'_>> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() || line.starts_with(b"configuration:") {
        return None;
    }
    if line.starts_with(b"{") {
        return Some(Record {
            ts_ns: 0,
            json: line,
            rest_symbol: None,
        });
    }
    if line.first().is_some_and(u8::is_ascii_digit) {
        let sep = line.iter().position(|&c| c == b' ' || c == b':')?;
        let ts = &line[..sep];
        let rest = &line[sep + 1..];
        let ts_ns = if line[sep] == b':' {
            parse_fixed(ts, 9).ok()? as u64
        } else {
            parse_fixed(ts, 0).ok()? as u64
        };
        let json = trim_start(rest);
        return json.starts_with(b"{").then_some(Record {
            ts_ns,
            json,
            rest_symbol: None,
        });
    }
    // `<url> -> <ts>: <json>`; `<url> <-> <ts>` is a connect line.
    let arrow = find(line, b" -> ")?;
    let url = &line[..arrow];
    let rest = &line[arrow + 4..];
    let colon = rest.iter().position(|&c| c == b':')?;
    let ts_ns = parse_fixed(&rest[..colon], 9).ok()? as u64;
    let json = trim_start(&rest[colon + 1..]);
    let rest_symbol = find(url, b"symbol=").map(|i| {
        let s = &url[i + 7..];
        let end = s.iter().position(|&c| c == b'&').unwrap_or(s.len());
        &s[..end]
    });
    json.starts_with(b"{").then_some(Record {
        ts_ns,
        json,
        rest_symbol,
    })
}

fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &s[n..]
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The files that make up the recording at `path`: a `.ws.`/`.http.` pair is both files.
pub fn inputs_for(path: &Path) -> Vec<PathBuf> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for (a, b) in [(".ws.", ".http."), (".http.", ".ws.")] {
        if name.contains(a) {
            let other = path.with_file_name(name.replacen(a, b, 1));
            if other.is_file() {
                return if a == ".ws." {
                    vec![path.to_owned(), other]
                } else {
                    vec![other, path.to_owned()]
                };
            }
        }
    }
    vec![path.to_owned()]
}

/// Replays the recording at `path` (a pair is found by name) as one session.
pub fn replay_path(path: &Path, progress: Progress<'_>) -> Result<ReplaySummary, ReplayError> {
    let mut summary = replay_groups(&[inputs_for(path)], progress)?;
    summary.path = path.display().to_string();
    Ok(summary)
}

/// Per-symbol state of the driver.
struct Instrument {
    sync: BookSync,
    /// Scales and rule fixed (at the first snapshot).
    configured: bool,
    /// Rule seen on the first diff (`pu` present ⇒ futures).
    rule: Option<SequenceRule>,
    /// bookTickers that arrived before the diff ending at their `u`: `(u, bid, ask)`, oldest first.
    pending_tickers: Vec<(u64, Level, Level)>,
}

/// A best level `(price, qty)`.
type Level = (Price, Qty);

/// At most this many bookTickers wait for their diff per instrument.
const MAX_PENDING_TICKERS: usize = 256;

/// Compares a bookTicker's touch with the book's; describes a mismatch.
fn compare_touch(
    symbol: &[u8],
    u: u64,
    ticker: (Level, Level),
    book: &L2Book,
    scales: (Scale, Scale),
) -> Result<(), String> {
    let ours = (book.best_bid(), book.best_ask());
    if ours == (Some(ticker.0), Some(ticker.1)) {
        return Ok(());
    }
    let (ps, qs) = scales;
    let fmt = |x: Option<Level>| match x {
        Some((p, q)) => format!(
            "{}@{}",
            qs.format_units(q.lots()),
            ps.format_units(p.ticks())
        ),
        None => "none".into(),
    };
    Err(format!(
        "{} u={u}: bookTicker bid {} ask {}, book bid {} ask {}",
        String::from_utf8_lossy(symbol),
        fmt(Some(ticker.0)),
        fmt(Some(ticker.1)),
        fmt(ours.0),
        fmt(ours.1)
    ))
}

/// Replays `files` as one session, in order (`merge_by_time`: interleave them by timestamp instead).
pub fn replay_files(
    files: &[PathBuf],
    merge_by_time: bool,
    progress: Progress<'_>,
) -> Result<ReplaySummary, ReplayError> {
    let groups: Vec<Vec<PathBuf>> = if merge_by_time {
        vec![files.to_vec()]
    } else {
        files.iter().map(|f| vec![f.clone()]).collect()
    };
    replay_groups(&groups, progress)
}

/// Replays groups of files as one session: the groups in order, the files of a group (a `.ws.`/`.http.`
/// pair) interleaved by timestamp.
#[allow(clippy::disallowed_methods)] // wall-clock run time for the report only; no decision reads it
pub fn replay_groups(
    groups: &[Vec<PathBuf>],
    progress: Progress<'_>,
) -> Result<ReplaySummary, ReplayError> {
    let started = std::time::Instant::now();
    let files: Vec<PathBuf> = groups.iter().flatten().cloned().collect();
    let files = &files[..];
    let contents = files
        .iter()
        .map(|f| read_maybe_gzip(f))
        .collect::<Result<Vec<_>, _>>()?;
    let mut summary = ReplaySummary {
        format: "binance".into(),
        path: files
            .first()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        inputs: files.iter().map(|p| p.display().to_string()).collect(),
        ..ReplaySummary::default()
    };
    // Records of each file, in file order.
    let mut per_file: Vec<Vec<Record<'_>>> = Vec::with_capacity(contents.len());
    for c in &contents {
        let mut recs = Vec::new();
        for line in c.split(|&b| b == b'\n') {
            match parse_line(line) {
                Some(r) => recs.push(r),
                None => {
                    if !line.is_empty() && line != b"\r" {
                        summary.skipped_lines += 1;
                    }
                }
            }
        }
        per_file.push(recs);
    }
    let mut records: Vec<Record<'_>> = Vec::new();
    let mut per_file = per_file.into_iter();
    for group in groups {
        let mut all: Vec<(usize, Record<'_>)> = Vec::new();
        for i in 0..group.len() {
            all.extend(per_file.next().into_iter().flatten().map(|r| (i, r)));
        }
        if group.len() > 1 {
            // Stable: equal timestamps keep file order (websocket first).
            all.sort_by_key(|(i, r)| (r.ts_ns, *i));
        }
        records.extend(all.into_iter().map(|(_, r)| r));
    }
    let total: u64 = records.iter().map(|r| r.json.len() as u64).sum();
    let mut done = 0u64;
    let mut replayer = Replayer {
        instruments: BTreeMap::new(),
        summary,
    };
    for (n, rec) in records.iter().enumerate() {
        replayer.on_record(rec);
        done += rec.json.len() as u64;
        if n % 4096 == 0 && !progress(done, total) {
            return Err(ReplayError::Interrupted);
        }
    }
    progress(total, total);
    let mut summary = replayer.finish();
    summary.elapsed_s = started.elapsed().as_secs_f64();
    summary.msgs_per_s = if summary.elapsed_s > 0.0 {
        summary.messages as f64 / summary.elapsed_s
    } else {
        0.0
    };
    Ok(summary)
}

struct Replayer {
    instruments: BTreeMap<Vec<u8>, Instrument>,
    summary: ReplaySummary,
}

/// Most significant decimals among a level list's prices and sizes.
fn max_decimals(levels: Levels<'_>, acc: &mut (u8, u8)) {
    for (p, q) in levels.iter().flatten() {
        acc.0 = acc.0.max(decimals(p));
        acc.1 = acc.1.max(written_decimals(q));
    }
}

fn decimals(text: &[u8]) -> u8 {
    match text.iter().position(|&c| c == b'.') {
        Some(i) => {
            let frac = &text[i + 1..];
            let sig = frac.len() - frac.iter().rev().take_while(|&&c| c == b'0').count();
            sig.min(usize::from(MAX_EXP)) as u8
        }
        None => 0,
    }
}

/// Decimals as printed, trailing zeros included ("0.00100000" → 8).
fn written_decimals(text: &[u8]) -> u8 {
    match text.iter().position(|&c| c == b'.') {
        Some(i) => (text.len() - i - 1).min(usize::from(MAX_EXP)) as u8,
        None => 0,
    }
}

fn scale_of(decimals: u8) -> Scale {
    // decimals <= MAX_EXP and mantissa 1: always a valid scale.
    Scale::new(1, decimals).unwrap_or(Scale::ONE)
}

impl Replayer {
    fn decode_error(&mut self, e: &DecodeError) {
        self.summary.decode_errors += 1;
        *self
            .summary
            .decode_errors_by_kind
            .entry(e.kind().as_str().to_owned())
            .or_default() += 1;
    }

    fn instrument(&mut self, symbol: &[u8]) -> &mut Instrument {
        if !self.instruments.contains_key(symbol) {
            let sync = BookSync::new(
                SequenceRule::Spot,
                Scale::ONE,
                Scale::ONE,
                L2Book::default(),
            );
            self.instruments.insert(
                symbol.to_ascii_uppercase(),
                Instrument {
                    sync,
                    configured: false,
                    rule: None,
                    pending_tickers: Vec::new(),
                },
            );
        }
        let key = symbol.to_ascii_uppercase();
        // Inserted just above when absent.
        self.instruments
            .get_mut(&key)
            .unwrap_or_else(|| unreachable!("instrument inserted above"))
    }

    fn on_record(&mut self, rec: &Record<'_>) {
        let env = match binance::decode(rec.json) {
            Ok(env) => env,
            Err(e) => return self.decode_error(&e),
        };
        self.summary.count_message(env.message.kind_name());
        match env.message {
            Message::DepthUpdate(d) => {
                let inst = self.instrument(d.symbol);
                if inst.rule.is_none() {
                    inst.rule = Some(if d.prev_final_update_id.is_some() {
                        SequenceRule::Futures
                    } else {
                        SequenceRule::Spot
                    });
                }
                let rule = inst.rule.unwrap_or(SequenceRule::Spot);
                if !inst.configured {
                    let (ps, qs) = inst.sync.scales();
                    inst.sync.configure(rule, ps, qs);
                }
                if inst.sync.on_depth_update(rec.json, &d) == SyncEvent::Applied
                    && !inst.pending_tickers.is_empty()
                {
                    let u = d.final_update_id;
                    let mut results = Vec::new();
                    for &(tu, bid, ask) in &inst.pending_tickers {
                        if tu == u {
                            let r = compare_touch(
                                d.symbol,
                                tu,
                                (bid, ask),
                                inst.sync.book(),
                                inst.sync.scales(),
                            );
                            results.push(r);
                        }
                    }
                    inst.pending_tickers.retain(|t| t.0 > u);
                    for r in results {
                        self.summary.check("bookTicker_before_diff", r);
                    }
                }
            }
            Message::DepthSnapshot(s) => self.on_snapshot(&s, rec.rest_symbol),
            Message::BookTicker(bt) => {
                let key = bt.symbol.to_ascii_uppercase();
                let Some(inst) = self.instruments.get_mut(&key) else {
                    return;
                };
                if !inst.configured || inst.sync.is_stale() {
                    return;
                }
                let Some(last) = inst.sync.last_applied_u() else {
                    return;
                };
                let scales = inst.sync.scales();
                let touch = match bt.to_touch(scales.0, scales.1) {
                    Ok(t) => t,
                    Err(e) => return self.decode_error(&e),
                };
                if bt.update_id == last {
                    let r = compare_touch(bt.symbol, bt.update_id, touch, inst.sync.book(), scales);
                    self.summary.check("bookTicker_after_diff", r);
                } else if bt.update_id > last {
                    // Real-time ticker ahead of the (batched) diff: check it when that diff lands.
                    if inst.pending_tickers.len() == MAX_PENDING_TICKERS {
                        inst.pending_tickers.remove(0);
                    }
                    inst.pending_tickers.push((bt.update_id, touch.0, touch.1));
                }
            }
            Message::Trade(t) => self.check_trade(t.symbol, |ps, qs| {
                t.to_trade(InstrumentId(0), ps, qs, UnixNanos(rec.ts_ns))
                    .map(|_| ())
            }),
            Message::AggTrade(t) => self.check_trade(t.symbol, |ps, qs| {
                t.to_trade(InstrumentId(0), ps, qs, UnixNanos(rec.ts_ns))
                    .map(|_| ())
            }),
            Message::PartialDepth(_) | Message::Other { .. } => {}
        }
    }

    /// Converts a trade onto its instrument's grid once the grid is known (decode check only).
    fn check_trade(
        &mut self,
        symbol: &[u8],
        f: impl FnOnce(Scale, Scale) -> Result<(), DecodeError>,
    ) {
        let key = symbol.to_ascii_uppercase();
        let Some(inst) = self.instruments.get(&key) else {
            return;
        };
        if !inst.configured {
            return;
        }
        let (ps, qs) = inst.sync.scales();
        if let Err(e) = f(ps, qs) {
            self.decode_error(&e);
        }
    }

    fn on_snapshot(&mut self, s: &DepthSnapshot<'_>, rest_symbol: Option<&[u8]>) {
        let symbol: Option<Vec<u8>> = match (s.symbol.or(rest_symbol), self.instruments.len()) {
            (Some(sym), _) => Some(sym.to_ascii_uppercase()),
            // A bare snapshot body in a single-symbol recording belongs to that symbol.
            (None, 1) => self.instruments.keys().next().cloned(),
            (None, _) => None,
        };
        let Some(symbol) = symbol else {
            return self.decode_error(&DecodeError::UnknownSymbol);
        };
        let inst = self.instrument(&symbol);
        if !inst.configured {
            let mut acc = (0u8, 0u8);
            max_decimals(s.bids, &mut acc);
            max_decimals(s.asks, &mut acc);
            for raw in inst.sync.buffered() {
                if let Ok(env) = binance::decode(raw) {
                    if let Message::DepthUpdate(d) = env.message {
                        max_decimals(d.bids, &mut acc);
                        max_decimals(d.asks, &mut acc);
                    }
                }
            }
            let rule = inst.rule.unwrap_or(SequenceRule::Spot);
            inst.sync.configure(rule, scale_of(acc.0), scale_of(acc.1));
            inst.configured = true;
        }
        inst.sync.on_snapshot(s);
        inst.pending_tickers.clear();
    }

    fn finish(mut self) -> ReplaySummary {
        let mut s = std::mem::take(&mut self.summary);
        for (sym, inst) in &self.instruments {
            let c: &SyncCounters = inst.sync.counters();
            let (ps, qs) = inst.sync.scales();
            let book = inst.sync.book();
            let errs = inst.sync.decode_errors();
            for kind in DecodeErrorKind::ALL {
                let n = errs.get(kind);
                if n > 0 {
                    s.decode_errors += n;
                    *s.decode_errors_by_kind
                        .entry(kind.as_str().to_owned())
                        .or_default() += n;
                }
            }
            s.sequence_errors += c.sequence_breaks;
            s.integrity_errors += c.integrity_errors;
            s.crossed_events += c.crossed_events;
            s.resyncs += c.resyncs;
            s.applied_updates += c.applied;
            let live = !inst.sync.is_stale();
            let bid = if live { book.best_bid() } else { None };
            let ask = if live { book.best_ask() } else { None };
            s.instruments.insert(
                String::from_utf8_lossy(sym).into_owned(),
                InstrumentSummary {
                    synced: live && c.snapshots > 0,
                    stale: inst.sync.is_stale(),
                    price_increment: ps.to_string(),
                    qty_increment: qs.to_string(),
                    last_update_id: inst.sync.last_update_id(),
                    applied_updates: c.applied,
                    sequence_errors: c.sequence_breaks,
                    integrity_errors: c.integrity_errors,
                    crossed_events: c.crossed_events,
                    resyncs: c.resyncs,
                    dropped_stale: c.dropped_stale,
                    pending_updates: inst.sync.buffered().count() as u64,
                    bid_price: bid.map(|(p, _)| ps.format_units(p.ticks())),
                    bid_qty: bid.map(|(_, q)| qs.format_units(q.lots())),
                    ask_price: ask.map(|(p, _)| ps.format_units(p.ticks())),
                    ask_qty: ask.map(|(_, q)| qs.format_units(q.lots())),
                    bid_levels: book.len(Side::Buy),
                    ask_levels: book.len(Side::Sell),
                },
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn book_ticker_oracle_counts_matches_and_mismatches() {
        let lines = [
            r#"1 {"stream":"x@depth@0ms","data":{"e":"depthUpdate","E":1,"T":1,"s":"XUSDT","U":90,"u":105,"pu":80,"b":[["10.0","1.000"]],"a":[]}}"#,
            r#"2 {"lastUpdateId":100,"E":1,"T":1,"bids":[["9.9","2.000"]],"asks":[["10.1","3.000"]]}"#,
            r#"3 {"stream":"x@bookTicker","data":{"e":"bookTicker","u":105,"s":"XUSDT","b":"10.0","B":"1.000","a":"10.1","A":"3.000","T":1,"E":1}}"#,
            r#"4 {"stream":"x@bookTicker","data":{"e":"bookTicker","u":105,"s":"XUSDT","b":"10.0","B":"1.500","a":"10.1","A":"3.000","T":1,"E":1}}"#,
            r#"5 {"stream":"x@bookTicker","data":{"e":"bookTicker","u":104,"s":"XUSDT","b":"1.0","B":"1.000","a":"2.0","A":"3.000","T":1,"E":1}}"#,
            r#"6 {"stream":"x@depth@0ms","data":{"e":"depthUpdate","E":1,"T":1,"s":"XUSDT","U":110,"u":120,"pu":106,"b":[],"a":[]}}"#,
        ];
        let path =
            std::env::temp_dir().join(format!("pymm_replay_oracle_{}.txt", std::process::id()));
        std::fs::write(&path, lines.join("\n")).unwrap();
        let s = replay_path(&path, &mut |_, _| true).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!((s.checked_states, s.mismatched_states), (2, 1));
        assert_eq!(s.checked_by_kind["bookTicker_after_diff"], 2);
        assert!(
            s.first_mismatches[0].contains("u=105"),
            "{:?}",
            s.first_mismatches
        );
        // The last diff's pu (106) does not chain to 105: a counted break, the book stale.
        assert_eq!((s.sequence_errors, s.resyncs), (1, 1));
        let x = &s.instruments["XUSDT"];
        assert!(x.stale && !x.synced && x.bid_price.is_none());
        assert_eq!(
            (x.price_increment.as_str(), x.qty_increment.as_str()),
            ("0.1", "0.001")
        );
    }

    #[test]
    fn parses_both_recording_formats() {
        let r = parse_line(b"1723161255030314667 {\"a\":1}").unwrap();
        assert_eq!(
            (r.ts_ns, r.json),
            (1_723_161_255_030_314_667, &b"{\"a\":1}"[..])
        );
        let r = parse_line(b"1617566591.123456: {\"a\":1}").unwrap();
        assert_eq!(r.ts_ns, 1_617_566_591_123_456_000);
        let r = parse_line(b"https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000 -> 1617566591.5: {\"lastUpdateId\":1}").unwrap();
        assert_eq!(r.rest_symbol, Some(&b"BTCUSDT"[..]));
        assert!(
            parse_line(b"wss://stream.binance.com:9443/stream?streams=x <-> 1617566591.1")
                .is_none()
        );
        assert!(parse_line(b"configuration: {\"log\":1}").is_none());
        assert!(parse_line(b"").is_none());
        assert_eq!(decimals(b"61800.20"), 1);
        assert_eq!(decimals(b"0.00001000"), 5);
        assert_eq!(decimals(b"100"), 0);
        assert_eq!(written_decimals(b"0.00100000"), 8);
        assert_eq!(written_decimals(b"7"), 0);
    }
}
