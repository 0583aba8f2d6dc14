//! The Binance USD-M order gateway: one thread that owns its order-entry transport (a keep-alive
//! REST connection, or the futures WebSocket API `/ws-fapi/v1` with `transport = "ws"`), the
//! listenKey user stream, pre-trade risk, the order table and its state machine, the venue rate
//! account and the persisted client-id counter. `pymm._native.UsdmGateway` sends it commands over
//! a bounded channel and waits for each answer; every order change also goes out as a fixed-size
//! [`UsdmEvent`].
//!
//! Rules (issue #6, `docs/adr/0007-usdm-gateway.md`):
//! - every new order and modify passes [`PreTradeRisk`] first (fail closed: no reference price, no
//!   limits, kill latched → denied, nothing sent); an accepted order is reserved at once;
//! - client order ids come from the persisted counter ([`ClientIdAllocator`]): unique forever;
//! - a timeout, reset or EOF after the request was written, an HTTP 5xx, or `-1007`/`-1006` makes
//!   the order UNKNOWN: still reserved, never resent, resolved by the user stream
//!   (`ORDER_TRADE_UPDATE`) or by `GET /fapi/v1/order` with exponential backoff. "Order does not
//!   exist" resolves it as never live only once `recvWindow` has passed since it was sent (after
//!   that the venue must refuse the request, so it cannot appear later);
//! - the rate account reads `X-MBX-USED-WEIGHT-1M` / `X-MBX-ORDER-COUNT-10S`/`-1M` from every
//!   answer and holds requests back at its guard; after a 429 nothing is sent until `Retry-After`
//!   (so the 418 ban is never earned).
//!
//! Over the WebSocket API (`transport = "ws"`, ADR 0007 "WebSocket transport") the same rules hold
//! per request: an Ed25519 key logs the connection on (`session.logon`) and requests go unsigned, an
//! HMAC secret signs every request; `-1007`/`-1006`/5xx, a dropped connection or no answer within
//! `request_timeout_ms` after the frame was written make the order UNKNOWN (resolved by the user
//! stream or `order.status`, never resent); the rate account reads each answer's `rateLimits`. The
//! WS API has no batch: a batch command sends its orders one request each.
//!
//! With `market = "spot"` (ADR 0009) the same thread trades Binance spot over REST (`/api/v3`):
//! batches go one request per order, modify is a cancel-replace under a new client id, kill also
//! cancels every open order (`DELETE /api/v3/openOrders`), the user stream is the spot WS API's
//! `executionReport` subscription, and a reconnect reconciles from `GET /api/v3/openOrders`.
//!
//! Not a quoting hot path: the thread blocks on each round trip. The steady state allocates
//! nothing per order (buffers, the order table and the channels are allocated at start); see the
//! ADR for what does allocate (connects, listenKey, error text).

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Deserialize;

use super::http::{KeepAlive, KeepAliveStats, Reply, RequestFailure};
use super::live::{limits_from_config, InstrumentConfig, RiskConfig};
use super::pipeline::PipelineInstrument;
use super::ws_client::{Url, WsClient};
use crate::feed::binance::scanner::{Scanner, Value};
use crate::gateway::binance_usdm::{
    decode_cancel_replace, decode_error, decode_order, decode_user_event, for_each_batch_item,
    BatchItem, MarketKind, RateAccount, RateBlock, UsdmEncoder, UsdmMarket, UsdmOrder,
    UsdmOrderAck, UsdmRateLimits, UsdmUserEvent, MAX_BATCH,
};
use crate::gateway::binance_user::{self, WsApiMessage};
use crate::gateway::binance_ws::{
    encode_api_key_request, encode_futures_order_modify, encode_futures_order_place,
    encode_order_cancel, encode_plain_request, encode_session_logon, encode_signed_request,
    encode_symbol_request, Auth, FuturesOrderPlace,
};
use crate::gateway::{transition, ClientIdAllocator, OrderEventKind, OrderState, Signer};
use crate::model::{ClientOrderId, InstrumentId, Price, Qty, Scale, Side, UnixNanos, VenueOrderId};
use crate::risk::{DenyReason, OrderCheck, PreTradeRisk};
use crate::time::posix_clock::PosixClock;

/// Orders kept in the table (terminal ones are evicted oldest first when it is full).
pub const ORDER_TABLE: usize = 1024;
/// Events buffered for Python; beyond it events are counted as dropped (the table keeps the truth).
pub const EVENT_QUEUE: usize = 1 << 14;
const INST: InstrumentId = InstrumentId(0);
const MS: u64 = 1_000_000;

fn d_recv_window() -> u64 {
    5_000
}
fn d_timeout() -> u64 {
    5_000
}
fn d_backoff() -> u64 {
    200
}
fn d_backoff_max() -> u64 {
    5_000
}
fn d_idle() -> u64 {
    50_000
}
fn d_listen_keepalive() -> u64 {
    30 * 60_000
}
fn d_weight() -> u64 {
    2_400
}
fn d_orders_10s() -> u64 {
    300
}
fn d_orders_1m() -> u64 {
    1_200
}
fn d_orders_1d() -> u64 {
    160_000
}

/// How orders reach the venue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// `/fapi/v1` REST over one keep-alive connection (batches up to five orders).
    #[default]
    Rest,
    /// The futures WebSocket API (`ws_api`, `/ws-fapi/v1`): one request per order.
    Ws,
}

/// The gateway's config, as `pymm._native.UsdmGateway` takes it (a dict).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsdmConfig {
    /// `usdm` (default: USD-M futures, `/fapi/v1`) or `spot` (`/api/v3`, REST only; ADR 0009).
    #[serde(default)]
    pub market: MarketKind,
    /// REST base URL (`https://fapi.binance.com`, `https://api.binance.com` for spot, or the
    /// simulated venue's host); not used with `transport = "ws"`.
    pub rest: String,
    /// Order entry over `rest` (default) or the WebSocket API `ws_api`.
    #[serde(default)]
    pub transport: Transport,
    /// The futures WebSocket API URL (`wss://ws-fapi.binance.com/ws-fapi/v1`); required with
    /// `transport = "ws"`.
    #[serde(default)]
    pub ws_api: Option<String>,
    /// USD-M: user-stream WebSocket base (`wss://fstream.binance.com/private/ws`); `?listenKey=`
    /// is appended. Spot: the WebSocket API (`wss://ws-api.binance.com:443/ws-api/v3`), subscribed
    /// with `session.logon` + `userDataStream.subscribe` (Ed25519) or
    /// `userDataStream.subscribe.signature` (HMAC). None: no user stream (UNKNOWN orders are
    /// resolved by queries alone).
    #[serde(default)]
    pub user_ws: Option<String>,
    /// API key.
    pub api_key: String,
    /// Ed25519 private key (PKCS#8 PEM); the default signer.
    #[serde(default)]
    pub ed25519_private_pem: Option<String>,
    /// HMAC-SHA256 secret (used only when no Ed25519 key is given).
    #[serde(default)]
    pub hmac_secret: Option<String>,
    /// The perp.
    pub instrument: InstrumentConfig,
    /// Pre-trade risk limits (the spot engine's keys; `venue_rate_guard_pct` is the rate guard).
    pub risk: RiskConfig,
    /// Client-id high-water-mark file.
    pub client_id_file: String,
    /// Client-id prefix (1..=8 of `[A-Za-z0-9._:/-]`).
    pub client_prefix: String,
    /// `recvWindow`, ms.
    #[serde(default = "d_recv_window")]
    pub recv_window_ms: u64,
    /// No answer within this many ms (per read) → UNKNOWN.
    #[serde(default = "d_timeout")]
    pub request_timeout_ms: u64,
    /// First query delay for an UNKNOWN order, ms (doubles per query).
    #[serde(default = "d_backoff")]
    pub query_backoff_ms: u64,
    /// Longest query delay, ms.
    #[serde(default = "d_backoff_max")]
    pub query_backoff_max_ms: u64,
    /// Reopen (rather than reuse) a REST connection idle this long, ms.
    #[serde(default = "d_idle")]
    pub idle_reconnect_ms: u64,
    /// listenKey keep-alive period, ms (Binance: keys live 60 minutes).
    #[serde(default = "d_listen_keepalive")]
    pub listen_key_keepalive_ms: u64,
    /// Venue `REQUEST_WEIGHT` per minute.
    #[serde(default = "d_weight")]
    pub weight_per_minute: u64,
    /// Venue `ORDERS` per 10 s.
    #[serde(default = "d_orders_10s")]
    pub orders_per_10s: u64,
    /// Venue `ORDERS` per minute.
    #[serde(default = "d_orders_1m")]
    pub orders_per_minute: u64,
    /// Venue `ORDERS` per day (spot's `X-MBX-ORDER-COUNT-1D`).
    #[serde(default = "d_orders_1d")]
    pub orders_per_day: u64,
    /// Risk's position at start, signed base units (spot: the base asset held, so the position is
    /// this plus the net of fills since start). None: zero.
    #[serde(default)]
    pub start_position: Option<String>,
}

/// Why an order was not sent, or how the venue answered it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Our pre-trade risk denied it.
    Denied(DenyReason),
    /// Our rate account held it back (the venue's limit is near, or it said 429/418).
    RateBlocked(RateBlock),
    /// The order table is full of live orders.
    TableFull,
    /// No client id could be reserved (the high-water mark could not be persisted).
    ClientIds,
    /// The order is not in the table, or not in a state the command applies to.
    NoSuchOrder,
    /// Encoding failed (bad prefix, non-positive price or quantity).
    Encode,
    /// The request could not be written (connect or write failed): nothing reached the venue.
    NotSent,
    /// The venue refused it (`code` and message in the outcome).
    Venue,
}

impl Refusal {
    /// A stable snake_case name (deny reasons by their own names).
    pub const fn as_str(self) -> &'static str {
        match self {
            Refusal::Denied(d) => d.as_str(),
            Refusal::RateBlocked(b) => b.as_str(),
            Refusal::TableFull => "order_table_full",
            Refusal::ClientIds => "client_ids",
            Refusal::NoSuchOrder => "no_such_order",
            Refusal::Encode => "encode",
            Refusal::NotSent => "not_sent",
            Refusal::Venue => "venue",
        }
    }
}

/// Longest venue message kept in an outcome.
pub const MSG_LEN: usize = 120;

/// What one command did to one order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Our client id (`None` when no id was allocated).
    pub id: Option<ClientOrderId>,
    /// The order's state after the command.
    pub state: Option<OrderState>,
    /// Why it was refused, if it was.
    pub refusal: Option<Refusal>,
    /// The venue's error code (0: none).
    pub code: i64,
    /// HTTP status of the answer (0: none).
    pub http_status: u16,
    /// The venue's order id (0: not known).
    pub venue_id: u64,
    /// Cumulative filled quantity.
    pub cum: Qty,
    msg: [u8; MSG_LEN],
    msg_len: u8,
}

impl Outcome {
    const EMPTY: Outcome = Outcome {
        id: None,
        state: None,
        refusal: None,
        code: 0,
        http_status: 0,
        venue_id: 0,
        cum: Qty::ZERO,
        msg: [0; MSG_LEN],
        msg_len: 0,
    };

    fn refused(id: Option<ClientOrderId>, r: Refusal) -> Self {
        Outcome {
            id,
            refusal: Some(r),
            ..Outcome::EMPTY
        }
    }

    fn set_msg(&mut self, m: &[u8]) {
        let n = m.len().min(MSG_LEN);
        self.msg[..n].copy_from_slice(&m[..n]);
        self.msg_len = n as u8;
    }

    /// The venue's (or transport's) message.
    pub fn msg(&self) -> &[u8] {
        &self.msg[..usize::from(self.msg_len)]
    }
}

/// Where an order change was learnt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The answer to our request.
    Reply,
    /// The listenKey user stream.
    UserStream,
    /// A `GET /fapi/v1/order` (or WS API `order.status`) query (UNKNOWN resolution or a
    /// reconnect's reconciliation).
    Query,
    /// Our own timeout / transport failure.
    Local,
}

impl Source {
    /// A stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Source::Reply => "reply",
            Source::UserStream => "user_stream",
            Source::Query => "query",
            Source::Local => "local",
        }
    }
}

/// An order changed state or filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsdmEvent {
    /// Our client id.
    pub id: ClientOrderId,
    /// The new state.
    pub state: OrderState,
    /// Cumulative filled quantity.
    pub cum: Qty,
    /// Quantity of the fill this event reports (zero: no fill).
    pub last_qty: Qty,
    /// Price of that fill (zero: unknown or no fill).
    pub last_price: Price,
    /// The venue's order id (0: not known).
    pub venue_id: u64,
    /// Venue time (ms → ns) or, for local events, our wall clock.
    pub ts_ns: u64,
    /// Where it was learnt.
    pub source: Source,
}

/// One of our orders as the gateway knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderSlot {
    /// Our client id.
    pub id: ClientOrderId,
    /// Its terms (after the last accepted modify).
    pub order: UsdmOrder,
    /// Its state.
    pub state: OrderState,
    /// Cumulative filled quantity.
    pub cum: Qty,
    /// The venue's order id (0: not known).
    pub venue_id: u64,
    /// Whether the venue ever acknowledged it.
    pub acked: bool,
    /// Wall clock of the new-order request (ns).
    pub sent_ns: u64,
    /// When the next query may go (UNKNOWN or after a user-stream reconnect).
    pub next_query_ns: u64,
    /// Current query backoff (ns).
    pub backoff_ns: u64,
    /// Queries sent for it.
    pub queries: u32,
    /// Queried once soon for reconciliation (set on a user-stream reconnect).
    pub recheck: bool,
}

impl OrderSlot {
    /// A new order about to be sent at wall-clock `sent_ns`.
    fn pending(id: ClientOrderId, order: UsdmOrder, sent_ns: u64) -> Self {
        Self {
            id,
            order,
            state: OrderState::PendingNew,
            cum: Qty::ZERO,
            venue_id: 0,
            acked: false,
            sent_ns,
            next_query_ns: 0,
            backoff_ns: 0,
            queries: 0,
            recheck: false,
        }
    }
}

/// Counters and rate state for `status()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GatewayStatus {
    /// Orders accepted by risk and sent.
    pub orders_sent: u64,
    /// Batch requests sent.
    pub batches_sent: u64,
    /// Cancels sent.
    pub cancels_sent: u64,
    /// Modifies sent (spot: cancel-replaces).
    pub modifies_sent: u64,
    /// Mass cancels sent (spot `DELETE /api/v3/openOrders`, on kill).
    pub mass_cancels: u64,
    /// Open-order lists read to reconcile (spot `GET /api/v3/openOrders`, after a user-stream
    /// reconnect).
    pub reconciles: u64,
    /// Queries sent.
    pub queries_sent: u64,
    /// Orders that became UNKNOWN.
    pub unknown: u64,
    /// UNKNOWN orders resolved (by stream or query).
    pub unknown_resolved: u64,
    /// Orders resolved as never live.
    pub never_live: u64,
    /// Orders denied by risk.
    pub denied: u64,
    /// Requests held back by the rate account.
    pub rate_blocked: u64,
    /// User-stream order events applied.
    pub user_events: u64,
    /// User-stream messages that did not decode.
    pub user_decode_errors: u64,
    /// User-stream (re)connects.
    pub user_connects: u64,
    /// Events for orders not in the table (other sessions' or evicted).
    pub foreign_events: u64,
    /// Transitions the state machine refused (counted, not applied).
    pub illegal_transitions: u64,
    /// Events Python did not collect in time.
    pub events_dropped: u64,
    /// The REST connection's counters.
    pub http: KeepAliveStats,
    /// The venue's rate usage and our blocks.
    pub rate: RateAccount,
    /// Orders not terminal (UNKNOWN included).
    pub live_orders: u64,
    /// Orders UNKNOWN now.
    pub unknown_now: u64,
    /// Whether the user stream is connected.
    pub user_stream_up: bool,
    /// The WebSocket API connection's counters (`transport = "ws"`).
    pub ws_api: WsApiStats,
    /// Kill latched in risk.
    pub killed: bool,
}

/// A command from Python.
#[derive(Clone, Copy, Debug)]
pub enum Command {
    /// Place 1..=5 orders (more than one: one `batchOrders` request; spot: one request each).
    Place([Option<UsdmOrder>; MAX_BATCH]),
    /// Cancel by our id.
    Cancel(ClientOrderId),
    /// Amend price and quantity in place (spot: cancel-replace under a new id).
    Modify(ClientOrderId, Price, Qty),
    /// Query the venue now.
    Query(ClientOrderId),
    /// The reference price for risk's collar and notional.
    SetReference(Price),
    /// The venue position (lots, signed) after reconciliation.
    SetPosition(i64),
    /// Latch the kill switch in risk (cancels are still allowed); on spot, then cancel every open
    /// order on the symbol (`DELETE /api/v3/openOrders`).
    Kill,
    /// Lift it.
    Lift,
    /// Counters.
    Status,
    /// One order's slot.
    Order(ClientOrderId),
    /// Stop the thread.
    Stop,
}

/// The thread's answer to a command.
// Inline on purpose: one answer per command through a preallocated channel slot; boxing the
// outcomes would allocate per order.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    /// The thread is up (or why it could not start).
    Started(Result<(), StartError>),
    /// Per-order outcomes (`n` of them).
    Outcomes([Outcome; MAX_BATCH], usize),
    /// Counters.
    Status(GatewayStatus),
    /// An order's slot.
    Order(Option<OrderSlot>),
    /// Done.
    Done,
}

/// Why the gateway did not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartError {
    /// The client-id counter could not be reserved.
    ClientIds,
    /// `POST /fapi/v1/listenKey` failed.
    ListenKey,
    /// The user stream did not connect.
    UserStream,
}

/// Counters of the WebSocket API transport.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WsApiStats {
    /// Connections opened (each logged on with an Ed25519 key).
    pub connects: u64,
    /// Requests written.
    pub requests: u64,
    /// Requests with no answer within `request_timeout_ms`.
    pub timeouts: u64,
    /// Answers that came after we stopped waiting for them (or to no request of ours).
    pub late_answers: u64,
    /// Whether the connection is open now.
    pub up: bool,
    /// Whether it is logged on (`session.logon`).
    pub logged_on: bool,
}

impl StartError {
    /// What failed.
    pub const fn as_str(self) -> &'static str {
        match self {
            StartError::ClientIds => "client ids: the high-water mark could not be persisted",
            StartError::ListenKey => "POST /fapi/v1/listenKey (userDataStream.start) failed",
            StartError::UserStream => {
                "the user stream did not connect (listenKey stream, or spot WS API subscription)"
            }
        }
    }
}

/// What the binding holds: the channels and the thread.
pub struct UsdmHandle {
    commands: SyncSender<Command>,
    answers: Receiver<Answer>,
    events: Receiver<UsdmEvent>,
    thread: Option<JoinHandle<()>>,
    /// The traded market (scales for conversions at the edge).
    pub market: UsdmMarket,
}

/// Parts validated from a config (the binding builds them; the thread starts from them).
pub struct UsdmParts {
    cfg: UsdmConfig,
    market: UsdmMarket,
    signer: Signer,
    ids: ClientIdAllocator,
    risk: PreTradeRisk,
    rest: Url,
    ws_api: Option<Url>,
    user: Option<Url>,
}

/// Validates `cfg` and builds everything the thread needs (no network yet).
pub fn prepare(cfg: UsdmConfig) -> Result<UsdmParts, String> {
    let (symbol, tick, lot) = match &cfg.instrument {
        InstrumentConfig::Path(p) => {
            let m = crate::model::InstrumentMaster::from_toml_file(std::path::Path::new(p))
                .map_err(|e| format!("instrument {p}: {e}"))?;
            let i = m
                .get(InstrumentId(0))
                .ok_or_else(|| format!("instrument {p}: empty"))?;
            (i.symbol.clone(), i.price_scale, i.qty_scale)
        }
        InstrumentConfig::Fields {
            symbol, tick, lot, ..
        } => (
            symbol.clone(),
            Scale::parse(tick).map_err(|e| format!("instrument.tick {tick:?}: {e}"))?,
            Scale::parse(lot).map_err(|e| format!("instrument.lot {lot:?}: {e}"))?,
        ),
    };
    if symbol.is_empty() || symbol.len() > 20 || !symbol.bytes().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(format!(
            "instrument.symbol {symbol:?}: 1..=20 letters and digits"
        ));
    }
    if cfg.client_prefix.is_empty() || cfg.client_prefix.len() > 8 {
        return Err("client_prefix: must be 1..=8 characters".into());
    }
    let market = UsdmMarket {
        symbol: symbol.clone(),
        tick,
        lot,
        prefix: cfg.client_prefix.clone(),
        kind: cfg.market,
    };
    if cfg.market == MarketKind::Spot && cfg.transport == Transport::Ws {
        return Err(
            "transport \"ws\": USD-M only (spot order entry over the WS API is the quoting engine's)"
                .into(),
        );
    }
    UsdmEncoder::new(market.clone())
        .map_err(|e| format!("client_prefix {:?}: {e}", cfg.client_prefix))?;
    let signer = match (&cfg.ed25519_private_pem, &cfg.hmac_secret) {
        (Some(pem), _) => {
            Signer::ed25519_pem(pem).map_err(|e| format!("ed25519_private_pem: {e}"))?
        }
        (None, Some(s)) => Signer::hmac(s.as_bytes()).map_err(|e| format!("hmac_secret: {e}"))?,
        (None, None) => return Err("ed25519_private_pem (or hmac_secret) is required".into()),
    };
    if cfg.api_key.is_empty() {
        return Err("api_key: must not be empty".into());
    }
    if cfg.recv_window_ms == 0 || cfg.recv_window_ms > 60_000 {
        return Err(format!(
            "recv_window_ms {}: must be 1..=60000",
            cfg.recv_window_ms
        ));
    }
    if cfg.request_timeout_ms == 0 {
        return Err("request_timeout_ms: must be positive".into());
    }
    if cfg.query_backoff_ms == 0 || cfg.query_backoff_max_ms < cfg.query_backoff_ms {
        return Err("query_backoff_ms: must be positive and at most query_backoff_max_ms".into());
    }
    let mut sym = [0u8; 20];
    sym[..symbol.len()].copy_from_slice(symbol.as_bytes());
    let pinst = PipelineInstrument {
        id: INST,
        symbol: sym,
        symbol_len: symbol.len(),
        tick,
        lot,
        rule: crate::feed::SequenceRule::Futures,
    };
    let (limits, rates) = limits_from_config(&cfg.risk, &pinst)?;
    let now = UnixNanos(PosixClock::Realtime.now_ns());
    let mut risk = PreTradeRisk::new(1, rates, now);
    risk.set_limits(INST, limits);
    if let Some(p) = &cfg.start_position {
        let (neg, t) = match p.strip_prefix('-') {
            Some(t) => (true, t),
            None => (false, p.as_str()),
        };
        let lots = lot
            .parse_units(t.as_bytes())
            .map_err(|e| format!("start_position {p:?}: {e}"))?;
        risk.set_position(INST, if neg { -lots } else { lots });
    }
    let rest = Url::parse(&cfg.rest).map_err(|e| format!("rest {:?}: {e}", cfg.rest))?;
    let ws_api = match (cfg.transport, &cfg.ws_api) {
        (Transport::Ws, None) => return Err("ws_api: required with transport \"ws\"".into()),
        (Transport::Ws, Some(u)) => Some(Url::parse(u).map_err(|e| format!("ws_api {u:?}: {e}"))?),
        (Transport::Rest, _) => None,
    };
    let user = match &cfg.user_ws {
        Some(u) => Some(Url::parse(u).map_err(|e| format!("user_ws {u:?}: {e}"))?),
        None => None,
    };
    let ids = ClientIdAllocator::open(
        &cfg.client_id_file,
        crate::gateway::client_id::DEFAULT_BLOCK,
    )
    .map_err(|e| format!("client_id_file {}: {e}", cfg.client_id_file))?;
    Ok(UsdmParts {
        cfg,
        market,
        signer,
        ids,
        risk,
        rest,
        ws_api,
        user,
    })
}

/// Why the gateway could not be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GatewayGone {
    /// The thread stopped (or panicked).
    #[error("the USD-M gateway thread is not running")]
    Stopped,
}

impl UsdmHandle {
    /// Starts the thread: it opens the REST connection lazily, creates the listenKey and connects
    /// the user stream before answering.
    pub fn start(parts: UsdmParts) -> Result<Self, String> {
        let market = parts.market.clone();
        let (ctx, crx) = mpsc::sync_channel(64);
        let (atx, arx) = mpsc::sync_channel(1);
        let (etx, erx) = mpsc::sync_channel(EVENT_QUEUE);
        let thread = std::thread::Builder::new()
            .name("usdm-gateway".into())
            .spawn(move || run(parts, crx, atx, etx))
            .map_err(|e| format!("spawning the gateway thread: {e}"))?;
        let h = Self {
            commands: ctx,
            answers: arx,
            events: erx,
            thread: Some(thread),
            market,
        };
        match h.answers.recv() {
            Ok(Answer::Started(Ok(()))) => Ok(h),
            Ok(Answer::Started(Err(e))) => Err(e.as_str().to_string()),
            _ => Err("the gateway thread died while starting".into()),
        }
    }

    /// Sends a command and waits for its answer.
    pub fn call(&self, c: Command) -> Result<Answer, GatewayGone> {
        self.commands.send(c).map_err(|_| GatewayGone::Stopped)?;
        self.answers.recv().map_err(|_| GatewayGone::Stopped)
    }

    /// Takes up to `max` events without waiting (after waiting up to `wait` for the first).
    pub fn events(&self, max: usize, wait: Duration, out: &mut Vec<UsdmEvent>) {
        if max == 0 {
            return;
        }
        if !wait.is_zero() {
            match self.events.recv_timeout(wait) {
                Ok(e) => out.push(e),
                Err(_) => return,
            }
        }
        while out.len() < max {
            match self.events.try_recv() {
                Ok(e) => out.push(e),
                Err(_) => break,
            }
        }
    }

    /// Stops the thread and waits for it.
    pub fn stop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = self.commands.send(Command::Stop);
            let _ = self.answers.recv();
            let _ = t.join();
        }
    }
}

impl Drop for UsdmHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

fn now_ns() -> u64 {
    PosixClock::Realtime.now_ns()
}

/// The venue's order status words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum VenueStatus {
    New,
    PartiallyFilled,
    Filled,
    Canceled,
    Expired,
    Rejected,
}

fn venue_status(s: &[u8]) -> Option<VenueStatus> {
    Some(match s {
        b"NEW" => VenueStatus::New,
        b"PARTIALLY_FILLED" => VenueStatus::PartiallyFilled,
        b"FILLED" => VenueStatus::Filled,
        b"CANCELED" => VenueStatus::Canceled,
        b"EXPIRED" | b"EXPIRED_IN_MATCH" => VenueStatus::Expired,
        b"REJECTED" => VenueStatus::Rejected,
        _ => return None,
    })
}

/// Codes after which an order's fate is unknown (brief §1.2).
fn unknown_code(code: i64) -> bool {
    matches!(code, -1007 | -1006)
}

/// What a venue says about an order, decoded to our units.
#[derive(Clone, Copy, Debug)]
struct VenueView {
    status: Option<VenueStatus>,
    cum: Qty,
    venue_id: u64,
    ts_ns: u64,
    last_qty: Qty,
    last_price: Price,
}

/// What a request answered by a list of orders came to.
enum OrderList {
    /// Answered (our ids in it are in the caller's [`ListedIds`]).
    Listed,
    /// Not sent (connect or write failed).
    NotSent,
    /// Sent, but the answer was lost, a 5xx or unreadable.
    Lost,
    /// Refused by the venue (e.g. `-2011`: no open orders to cancel).
    Refused,
}

/// Our client ids in a list answer (at most the order table's size).
struct ListedIds {
    ids: [ClientOrderId; ORDER_TABLE],
    n: usize,
}

impl Default for ListedIds {
    fn default() -> Self {
        Self {
            ids: [ClientOrderId(0); ORDER_TABLE],
            n: 0,
        }
    }
}

impl ListedIds {
    fn push(&mut self, id: ClientOrderId) {
        if self.n < ORDER_TABLE {
            self.ids[self.n] = id;
            self.n += 1;
        }
    }

    fn contains(&self, id: ClientOrderId) -> bool {
        self.ids[..self.n].contains(&id)
    }
}

/// An order update from a user stream (USD-M `ORDER_TRADE_UPDATE` or spot `executionReport`),
/// fields as the venue's text.
struct UserReport<'a> {
    symbol: &'a [u8],
    client_id: &'a [u8],
    status: &'a [u8],
    cum_qty: &'a [u8],
    order_id: u64,
    ts_ms: u64,
    last_qty: &'a [u8],
    last_price: &'a [u8],
}

/// The gateway state, owned by its thread.
struct Gateway {
    cfg: UsdmConfig,
    enc: UsdmEncoder,
    signer: Signer,
    ids: ClientIdAllocator,
    id_next: u64,
    id_end: u64,
    risk: PreTradeRisk,
    http: KeepAlive,
    wsapi: Option<WsApi>,
    ws_req: WsReq,
    user_url: Option<Url>,
    user: Option<WsClient>,
    listen_key: String,
    listen_key_at_ns: u64,
    user_retry_ns: u64,
    user_expired: bool,
    /// A spot kill's mass cancel still to send at this wall-clock ns (0: none).
    mass_cancel_due_ns: u64,
    slots: Vec<OrderSlot>,
    rate: RateAccount,
    events: SyncSender<UsdmEvent>,
    st: GatewayStatus,
    seed: u64,
}

enum Sent<'a> {
    Answer(Reply<'a>),
    Failed(RequestFailure),
}

/// The request [`Gateway::send`] puts on the WebSocket API (REST sends what the encoder holds).
#[derive(Clone, Copy, Debug)]
enum WsReq {
    Place(ClientOrderId, UsdmOrder),
    Cancel(ClientOrderId),
    Modify(ClientOrderId, Side, Price, Qty),
    Query(ClientOrderId),
    /// `userDataStream.start` / `ping` (API key only).
    Key(&'static [u8]),
}

/// Request buffer of the WebSocket API transport.
const WS_REQ_LEN: usize = 2048;
/// Answers kept for decoding (one answer; larger ones are copied after a one-time growth).
const WS_RESP_LEN: usize = 16 << 10;

/// The futures WebSocket API connection (`transport = "ws"`): opened lazily, logged on with an
/// Ed25519 key, one request in flight at a time.
struct WsApi {
    url: Url,
    conn: Option<WsClient>,
    req: Box<[u8; WS_REQ_LEN]>,
    resp: Vec<u8>,
    next_id: u64,
    logon: bool,
    logged_on: bool,
    st: WsApiStats,
}

/// Why a WS API round trip failed.
fn io_err(kind: std::io::ErrorKind, what: &'static str) -> std::io::Error {
    std::io::Error::new(kind, what)
}

/// Waits on `conn` for the answer to WS API request `rid`, copied into `resp`; other frames are
/// counted in `late` and dropped. `Ok(false)`: no answer within `timeout_ns` (the connection is
/// still open); `Err`: the connection failed.
fn await_ws_answer(
    conn: &mut WsClient,
    rid: u64,
    timeout_ns: u64,
    resp: &mut Vec<u8>,
    late: &mut u64,
) -> std::io::Result<bool> {
    let deadline = now_ns() + timeout_ns;
    let mut idle = 0u32;
    loop {
        let mut found = false;
        let r = conn.poll_until(|msg| {
            if let Ok(WsApiMessage::Response(a)) = binance_user::decode(msg) {
                if a.id == Some(rid) {
                    resp.clear();
                    resp.extend_from_slice(msg);
                    found = true;
                    return false;
                }
            }
            *late += 1;
            true
        });
        match r? {
            _ if found => return Ok(true),
            n if n > 0 => idle = 0,
            _ => {}
        }
        if now_ns() >= deadline {
            return Ok(false);
        }
        idle += 1;
        if idle > 200 {
            std::thread::sleep(Duration::from_micros(50));
        } else {
            std::hint::spin_loop();
        }
    }
}

impl WsApi {
    /// Waits for the answer to request `rid` (other frames are late answers: counted, dropped).
    /// `Err(TimedOut)` leaves the connection open; any other error closes it.
    fn await_answer(&mut self, rid: u64, timeout_ns: u64) -> std::io::Result<()> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(io_err(std::io::ErrorKind::NotConnected, "not connected"));
        };
        match await_ws_answer(
            conn,
            rid,
            timeout_ns,
            &mut self.resp,
            &mut self.st.late_answers,
        ) {
            Ok(true) => Ok(()),
            Ok(false) => {
                self.st.timeouts += 1;
                Err(io_err(std::io::ErrorKind::TimedOut, "no answer in time"))
            }
            Err(e) => {
                self.drop_conn();
                Err(e)
            }
        }
    }

    fn drop_conn(&mut self) {
        if let Some(mut c) = self.conn.take() {
            c.close();
        }
        self.logged_on = false;
    }

    /// Reads what arrived between requests (late answers, pings); a closed connection is dropped
    /// (reopened by the next request).
    fn service(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            let late = &mut self.st.late_answers;
            if conn.poll(|_| *late += 1).is_err() {
                self.drop_conn();
            }
        }
    }
}

impl Gateway {
    fn new(p: UsdmParts, events: SyncSender<UsdmEvent>) -> Self {
        let timeout = Duration::from_millis(p.cfg.request_timeout_ms);
        let idle = Duration::from_millis(p.cfg.idle_reconnect_ms);
        let rate = RateAccount::new(UsdmRateLimits {
            weight_per_minute: p.cfg.weight_per_minute,
            orders_per_10s: p.cfg.orders_per_10s,
            orders_per_minute: p.cfg.orders_per_minute,
            orders_per_day: p.cfg.orders_per_day,
            guard_pct: p.cfg.risk.venue_rate_guard_pct.clamp(1, 100),
        });
        let logon = matches!(p.signer, Signer::Ed25519(_));
        Self {
            enc: UsdmEncoder::new(p.market)
                .unwrap_or_else(|_| unreachable!("validated in prepare")),
            signer: p.signer,
            ids: p.ids,
            id_next: 0,
            id_end: 0,
            risk: p.risk,
            http: KeepAlive::new(p.rest, timeout, idle),
            wsapi: p.ws_api.map(|url| WsApi {
                url,
                conn: None,
                req: Box::new([0u8; WS_REQ_LEN]),
                resp: Vec::with_capacity(WS_RESP_LEN),
                next_id: 1,
                logon,
                logged_on: false,
                st: WsApiStats::default(),
            }),
            ws_req: WsReq::Key(b""),
            user_url: p.user,
            user: None,
            listen_key: String::new(),
            listen_key_at_ns: 0,
            user_retry_ns: 0,
            user_expired: false,
            mass_cancel_due_ns: 0,
            slots: Vec::with_capacity(ORDER_TABLE),
            rate,
            events,
            st: GatewayStatus::default(),
            seed: now_ns(),
            cfg: p.cfg,
        }
    }

    fn next_id(&mut self) -> Option<ClientOrderId> {
        if self.id_next >= self.id_end {
            let (a, b) = self.ids.take_block().ok()?;
            self.id_next = a;
            self.id_end = b;
        }
        let id = self.id_next;
        self.id_next += 1;
        Some(ClientOrderId(id))
    }

    fn find(&self, id: ClientOrderId) -> Option<usize> {
        self.slots.iter().rposition(|s| s.id == id)
    }

    /// Sends the encoder's request (signed when `signed`) — or, over the WebSocket API,
    /// `self.ws_req` — and notes the venue's rate usage.
    fn send(&mut self, signed: bool) -> Sent<'_> {
        if self.wsapi.is_some() {
            return self.ws_send();
        }
        let now = now_ns();
        if signed {
            self.enc
                .sign(&self.signer, self.cfg.recv_window_ms, now / MS);
        }
        let method = self.enc.method();
        let (query, body) = if method.has_body() {
            (&[][..], Some(self.enc.params()))
        } else {
            (self.enc.params(), None)
        };
        let r = self.http.request(
            method.as_str(),
            self.enc.path(),
            query,
            body,
            &self.cfg.api_key,
            now,
        );
        match r {
            Ok(reply) => {
                self.rate.on_response(
                    reply.status,
                    reply.used_weight_1m,
                    reply.order_count_10s,
                    reply.order_count_1m,
                    reply.order_count_1d,
                    reply.retry_after_s,
                    now_ns(),
                );
                Sent::Answer(reply)
            }
            Err(e) => Sent::Failed(e),
        }
    }

    /// Opens the WebSocket API connection and, with an Ed25519 key, logs it on.
    fn ws_connect(&mut self) -> std::io::Result<()> {
        let timeout_ns = self.cfg.request_timeout_ms * MS;
        let Some(ws) = self.wsapi.as_mut() else {
            return Err(io_err(std::io::ErrorKind::NotConnected, "no ws_api"));
        };
        self.seed = self.seed.wrapping_add(0x9E37_79B9);
        let conn = WsClient::connect(
            &ws.url,
            Duration::from_nanos(timeout_ns),
            1 << 20,
            self.seed,
        )?;
        ws.conn = Some(conn);
        ws.logged_on = false;
        ws.st.connects += 1;
        if !ws.logon {
            return Ok(());
        }
        let rid = ws.next_id;
        ws.next_id += 1;
        let n = encode_session_logon(
            rid,
            self.cfg.api_key.as_bytes(),
            now_ns() / MS,
            &self.signer,
            &mut ws.req[..],
        )
        .map_err(|_| io_err(std::io::ErrorKind::InvalidInput, "session.logon encoding"))?;
        let sent = match ws.conn.as_mut() {
            Some(c) => c.send_text(&ws.req[..n]),
            None => Err(io_err(std::io::ErrorKind::NotConnected, "not connected")),
        };
        if let Err(e) = sent.and_then(|()| ws.await_answer(rid, timeout_ns)) {
            ws.drop_conn();
            return Err(e);
        }
        let ok = matches!(
            binance_user::decode(&ws.resp),
            Ok(WsApiMessage::Response(r)) if r.status == 200
        );
        if !ok {
            ws.drop_conn();
            return Err(io_err(
                std::io::ErrorKind::PermissionDenied,
                "session.logon refused",
            ));
        }
        ws.logged_on = true;
        Ok(())
    }

    /// One WebSocket API round trip for `self.ws_req`. A failure to connect, log on, encode or
    /// write the frame is "not sent" (the venue cannot act on an incomplete frame); after that, no
    /// answer in time or a closed connection is "after send".
    fn ws_send(&mut self) -> Sent<'_> {
        let needs_connect = match self.wsapi.as_mut() {
            Some(ws) => {
                // A connection the venue closed while idle is reopened, not written to.
                ws.service();
                ws.conn.is_none()
            }
            None => true,
        };
        if needs_connect {
            if let Err(e) = self.ws_connect() {
                return Sent::Failed(RequestFailure::NotSent(e));
            }
        }
        let now = now_ns();
        let timeout_ns = self.cfg.request_timeout_ms * MS;
        let m = self.enc.market();
        let Some(ws) = self.wsapi.as_mut() else {
            return Sent::Failed(RequestFailure::NotSent(io_err(
                std::io::ErrorKind::NotConnected,
                "no ws_api",
            )));
        };
        let rid = ws.next_id;
        ws.next_id += 1;
        let key = self.cfg.api_key.as_bytes();
        let auth = Auth {
            api_key: (!ws.logged_on).then_some(key),
            timestamp_ms: now / MS,
            recv_window_ms: u32::try_from(self.cfg.recv_window_ms).ok(),
        };
        let signer = (!ws.logged_on).then_some(&self.signer);
        let (sym, prefix) = (m.symbol.as_bytes(), m.prefix.as_bytes());
        let out = &mut ws.req[..];
        let place = |id, side: Side, o: &UsdmOrder, price: Price, qty: Qty| FuturesOrderPlace {
            request_id: rid,
            symbol: sym,
            side,
            tif: o.tif.as_str().as_bytes(),
            price_ticks: price.ticks(),
            tick: m.tick,
            qty_lots: qty.lots(),
            lot: m.lot,
            reduce_only: o.reduce_only,
            client_id: id,
            client_prefix: prefix,
        };
        let enc = match self.ws_req {
            WsReq::Place(id, o) => encode_futures_order_place(
                &place(id, o.side, &o, o.price, o.qty),
                &auth,
                signer,
                out,
            ),
            WsReq::Modify(id, side, price, qty) => {
                let o = UsdmOrder {
                    side,
                    tif: crate::gateway::binance_usdm::UsdmTif::Gtc,
                    price,
                    qty,
                    reduce_only: false,
                };
                encode_futures_order_modify(&place(id, side, &o, price, qty), &auth, signer, out)
            }
            WsReq::Cancel(id) => encode_order_cancel(rid, sym, id, prefix, &auth, signer, out),
            WsReq::Query(id) => encode_symbol_request(
                rid,
                b"order.status",
                sym,
                Some(id),
                prefix,
                &auth,
                signer,
                out,
            ),
            WsReq::Key(method) => encode_api_key_request(rid, method, key, out),
        };
        let n = match enc {
            Ok(n) => n,
            Err(_) => {
                return Sent::Failed(RequestFailure::NotSent(io_err(
                    std::io::ErrorKind::InvalidInput,
                    "request encoding",
                )))
            }
        };
        let written = match ws.conn.as_mut() {
            Some(c) => c.send_text(&ws.req[..n]),
            None => Err(io_err(std::io::ErrorKind::NotConnected, "not connected")),
        };
        if let Err(e) = written {
            ws.drop_conn();
            return Sent::Failed(RequestFailure::NotSent(e));
        }
        ws.st.requests += 1;
        if let Err(e) = ws.await_answer(rid, timeout_ns) {
            return Sent::Failed(RequestFailure::AfterSend(e));
        }
        let Ok(WsApiMessage::Response(a)) = binance_user::decode(&ws.resp) else {
            return Sent::Failed(RequestFailure::AfterSend(io_err(
                std::io::ErrorKind::InvalidData,
                "unreadable answer",
            )));
        };
        let retry_ms = a
            .retry_after_ms
            .or_else(|| a.error_data.and_then(retry_after_of));
        let retry_after_s = retry_ms.map(|t| t.saturating_sub(now / MS).div_ceil(1000).max(1));
        let reply = Reply {
            status: a.status,
            used_weight_1m: a.rate.weight_1m.map(|r| r.0),
            order_count_10s: a.rate.orders_10s.map(|r| r.0),
            order_count_1m: a.rate.orders_1m.map(|r| r.0),
            order_count_1d: a.rate.orders_1d.map(|r| r.0),
            retry_after_s,
            body: a.error_obj.or(a.result).unwrap_or(b"{}"),
        };
        self.rate.on_response(
            reply.status,
            reply.used_weight_1m,
            reply.order_count_10s,
            reply.order_count_1m,
            reply.order_count_1d,
            reply.retry_after_s,
            now_ns(),
        );
        Sent::Answer(reply)
    }

    fn emit(&mut self, i: usize, source: Source, ts_ns: u64, last_qty: Qty, last_price: Price) {
        let s = &self.slots[i];
        let ev = UsdmEvent {
            id: s.id,
            state: s.state,
            cum: s.cum,
            last_qty,
            last_price,
            venue_id: s.venue_id,
            ts_ns,
            source,
        };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.events.try_send(ev)
        {
            self.st.events_dropped += 1;
        }
    }

    fn step(&mut self, i: usize, ev: OrderEventKind) -> bool {
        match transition(self.slots[i].state, ev) {
            Ok(next) => {
                let was_unknown = self.slots[i].state == OrderState::Unknown;
                self.slots[i].state = next;
                if was_unknown && next != OrderState::Unknown {
                    self.st.unknown_resolved += 1;
                }
                if next == OrderState::Unknown && !was_unknown {
                    self.st.unknown += 1;
                    let b = self.cfg.query_backoff_ms * MS;
                    self.slots[i].backoff_ns = b;
                    self.slots[i].next_query_ns = now_ns() + b;
                    self.risk.on_unknown(INST, self.slots[i].id);
                }
                if next == OrderState::NeverLive {
                    self.st.never_live += 1;
                }
                if next.is_terminal() && self.risk.reservation(INST, self.slots[i].id).is_some() {
                    self.risk.on_done(INST, self.slots[i].id);
                }
                true
            }
            Err(_) => {
                self.st.illegal_transitions += 1;
                false
            }
        }
    }

    /// The order's fate is unknown (timeout, reset, 5xx, -1007/-1006).
    fn unknown(&mut self, i: usize) {
        if self.step(i, OrderEventKind::Timeout) {
            self.emit(i, Source::Local, now_ns(), Qty::ZERO, Price::ZERO);
        }
    }

    /// Applies what the venue says about order `i`: fills first (a fact), then the status.
    fn apply(&mut self, i: usize, v: &VenueView, source: Source) {
        let mut changed = false;
        if v.venue_id != 0 {
            self.slots[i].venue_id = v.venue_id;
        }
        let (side, qty, cum0) = (
            self.slots[i].order.side,
            self.slots[i].order.qty,
            self.slots[i].cum,
        );
        let mut last_qty = Qty::ZERO;
        if v.cum.lots() > cum0.lots() {
            let d = Qty::from_lots(v.cum.lots() - cum0.lots());
            let leaves = Qty::from_lots((qty.lots() - v.cum.lots()).max(0));
            if matches!(
                self.slots[i].state,
                OrderState::PendingNew | OrderState::Unknown
            ) {
                // A fill proves the order was accepted.
                self.slots[i].acked = true;
            }
            self.step(i, OrderEventKind::Filled { qty: d, leaves });
            self.slots[i].cum = v.cum;
            self.risk
                .on_fill(INST, self.slots[i].id, side, d, UnixNanos(v.ts_ns));
            last_qty = if v.last_qty.lots() > 0 { v.last_qty } else { d };
            changed = true;
        }
        let state = self.slots[i].state;
        let ev = match v.status {
            Some(VenueStatus::New | VenueStatus::PartiallyFilled) => {
                self.slots[i].acked = true;
                matches!(state, OrderState::PendingNew | OrderState::Unknown)
                    .then_some(OrderEventKind::Accepted(VenueOrderId(v.venue_id)))
            }
            Some(VenueStatus::Filled) => (!state.is_terminal()).then_some(OrderEventKind::Filled {
                qty: Qty::ZERO,
                leaves: Qty::ZERO,
            }),
            Some(VenueStatus::Canceled) => Some(OrderEventKind::Canceled),
            Some(VenueStatus::Expired) => Some(OrderEventKind::Expired),
            Some(VenueStatus::Rejected) => Some(OrderEventKind::Rejected),
            None => None,
        };
        if let Some(ev) = ev {
            if !state.is_terminal() && self.step(i, ev) {
                changed = true;
            }
        }
        if changed {
            self.slots[i].recheck = false;
            self.emit(i, source, v.ts_ns, last_qty, v.last_price);
        }
    }

    fn insert(&mut self, slot: OrderSlot) -> bool {
        if self.slots.len() >= ORDER_TABLE {
            match self.slots.iter().position(|s| s.state.is_terminal()) {
                Some(j) => {
                    self.slots.remove(j);
                }
                None => return false,
            }
        }
        self.slots.push(slot);
        true
    }

    fn outcome_of(&self, i: usize) -> Outcome {
        let s = &self.slots[i];
        Outcome {
            id: Some(s.id),
            state: Some(s.state),
            venue_id: s.venue_id,
            cum: s.cum,
            ..Outcome::EMPTY
        }
    }

    fn place(&mut self, orders: &[UsdmOrder], out: &mut [Outcome; MAX_BATCH]) -> usize {
        let now = now_ns();
        let mut idx = [0usize; MAX_BATCH];
        let mut batch = [(ClientOrderId(0), orders[0]); MAX_BATCH];
        let mut n_ok = 0;
        for (k, o) in orders.iter().enumerate() {
            let Some(id) = self.next_id() else {
                out[k] = Outcome::refused(None, Refusal::ClientIds);
                continue;
            };
            let check = OrderCheck {
                instrument: INST,
                client_id: id,
                side: o.side,
                price: o.price,
                qty: o.qty,
            };
            if let Err(d) = self.risk.check_new(&check, UnixNanos(now)) {
                self.st.denied += 1;
                out[k] = Outcome::refused(Some(id), Refusal::Denied(d));
                continue;
            }
            if let Err(b) = self.rate.check(true, now) {
                self.st.rate_blocked += 1;
                self.risk.on_done(INST, id);
                out[k] = Outcome::refused(Some(id), Refusal::RateBlocked(b));
                continue;
            }
            if !self.insert(OrderSlot::pending(id, *o, now)) {
                self.risk.on_done(INST, id);
                out[k] = Outcome::refused(Some(id), Refusal::TableFull);
                continue;
            }
            idx[n_ok] = k;
            batch[n_ok] = (id, *o);
            n_ok += 1;
        }
        if n_ok == 0 {
            return orders.len();
        }
        self.ws_req = WsReq::Place(batch[0].0, batch[0].1);
        let enc = if n_ok == 1 {
            self.enc.new_order(batch[0].0, &batch[0].1)
        } else {
            self.enc.batch(&batch[..n_ok])
        };
        if enc.is_err() {
            for (k, (id, _)) in idx[..n_ok].iter().zip(&batch[..n_ok]) {
                self.drop_unsent(*id);
                out[*k] = Outcome::refused(Some(*id), Refusal::Encode);
            }
            return orders.len();
        }
        self.st.orders_sent += n_ok as u64;
        self.st.batches_sent += u64::from(n_ok > 1);
        // Copy what the answer is matched against before the reply borrows `self`.
        let ids: [ClientOrderId; MAX_BATCH] = std::array::from_fn(|j| batch[j.min(n_ok - 1)].0);
        let lot = self.enc.market().lot;
        let mut results = [ItemResult::Unknown; MAX_BATCH];
        let mut msgs = [[0u8; MSG_LEN]; MAX_BATCH];
        let mut msg_lens = [0usize; MAX_BATCH];
        let mut http_status = 0u16;
        let mut not_sent = false;
        match self.send(true) {
            Sent::Failed(RequestFailure::NotSent(e)) => {
                not_sent = true;
                let text = e.to_string();
                for j in 0..n_ok {
                    let n = text.len().min(MSG_LEN);
                    msgs[j][..n].copy_from_slice(&text.as_bytes()[..n]);
                    msg_lens[j] = n;
                }
            }
            Sent::Failed(RequestFailure::AfterSend(_)) => {}
            Sent::Answer(r) => {
                http_status = r.status;
                classify(&r, n_ok, lot, &mut results, &mut msgs, &mut msg_lens);
            }
        }
        for j in 0..n_ok {
            let (k, id) = (idx[j], ids[j]);
            let Some(i) = self.find(id) else { continue };
            if not_sent {
                self.drop_unsent(id);
                let mut o = Outcome::refused(Some(id), Refusal::NotSent);
                o.set_msg(&msgs[j][..msg_lens[j]]);
                out[k] = o;
                continue;
            }
            match results[j] {
                ItemResult::Unknown => self.unknown(i),
                ItemResult::Refused(code) => {
                    if self.step(i, OrderEventKind::Rejected) {
                        self.emit(i, Source::Reply, now_ns(), Qty::ZERO, Price::ZERO);
                    }
                    let mut o = self.outcome_of(i);
                    o.refusal = Some(Refusal::Venue);
                    o.code = code;
                    o.http_status = http_status;
                    o.set_msg(&msgs[j][..msg_lens[j]]);
                    out[k] = o;
                    continue;
                }
                ItemResult::Ack(v) => self.apply(i, &v, Source::Reply),
            }
            let mut o = self.outcome_of(i);
            o.http_status = http_status;
            if let ItemResult::Unknown = results[j] {
                o.set_msg(&msgs[j][..msg_lens[j]]);
            }
            out[k] = o;
        }
        orders.len()
    }

    fn is_spot(&self) -> bool {
        self.enc.market().kind == MarketKind::Spot
    }

    /// Spot's modify: `POST /api/v3/order/cancelReplace` (`STOP_ON_FAILURE`) of order `id` by a
    /// new order with `price` and `qty` under a new client id. Returns the replacement's outcome,
    /// then the old order's.
    ///
    /// Fail closed: the replacement passes risk as a new order while the old one is still
    /// reserved; the old reservation ends when the venue confirms the cancel. The old order keeps
    /// its state until the answer says what happened to it: cancelled (applied), the cancel refused
    /// (queried at once: it may have filled), or unknown (UNKNOWN, like the replacement).
    fn cancel_replace(&mut self, id: ClientOrderId, price: Price, qty: Qty) -> (Outcome, Outcome) {
        let Some(i) = self.find(id) else {
            let o = Outcome::refused(Some(id), Refusal::NoSuchOrder);
            return (o, o);
        };
        let mut old_out = self.outcome_of(i);
        if !matches!(
            self.slots[i].state,
            OrderState::New | OrderState::PartiallyFilled
        ) {
            old_out.refusal = Some(Refusal::NoSuchOrder);
            return (old_out, old_out);
        }
        let now = now_ns();
        let o = UsdmOrder {
            price,
            qty,
            ..self.slots[i].order
        };
        let Some(new) = self.next_id() else {
            return (Outcome::refused(None, Refusal::ClientIds), old_out);
        };
        let check = OrderCheck {
            instrument: INST,
            client_id: new,
            side: o.side,
            price,
            qty,
        };
        if let Err(d) = self.risk.check_new(&check, UnixNanos(now)) {
            self.st.denied += 1;
            return (Outcome::refused(Some(new), Refusal::Denied(d)), old_out);
        }
        let refused = match self.rate.check(true, now) {
            Err(b) => {
                self.st.rate_blocked += 1;
                Some(Refusal::RateBlocked(b))
            }
            Ok(()) if self.enc.cancel_replace(id, new, &o).is_err() => Some(Refusal::Encode),
            Ok(()) => None,
        };
        let slot = OrderSlot::pending(new, o, now);
        let refused = refused.or_else(|| (!self.insert(slot)).then_some(Refusal::TableFull));
        if let Some(r) = refused {
            self.risk.on_done(INST, new);
            return (Outcome::refused(Some(new), r), old_out);
        }
        self.risk.on_cancel_sent(UnixNanos(now));
        self.st.modifies_sent += 1;
        self.st.orders_sent += 1;
        let lot = self.enc.market().lot;
        let (mut old_r, mut new_r) = (ItemResult::Unknown, ItemResult::Unknown);
        let mut msg = [0u8; MSG_LEN];
        let mut msg_len = 0;
        let mut put = |m: &[u8]| {
            msg_len = m.len().min(MSG_LEN);
            msg[..msg_len].copy_from_slice(&m[..msg_len]);
        };
        let (mut http_status, mut code, mut not_sent) = (0u16, 0i64, false);
        let half = |h: Option<BatchItem<'_>>, none: ItemResult| match h {
            Some(Ok(a)) => ItemResult::Ack(view_of(&a, lot)),
            Some(Err((c, _))) if unknown_code(c) => ItemResult::Unknown,
            Some(Err((c, _))) => ItemResult::Refused(c),
            None => none,
        };
        match self.send(true) {
            Sent::Failed(RequestFailure::NotSent(e)) => {
                not_sent = true;
                put(e.to_string().as_bytes());
            }
            Sent::Failed(RequestFailure::AfterSend(_)) => {}
            Sent::Answer(r) => {
                http_status = r.status;
                match decode_cancel_replace(r.body) {
                    _ if r.status >= 500 => put(b"HTTP 5xx: execution status unknown"),
                    Ok(a) if !unknown_code(a.code) && (r.status == 200 || a.code != 0) => {
                        code = a.code;
                        put(a.msg);
                        // An error without halves refused the whole request: nothing happened.
                        let nothing = ItemResult::Refused(a.code);
                        let unknown = if r.status == 200 {
                            ItemResult::Unknown
                        } else {
                            nothing
                        };
                        old_r = half(a.cancel, nothing);
                        new_r = half(a.new_order, unknown);
                    }
                    Ok(a) => {
                        code = a.code;
                        put(a.msg);
                    }
                    Err(_) => {}
                }
            }
        }
        if not_sent {
            self.drop_unsent(new);
            let mut out = Outcome::refused(Some(new), Refusal::NotSent);
            out.set_msg(&msg[..msg_len]);
            return (out, old_out);
        }
        if let Some(i) = self.find(id) {
            match old_r {
                ItemResult::Unknown => self.unknown(i),
                ItemResult::Ack(v) => self.apply(i, &v, Source::Reply),
                // The cancel was refused (the order may have filled or gone): ask the venue now.
                ItemResult::Refused(_) => {
                    self.slots[i].recheck = true;
                    self.slots[i].next_query_ns = now_ns();
                }
            }
            old_out = self.outcome_of(i);
        }
        let Some(j) = self.find(new) else {
            return (Outcome::refused(Some(new), Refusal::NoSuchOrder), old_out);
        };
        let mut refusal = None;
        match new_r {
            ItemResult::Unknown => self.unknown(j),
            ItemResult::Ack(v) => self.apply(j, &v, Source::Reply),
            ItemResult::Refused(c) => {
                if self.step(j, OrderEventKind::Rejected) {
                    self.emit(j, Source::Reply, now_ns(), Qty::ZERO, Price::ZERO);
                }
                refusal = Some(Refusal::Venue);
                code = c;
            }
        }
        let mut out = self.outcome_of(j);
        out.refusal = refusal;
        out.code = code;
        out.http_status = http_status;
        out.set_msg(&msg[..msg_len]);
        (out, old_out)
    }

    /// Spot kill: `DELETE /api/v3/openOrders` (every open order on the symbol, ours or not). Each
    /// cancelled order in the answer is applied; when the answer is lost, every live order is
    /// queried soon. Held back by a rate block or not sent, it is retried between commands once
    /// the block ends (every 500 ms while it cannot be sent).
    fn cancel_all(&mut self) {
        let now = now_ns();
        self.mass_cancel_due_ns = 0;
        if self.rate.check(false, now).is_err() || self.enc.cancel_all().is_err() {
            self.st.rate_blocked += 1;
            self.mass_cancel_due_ns = self.rate.blocked_until(now).max(now + 500 * MS);
            return;
        }
        self.risk.on_cancel_sent(UnixNanos(now));
        self.st.mass_cancels += 1;
        let mut listed = ListedIds::default();
        match self.send_order_list(Source::Reply, &mut listed) {
            OrderList::NotSent => self.mass_cancel_due_ns = now_ns() + 500 * MS,
            OrderList::Lost => self.recheck_live(),
            OrderList::Listed | OrderList::Refused => {}
        }
    }

    /// Spot reconciliation after a user-stream reconnect: one `GET /api/v3/openOrders`. Our orders
    /// in it are applied (fills, status); live orders missing from it ended while the stream was
    /// down and are queried once; without a readable answer every live order is queried.
    fn reconcile_open_orders(&mut self) {
        let now = now_ns();
        if self.rate.check(false, now).is_err() || self.enc.open_orders().is_err() {
            self.recheck_live();
            return;
        }
        self.st.reconciles += 1;
        let mut listed = ListedIds::default();
        if !matches!(
            self.send_order_list(Source::Query, &mut listed),
            OrderList::Listed
        ) {
            self.recheck_live();
            return;
        }
        let t = now_ns();
        for s in &mut self.slots {
            if !s.state.is_terminal() && !listed.contains(s.id) {
                s.recheck = true;
                s.next_query_ns = s.next_query_ns.min(t);
            }
        }
    }

    /// Sends the encoded request whose answer is an array of order objects (spot `DELETE` or
    /// `GET /api/v3/openOrders`) and applies each of ours, learnt from `source`; their ids go to
    /// `listed`.
    fn send_order_list(&mut self, source: Source, listed: &mut ListedIds) -> OrderList {
        let lot = self.enc.market().lot;
        // The prefix is copied out: the answer borrows `self` while it is read.
        let mut pfx = [0u8; 8];
        let plen = self.enc.market().prefix.len().min(8);
        pfx[..plen].copy_from_slice(&self.enc.market().prefix.as_bytes()[..plen]);
        let mut seen = [(ClientOrderId(0), None::<VenueView>); ORDER_TABLE];
        let mut n = 0;
        let result = match self.send(true) {
            Sent::Failed(RequestFailure::NotSent(_)) => OrderList::NotSent,
            Sent::Failed(RequestFailure::AfterSend(_)) => OrderList::Lost,
            Sent::Answer(r) if r.status >= 500 => OrderList::Lost,
            Sent::Answer(r) if r.status == 200 => {
                let parsed = for_each_batch_item(r.body, |item| {
                    if let Ok(a) = item {
                        let ours = crate::gateway::client_id::parse_binance_client_id(
                            &pfx[..plen],
                            a.order_client_id(),
                        );
                        if let (Some(id), true) = (ours, n < ORDER_TABLE) {
                            seen[n] = (id, Some(view_of(&a, lot)));
                            n += 1;
                        }
                    }
                });
                match parsed {
                    Ok(()) => OrderList::Listed,
                    Err(_) => OrderList::Lost,
                }
            }
            Sent::Answer(_) => OrderList::Refused,
        };
        for (id, v) in seen.iter().take(n) {
            listed.push(*id);
            if let (Some(i), Some(v)) = (self.find(*id), v) {
                self.apply(i, v, source);
            }
        }
        result
    }

    /// Every live order is queried once soon (events or an answer may have been missed).
    fn recheck_live(&mut self) {
        let t = now_ns();
        for s in &mut self.slots {
            if !s.state.is_terminal() {
                s.recheck = true;
                s.next_query_ns = s.next_query_ns.min(t);
            }
        }
    }

    /// An order that never left: forget its reservation and slot.
    fn drop_unsent(&mut self, id: ClientOrderId) {
        self.risk.on_done(INST, id);
        if let Some(i) = self.find(id) {
            self.slots.remove(i);
        }
    }

    fn cancel(&mut self, id: ClientOrderId) -> Outcome {
        let Some(i) = self.find(id) else {
            return Outcome::refused(Some(id), Refusal::NoSuchOrder);
        };
        if self.slots[i].state.is_terminal() {
            let mut o = self.outcome_of(i);
            o.refusal = Some(Refusal::NoSuchOrder);
            return o;
        }
        let now = now_ns();
        if let Err(b) = self.rate.check(false, now) {
            self.st.rate_blocked += 1;
            let mut o = self.outcome_of(i);
            o.refusal = Some(Refusal::RateBlocked(b));
            return o;
        }
        if self.slots[i].state != OrderState::PendingCancel {
            self.step(i, OrderEventKind::CancelSent);
        }
        self.risk.on_cancel_sent(UnixNanos(now));
        self.enc.cancel(id);
        self.ws_req = WsReq::Cancel(id);
        self.st.cancels_sent += 1;
        self.answer_one(id, Source::Reply, true)
    }

    fn modify(&mut self, id: ClientOrderId, price: Price, qty: Qty) -> Outcome {
        let Some(i) = self.find(id) else {
            return Outcome::refused(Some(id), Refusal::NoSuchOrder);
        };
        if !matches!(
            self.slots[i].state,
            OrderState::New | OrderState::PartiallyFilled
        ) {
            let mut o = self.outcome_of(i);
            o.refusal = Some(Refusal::NoSuchOrder);
            return o;
        }
        let now = now_ns();
        let old = self.slots[i].order;
        // Fail closed: reserve the larger of the old and new open quantity until the order ends
        // (a refused or UNKNOWN modify leaves either in force).
        let open_new = (qty.lots() - self.slots[i].cum.lots()).max(0);
        let open_old = (old.qty.lots() - self.slots[i].cum.lots()).max(0);
        let check = OrderCheck {
            instrument: INST,
            client_id: id,
            side: old.side,
            price,
            qty: Qty::from_lots(open_new.max(open_old)),
        };
        if let Err(d) = self.risk.check_replace(&check, UnixNanos(now)) {
            self.st.denied += 1;
            let mut o = self.outcome_of(i);
            o.refusal = Some(Refusal::Denied(d));
            return o;
        }
        if let Err(b) = self.rate.check(true, now) {
            self.st.rate_blocked += 1;
            let mut o = self.outcome_of(i);
            o.refusal = Some(Refusal::RateBlocked(b));
            return o;
        }
        self.ws_req = WsReq::Modify(id, old.side, price, qty);
        if self.enc.modify(id, old.side, price, qty).is_err() {
            let mut o = self.outcome_of(i);
            o.refusal = Some(Refusal::Encode);
            return o;
        }
        self.st.modifies_sent += 1;
        let o = self.answer_one(id, Source::Reply, false);
        if o.refusal.is_none() && o.state != Some(OrderState::Unknown) {
            if let Some(i) = self.find(id) {
                self.slots[i].order.price = price;
                self.slots[i].order.qty = qty;
            }
        }
        o
    }

    fn query(&mut self, id: ClientOrderId) -> Outcome {
        let Some(i) = self.find(id) else {
            return Outcome::refused(Some(id), Refusal::NoSuchOrder);
        };
        let now = now_ns();
        if let Err(b) = self.rate.check(false, now) {
            self.st.rate_blocked += 1;
            // Background queries wait for the block to end rather than retry every pass.
            let until = self.rate.blocked_until(now);
            let s = &mut self.slots[i];
            s.next_query_ns = s.next_query_ns.max(until);
            let mut o = self.outcome_of(i);
            o.refusal = Some(Refusal::RateBlocked(b));
            return o;
        }
        self.slots[i].queries += 1;
        self.st.queries_sent += 1;
        self.enc.query(id);
        self.ws_req = WsReq::Query(id);
        self.answer_one(id, Source::Query, false)
    }

    /// Sends the encoded single-order request (cancel, modify, query) and applies its answer.
    fn answer_one(&mut self, id: ClientOrderId, source: Source, is_cancel: bool) -> Outcome {
        let is_query = source == Source::Query;
        let lot = self.enc.market().lot;
        let mut results = [ItemResult::Unknown; MAX_BATCH];
        let mut msgs = [[0u8; MSG_LEN]; MAX_BATCH];
        let mut msg_lens = [0usize; MAX_BATCH];
        let mut http_status = 0;
        let mut not_sent = false;
        match self.send(true) {
            Sent::Failed(RequestFailure::NotSent(_)) => not_sent = true,
            Sent::Failed(RequestFailure::AfterSend(_)) => {}
            Sent::Answer(r) => {
                http_status = r.status;
                classify(&r, 1, lot, &mut results, &mut msgs, &mut msg_lens);
            }
        }
        let Some(i) = self.find(id) else {
            return Outcome::refused(Some(id), Refusal::NoSuchOrder);
        };
        let mut refusal = None;
        let mut code = 0;
        if not_sent {
            refusal = Some(Refusal::NotSent);
            if is_cancel && self.slots[i].state == OrderState::PendingCancel {
                // The cancel never left: the order stands as it was (re-queried to be sure).
                self.step(i, OrderEventKind::CancelRejected);
            }
        } else {
            match results[0] {
                ItemResult::Unknown if is_query => {}
                ItemResult::Unknown => self.unknown(i),
                ItemResult::Ack(v) => self.apply(i, &v, source),
                ItemResult::Refused(c) => {
                    code = c;
                    refusal = Some(Refusal::Venue);
                    if c == -2013 && is_query {
                        self.not_found(i);
                    } else if is_cancel && self.slots[i].state == OrderState::PendingCancel {
                        // -2011 unknown order / too late: the order's fate is what a query says.
                        if self.step(i, OrderEventKind::CancelRejected) {
                            self.emit(i, Source::Reply, now_ns(), Qty::ZERO, Price::ZERO);
                        }
                    }
                }
            }
        }
        if is_query {
            let s = &mut self.slots[i];
            if s.state == OrderState::Unknown {
                s.backoff_ns = (s.backoff_ns * 2).min(self.cfg.query_backoff_max_ms * MS);
                s.next_query_ns = now_ns() + s.backoff_ns;
            }
        }
        let mut o = self.outcome_of(i);
        o.refusal = refusal;
        o.code = code;
        o.http_status = http_status;
        o.set_msg(&msgs[0][..msg_lens[0]]);
        o
    }

    /// A query says the venue has no such order.
    fn not_found(&mut self, i: usize) {
        let s = self.slots[i];
        let ev = if s.acked {
            // Acknowledged once, now gone (purged history): it was cancelled or expired unfilled.
            OrderEventKind::Canceled
        } else if now_ns()
            >= s.sent_ns + self.cfg.recv_window_ms * MS + self.cfg.request_timeout_ms * MS
        {
            OrderEventKind::NotFound
        } else {
            // The request may still be in the venue's queue: wait out recvWindow.
            return;
        };
        if matches!(
            s.state,
            OrderState::Unknown | OrderState::PendingNew | OrderState::PendingCancel
        ) && self.step(i, ev)
        {
            self.emit(i, Source::Query, now_ns(), Qty::ZERO, Price::ZERO);
        }
    }

    /// A spot WS API user-data message: `executionReport` applied, `eventStreamTerminated` ends
    /// the stream (reconnected and re-subscribed), answers to our requests ignored.
    fn on_spot_user_message(&mut self, msg: &[u8]) {
        let r = match binance_user::decode(msg) {
            Ok(WsApiMessage::Execution(r)) => r,
            Ok(WsApiMessage::OtherEvent(b"eventStreamTerminated")) => {
                self.user_expired = true;
                return;
            }
            Ok(_) => return,
            Err(_) => {
                self.st.user_decode_errors += 1;
                return;
            }
        };
        self.on_user_report(&UserReport {
            symbol: r.symbol,
            client_id: r.order_client_id(),
            status: r.status,
            cum_qty: r.cum_qty,
            order_id: r.order_id,
            ts_ms: r.trade_time_ms.max(r.event_time_ms),
            last_qty: r.last_qty,
            last_price: r.last_price,
        });
    }

    /// Applies an order update from either user stream (ours only, on our symbol).
    fn on_user_report(&mut self, r: &UserReport<'_>) {
        if r.symbol != self.enc.market().symbol.as_bytes() {
            self.st.foreign_events += 1;
            return;
        }
        let Some(i) = self
            .enc
            .parse_client_id(r.client_id)
            .and_then(|id| self.find(id))
        else {
            self.st.foreign_events += 1;
            return;
        };
        self.st.user_events += 1;
        let m = self.enc.market();
        let v = VenueView {
            status: venue_status(r.status),
            cum: Qty::from_lots(m.lot.parse_units(r.cum_qty).unwrap_or(0)),
            venue_id: r.order_id,
            ts_ns: r.ts_ms.saturating_mul(MS),
            last_qty: Qty::from_lots(m.lot.parse_units(r.last_qty).unwrap_or(0)),
            last_price: Price::from_ticks(m.tick.parse_units(r.last_price).unwrap_or(0)),
        };
        self.apply(i, &v, Source::UserStream);
    }

    /// Spot user stream: connect to the WS API, then `session.logon` + `userDataStream.subscribe`
    /// (Ed25519) or `userDataStream.subscribe.signature` (HMAC), each answered 200 in time.
    fn connect_spot_user(&mut self, url: &Url) -> std::io::Result<WsClient> {
        let timeout_ns = self.cfg.request_timeout_ms * MS;
        self.seed = self.seed.wrapping_add(0x9E37_79B9);
        let mut ws = WsClient::connect(url, Duration::from_nanos(timeout_ns), 1 << 20, self.seed)?;
        let mut buf = [0u8; 1024];
        let mut resp = Vec::with_capacity(1024);
        let mut late = 0u64;
        let key = self.cfg.api_key.as_bytes();
        let auth = Auth {
            api_key: Some(key),
            timestamp_ms: now_ns() / MS,
            recv_window_ms: u32::try_from(self.cfg.recv_window_ms).ok(),
        };
        let enc_err = |_| {
            io_err(
                std::io::ErrorKind::InvalidInput,
                "user stream request encoding",
            )
        };
        let steps: [(u64, usize); 2] = if matches!(self.signer, Signer::Ed25519(_)) {
            let n = encode_session_logon(1, key, auth.timestamp_ms, &self.signer, &mut buf)
                .map_err(enc_err)?;
            [(1, n), (2, 0)]
        } else {
            let n = encode_signed_request(
                1,
                b"userDataStream.subscribe.signature",
                &auth,
                &self.signer,
                &mut buf,
            )
            .map_err(enc_err)?;
            [(1, n), (0, 0)]
        };
        for (rid, n) in steps {
            let n = match rid {
                0 => break,
                2 => encode_plain_request(2, b"userDataStream.subscribe", &mut buf)
                    .map_err(enc_err)?,
                _ => n,
            };
            ws.send_text(&buf[..n])?;
            let answered = await_ws_answer(&mut ws, rid, timeout_ns, &mut resp, &mut late)?;
            let ok = answered
                && matches!(
                    binance_user::decode(&resp),
                    Ok(WsApiMessage::Response(r)) if r.status == 200
                );
            if !ok {
                ws.close();
                return Err(io_err(
                    std::io::ErrorKind::PermissionDenied,
                    "user data subscription refused or not answered",
                ));
            }
        }
        Ok(ws)
    }

    fn on_user_message(&mut self, msg: &[u8]) {
        if self.is_spot() {
            return self.on_spot_user_message(msg);
        }
        let u = match decode_user_event(msg) {
            Ok(UsdmUserEvent::Order(u)) => u,
            Ok(UsdmUserEvent::ListenKeyExpired) => {
                self.user_expired = true;
                self.listen_key.clear();
                return;
            }
            Ok(UsdmUserEvent::Other(_)) => return,
            Err(_) => {
                self.st.user_decode_errors += 1;
                return;
            }
        };
        self.on_user_report(&UserReport {
            symbol: u.symbol,
            client_id: u.client_id,
            status: u.status,
            cum_qty: u.cum_qty,
            order_id: u.order_id,
            ts_ms: u.trade_time_ms.max(u.event_time_ms),
            last_qty: u.last_qty,
            last_price: u.last_price,
        });
    }

    fn drop_user_stream(&mut self) {
        if let Some(mut ws) = self.user.take() {
            ws.close();
        }
        self.user_retry_ns = now_ns() + 500 * MS;
    }

    /// `POST` (`create`) or `PUT /fapi/v1/listenKey` (API key only), or over the WebSocket API
    /// `userDataStream.start` / `userDataStream.ping`.
    fn listen_key_request(&mut self, create: bool) -> Sent<'_> {
        if self.wsapi.is_some() {
            self.ws_req = WsReq::Key(if create {
                b"userDataStream.start"
            } else {
                b"userDataStream.ping"
            });
            return self.ws_send();
        }
        let method = if create { "POST" } else { "PUT" };
        match self.http.request(
            method,
            "/fapi/v1/listenKey",
            b"",
            Some(b""),
            &self.cfg.api_key,
            now_ns(),
        ) {
            Ok(r) => Sent::Answer(r),
            Err(e) => Sent::Failed(e),
        }
    }

    /// Creates (or fetches the account's live) listenKey.
    fn create_listen_key(&mut self) -> bool {
        let Sent::Answer(reply) = self.listen_key_request(true) else {
            return false;
        };
        if reply.status != 200 {
            return false;
        }
        let mut key: &[u8] = b"";
        let ok = Scanner::new(reply.body).object(|k, v| {
            if k == b"listenKey" {
                if let Value::Str(s) = v {
                    key = s;
                }
            }
            Ok(())
        });
        if ok.is_err() || key.is_empty() {
            return false;
        }
        self.listen_key = String::from_utf8_lossy(key).into_owned();
        self.listen_key_at_ns = now_ns();
        true
    }

    fn connect_user_stream(&mut self) -> bool {
        let Some(base) = self.user_url.clone() else {
            return true;
        };
        let connected = if self.is_spot() {
            self.connect_spot_user(&base)
        } else {
            if self.listen_key.is_empty() && !self.create_listen_key() {
                return false;
            }
            let sep = if base.path.contains('?') { '&' } else { '?' };
            let url = base.with_path(&format!("{}{sep}listenKey={}", base.path, self.listen_key));
            self.seed = self.seed.wrapping_add(0x9E37_79B9);
            WsClient::connect(
                &url,
                Duration::from_millis(self.cfg.request_timeout_ms),
                1 << 20,
                self.seed,
            )
        };
        match connected {
            Ok(ws) => {
                self.user = Some(ws);
                self.st.user_connects += 1;
                if self.st.user_connects > 1 {
                    // Events may have been missed while down: re-read every live order once (spot:
                    // one list of open orders first).
                    if self.is_spot() {
                        self.reconcile_open_orders();
                    } else {
                        self.recheck_live();
                    }
                }
                true
            }
            Err(_) => {
                self.user_retry_ns = now_ns() + 500 * MS;
                false
            }
        }
    }

    /// Background work between commands: user stream, UNKNOWN queries, listenKey keep-alive, the
    /// WebSocket API connection's pings.
    fn service(&mut self) {
        if let Some(ws) = self.wsapi.as_mut() {
            ws.service();
        }
        if let Some(mut ws) = self.user.take() {
            // `ws` is out of `self` while it delivers, so each message is applied in place.
            let r = ws.poll(|payload| self.on_user_message(payload));
            if r.is_err() || self.user_expired {
                self.user_expired = false;
                ws.close();
                self.user_retry_ns = now_ns() + 500 * MS;
            } else {
                self.user = Some(ws);
            }
        } else if self.user_url.is_some() && now_ns() >= self.user_retry_ns {
            self.connect_user_stream();
        }
        let now = now_ns();
        if self.user.is_some()
            && !self.is_spot()
            && !self.listen_key.is_empty()
            && now.saturating_sub(self.listen_key_at_ns) >= self.cfg.listen_key_keepalive_ms * MS
        {
            let r = self.listen_key_request(false);
            if matches!(r, Sent::Answer(ref reply) if reply.status == 200) {
                self.listen_key_at_ns = now;
            } else {
                self.drop_user_stream();
                self.listen_key.clear();
            }
        }
        if self.mass_cancel_due_ns != 0 && now >= self.mass_cancel_due_ns && self.risk.is_killed() {
            self.cancel_all();
            return;
        }
        // One query per pass keeps command latency bounded.
        let due = self.slots.iter().position(|s| {
            (s.state == OrderState::Unknown || (s.recheck && !s.state.is_terminal()))
                && s.next_query_ns <= now
        });
        if let Some(i) = due {
            let id = self.slots[i].id;
            let o = self.query(id);
            if !matches!(o.refusal, Some(Refusal::RateBlocked(_))) {
                if let Some(i) = self.find(id) {
                    self.slots[i].recheck = false;
                }
            }
        }
    }

    fn status(&self) -> GatewayStatus {
        let mut st = self.st;
        st.http = self.http.stats();
        st.rate = self.rate;
        st.live_orders = self.slots.iter().filter(|s| !s.state.is_terminal()).count() as u64;
        st.unknown_now = self
            .slots
            .iter()
            .filter(|s| s.state == OrderState::Unknown)
            .count() as u64;
        st.user_stream_up = self.user.is_some();
        if let Some(ws) = &self.wsapi {
            st.ws_api = ws.st;
            st.ws_api.up = ws.conn.is_some();
            st.ws_api.logged_on = ws.logged_on;
        }
        st.killed = self.risk.is_killed();
        st
    }
}

/// `retryAfter` (ms since the epoch) in a WS API error's `data` object.
fn retry_after_of(data: &[u8]) -> Option<u64> {
    let mut out = None;
    let _ = Scanner::new(data).object(|k, v| {
        if k == b"retryAfter" {
            if let Value::Num(n) = v {
                out = crate::feed::binance::scanner::parse_u64(n, "retryAfter").ok();
            }
        }
        Ok(())
    });
    out
}

#[derive(Clone, Copy, Debug)]
enum ItemResult {
    Unknown,
    Refused(i64),
    Ack(VenueView),
}

/// What an order object in a REST answer says, in our units.
fn view_of(a: &UsdmOrderAck<'_>, lot: Scale) -> VenueView {
    VenueView {
        status: venue_status(a.status),
        cum: Qty::from_lots(lot.parse_units(a.executed_qty).unwrap_or(0)),
        venue_id: a.order_id,
        ts_ns: a.update_time_ms.saturating_mul(MS),
        last_qty: Qty::ZERO,
        last_price: Price::ZERO,
    }
}

/// Sorts an answer into per-order results: an ack, a refusal (with code), or UNKNOWN.
fn classify(
    r: &Reply<'_>,
    n: usize,
    lot: Scale,
    results: &mut [ItemResult; MAX_BATCH],
    msgs: &mut [[u8; MSG_LEN]; MAX_BATCH],
    lens: &mut [usize; MAX_BATCH],
) {
    let mut put_msg = |j: usize, m: &[u8]| {
        let k = m.len().min(MSG_LEN);
        msgs[j][..k].copy_from_slice(&m[..k]);
        lens[j] = k;
    };
    let view = |a: &UsdmOrderAck<'_>| view_of(a, lot);
    if r.status >= 500 {
        // 5xx: the venue may have executed it.
        for (j, item) in results.iter_mut().enumerate().take(n) {
            *item = ItemResult::Unknown;
            put_msg(j, b"HTTP 5xx: execution status unknown");
        }
        return;
    }
    if r.status != 200 {
        let (code, msg) = decode_error(r.body).unwrap_or((0, b"not a Binance error body"));
        for (j, item) in results.iter_mut().enumerate().take(n) {
            *item = if unknown_code(code) {
                ItemResult::Unknown
            } else {
                ItemResult::Refused(code)
            };
            put_msg(j, msg);
        }
        return;
    }
    if n == 1 && r.body.first() == Some(&b'{') {
        results[0] = match decode_order(r.body) {
            Ok(a) => ItemResult::Ack(view(&a)),
            Err(_) => match decode_error(r.body) {
                Some((code, msg)) => {
                    put_msg(0, msg);
                    if unknown_code(code) {
                        ItemResult::Unknown
                    } else {
                        ItemResult::Refused(code)
                    }
                }
                // A 200 we cannot read: the order may well be live.
                None => ItemResult::Unknown,
            },
        };
        return;
    }
    let mut j = 0;
    let parsed = for_each_batch_item(r.body, |item| {
        if j < n {
            results[j] = match item {
                Ok(a) => ItemResult::Ack(view(&a)),
                Err((code, msg)) => {
                    put_msg(j, msg);
                    if unknown_code(code) {
                        ItemResult::Unknown
                    } else {
                        ItemResult::Refused(code)
                    }
                }
            };
        }
        j += 1;
    });
    if parsed.is_err() || j != n {
        for item in results.iter_mut().take(n) {
            if !matches!(item, ItemResult::Ack(_) | ItemResult::Refused(_)) {
                *item = ItemResult::Unknown;
            }
        }
    }
}

fn run(
    parts: UsdmParts,
    commands: Receiver<Command>,
    answers: SyncSender<Answer>,
    events: SyncSender<UsdmEvent>,
) {
    let mut gw = Gateway::new(parts, events);
    let started = if gw.next_id().is_none() {
        Err(StartError::ClientIds)
    } else {
        // Put the id back: `next_id` reserved the block; the first id is still unused.
        gw.id_next -= 1;
        match gw.user_url.is_some() {
            false => Ok(()),
            true if !gw.is_spot() && !gw.create_listen_key() => Err(StartError::ListenKey),
            true if !gw.connect_user_stream() => Err(StartError::UserStream),
            true => Ok(()),
        }
    };
    let failed = started.is_err();
    if answers.send(Answer::Started(started)).is_err() || failed {
        return;
    }
    loop {
        let cmd = match commands.recv_timeout(Duration::from_millis(1)) {
            Ok(c) => c,
            Err(RecvTimeoutError::Timeout) => {
                gw.service();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let now = UnixNanos(now_ns());
        let answer = match cmd {
            Command::Place(orders) => {
                let mut list = [orders[0].unwrap_or(UsdmOrder {
                    side: Side::Buy,
                    tif: crate::gateway::binance_usdm::UsdmTif::Gtx,
                    price: Price::ZERO,
                    qty: Qty::ZERO,
                    reduce_only: false,
                }); MAX_BATCH];
                let mut n = 0;
                for o in orders.iter().flatten() {
                    list[n] = *o;
                    n += 1;
                }
                let mut out = [Outcome::EMPTY; MAX_BATCH];
                let n = if n == 0 {
                    0
                } else if gw.wsapi.is_some() || gw.is_spot() {
                    // The futures WS API and spot REST have no batch: one request per order, each
                    // its own outcome.
                    let mut one = [Outcome::EMPTY; MAX_BATCH];
                    for k in 0..n {
                        gw.place(&list[k..=k], &mut one);
                        out[k] = one[0];
                    }
                    n
                } else {
                    gw.place(&list[..n], &mut out)
                };
                Answer::Outcomes(out, n)
            }
            Command::Cancel(id) => one(gw.cancel(id)),
            Command::Modify(id, p, q) if gw.is_spot() => {
                let (new, old) = gw.cancel_replace(id, p, q);
                let mut out = [Outcome::EMPTY; MAX_BATCH];
                out[0] = new;
                out[1] = old;
                Answer::Outcomes(out, 2)
            }
            Command::Modify(id, p, q) => one(gw.modify(id, p, q)),
            Command::Query(id) => one(gw.query(id)),
            Command::SetReference(p) => {
                gw.risk.set_reference(INST, p, now);
                Answer::Done
            }
            Command::SetPosition(lots) => {
                gw.risk.set_position(INST, lots);
                Answer::Done
            }
            Command::Kill => {
                gw.risk.kill();
                if gw.is_spot() {
                    gw.cancel_all();
                }
                Answer::Done
            }
            Command::Lift => {
                gw.risk.lift_kill();
                Answer::Done
            }
            Command::Status => Answer::Status(gw.status()),
            Command::Order(id) => Answer::Order(gw.find(id).map(|i| gw.slots[i])),
            Command::Stop => {
                let _ = answers.send(Answer::Done);
                break;
            }
        };
        if answers.send(answer).is_err() {
            break;
        }
        gw.service();
    }
    gw.drop_user_stream();
    gw.http.disconnect();
    if let Some(ws) = gw.wsapi.as_mut() {
        ws.drop_conn();
    }
}

fn one(o: Outcome) -> Answer {
    let mut out = [Outcome::EMPTY; MAX_BATCH];
    out[0] = o;
    Answer::Outcomes(out, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &[u8]) -> Reply<'_> {
        Reply {
            status,
            used_weight_1m: None,
            order_count_10s: None,
            order_count_1m: None,
            order_count_1d: None,
            retry_after_s: None,
            body,
        }
    }

    fn run_classify(r: &Reply<'_>, n: usize) -> Vec<String> {
        let mut results = [ItemResult::Unknown; MAX_BATCH];
        let mut msgs = [[0u8; MSG_LEN]; MAX_BATCH];
        let mut lens = [0usize; MAX_BATCH];
        classify(
            r,
            n,
            Scale::parse("1").unwrap(),
            &mut results,
            &mut msgs,
            &mut lens,
        );
        results[..n]
            .iter()
            .map(|x| match x {
                ItemResult::Unknown => "unknown".to_string(),
                ItemResult::Refused(c) => format!("refused {c}"),
                ItemResult::Ack(v) => format!("ack {:?} {}", v.status, v.cum.lots()),
            })
            .collect()
    }

    #[test]
    fn answers_sort_into_ack_refusal_and_unknown() {
        let ok = br#"{"orderId":5,"status":"NEW","clientOrderId":"p-1","executedQty":"0"}"#;
        assert_eq!(run_classify(&reply(200, ok), 1), ["ack Some(New) 0"]);
        assert_eq!(
            run_classify(&reply(400, br#"{"code":-5022,"msg":"would take"}"#), 1),
            ["refused -5022"]
        );
        assert_eq!(
            run_classify(&reply(503, br#"{"code":-1007,"msg":"timeout"}"#), 1),
            ["unknown"]
        );
        assert_eq!(
            run_classify(&reply(400, br#"{"code":-1006,"msg":"unexpected"}"#), 1),
            ["unknown"]
        );
        assert_eq!(
            run_classify(&reply(502, b"<html>bad gateway</html>"), 2),
            ["unknown", "unknown"]
        );
        assert_eq!(
            run_classify(&reply(200, b"{garbage"), 1),
            ["unknown"],
            "an unreadable 200 may be live"
        );
        let batch = br#"[{"orderId":1,"status":"FILLED","clientOrderId":"p-1","executedQty":"3"},{"code":-1111,"msg":"precision"},{"code":-1007,"msg":"timeout"}]"#;
        assert_eq!(
            run_classify(&reply(200, batch), 3),
            ["ack Some(Filled) 3", "refused -1111", "unknown"]
        );
        assert_eq!(
            run_classify(
                &reply(200, br#"[{"orderId":1,"status":"NEW","executedQty":"0"}]"#),
                2
            ),
            ["ack Some(New) 0", "unknown"],
            "a short batch answer leaves the rest unknown"
        );
        assert_eq!(
            run_classify(
                &reply(429, br#"{"code":-1015,"msg":"Too many new orders"}"#),
                1
            ),
            ["refused -1015"]
        );
    }
}
