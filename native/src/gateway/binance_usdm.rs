//! Binance USD-M futures order entry over REST (`/fapi/v1`): signed form encoders for a new order,
//! cancel, modify, query and batch orders ([`UsdmEncoder`]); decoders for order objects, error
//! bodies, batch results and the listenKey `ORDER_TRADE_UPDATE` event; and the venue's rate-limit
//! accounting from response headers ([`RateAccount`]).
//!
//! The same encoder speaks Binance **spot** REST (`/api/v3`, [`MarketKind::Spot`], ADR 0009): new
//! order (`LIMIT` GTC/IOC, or `LIMIT_MAKER` for post-only), cancel, query, cancel-replace
//! (`STOP_ON_FAILURE`, spot's modify) and cancel-all (`DELETE /api/v3/openOrders`); spot has no
//! batch endpoint, no `reduceOnly` and no in-place modify, so those are refused here.
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
    /// The request does not exist on this market (spot: batch, modify, reduceOnly; USD-M:
    /// cancel-replace, cancel-all).
    #[error("not available on this market")]
    Unsupported,
}

/// Which Binance REST API the encoder speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarketKind {
    /// USD-M futures, `/fapi/v1`.
    #[default]
    Usdm,
    /// Spot, `/api/v3`.
    Spot,
}

impl MarketKind {
    /// A stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            MarketKind::Usdm => "usdm",
            MarketKind::Spot => "spot",
        }
    }

    /// The venue's spelling of a time in force on this market (spot post-only is `LIMIT_MAKER`).
    pub const fn tif_text(self, tif: UsdmTif) -> &'static str {
        match (self, tif) {
            (MarketKind::Spot, UsdmTif::Gtx) => "LIMIT_MAKER",
            _ => tif.as_str(),
        }
    }

    /// Parses a time in force as this market spells it.
    pub fn parse_tif(self, text: &str) -> Option<UsdmTif> {
        match (self, text) {
            (MarketKind::Spot, "LIMIT_MAKER") => Some(UsdmTif::Gtx),
            (MarketKind::Spot, "GTX") => None,
            _ => UsdmTif::parse(text),
        }
    }

    fn order_path(self) -> &'static str {
        match self {
            MarketKind::Usdm => "/fapi/v1/order",
            MarketKind::Spot => "/api/v3/order",
        }
    }
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
    /// USD-M futures or spot.
    pub kind: MarketKind,
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

    /// `side`, `type` (and `timeInForce`), `quantity`, `price` of a new order. Spot post-only is
    /// `type=LIMIT_MAKER` without a time in force; spot has no `reduceOnly`.
    fn order_terms(&mut self, o: &UsdmOrder) -> Result<(), EncodeError> {
        let spot = self.market.kind == MarketKind::Spot;
        if spot && o.reduce_only {
            return Err(EncodeError::Unsupported);
        }
        self.kv(b"side", o.side.as_str().as_bytes());
        if spot && o.tif == UsdmTif::Gtx {
            self.kv(b"type", b"LIMIT_MAKER");
        } else {
            self.kv(b"type", b"LIMIT");
            self.kv(b"timeInForce", o.tif.as_str().as_bytes());
        }
        self.px_qty(o.price, o.qty)?;
        if o.reduce_only {
            self.kv(b"reduceOnly", b"true");
        }
        Ok(())
    }

    /// `POST /fapi/v1/order` (spot: `/api/v3/order`): a LIMIT order (spot post-only:
    /// `LIMIT_MAKER`) with our client id, answered with the RESULT shape.
    pub fn new_order(&mut self, id: ClientOrderId, o: &UsdmOrder) -> Result<(), EncodeError> {
        self.start(Method::Post, self.market.kind.order_path());
        self.order_terms(o)?;
        self.cid_kv(b"newClientOrderId", id);
        self.kv(b"newOrderRespType", b"RESULT");
        Ok(())
    }

    /// `DELETE /fapi/v1/order` (spot: `/api/v3/order`) by our client id.
    pub fn cancel(&mut self, id: ClientOrderId) {
        self.start(Method::Delete, self.market.kind.order_path());
        self.cid_kv(b"origClientOrderId", id);
    }

    /// `GET /fapi/v1/order` (spot: `/api/v3/order`) by our client id.
    pub fn query(&mut self, id: ClientOrderId) {
        self.start(Method::Get, self.market.kind.order_path());
        self.cid_kv(b"origClientOrderId", id);
    }

    /// Spot `POST /api/v3/order/cancelReplace` with `STOP_ON_FAILURE`: cancel our order `old`,
    /// then (only if the cancel succeeded) place `o` under the new id `new`.
    pub fn cancel_replace(
        &mut self,
        old: ClientOrderId,
        new: ClientOrderId,
        o: &UsdmOrder,
    ) -> Result<(), EncodeError> {
        if self.market.kind != MarketKind::Spot {
            return Err(EncodeError::Unsupported);
        }
        self.start(Method::Post, "/api/v3/order/cancelReplace");
        self.kv(b"cancelReplaceMode", b"STOP_ON_FAILURE");
        self.cid_kv(b"cancelOrigClientOrderId", old);
        self.order_terms(o)?;
        self.cid_kv(b"newClientOrderId", new);
        self.kv(b"newOrderRespType", b"RESULT");
        Ok(())
    }

    /// Spot `GET /api/v3/openOrders`: our open orders on the symbol (weight 6).
    pub fn open_orders(&mut self) -> Result<(), EncodeError> {
        if self.market.kind != MarketKind::Spot {
            return Err(EncodeError::Unsupported);
        }
        self.start(Method::Get, "/api/v3/openOrders");
        Ok(())
    }

    /// Spot `DELETE /api/v3/openOrders`: cancel every open order on the symbol.
    pub fn cancel_all(&mut self) -> Result<(), EncodeError> {
        if self.market.kind != MarketKind::Spot {
            return Err(EncodeError::Unsupported);
        }
        self.start(Method::Delete, "/api/v3/openOrders");
        Ok(())
    }

    /// `PUT /fapi/v1/order`: new price and quantity for a resting LIMIT order (same client id).
    pub fn modify(
        &mut self,
        id: ClientOrderId,
        side: Side,
        price: Price,
        qty: Qty,
    ) -> Result<(), EncodeError> {
        if self.market.kind != MarketKind::Usdm {
            return Err(EncodeError::Unsupported);
        }
        self.start(Method::Put, "/fapi/v1/order");
        self.cid_kv(b"origClientOrderId", id);
        self.kv(b"side", side.as_str().as_bytes());
        self.px_qty(price, qty)
    }

    /// `POST /fapi/v1/batchOrders`: 1..=5 LIMIT orders as one URL-encoded JSON array.
    pub fn batch(&mut self, orders: &[(ClientOrderId, UsdmOrder)]) -> Result<(), EncodeError> {
        if self.market.kind != MarketKind::Usdm {
            return Err(EncodeError::Unsupported);
        }
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
    /// `clientOrderId` (of a spot cancel answer: the cancel request's id).
    pub client_id: &'a [u8],
    /// `origClientOrderId` (spot cancel answers: the cancelled order's id; empty otherwise).
    pub orig_client_id: &'a [u8],
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
    /// `updateTime` (ms), else spot's `transactTime`.
    pub update_time_ms: u64,
}

impl UsdmOrderAck<'_> {
    /// The id of the order itself (`origClientOrderId` of a spot cancel, else `clientOrderId`).
    pub fn order_client_id(&self) -> &[u8] {
        if self.orig_client_id.is_empty() {
            self.client_id
        } else {
            self.orig_client_id
        }
    }
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
            b"origClientOrderId" => r.orig_client_id = str_of(v, KIND_ORDER, "origClientOrderId")?,
            b"orderId" => {
                r.order_id = num_of(v, KIND_ORDER, "orderId")?;
                seen_id = true;
            }
            b"transactTime" if r.update_time_ms == 0 => {
                r.update_time_ms = num_of(v, KIND_ORDER, "transactTime")?;
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

/// A spot `POST /api/v3/order/cancelReplace` answer: the whole request's error (if any) and each
/// half as the venue reported it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CancelReplaceAnswer<'a> {
    /// The request's error code (`-2022` cancel failed, `-2021` new order failed; 0: success).
    pub code: i64,
    /// The request's error message.
    pub msg: &'a [u8],
    /// The cancel half: the cancelled order, or the venue's refusal of the cancel (absent: `None`).
    pub cancel: Option<BatchItem<'a>>,
    /// The new-order half (`None`: not attempted).
    pub new_order: Option<BatchItem<'a>>,
}

fn half(v: Value<'_>) -> Result<Option<BatchItem<'_>>, DecodeError> {
    Ok(match v {
        Value::Obj(o) => Some(match decode_error(o) {
            Some((code, msg)) if code != 0 && code != 200 => Err((code, msg)),
            _ => Ok(decode_order(o)?),
        }),
        _ => None,
    })
}

fn set_half<'a>(
    r: &mut CancelReplaceAnswer<'a>,
    k: &[u8],
    v: Value<'a>,
) -> Result<(), DecodeError> {
    match k {
        b"cancelResponse" => r.cancel = half(v)?,
        b"newOrderResponse" => r.new_order = half(v)?,
        _ => {}
    }
    Ok(())
}

/// Decodes a cancel-replace answer, success (`cancelResponse`/`newOrderResponse` at the top) or
/// failure (`{code,msg,data:{...}}`).
pub fn decode_cancel_replace(body: &[u8]) -> Result<CancelReplaceAnswer<'_>, DecodeError> {
    let mut r = CancelReplaceAnswer::default();
    let mut data: Option<&[u8]> = None;
    Scanner::new(body).object(|k, v| {
        match k {
            b"code" => r.code = i64_of(v, KIND_ERROR, "code")?,
            b"msg" => r.msg = str_of(v, KIND_ERROR, "msg")?,
            b"data" => {
                if let Value::Obj(o) = v {
                    data = Some(o);
                }
            }
            _ => set_half(&mut r, k, v)?,
        }
        Ok(())
    })?;
    if let Some(d) = data {
        Scanner::new(d).object(|k, v| set_half(&mut r, k, v))?;
    }
    Ok(r)
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
    /// `ORDERS` per day (spot: 160 000; 0: not checked).
    pub orders_per_day: u64,
    /// Percent of any limit at which we stop sending until its window rolls over.
    pub guard_pct: u64,
}

impl Default for UsdmRateLimits {
    fn default() -> Self {
        Self {
            weight_per_minute: 2400,
            orders_per_10s: 300,
            orders_per_minute: 1200,
            orders_per_day: 0,
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
    /// Last `X-MBX-ORDER-COUNT-1D` (spot).
    pub order_count_1d: u64,
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
    #[allow(clippy::too_many_arguments)]
    pub fn on_response(
        &mut self,
        status: u16,
        used_weight_1m: Option<u64>,
        orders_10s: Option<u64>,
        orders_1m: Option<u64>,
        orders_1d: Option<u64>,
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
        if let Some(c) = orders_1d {
            self.order_count_1d = c;
            if self.over(c, self.limits.orders_per_day) {
                self.block_orders(window_end(now_ns, 86_400 * SEC));
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
    let _ = decode_cancel_replace(data);
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
            kind: MarketKind::Usdm,
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
    fn spot_paths_limit_maker_cancel_replace_and_what_spot_lacks() {
        let spot = UsdmMarket {
            kind: MarketKind::Spot,
            prefix: "pms-".into(),
            ..market()
        };
        let mut e = UsdmEncoder::new(spot).unwrap();
        e.new_order(
            ClientOrderId(7),
            &order(Side::Buy, 16_123, 100, UsdmTif::Gtx),
        )
        .unwrap();
        assert_eq!((e.method(), e.path()), (Method::Post, "/api/v3/order"));
        assert_eq!(
            std::str::from_utf8(e.params()).unwrap(),
            "symbol=DOGEUSDT&side=BUY&type=LIMIT_MAKER&quantity=100&price=0.16123&newClientOrderId=pms-7&newOrderRespType=RESULT"
        );
        e.new_order(
            ClientOrderId(8),
            &order(Side::Sell, 16_000, 5, UsdmTif::Ioc),
        )
        .unwrap();
        assert!(std::str::from_utf8(e.params())
            .unwrap()
            .contains("&type=LIMIT&timeInForce=IOC&"));
        e.cancel(ClientOrderId(7));
        assert_eq!((e.method(), e.path()), (Method::Delete, "/api/v3/order"));
        e.query(ClientOrderId(7));
        assert_eq!((e.method(), e.path()), (Method::Get, "/api/v3/order"));
        e.cancel_replace(
            ClientOrderId(7),
            ClientOrderId(9),
            &order(Side::Buy, 16_200, 50, UsdmTif::Gtx),
        )
        .unwrap();
        assert_eq!(e.path(), "/api/v3/order/cancelReplace");
        assert_eq!(
            std::str::from_utf8(e.params()).unwrap(),
            "symbol=DOGEUSDT&cancelReplaceMode=STOP_ON_FAILURE&cancelOrigClientOrderId=pms-7&side=BUY&type=LIMIT_MAKER&quantity=50&price=0.16200&newClientOrderId=pms-9&newOrderRespType=RESULT"
        );
        e.cancel_all().unwrap();
        assert_eq!(
            (e.method(), e.path(), e.params()),
            (
                Method::Delete,
                "/api/v3/openOrders",
                &b"symbol=DOGEUSDT"[..]
            )
        );
        let mut ro = order(Side::Sell, 16_000, 5, UsdmTif::Gtc);
        ro.reduce_only = true;
        assert_eq!(
            e.new_order(ClientOrderId(1), &ro),
            Err(EncodeError::Unsupported)
        );
        let one = [(ClientOrderId(1), order(Side::Buy, 1, 1, UsdmTif::Gtc))];
        assert_eq!(e.batch(&one), Err(EncodeError::Unsupported));
        assert_eq!(
            e.modify(
                ClientOrderId(1),
                Side::Buy,
                Price::from_ticks(1),
                Qty::from_lots(1)
            ),
            Err(EncodeError::Unsupported)
        );
        let mut f = UsdmEncoder::new(market()).unwrap();
        assert_eq!(f.cancel_all(), Err(EncodeError::Unsupported));
        assert_eq!(f.open_orders(), Err(EncodeError::Unsupported));
        assert_eq!(
            f.cancel_replace(ClientOrderId(1), ClientOrderId(2), &one[0].1),
            Err(EncodeError::Unsupported)
        );
        assert_eq!(MarketKind::Spot.parse_tif("GTX"), None);
        assert_eq!(
            MarketKind::Spot.parse_tif("LIMIT_MAKER"),
            Some(UsdmTif::Gtx)
        );
        assert_eq!(MarketKind::Usdm.parse_tif("LIMIT_MAKER"), None);
    }

    #[test]
    fn cancel_replace_answers_decode_both_halves() {
        let ok = br#"{"cancelResult":"SUCCESS","newOrderResult":"SUCCESS","cancelResponse":{"symbol":"DOGEUSDT","origClientOrderId":"pms-7","orderId":3,"clientOrderId":"cx","transactTime":1700,"status":"CANCELED","executedQty":"10"},"newOrderResponse":{"symbol":"DOGEUSDT","orderId":4,"clientOrderId":"pms-9","transactTime":1701,"status":"NEW","executedQty":"0"}}"#;
        let a = decode_cancel_replace(ok).unwrap();
        assert_eq!(a.code, 0);
        let c = a.cancel.unwrap().unwrap();
        assert_eq!(
            (c.order_client_id(), c.status, c.update_time_ms),
            (&b"pms-7"[..], &b"CANCELED"[..], 1700)
        );
        assert_eq!(a.new_order.unwrap().unwrap().order_id, 4);
        let failed = br#"{"code":-2022,"msg":"Order cancel-replace failed.","data":{"cancelResult":"FAILURE","newOrderResult":"NOT_ATTEMPTED","cancelResponse":{"code":-2011,"msg":"Unknown order sent."},"newOrderResponse":null}}"#;
        let a = decode_cancel_replace(failed).unwrap();
        assert_eq!(a.code, -2022);
        assert_eq!(a.cancel, Some(Err((-2011, &b"Unknown order sent."[..]))));
        assert_eq!(a.new_order, None);
        let partial = br#"{"code":-2021,"msg":"partially","data":{"cancelResponse":{"orderId":3,"status":"CANCELED","executedQty":"0","origClientOrderId":"pms-7"},"newOrderResponse":{"code":-2010,"msg":"Order would immediately match and take."}}}"#;
        let a = decode_cancel_replace(partial).unwrap();
        assert!(matches!(a.cancel, Some(Ok(_))));
        assert_eq!(
            a.new_order.map(|r| r.map(|_| ())),
            Some(Err((
                -2010,
                &b"Order would immediately match and take."[..]
            )))
        );
        let whole =
            decode_cancel_replace(br#"{"code":-1015,"msg":"Too many new orders"}"#).unwrap();
        assert_eq!(
            (whole.code, whole.cancel, whole.new_order),
            (-1015, None, None)
        );
        assert!(decode_cancel_replace(b"<html>").is_err());
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
            orders_per_day: 100,
            guard_pct: 80,
        });
        let t0 = 1_000 * SEC + 5;
        r.on_response(200, Some(10), Some(1), Some(1), None, None, t0);
        assert_eq!(r.check(true, t0), Ok(()));
        r.on_response(200, Some(11), Some(8), Some(8), None, None, t0);
        assert_eq!(r.check(true, t0), Err(RateBlock::Orders));
        assert_eq!(r.check(false, t0), Ok(()), "cancels and queries still go");
        assert_eq!(
            r.check(true, 1_010 * SEC),
            Ok(()),
            "the 10 s window rolled over"
        );
        r.on_response(200, Some(80), None, None, None, None, 1_010 * SEC);
        assert_eq!(r.check(false, 1_010 * SEC), Err(RateBlock::Weight));
        assert_eq!(r.check(false, 1_020 * SEC), Ok(()), "next minute");
        r.on_response(429, None, None, None, None, Some(3), 1_030 * SEC);
        assert_eq!(r.check(false, 1_032 * SEC), Err(RateBlock::TooManyRequests));
        assert_eq!(r.check(false, 1_033 * SEC), Ok(()));
        assert_eq!((r.http_429, r.refused), (1, 3));
        r.on_response(200, None, Some(1), None, Some(80), None, 1_040 * SEC);
        assert_eq!(
            r.check(true, 1_050 * SEC),
            Err(RateBlock::Orders),
            "spot's daily order count reached the guard"
        );
        assert_eq!(r.check(false, 1_050 * SEC), Ok(()));
        assert_eq!(r.check(true, 86_400 * SEC), Ok(()), "the next day");
    }
}
