//! Decoders for what a Binance spot WebSocket-API connection sends back: request responses
//! (`{"id","status","result"|"error","rateLimits"}`) and user-data events pushed on the same
//! connection after `userDataStream.subscribe` (`{"subscriptionId","event":{...}}`), of which
//! `executionReport` is decoded field by field.
//!
//! Values are handed out as raw byte slices of the input (decimals as their text); the session
//! converts them with the instrument's scales. Unknown keys are skipped, so new venue fields do not
//! break decoding; a missing required key is an error (counted by the caller, message dropped).
//!
//! # Hot path
//! No allocation: the scanner walks the bytes in place (the error path of a decimal conversion
//! allocates, and it is cold).

use crate::feed::binance::scanner::{parse_u64, Scanner, Value};
use crate::feed::DecodeError;

/// What one WebSocket-API text frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WsApiMessage<'a> {
    /// The answer to one of our requests.
    Response(Response<'a>),
    /// An `executionReport` user-data event.
    Execution(ExecutionReport<'a>),
    /// Another user-data event (`outboundAccountPosition`, `balanceUpdate`,
    /// `eventStreamTerminated`, ...): its `e` text.
    OtherEvent(&'a [u8]),
}

/// Request-rate usage the venue reported with a response (`rateLimits`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateUsage {
    /// `ORDERS` per 10 seconds: (count, limit).
    pub orders_10s: Option<(u64, u64)>,
    /// `ORDERS` per day: (count, limit).
    pub orders_1d: Option<(u64, u64)>,
    /// `ORDERS` per minute: (count, limit) (USD-M futures).
    pub orders_1m: Option<(u64, u64)>,
    /// `REQUEST_WEIGHT` per minute: (count, limit).
    pub weight_1m: Option<(u64, u64)>,
}

/// A response to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response<'a> {
    /// The request id we sent (`None` when the venue answered `null`: an unparseable request).
    pub id: Option<u64>,
    /// HTTP-like status (200 ok, 4xx refused, 5xx venue trouble).
    pub status: u16,
    /// The venue's error `(code, msg)`, if any.
    pub error: Option<(i64, &'a [u8])>,
    /// The raw `error` object (`{"code","msg",...}`), if any.
    pub error_obj: Option<&'a [u8]>,
    /// The raw `result` value (object or array), if any.
    pub result: Option<&'a [u8]>,
    /// The raw `error.data` object (cancel-replace partial failures), if any.
    pub error_data: Option<&'a [u8]>,
    /// Rate usage, when the venue sent `rateLimits`.
    pub rate: RateUsage,
    /// `retryAfter` (ms since the epoch) of a 429/418 error, if given.
    pub retry_after_ms: Option<u64>,
}

/// An `executionReport` (spot user data), fields as the venue's text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecutionReport<'a> {
    /// `E` event time (ms).
    pub event_time_ms: u64,
    /// `s` symbol.
    pub symbol: &'a [u8],
    /// `c` client order id (for a cancel: the cancel request's id).
    pub client_id: &'a [u8],
    /// `C` original client order id of a cancelled order (empty otherwise).
    pub orig_client_id: &'a [u8],
    /// `S` side text.
    pub side: &'a [u8],
    /// `x` execution type.
    pub exec_type: &'a [u8],
    /// `X` order status.
    pub status: &'a [u8],
    /// `r` reject reason.
    pub reject_reason: &'a [u8],
    /// `i` venue order id.
    pub order_id: u64,
    /// `q` order quantity.
    pub orig_qty: &'a [u8],
    /// `p` order price.
    pub price: &'a [u8],
    /// `l` last executed quantity.
    pub last_qty: &'a [u8],
    /// `z` cumulative filled quantity.
    pub cum_qty: &'a [u8],
    /// `L` last executed price.
    pub last_price: &'a [u8],
    /// `n` commission amount.
    pub commission: &'a [u8],
    /// `N` commission asset (empty when null).
    pub commission_asset: &'a [u8],
    /// `T` transaction time (ms).
    pub trade_time_ms: u64,
    /// `t` trade id (`None` for -1).
    pub trade_id: Option<u64>,
    /// `Y` last quote transacted quantity (`l × L`), empty if absent.
    pub last_quote: &'a [u8],
    /// `m` whether the fill was as maker.
    pub maker: bool,
}

impl ExecutionReport<'_> {
    /// The client id of the order this report is about (`C` for cancels, else `c`).
    pub fn order_client_id(&self) -> &[u8] {
        if self.orig_client_id.is_empty() {
            self.client_id
        } else {
            self.orig_client_id
        }
    }
}

/// An order as a response `result` describes it (`order.place`, `order.status`, `order.cancel`,
/// an element of `openOrders.status`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OrderResult<'a> {
    /// `clientOrderId` (for `order.cancel`: the order's own id is `origClientOrderId`).
    pub client_id: &'a [u8],
    /// `origClientOrderId`, when present (cancel responses).
    pub orig_client_id: &'a [u8],
    /// `orderId`.
    pub order_id: u64,
    /// `status`.
    pub status: &'a [u8],
    /// `side`.
    pub side: &'a [u8],
    /// `price`.
    pub price: &'a [u8],
    /// `origQty`.
    pub orig_qty: &'a [u8],
    /// `executedQty`.
    pub executed_qty: &'a [u8],
    /// `cummulativeQuoteQty` (sic).
    pub cum_quote: &'a [u8],
}

impl OrderResult<'_> {
    /// The id of the order itself (`origClientOrderId` of a cancel, else `clientOrderId`).
    pub fn order_client_id(&self) -> &[u8] {
        if self.orig_client_id.is_empty() {
            self.client_id
        } else {
            self.orig_client_id
        }
    }
}

const KIND_RESP: &str = "ws-api response";
const KIND_EXEC: &str = "executionReport";
const KIND_ORDER: &str = "order result";

pub(crate) fn str_of<'a>(
    v: Value<'a>,
    kind: &'static str,
    field: &'static str,
) -> Result<&'a [u8], DecodeError> {
    match v {
        Value::Str(s) => Ok(s),
        Value::Null => Ok(b""),
        _ => Err(DecodeError::WrongType { kind, field }),
    }
}

pub(crate) fn num_of(
    v: Value<'_>,
    kind: &'static str,
    field: &'static str,
) -> Result<u64, DecodeError> {
    match v {
        Value::Num(n) => parse_u64(n, field),
        _ => Err(DecodeError::WrongType { kind, field }),
    }
}

pub(crate) fn i64_of(
    v: Value<'_>,
    kind: &'static str,
    field: &'static str,
) -> Result<i64, DecodeError> {
    match v {
        Value::Num(n) => match n.split_first() {
            Some((b'-', rest)) => {
                let m = parse_u64(rest, field)?;
                i64::try_from(m)
                    .map(|m| -m)
                    .map_err(|_| DecodeError::BadInteger { field })
            }
            _ => i64::try_from(parse_u64(n, field)?).map_err(|_| DecodeError::BadInteger { field }),
        },
        _ => Err(DecodeError::WrongType { kind, field }),
    }
}

/// Decodes one text frame of a WebSocket-API connection.
///
/// # Hot path
/// No allocation.
pub fn decode(input: &[u8]) -> Result<WsApiMessage<'_>, DecodeError> {
    let mut sc = Scanner::new(input);
    let mut id: Option<u64> = None;
    let mut status: Option<u16> = None;
    let mut error: Option<&[u8]> = None;
    let mut result: Option<&[u8]> = None;
    let mut rate_limits: Option<&[u8]> = None;
    let mut event: Option<&[u8]> = None;
    sc.object(|k, v| {
        match k {
            b"id" => {
                id = match v {
                    Value::Null => None,
                    Value::Num(n) => Some(parse_u64(n, "id")?),
                    // Some clients send string ids; ours are numbers.
                    Value::Str(s) => Some(parse_u64(s, "id")?),
                    _ => {
                        return Err(DecodeError::WrongType {
                            kind: KIND_RESP,
                            field: "id",
                        })
                    }
                }
            }
            b"status" => {
                let s = num_of(v, KIND_RESP, "status")?;
                status = Some(
                    u16::try_from(s).map_err(|_| DecodeError::BadInteger { field: "status" })?,
                );
            }
            b"error" => match v {
                Value::Obj(o) => error = Some(o),
                _ => {
                    return Err(DecodeError::WrongType {
                        kind: KIND_RESP,
                        field: "error",
                    })
                }
            },
            b"result" => match v {
                Value::Obj(o) | Value::Arr(o) => result = Some(o),
                Value::Null => {}
                _ => {
                    return Err(DecodeError::WrongType {
                        kind: KIND_RESP,
                        field: "result",
                    })
                }
            },
            b"rateLimits" => match v {
                Value::Arr(a) => rate_limits = Some(a),
                _ => {
                    return Err(DecodeError::WrongType {
                        kind: KIND_RESP,
                        field: "rateLimits",
                    })
                }
            },
            b"event" => match v {
                Value::Obj(o) => event = Some(o),
                _ => {
                    return Err(DecodeError::WrongType {
                        kind: KIND_RESP,
                        field: "event",
                    })
                }
            },
            _ => {}
        }
        Ok(())
    })?;
    if let Some(ev) = event {
        return decode_event(ev);
    }
    let status = status.ok_or(DecodeError::MissingField {
        kind: KIND_RESP,
        field: "status",
    })?;
    let mut resp = Response {
        id,
        status,
        error: None,
        error_obj: error,
        result,
        error_data: None,
        rate: RateUsage::default(),
        retry_after_ms: None,
    };
    if let Some(e) = error {
        let mut code: Option<i64> = None;
        let mut msg: &[u8] = b"";
        let mut data: Option<&[u8]> = None;
        let mut retry: Option<u64> = None;
        Scanner::new(e).object(|k, v| {
            match k {
                b"code" => code = Some(i64_of(v, KIND_RESP, "code")?),
                b"msg" => msg = str_of(v, KIND_RESP, "msg")?,
                b"data" => {
                    if let Value::Obj(o) = v {
                        data = Some(o);
                    }
                }
                b"retryAfter" => retry = Some(num_of(v, KIND_RESP, "retryAfter")?),
                _ => {}
            }
            Ok(())
        })?;
        let code = code.ok_or(DecodeError::MissingField {
            kind: KIND_RESP,
            field: "code",
        })?;
        resp.error = Some((code, msg));
        resp.error_data = data;
        resp.retry_after_ms = retry;
    }
    if let Some(a) = rate_limits {
        resp.rate = decode_rate_limits(a)?;
    }
    Ok(WsApiMessage::Response(resp))
}

/// Decodes a `rateLimits` array.
fn decode_rate_limits(a: &[u8]) -> Result<RateUsage, DecodeError> {
    let mut out = RateUsage::default();
    let mut sc = Scanner::new(a);
    sc.expect(b'[', "'['")?;
    if sc.eat(b']') {
        return Ok(out);
    }
    loop {
        let mut kind: &[u8] = b"";
        let mut interval: &[u8] = b"";
        let mut num = 1u64;
        let mut limit = 0u64;
        let mut count = 0u64;
        sc.object(|k, v| {
            match k {
                b"rateLimitType" => kind = str_of(v, KIND_RESP, "rateLimitType")?,
                b"interval" => interval = str_of(v, KIND_RESP, "interval")?,
                b"intervalNum" => num = num_of(v, KIND_RESP, "intervalNum")?,
                b"limit" => limit = num_of(v, KIND_RESP, "limit")?,
                b"count" => count = num_of(v, KIND_RESP, "count")?,
                _ => {}
            }
            Ok(())
        })?;
        match (kind, interval, num) {
            (b"ORDERS", b"SECOND", 10) => out.orders_10s = Some((count, limit)),
            (b"ORDERS", b"DAY", 1) => out.orders_1d = Some((count, limit)),
            (b"ORDERS", b"MINUTE", 1) => out.orders_1m = Some((count, limit)),
            (b"REQUEST_WEIGHT", b"MINUTE", 1) => out.weight_1m = Some((count, limit)),
            _ => {}
        }
        if sc.eat(b',') {
            continue;
        }
        sc.expect(b']', "',' or ']'")?;
        return Ok(out);
    }
}

fn decode_event(ev: &[u8]) -> Result<WsApiMessage<'_>, DecodeError> {
    let mut e_type: &[u8] = b"";
    let mut r = ExecutionReport::default();
    let mut seen_i = false;
    Scanner::new(ev).object(|k, v| {
        match k {
            b"e" => e_type = str_of(v, KIND_EXEC, "e")?,
            b"E" => r.event_time_ms = num_of(v, KIND_EXEC, "E")?,
            b"s" => r.symbol = str_of(v, KIND_EXEC, "s")?,
            b"c" => r.client_id = str_of(v, KIND_EXEC, "c")?,
            b"C" => r.orig_client_id = str_of(v, KIND_EXEC, "C")?,
            b"S" => r.side = str_of(v, KIND_EXEC, "S")?,
            b"x" => r.exec_type = str_of(v, KIND_EXEC, "x")?,
            b"X" => r.status = str_of(v, KIND_EXEC, "X")?,
            b"r" => r.reject_reason = str_of(v, KIND_EXEC, "r")?,
            b"i" => {
                r.order_id = num_of(v, KIND_EXEC, "i")?;
                seen_i = true;
            }
            b"q" => r.orig_qty = str_of(v, KIND_EXEC, "q")?,
            b"p" => r.price = str_of(v, KIND_EXEC, "p")?,
            b"l" => r.last_qty = str_of(v, KIND_EXEC, "l")?,
            b"z" => r.cum_qty = str_of(v, KIND_EXEC, "z")?,
            b"L" => r.last_price = str_of(v, KIND_EXEC, "L")?,
            b"n" => r.commission = str_of(v, KIND_EXEC, "n")?,
            b"N" => r.commission_asset = str_of(v, KIND_EXEC, "N")?,
            b"T" => r.trade_time_ms = num_of(v, KIND_EXEC, "T")?,
            b"t" => {
                r.trade_id = match v {
                    Value::Num(n) if n.first() == Some(&b'-') => None,
                    _ => Some(num_of(v, KIND_EXEC, "t")?),
                }
            }
            b"Y" => r.last_quote = str_of(v, KIND_EXEC, "Y")?,
            b"m" => {
                r.maker = match v {
                    Value::Bool(b) => b,
                    _ => {
                        return Err(DecodeError::WrongType {
                            kind: KIND_EXEC,
                            field: "m",
                        })
                    }
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    if e_type != b"executionReport" {
        return Ok(WsApiMessage::OtherEvent(e_type));
    }
    for (ok, field) in [
        (seen_i, "i"),
        (!r.client_id.is_empty(), "c"),
        (!r.exec_type.is_empty(), "x"),
        (!r.status.is_empty(), "X"),
        (!r.side.is_empty(), "S"),
        (!r.last_qty.is_empty(), "l"),
    ] {
        if !ok {
            return Err(DecodeError::MissingField {
                kind: KIND_EXEC,
                field,
            });
        }
    }
    Ok(WsApiMessage::Execution(r))
}

/// Decodes an order object from a response `result`.
pub fn decode_order_result(obj: &[u8]) -> Result<OrderResult<'_>, DecodeError> {
    let mut r = OrderResult::default();
    let mut seen_id = false;
    Scanner::new(obj).object(|k, v| {
        match k {
            b"clientOrderId" => r.client_id = str_of(v, KIND_ORDER, "clientOrderId")?,
            b"origClientOrderId" => r.orig_client_id = str_of(v, KIND_ORDER, "origClientOrderId")?,
            b"orderId" => {
                r.order_id = num_of(v, KIND_ORDER, "orderId")?;
                seen_id = true;
            }
            b"status" => r.status = str_of(v, KIND_ORDER, "status")?,
            b"side" => r.side = str_of(v, KIND_ORDER, "side")?,
            b"price" => r.price = str_of(v, KIND_ORDER, "price")?,
            b"origQty" => r.orig_qty = str_of(v, KIND_ORDER, "origQty")?,
            b"executedQty" => r.executed_qty = str_of(v, KIND_ORDER, "executedQty")?,
            b"cummulativeQuoteQty" => r.cum_quote = str_of(v, KIND_ORDER, "cummulativeQuoteQty")?,
            _ => {}
        }
        Ok(())
    })?;
    if !seen_id {
        return Err(DecodeError::MissingField {
            kind: KIND_ORDER,
            field: "orderId",
        });
    }
    Ok(r)
}

/// The `newOrderResponse` object of a successful `order.cancelReplace` result, if present.
pub fn cancel_replace_new_order(result: &[u8]) -> Result<Option<&[u8]>, DecodeError> {
    let mut out = None;
    Scanner::new(result).object(|k, v| {
        if k == b"newOrderResponse" {
            if let Value::Obj(o) = v {
                out = Some(o);
            }
        }
        Ok(())
    })?;
    Ok(out)
}

/// Calls `f` for every element of a JSON array of objects (`openOrders.status`).
pub fn for_each_object<'a>(
    arr: &'a [u8],
    mut f: impl FnMut(&'a [u8]) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let mut sc = Scanner::new(arr);
    sc.expect(b'[', "'['")?;
    if sc.eat(b']') {
        return Ok(());
    }
    loop {
        match sc.value()? {
            Value::Obj(o) => f(o)?,
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

/// Runs every decoder over arbitrary bytes (the fuzz target's body).
pub fn exercise(data: &[u8]) {
    if let Ok(WsApiMessage::Response(r)) = decode(data) {
        if let Some(res) = r.result {
            let _ = decode_order_result(res);
            let _ = cancel_replace_new_order(res);
            let _ = for_each_object(res, |o| decode_order_result(o).map(|_| ()));
        }
    }
    let _ = decode_order_result(data);
    let _ = for_each_object(data, |o| decode_order_result(o).map(|_| ()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_place_ack_with_rate_limits() {
        let m = br#"{"id":17,"status":200,"result":{"symbol":"DOGEUSDT","orderId":12,"orderListId":-1,"clientOrderId":"pm17","transactTime":1,"price":"0.16900000","origQty":"100.00000000","executedQty":"0.00000000","cummulativeQuoteQty":"0.00000000","status":"NEW","timeInForce":"GTC","type":"LIMIT_MAKER","side":"BUY"},"rateLimits":[{"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":10,"limit":50,"count":3},{"rateLimitType":"ORDERS","interval":"DAY","intervalNum":1,"limit":160000,"count":9},{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000,"count":12}]}"#;
        let WsApiMessage::Response(r) = decode(m).unwrap() else {
            panic!()
        };
        assert_eq!((r.id, r.status, r.error), (Some(17), 200, None));
        assert_eq!(r.rate.orders_10s, Some((3, 50)));
        assert_eq!(r.rate.orders_1d, Some((9, 160000)));
        assert_eq!(r.rate.weight_1m, Some((12, 6000)));
        let o = decode_order_result(r.result.unwrap()).unwrap();
        assert_eq!(o.client_id, b"pm17");
        assert_eq!(o.order_id, 12);
        assert_eq!(o.status, b"NEW");
        assert_eq!(o.executed_qty, b"0.00000000");
    }

    #[test]
    fn errors_with_codes() {
        for (text, code, status) in [
            (&br#"{"id":5,"status":400,"error":{"code":-2010,"msg":"Order would immediately match and take."},"rateLimits":[]}"#[..], -2010, 400),
            (br#"{"id":6,"status":503,"error":{"code":-1007,"msg":"Timeout waiting for response from backend server. Send status unknown; execution status unknown."}}"#, -1007, 503),
            (br#"{"id":7,"status":500,"error":{"code":-1006,"msg":"An unexpected response was received from the message bus."}}"#, -1006, 500),
            (br#"{"id":8,"status":400,"error":{"code":-2011,"msg":"Unknown order sent."}}"#, -2011, 400),
        ] {
            let WsApiMessage::Response(r) = decode(text).unwrap() else {
                panic!()
            };
            assert_eq!(r.status, status);
            assert_eq!(r.error.unwrap().0, code);
        }
        let t = br#"{"id":9,"status":429,"error":{"code":-1003,"msg":"Too many requests","data":{"serverTime":1,"retryAfter":1700000001000}}}"#;
        let WsApiMessage::Response(r) = decode(t).unwrap() else {
            panic!()
        };
        assert_eq!(r.error.unwrap().0, -1003);
        assert!(r.error_data.is_some());
        let t = br#"{"id":null,"status":400,"error":{"code":-1102,"msg":"x"}}"#;
        let WsApiMessage::Response(r) = decode(t).unwrap() else {
            panic!()
        };
        assert_eq!(r.id, None);
    }

    #[test]
    fn execution_reports() {
        let fill = br#"{"subscriptionId":0,"event":{"e":"executionReport","E":1700000000123,"s":"DOGEUSDT","c":"pm42","S":"SELL","o":"LIMIT_MAKER","f":"GTC","q":"100.00000000","p":"0.16901000","P":"0","F":"0","g":-1,"C":"","x":"TRADE","X":"PARTIALLY_FILLED","r":"NONE","i":77,"l":"40.00000000","z":"40.00000000","L":"0.16901000","n":"0.00067604","N":"USDT","T":1700000000122,"t":9,"v":0,"I":0,"w":true,"m":true,"M":false,"O":1,"Z":"6.76040000","Y":"6.76040000","Q":"0","W":1,"V":"EXPIRE_MAKER"}}"#;
        let WsApiMessage::Execution(e) = decode(fill).unwrap() else {
            panic!()
        };
        assert_eq!(e.exec_type, b"TRADE");
        assert_eq!(e.status, b"PARTIALLY_FILLED");
        assert_eq!(e.order_client_id(), b"pm42");
        assert_eq!((e.order_id, e.trade_id), (77, Some(9)));
        assert_eq!(e.last_qty, b"40.00000000");
        assert_eq!(e.last_price, b"0.16901000");
        assert_eq!(e.commission, b"0.00067604");
        assert_eq!(e.commission_asset, b"USDT");
        assert_eq!(e.last_quote, b"6.76040000");
        assert!(e.maker);
        let cancel = br#"{"subscriptionId":0,"event":{"e":"executionReport","E":1,"s":"DOGEUSDT","c":"web_abc","S":"BUY","q":"1","p":"0.1","C":"pm43","x":"CANCELED","X":"CANCELED","r":"NONE","i":78,"l":"0","z":"0","L":"0","n":"0","N":null,"T":1,"t":-1,"m":false}}"#;
        let WsApiMessage::Execution(e) = decode(cancel).unwrap() else {
            panic!()
        };
        assert_eq!(e.order_client_id(), b"pm43");
        assert_eq!(e.trade_id, None);
        assert_eq!(e.commission_asset, b"");
        let pos =
            br#"{"subscriptionId":0,"event":{"e":"outboundAccountPosition","E":1,"u":1,"B":[]}}"#;
        assert_eq!(
            decode(pos).unwrap(),
            WsApiMessage::OtherEvent(b"outboundAccountPosition")
        );
        for status in [&b"NEW"[..], b"FILLED", b"EXPIRED", b"REJECTED"] {
            let mut t = br#"{"subscriptionId":0,"event":{"e":"executionReport","E":1,"s":"DOGEUSDT","c":"pm1","S":"BUY","x":"X_","X":"X_","i":1,"l":"0"}}"#.to_vec();
            let s = String::from_utf8(t.clone())
                .unwrap()
                .replace("X_", std::str::from_utf8(status).unwrap());
            t = s.into_bytes();
            let WsApiMessage::Execution(e) = decode(&t).unwrap() else {
                panic!()
            };
            assert_eq!(e.status, status);
        }
    }

    #[test]
    fn missing_and_wrong_fields_are_errors() {
        assert!(decode(br#"{"id":1}"#).is_err());
        assert!(decode(br#"{"id":1,"status":"200"}"#).is_err());
        assert!(decode(br#"{"event":{"e":"executionReport","c":"x"}}"#).is_err());
        assert!(decode(br#"{"id":1,"status":400,"error":{"msg":"no code"}}"#).is_err());
        assert!(decode(b"{").is_err());
        assert!(decode_order_result(br#"{"clientOrderId":"a"}"#).is_err());
    }

    #[test]
    fn open_orders_and_cancel_replace() {
        let arr = br#"[{"orderId":1,"clientOrderId":"pm1","status":"NEW","side":"BUY","price":"0.1","origQty":"5","executedQty":"0","cummulativeQuoteQty":"0"},{"orderId":2,"clientOrderId":"pm2","status":"PARTIALLY_FILLED","side":"SELL","price":"0.2","origQty":"5","executedQty":"1","cummulativeQuoteQty":"0.2"}]"#;
        let mut ids = Vec::new();
        for_each_object(arr, |o| {
            ids.push(decode_order_result(o)?.order_id);
            Ok(())
        })
        .unwrap();
        assert_eq!(ids, [1, 2]);
        for_each_object(b"[]", |_| panic!()).unwrap();
        let cr = br#"{"cancelResult":"SUCCESS","newOrderResult":"SUCCESS","cancelResponse":{"orderId":1,"origClientOrderId":"pm1","clientOrderId":"x","status":"CANCELED"},"newOrderResponse":{"orderId":3,"clientOrderId":"pm3","status":"NEW"}}"#;
        let n = cancel_replace_new_order(cr).unwrap().unwrap();
        let o = decode_order_result(n).unwrap();
        assert_eq!((o.order_id, o.client_id), (3, &b"pm3"[..]));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            exercise(&data);
        }
    }
}
