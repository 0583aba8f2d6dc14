//! Binance USD-M futures order entry over REST (`/fapi/v1`): signed form encoders for a new order,
//! cancel, modify, query and batch orders ([`UsdmEncoder`]); decoders for order objects, error
//! bodies, batch results and the listenKey `ORDER_TRADE_UPDATE` event; and the venue's rate-limit
//! accounting from response headers ([`RateAccount`]).
//!
//! Wire rules (research brief `binance_protocol.md` §1.3, §3.2-§3.4): every signed request carries
//! `recvWindow` and `timestamp` and is signed over the exact bytes sent (the query of a GET/DELETE,
//! the form body of a POST/PUT); `batchOrders` is a URL-encoded JSON array of at most
//! [`MAX_BATCH`] orders whose answer is an array of order objects and `{code,msg}` errors in the
//! same order; only `LIMIT` orders are encoded (GTX post-only, IOC, GTC), never MARKET.
//!
//! Runs on the USD-M gateway thread ([`crate::engine::usdm_session`]), not on a quoting hot path.
//! The encoders write into buffers allocated once; the decoders hand out slices of the input.

use crate::feed::binance::scanner::{Scanner, Value};
use crate::feed::DecodeError;
use crate::model::decimal::{write_u64, MAX_FIXED_LEN};
use crate::model::{ClientOrderId, Price, Qty, Scale, Side};

use super::binance_user::{i64_of, num_of, str_of};
use super::client_id::write_binance_client_id;
use super::signing::{Signer, MAX_SIGNATURE_LEN};

/// Most orders in one `POST /fapi/v1/batchOrders` (Binance's limit).
pub const MAX_BATCH: usize = 5;

/// Time in force of a USD-M limit order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsdmTif {
    /// Post-only (`GTX`): the venue expires it rather than let it take.
    Gtx,
    /// Immediate-or-cancel.
    Ioc,
    /// Good till cancelled.
    Gtc,
}

impl UsdmTif {
    /// The venue's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            UsdmTif::Gtx => "GTX",
            UsdmTif::Ioc => "IOC",
            UsdmTif::Gtc => "GTC",
        }
    }

    /// Parses the venue's spelling.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "GTX" => Some(UsdmTif::Gtx),
            "IOC" => Some(UsdmTif::Ioc),
            "GTC" => Some(UsdmTif::Gtc),
            _ => None,
        }
    }
}

/// A new USD-M limit order, in the instrument's fixed-point units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsdmOrder {
    /// Buy or sell.
    pub side: Side,
    /// Time in force.
    pub tif: UsdmTif,
    /// Limit price in ticks.
    pub price: Price,
    /// Quantity in lots.
    pub qty: Qty,
    /// `reduceOnly=true`.
    pub reduce_only: bool,
}

/// HTTP method of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// GET (parameters in the query).
    Get,
    /// POST (parameters in the form body).
    Post,
    /// PUT (parameters in the form body).
    Put,
    /// DELETE (parameters in the query).
    Delete,
}

impl Method {
    /// The method's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }

    /// Whether the parameters travel in the body.
    pub const fn has_body(self) -> bool {
        matches!(self, Method::Post | Method::Put)
    }
}

/// Why a request could not be encoded (nothing is sent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The client id prefix is not `[.A-Z:/a-z0-9_-]` or the text would exceed 36 characters.
    #[error("client order id prefix is invalid or too long")]
    ClientId,
    /// A batch must hold 1..=5 orders.
    #[error("a batch holds 1..={MAX_BATCH} orders, got {0}")]
    BatchSize(usize),
    /// Price or quantity is not positive.
    #[error("price and quantity must be positive")]
    NotPositive,
}

/// The instrument an encoder trades and its client-id prefix.
#[derive(Clone, Debug)]
pub struct UsdmMarket {
    /// Venue symbol, e.g. `DOGEUSDT`.
    pub symbol: String,
    /// Tick size.
    pub tick: Scale,
    /// Lot size.
    pub lot: Scale,
    /// Client order id prefix (`newClientOrderId` = prefix + decimal id).
    pub prefix: String,
}

/// One request's parameters, signed, in a buffer reused for every request.
#[derive(Debug)]
pub struct UsdmEncoder {
    market: UsdmMarket,
    method: Method,
    path: &'static str,
    params: Vec<u8>,
    json: Vec<u8>,
}

fn pct_encode(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &c in s {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~') {
            out.push(c);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(c >> 4)], HEX[usize::from(c & 0xf)]]);
        }
    }
}

impl UsdmEncoder {
    /// An encoder for `market`; its buffers are allocated here, once.
    pub fn new(market: UsdmMarket) -> Result<Self, EncodeError> {
        let mut probe = [0u8; 36];
        write_binance_client_id(
            market.prefix.as_bytes(),
            ClientOrderId(u64::MAX),
            &mut probe,
        )
        .ok_or(EncodeError::ClientId)?;
        Ok(Self {
            market,
            method: Method::Get,
            path: "/",
            params: Vec::with_capacity(4096),
            json: Vec::with_capacity(2048),
        })
    }

    /// The market.
    pub fn market(&self) -> &UsdmMarket {
        &self.market
    }

    /// The method of the request last encoded.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The path of the request last encoded.
    pub fn path(&self) -> &'static str {
        self.path
    }

    /// The encoded (and, after [`Self::sign`], signed) parameters.
    pub fn params(&self) -> &[u8] {
        &self.params
    }

    /// Writes our client id text for `id` into `buf`; returns its length.
    pub fn client_id_text(&self, id: ClientOrderId, buf: &mut [u8; 36]) -> usize {
        // The prefix was validated against the longest id in `new`.
        write_binance_client_id(self.market.prefix.as_bytes(), id, buf).unwrap_or(0)
    }

    /// Parses our client id text (`None` for an id that is not ours).
    pub fn parse_client_id(&self, text: &[u8]) -> Option<ClientOrderId> {
        super::client_id::parse_binance_client_id(self.market.prefix.as_bytes(), text)
    }

    fn start(&mut self, method: Method, path: &'static str) {
        self.method = method;
        self.path = path;
        self.params.clear();
        self.params.extend_from_slice(b"symbol=");
        let sym = self.market.symbol.as_bytes();
        self.params.extend_from_slice(sym);
    }

    fn kv(&mut self, k: &[u8], v: &[u8]) {
        self.params.push(b'&');
        self.params.extend_from_slice(k);
        self.params.push(b'=');
        self.params.extend_from_slice(v);
    }

    fn cid_kv(&mut self, k: &[u8], id: ClientOrderId) {
        let mut buf = [0u8; 36];
        let n = self.client_id_text(id, &mut buf);
        self.kv(k, &buf[..n]);
    }

    fn px_qty(&mut self, price: Price, qty: Qty) -> Result<(), EncodeError> {
        if price.ticks() <= 0 || qty.lots() <= 0 {
            return Err(EncodeError::NotPositive);
        }
        let mut b = [0u8; MAX_FIXED_LEN];
        let n = self.market.lot.write_units(qty.lots(), &mut b);
        self.kv(b"quantity", &b[..n]);
        let n = self.market.tick.write_units(price.ticks(), &mut b);
        self.kv(b"price", &b[..n]);
        Ok(())
    }

    /// `POST /fapi/v1/order`: a LIMIT order with our client id, answered with the RESULT shape.
    pub fn new_order(&mut self, id: ClientOrderId, o: &UsdmOrder) -> Result<(), EncodeError> {
        self.start(Method::Post, "/fapi/v1/order");
        self.kv(b"side", o.side.as_str().as_bytes());
        self.kv(b"type", b"LIMIT");
        self.kv(b"timeInForce", o.tif.as_str().as_bytes());
        self.px_qty(o.price, o.qty)?;
        if o.reduce_only {
            self.kv(b"reduceOnly", b"true");
        }
        self.cid_kv(b"newClientOrderId", id);
        self.kv(b"newOrderRespType", b"RESULT");
        Ok(())
    }

    /// `DELETE /fapi/v1/order` by our client id.
    pub fn cancel(&mut self, id: ClientOrderId) {
        self.start(Method::Delete, "/fapi/v1/order");
        self.cid_kv(b"origClientOrderId", id);
    }

    /// `GET /fapi/v1/order` by our client id.
    pub fn query(&mut self, id: ClientOrderId) {
        self.start(Method::Get, "/fapi/v1/order");
        self.cid_kv(b"origClientOrderId", id);
    }

    /// `PUT /fapi/v1/order`: new price and quantity for a resting LIMIT order (same client id).
    pub fn modify(
        &mut self,
        id: ClientOrderId,
        side: Side,
        price: Price,
        qty: Qty,
    ) -> Result<(), EncodeError> {
        self.start(Method::Put, "/fapi/v1/order");
        self.cid_kv(b"origClientOrderId", id);
        self.kv(b"side", side.as_str().as_bytes());
        self.px_qty(price, qty)
    }

    /// `POST /fapi/v1/batchOrders`: 1..=5 LIMIT orders as one URL-encoded JSON array.
    pub fn batch(&mut self, orders: &[(ClientOrderId, UsdmOrder)]) -> Result<(), EncodeError> {
        if orders.is_empty() || orders.len() > MAX_BATCH {
            return Err(EncodeError::BatchSize(orders.len()));
        }
        self.method = Method::Post;
        self.path = "/fapi/v1/batchOrders";
        self.params.clear();
        self.json.clear();
        self.json.push(b'[');
        for (i, (id, o)) in orders.iter().enumerate() {
            if o.price.ticks() <= 0 || o.qty.lots() <= 0 {
                return Err(EncodeError::NotPositive);
            }
            if i > 0 {
                self.json.push(b',');
            }
            let j = &mut self.json;
            let s = |j: &mut Vec<u8>, k: &str, v: &[u8]| {
                j.push(b'"');
                j.extend_from_slice(k.as_bytes());
                j.extend_from_slice(b"\":\"");
                j.extend_from_slice(v);
                j.push(b'"');
            };
            j.push(b'{');
            s(j, "symbol", self.market.symbol.as_bytes());
            j.push(b',');
            s(j, "side", o.side.as_str().as_bytes());
            j.extend_from_slice(b",\"type\":\"LIMIT\",");
            s(j, "timeInForce", o.tif.as_str().as_bytes());
            j.push(b',');
            let mut b = [0u8; MAX_FIXED_LEN];
            let n = self.market.lot.write_units(o.qty.lots(), &mut b);
            s(j, "quantity", &b[..n]);
            j.push(b',');
            let n = self.market.tick.write_units(o.price.ticks(), &mut b);
            s(j, "price", &b[..n]);
            if o.reduce_only {
                j.extend_from_slice(b",\"reduceOnly\":\"true\"");
            }
            j.push(b',');
            let mut c = [0u8; 36];
            let n = write_binance_client_id(self.market.prefix.as_bytes(), *id, &mut c)
                .ok_or(EncodeError::ClientId)?;
            s(j, "newClientOrderId", &c[..n]);
            j.extend_from_slice(b",\"newOrderRespType\":\"RESULT\"}");
        }
        self.json.push(b']');
        self.params.extend_from_slice(b"batchOrders=");
        pct_encode(&mut self.params, &self.json);
        Ok(())
    }

    /// Appends `recvWindow`, `timestamp` and the signature over everything before it.
    pub fn sign(&mut self, signer: &Signer, recv_window_ms: u64, timestamp_ms: u64) {
        let mut d = [0u8; 20];
        let mut e = [0u8; 20];
        let rw = write_u64(recv_window_ms, &mut d);
        self.kv(b"recvWindow", rw);
        let ts = write_u64(timestamp_ms, &mut e);
        self.kv(b"timestamp", ts);
        let mut sig = [0u8; MAX_SIGNATURE_LEN];
        let n = signer.sign(&self.params, &mut sig);
        self.params.extend_from_slice(b"&signature=");
        pct_encode(&mut self.params, &sig[..n]);
    }
}

/// An order object from a REST answer (new, cancel, modify, query, a batch element).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsdmOrderAck<'a> {
    /// `clientOrderId`.
    pub client_id: &'a [u8],
    /// `orderId`.
    pub order_id: u64,
    /// `status`.
    pub status: &'a [u8],
    /// `price`.
    pub price: &'a [u8],
    /// `origQty`.
    pub orig_qty: &'a [u8],
    /// `executedQty`.
    pub executed_qty: &'a [u8],
    /// `updateTime` (ms).
    pub update_time_ms: u64,
}

const KIND_ORDER: &str = "usdm order";
const KIND_EVENT: &str = "ORDER_TRADE_UPDATE";
const KIND_ERROR: &str = "usdm error";

/// Decodes an order object.
pub fn decode_order(obj: &[u8]) -> Result<UsdmOrderAck<'_>, DecodeError> {
    let mut r = UsdmOrderAck::default();
    let mut seen_id = false;
    Scanner::new(obj).object(|k, v| {
        match k {
            b"clientOrderId" => r.client_id = str_of(v, KIND_ORDER, "clientOrderId")?,
            b"orderId" => {
                r.order_id = num_of(v, KIND_ORDER, "orderId")?;
                seen_id = true;
            }
            b"status" => r.status = str_of(v, KIND_ORDER, "status")?,
            b"price" => r.price = str_of(v, KIND_ORDER, "price")?,
            b"origQty" => r.orig_qty = str_of(v, KIND_ORDER, "origQty")?,
            b"executedQty" => r.executed_qty = str_of(v, KIND_ORDER, "executedQty")?,
            b"updateTime" => r.update_time_ms = num_of(v, KIND_ORDER, "updateTime")?,
            _ => {}
        }
        Ok(())
    })?;
    for (ok, field) in [
        (seen_id, "orderId"),
        (!r.status.is_empty(), "status"),
        (!r.executed_qty.is_empty(), "executedQty"),
    ] {
        if !ok {
            return Err(DecodeError::MissingField {
                kind: KIND_ORDER,
                field,
            });
        }
    }
    Ok(r)
}

/// A Binance error body `{"code":-2013,"msg":"..."}` (`None` when the body is not one).
pub fn decode_error(body: &[u8]) -> Option<(i64, &[u8])> {
    let mut code = None;
    let mut msg: &[u8] = b"";
    Scanner::new(body)
        .object(|k, v| {
            match k {
                b"code" => code = Some(i64_of(v, KIND_ERROR, "code")?),
                b"msg" => msg = str_of(v, KIND_ERROR, "msg")?,
                _ => {}
            }
            Ok(())
        })
        .ok()?;
    code.map(|c| (c, msg))
}

/// One element of a batch answer: the order, or the venue's refusal of that order alone.
pub type BatchItem<'a> = Result<UsdmOrderAck<'a>, (i64, &'a [u8])>;

/// Calls `f` for every element of a batch answer, in request order.
pub fn for_each_batch_item<'a>(
    body: &'a [u8],
    mut f: impl FnMut(BatchItem<'a>),
) -> Result<(), DecodeError> {
    let mut sc = Scanner::new(body);
    sc.expect(b'[', "'['")?;
    if sc.eat(b']') {
        return Ok(());
    }
    loop {
        match sc.value()? {
            Value::Obj(o) => match decode_error(o) {
                Some((code, msg)) if code != 200 && code != 0 => f(Err((code, msg))),
                _ => f(Ok(decode_order(o)?)),
            },
            _ => {
                return Err(DecodeError::WrongType {
                    kind: KIND_ORDER,
                    field: "[]",
                })
            }
        }
        if sc.eat(b',') {
            continue;
        }
        sc.expect(b']', "',' or ']'")?;
        return Ok(());
    }
}

/// An `ORDER_TRADE_UPDATE`'s order part, fields as the venue's text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OrderTradeUpdate<'a> {
    /// `E` event time (ms).
    pub event_time_ms: u64,
    /// `o.s` symbol.
    pub symbol: &'a [u8],
    /// `o.c` client order id.
    pub client_id: &'a [u8],
    /// `o.S` side.
    pub side: &'a [u8],
    /// `o.x` execution type.
    pub exec_type: &'a [u8],
    /// `o.X` order status.
    pub status: &'a [u8],
    /// `o.i` venue order id.
    pub order_id: u64,
    /// `o.q` order quantity.
    pub orig_qty: &'a [u8],
    /// `o.p` price.
    pub price: &'a [u8],
    /// `o.l` last filled quantity.
    pub last_qty: &'a [u8],
    /// `o.z` cumulative filled quantity.
    pub cum_qty: &'a [u8],
    /// `o.L` last fill price.
    pub last_price: &'a [u8],
    /// `o.T` transaction time (ms).
    pub trade_time_ms: u64,
}

/// What a listenKey stream message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsdmUserEvent<'a> {
    /// An order changed.
    Order(OrderTradeUpdate<'a>),
    /// `listenKeyExpired`: the stream ends; a new key is needed.
    ListenKeyExpired,
    /// Anything else (`ACCOUNT_UPDATE`, `ACCOUNT_CONFIG_UPDATE`, ...): its `e`.
    Other(&'a [u8]),
}

/// Decodes one listenKey stream message.
pub fn decode_user_event(msg: &[u8]) -> Result<UsdmUserEvent<'_>, DecodeError> {
    let mut e: &[u8] = b"";
    let mut event_time_ms = 0;
    let mut order: Option<&[u8]> = None;
    Scanner::new(msg).object(|k, v| {
        match k {
            b"e" => e = str_of(v, KIND_EVENT, "e")?,
            b"E" => event_time_ms = num_of(v, KIND_EVENT, "E")?,
            b"o" => {
                if let Value::Obj(o) = v {
                    order = Some(o);
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    match e {
        b"ORDER_TRADE_UPDATE" => {}
        b"listenKeyExpired" => return Ok(UsdmUserEvent::ListenKeyExpired),
        _ => return Ok(UsdmUserEvent::Other(e)),
    }
    let o = order.ok_or(DecodeError::MissingField {
        kind: KIND_EVENT,
        field: "o",
    })?;
    let mut u = OrderTradeUpdate {
        event_time_ms,
        ..OrderTradeUpdate::default()
    };
    let mut seen_i = false;
    Scanner::new(o).object(|k, v| {
        match k {
            b"s" => u.symbol = str_of(v, KIND_EVENT, "s")?,
            b"c" => u.client_id = str_of(v, KIND_EVENT, "c")?,
            b"S" => u.side = str_of(v, KIND_EVENT, "S")?,
            b"x" => u.exec_type = str_of(v, KIND_EVENT, "x")?,
            b"X" => u.status = str_of(v, KIND_EVENT, "X")?,
            b"i" => {
                u.order_id = num_of(v, KIND_EVENT, "i")?;
                seen_i = true;
            }
            b"q" => u.orig_qty = str_of(v, KIND_EVENT, "q")?,
            b"p" => u.price = str_of(v, KIND_EVENT, "p")?,
            b"l" => u.last_qty = str_of(v, KIND_EVENT, "l")?,
            b"z" => u.cum_qty = str_of(v, KIND_EVENT, "z")?,
            b"L" => u.last_price = str_of(v, KIND_EVENT, "L")?,
            b"T" => u.trade_time_ms = num_of(v, KIND_EVENT, "T")?,
            _ => {}
        }
        Ok(())
    })?;
    for (ok, field) in [
        (seen_i, "i"),
        (!u.client_id.is_empty(), "c"),
        (!u.status.is_empty(), "X"),
        (!u.cum_qty.is_empty(), "z"),
    ] {
        if !ok {
            return Err(DecodeError::MissingField {
                kind: KIND_EVENT,
                field,
            });
        }
    }
    Ok(UsdmUserEvent::Order(u))
}

/// The venue's request limits for one API key / IP (Binance USD-M defaults; `exchangeInfo`'s
/// `rateLimits` gives the account's own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsdmRateLimits {
    /// `REQUEST_WEIGHT` per minute (2400).
    pub weight_per_minute: u64,
    /// `ORDERS` per 10 seconds (300).
    pub orders_per_10s: u64,
    /// `ORDERS` per minute (1200).
    pub orders_per_minute: u64,
    /// Percent of any limit at which we stop sending until its window rolls over.
    pub guard_pct: u64,
}

impl Default for UsdmRateLimits {
    fn default() -> Self {
        Self {
            weight_per_minute: 2400,
            orders_per_10s: 300,
            orders_per_minute: 1200,
            guard_pct: 80,
        }
    }
}

/// Why the rate account holds a request back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateBlock {
    /// Used weight reached the guard: no request until the minute rolls over.
    Weight,
    /// Order count reached the guard: no order until its window rolls over.
    Orders,
    /// The venue answered 429: nothing until its `Retry-After` passed.
    TooManyRequests,
    /// The venue answered 418 (banned): nothing until its `Retry-After` passed.
    Banned,
}

impl RateBlock {
    /// A stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            RateBlock::Weight => "weight_guard",
            RateBlock::Orders => "order_count_guard",
            RateBlock::TooManyRequests => "http_429",
            RateBlock::Banned => "http_418",
        }
    }
}

/// What the venue's headers said about our request rate, and whether we may send.
///
/// Fail closed: a 429 blocks every request (orders, cancels, queries) until its `Retry-After`
/// (60 s when absent), so the venue never sees the repeated violations that earn a 418 ban; usage
/// at `guard_pct` of a limit blocks until that fixed window (minute, 10 s) rolls over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateAccount {
    /// The limits.
    pub limits: UsdmRateLimits,
    /// Last `X-MBX-USED-WEIGHT-1M`.
    pub used_weight_1m: u64,
    /// Last `X-MBX-ORDER-COUNT-10S`.
    pub order_count_10s: u64,
    /// Last `X-MBX-ORDER-COUNT-1M`.
    pub order_count_1m: u64,
    /// Wall-clock ns of the last header reading.
    pub updated_ns: u64,
    /// 429 answers seen.
    pub http_429: u64,
    /// 418 answers seen.
    pub http_418: u64,
    /// Every request held back until this wall-clock ns.
    pub blocked_until_ns: u64,
    /// Orders held back until this wall-clock ns.
    pub orders_blocked_until_ns: u64,
    /// Why the last block was set.
    pub block: Option<RateBlock>,
    /// Requests refused here (never sent).
    pub refused: u64,
}

const SEC: u64 = 1_000_000_000;

fn window_end(now_ns: u64, window_ns: u64) -> u64 {
    (now_ns / window_ns + 1) * window_ns
}

impl RateAccount {
    /// An account with `limits` and nothing used.
    pub fn new(limits: UsdmRateLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    fn over(&self, used: u64, limit: u64) -> bool {
        limit > 0 && used.saturating_mul(100) >= limit.saturating_mul(self.limits.guard_pct)
    }

    /// Notes one answer's headers and status at wall-clock `now_ns`.
    pub fn on_response(
        &mut self,
        status: u16,
        used_weight_1m: Option<u64>,
        orders_10s: Option<u64>,
        orders_1m: Option<u64>,
        retry_after_s: Option<u64>,
        now_ns: u64,
    ) {
        self.updated_ns = now_ns;
        if let Some(w) = used_weight_1m {
            self.used_weight_1m = w;
            if self.over(w, self.limits.weight_per_minute) {
                self.block_all(window_end(now_ns, 60 * SEC), RateBlock::Weight);
            }
        }
        if let Some(c) = orders_10s {
            self.order_count_10s = c;
            if self.over(c, self.limits.orders_per_10s) {
                self.block_orders(window_end(now_ns, 10 * SEC));
            }
        }
        if let Some(c) = orders_1m {
            self.order_count_1m = c;
            if self.over(c, self.limits.orders_per_minute) {
                self.block_orders(window_end(now_ns, 60 * SEC));
            }
        }
        match status {
            429 => {
                self.http_429 += 1;
                let until = now_ns + retry_after_s.unwrap_or(60).max(1) * SEC;
                self.block_all(until, RateBlock::TooManyRequests);
            }
            418 => {
                self.http_418 += 1;
                let until = now_ns + retry_after_s.unwrap_or(120).max(1) * SEC;
                self.block_all(until, RateBlock::Banned);
            }
            _ => {}
        }
    }

    fn block_all(&mut self, until: u64, why: RateBlock) {
        if until > self.blocked_until_ns {
            self.blocked_until_ns = until;
            self.block = Some(why);
        }
    }

    fn block_orders(&mut self, until: u64) {
        if until > self.orders_blocked_until_ns {
            self.orders_blocked_until_ns = until;
            if self.blocked_until_ns < until {
                self.block = Some(RateBlock::Orders);
            }
        }
    }

    /// Whether a request (an order when `is_order`) may go out at `now_ns`.
    pub fn check(&mut self, is_order: bool, now_ns: u64) -> Result<(), RateBlock> {
        if now_ns < self.blocked_until_ns {
            self.refused += 1;
            return Err(self.block.unwrap_or(RateBlock::TooManyRequests));
        }
        if is_order && now_ns < self.orders_blocked_until_ns {
            self.refused += 1;
            return Err(RateBlock::Orders);
        }
        Ok(())
    }

    /// The later of the two block ends (0: none) at `now_ns`, for status screens.
    pub fn blocked_until(&self, now_ns: u64) -> u64 {
        let t = self.blocked_until_ns.max(self.orders_blocked_until_ns);
        if t > now_ns {
            t
        } else {
            0
        }
    }
}

/// Runs every decoder over arbitrary bytes (the fuzz target's body).
pub fn exercise(data: &[u8]) {
    let _ = decode_order(data);
    let _ = decode_error(data);
    let _ = for_each_batch_item(data, |_| {});
    let _ = decode_user_event(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn market() -> UsdmMarket {
        UsdmMarket {
            symbol: "DOGEUSDT".into(),
            tick: Scale::parse("0.00001").unwrap(),
            lot: Scale::parse("1").unwrap(),
            prefix: "pymmf-".into(),
        }
    }

    fn order(side: Side, px: i64, qty: i64, tif: UsdmTif) -> UsdmOrder {
        UsdmOrder {
            side,
            tif,
            price: Price::from_ticks(px),
            qty: Qty::from_lots(qty),
            reduce_only: false,
        }
    }

    #[test]
    fn new_order_cancel_modify_query_text() {
        let mut e = UsdmEncoder::new(market()).unwrap();
        let mut o = order(Side::Buy, 16_123, 100, UsdmTif::Gtx);
        o.reduce_only = true;
        e.new_order(ClientOrderId(7), &o).unwrap();
        assert_eq!((e.method(), e.path()), (Method::Post, "/fapi/v1/order"));
        assert_eq!(
            std::str::from_utf8(e.params()).unwrap(),
            "symbol=DOGEUSDT&side=BUY&type=LIMIT&timeInForce=GTX&quantity=100&price=0.16123&reduceOnly=true&newClientOrderId=pymmf-7&newOrderRespType=RESULT"
        );
        e.cancel(ClientOrderId(7));
        assert_eq!(e.method(), Method::Delete);
        assert_eq!(e.params(), b"symbol=DOGEUSDT&origClientOrderId=pymmf-7");
        e.query(ClientOrderId(8));
        assert_eq!(
            (e.method(), e.params()),
            (
                Method::Get,
                &b"symbol=DOGEUSDT&origClientOrderId=pymmf-8"[..]
            )
        );
        e.modify(
            ClientOrderId(7),
            Side::Sell,
            Price::from_ticks(17_000),
            Qty::from_lots(5),
        )
        .unwrap();
        assert_eq!(
            e.params(),
            b"symbol=DOGEUSDT&origClientOrderId=pymmf-7&side=SELL&quantity=5&price=0.17000"
        );
        assert_eq!(
            e.new_order(ClientOrderId(1), &order(Side::Buy, 0, 1, UsdmTif::Ioc)),
            Err(EncodeError::NotPositive)
        );
        let bad = UsdmMarket {
            prefix: "bad prefix".into(),
            ..market()
        };
        assert!(UsdmEncoder::new(bad).is_err());
    }

    #[test]
    fn batch_is_url_encoded_json_and_sizes_are_checked() {
        let mut e = UsdmEncoder::new(market()).unwrap();
        let orders = [
            (ClientOrderId(1), order(Side::Buy, 16_000, 10, UsdmTif::Gtx)),
            (
                ClientOrderId(2),
                order(Side::Sell, 17_000, 20, UsdmTif::Ioc),
            ),
        ];
        e.batch(&orders).unwrap();
        let text = std::str::from_utf8(e.params()).unwrap();
        let json = text.strip_prefix("batchOrders=").unwrap();
        let decoded: String = {
            let b = json.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'%' {
                    out.push(u8::from_str_radix(&json[i + 1..i + 3], 16).unwrap());
                    i += 3;
                } else {
                    out.push(b[i]);
                    i += 1;
                }
            }
            String::from_utf8(out).unwrap()
        };
        let v: serde_json::Value = serde_json::from_str(&decoded).unwrap();
        assert_eq!(v[1]["newClientOrderId"], "pymmf-2");
        assert_eq!(v[1]["timeInForce"], "IOC");
        assert_eq!(v[0]["price"], "0.16000");
        assert_eq!(v[0]["quantity"], "10");
        let six = [orders[0]; 6];
        assert_eq!(e.batch(&six), Err(EncodeError::BatchSize(6)));
        assert_eq!(e.batch(&[]), Err(EncodeError::BatchSize(0)));
    }

    #[test]
    fn signature_covers_exactly_the_bytes_sent() {
        let mut e = UsdmEncoder::new(market()).unwrap();
        let signer = Signer::ed25519_seed(&[3u8; 32]);
        e.cancel(ClientOrderId(9));
        e.sign(&signer, 5000, 1_700_000_000_123);
        let text = std::str::from_utf8(e.params()).unwrap();
        let (payload, sig) = text.split_once("&signature=").unwrap();
        assert!(payload.ends_with("&recvWindow=5000&timestamp=1700000000123"));
        let sig = sig
            .replace("%2B", "+")
            .replace("%2F", "/")
            .replace("%3D", "=");
        let v = super::super::signing::Verifier::ed25519_bytes(&signer.ed25519_public().unwrap())
            .unwrap();
        assert!(v.verify(payload.as_bytes(), sig.as_bytes()));
        let h = Signer::hmac(b"secret").unwrap();
        e.cancel(ClientOrderId(9));
        e.sign(&h, 5000, 1);
        let text = std::str::from_utf8(e.params()).unwrap();
        let (payload, sig) = text.split_once("&signature=").unwrap();
        assert!(super::super::signing::Verifier::hmac(b"secret")
            .unwrap()
            .verify(payload.as_bytes(), sig.as_bytes()));
    }

    #[test]
    fn decodes_orders_errors_batches_and_events() {
        let o = br#"{"orderId":42,"symbol":"DOGEUSDT","status":"NEW","clientOrderId":"pymmf-7","price":"0.16","avgPrice":"0","origQty":"10","executedQty":"0","updateTime":1700}"#;
        let a = decode_order(o).unwrap();
        assert_eq!(
            (a.order_id, a.status, a.client_id),
            (42, &b"NEW"[..], &b"pymmf-7"[..])
        );
        assert!(decode_order(br#"{"status":"NEW"}"#).is_err());
        assert_eq!(
            decode_error(br#"{"code":-2013,"msg":"Order does not exist."}"#),
            Some((-2013, &b"Order does not exist."[..]))
        );
        assert_eq!(decode_error(b"<html>"), None);
        let batch = br#"[{"orderId":1,"status":"NEW","clientOrderId":"pymmf-1","executedQty":"0"},{"code":-1111,"msg":"Precision is over the maximum defined for this asset."}]"#;
        let mut seen = Vec::new();
        for_each_batch_item(batch, |r| seen.push(r.map(|a| a.order_id).map_err(|e| e.0))).unwrap();
        assert_eq!(seen, vec![Ok(1), Err(-1111)]);
        let ev = br#"{"e":"ORDER_TRADE_UPDATE","E":1700,"T":1700,"o":{"s":"DOGEUSDT","c":"pymmf-3","S":"SELL","o":"LIMIT","f":"GTX","q":"10","p":"0.17","x":"TRADE","X":"PARTIALLY_FILLED","i":9,"l":"4","z":"4","L":"0.17","T":1701,"t":5,"m":true,"R":false}}"#;
        match decode_user_event(ev).unwrap() {
            UsdmUserEvent::Order(u) => {
                assert_eq!(
                    (u.order_id, u.cum_qty, u.status),
                    (9, &b"4"[..], &b"PARTIALLY_FILLED"[..])
                );
                assert_eq!(u.event_time_ms, 1700);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            decode_user_event(br#"{"e":"ACCOUNT_UPDATE","E":1}"#).unwrap(),
            UsdmUserEvent::Other(b"ACCOUNT_UPDATE")
        );
        assert_eq!(
            decode_user_event(br#"{"e":"listenKeyExpired","E":1}"#).unwrap(),
            UsdmUserEvent::ListenKeyExpired
        );
        assert!(decode_user_event(br#"{"e":"ORDER_TRADE_UPDATE","E":1,"o":{"s":"X"}}"#).is_err());
        exercise(b"[{");
    }

    #[test]
    fn rate_account_guards_and_stops_after_429() {
        let mut r = RateAccount::new(UsdmRateLimits {
            weight_per_minute: 100,
            orders_per_10s: 10,
            orders_per_minute: 1000,
            guard_pct: 80,
        });
        let t0 = 1_000 * SEC + 5;
        r.on_response(200, Some(10), Some(1), Some(1), None, t0);
        assert_eq!(r.check(true, t0), Ok(()));
        r.on_response(200, Some(11), Some(8), Some(8), None, t0);
        assert_eq!(r.check(true, t0), Err(RateBlock::Orders));
        assert_eq!(r.check(false, t0), Ok(()), "cancels and queries still go");
        assert_eq!(
            r.check(true, 1_010 * SEC),
            Ok(()),
            "the 10 s window rolled over"
        );
        r.on_response(200, Some(80), None, None, None, 1_010 * SEC);
        assert_eq!(r.check(false, 1_010 * SEC), Err(RateBlock::Weight));
        assert_eq!(r.check(false, 1_020 * SEC), Ok(()), "next minute");
        r.on_response(429, None, None, None, Some(3), 1_030 * SEC);
        assert_eq!(r.check(false, 1_032 * SEC), Err(RateBlock::TooManyRequests));
        assert_eq!(r.check(false, 1_033 * SEC), Ok(()));
        assert_eq!((r.http_429, r.refused), (1, 3));
    }
}
