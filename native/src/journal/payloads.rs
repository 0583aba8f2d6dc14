//! Typed payloads (version 1) of the order-flow and control record kinds: [`OrderAckV1`],
//! [`FillV1`], [`RejectV1`], [`ParamPushV1`], [`OperatorCommandV1`], [`TimerTickV1`].
//!
//! On the wire these kinds are still [`Payload::Opaque`](super::Payload::Opaque) to the reader (the
//! frame, crc and chain do not depend on the layout); this module is the one place that gives the
//! bytes a meaning, so the engine, the ledger state ([`super::state`]) and the tools share it. Each
//! type has `to_record` (build the [`JournalRecord`] the hot thread pushes: no allocation) and
//! `decode` (refuse a wrong length, a non-zero pad byte or an out-of-range enum value, naming the
//! field). All integers little-endian; layouts are in `docs/architecture/journal.md`.

use super::record::{JournalRecord, RecordKind, MAX_PAYLOAD_LEN};
use crate::model::{
    Asset, ClientOrderId, Decimal, InstrumentId, Liquidity, OrderStatus, OrderType, Price, Qty,
    Side, UnixNanos, VenueOrderId,
};

/// A payload of an order-flow or control kind that does not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TypedPayloadError {
    /// The record is of another kind than the decoder's.
    #[error("expected a {want:?} record, found {found:?}")]
    Kind {
        /// The decoder's kind.
        want: RecordKind,
        /// The record's kind.
        found: RecordKind,
    },
    /// The payload's length is not the layout's.
    #[error("{kind:?} payload must be {want} bytes, found {found}")]
    Length {
        /// The kind.
        kind: RecordKind,
        /// Expected length.
        want: usize,
        /// Found length.
        found: usize,
    },
    /// A field holds a value its type does not have.
    #[error("{kind:?} payload: invalid {field} = {value}")]
    Field {
        /// The kind.
        kind: RecordKind,
        /// The field.
        field: &'static str,
        /// The value found.
        value: u64,
    },
    /// This build reads version 1 only.
    #[error("{kind:?} payload version {version} is not supported")]
    Version {
        /// The kind.
        kind: RecordKind,
        /// The version found.
        version: u8,
    },
}

/// What an [`OperatorCommandV1`] asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum OperatorAction {
    /// Latch the kill: block entry, cancel everything, pull quotes.
    Kill = 1,
    /// Lift the kill latch (after the two-person approval, checked before the command is journalled).
    Lift = 2,
    /// Stop quoting without cancelling (risk stays armed).
    Pause = 3,
    /// Resume quoting after a pause.
    Resume = 4,
    /// Orderly stop: block entry, cancel everything, exit when nothing is open (the engine's
    /// `stop()`).
    Stop = 5,
}

impl OperatorAction {
    /// The name used by the tools (`kill`, `lift`, `pause`, `resume`).
    pub const fn name(self) -> &'static str {
        match self {
            OperatorAction::Kill => "kill",
            OperatorAction::Lift => "lift",
            OperatorAction::Pause => "pause",
            OperatorAction::Resume => "resume",
            OperatorAction::Stop => "stop",
        }
    }

    /// The action named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Kill,
            Self::Lift,
            Self::Pause,
            Self::Resume,
            Self::Stop,
        ]
        .into_iter()
        .find(|a| a.name() == name)
    }
}

/// The venue acknowledged one of our orders (new, cancelled, replaced, expired), or answered a
/// status query about it: 56 bytes.
///
/// `instrument u32, side u8, order_type u8, status u8, origin u8, client_order_id u64,
/// venue_order_id u64 (0 = none), price i64, qty i64, cum_qty i64, aux i64`.
///
/// `origin` says which venue message this is ([`ack_origin`]; 0 for a writer that does not say) and
/// `aux` carries what that message adds (the cumulative quote amount of a status answer, 1e-8 units).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderAckV1 {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Buy or sell.
    pub side: Side,
    /// The order's type.
    pub order_type: OrderType,
    /// The order's state after this ack.
    pub status: OrderStatus,
    /// Our id.
    pub client_order_id: ClientOrderId,
    /// The venue's id, once assigned.
    pub venue_order_id: Option<VenueOrderId>,
    /// Limit price in ticks.
    pub price: Price,
    /// Original quantity in lots.
    pub qty: Qty,
    /// Filled so far.
    pub cum_qty: Qty,
    /// Which venue message ([`ack_origin`]).
    pub origin: u8,
    /// Origin-specific value (status answers: cumulative quote amount, 1e-8 units; else 0).
    pub aux: i64,
}

/// Origins of an [`OrderAckV1`] (what the engine's session core was told).
pub mod ack_origin {
    /// Not said (tools, other writers).
    pub const VENUE: u8 = 0;
    /// The answer to `order.place` (or the new leg of a cancel-replace): accepted.
    pub const PLACED: u8 = 1;
    /// The answer to `order.cancel`: cancelled.
    pub const CANCELLED: u8 = 2;
    /// An `order.status` answer: the venue knows the order (`status`, `cum_qty`, `aux` = cumulative
    /// quote amount).
    pub const STATUS: u8 = 3;
    /// An `order.status` answer: the venue has no such order (-2013).
    pub const STATUS_NOT_FOUND: u8 = 4;
    /// A user-stream execution report without a fill: `EXEC + x` where `x` is the report's type
    /// code (0 NEW, 2 CANCELED, 3 REJECTED, 4 EXPIRED, 5 other).
    pub const EXEC: u8 = 16;
}

/// Origins of a [`RejectV1`].
pub mod reject_origin {
    /// Not said: the venue refused a new order.
    pub const VENUE: u8 = 0;
    /// The venue refused or could not answer a new order (`order.place`); a `-1006`/`-1007` code or
    /// an HTTP status ≥ 500 means the outcome is UNKNOWN, not refused.
    pub const ORDER: u8 = 1;
    /// A cancel was refused (the order's state is unchanged by this record).
    pub const CANCEL: u8 = 2;
    /// An `order.status` query failed (the order's state is unchanged by this record).
    pub const STATUS: u8 = 3;
}

/// One of our orders was (partly) filled: 96 bytes.
///
/// `instrument u32, side u8, liquidity u8, status u8, fee_exp u8, client_order_id u64,
/// venue_order_id u64 (0 = none), trade_id u64, last_price i64, last_qty i64, cum_qty i64,
/// fee_raw i64, fee_asset [u8; 15] (ASCII, zero-padded), origin u8, last_quote i64,
/// fee_class u8, pad 7`.
///
/// `origin`: 0 when not said, `ack_origin::EXEC + x` for a user-stream execution report of type
/// `x`; `last_quote`: the fill's quote amount (1e-8 units, 0 when not known); `fee_class`: 0 none, 1
/// the base asset, 2 the quote asset, 3 another asset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FillV1 {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Our side.
    pub side: Side,
    /// Maker or taker.
    pub liquidity: Liquidity,
    /// The order's state after this fill (`PartiallyFilled` or `Filled`).
    pub status: OrderStatus,
    /// Our id.
    pub client_order_id: ClientOrderId,
    /// The venue's id.
    pub venue_order_id: Option<VenueOrderId>,
    /// The venue's trade id.
    pub trade_id: u64,
    /// Fill price in ticks.
    pub last_price: Price,
    /// Fill quantity in lots (> 0).
    pub last_qty: Qty,
    /// The order's filled quantity after this fill.
    pub cum_qty: Qty,
    /// Fee charged for this fill, exact.
    pub fee: Decimal,
    /// The fee's asset.
    pub fee_asset: Asset,
    /// Which venue message (see the layout).
    pub origin: u8,
    /// The fill's quote amount (1e-8 units).
    pub last_quote: i64,
    /// The fee asset's class (see the layout).
    pub fee_class: u8,
}

/// The venue rejected one of our requests: 40 bytes.
///
/// `instrument u32, side u8, origin u8, http_status u16, client_order_id u64, reject_code i32,
/// pad 4, price i64, qty i64` (`origin`: [`reject_origin`]; `http_status` 0 when not known).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RejectV1 {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Buy or sell.
    pub side: Side,
    /// Our id of the refused request.
    pub client_order_id: ClientOrderId,
    /// The venue's error code (e.g. -2010).
    pub reject_code: i32,
    /// The refused price in ticks.
    pub price: Price,
    /// The refused quantity in lots.
    pub qty: Qty,
    /// Which request was refused ([`reject_origin`]).
    pub origin: u8,
    /// The answer's HTTP-like status (0: not known).
    pub http_status: u16,
}

/// Python pushed a parameter block: `16 + 8 n` bytes, n ≤ [`ParamPushV1::MAX_WORDS`].
///
/// `block_version u64, n u8, first u8, pad 6, words [u64; n]` — words `first..first + n` of the
/// block exactly as the seqlocked parameter block (`engine::params`) stores them, so replay sees what
/// the hot thread saw. A block longer than [`ParamPushV1::MAX_WORDS`] words takes consecutive records
/// with the same `block_version` (`first` 0, then 10, …); a reader applies the block once the record
/// holding its last word arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamPushV1 {
    /// The block's version after the push.
    pub block_version: u64,
    /// Words used.
    pub len: u8,
    /// Index in the block of `words[0]`.
    pub first: u8,
    /// The words (`words[..len]`).
    pub words: [u64; ParamPushV1::MAX_WORDS],
}

impl ParamPushV1 {
    /// Most words one record carries.
    pub const MAX_WORDS: usize = (MAX_PAYLOAD_LEN - 16) / 8;

    /// A push of `words` (`None` if there are more than [`Self::MAX_WORDS`]).
    pub fn new(block_version: u64, words: &[u64]) -> Option<Self> {
        if words.len() > Self::MAX_WORDS {
            return None;
        }
        let mut w = [0; Self::MAX_WORDS];
        w[..words.len()].copy_from_slice(words);
        Some(Self {
            block_version,
            // Fits: at most MAX_WORDS (10).
            len: words.len() as u8,
            first: 0,
            words: w,
        })
    }

    /// Words `first..first + words.len()` of a longer block (`None` if too many).
    pub fn part(block_version: u64, first: u8, words: &[u64]) -> Option<Self> {
        let mut p = Self::new(block_version, words)?;
        p.first = first;
        Some(p)
    }

    /// The words used.
    pub fn words(&self) -> &[u64] {
        &self.words[..usize::from(self.len)]
    }
}

/// An operator command: `16 + text_len` bytes, text ≤ [`OperatorCommandV1::MAX_TEXT`] bytes UTF-8.
///
/// `action u8, text_len u8, pad 6, latch_id u64, text [u8; text_len]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OperatorCommandV1 {
    /// What to do.
    pub action: OperatorAction,
    /// The latch this command opens or lifts (0 for pause/resume).
    pub latch_id: u64,
    /// Text length.
    pub text_len: u8,
    /// The reason or operator note (`text[..text_len]`, UTF-8).
    pub text: [u8; OperatorCommandV1::MAX_TEXT],
}

impl OperatorCommandV1 {
    /// Longest reason text one record carries.
    pub const MAX_TEXT: usize = MAX_PAYLOAD_LEN - 16;

    /// A command; the text is cut at a char boundary to fit [`Self::MAX_TEXT`] bytes.
    pub fn new(action: OperatorAction, latch_id: u64, text: &str) -> Self {
        let mut end = text.len().min(Self::MAX_TEXT);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let mut buf = [0; Self::MAX_TEXT];
        buf[..end].copy_from_slice(&text.as_bytes()[..end]);
        Self {
            action,
            latch_id,
            // Fits: at most MAX_TEXT (80).
            text_len: end as u8,
            text: buf,
        }
    }

    /// The text.
    pub fn text(&self) -> &str {
        // Checked UTF-8 at construction and decode.
        std::str::from_utf8(&self.text[..usize::from(self.text_len)]).unwrap_or("")
    }
}

/// A timer fired (the time is the header's `ts_recv`): 8 bytes, `timer_id u32, pad 4`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerTickV1 {
    /// Which timer.
    pub timer_id: u32,
}

/// Little-endian writer into a fixed buffer.
struct W {
    buf: [u8; MAX_PAYLOAD_LEN],
    at: usize,
}

impl W {
    fn new() -> Self {
        Self {
            buf: [0; MAX_PAYLOAD_LEN],
            at: 0,
        }
    }
    fn b(&mut self, b: &[u8]) -> &mut Self {
        self.buf[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
        self
    }
    fn u8(&mut self, v: u8) -> &mut Self {
        self.b(&[v])
    }
    fn pad(&mut self, n: usize) -> &mut Self {
        self.at += n;
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.b(&v.to_le_bytes())
    }
    fn i32(&mut self, v: i32) -> &mut Self {
        self.b(&v.to_le_bytes())
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.b(&v.to_le_bytes())
    }
    fn i64(&mut self, v: i64) -> &mut Self {
        self.b(&v.to_le_bytes())
    }
    fn record(&self, kind: RecordKind, ts_recv: UnixNanos, ts_event: UnixNanos) -> JournalRecord {
        match JournalRecord::new(kind, ts_recv, ts_event, &self.buf[..self.at]) {
            Ok(rec) => rec,
            // The kinds built here are opaque and every layout is at most MAX_PAYLOAD_LEN bytes.
            Err(e) => unreachable!("{e}"),
        }
    }
}

/// Little-endian reader over a payload of checked length.
struct R<'a> {
    p: &'a [u8],
    at: usize,
    kind: RecordKind,
}

impl<'a> R<'a> {
    fn open(
        rec: &'a JournalRecord,
        kind: RecordKind,
        len: usize,
    ) -> Result<Self, TypedPayloadError> {
        Self::open_min(rec, kind, len).and_then(|r| {
            if r.p.len() == len {
                Ok(r)
            } else {
                Err(TypedPayloadError::Length {
                    kind,
                    want: len,
                    found: r.p.len(),
                })
            }
        })
    }
    fn open_min(
        rec: &'a JournalRecord,
        kind: RecordKind,
        min: usize,
    ) -> Result<Self, TypedPayloadError> {
        if rec.kind != kind {
            return Err(TypedPayloadError::Kind {
                want: kind,
                found: rec.kind,
            });
        }
        if rec.version != 1 {
            return Err(TypedPayloadError::Version {
                kind,
                version: rec.version,
            });
        }
        let p = rec.payload();
        if p.len() < min {
            return Err(TypedPayloadError::Length {
                kind,
                want: min,
                found: p.len(),
            });
        }
        Ok(Self { p, at: 0, kind })
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        let s = &self.p[self.at..self.at + n];
        self.at += n;
        s
    }
    fn arr<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N));
        a
    }
    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.arr())
    }
    fn i32(&mut self) -> i32 {
        i32::from_le_bytes(self.arr())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.arr())
    }
    fn i64(&mut self) -> i64 {
        i64::from_le_bytes(self.arr())
    }
    fn bad(&self, field: &'static str, value: u64) -> TypedPayloadError {
        TypedPayloadError::Field {
            kind: self.kind,
            field,
            value,
        }
    }
    fn pad(&mut self, n: usize) -> Result<(), TypedPayloadError> {
        match self.take(n).iter().find(|&&b| b != 0) {
            Some(&b) => Err(self.bad("padding", u64::from(b))),
            None => Ok(()),
        }
    }
    fn side(&mut self) -> Result<Side, TypedPayloadError> {
        match self.u8() {
            0 => Ok(Side::Buy),
            1 => Ok(Side::Sell),
            v => Err(self.bad("side", u64::from(v))),
        }
    }
    fn status(&mut self) -> Result<OrderStatus, TypedPayloadError> {
        let v = self.u8();
        status_from_u8(v).ok_or_else(|| self.bad("status", u64::from(v)))
    }
    fn venue_id(&mut self) -> Option<VenueOrderId> {
        match self.u64() {
            0 => None,
            v => Some(VenueOrderId(v)),
        }
    }
    fn qty(&mut self, field: &'static str) -> Result<Qty, TypedPayloadError> {
        let v = self.i64();
        if v < 0 {
            return Err(self.bad(field, v as u64));
        }
        Ok(Qty::from_lots(v))
    }
}

fn side_u8(s: Side) -> u8 {
    match s {
        Side::Buy => 0,
        Side::Sell => 1,
    }
}

/// The [`OrderStatus`] with wire code `v` (its `repr(u8)` value).
pub fn status_from_u8(v: u8) -> Option<OrderStatus> {
    Some(match v {
        0 => OrderStatus::New,
        1 => OrderStatus::PartiallyFilled,
        2 => OrderStatus::Filled,
        3 => OrderStatus::Canceled,
        4 => OrderStatus::Rejected,
        5 => OrderStatus::Expired,
        6 => OrderStatus::ExpiredInMatch,
        7 => OrderStatus::Unknown,
        _ => return None,
    })
}

impl OrderAckV1 {
    /// Encoded length.
    pub const LEN: usize = 56;

    /// The record (seq 0: the handle stamps it).
    pub fn to_record(&self, ts_recv: UnixNanos, ts_event: UnixNanos) -> JournalRecord {
        W::new()
            .u32(self.instrument.0)
            .u8(side_u8(self.side))
            .u8(self.order_type as u8)
            .u8(self.status as u8)
            .u8(self.origin)
            .u64(self.client_order_id.0)
            .u64(self.venue_order_id.map_or(0, |v| v.0))
            .i64(self.price.ticks())
            .i64(self.qty.lots())
            .i64(self.cum_qty.lots())
            .i64(self.aux)
            .record(RecordKind::OrderAck, ts_recv, ts_event)
    }

    /// Decodes an [`RecordKind::OrderAck`] record.
    pub fn decode(rec: &JournalRecord) -> Result<Self, TypedPayloadError> {
        let mut r = R::open(rec, RecordKind::OrderAck, Self::LEN)?;
        let instrument = InstrumentId(r.u32());
        let side = r.side()?;
        let t = r.u8();
        let order_type = OrderType::ALL
            .get(usize::from(t))
            .copied()
            .ok_or_else(|| r.bad("order_type", u64::from(t)))?;
        let status = r.status()?;
        let origin = r.u8();
        Ok(Self {
            instrument,
            side,
            order_type,
            status,
            client_order_id: ClientOrderId(r.u64()),
            venue_order_id: r.venue_id(),
            price: Price::from_ticks(r.i64()),
            qty: r.qty("qty")?,
            cum_qty: r.qty("cum_qty")?,
            origin,
            aux: r.i64(),
        })
    }
}

impl FillV1 {
    /// Encoded length.
    pub const LEN: usize = 96;

    /// The record (seq 0: the handle stamps it).
    pub fn to_record(&self, ts_recv: UnixNanos, ts_event: UnixNanos) -> JournalRecord {
        let mut asset = [0u8; Asset::MAX_LEN];
        let a = self.fee_asset.as_str().as_bytes();
        asset[..a.len()].copy_from_slice(a);
        W::new()
            .u32(self.instrument.0)
            .u8(side_u8(self.side))
            .u8(self.liquidity as u8)
            .u8(self.status as u8)
            .u8(self.fee.exp())
            .u64(self.client_order_id.0)
            .u64(self.venue_order_id.map_or(0, |v| v.0))
            .u64(self.trade_id)
            .i64(self.last_price.ticks())
            .i64(self.last_qty.lots())
            .i64(self.cum_qty.lots())
            .i64(self.fee.raw())
            .b(&asset)
            .u8(self.origin)
            .i64(self.last_quote)
            .u8(self.fee_class)
            .pad(7)
            .record(RecordKind::Fill, ts_recv, ts_event)
    }

    /// Decodes a [`RecordKind::Fill`] record.
    pub fn decode(rec: &JournalRecord) -> Result<Self, TypedPayloadError> {
        let mut r = R::open(rec, RecordKind::Fill, Self::LEN)?;
        let instrument = InstrumentId(r.u32());
        let side = r.side()?;
        let liquidity = match r.u8() {
            0 => Liquidity::None,
            1 => Liquidity::Maker,
            2 => Liquidity::Taker,
            v => return Err(r.bad("liquidity", u64::from(v))),
        };
        let status = r.status()?;
        let fee_exp = r.u8();
        let client_order_id = ClientOrderId(r.u64());
        let venue_order_id = r.venue_id();
        let trade_id = r.u64();
        let last_price = Price::from_ticks(r.i64());
        let last_qty = r.qty("last_qty")?;
        if last_qty.is_zero() {
            return Err(r.bad("last_qty", 0));
        }
        let cum_qty = r.qty("cum_qty")?;
        let fee_raw = r.i64();
        let fee =
            Decimal::new(fee_raw, fee_exp).map_err(|_| r.bad("fee_exp", u64::from(fee_exp)))?;
        let asset_bytes: [u8; Asset::MAX_LEN] = r.arr();
        let used = asset_bytes
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(Asset::MAX_LEN);
        if asset_bytes[used..].iter().any(|&b| b != 0) {
            return Err(r.bad("fee_asset", used as u64));
        }
        let fee_asset = if used == 0 {
            Asset::NONE
        } else {
            std::str::from_utf8(&asset_bytes[..used])
                .ok()
                .and_then(Asset::new)
                .ok_or_else(|| r.bad("fee_asset", used as u64))?
        };
        let origin = r.u8();
        let last_quote = r.i64();
        let fee_class = r.u8();
        if fee_class > 3 {
            return Err(r.bad("fee_class", u64::from(fee_class)));
        }
        r.pad(7)?;
        Ok(Self {
            origin,
            last_quote,
            fee_class,
            instrument,
            side,
            liquidity,
            status,
            client_order_id,
            venue_order_id,
            trade_id,
            last_price,
            last_qty,
            cum_qty,
            fee,
            fee_asset,
        })
    }
}

impl RejectV1 {
    /// Encoded length.
    pub const LEN: usize = 40;

    /// The record (seq 0: the handle stamps it).
    pub fn to_record(&self, ts_recv: UnixNanos, ts_event: UnixNanos) -> JournalRecord {
        W::new()
            .u32(self.instrument.0)
            .u8(side_u8(self.side))
            .u8(self.origin)
            .b(&self.http_status.to_le_bytes())
            .u64(self.client_order_id.0)
            .i32(self.reject_code)
            .pad(4)
            .i64(self.price.ticks())
            .i64(self.qty.lots())
            .record(RecordKind::Reject, ts_recv, ts_event)
    }

    /// Decodes a [`RecordKind::Reject`] record.
    pub fn decode(rec: &JournalRecord) -> Result<Self, TypedPayloadError> {
        let mut r = R::open(rec, RecordKind::Reject, Self::LEN)?;
        let instrument = InstrumentId(r.u32());
        let side = r.side()?;
        let origin = r.u8();
        let http_status = u16::from_le_bytes(r.arr());
        let client_order_id = ClientOrderId(r.u64());
        let reject_code = r.i32();
        r.pad(4)?;
        Ok(Self {
            origin,
            http_status,
            instrument,
            side,
            client_order_id,
            reject_code,
            price: Price::from_ticks(r.i64()),
            qty: r.qty("qty")?,
        })
    }
}

impl ParamPushV1 {
    /// The record (seq 0: the handle stamps it).
    pub fn to_record(&self, ts_recv: UnixNanos) -> JournalRecord {
        let mut w = W::new();
        w.u64(self.block_version).u8(self.len).u8(self.first).pad(6);
        for &word in self.words() {
            w.u64(word);
        }
        w.record(RecordKind::ParamPush, ts_recv, ts_recv)
    }

    /// Decodes a [`RecordKind::ParamPush`] record.
    pub fn decode(rec: &JournalRecord) -> Result<Self, TypedPayloadError> {
        let mut r = R::open_min(rec, RecordKind::ParamPush, 16)?;
        let block_version = r.u64();
        let n = r.u8();
        let first = r.u8();
        r.pad(6)?;
        let want = 16 + 8 * usize::from(n);
        if usize::from(n) > Self::MAX_WORDS || r.p.len() != want {
            return Err(TypedPayloadError::Length {
                kind: RecordKind::ParamPush,
                want: want.min(MAX_PAYLOAD_LEN),
                found: r.p.len(),
            });
        }
        let mut words = [0; Self::MAX_WORDS];
        for w in words.iter_mut().take(usize::from(n)) {
            *w = r.u64();
        }
        Ok(Self {
            block_version,
            len: n,
            first,
            words,
        })
    }
}

impl OperatorCommandV1 {
    /// The record (seq 0: the handle stamps it).
    pub fn to_record(&self, ts_recv: UnixNanos) -> JournalRecord {
        W::new()
            .u8(self.action as u8)
            .u8(self.text_len)
            .pad(6)
            .u64(self.latch_id)
            .b(&self.text[..usize::from(self.text_len)])
            .record(RecordKind::OperatorCommand, ts_recv, ts_recv)
    }

    /// Decodes a [`RecordKind::OperatorCommand`] record.
    pub fn decode(rec: &JournalRecord) -> Result<Self, TypedPayloadError> {
        let mut r = R::open_min(rec, RecordKind::OperatorCommand, 16)?;
        let a = r.u8();
        let action = match a {
            1 => OperatorAction::Kill,
            2 => OperatorAction::Lift,
            3 => OperatorAction::Pause,
            4 => OperatorAction::Resume,
            5 => OperatorAction::Stop,
            v => return Err(r.bad("action", u64::from(v))),
        };
        let text_len = r.u8();
        r.pad(6)?;
        let latch_id = r.u64();
        let n = usize::from(text_len);
        if n > Self::MAX_TEXT || r.p.len() != 16 + n {
            return Err(TypedPayloadError::Length {
                kind: RecordKind::OperatorCommand,
                want: (16 + n).min(MAX_PAYLOAD_LEN),
                found: r.p.len(),
            });
        }
        let bytes = r.take(n);
        if std::str::from_utf8(bytes).is_err() {
            return Err(r.bad("text", n as u64));
        }
        let mut text = [0; Self::MAX_TEXT];
        text[..n].copy_from_slice(bytes);
        Ok(Self {
            action,
            latch_id,
            text_len,
            text,
        })
    }
}

impl TimerTickV1 {
    /// Encoded length.
    pub const LEN: usize = 8;

    /// The record (seq 0: the handle stamps it).
    pub fn to_record(&self, ts_recv: UnixNanos) -> JournalRecord {
        W::new()
            .u32(self.timer_id)
            .pad(4)
            .record(RecordKind::TimerTick, ts_recv, ts_recv)
    }

    /// Decodes a [`RecordKind::TimerTick`] record.
    pub fn decode(rec: &JournalRecord) -> Result<Self, TypedPayloadError> {
        let mut r = R::open(rec, RecordKind::TimerTick, Self::LEN)?;
        let timer_id = r.u32();
        r.pad(4)?;
        Ok(Self { timer_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(n: u64) -> UnixNanos {
        UnixNanos(n)
    }

    #[test]
    fn every_payload_round_trips() {
        let ack = OrderAckV1 {
            instrument: InstrumentId(3),
            side: Side::Sell,
            order_type: OrderType::LimitMaker,
            status: OrderStatus::New,
            client_order_id: ClientOrderId(77),
            venue_order_id: Some(VenueOrderId(9)),
            price: Price::from_ticks(-4),
            qty: Qty::from_lots(10),
            cum_qty: Qty::from_lots(0),
            origin: ack_origin::STATUS,
            aux: -5,
        };
        let rec = ack.to_record(ts(1), ts(2));
        assert_eq!(rec.payload().len(), OrderAckV1::LEN);
        assert_eq!(OrderAckV1::decode(&rec), Ok(ack));
        let fill = FillV1 {
            instrument: InstrumentId(3),
            side: Side::Buy,
            liquidity: Liquidity::Maker,
            status: OrderStatus::PartiallyFilled,
            client_order_id: ClientOrderId(77),
            venue_order_id: None,
            trade_id: 5,
            last_price: Price::from_ticks(100),
            last_qty: Qty::from_lots(3),
            cum_qty: Qty::from_lots(3),
            fee: Decimal::new(-12, 8).unwrap(),
            fee_asset: Asset::new("USDT").unwrap(),
            origin: ack_origin::EXEC + 1,
            last_quote: 300,
            fee_class: 2,
        };
        let rec = fill.to_record(ts(1), ts(2));
        assert_eq!(rec.payload().len(), FillV1::LEN);
        assert_eq!(FillV1::decode(&rec), Ok(fill));
        let rej = RejectV1 {
            instrument: InstrumentId(1),
            side: Side::Buy,
            client_order_id: ClientOrderId(8),
            reject_code: -2010,
            price: Price::from_ticks(5),
            qty: Qty::from_lots(1),
            origin: reject_origin::ORDER,
            http_status: 400,
        };
        assert_eq!(RejectV1::decode(&rej.to_record(ts(1), ts(1))), Ok(rej));
        for n in [0, 1, ParamPushV1::MAX_WORDS] {
            let words: Vec<u64> = (0..n as u64).map(|i| i * 31 + 1).collect();
            let p = ParamPushV1::new(42, &words).unwrap();
            let rec = p.to_record(ts(5));
            assert_eq!(rec.payload().len(), 16 + 8 * n);
            assert_eq!(ParamPushV1::decode(&rec).unwrap().words(), &words[..]);
        }
        assert!(ParamPushV1::new(1, &[0; ParamPushV1::MAX_WORDS + 1]).is_none());
        let cmd = OperatorCommandV1::new(OperatorAction::Kill, 3, "fat finger ü");
        let back = OperatorCommandV1::decode(&cmd.to_record(ts(9))).unwrap();
        assert_eq!(
            (back.action, back.latch_id, back.text()),
            (OperatorAction::Kill, 3, "fat finger ü")
        );
        let long = "é".repeat(60); // 120 bytes: cut at a char boundary
        assert_eq!(
            OperatorCommandV1::new(OperatorAction::Lift, 1, &long)
                .text()
                .len(),
            80
        );
        let t = TimerTickV1 { timer_id: 4 };
        assert_eq!(TimerTickV1::decode(&t.to_record(ts(3))), Ok(t));
    }

    /// `rec` with payload byte `i` set to `v`.
    fn poke(rec: &JournalRecord, i: usize, v: u8) -> JournalRecord {
        let mut p = rec.payload().to_vec();
        p[i] = v;
        JournalRecord::new(rec.kind, rec.ts_recv, rec.ts_event, &p).unwrap()
    }

    #[test]
    fn bad_payloads_name_the_field() {
        let rec = poke(&TimerTickV1 { timer_id: 4 }.to_record(ts(3)), 5, 1);
        assert!(matches!(
            TimerTickV1::decode(&rec),
            Err(TypedPayloadError::Field {
                field: "padding",
                ..
            })
        ));
        let rec = JournalRecord::new(RecordKind::Fill, ts(0), ts(0), &[0; 12]).unwrap();
        assert!(matches!(
            FillV1::decode(&rec),
            Err(TypedPayloadError::Length { .. })
        ));
        assert!(matches!(
            OrderAckV1::decode(&rec),
            Err(TypedPayloadError::Kind { .. })
        ));
        let rec = RejectV1 {
            instrument: InstrumentId(1),
            side: Side::Buy,
            client_order_id: ClientOrderId(8),
            reject_code: 1,
            price: Price::from_ticks(5),
            qty: Qty::from_lots(1),
            origin: 0,
            http_status: 0,
        }
        .to_record(ts(1), ts(1));
        let rec = poke(&rec, 4, 7);
        assert!(matches!(
            RejectV1::decode(&rec),
            Err(TypedPayloadError::Field { field: "side", .. })
        ));
        let rec = ParamPushV1::new(1, &[1, 2]).unwrap().to_record(ts(1));
        let rec = poke(&rec, 8, 3); // claims 3 words, carries 2
        assert!(matches!(
            ParamPushV1::decode(&rec),
            Err(TypedPayloadError::Length { .. })
        ));
        let rec = OperatorCommandV1::new(OperatorAction::Kill, 1, "x").to_record(ts(1));
        let rec = poke(&rec, 0, 9);
        assert!(matches!(
            OperatorCommandV1::decode(&rec),
            Err(TypedPayloadError::Field {
                field: "action",
                ..
            })
        ));
    }
}
