//! Binance spot and USD-M/COIN-M market-stream decoders: diff depth, partial depth, REST depth
//! snapshot, trade, aggTrade, bookTicker, inside or outside the combined-stream envelope
//! `{"stream":"<symbol>@<channel>","data":{...}}`.
//!
//! A schema-specific scanner over the raw bytes: one pass collects the known keys of the payload as
//! slices of the input (no `serde_json::Value`, no `String`), then the kind is decided — by `"e"`
//! (`depthUpdate`, `trade`, `aggTrade`, `bookTicker`), or by fields where Binance sends no `"e"`
//! (spot bookTicker: `u,s,b,B,a,A`; depth snapshot: `lastUpdateId,bids,asks`). Price levels stay as
//! a [`Levels`] slice and are converted lazily, straight into whole ticks/lots through the
//! instrument's [`Scale`], so nothing allocates per message.
//!
//! Field meanings follow `docs` of Binance (see `../shared/research/binance_protocol.md` §2.2, §3.5):
//! `U`/`u` first/final update id of a diff, `pu` the previous diff's `u` (futures only), quantities
//! absolute with `0` deleting the level.
//!
//! # Hot path
//! Pinned feed thread: [`decode`] is O(message length), allocation-free on success and on every
//! error but [`DecodeError::BadDecimal`] (whose cold path formats the refused text).

pub mod scanner;

use crate::feed::DecodeError;
use crate::model::{InstrumentId, Price, Qty, Scale, Side, Trade, UnixNanos};
use scanner::{parse_u64, Scanner, Value};

/// A decoded message with its combined-stream name, if it came in an envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// `"btcusdt@depth@100ms"` etc.; `None` for a raw stream or a REST body.
    pub stream: Option<&'a [u8]>,
    /// The payload.
    pub message: Message<'a>,
}

/// One Binance market-data payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// `depthUpdate` on a diff stream (`@depth`, `@depth@100ms`, `@depth@0ms`).
    DepthUpdate(DepthUpdate<'a>),
    /// A REST depth snapshot (`GET /api/v3/depth`, `/fapi/v1/depth`, `/dapi/v1/depth`).
    DepthSnapshot(DepthSnapshot<'a>),
    /// A partial book (`@depth5/10/20`): spot sends a snapshot shape, futures a diff shape; either
    /// way it is a top-N picture, not a diff.
    PartialDepth(DepthSnapshot<'a>),
    /// `trade`.
    Trade(TradeMsg<'a>),
    /// `aggTrade`.
    AggTrade(AggTradeMsg<'a>),
    /// `bookTicker` (spot has no `"e"`).
    BookTicker(BookTickerMsg<'a>),
    /// Any other well-formed payload (kline, markPrice, subscription ack, ...), with its `"e"`.
    Other {
        /// The event name, if the payload has one.
        event: Option<&'a [u8]>,
    },
}

impl Message<'_> {
    /// A stable name for counting.
    pub const fn kind_name(&self) -> &'static str {
        match self {
            Message::DepthUpdate(_) => "depthUpdate",
            Message::DepthSnapshot(_) => "depthSnapshot",
            Message::PartialDepth(_) => "partialDepth",
            Message::Trade(_) => "trade",
            Message::AggTrade(_) => "aggTrade",
            Message::BookTicker(_) => "bookTicker",
            Message::Other { .. } => "other",
        }
    }
}

/// A diff-depth event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DepthUpdate<'a> {
    /// `s`.
    pub symbol: &'a [u8],
    /// `E`, milliseconds.
    pub event_time_ms: u64,
    /// `U`: first update id in the event.
    pub first_update_id: u64,
    /// `u`: final update id in the event.
    pub final_update_id: u64,
    /// `pu`: the previous event's `u` (futures); `None` on spot.
    pub prev_final_update_id: Option<u64>,
    /// `b`.
    pub bids: Levels<'a>,
    /// `a`.
    pub asks: Levels<'a>,
}

/// A full (REST) or partial book picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DepthSnapshot<'a> {
    /// `symbol` (COIN-M REST) or `s` (futures partial depth); spot bodies carry none.
    pub symbol: Option<&'a [u8]>,
    /// `lastUpdateId` (or `u` for a futures partial depth).
    pub last_update_id: u64,
    /// `bids` / `b`.
    pub bids: Levels<'a>,
    /// `asks` / `a`.
    pub asks: Levels<'a>,
}

/// A `trade` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TradeMsg<'a> {
    /// `s`.
    pub symbol: &'a [u8],
    /// `t`.
    pub trade_id: u64,
    /// `p`, decimal text.
    pub price: &'a [u8],
    /// `q`, decimal text.
    pub qty: &'a [u8],
    /// `T`, milliseconds.
    pub trade_time_ms: u64,
    /// `m`: the buyer was the maker (so the aggressor sold).
    pub buyer_is_maker: bool,
}

/// An `aggTrade` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AggTradeMsg<'a> {
    /// `s`.
    pub symbol: &'a [u8],
    /// `a`: aggregate trade id.
    pub agg_id: u64,
    /// `p`.
    pub price: &'a [u8],
    /// `q`.
    pub qty: &'a [u8],
    /// `f`: first trade id.
    pub first_trade_id: u64,
    /// `l`: last trade id.
    pub last_trade_id: u64,
    /// `T`, milliseconds.
    pub trade_time_ms: u64,
    /// `m`.
    pub buyer_is_maker: bool,
}

/// A `bookTicker` event (best bid/ask).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookTickerMsg<'a> {
    /// `s`.
    pub symbol: &'a [u8],
    /// `u`: the book update id this ticker reflects.
    pub update_id: u64,
    /// `b`.
    pub bid_price: &'a [u8],
    /// `B`.
    pub bid_qty: &'a [u8],
    /// `a`.
    pub ask_price: &'a [u8],
    /// `A`.
    pub ask_qty: &'a [u8],
    /// `E` (futures only).
    pub event_time_ms: Option<u64>,
}

/// A JSON array of `[price, qty]` pairs, still as bytes. Iterate with [`Levels::iter`] (raw text) or
/// [`Levels::for_each_scaled`] (ticks and lots).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Levels<'a>(&'a [u8]);

impl<'a> Levels<'a> {
    /// An empty list.
    pub const EMPTY: Levels<'static> = Levels(b"[]");

    /// The raw array text.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// The `[price, qty]` pairs as decimal text.
    pub fn iter(&self) -> LevelIter<'a> {
        LevelIter {
            sc: Scanner::new(self.0),
            started: false,
            done: false,
        }
    }

    /// Calls `f(price, qty)` for each level, converted exactly through the scales; stops at the
    /// first error (levels before it have been delivered).
    ///
    /// # Hot path
    /// No allocation on success.
    #[inline]
    pub fn for_each_scaled<E: From<DecodeError>>(
        &self,
        price_scale: Scale,
        qty_scale: Scale,
        mut f: impl FnMut(Price, Qty) -> Result<(), E>,
    ) -> Result<(), E> {
        for lvl in self.iter() {
            let (p, q) = lvl?;
            let price = price_scale
                .parse_units(p)
                .map_err(|source| DecodeError::BadDecimal {
                    field: "price",
                    source,
                })?;
            let qty = qty_scale
                .parse_units(q)
                .map_err(|source| DecodeError::BadDecimal {
                    field: "qty",
                    source,
                })?;
            f(Price::from_ticks(price), Qty::from_lots(qty))?;
        }
        Ok(())
    }
}

/// One level as `(price, qty)` decimal text.
pub type LevelText<'a> = (&'a [u8], &'a [u8]);

/// Iterator over `[price, qty]` text pairs; yields one error then stops.
pub struct LevelIter<'a> {
    sc: Scanner<'a>,
    started: bool,
    done: bool,
}

impl<'a> LevelIter<'a> {
    fn next_pair(&mut self) -> Result<Option<LevelText<'a>>, DecodeError> {
        if !self.started {
            self.started = true;
            self.sc.expect(b'[', "'[' opening levels")?;
            if self.sc.eat(b']') {
                return Ok(None);
            }
        } else if !self.sc.eat(b',') {
            self.sc.expect(b']', "',' or ']' after a level")?;
            return Ok(None);
        }
        if let Some(pair) = self.sc.compact_pair() {
            return Ok(Some(pair));
        }
        self.sc.expect(b'[', "'[' opening a level")?;
        let p = decimal_text(&mut self.sc)?;
        self.sc.expect(b',', "',' in a level")?;
        let q = decimal_text(&mut self.sc)?;
        self.sc.expect(b']', "']' closing a level")?;
        Ok(Some((p, q)))
    }
}

/// A level element: Binance sends decimal strings; bare numbers are accepted too.
#[inline]
fn decimal_text<'a>(sc: &mut Scanner<'a>) -> Result<&'a [u8], DecodeError> {
    match sc.value()? {
        Value::Str(s) | Value::Num(s) => Ok(s),
        _ => Err(DecodeError::Malformed {
            at: sc.pos(),
            expected: "a decimal in a level",
        }),
    }
}

impl<'a> Iterator for LevelIter<'a> {
    type Item = Result<LevelText<'a>, DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_pair() {
            Ok(Some(pair)) => Some(Ok(pair)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// The payload keys the decoder knows, as slices of the input.
#[derive(Default)]
struct Fields<'a> {
    e: Option<Value<'a>>,
    big_e: Option<Value<'a>>,
    big_t: Option<Value<'a>>,
    s: Option<Value<'a>>,
    big_u: Option<Value<'a>>,
    u: Option<Value<'a>>,
    pu: Option<Value<'a>>,
    b: Option<Value<'a>>,
    a: Option<Value<'a>>,
    big_b: Option<Value<'a>>,
    big_a: Option<Value<'a>>,
    t: Option<Value<'a>>,
    p: Option<Value<'a>>,
    q: Option<Value<'a>>,
    m: Option<Value<'a>>,
    f: Option<Value<'a>>,
    l: Option<Value<'a>>,
    last_update_id: Option<Value<'a>>,
    bids: Option<Value<'a>>,
    asks: Option<Value<'a>>,
    symbol: Option<Value<'a>>,
    stream: Option<Value<'a>>,
    data: Option<Value<'a>>,
}

impl<'a> Fields<'a> {
    #[inline]
    fn collect(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut fl = Fields::default();
        let mut sc = Scanner::new(buf);
        sc.object(|k, v| {
            let slot = match k {
                b"e" => &mut fl.e,
                b"E" => &mut fl.big_e,
                b"T" => &mut fl.big_t,
                b"s" => &mut fl.s,
                b"U" => &mut fl.big_u,
                b"u" => &mut fl.u,
                b"pu" => &mut fl.pu,
                b"b" => &mut fl.b,
                b"a" => &mut fl.a,
                b"B" => &mut fl.big_b,
                b"A" => &mut fl.big_a,
                b"t" => &mut fl.t,
                b"p" => &mut fl.p,
                b"q" => &mut fl.q,
                b"m" => &mut fl.m,
                b"f" => &mut fl.f,
                b"l" => &mut fl.l,
                b"lastUpdateId" => &mut fl.last_update_id,
                b"bids" => &mut fl.bids,
                b"asks" => &mut fl.asks,
                b"symbol" => &mut fl.symbol,
                b"stream" => &mut fl.stream,
                b"data" => &mut fl.data,
                _ => return Ok(()),
            };
            *slot = Some(v);
            Ok(())
        })?;
        if !sc.at_end() {
            return Err(DecodeError::Malformed {
                at: sc.pos(),
                expected: "end of message",
            });
        }
        Ok(fl)
    }
}

#[cold]
#[inline(never)]
fn missing(kind: &'static str, field: &'static str) -> DecodeError {
    DecodeError::MissingField { kind, field }
}

#[cold]
#[inline(never)]
fn wrong(kind: &'static str, field: &'static str) -> DecodeError {
    DecodeError::WrongType { kind, field }
}

#[inline]
fn req_u64(
    v: Option<Value<'_>>,
    kind: &'static str,
    field: &'static str,
) -> Result<u64, DecodeError> {
    match v {
        Some(Value::Num(n)) => parse_u64(n, field),
        Some(_) => Err(wrong(kind, field)),
        None => Err(missing(kind, field)),
    }
}

#[inline]
fn opt_u64(
    v: Option<Value<'_>>,
    kind: &'static str,
    field: &'static str,
) -> Result<Option<u64>, DecodeError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        v => req_u64(v, kind, field).map(Some),
    }
}

#[inline]
fn req_str<'a>(
    v: Option<Value<'a>>,
    kind: &'static str,
    field: &'static str,
) -> Result<&'a [u8], DecodeError> {
    match v {
        Some(Value::Str(s)) => Ok(s),
        Some(_) => Err(wrong(kind, field)),
        None => Err(missing(kind, field)),
    }
}

#[inline]
fn req_levels<'a>(
    v: Option<Value<'a>>,
    kind: &'static str,
    field: &'static str,
) -> Result<Levels<'a>, DecodeError> {
    match v {
        Some(Value::Arr(a)) => Ok(Levels(a)),
        Some(_) => Err(wrong(kind, field)),
        None => Err(missing(kind, field)),
    }
}

#[inline]
fn req_bool(
    v: Option<Value<'_>>,
    kind: &'static str,
    field: &'static str,
) -> Result<bool, DecodeError> {
    match v {
        Some(Value::Bool(b)) => Ok(b),
        Some(_) => Err(wrong(kind, field)),
        None => Err(missing(kind, field)),
    }
}

/// True for a partial-depth stream name: `<symbol>@depth<digits>[@...]`.
fn is_partial_depth_stream(stream: &[u8]) -> bool {
    match stream.windows(6).position(|w| w == b"@depth") {
        Some(i) => stream.get(i + 6).is_some_and(u8::is_ascii_digit),
        None => false,
    }
}

/// Decodes one message (a combined-stream envelope, a raw stream payload or a REST depth body).
///
/// # Hot path
/// O(len), no allocation on success.
pub fn decode(input: &[u8]) -> Result<Envelope<'_>, DecodeError> {
    let outer = Fields::collect(input)?;
    let (stream, fields) = match outer.data {
        Some(Value::Obj(data)) => {
            let stream = match outer.stream {
                Some(Value::Str(s)) => Some(s),
                _ => None,
            };
            (stream, Fields::collect(data)?)
        }
        _ => (None, outer),
    };
    let partial = stream.is_some_and(is_partial_depth_stream);
    let message = classify(fields, partial)?;
    Ok(Envelope { stream, message })
}

#[inline]
fn classify(fl: Fields<'_>, partial: bool) -> Result<Message<'_>, DecodeError> {
    let event = match fl.e {
        Some(Value::Str(e)) => Some(e),
        Some(_) => return Err(wrong("event", "e")),
        None => None,
    };
    match event {
        Some(b"depthUpdate") => {
            const K: &str = "depthUpdate";
            let d = DepthUpdate {
                symbol: req_str(fl.s, K, "s")?,
                event_time_ms: req_u64(fl.big_e, K, "E")?,
                first_update_id: req_u64(fl.big_u, K, "U")?,
                final_update_id: req_u64(fl.u, K, "u")?,
                prev_final_update_id: opt_u64(fl.pu, K, "pu")?,
                bids: req_levels(fl.b, K, "b")?,
                asks: req_levels(fl.a, K, "a")?,
            };
            if partial {
                return Ok(Message::PartialDepth(DepthSnapshot {
                    symbol: Some(d.symbol),
                    last_update_id: d.final_update_id,
                    bids: d.bids,
                    asks: d.asks,
                }));
            }
            Ok(Message::DepthUpdate(d))
        }
        Some(b"trade") => {
            const K: &str = "trade";
            Ok(Message::Trade(TradeMsg {
                symbol: req_str(fl.s, K, "s")?,
                trade_id: req_u64(fl.t, K, "t")?,
                price: req_str(fl.p, K, "p")?,
                qty: req_str(fl.q, K, "q")?,
                trade_time_ms: req_u64(fl.big_t, K, "T")?,
                buyer_is_maker: req_bool(fl.m, K, "m")?,
            }))
        }
        Some(b"aggTrade") => {
            const K: &str = "aggTrade";
            Ok(Message::AggTrade(AggTradeMsg {
                symbol: req_str(fl.s, K, "s")?,
                agg_id: req_u64(fl.a, K, "a")?,
                price: req_str(fl.p, K, "p")?,
                qty: req_str(fl.q, K, "q")?,
                first_trade_id: req_u64(fl.f, K, "f")?,
                last_trade_id: req_u64(fl.l, K, "l")?,
                trade_time_ms: req_u64(fl.big_t, K, "T")?,
                buyer_is_maker: req_bool(fl.m, K, "m")?,
            }))
        }
        Some(b"bookTicker") => book_ticker(&fl),
        Some(e) => Ok(Message::Other { event: Some(e) }),
        None => {
            if fl.last_update_id.is_some() {
                const K: &str = "depthSnapshot";
                let snap = DepthSnapshot {
                    symbol: match fl.symbol {
                        Some(Value::Str(s)) => Some(s),
                        _ => None,
                    },
                    last_update_id: req_u64(fl.last_update_id, K, "lastUpdateId")?,
                    bids: req_levels(fl.bids, K, "bids")?,
                    asks: req_levels(fl.asks, K, "asks")?,
                };
                Ok(if partial {
                    Message::PartialDepth(snap)
                } else {
                    Message::DepthSnapshot(snap)
                })
            } else if fl.u.is_some() && fl.big_b.is_some() && fl.big_a.is_some() {
                book_ticker(&fl)
            } else {
                Ok(Message::Other { event: None })
            }
        }
    }
}

#[inline]
fn book_ticker<'a>(fl: &Fields<'a>) -> Result<Message<'a>, DecodeError> {
    const K: &str = "bookTicker";
    Ok(Message::BookTicker(BookTickerMsg {
        symbol: req_str(fl.s, K, "s")?,
        update_id: req_u64(fl.u, K, "u")?,
        bid_price: req_str(fl.b, K, "b")?,
        bid_qty: req_str(fl.big_b, K, "B")?,
        ask_price: req_str(fl.a, K, "a")?,
        ask_qty: req_str(fl.big_a, K, "A")?,
        event_time_ms: opt_u64(fl.big_e, K, "E")?,
    }))
}

#[inline]
fn scaled(scale: Scale, text: &[u8], field: &'static str) -> Result<i64, DecodeError> {
    scale
        .parse_units(text)
        .map_err(|source| DecodeError::BadDecimal { field, source })
}

/// A trade print in ticks and lots; Binance's buyer-is-maker flag means the seller was the aggressor.
#[allow(clippy::too_many_arguments)]
fn trade_in_ticks(
    instrument: InstrumentId,
    (price_scale, qty_scale): (Scale, Scale),
    price: &[u8],
    qty: &[u8],
    buyer_is_maker: bool,
    trade_id: u64,
    trade_time_ms: u64,
    ts_recv: UnixNanos,
) -> Result<Trade, DecodeError> {
    Ok(Trade {
        instrument,
        price: Price::from_ticks(scaled(price_scale, price, "p")?),
        qty: Qty::from_lots(scaled(qty_scale, qty, "q")?),
        aggressor: Some(if buyer_is_maker {
            Side::Sell
        } else {
            Side::Buy
        }),
        trade_id,
        ts_event: UnixNanos::from_millis(trade_time_ms),
        ts_recv,
    })
}

impl TradeMsg<'_> {
    /// The trade in ticks and lots.
    pub fn to_trade(
        &self,
        instrument: InstrumentId,
        price_scale: Scale,
        qty_scale: Scale,
        ts_recv: UnixNanos,
    ) -> Result<Trade, DecodeError> {
        let scales = (price_scale, qty_scale);
        let (p, q, m) = (self.price, self.qty, self.buyer_is_maker);
        trade_in_ticks(
            instrument,
            scales,
            p,
            q,
            m,
            self.trade_id,
            self.trade_time_ms,
            ts_recv,
        )
    }
}

impl AggTradeMsg<'_> {
    /// The aggregate trade in ticks and lots (its id is the aggregate id).
    pub fn to_trade(
        &self,
        instrument: InstrumentId,
        price_scale: Scale,
        qty_scale: Scale,
        ts_recv: UnixNanos,
    ) -> Result<Trade, DecodeError> {
        let scales = (price_scale, qty_scale);
        let (p, q, m) = (self.price, self.qty, self.buyer_is_maker);
        trade_in_ticks(
            instrument,
            scales,
            p,
            q,
            m,
            self.agg_id,
            self.trade_time_ms,
            ts_recv,
        )
    }
}

/// Best bid and ask, each `(price, qty)` in ticks/lots.
pub type Touch = ((Price, Qty), (Price, Qty));

impl BookTickerMsg<'_> {
    /// Best bid and ask in ticks and lots.
    pub fn to_touch(&self, price_scale: Scale, qty_scale: Scale) -> Result<Touch, DecodeError> {
        Ok((
            (
                Price::from_ticks(scaled(price_scale, self.bid_price, "b")?),
                Qty::from_lots(scaled(qty_scale, self.bid_qty, "B")?),
            ),
            (
                Price::from_ticks(scaled(price_scale, self.ask_price, "a")?),
                Qty::from_lots(scaled(qty_scale, self.ask_qty, "A")?),
            ),
        ))
    }
}

/// Drives arbitrary bytes through everything a message touches: decode, level iteration and grid
/// conversion, and a spot and a futures [`crate::feed::BookSync`]. Must never panic. Shared by the
/// fuzz target (`native/fuzz/fuzz_targets/binance.rs`) and the seed replay test (`cargo test`).
#[doc(hidden)]
pub fn exercise(data: &[u8]) {
    use crate::book::L2Book;
    use crate::feed::{BookSync, SequenceRule};
    let Ok(env) = decode(data) else { return };
    let (ps, qs) = (Scale::ONE, Scale::ONE);
    let fine = Scale::new(1, 8).unwrap_or(Scale::ONE);
    let mut syncs = [
        BookSync::new(SequenceRule::Spot, fine, fine, L2Book::new(64, 4)),
        BookSync::new(SequenceRule::Futures, ps, qs, L2Book::new(64, 4)),
    ];
    let touch = |levels: Levels<'_>| {
        let _ = levels.for_each_scaled::<DecodeError>(fine, fine, |_, _| Ok(()));
        levels.iter().count()
    };
    match env.message {
        Message::DepthUpdate(d) => {
            touch(d.bids);
            touch(d.asks);
            for s in &mut syncs {
                s.on_depth_update(data, &d);
                // A snapshot made of the diff's own levels, then the diff again.
                let snap = DepthSnapshot {
                    symbol: None,
                    last_update_id: d.first_update_id,
                    bids: d.bids,
                    asks: d.asks,
                };
                s.on_snapshot(&snap);
                s.on_depth_update(data, &d);
                let _ = s.book().check_crossed();
            }
        }
        Message::DepthSnapshot(snap) | Message::PartialDepth(snap) => {
            touch(snap.bids);
            touch(snap.asks);
            for s in &mut syncs {
                s.on_snapshot(&snap);
            }
        }
        Message::Trade(t) => {
            let _ = t.to_trade(InstrumentId(0), fine, fine, UnixNanos(0));
        }
        Message::AggTrade(t) => {
            let _ = t.to_trade(InstrumentId(0), fine, fine, UnixNanos(0));
        }
        Message::BookTicker(bt) => {
            let _ = bt.to_touch(fine, fine);
        }
        Message::Other { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPOT_DIFF: &[u8] = br#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161256299,"s":"BTCUSDT","U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"],["0.0027","0.00000000"]]}}"#;

    #[test]
    fn decodes_spot_diff_in_envelope() {
        let env = decode(SPOT_DIFF).unwrap();
        assert_eq!(env.stream, Some(&b"btcusdt@depth@100ms"[..]));
        let Message::DepthUpdate(d) = env.message else {
            panic!("{env:?}")
        };
        assert_eq!(
            (d.first_update_id, d.final_update_id, d.prev_final_update_id),
            (157, 160, None)
        );
        assert_eq!(d.symbol, b"BTCUSDT");
        let asks: Vec<_> = d.asks.iter().map(Result::unwrap).collect();
        assert_eq!(
            asks,
            vec![
                (&b"0.0026"[..], &b"100"[..]),
                (&b"0.0027"[..], &b"0.00000000"[..])
            ]
        );
        let ps = Scale::parse("0.0001").unwrap();
        let mut got = Vec::new();
        d.asks
            .for_each_scaled::<DecodeError>(ps, Scale::ONE, |p, q| {
                got.push((p.ticks(), q.lots()));
                Ok(())
            })
            .unwrap();
        assert_eq!(got, vec![(26, 100), (27, 0)]);
        // Blanks, bare numbers and escapes take the general path and give the same pairs.
        let loose = Levels(br#"[ [ "0.0026" , 100 ], ["0.0027","0.0\0"] ]"#);
        let pairs: Vec<_> = loose.iter().collect();
        assert_eq!(pairs[0], Ok((&b"0.0026"[..], &b"100"[..])));
        assert_eq!(pairs[1], Ok((&b"0.0027"[..], &br"0.0\0"[..])));
    }

    #[test]
    fn decodes_futures_diff_snapshot_trades_and_tickers() {
        let d = decode(
            br#"{"e":"depthUpdate","E":1,"T":2,"s":"BTCUSDT","U":10,"u":20,"pu":9,"b":[],"a":[]}"#,
        )
        .unwrap();
        assert!(matches!(
            d.message,
            Message::DepthUpdate(DepthUpdate {
                prev_final_update_id: Some(9),
                ..
            })
        ));
        let s = decode(br#"{"lastUpdateId":1027024,"E":1,"T":2,"bids":[["4.00000000","431.00000000"]],"asks":[]}"#).unwrap();
        assert!(matches!(
            s.message,
            Message::DepthSnapshot(DepthSnapshot {
                last_update_id: 1027024,
                symbol: None,
                ..
            })
        ));
        let p = decode(
            br#"{"stream":"btcusdt@depth5@100ms","data":{"lastUpdateId":160,"bids":[],"asks":[]}}"#,
        )
        .unwrap();
        assert!(matches!(p.message, Message::PartialDepth(_)));
        let t = decode(br#"{"e":"trade","E":1,"T":2,"s":"BTCUSDT","t":5,"p":"61800.30","q":"0.006","X":"MARKET","m":false}"#).unwrap();
        let Message::Trade(t) = t.message else {
            panic!()
        };
        let tr = t
            .to_trade(
                InstrumentId(1),
                Scale::parse("0.1").unwrap(),
                Scale::parse("0.001").unwrap(),
                UnixNanos(0),
            )
            .unwrap();
        assert_eq!(
            (tr.price.ticks(), tr.qty.lots(), tr.aggressor),
            (618_003, 6, Some(Side::Buy))
        );
        let a = decode(br#"{"e":"aggTrade","E":1,"s":"X","a":7,"p":"1.5","q":"2","f":1,"l":3,"T":4,"m":true,"M":true}"#).unwrap();
        assert!(matches!(
            a.message,
            Message::AggTrade(AggTradeMsg {
                agg_id: 7,
                last_trade_id: 3,
                buyer_is_maker: true,
                ..
            })
        ));
        let spot_bt = decode(br#"{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#).unwrap();
        assert!(matches!(
            spot_bt.message,
            Message::BookTicker(BookTickerMsg {
                update_id: 400900217,
                event_time_ms: None,
                ..
            })
        ));
        let fut_bt = decode(br#"{"e":"bookTicker","u":5,"s":"BTCUSDT","b":"1.0","B":"2","a":"1.1","A":"3","T":1,"E":2}"#).unwrap();
        assert!(matches!(
            fut_bt.message,
            Message::BookTicker(BookTickerMsg {
                event_time_ms: Some(2),
                ..
            })
        ));
        let k = decode(br#"{"stream":"x@kline_1m","data":{"e":"kline","k":{"t":1}}}"#).unwrap();
        assert_eq!(
            k.message,
            Message::Other {
                event: Some(&b"kline"[..])
            }
        );
    }

    #[test]
    fn refuses_incomplete_messages() {
        assert!(matches!(
            decode(br#"{"e":"depthUpdate","E":1,"s":"X","U":1,"b":[],"a":[]}"#),
            Err(DecodeError::MissingField { field: "u", .. })
        ));
        assert!(matches!(
            decode(br#"{"e":"depthUpdate","E":1,"s":"X","U":1,"u":"2","b":[],"a":[]}"#),
            Err(DecodeError::WrongType { field: "u", .. })
        ));
        assert!(decode(br#"{"e":"trade"} trailing"#).is_err());
        let bad_level =
            decode(br#"{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[["1"]],"a":[]}"#).unwrap();
        let Message::DepthUpdate(d) = bad_level.message else {
            panic!()
        };
        assert!(d.bids.iter().next().unwrap().is_err());
    }
}
