//! The deterministic decision core of one Binance spot venue session: [`SessionCore`], fed by
//! [`Input`]s (normalised market data after sequencing, order responses, user-stream events,
//! parameter pushes, operator commands, timer ticks), each with its own timestamps.
//!
//! It never reads a clock, never iterates a hash map and never allocates after construction, so
//! replaying the same inputs (the journal, #11) gives the same decisions and the same
//! [`SessionCore::digest`]. The live loop ([`super::live`]) owns the sockets, turns bytes into
//! inputs ([`Normalizer`]), journals every input, and applies it here.
//!
//! Rules (ADR 0005, `docs/architecture/engine-session.md`):
//! - an order with no answer within the timeout, a `-1007`/`-1006`/5xx answer, or a dropped order
//!   connection is UNKNOWN: reserved by risk, never resent, resolved by the user stream or by
//!   `order.status` with backoff;
//! - after a (re)connect nothing is quoted until `openOrders.status` and an `order.status` for every
//!   UNKNOWN order have been answered (reconciliation); foreign orders with our prefix are cancelled;
//! - a kill latches risk, sends `openOrders.cancelAll` and stops quoting until lifted;
//! - venue rate usage near its limit drains the risk venue-order bucket (our throttle trips first);
//!   a 429 backs off until `retryAfter`.

use crate::engine::events::{EngineEvent, EventKind, EventSink};
use crate::engine::params::Words;
use crate::engine::pipeline::{
    BinanceWsEncoder, IdRange, MaskGen, PipelineInstrument, QuotingCore, Sent, RID_CANCEL,
    RID_CONTROL, RID_STATUS, RID_TAG_MASK,
};
use crate::feed::binance::scanner::Scanner;
use crate::feed::DecodeError;
use crate::gateway::binance_user::{
    self, cancel_replace_new_order, decode_order_result, for_each_object, ExecutionReport,
    OrderResult, WsApiMessage,
};
use crate::gateway::binance_ws::{self, Auth};
use crate::gateway::client_id::parse_binance_client_id;
use crate::gateway::order_state::{transition, OrderEventKind, OrderState};
use crate::journal::payloads::{
    ack_origin, reject_origin, FillV1, OperatorAction, OperatorCommandV1, OrderAckV1, ParamPushV1,
    RejectV1, TimerTickV1, TypedPayloadError,
};
use crate::journal::{JournalRecord, RecordKind, Replayable, MAX_PAYLOAD_LEN};
use crate::model::decimal::parse_fixed;
use crate::model::{
    Asset, ClientOrderId, Decimal, InstrumentId, Liquidity, OrderStatus, OrderType, Price, Qty,
    Side, UnixNanos, VenueOrderId,
};
use crate::net::transport::TxTransport;
use crate::net::websocket::{encode_frame, Opcode};
use crate::quoter::{QuoteParams, Top, QUOTE_PARAM_WORDS};
use crate::risk::{DenyReason, PreTradeRisk, RiskLimits};

mod snapshot;

/// Orders tracked at once (working, pending and UNKNOWN).
pub const MAX_ORDERS: usize = 128;
/// Working quotes shown in the status snapshot.
pub const STATUS_QUOTES: usize = 16;
/// Amount scale of balances and commissions (Binance: 8 decimal places).
pub const AMOUNT_EXP: u8 = 8;

/// Control request ids (low bits after [`RID_CONTROL`]).
pub const CTL_LOGON: u64 = RID_CONTROL | 1;
/// `userDataStream.subscribe`.
pub const CTL_SUBSCRIBE: u64 = RID_CONTROL | 2;
/// `openOrders.status`.
pub const CTL_OPEN_ORDERS: u64 = RID_CONTROL | 3;
/// `openOrders.cancelAll`.
pub const CTL_CANCEL_ALL: u64 = RID_CONTROL | 4;

/// An operator command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Command {
    /// Latch the kill switch: block entry, cancel all, pull quotes.
    Kill = 1,
    /// Clear the kill latch (the two-person rule is enforced before this).
    Lift = 2,
    /// Orderly stop: block entry, cancel all, finish when nothing is open.
    Stop = 3,
}

/// What an order status text says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum VenueStatus {
    /// `NEW`.
    New = 0,
    /// `PARTIALLY_FILLED`.
    PartiallyFilled = 1,
    /// `FILLED`.
    Filled = 2,
    /// `CANCELED` (also `PENDING_CANCEL`).
    Canceled = 3,
    /// `REJECTED`.
    Rejected = 4,
    /// `EXPIRED`, `EXPIRED_IN_MATCH`.
    Expired = 5,
    /// Anything else.
    Other = 6,
}

impl VenueStatus {
    /// Parses Binance's status text.
    pub fn parse(t: &[u8]) -> Self {
        match t {
            b"NEW" | b"PENDING_NEW" => Self::New,
            b"PARTIALLY_FILLED" => Self::PartiallyFilled,
            b"FILLED" => Self::Filled,
            b"CANCELED" | b"PENDING_CANCEL" => Self::Canceled,
            b"REJECTED" => Self::Rejected,
            b"EXPIRED" | b"EXPIRED_IN_MATCH" => Self::Expired,
            _ => Self::Other,
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::New,
            1 => Self::PartiallyFilled,
            2 => Self::Filled,
            3 => Self::Canceled,
            4 => Self::Rejected,
            5 => Self::Expired,
            _ => Self::Other,
        }
    }

    fn is_open(self) -> bool {
        matches!(self, Self::New | Self::PartiallyFilled)
    }
}

/// An execution report's type (`x`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ExecKind {
    /// `NEW`.
    New = 0,
    /// `TRADE`.
    Trade = 1,
    /// `CANCELED`.
    Canceled = 2,
    /// `REJECTED`.
    Rejected = 3,
    /// `EXPIRED`, `TRADE_PREVENTION`.
    Expired = 4,
    /// Anything else (`REPLACED`, `AMENDMENT`).
    Other = 5,
}

impl ExecKind {
    fn parse(t: &[u8]) -> Self {
        match t {
            b"NEW" => Self::New,
            b"TRADE" => Self::Trade,
            b"CANCELED" => Self::Canceled,
            b"REJECTED" => Self::Rejected,
            b"EXPIRED" | b"TRADE_PREVENTION" => Self::Expired,
            _ => Self::Other,
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::New,
            1 => Self::Trade,
            2 => Self::Canceled,
            3 => Self::Rejected,
            4 => Self::Expired,
            _ => Self::Other,
        }
    }
}

/// Which asset a commission was charged in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FeeAsset {
    /// No commission.
    None = 0,
    /// The base asset (DOGE of DOGEUSDT).
    Base = 1,
    /// The quote asset (USDT).
    Quote = 2,
    /// Another asset (BNB).
    Other = 3,
}

impl FeeAsset {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Base,
            2 => Self::Quote,
            3 => Self::Other,
            _ => Self::None,
        }
    }
}

/// One input to the session core. Timestamps travel beside it ([`Stamped`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// The book's top after sequencing (`stale`: gap, disconnect or no snapshot yet).
    Top {
        /// Best bid and ask.
        top: Top,
        /// The book cannot be trusted: pull quotes.
        stale: bool,
    },
    /// Python pushed quoting parameters (block version `version`).
    Params {
        /// The parameters.
        params: QuoteParams,
    },
    /// An operator command.
    Command(Command),
    /// A timer tick (timeouts, status queries, TTL).
    Tick,
    /// The order connection is up, logged on and subscribed to the user stream.
    OrderConnected,
    /// The order connection dropped.
    OrderDisconnected,
    /// An order (new or the new leg of a cancel-replace) was acknowledged.
    Ack {
        /// Our id.
        id: ClientOrderId,
        /// The venue's id.
        venue_id: u64,
    },
    /// The venue refused or could not answer an order request.
    OrderError {
        /// Our id.
        id: ClientOrderId,
        /// Response status.
        status: u16,
        /// Venue error code.
        code: i64,
    },
    /// A cancel was answered as done.
    CancelAck {
        /// The cancelled order.
        id: ClientOrderId,
    },
    /// A cancel was refused.
    CancelError {
        /// The order.
        id: ClientOrderId,
        /// Response status.
        status: u16,
        /// Venue error code.
        code: i64,
    },
    /// An `order.status` answer (`found == false`: the venue has no such order, -2013).
    Status {
        /// The order.
        id: ClientOrderId,
        /// Whether the venue knows it.
        found: bool,
        /// Its status.
        status: VenueStatus,
        /// Cumulative filled lots.
        executed: Qty,
        /// Cumulative quote amount (1e-8 units).
        cum_quote: i64,
        /// The venue's id.
        venue_id: u64,
    },
    /// An `order.status` request failed for another reason (retry later).
    StatusError {
        /// The order.
        id: ClientOrderId,
        /// Venue error code.
        code: i64,
    },
    /// One element of `openOrders.status` (`id`: `None` when the client id is not ours).
    OpenOrder {
        /// Our id, when it has our prefix.
        id: Option<ClientOrderId>,
        /// Its status.
        status: VenueStatus,
        /// Cumulative filled lots.
        executed: Qty,
        /// Cumulative quote amount (1e-8 units).
        cum_quote: i64,
        /// The venue's id.
        venue_id: u64,
    },
    /// The end of an `openOrders.status` answer (`ok == false`: it failed; retried).
    OpenOrdersEnd {
        /// Whether the request succeeded.
        ok: bool,
    },
    /// `openOrders.cancelAll` was answered (`-2011`, nothing open, counts as done).
    CancelAllDone {
        /// Venue error code (0: success).
        code: i64,
    },
    /// An execution report on one of our orders (or an order with our prefix we do not track).
    Exec {
        /// Our id.
        id: ClientOrderId,
        /// The venue's id.
        venue_id: u64,
        /// `x`.
        kind: ExecKind,
        /// `X`.
        status: VenueStatus,
        /// Side.
        side: Side,
        /// Last fill quantity.
        last_qty: Qty,
        /// Last fill price.
        last_price: Price,
        /// Last fill quote amount (1e-8 units).
        last_quote: i64,
        /// Commission (1e-8 units of `fee_asset`).
        commission: i64,
        /// Commission asset.
        fee_asset: FeeAsset,
        /// Cumulative filled lots.
        cum_qty: Qty,
    },
    /// The venue reported its order-rate usage.
    Rate {
        /// ORDERS per 10 s: count.
        orders_10s: u64,
        /// ORDERS per 10 s: limit.
        orders_10s_limit: u64,
        /// REQUEST_WEIGHT per minute: count.
        weight_1m: u64,
        /// REQUEST_WEIGHT per minute: limit.
        weight_1m_limit: u64,
    },
    /// The venue refused a request for rate (429) or banned us (418): back off until `until`.
    RateLimited {
        /// HTTP-like status (429 or 418).
        status: u16,
        /// Back off until this time (ns since the epoch).
        until: UnixNanos,
    },
    /// A block of client order ids reserved from the persisted allocator (the journal's record of
    /// the id high-water mark: a replay hands the core the same ids, a recovery continues after them).
    IdBlock {
        /// First id of the block.
        next: u64,
        /// One past the last.
        end: u64,
    },
    /// The engine restarted on this journal (recovery, #11): every order not known to be done is
    /// UNKNOWN (reserved by risk, never resent, resolved by reconciliation), the order connection is
    /// down, the book is stale, an orderly stop of the previous run is over; the kill latch and the
    /// client-id high-water mark stay.
    Restart,
}

/// An input with its times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamped {
    /// When we received it (the time the core acts at).
    pub ts_recv: UnixNanos,
    /// The venue's event time (equals `ts_recv` for our own inputs).
    pub ts_event: UnixNanos,
    /// The input.
    pub input: Input,
}

// ---------------------------------------------------------------------------------------------
// Journal encoding. One layout per record kind (`docs/architecture/journal.md`): order acks,
// fills, rejects, parameter pushes, operator commands and timer ticks use the journal's typed V1
// payloads (`journal::payloads`), so `LedgerState`, `pymm journal inspect` and `pymm ledger export`
// read an engine journal; the session's other inputs are `RecordKind::SessionInput` records with a
// sub-tag byte. An input whose values a typed layout cannot carry exactly (a venue error code
// beyond i32, an execution report with a price but no quantity, …) is written as a sub-tagged
// `SessionInput` instead, so every record reads back to exactly the input that was applied.

/// The timer id of the session's tick in [`TimerTickV1`] records.
pub const SESSION_TIMER: u32 = 1;

/// `SessionInput` sub-tags.
mod sub {
    pub const TOP: u8 = 1;
    pub const CONNECTED: u8 = 2;
    pub const DISCONNECTED: u8 = 3;
    pub const OPEN_ORDER: u8 = 4;
    pub const OPEN_ORDERS_END: u8 = 5;
    pub const CANCEL_ALL_DONE: u8 = 6;
    pub const RATE: u8 = 7;
    pub const RATE_LIMITED: u8 = 8;
    pub const ID_BLOCK: u8 = 9;
    pub const RESTART: u8 = 10;
    // Exact fallbacks of inputs whose values do not fit their typed layout.
    pub const RAW_ACK: u8 = 0x21;
    pub const RAW_CANCEL_ACK: u8 = 0x22;
    pub const RAW_STATUS: u8 = 0x23;
    pub const RAW_ORDER_ERROR: u8 = 0x31;
    pub const RAW_CANCEL_ERROR: u8 = 0x32;
    pub const RAW_STATUS_ERROR: u8 = 0x33;
    pub const RAW_EXEC: u8 = 0x41;
}

struct W<'a> {
    b: &'a mut [u8; MAX_PAYLOAD_LEN],
    n: usize,
}

impl W<'_> {
    fn u8(&mut self, v: u8) {
        self.b[self.n] = v;
        self.n += 1;
    }
    fn u64(&mut self, v: u64) {
        self.b[self.n..self.n + 8].copy_from_slice(&v.to_le_bytes());
        self.n += 8;
    }
    fn i64(&mut self, v: i64) {
        self.u64(v as u64);
    }
}

struct R<'a> {
    b: &'a [u8],
    n: usize,
}

impl R<'_> {
    fn u8(&mut self) -> Option<u8> {
        let v = *self.b.get(self.n)?;
        self.n += 1;
        Some(v)
    }
    fn u64(&mut self) -> Option<u64> {
        let s = self.b.get(self.n..self.n + 8)?;
        self.n += 8;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Some(u64::from_le_bytes(a))
    }
    fn i64(&mut self) -> Option<i64> {
        self.u64().map(|v| v as i64)
    }
    fn end(&self) -> Option<()> {
        (self.n == self.b.len()).then_some(())
    }
}

fn side_from(v: u8) -> Option<Side> {
    match v {
        0 => Some(Side::Buy),
        1 => Some(Side::Sell),
        _ => None,
    }
}

fn order_status(v: VenueStatus) -> OrderStatus {
    match v {
        VenueStatus::New => OrderStatus::New,
        VenueStatus::PartiallyFilled => OrderStatus::PartiallyFilled,
        VenueStatus::Filled => OrderStatus::Filled,
        VenueStatus::Canceled => OrderStatus::Canceled,
        VenueStatus::Rejected => OrderStatus::Rejected,
        VenueStatus::Expired => OrderStatus::Expired,
        VenueStatus::Other => OrderStatus::Unknown,
    }
}

fn venue_status(v: OrderStatus) -> VenueStatus {
    match v {
        OrderStatus::New => VenueStatus::New,
        OrderStatus::PartiallyFilled => VenueStatus::PartiallyFilled,
        OrderStatus::Filled => VenueStatus::Filled,
        OrderStatus::Canceled => VenueStatus::Canceled,
        OrderStatus::Rejected => VenueStatus::Rejected,
        OrderStatus::Expired | OrderStatus::ExpiredInMatch => VenueStatus::Expired,
        OrderStatus::Unknown => VenueStatus::Other,
    }
}

/// What an input's journal record carries beside the input itself, for the ledger and the tools
/// (never read back by replay): the instrument, the order's side, price and size as the session
/// tracks it, the asset names, the parameter block version.
#[derive(Clone, Copy, Debug)]
pub struct RecordCtx {
    /// The instrument.
    pub instrument: InstrumentId,
    /// The type our orders are placed with.
    pub order_type: OrderType,
    /// The order the input names, if the session tracks it.
    pub order: Option<OrderSlot>,
    /// The base asset (fee class 1).
    pub base: Asset,
    /// The quote asset (fee class 2).
    pub quote: Asset,
    /// The parameter block's version (for `ParamPush`).
    pub param_version: u64,
}

impl Default for RecordCtx {
    fn default() -> Self {
        Self {
            instrument: InstrumentId(0),
            order_type: OrderType::Limit,
            order: None,
            base: Asset::NONE,
            quote: Asset::NONE,
            param_version: 0,
        }
    }
}

/// The one or two journal records of one input (a parameter push of 12 words takes two).
#[derive(Clone, Copy, Debug)]
pub struct InputRecords {
    recs: [JournalRecord; 2],
    n: usize,
}

impl InputRecords {
    fn one(r: JournalRecord) -> Self {
        Self { recs: [r, r], n: 1 }
    }

    /// The records, in journal order.
    pub fn as_slice(&self) -> &[JournalRecord] {
        &self.recs[..self.n]
    }
}

/// Why a journal record is not a session input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InputDecodeError {
    /// A typed payload does not decode.
    #[error(transparent)]
    Typed(#[from] TypedPayloadError),
    /// A `SessionInput` sub-tag or its layout is not known, or a typed payload says something the
    /// session has no input for (a pause, another timer, an unknown origin).
    #[error("{kind:?} record is not a session input ({what})")]
    NotAnInput {
        /// The kind.
        kind: RecordKind,
        /// What was wrong.
        what: &'static str,
    },
}

/// Turns journal records back into inputs; holds the first part of a parameter push until its
/// second part arrives (so it is stateful; one per replayed stream).
#[derive(Clone, Copy, Debug, Default)]
pub struct InputDecoder {
    words: [u64; QUOTE_PARAM_WORDS],
    have: u32,
    version: u64,
}

impl InputDecoder {
    /// The input `rec` completes: `Ok(None)` for a record of another kind (market data, segment
    /// headers) or the first part of a parameter push.
    pub fn decode(&mut self, rec: &JournalRecord) -> Result<Option<Stamped>, InputDecodeError> {
        let bad = |what| InputDecodeError::NotAnInput {
            kind: rec.kind,
            what,
        };
        let input = match rec.kind {
            RecordKind::SessionInput => session_input(rec).ok_or(bad("bad sub-tag or layout"))?,
            RecordKind::OrderAck => {
                let a = OrderAckV1::decode(rec)?;
                let id = a.client_order_id;
                let venue_id = a.venue_order_id.map_or(0, |v| v.0);
                match a.origin {
                    ack_origin::PLACED => Input::Ack { id, venue_id },
                    ack_origin::CANCELLED => Input::CancelAck { id },
                    ack_origin::STATUS | ack_origin::STATUS_NOT_FOUND => Input::Status {
                        id,
                        found: a.origin == ack_origin::STATUS,
                        status: venue_status(a.status),
                        executed: a.cum_qty,
                        cum_quote: a.aux,
                        venue_id,
                    },
                    o if (ack_origin::EXEC..=ack_origin::EXEC + 5).contains(&o) => Input::Exec {
                        id,
                        venue_id,
                        kind: ExecKind::from_u8(o - ack_origin::EXEC),
                        status: venue_status(a.status),
                        side: a.side,
                        last_qty: Qty::ZERO,
                        last_price: Price::ZERO,
                        last_quote: a.aux,
                        commission: 0,
                        fee_asset: FeeAsset::None,
                        cum_qty: a.cum_qty,
                    },
                    _ => return Err(bad("ack origin")),
                }
            }
            RecordKind::Fill => {
                let f = FillV1::decode(rec)?;
                let k = f.origin.wrapping_sub(ack_origin::EXEC);
                if k > 5 {
                    return Err(bad("fill origin"));
                }
                let e = u32::from(AMOUNT_EXP - f.fee.exp().min(AMOUNT_EXP));
                Input::Exec {
                    id: f.client_order_id,
                    venue_id: f.venue_order_id.map_or(0, |v| v.0),
                    kind: ExecKind::from_u8(k),
                    status: venue_status(f.status),
                    side: f.side,
                    last_qty: f.last_qty,
                    last_price: f.last_price,
                    last_quote: f.last_quote,
                    commission: f.fee.raw().saturating_mul(10i64.pow(e)),
                    fee_asset: FeeAsset::from_u8(f.fee_class),
                    cum_qty: f.cum_qty,
                }
            }
            RecordKind::Reject => {
                let r = RejectV1::decode(rec)?;
                let id = r.client_order_id;
                let code = i64::from(r.reject_code);
                match r.origin {
                    reject_origin::ORDER => Input::OrderError {
                        id,
                        status: r.http_status,
                        code,
                    },
                    reject_origin::CANCEL => Input::CancelError {
                        id,
                        status: r.http_status,
                        code,
                    },
                    reject_origin::STATUS => Input::StatusError { id, code },
                    _ => return Err(bad("reject origin")),
                }
            }
            RecordKind::ParamPush => {
                let p = ParamPushV1::decode(rec)?;
                let first = usize::from(p.first);
                let words = p.words();
                if first + words.len() > QUOTE_PARAM_WORDS {
                    return Err(bad("parameter words"));
                }
                if first == 0 || p.block_version != self.version {
                    self.have = 0;
                    self.version = p.block_version;
                }
                self.words[first..first + words.len()].copy_from_slice(words);
                for i in first..first + words.len() {
                    self.have |= 1 << i;
                }
                if self.have != (1u32 << QUOTE_PARAM_WORDS) - 1 {
                    return Ok(None);
                }
                self.have = 0;
                Input::Params {
                    params: QuoteParams::from_words(self.words),
                }
            }
            RecordKind::OperatorCommand => {
                let c = OperatorCommandV1::decode(rec)?;
                Input::Command(match c.action {
                    OperatorAction::Kill => Command::Kill,
                    OperatorAction::Lift => Command::Lift,
                    OperatorAction::Stop => Command::Stop,
                    OperatorAction::Pause | OperatorAction::Resume => {
                        return Err(bad("pause/resume"))
                    }
                })
            }
            RecordKind::TimerTick => {
                if TimerTickV1::decode(rec)?.timer_id != SESSION_TIMER {
                    return Err(bad("timer id"));
                }
                Input::Tick
            }
            RecordKind::SegmentHeader
            | RecordKind::BookDelta
            | RecordKind::OrderEvent
            | RecordKind::Trade => return Ok(None),
        };
        Ok(Some(Stamped {
            ts_recv: rec.ts_recv,
            ts_event: rec.ts_event,
            input,
        }))
    }
}

/// Decodes a `SessionInput` record.
fn session_input(rec: &JournalRecord) -> Option<Input> {
    let mut r = R {
        b: rec.payload(),
        n: 0,
    };
    let id = ClientOrderId;
    let input = match r.u8()? {
        sub::TOP => {
            let flags = r.u8()?;
            if flags > 7 {
                return None;
            }
            let (bp, bq, ap, aq) = (r.i64()?, r.i64()?, r.i64()?, r.i64()?);
            Input::Top {
                top: Top {
                    bid: (flags & 1 != 0).then(|| (Price::from_ticks(bp), Qty::from_lots(bq))),
                    ask: (flags & 2 != 0).then(|| (Price::from_ticks(ap), Qty::from_lots(aq))),
                },
                stale: flags & 4 != 0,
            }
        }
        sub::CONNECTED => Input::OrderConnected,
        sub::DISCONNECTED => Input::OrderDisconnected,
        sub::OPEN_ORDER => {
            let has = r.u8()? != 0;
            let v = r.u64()?;
            Input::OpenOrder {
                id: has.then(|| id(v)),
                status: VenueStatus::from_u8(r.u8()?),
                executed: Qty::from_lots(r.i64()?),
                cum_quote: r.i64()?,
                venue_id: r.u64()?,
            }
        }
        sub::OPEN_ORDERS_END => Input::OpenOrdersEnd { ok: r.u8()? != 0 },
        sub::CANCEL_ALL_DONE => Input::CancelAllDone { code: r.i64()? },
        sub::RATE => Input::Rate {
            orders_10s: r.u64()?,
            orders_10s_limit: r.u64()?,
            weight_1m: r.u64()?,
            weight_1m_limit: r.u64()?,
        },
        sub::RATE_LIMITED => Input::RateLimited {
            status: u16::try_from(r.u64()?).ok()?,
            until: UnixNanos(r.u64()?),
        },
        sub::RESTART => Input::Restart,
        sub::ID_BLOCK => Input::IdBlock {
            next: r.u64()?,
            end: r.u64()?,
        },
        sub::RAW_ACK => Input::Ack {
            id: id(r.u64()?),
            venue_id: r.u64()?,
        },
        sub::RAW_CANCEL_ACK => Input::CancelAck { id: id(r.u64()?) },
        sub::RAW_STATUS => Input::Status {
            id: id(r.u64()?),
            found: r.u8()? != 0,
            status: VenueStatus::from_u8(r.u8()?),
            executed: Qty::from_lots(r.i64()?),
            cum_quote: r.i64()?,
            venue_id: r.u64()?,
        },
        t @ (sub::RAW_ORDER_ERROR | sub::RAW_CANCEL_ERROR | sub::RAW_STATUS_ERROR) => {
            let i = id(r.u64()?);
            let status = u16::try_from(r.u64()?).ok()?;
            let code = r.i64()?;
            match t {
                sub::RAW_ORDER_ERROR => Input::OrderError {
                    id: i,
                    status,
                    code,
                },
                sub::RAW_CANCEL_ERROR => Input::CancelError {
                    id: i,
                    status,
                    code,
                },
                _ => Input::StatusError { id: i, code },
            }
        }
        sub::RAW_EXEC => Input::Exec {
            id: id(r.u64()?),
            venue_id: r.u64()?,
            kind: ExecKind::from_u8(r.u8()?),
            status: VenueStatus::from_u8(r.u8()?),
            side: side_from(r.u8()?)?,
            fee_asset: FeeAsset::from_u8(r.u8()?),
            last_qty: Qty::from_lots(r.i64()?),
            last_price: Price::from_ticks(r.i64()?),
            last_quote: r.i64()?,
            commission: r.i64()?,
            cum_qty: Qty::from_lots(r.i64()?),
        },
        _ => return None,
    };
    r.end()?;
    Some(input)
}

impl Stamped {
    /// The journal record(s) of this input with no ledger context (instrument 0, no order
    /// details); see [`Stamped::to_records_with`].
    pub fn to_records(&self) -> InputRecords {
        self.to_records_with(&RecordCtx::default())
    }

    /// The journal record(s) of this input: typed V1 payloads for acks, fills, rejects, parameter
    /// pushes, operator commands and timer ticks (with `ctx`'s order details for the ledger),
    /// sub-tagged `SessionInput` records for the rest. [`InputDecoder::decode`] gives back exactly
    /// `self`.
    ///
    /// # Hot path
    /// No allocation; a typed record is decoded once more to prove it reads back exactly (else the
    /// exact `SessionInput` fallback is written).
    pub fn to_records_with(&self, ctx: &RecordCtx) -> InputRecords {
        if let Input::Params { params } = self.input {
            let words = params.to_words();
            let cut = ParamPushV1::MAX_WORDS.min(QUOTE_PARAM_WORDS);
            let mut out = [filler(self.ts_recv); 2];
            let parts = [(0, &words[..cut]), (cut, &words[cut..])];
            let mut n = 0;
            for (first, w) in parts {
                if w.is_empty() {
                    continue;
                }
                // Fits: at most MAX_WORDS words, `first` < QUOTE_PARAM_WORDS.
                if let Some(p) = ParamPushV1::part(ctx.param_version, first as u8, w) {
                    out[n] = p.to_record(self.ts_recv);
                    out[n].ts_event = self.ts_event;
                    n += 1;
                }
            }
            return InputRecords { recs: out, n };
        }
        if let Some(rec) = self.typed(ctx) {
            if InputDecoder::default().decode(&rec) == Ok(Some(*self)) {
                return InputRecords::one(rec);
            }
        }
        InputRecords::one(self.session_record())
    }

    fn typed(&self, ctx: &RecordCtx) -> Option<JournalRecord> {
        let (ts_recv, ts_event) = (self.ts_recv, self.ts_event);
        let (side, price, qty, filled, slot_venue) = ctx
            .order
            .map_or((Side::Buy, Price::ZERO, Qty::ZERO, Qty::ZERO, 0), |o| {
                (o.side, o.price, o.qty, o.filled, o.venue_id)
            });
        let vid = |v: u64| (v != 0).then_some(VenueOrderId(v));
        let ack = |status, origin, venue_id: u64, cum_qty: Qty, aux: i64, side: Side| OrderAckV1 {
            instrument: ctx.instrument,
            side,
            order_type: ctx.order_type,
            status,
            client_order_id: ClientOrderId(0),
            venue_order_id: vid(venue_id),
            price,
            qty,
            cum_qty: Qty::from_lots(cum_qty.lots().max(0)),
            origin,
            aux,
        };
        let reject = |id, origin, http_status, code: i64| RejectV1 {
            instrument: ctx.instrument,
            side,
            client_order_id: id,
            reject_code: code as i32,
            price,
            qty,
            origin,
            http_status,
        };
        let own = |mut r: JournalRecord| {
            // Own inputs' layouts stamp `ts_event = ts_recv`; keep the input's exactly.
            r.ts_event = ts_event;
            r
        };
        Some(match self.input {
            Input::Ack { id, venue_id } => OrderAckV1 {
                client_order_id: id,
                ..ack(
                    OrderStatus::New,
                    ack_origin::PLACED,
                    venue_id,
                    filled,
                    0,
                    side,
                )
            }
            .to_record(ts_recv, ts_event),
            Input::CancelAck { id } => OrderAckV1 {
                client_order_id: id,
                ..ack(
                    OrderStatus::Canceled,
                    ack_origin::CANCELLED,
                    slot_venue,
                    filled,
                    0,
                    side,
                )
            }
            .to_record(ts_recv, ts_event),
            Input::Status {
                id,
                found,
                status,
                executed,
                cum_quote,
                venue_id,
            } => {
                let origin = if found {
                    ack_origin::STATUS
                } else {
                    ack_origin::STATUS_NOT_FOUND
                };
                OrderAckV1 {
                    client_order_id: id,
                    ..ack(
                        order_status(status),
                        origin,
                        venue_id,
                        executed,
                        cum_quote,
                        side,
                    )
                }
                .to_record(ts_recv, ts_event)
            }
            Input::Exec {
                id,
                venue_id,
                kind,
                status,
                side: exec_side,
                last_qty,
                last_price,
                last_quote,
                commission,
                fee_asset,
                cum_qty,
            } => {
                let origin = ack_origin::EXEC + kind as u8;
                if last_qty.lots() > 0 {
                    let asset = match fee_asset {
                        FeeAsset::None => Asset::NONE,
                        FeeAsset::Base => ctx.base,
                        FeeAsset::Quote => ctx.quote,
                        // The report's asset name is not kept by the normaliser.
                        FeeAsset::Other => Asset::new("OTHER").unwrap_or(Asset::NONE),
                    };
                    FillV1 {
                        instrument: ctx.instrument,
                        side: exec_side,
                        liquidity: Liquidity::None,
                        status: order_status(status),
                        client_order_id: id,
                        venue_order_id: vid(venue_id),
                        trade_id: 0,
                        last_price,
                        last_qty,
                        cum_qty,
                        fee: Decimal::new(commission, AMOUNT_EXP).ok()?,
                        fee_asset: asset,
                        origin,
                        last_quote,
                        fee_class: fee_asset as u8,
                    }
                    .to_record(ts_recv, ts_event)
                } else {
                    OrderAckV1 {
                        client_order_id: id,
                        ..ack(
                            order_status(status),
                            origin,
                            venue_id,
                            cum_qty,
                            last_quote,
                            exec_side,
                        )
                    }
                    .to_record(ts_recv, ts_event)
                }
            }
            Input::OrderError { id, status, code } => {
                reject(id, reject_origin::ORDER, status, code).to_record(ts_recv, ts_event)
            }
            Input::CancelError { id, status, code } => {
                reject(id, reject_origin::CANCEL, status, code).to_record(ts_recv, ts_event)
            }
            Input::StatusError { id, code } => {
                reject(id, reject_origin::STATUS, 0, code).to_record(ts_recv, ts_event)
            }
            Input::Command(c) => {
                let action = match c {
                    Command::Kill => OperatorAction::Kill,
                    Command::Lift => OperatorAction::Lift,
                    Command::Stop => OperatorAction::Stop,
                };
                own(OperatorCommandV1::new(action, 0, "").to_record(ts_recv))
            }
            Input::Tick => own(TimerTickV1 {
                timer_id: SESSION_TIMER,
            }
            .to_record(ts_recv)),
            _ => return None,
        })
    }

    /// The sub-tagged `SessionInput` record of this input (for the typed kinds: the exact fallback).
    fn session_record(&self) -> JournalRecord {
        let mut buf = [0u8; MAX_PAYLOAD_LEN];
        let mut w = W { b: &mut buf, n: 0 };
        match self.input {
            Input::Top { top, stale } => {
                w.u8(sub::TOP);
                let flags = u8::from(top.bid.is_some())
                    | u8::from(top.ask.is_some()) << 1
                    | u8::from(stale) << 2;
                w.u8(flags);
                let (bp, bq) = top.bid.map_or((0, 0), |(p, q)| (p.ticks(), q.lots()));
                let (ap, aq) = top.ask.map_or((0, 0), |(p, q)| (p.ticks(), q.lots()));
                for v in [bp, bq, ap, aq] {
                    w.i64(v);
                }
            }
            Input::OrderConnected => w.u8(sub::CONNECTED),
            Input::OrderDisconnected => w.u8(sub::DISCONNECTED),
            Input::OpenOrder {
                id,
                status,
                executed,
                cum_quote,
                venue_id,
            } => {
                w.u8(sub::OPEN_ORDER);
                w.u8(u8::from(id.is_some()));
                w.u64(id.map_or(0, |i| i.0));
                w.u8(status as u8);
                w.i64(executed.lots());
                w.i64(cum_quote);
                w.u64(venue_id);
            }
            Input::OpenOrdersEnd { ok } => {
                w.u8(sub::OPEN_ORDERS_END);
                w.u8(u8::from(ok));
            }
            Input::CancelAllDone { code } => {
                w.u8(sub::CANCEL_ALL_DONE);
                w.i64(code);
            }
            Input::Rate {
                orders_10s,
                orders_10s_limit,
                weight_1m,
                weight_1m_limit,
            } => {
                w.u8(sub::RATE);
                for v in [orders_10s, orders_10s_limit, weight_1m, weight_1m_limit] {
                    w.u64(v);
                }
            }
            Input::RateLimited { status, until } => {
                w.u8(sub::RATE_LIMITED);
                w.u64(u64::from(status));
                w.u64(until.0);
            }
            Input::Restart => w.u8(sub::RESTART),
            Input::IdBlock { next, end } => {
                w.u8(sub::ID_BLOCK);
                w.u64(next);
                w.u64(end);
            }
            Input::Ack { id, venue_id } => {
                w.u8(sub::RAW_ACK);
                w.u64(id.0);
                w.u64(venue_id);
            }
            Input::CancelAck { id } => {
                w.u8(sub::RAW_CANCEL_ACK);
                w.u64(id.0);
            }
            Input::Status {
                id,
                found,
                status,
                executed,
                cum_quote,
                venue_id,
            } => {
                w.u8(sub::RAW_STATUS);
                w.u64(id.0);
                w.u8(u8::from(found));
                w.u8(status as u8);
                w.i64(executed.lots());
                w.i64(cum_quote);
                w.u64(venue_id);
            }
            Input::OrderError { id, status, code } | Input::CancelError { id, status, code } => {
                let t = if matches!(self.input, Input::OrderError { .. }) {
                    sub::RAW_ORDER_ERROR
                } else {
                    sub::RAW_CANCEL_ERROR
                };
                w.u8(t);
                w.u64(id.0);
                w.u64(u64::from(status));
                w.i64(code);
            }
            Input::StatusError { id, code } => {
                w.u8(sub::RAW_STATUS_ERROR);
                w.u64(id.0);
                w.u64(0);
                w.i64(code);
            }
            Input::Exec {
                id,
                venue_id,
                kind,
                status,
                side,
                last_qty,
                last_price,
                last_quote,
                commission,
                fee_asset,
                cum_qty,
            } => {
                w.u8(sub::RAW_EXEC);
                w.u64(id.0);
                w.u64(venue_id);
                w.u8(kind as u8);
                w.u8(status as u8);
                w.u8(side as u8);
                w.u8(fee_asset as u8);
                w.i64(last_qty.lots());
                w.i64(last_price.ticks());
                w.i64(last_quote);
                w.i64(commission);
                w.i64(cum_qty.lots());
            }
            // Always typed (see `to_records_with`); never reached.
            Input::Params { .. } | Input::Command(_) | Input::Tick => {}
        }
        let n = w.n;
        JournalRecord::new(
            RecordKind::SessionInput,
            self.ts_recv,
            self.ts_event,
            &buf[..n],
        )
        .unwrap_or_else(|_| filler(self.ts_recv))
    }

    /// Decodes a record that holds one whole input (every kind but a parameter push, which takes
    /// two records: use [`InputDecoder`]); `None` for another record or bad bytes.
    pub fn from_record(rec: &JournalRecord) -> Option<Self> {
        InputDecoder::default().decode(rec).ok().flatten()
    }
}

/// A placeholder record (unused array slots; never written to the journal).
fn filler(ts: UnixNanos) -> JournalRecord {
    TimerTickV1 { timer_id: 0 }.to_record(ts)
}

// ---------------------------------------------------------------------------------------------
// Normalisation: venue bytes → inputs (outside the deterministic core; no allocation).

/// Counters of the normaliser.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NormalizeStats {
    /// Frames that did not decode (counted, dropped).
    pub decode_errors: u64,
    /// Execution reports for another symbol or without our prefix.
    pub foreign: u64,
    /// Responses whose id we did not send.
    pub unknown_ids: u64,
    /// Other user-data events (balances).
    pub other_events: u64,
    /// Execution-report amounts (`n`, `Y`) with more than 8 decimal places, rounded up to 1e-8
    /// (the fill itself is applied: a quantity is a fact, only the amount is rounded).
    pub amounts_rounded: u64,
}

/// Turns WebSocket-API frames into [`Input`]s with the instrument's scales.
pub struct Normalizer {
    inst: PipelineInstrument,
    prefix: [u8; 8],
    prefix_len: usize,
    base: [u8; 16],
    base_len: usize,
    quote: [u8; 16],
    quote_len: usize,
    stats: NormalizeStats,
}

fn amount(t: &[u8], field: &'static str) -> Result<i64, DecodeError> {
    if t.is_empty() {
        return Ok(0);
    }
    parse_fixed(t, AMOUNT_EXP).map_err(|source| DecodeError::BadDecimal { field, source })
}

/// Like [`amount`], but text with more than 8 decimal places is rounded up (away from zero) to
/// 1e-8 instead of refused; the flag says whether it was. A fill report is never dropped for an
/// amount's precision: the venue's `n`/`Y` are informational next to `l`.
fn amount_rounded(t: &[u8], field: &'static str) -> Result<(i64, bool), DecodeError> {
    // Split off the digits past the 8th decimal place first: no error value (which allocates)
    // on this path.
    let cut = match t.iter().position(|&c| c == b'.') {
        Some(d) if t.len() > d + 1 + usize::from(AMOUNT_EXP) => d + 1 + usize::from(AMOUNT_EXP),
        _ => return amount(t, field).map(|v| (v, false)),
    };
    let rest = &t[cut..];
    if !rest.iter().all(u8::is_ascii_digit) {
        // Malformed: the full parse reports it (cold).
        return amount(t, field).map(|v| (v, false));
    }
    let v = amount(&t[..cut], field)?;
    let up = rest.iter().any(|&c| c != b'0');
    let v = match (up, t.first()) {
        (false, _) => v,
        (true, Some(b'-')) => v - 1,
        (true, _) => v + 1,
    };
    Ok((v, up))
}

fn ms_to_ns(ms: u64) -> UnixNanos {
    UnixNanos(ms.saturating_mul(1_000_000))
}

impl Normalizer {
    /// A normaliser for `inst` whose client ids carry `prefix`; `base`/`quote` name the assets.
    pub fn new(inst: PipelineInstrument, prefix: &[u8], base: &str, quote: &str) -> Self {
        let mut p = [0u8; 8];
        let n = prefix.len().min(8);
        p[..n].copy_from_slice(&prefix[..n]);
        let mut b = [0u8; 16];
        let bl = base.len().min(16);
        b[..bl].copy_from_slice(&base.as_bytes()[..bl]);
        let mut q = [0u8; 16];
        let ql = quote.len().min(16);
        q[..ql].copy_from_slice(&quote.as_bytes()[..ql]);
        Self {
            inst,
            prefix: p,
            prefix_len: n,
            base: b,
            base_len: bl,
            quote: q,
            quote_len: ql,
            stats: NormalizeStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> NormalizeStats {
        self.stats
    }

    fn our_id(&self, t: &[u8]) -> Option<ClientOrderId> {
        parse_binance_client_id(&self.prefix[..self.prefix_len], t)
    }

    fn qty(&self, t: &[u8], field: &'static str) -> Result<Qty, DecodeError> {
        if t.is_empty() {
            return Ok(Qty::ZERO);
        }
        self.inst
            .lot
            .parse_units(t)
            .map(Qty::from_lots)
            .map_err(|source| DecodeError::BadDecimal { field, source })
    }

    fn price(&self, t: &[u8], field: &'static str) -> Result<Price, DecodeError> {
        if t.is_empty() {
            return Ok(Price::ZERO);
        }
        self.inst
            .tick
            .parse_units(t)
            .map(Price::from_ticks)
            .map_err(|source| DecodeError::BadDecimal { field, source })
    }

    /// Turns one frame received at `ts` into inputs handed to `f`. Errors are counted.
    ///
    /// # Hot path
    /// No allocation on success.
    pub fn frame(&mut self, payload: &[u8], ts: UnixNanos, f: &mut impl FnMut(Stamped)) {
        if self.frame_inner(payload, ts, f).is_err() {
            self.stats.decode_errors += 1;
        }
    }

    fn frame_inner(
        &mut self,
        payload: &[u8],
        ts: UnixNanos,
        f: &mut impl FnMut(Stamped),
    ) -> Result<(), DecodeError> {
        let own = |input| Stamped {
            ts_recv: ts,
            ts_event: ts,
            input,
        };
        match binance_user::decode(payload)? {
            WsApiMessage::OtherEvent(_) => {
                self.stats.other_events += 1;
                Ok(())
            }
            WsApiMessage::Execution(e) => self.exec(&e, ts, f),
            WsApiMessage::Response(r) => {
                let (c, cl) = r.rate.orders_10s.unwrap_or((0, 0));
                let (w, wl) = r.rate.weight_1m.unwrap_or((0, 0));
                if cl > 0 || wl > 0 {
                    f(own(Input::Rate {
                        orders_10s: c,
                        orders_10s_limit: cl,
                        weight_1m: w,
                        weight_1m_limit: wl,
                    }));
                }
                if r.status == 429 || r.status == 418 {
                    let until = r
                        .retry_after_ms
                        .or_else(|| r.error_data.and_then(retry_after_in))
                        .map_or(UnixNanos(ts.0 + 1_000_000_000), ms_to_ns);
                    f(own(Input::RateLimited {
                        status: r.status,
                        until,
                    }));
                }
                let Some(rid) = r.id else {
                    self.stats.unknown_ids += 1;
                    return Ok(());
                };
                let code = r.error.map_or(0, |e| e.0);
                let low = ClientOrderId(rid & !RID_TAG_MASK);
                match rid & RID_TAG_MASK {
                    0 => {
                        if r.error.is_some() || r.status != 200 {
                            f(own(Input::OrderError {
                                id: low,
                                status: r.status,
                                code,
                            }));
                        } else if let Some(res) = r.result {
                            let o = match cancel_replace_new_order(res)? {
                                Some(n) => decode_order_result(n)?,
                                None => decode_order_result(res)?,
                            };
                            f(own(Input::Ack {
                                id: low,
                                venue_id: o.order_id,
                            }));
                        }
                    }
                    RID_CANCEL => {
                        if r.error.is_some() || r.status != 200 {
                            f(own(Input::CancelError {
                                id: low,
                                status: r.status,
                                code,
                            }));
                        } else {
                            f(own(Input::CancelAck { id: low }));
                        }
                    }
                    RID_STATUS => match (r.error, r.result) {
                        (Some((-2013, _)), _) => f(own(Input::Status {
                            id: low,
                            found: false,
                            status: VenueStatus::Other,
                            executed: Qty::ZERO,
                            cum_quote: 0,
                            venue_id: 0,
                        })),
                        (None, Some(res)) => {
                            let o = decode_order_result(res)?;
                            f(own(self.status_input(low, &o)?));
                        }
                        _ => f(own(Input::StatusError { id: low, code })),
                    },
                    _ => match rid {
                        CTL_OPEN_ORDERS => match (r.error, r.result) {
                            (None, Some(res)) => {
                                for_each_object(res, |obj| {
                                    let o = decode_order_result(obj)?;
                                    let input = Input::OpenOrder {
                                        id: self.our_id(o.client_id),
                                        status: VenueStatus::parse(o.status),
                                        executed: self.qty(o.executed_qty, "executedQty")?,
                                        cum_quote: amount(o.cum_quote, "cummulativeQuoteQty")?,
                                        venue_id: o.order_id,
                                    };
                                    f(own(input));
                                    Ok(())
                                })?;
                                f(own(Input::OpenOrdersEnd { ok: true }));
                            }
                            _ => f(own(Input::OpenOrdersEnd { ok: false })),
                        },
                        CTL_CANCEL_ALL => f(own(Input::CancelAllDone { code })),
                        _ => self.stats.unknown_ids += 1,
                    },
                }
                Ok(())
            }
        }
    }

    fn status_input(&self, id: ClientOrderId, o: &OrderResult<'_>) -> Result<Input, DecodeError> {
        Ok(Input::Status {
            id,
            found: true,
            status: VenueStatus::parse(o.status),
            executed: self.qty(o.executed_qty, "executedQty")?,
            cum_quote: amount(o.cum_quote, "cummulativeQuoteQty")?,
            venue_id: o.order_id,
        })
    }

    fn exec(
        &mut self,
        e: &ExecutionReport<'_>,
        ts: UnixNanos,
        f: &mut impl FnMut(Stamped),
    ) -> Result<(), DecodeError> {
        let sym = &self.inst.symbol[..self.inst.symbol_len];
        let Some(id) = (e.symbol == sym)
            .then(|| self.our_id(e.order_client_id()))
            .flatten()
        else {
            self.stats.foreign += 1;
            return Ok(());
        };
        let side = match e.side {
            b"BUY" => Side::Buy,
            b"SELL" => Side::Sell,
            _ => {
                return Err(DecodeError::WrongType {
                    kind: "executionReport",
                    field: "S",
                })
            }
        };
        let last_qty = self.qty(e.last_qty, "l")?;
        let last_quote = if e.last_quote.is_empty() {
            // l × L in 1e-8 units.
            let l = i128::from(amount_rounded(e.last_qty, "l")?.0);
            let p = i128::from(amount_rounded(e.last_price, "L")?.0);
            i64::try_from(l * p / 100_000_000)
                .map_err(|_| DecodeError::BadInteger { field: "Y" })?
        } else {
            let (y, r) = amount_rounded(e.last_quote, "Y")?;
            self.stats.amounts_rounded += u64::from(r);
            y
        };
        let (commission, r) = amount_rounded(e.commission, "n")?;
        self.stats.amounts_rounded += u64::from(r);
        let fee_asset = match e.commission_asset {
            b"" => FeeAsset::None,
            a if a == &self.base[..self.base_len] => FeeAsset::Base,
            a if a == &self.quote[..self.quote_len] => FeeAsset::Quote,
            _ => FeeAsset::Other,
        };
        f(Stamped {
            ts_recv: ts,
            ts_event: ms_to_ns(e.event_time_ms),
            input: Input::Exec {
                id,
                venue_id: e.order_id,
                kind: ExecKind::parse(e.exec_type),
                status: VenueStatus::parse(e.status),
                side,
                last_qty,
                last_price: self.price(e.last_price, "L")?,
                last_quote,
                commission,
                fee_asset,
                cum_qty: self.qty(e.cum_qty, "z")?,
            },
        });
        Ok(())
    }
}

fn retry_after_in(data: &[u8]) -> Option<u64> {
    let mut out = None;
    let _ = Scanner::new(data).object(|k, v| {
        if k == b"retryAfter" {
            if let crate::feed::binance::scanner::Value::Num(n) = v {
                out = crate::feed::binance::scanner::parse_u64(n, "retryAfter").ok();
            }
        }
        Ok(())
    });
    out
}

// ---------------------------------------------------------------------------------------------
// The core.

/// One order the session tracks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderSlot {
    /// Our id.
    pub id: ClientOrderId,
    /// Side.
    pub side: Side,
    /// Limit price.
    pub price: Price,
    /// Original quantity.
    pub qty: Qty,
    /// Filled so far (as we applied it).
    pub filled: Qty,
    /// Quote amount filled so far (1e-8 units).
    pub cum_quote: i64,
    /// State.
    pub state: OrderState,
    /// The venue's id (0 until acknowledged).
    pub venue_id: u64,
    /// When it (or its last cancel) was sent.
    pub sent_at: UnixNanos,
    /// Next `order.status` query (UNKNOWN orders), 0: none.
    pub query_at: UnixNanos,
    /// Current query backoff (ns).
    pub backoff_ns: u64,
    /// The order it replaces (cancel-replace), 0: none.
    pub replaces: ClientOrderId,
    /// Reconciliation epoch in which `openOrders.status` listed it.
    pub seen_epoch: u32,
    /// `OrderAccepted` was emitted.
    pub accepted_emitted: bool,
}

/// Account effects of our fills (exact, in 1e-8 units of each asset).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Account {
    /// Change of the base balance (fills net of base commissions).
    pub base: i64,
    /// Change of the quote balance (fills net of quote commissions).
    pub quote: i64,
    /// Base-asset commissions paid.
    pub base_fees: i64,
    /// Quote-asset commissions paid.
    pub quote_fees: i64,
    /// Commissions paid in other assets (1e-8 units, summed across assets).
    pub other_fees: i64,
    /// Fills applied.
    pub fills: u64,
    /// Fills learned from `order.status`/`openOrders.status` deltas (commission not known: the
    /// user-stream report was lost with the connection).
    pub fills_without_fee: u64,
    /// Fills on orders with our prefix the session did not track.
    pub untracked_fills: u64,
    /// Fills learned from an execution report's cumulative quantity (`z`) ahead of what the
    /// stream's reports added up to (a report lost or undecodable; also in `fills_without_fee`).
    pub stream_gaps: u64,
}

/// Counters of the session core.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionCounters {
    /// Inputs applied.
    pub inputs: u64,
    /// Orders acknowledged.
    pub accepted: u64,
    /// Orders cancelled or expired.
    pub canceled: u64,
    /// Orders rejected by the venue.
    pub rejected: u64,
    /// Orders that became UNKNOWN.
    pub unknown: u64,
    /// Orders denied by our risk.
    pub denied: u64,
    /// Denials for rate (venue order rate or message rate).
    pub rate_denied: u64,
    /// `order.status` queries sent.
    pub queries: u64,
    /// Reconciliations completed.
    pub reconciles: u64,
    /// Orders with our prefix found open at the venue but not tracked (cancelled).
    pub orphans: u64,
    /// Order connections lost.
    pub disconnects: u64,
    /// Illegal state transitions ignored (a reconciliation signal).
    pub illegal: u64,
    /// Inputs naming an order we do not track.
    pub unknown_ids: u64,
    /// 429 answers.
    pub http_429: u64,
    /// 418 answers (must stay 0).
    pub http_418: u64,
    /// Times venue usage drained the venue-order bucket.
    pub venue_rate_near: u64,
    /// Sends that failed (the connection is reset).
    pub send_errors: u64,
    /// Requotes skipped because the order table was nearly full.
    pub table_full: u64,
    /// Last venue ORDERS/10 s usage (count, limit).
    pub venue_orders_10s: (u64, u64),
    /// Restarts on this journal (recoveries).
    pub restarts: u64,
}

/// Where the session stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SessionState {
    /// No order connection.
    Connecting = 0,
    /// Connected; reconciling open orders.
    Reconciling = 1,
    /// Quoting.
    Quoting = 2,
    /// Connected and reconciled, but the book is stale.
    Stale = 3,
    /// The kill switch is latched.
    Killed = 4,
    /// Stopping (cancel all, then exit).
    Stopping = 5,
    /// Stopped.
    Stopped = 6,
}

impl SessionState {
    /// The name used in status.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Reconciling => "reconciling",
            Self::Quoting => "quoting",
            Self::Stale => "stale",
            Self::Killed => "killed",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
        }
    }
}

/// Static settings of a [`SessionCore`].
#[derive(Clone, Copy, Debug)]
pub struct SessionSettings {
    /// The instrument.
    pub inst: PipelineInstrument,
    /// Its risk limits.
    pub limits: RiskLimits,
    /// Client id prefix (at most 8 bytes).
    pub prefix: [u8; 8],
    /// Used bytes of `prefix`.
    pub prefix_len: usize,
    /// No answer within this → UNKNOWN.
    pub order_timeout_ns: u64,
    /// Fraction (percent) of a venue rate limit at which our venue-order bucket is drained.
    pub venue_rate_guard_pct: u64,
}

/// Control requests (not quoting actions): masked frames into a fixed buffer.
struct Control {
    symbol: [u8; 20],
    symbol_len: usize,
    prefix: [u8; 8],
    prefix_len: usize,
    mask: MaskGen,
    json: [u8; 512],
    out: [u8; 600],
}

impl Control {
    fn send<T: TxTransport>(
        &mut self,
        tx: &mut T,
        rid: u64,
        method: &[u8],
        id: Option<ClientOrderId>,
        now_ms: u64,
    ) -> std::io::Result<()> {
        let auth = Auth {
            api_key: None,
            timestamp_ms: now_ms,
            recv_window_ms: None,
        };
        let n = binance_ws::encode_symbol_request(
            rid,
            method,
            &self.symbol[..self.symbol_len],
            id,
            &self.prefix[..self.prefix_len],
            &auth,
            None,
            &mut self.json,
        )
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        let m = encode_frame(
            Opcode::Text,
            &self.json[..n],
            self.mask.next_mask(),
            &mut self.out,
        )
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        tx.send(&self.out[..m]).map(|_| ())
    }
}

const FIRST_QUERY_DELAY_NS: u64 = 200_000_000;
const MAX_BACKOFF_NS: u64 = 5_000_000_000;

/// The deterministic session core. See the module docs.
pub struct SessionCore {
    core: QuotingCore<BinanceWsEncoder>,
    ctl: Control,
    settings: SessionSettings,
    params: QuoteParams,
    top: Top,
    stale: bool,
    /// When the feed last confirmed `top` (the last `Input::Top`'s `ts_recv`): the risk collar's
    /// reference time, so a silent feed makes the reference stale (fail closed).
    top_at: UnixNanos,
    connected: bool,
    reconciling: bool,
    open_pending: bool,
    epoch: u32,
    stopping: bool,
    finished: bool,
    kill_confirmed: bool,
    cancel_all_pending: bool,
    rate_block_until: UnixNanos,
    last_ts: UnixNanos,
    orders: [Option<OrderSlot>; MAX_ORDERS],
    account: Account,
    counters: SessionCounters,
    events: EventSink,
    reconnect_needed: bool,
    decoder: InputDecoder,
    last_seq: u64,
    /// Send times of our recent new orders (FIFO ring): our own count of the venue's ORDERS/10 s
    /// window, so our throttle trips before the venue's even with orders in flight.
    order_times: [u64; ORDER_RING],
    order_head: usize,
    order_len: usize,
    /// The venue's ORDERS/10 s limit, learned from `rateLimits` (0: not known yet).
    venue_orders_limit: u64,
}

/// Capacity of the recent-orders ring (above any venue's 10 s order limit we meet).
pub const ORDER_RING: usize = 1024;
const VENUE_ORDER_WINDOW_NS: u64 = 10_000_000_000;

impl SessionCore {
    /// A core quoting `settings.inst` with `risk` (limits set here), client ids from `ids`,
    /// starting `params`, events into `events`, masks from `mask_seed`.
    pub fn new(
        settings: SessionSettings,
        mut risk: PreTradeRisk,
        params_reader: crate::engine::params::ParamReader<QuoteParams, QUOTE_PARAM_WORDS>,
        ids: IdRange,
        params: QuoteParams,
        events: EventSink,
        mask_seed: u64,
    ) -> Self {
        risk.set_limits(settings.inst.id, settings.limits);
        let prefix = &settings.prefix[..settings.prefix_len];
        let enc = BinanceWsEncoder::new(&settings.inst, prefix, MaskGen::new(mask_seed));
        Self {
            core: QuotingCore::new(settings.inst.id, risk, params_reader, ids, enc),
            ctl: Control {
                symbol: settings.inst.symbol,
                symbol_len: settings.inst.symbol_len,
                prefix: settings.prefix,
                prefix_len: settings.prefix_len,
                mask: MaskGen::new(mask_seed.rotate_left(17) ^ 0x5DEE_CE66_D1CE_4E5B),
                json: [0; 512],
                out: [0; 600],
            },
            settings,
            params,
            top: Top::default(),
            stale: true,
            top_at: UnixNanos(0),
            connected: false,
            reconciling: false,
            open_pending: false,
            epoch: 0,
            stopping: false,
            finished: false,
            kill_confirmed: false,
            cancel_all_pending: false,
            rate_block_until: UnixNanos(0),
            last_ts: UnixNanos(0),
            orders: [None; MAX_ORDERS],
            account: Account::default(),
            counters: SessionCounters::default(),
            events,
            reconnect_needed: false,
            decoder: InputDecoder::default(),
            last_seq: 0,
            order_times: [0; ORDER_RING],
            order_head: 0,
            order_len: 0,
            venue_orders_limit: 0,
        }
    }

    /// Orders we sent within the venue's 10 s window ending at `ts` (expired ones are dropped).
    fn orders_in_window(&mut self, ts: UnixNanos) -> u64 {
        while self.order_len > 0 {
            let tail = (self.order_head + ORDER_RING - self.order_len) % ORDER_RING;
            if self.order_times[tail].saturating_add(VENUE_ORDER_WINDOW_NS) > ts.0 {
                break;
            }
            self.order_len -= 1;
        }
        self.order_len as u64
    }

    fn note_order_sent(&mut self, ts: UnixNanos) {
        self.order_times[self.order_head] = ts.0;
        self.order_head = (self.order_head + 1) % ORDER_RING;
        self.order_len = (self.order_len + 1).min(ORDER_RING);
    }

    /// Applies one input; frames go to `tx` (the order connection). Returns how many frames were
    /// sent. A send failure marks the connection for reset ([`SessionCore::take_reconnect`]).
    ///
    /// # Hot path
    /// No allocation, no clock read, no lock.
    pub fn apply<T: TxTransport>(&mut self, s: &Stamped, tx: &mut T) -> usize {
        self.counters.inputs += 1;
        self.last_ts = s.ts_recv;
        let ts = s.ts_recv;
        let mut sent = 0;
        match s.input {
            Input::Top { top, stale } => {
                let was_stale = self.stale;
                self.top = top;
                self.stale = stale;
                self.top_at = ts;
                if stale && !was_stale {
                    self.emit(EventKind::Stale, None, s, Price::ZERO, Qty::ZERO, 0, 1);
                }
                let (bp, bq) = top.bid.unwrap_or((Price::ZERO, Qty::ZERO));
                let (ap, aq) = top.ask.unwrap_or((Price::ZERO, Qty::ZERO));
                self.emit(
                    EventKind::TopOfBook,
                    None,
                    s,
                    bp,
                    bq,
                    aq.lots() as u64,
                    ap.ticks(),
                );
                sent += self.requote(s, tx);
            }
            Input::Params { params } => {
                self.params = params;
                sent += self.requote(s, tx);
            }
            Input::Command(c) => sent += self.command(c, s, tx),
            Input::Tick => sent += self.tick(s, tx),
            Input::OrderConnected => {
                self.connected = true;
                self.reconciling = true;
                self.open_pending = true;
                self.epoch += 1;
                let now_ms = ts.0 / 1_000_000;
                if self.ctl_send(tx, CTL_OPEN_ORDERS, b"openOrders.status", None, now_ms) {
                    sent += 1;
                }
                if self.core.risk().is_killed() || self.stopping {
                    sent += self.cancel_all(s, tx);
                }
            }
            Input::OrderDisconnected => self.disconnected(s),
            Input::Ack { id, venue_id } => {
                if let Some(i) = self.find(id) {
                    self.on_accepted(i, venue_id, s);
                } else {
                    self.counters.unknown_ids += 1;
                }
            }
            Input::OrderError { id, status, code } => {
                sent += self.order_error(id, status, code, s, tx)
            }
            Input::CancelAck { id } => {
                if let Some(i) = self.find(id) {
                    self.finish(i, EventKind::OrderCanceled, OrderEventKind::Canceled, 0, s);
                }
                sent += self.requote(s, tx);
            }
            Input::CancelError { id, status, code } => {
                if status == 429 || status == 418 {
                    return sent;
                }
                self.core.on_cancel_rejected(id);
                if let Some(i) = self.find(id) {
                    // The order stands or already finished: find out.
                    let _ = code;
                    self.make_unknown(i, s, FIRST_QUERY_DELAY_NS / 2);
                }
            }
            Input::Status {
                id,
                found,
                status,
                executed,
                cum_quote,
                venue_id,
            } => {
                if let Some(i) = self.find(id) {
                    self.resolve(i, found, status, executed, cum_quote, venue_id, s);
                } else {
                    self.counters.unknown_ids += 1;
                }
                sent += self.check_reconciled(s, tx);
            }
            Input::StatusError { id, .. } => {
                if let Some(i) = self.find(id) {
                    if let Some(o) = self.orders[i].as_mut() {
                        o.query_at = UnixNanos(ts.0 + o.backoff_ns.max(FIRST_QUERY_DELAY_NS));
                    }
                }
            }
            Input::OpenOrder {
                id,
                status,
                executed,
                cum_quote,
                venue_id,
            } => match id.and_then(|id| self.find(id).map(|i| (id, i))) {
                Some((_, i)) => {
                    if let Some(o) = self.orders[i].as_mut() {
                        o.seen_epoch = self.epoch;
                    }
                    self.resolve(i, true, status, executed, cum_quote, venue_id, s);
                }
                None => {
                    if let Some(id) = id {
                        // Ours by prefix, not tracked (a previous run's order): cancel it.
                        self.counters.orphans += 1;
                        let now_ms = ts.0 / 1_000_000;
                        if self.ctl_send(tx, RID_CANCEL | id.0, b"order.cancel", Some(id), now_ms) {
                            sent += 1;
                        }
                    }
                }
            },
            Input::OpenOrdersEnd { ok } => {
                if ok {
                    self.open_pending = false;
                    for i in 0..MAX_ORDERS {
                        let Some(o) = self.orders[i] else { continue };
                        if !o.state.is_terminal() && o.seen_epoch != self.epoch {
                            // Not open at the venue: filled, cancelled or never placed.
                            self.make_unknown(i, s, 0);
                        }
                    }
                    sent += self.tick(s, tx);
                    sent += self.check_reconciled(s, tx);
                } else {
                    // Retried on the next connect; stay reconciling (no quoting).
                    let now_ms = ts.0 / 1_000_000;
                    if self.connected
                        && self.ctl_send(tx, CTL_OPEN_ORDERS, b"openOrders.status", None, now_ms)
                    {
                        sent += 1;
                    }
                }
            }
            Input::CancelAllDone { code } => {
                self.cancel_all_pending = false;
                if code == 0 || code == -2011 {
                    self.kill_confirmed = self.core.risk().is_killed() || self.stopping;
                }
                self.check_finished();
            }
            Input::Exec {
                id,
                venue_id,
                kind,
                status,
                side,
                last_qty,
                last_price,
                last_quote,
                commission,
                fee_asset,
                cum_qty,
            } => {
                let i = self.find(id);
                if let Some(i) = i {
                    // `z` says how much the venue filled before this report: fills whose reports
                    // never reached us are applied now (commission unknown).
                    let this = if kind == ExecKind::Trade {
                        last_qty
                    } else {
                        Qty::ZERO
                    };
                    self.apply_gap(i, cum_qty, this, s);
                }
                match kind {
                    ExecKind::New => {
                        if let Some(i) = i {
                            self.on_accepted(i, venue_id, s);
                        }
                    }
                    ExecKind::Trade => {
                        self.account_fill(side, last_quote, last_qty, commission, fee_asset);
                        let _ = cum_qty;
                        self.fill(i, id, side, last_qty, last_price, last_quote, s);
                        sent += self.requote(s, tx);
                    }
                    ExecKind::Canceled | ExecKind::Expired => {
                        if let Some(i) = i {
                            self.finish(
                                i,
                                EventKind::OrderCanceled,
                                OrderEventKind::Canceled,
                                0,
                                s,
                            );
                        }
                        sent += self.requote(s, tx);
                    }
                    ExecKind::Rejected => {
                        if let Some(i) = i {
                            self.finish(
                                i,
                                EventKind::OrderRejected,
                                OrderEventKind::Rejected,
                                0,
                                s,
                            );
                        }
                    }
                    ExecKind::Other => {}
                }
                let _ = status;
            }
            Input::Rate {
                orders_10s,
                orders_10s_limit,
                weight_1m,
                weight_1m_limit,
            } => {
                self.counters.venue_orders_10s = (orders_10s, orders_10s_limit);
                if orders_10s_limit > 0 {
                    self.venue_orders_limit = orders_10s_limit;
                }
                let pct = self.settings.venue_rate_guard_pct;
                let near = |c: u64, l: u64| l > 0 && c.saturating_mul(100) >= l.saturating_mul(pct);
                if near(orders_10s, orders_10s_limit) || near(weight_1m, weight_1m_limit) {
                    // Hold new orders for a tenth of the venue's 10 s window, then re-read usage.
                    self.counters.venue_rate_near += 1;
                    self.core
                        .risk_mut()
                        .block_venue_orders_until(UnixNanos(ts.0 + 1_000_000_000), ts);
                }
            }
            Input::Restart => {
                self.stopping = false;
                self.finished = false;
                self.cancel_all_pending = false;
                self.reconnect_needed = false;
                self.stale = true;
                self.counters.restarts += 1;
                if self.connected {
                    self.disconnected(s);
                } else {
                    for i in 0..MAX_ORDERS {
                        if self.orders[i].is_some() {
                            self.make_unknown(i, s, FIRST_QUERY_DELAY_NS);
                        }
                    }
                }
            }
            Input::IdBlock { next, end } => {
                // Never below ids already used: a block is a reservation above the high-water mark.
                let next = next.max(self.core.ids_next());
                self.core.refill_ids(IdRange {
                    next,
                    end: end.max(next),
                });
            }
            Input::RateLimited { status, until } => {
                if status == 418 {
                    self.counters.http_418 += 1;
                } else {
                    self.counters.http_429 += 1;
                }
                if until.0 > self.rate_block_until.0 {
                    self.rate_block_until = until;
                }
                self.core.risk_mut().block_venue_orders_until(until, ts);
            }
        }
        if self.reconnect_needed && self.connected {
            self.disconnected(s);
        }
        sent
    }

    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        kind: EventKind,
        side: Option<Side>,
        s: &Stamped,
        price: Price,
        qty: Qty,
        order_id: u64,
        aux: i64,
    ) {
        self.events.emit(EngineEvent::new(
            kind,
            self.settings.inst.id,
            side,
            self.counters.inputs,
            s.ts_event,
            s.ts_recv,
            price,
            qty,
            order_id,
            aux,
        ));
    }

    fn find(&self, id: ClientOrderId) -> Option<usize> {
        self.orders
            .iter()
            .position(|o| o.is_some_and(|o| o.id == id))
    }

    fn free_slots(&self) -> usize {
        self.orders.iter().filter(|o| o.is_none()).count()
    }

    fn insert(&mut self, slot: OrderSlot) -> bool {
        match self.orders.iter_mut().find(|o| o.is_none()) {
            Some(o) => {
                *o = Some(slot);
                true
            }
            None => false,
        }
    }

    fn step(&mut self, i: usize, ev: OrderEventKind) -> bool {
        let Some(o) = self.orders[i].as_mut() else {
            return false;
        };
        match transition(o.state, ev) {
            Ok(next) => {
                o.state = next;
                true
            }
            Err(_) => {
                self.counters.illegal += 1;
                false
            }
        }
    }

    fn on_accepted(&mut self, i: usize, venue_id: u64, s: &Stamped) {
        let Some(o) = self.orders[i] else { return };
        if matches!(o.state, OrderState::PendingNew | OrderState::Unknown) {
            self.step(i, OrderEventKind::Accepted(VenueOrderId(venue_id)));
        }
        if let Some(o) = self.orders[i].as_mut() {
            o.venue_id = venue_id;
            if o.state != OrderState::Unknown {
                o.query_at = UnixNanos(0);
            }
            if !o.accepted_emitted {
                o.accepted_emitted = true;
                let o = *o;
                self.counters.accepted += 1;
                self.emit(
                    EventKind::OrderAccepted,
                    Some(o.side),
                    s,
                    o.price,
                    o.qty,
                    o.id.0,
                    venue_id as i64,
                );
            }
        }
    }

    /// Terminal outcome: release quoter and risk, emit, free the slot.
    fn finish(&mut self, i: usize, kind: EventKind, ev: OrderEventKind, aux: i64, s: &Stamped) {
        let Some(o) = self.orders[i] else { return };
        if o.state.is_terminal() {
            self.orders[i] = None;
            return;
        }
        if !self.step(i, ev) {
            // Force the outcome the venue reported (a reconciliation signal, counted above).
            if let Some(o) = self.orders[i].as_mut() {
                o.state = OrderState::Canceled;
            }
        }
        self.core.on_order_done(o.id);
        match kind {
            EventKind::OrderRejected => self.counters.rejected += 1,
            _ => self.counters.canceled += 1,
        }
        let open = Qty::from_lots(o.qty.lots() - o.filled.lots());
        self.emit(kind, Some(o.side), s, o.price, open, o.id.0, aux);
        self.orders[i] = None;
        self.check_finished();
    }

    fn make_unknown(&mut self, i: usize, s: &Stamped, query_delay: u64) {
        let Some(o) = self.orders[i] else { return };
        if o.state.is_terminal() {
            return;
        }
        if o.state != OrderState::Unknown {
            self.step(i, OrderEventKind::Timeout);
            self.core.on_order_unknown(o.id);
            self.counters.unknown += 1;
            self.emit(
                EventKind::OrderUnknown,
                Some(o.side),
                s,
                o.price,
                Qty::from_lots(o.qty.lots() - o.filled.lots()),
                o.id.0,
                0,
            );
        }
        if let Some(o) = self.orders[i].as_mut() {
            o.state = OrderState::Unknown;
            if o.query_at.0 == 0 || query_delay == 0 {
                // Never 0 (the "no query" mark): input times are epoch nanoseconds.
                o.query_at = UnixNanos((s.ts_recv.0 + query_delay).max(1));
                o.backoff_ns = FIRST_QUERY_DELAY_NS;
            }
        }
    }

    fn account_fill(&mut self, side: Side, quote: i64, qty: Qty, commission: i64, fee: FeeAsset) {
        let base = qty.lots().saturating_mul(self.lot_e8());
        let sign = side.sign();
        let a = &mut self.account;
        a.base = a.base.saturating_add(sign * base);
        a.quote = a.quote.saturating_sub(sign * quote);
        match fee {
            FeeAsset::Base => {
                a.base -= commission;
                a.base_fees += commission;
            }
            FeeAsset::Quote => {
                a.quote -= commission;
                a.quote_fees += commission;
            }
            FeeAsset::Other => a.other_fees += commission,
            FeeAsset::None => {}
        }
        a.fills += 1;
    }

    /// One lot in 1e-8 units of the base asset.
    fn lot_e8(&self) -> i64 {
        let lot = self.settings.inst.lot;
        let exp = i32::from(lot.exp());
        let m = lot.mantissa();
        if exp <= 8 {
            m.saturating_mul(10i64.pow((8 - exp) as u32))
        } else {
            m / 10i64.pow((exp - 8) as u32)
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn fill(
        &mut self,
        i: Option<usize>,
        id: ClientOrderId,
        side: Side,
        qty: Qty,
        price: Price,
        quote: i64,
        s: &Stamped,
    ) {
        self.core.on_fill(id, side, qty, s.ts_recv);
        let Some(i) = i else {
            self.account.untracked_fills += 1;
            self.emit(EventKind::OrderFilled, Some(side), s, price, qty, id.0, -1);
            return;
        };
        let Some(o) = self.orders[i].as_mut() else {
            return;
        };
        o.filled = Qty::from_lots(o.filled.lots() + qty.lots());
        o.cum_quote = o.cum_quote.saturating_add(quote);
        let leaves = Qty::from_lots((o.qty.lots() - o.filled.lots()).max(0));
        let o = *o;
        self.step(i, OrderEventKind::Filled { qty, leaves });
        self.emit(
            EventKind::OrderFilled,
            Some(side),
            s,
            price,
            qty,
            id.0,
            leaves.lots(),
        );
        if leaves.lots() == 0 || self.orders[i].is_some_and(|o| o.state.is_terminal()) {
            let _ = o;
            self.orders[i] = None;
            self.check_finished();
        }
    }

    /// The quote amount (1e-8 units) of `lots` at `price`.
    fn quote_of(&self, price: Price, lots: i64) -> i64 {
        let tick = self.settings.inst.tick;
        let exp = i32::from(tick.exp());
        let per_tick_e8 = if exp <= 8 {
            i128::from(tick.mantissa()) * 10i128.pow((8 - exp) as u32)
        } else {
            i128::from(tick.mantissa()) / 10i128.pow((exp - 8) as u32)
        };
        let q =
            i128::from(price.ticks()) * per_tick_e8 * i128::from(lots) * i128::from(self.lot_e8())
                / 100_000_000;
        i64::try_from(q).unwrap_or(i64::MAX)
    }

    /// A user-stream report on tracked order `i` says the venue had filled `cum_qty` (`z`) after
    /// it, of which `this` is the report's own fill: if we applied less before it, the reports of
    /// the difference were lost (or failed to decode). Apply it now at the order's limit price (a
    /// resting maker order fills there), counted as a fill without fee, so the position never
    /// waits for `order.status` and never drifts when the order ends by a normal cancel.
    fn apply_gap(&mut self, i: usize, cum_qty: Qty, this: Qty, s: &Stamped) {
        let Some(o) = self.orders[i] else { return };
        let gap = cum_qty.lots() - this.lots() - o.filled.lots();
        if gap <= 0 {
            return;
        }
        let quote = self.quote_of(o.price, gap);
        self.account_fill(o.side, quote, Qty::from_lots(gap), 0, FeeAsset::None);
        self.account.fills_without_fee += 1;
        self.account.stream_gaps += 1;
        self.fill(
            Some(i),
            o.id,
            o.side,
            Qty::from_lots(gap),
            o.price,
            quote,
            s,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn resolve(
        &mut self,
        i: usize,
        found: bool,
        status: VenueStatus,
        executed: Qty,
        cum_quote: i64,
        venue_id: u64,
        s: &Stamped,
    ) {
        let Some(o) = self.orders[i] else { return };
        if !found {
            // The venue never had it.
            self.finish(
                i,
                EventKind::OrderRejected,
                OrderEventKind::NotFound,
                -2013,
                s,
            );
            return;
        }
        let missed = executed.lots() - o.filled.lots();
        if missed > 0 {
            // Fills whose user-stream reports were lost with the connection.
            let quote = cum_quote - o.cum_quote;
            self.account_fill(o.side, quote, Qty::from_lots(missed), 0, FeeAsset::None);
            self.account.fills_without_fee += 1;
            let px = if missed > 0 {
                let lots_e8 = i128::from(missed) * i128::from(self.lot_e8());
                // quote / base in 1e-8 → ticks.
                let tick = self.settings.inst.tick;
                let ticks_per_unit =
                    10i128.pow(u32::from(tick.exp())) / i128::from(tick.mantissa().max(1));
                let p = i128::from(quote) * ticks_per_unit / lots_e8.max(1);
                Price::from_ticks(p as i64)
            } else {
                Price::ZERO
            };
            self.fill(Some(i), o.id, o.side, Qty::from_lots(missed), px, quote, s);
            if self.orders[i].is_none() {
                return;
            }
        }
        if status.is_open() {
            self.on_accepted(i, venue_id, s);
            if let Some(o) = self.orders[i].as_mut() {
                if o.state == OrderState::Unknown {
                    // A cancel was pending when it went UNKNOWN: still open, quoter may re-cancel.
                    o.state = OrderState::New;
                }
                o.query_at = UnixNanos(0);
                let id = o.id;
                self.core.on_cancel_rejected(id);
            }
        } else {
            match status {
                VenueStatus::Filled => {
                    // Filled but our fills disagree (the delta was applied above); done.
                    self.finish(i, EventKind::OrderCanceled, OrderEventKind::Canceled, 0, s);
                }
                VenueStatus::Rejected => {
                    self.finish(i, EventKind::OrderRejected, OrderEventKind::Rejected, 0, s)
                }
                _ => self.finish(i, EventKind::OrderCanceled, OrderEventKind::Canceled, 0, s),
            }
        }
    }

    fn order_error<T: TxTransport>(
        &mut self,
        id: ClientOrderId,
        status: u16,
        code: i64,
        s: &Stamped,
        tx: &mut T,
    ) -> usize {
        let Some(i) = self.find(id) else {
            self.counters.unknown_ids += 1;
            return 0;
        };
        let Some(o) = self.orders[i] else { return 0 };
        let status_unknown = code == -1007 || code == -1006 || status >= 500;
        if status_unknown {
            self.make_unknown(i, s, FIRST_QUERY_DELAY_NS);
            if o.replaces.0 != 0 {
                if let Some(j) = self.find(o.replaces) {
                    self.make_unknown(j, s, FIRST_QUERY_DELAY_NS);
                }
            }
            return 0;
        }
        // Refused: the new order does not exist.
        self.finish(
            i,
            EventKind::OrderRejected,
            OrderEventKind::Rejected,
            code,
            s,
        );
        if o.replaces.0 != 0 {
            // A cancel-replace whose cancel leg failed: the old order's fate must be checked.
            self.core.on_cancel_rejected(o.replaces);
            if let Some(j) = self.find(o.replaces) {
                self.make_unknown(j, s, FIRST_QUERY_DELAY_NS / 2);
            }
        }
        if status == 429 || status == 418 {
            return 0;
        }
        self.requote(s, tx)
    }

    fn disconnected(&mut self, s: &Stamped) {
        self.reconnect_needed = false;
        if !self.connected {
            return;
        }
        self.connected = false;
        self.reconciling = false;
        self.open_pending = false;
        self.cancel_all_pending = false;
        self.counters.disconnects += 1;
        for i in 0..MAX_ORDERS {
            if self.orders[i].is_some() {
                self.make_unknown(i, s, FIRST_QUERY_DELAY_NS);
            }
        }
    }

    fn ctl_send<T: TxTransport>(
        &mut self,
        tx: &mut T,
        rid: u64,
        method: &[u8],
        id: Option<ClientOrderId>,
        now_ms: u64,
    ) -> bool {
        if !self.connected {
            return false;
        }
        match self.ctl.send(tx, rid, method, id, now_ms) {
            Ok(()) => true,
            Err(_) => {
                self.counters.send_errors += 1;
                self.reconnect_needed = true;
                false
            }
        }
    }

    fn cancel_all<T: TxTransport>(&mut self, s: &Stamped, tx: &mut T) -> usize {
        let now_ms = s.ts_recv.0 / 1_000_000;
        if !self.ctl_send(tx, CTL_CANCEL_ALL, b"openOrders.cancelAll", None, now_ms) {
            return 0;
        }
        self.cancel_all_pending = true;
        self.core.risk_mut().on_cancel_sent(s.ts_recv);
        for i in 0..MAX_ORDERS {
            let Some(o) = self.orders[i] else { continue };
            if matches!(
                o.state,
                OrderState::PendingNew | OrderState::New | OrderState::PartiallyFilled
            ) {
                self.step(i, OrderEventKind::CancelSent);
                self.core.quoter_cancel_sent(o.id);
                if let Some(o) = self.orders[i].as_mut() {
                    o.sent_at = s.ts_recv;
                }
            }
        }
        1
    }

    fn command<T: TxTransport>(&mut self, c: Command, s: &Stamped, tx: &mut T) -> usize {
        match c {
            Command::Kill => {
                let first = !self.core.risk().is_killed();
                self.core.risk_mut().kill();
                self.kill_confirmed = false;
                if first {
                    self.emit(EventKind::Kill, None, s, Price::ZERO, Qty::ZERO, 0, 1);
                }
                self.cancel_all(s, tx)
            }
            Command::Lift => {
                if self.core.risk().is_killed() {
                    self.core.risk_mut().lift_kill();
                    self.kill_confirmed = false;
                    self.emit(EventKind::Kill, None, s, Price::ZERO, Qty::ZERO, 0, 0);
                }
                // The person's lift also re-arms the repeated-execution throttle (fault-matrix
                // row 19): nothing else clears it, a restart included (the journal replays it).
                if self.core.risk().is_throttled() {
                    self.core.risk_mut().rearm_throttle();
                }
                self.requote(s, tx)
            }
            Command::Stop => {
                self.stopping = true;
                let n = self.cancel_all(s, tx);
                if !self.connected {
                    // Nothing can be cancelled without a connection: finish (UNKNOWN orders stay
                    // at the venue and are reconciled by the next start).
                    self.finished = true;
                }
                self.check_finished();
                n
            }
        }
    }

    fn check_finished(&mut self) {
        if self.stopping
            && !self.cancel_all_pending
            && self
                .orders
                .iter()
                .all(|o| o.is_none_or(|o| o.state.is_terminal()))
        {
            self.finished = true;
        }
    }

    fn tick<T: TxTransport>(&mut self, s: &Stamped, tx: &mut T) -> usize {
        let ts = s.ts_recv;
        let mut sent = 0;
        for i in 0..MAX_ORDERS {
            let Some(o) = self.orders[i] else { continue };
            match o.state {
                OrderState::PendingNew | OrderState::PendingCancel
                    if ts.0 >= o.sent_at.0.saturating_add(self.settings.order_timeout_ns) =>
                {
                    self.make_unknown(i, s, 0);
                }
                _ => {}
            }
            let Some(o) = self.orders[i] else { continue };
            if o.state == OrderState::Unknown
                && o.query_at.0 != 0
                && ts.0 >= o.query_at.0
                && self.connected
                && !self.open_pending
            {
                let now_ms = ts.0 / 1_000_000;
                if self.ctl_send(tx, RID_STATUS | o.id.0, b"order.status", Some(o.id), now_ms) {
                    sent += 1;
                    self.counters.queries += 1;
                }
                if let Some(o) = self.orders[i].as_mut() {
                    o.query_at = UnixNanos(ts.0 + o.backoff_ns);
                    o.backoff_ns = (o.backoff_ns * 2).min(MAX_BACKOFF_NS);
                }
            }
        }
        if self.params.ttl_ns > 0
            || (self.rate_block_until.0 != 0 && ts.0 >= self.rate_block_until.0)
        {
            if ts.0 >= self.rate_block_until.0 {
                self.rate_block_until = UnixNanos(0);
            }
            sent += self.requote(s, tx);
        }
        sent
    }

    fn check_reconciled<T: TxTransport>(&mut self, s: &Stamped, tx: &mut T) -> usize {
        if !self.reconciling || self.open_pending {
            return 0;
        }
        if self
            .orders
            .iter()
            .any(|o| o.is_some_and(|o| o.state == OrderState::Unknown))
        {
            return 0;
        }
        self.reconciling = false;
        self.counters.reconciles += 1;
        self.requote(s, tx)
    }

    /// Whether new quotes may go out now.
    fn may_quote(&self, ts: UnixNanos) -> bool {
        // A venue rate block does not stop requoting: cancels still go out, and risk refuses new
        // orders until the block ends (counted as rate denials).
        let _ = ts;
        self.connected && !self.reconciling && !self.stopping && !self.core.risk().is_killed()
    }

    fn requote<T: TxTransport>(&mut self, s: &Stamped, tx: &mut T) -> usize {
        let ts = s.ts_recv;
        if !self.may_quote(ts) {
            return 0;
        }
        if self.free_slots() < crate::quoter::MAX_ACTIONS {
            self.counters.table_full += 1;
            return 0;
        }
        if self.venue_orders_limit > 0 {
            // Our own window count: if one more full requote could pass the guard, refuse new
            // orders until the oldest of ours leaves the window.
            let guard = self.venue_orders_limit * self.settings.venue_rate_guard_pct / 100;
            let burst = 2 * self
                .params
                .levels
                .clamp(1, crate::quoter::MAX_LEVELS as i64) as u64;
            if self.orders_in_window(ts) + burst > guard && self.order_len > 0 {
                let tail = (self.order_head + ORDER_RING - self.order_len) % ORDER_RING;
                let until = UnixNanos(self.order_times[tail] + VENUE_ORDER_WINDOW_NS);
                self.counters.venue_rate_near += 1;
                self.core.risk_mut().block_venue_orders_until(until, ts);
            }
        }
        let now_ms = ts.0 / 1_000_000;
        let r = self.core.requote_with(
            &self.params,
            self.top,
            self.stale,
            self.top_at,
            ts,
            now_ms,
            tx,
            &mut crate::engine::pipeline::NoStages,
        );
        let mut n = 0;
        for k in 0..self.core.sent().as_slice().len() {
            let e = self.core.sent().as_slice()[k];
            match e {
                Sent::New {
                    id,
                    side,
                    price,
                    qty,
                } => {
                    n += 1;
                    self.note_order_sent(ts);
                    self.track(id, side, price, qty, ClientOrderId(0), ts);
                }
                Sent::Replace {
                    old,
                    id,
                    side,
                    price,
                    qty,
                } => {
                    n += 1;
                    self.note_order_sent(ts);
                    self.track(id, side, price, qty, old, ts);
                    if let Some(i) = self.find(old) {
                        self.step(i, OrderEventKind::CancelSent);
                        if let Some(o) = self.orders[i].as_mut() {
                            o.sent_at = ts;
                        }
                    }
                }
                Sent::Cancel { id } => {
                    n += 1;
                    if let Some(i) = self.find(id) {
                        self.step(i, OrderEventKind::CancelSent);
                        if let Some(o) = self.orders[i].as_mut() {
                            o.sent_at = ts;
                        }
                    }
                }
                Sent::Denied {
                    side,
                    price,
                    qty,
                    reason,
                } => {
                    self.counters.denied += 1;
                    if matches!(reason, DenyReason::VenueOrderRate | DenyReason::MessageRate) {
                        self.counters.rate_denied += 1;
                    }
                    self.emit(
                        EventKind::OrderDenied,
                        Some(side),
                        s,
                        price,
                        qty,
                        0,
                        reason as i64,
                    );
                }
            }
        }
        if r.is_err() {
            self.counters.send_errors += 1;
            self.reconnect_needed = true;
        }
        n
    }

    fn track(
        &mut self,
        id: ClientOrderId,
        side: Side,
        price: Price,
        qty: Qty,
        replaces: ClientOrderId,
        ts: UnixNanos,
    ) {
        let slot = OrderSlot {
            id,
            side,
            price,
            qty,
            filled: Qty::ZERO,
            cum_quote: 0,
            state: OrderState::PendingNew,
            venue_id: 0,
            sent_at: ts,
            query_at: UnixNanos(0),
            backoff_ns: FIRST_QUERY_DELAY_NS,
            replaces,
            seen_epoch: 0,
            accepted_emitted: false,
        };
        if !self.insert(slot) {
            // Checked before requoting; counted if it ever happens.
            self.counters.table_full += 1;
        }
    }

    /// Whether the live loop must drop and reconnect the order connection (a send failed).
    pub fn take_reconnect(&mut self) -> bool {
        std::mem::take(&mut self.reconnect_needed)
    }

    /// Whether an orderly stop has finished (nothing open, cancel-all answered).
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// The session's state.
    pub fn state(&self) -> SessionState {
        if self.finished {
            SessionState::Stopped
        } else if self.stopping {
            SessionState::Stopping
        } else if self.core.risk().is_killed() {
            SessionState::Killed
        } else if !self.connected {
            SessionState::Connecting
        } else if self.reconciling {
            SessionState::Reconciling
        } else if self.stale {
            SessionState::Stale
        } else {
            SessionState::Quoting
        }
    }

    /// Tracked orders.
    pub fn orders(&self) -> impl Iterator<Item = &OrderSlot> {
        self.orders.iter().flatten()
    }

    /// Account effects of our fills.
    pub fn account(&self) -> Account {
        self.account
    }

    /// Counters.
    pub fn counters(&self) -> SessionCounters {
        self.counters
    }

    /// The quoting core (quoter, risk, stats).
    pub fn core(&self) -> &QuotingCore<BinanceWsEncoder> {
        &self.core
    }

    /// The current parameters.
    pub fn params(&self) -> QuoteParams {
        self.params
    }

    /// The last top of book and whether it is stale.
    pub fn top(&self) -> (Top, bool) {
        (self.top, self.stale)
    }

    /// Whether the kill latch is set, and whether cancel-all was confirmed since.
    pub fn kill_state(&self) -> (bool, bool) {
        (self.core.risk().is_killed(), self.kill_confirmed)
    }

    /// Events the ring refused.
    pub fn events_dropped(&self) -> u64 {
        self.events.dropped()
    }

    /// Settings.
    pub fn settings(&self) -> &SessionSettings {
        &self.settings
    }

    /// Hands the core a fresh block of client ids.
    pub fn refill_ids(&mut self, ids: IdRange) {
        self.core.refill_ids(ids);
    }

    /// Ids left in the reserved block.
    pub fn ids_left(&self) -> u64 {
        self.core.ids_left()
    }

    /// (working buy lots, working sell lots), UNKNOWN included.
    pub fn working_lots(&self) -> (i64, i64) {
        self.orders()
            .filter(|o| !o.state.is_terminal())
            .fold((0, 0), |(b, s), o| {
                let open = o.qty.lots() - o.filled.lots();
                match o.side {
                    Side::Buy => (b + open, s),
                    Side::Sell => (b, s + open),
                }
            })
    }

    /// A BLAKE3 digest of the decision state (orders, account, position, params, flags): two runs
    /// that applied the same inputs have the same digest.
    pub fn digest(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        for o in self.orders() {
            for v in [
                o.id.0,
                o.side as u64,
                o.price.ticks() as u64,
                o.qty.lots() as u64,
                o.filled.lots() as u64,
                o.cum_quote as u64,
                o.state as u64,
                o.venue_id,
                o.sent_at.0,
                o.query_at.0,
                o.replaces.0,
            ] {
                h.update(&v.to_le_bytes());
            }
        }
        let a = self.account;
        for v in [
            a.base,
            a.quote,
            a.base_fees,
            a.quote_fees,
            a.other_fees,
            a.fills as i64,
            self.core
                .risk()
                .position(self.settings.inst.id)
                .unwrap_or(0),
        ] {
            h.update(&v.to_le_bytes());
        }
        for w in self.params.to_words() {
            h.update(&w.to_le_bytes());
        }
        let flags = [
            self.stale,
            self.connected,
            self.reconciling,
            self.stopping,
            self.core.risk().is_killed(),
            self.core.risk().is_throttled(),
        ];
        for f in flags {
            h.update(&[u8::from(f)]);
        }
        h.update(&self.core.ids_next().to_le_bytes());
        *h.finalize().as_bytes()
    }
}

/// Why a journal record cannot be replayed into a [`SessionCore`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionReplayError {
    /// The record is of a session kind but is not a session input.
    #[error("journal record {seq}: {source}")]
    Input {
        /// The record's seq.
        seq: u64,
        /// Why.
        #[source]
        source: InputDecodeError,
    },
    /// Records must come in seq order without gaps.
    #[error("seq {found} where {expected} was expected")]
    SeqGap {
        /// The next seq.
        expected: u64,
        /// The record's seq.
        found: u64,
    },
    /// A snapshot's state bytes do not decode into this core.
    #[error("session snapshot: {0}")]
    Snapshot(#[from] crate::journal::codec::SnapDecodeError),
}

/// Discards what a replayed session "sends".
pub struct NullTx;

impl TxTransport for NullTx {
    fn send(&mut self, data: &[u8]) -> std::io::Result<usize> {
        Ok(data.len())
    }
}

/// The journal's replay contract (`journal::replay`): records in, the same decisions and digest out.
///
/// Snapshots: the canonical encoding of `session/snapshot.rs` (tag `SESSION2`; `SESSION1` files,
/// written empty before the core had one, are refused by tag). Restore into a core built from the
/// same config (`live::build_core`).
impl Replayable for SessionCore {
    type Error = SessionReplayError;

    const SNAPSHOT_TAG: [u8; 8] = *b"SESSION3";

    fn apply(&mut self, rec: &JournalRecord) -> Result<(), SessionReplayError> {
        self.apply_record(rec, &mut NullTx).map(|_| ())
    }

    fn digest(&self) -> [u8; 32] {
        SessionCore::digest(self)
    }

    fn snapshot(&self, out: &mut Vec<u8>) {
        self.snap_put(out);
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), SessionReplayError> {
        Ok(self.snap_take(bytes)?)
    }
}

/// The client order id an input names, if any.
fn input_order(i: &Input) -> Option<ClientOrderId> {
    match *i {
        Input::Ack { id, .. }
        | Input::CancelAck { id }
        | Input::Status { id, .. }
        | Input::OrderError { id, .. }
        | Input::CancelError { id, .. }
        | Input::StatusError { id, .. }
        | Input::Exec { id, .. } => Some(id),
        _ => None,
    }
}

impl SessionCore {
    /// Applies one journal record (validate, then mutate): a session input is applied with its
    /// frames sent to `tx`; market data and segment headers only advance the seq. Returns the
    /// frames sent.
    pub fn apply_record<T: TxTransport>(
        &mut self,
        rec: &JournalRecord,
        tx: &mut T,
    ) -> Result<usize, SessionReplayError> {
        if self.last_seq != 0 && Some(rec.seq) != self.last_seq.checked_add(1) {
            return Err(SessionReplayError::SeqGap {
                expected: self.last_seq.saturating_add(1),
                found: rec.seq,
            });
        }
        let mut d = self.decoder;
        let s = d.decode(rec).map_err(|source| SessionReplayError::Input {
            seq: rec.seq,
            source,
        })?;
        self.decoder = d;
        self.last_seq = rec.seq;
        Ok(match s {
            Some(s) => self.apply(&s, tx),
            None => 0,
        })
    }

    /// The seq of the last journal record this core applied or was told of.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Tells the core the seq its last input was journalled at (the live loop, after `append`).
    pub fn set_last_seq(&mut self, seq: u64) {
        self.last_seq = seq;
    }

    /// The journal record(s) of `s` with this session's ledger context (call before applying it:
    /// the order's details are the ones the input is about).
    pub fn journal_records(&self, s: &Stamped, ctx: RecordCtx) -> InputRecords {
        let order = input_order(&s.input).and_then(|id| self.find(id).and_then(|i| self.orders[i]));
        let order_type = if self.params.post_only != 0 {
            OrderType::LimitMaker
        } else {
            OrderType::Limit
        };
        s.to_records_with(&RecordCtx {
            instrument: self.settings.inst.id,
            order_type,
            order,
            ..ctx
        })
    }

    /// Replaces the event sink (recovery replays into a discarding sink, then hands the live one).
    pub fn set_events(&mut self, events: EventSink) -> EventSink {
        std::mem::replace(&mut self.events, events)
    }

    /// Whether the order connection is up (as the inputs said).
    pub fn connected(&self) -> bool {
        self.connected
    }
}

/// Headroom of one side in lots: `limit − (position + working on that side)` for buys (sells:
/// `limit + position − working sells`).
pub fn headroom(limits: &RiskLimits, position: i64, working: (i64, i64)) -> (i64, i64) {
    (
        limits.max_long.lots() - position - working.0,
        limits.max_short.lots() + position - working.1,
    )
}
