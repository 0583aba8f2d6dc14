//! Binance WebSocket API request encoders: spot (`/ws-api/v3`) `session.logon`, `order.place`,
//! `order.cancel`, `order.cancelReplace`; and the USD-M futures WebSocket API (`/ws-fapi/v1`, same
//! envelope and signing): `order.place` / `order.modify` ([`FuturesOrderPlace`]) and the API-key-only
//! `userDataStream.*` calls. `order.cancel`, `order.status` and `session.logon` are the same
//! requests on both.
//!
//! The signature payload is every parameter except `signature`, **sorted by name**, joined as
//! `k=v&...` without percent-encoding (Binance WebSocket API rules). After an Ed25519
//! `session.logon`, requests carry no `apiKey`/`signature` (only `timestamp`), which keeps signing off
//! the hot path.
//!
//! # Hot path
//! Encoding writes into a caller's fixed buffer: no allocation. Parameters are a small stack array
//! sorted in place.

use thiserror::Error;

use crate::model::decimal::{write_u64, MAX_FIXED_LEN};
use crate::model::order::{OrderType, TimeInForce};
use crate::model::{ClientOrderId, Scale, Side};

use super::client_id::write_binance_client_id;
use super::signing::{Signer, MAX_SIGNATURE_LEN};

/// Why a request could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// The output buffer is too small.
    #[error("output buffer too small")]
    Overflow,
    /// The client id prefix is not valid for Binance.
    #[error("invalid client order id prefix")]
    BadClientId,
    /// Spot takes LIMIT (GTC/IOC/FOK) and LIMIT_MAKER here; MARKET and GTX are refused.
    #[error("order type or time in force not sent on spot by pymm")]
    Unsupported,
}

/// What every signed request needs.
#[derive(Clone, Copy, Debug)]
pub struct Auth<'a> {
    /// The API key, or `None` on a connection authenticated by `session.logon`.
    pub api_key: Option<&'a [u8]>,
    /// Milliseconds since the epoch (from the clock authority).
    pub timestamp_ms: u64,
    /// `recvWindow` in ms, if set.
    pub recv_window_ms: Option<u32>,
}

/// An `order.place` request.
#[derive(Clone, Copy, Debug)]
pub struct OrderPlace<'a> {
    /// Request id (echoed in the response).
    pub request_id: u64,
    /// Venue symbol, e.g. `DOGEUSDT`.
    pub symbol: &'a [u8],
    /// Side.
    pub side: Side,
    /// Type: LIMIT or LIMIT_MAKER (spot post-only).
    pub order_type: OrderType,
    /// Time in force for LIMIT: GTC, IOC or FOK (ignored for LIMIT_MAKER).
    pub tif: TimeInForce,
    /// Price in ticks, with the instrument's tick scale.
    pub price_ticks: i64,
    /// The instrument's tick size.
    pub tick: Scale,
    /// Quantity in lots.
    pub qty_lots: i64,
    /// The instrument's lot size.
    pub lot: Scale,
    /// Our client order id.
    pub client_id: ClientOrderId,
    /// Prefix rendering client ids as venue text.
    pub client_prefix: &'a [u8],
}

#[derive(Clone, Copy)]
enum Val<'a> {
    Text(&'a [u8]),
    Int(u64),
    Units(i64, Scale),
    ClientId(ClientOrderId),
}

struct Cursor<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn put(&mut self, b: &[u8]) -> Result<(), EncodeError> {
        let end = self
            .pos
            .checked_add(b.len())
            .filter(|&e| e <= self.buf.len())
            .ok_or(EncodeError::Overflow)?;
        self.buf[self.pos..end].copy_from_slice(b);
        self.pos = end;
        Ok(())
    }

    fn put_u64(&mut self, v: u64) -> Result<(), EncodeError> {
        let mut d = [0u8; 20];
        self.put(write_u64(v, &mut d))
    }

    fn put_val(
        &mut self,
        v: Val<'_>,
        prefix: &[u8],
        quoted_numbers: bool,
    ) -> Result<(), EncodeError> {
        match v {
            Val::Text(t) => {
                if quoted_numbers {
                    self.put(b"\"")?;
                }
                self.put(t)?;
                if quoted_numbers {
                    self.put(b"\"")?;
                }
            }
            Val::Int(i) => self.put_u64(i)?,
            Val::Units(u, s) => {
                let mut b = [0u8; MAX_FIXED_LEN];
                let n = s.write_units(u, &mut b);
                if quoted_numbers {
                    self.put(b"\"")?;
                }
                self.put(&b[..n])?;
                if quoted_numbers {
                    self.put(b"\"")?;
                }
            }
            Val::ClientId(id) => {
                let mut b = [0u8; 36];
                let n =
                    write_binance_client_id(prefix, id, &mut b).ok_or(EncodeError::BadClientId)?;
                if quoted_numbers {
                    self.put(b"\"")?;
                }
                self.put(&b[..n])?;
                if quoted_numbers {
                    self.put(b"\"")?;
                }
            }
        }
        Ok(())
    }
}

const MAX_PARAMS: usize = 16;

/// Sorts by name, builds the signature payload, signs, and writes the JSON request.
fn encode(
    request_id: u64,
    method: &[u8],
    params: &mut [(&'static str, Val<'_>)],
    prefix: &[u8],
    signer: Option<&Signer>,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    params.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut sig = [0u8; MAX_SIGNATURE_LEN];
    let mut sig_len = 0;
    if let Some(signer) = signer {
        let mut payload = [0u8; 1024];
        let mut p = Cursor {
            buf: &mut payload,
            pos: 0,
        };
        for (i, (k, v)) in params.iter().enumerate() {
            if i > 0 {
                p.put(b"&")?;
            }
            p.put(k.as_bytes())?;
            p.put(b"=")?;
            p.put_val(*v, prefix, false)?;
        }
        let n = p.pos;
        sig_len = signer.sign(&payload[..n], &mut sig);
    }
    let mut c = Cursor { buf: out, pos: 0 };
    c.put(b"{\"id\":\"")?;
    c.put_u64(request_id)?;
    c.put(b"\",\"method\":\"")?;
    c.put(method)?;
    c.put(b"\",\"params\":{")?;
    let mut first = true;
    let mut signature_written = sig_len == 0;
    for (k, v) in params.iter() {
        if !signature_written && *k > "signature" {
            c.put(if first {
                b"\"signature\":\""
            } else {
                b",\"signature\":\""
            })?;
            c.put(&sig[..sig_len])?;
            c.put(b"\"")?;
            signature_written = true;
            first = false;
        }
        c.put(if first { b"\"" } else { b",\"" })?;
        c.put(k.as_bytes())?;
        c.put(b"\":")?;
        c.put_val(*v, prefix, !matches!(v, Val::Int(_)))?;
        first = false;
    }
    if !signature_written {
        c.put(if first {
            b"\"signature\":\""
        } else {
            b",\"signature\":\""
        })?;
        c.put(&sig[..sig_len])?;
        c.put(b"\"")?;
    }
    c.put(b"}}")?;
    Ok(c.pos)
}

fn push<'a>(
    ps: &mut [(&'static str, Val<'a>); MAX_PARAMS],
    n: &mut usize,
    k: &'static str,
    v: Val<'a>,
) {
    ps[*n] = (k, v);
    *n += 1;
}

/// `type` (and `timeInForce` for LIMIT), refusing what spot order entry does not send.
fn push_type<'a>(
    ps: &mut [(&'static str, Val<'a>); MAX_PARAMS],
    n: &mut usize,
    o: &OrderPlace<'a>,
) -> Result<(), EncodeError> {
    match (o.order_type, o.tif) {
        (OrderType::Limit, TimeInForce::Gtc | TimeInForce::Ioc | TimeInForce::Fok) => {
            push(ps, n, "type", Val::Text(b"LIMIT"));
            push(ps, n, "timeInForce", Val::Text(o.tif.as_str().as_bytes()));
        }
        (OrderType::LimitMaker, _) => push(ps, n, "type", Val::Text(b"LIMIT_MAKER")),
        _ => return Err(EncodeError::Unsupported),
    }
    Ok(())
}

fn push_auth<'a>(ps: &mut [(&'static str, Val<'a>); MAX_PARAMS], n: &mut usize, auth: &Auth<'a>) {
    if let Some(key) = auth.api_key {
        push(ps, n, "apiKey", Val::Text(key));
    }
    if let Some(rw) = auth.recv_window_ms {
        push(ps, n, "recvWindow", Val::Int(u64::from(rw)));
    }
    push(ps, n, "timestamp", Val::Int(auth.timestamp_ms));
}

/// Encodes `order.place`; signs when `signer` is given (omit it after `session.logon`).
pub fn encode_order_place(
    o: &OrderPlace<'_>,
    auth: &Auth<'_>,
    signer: Option<&Signer>,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let mut ps = [("", Val::Int(0)); MAX_PARAMS];
    let mut n = 0;
    push(&mut ps, &mut n, "symbol", Val::Text(o.symbol));
    push(
        &mut ps,
        &mut n,
        "side",
        Val::Text(o.side.as_str().as_bytes()),
    );
    push_type(&mut ps, &mut n, o)?;
    push(&mut ps, &mut n, "price", Val::Units(o.price_ticks, o.tick));
    push(&mut ps, &mut n, "quantity", Val::Units(o.qty_lots, o.lot));
    push(
        &mut ps,
        &mut n,
        "newClientOrderId",
        Val::ClientId(o.client_id),
    );
    push(&mut ps, &mut n, "newOrderRespType", Val::Text(b"RESULT"));
    push_auth(&mut ps, &mut n, auth);
    encode(
        o.request_id,
        b"order.place",
        &mut ps[..n],
        o.client_prefix,
        signer,
        out,
    )
}

/// Encodes `order.cancel` of our order `client_id`.
pub fn encode_order_cancel(
    request_id: u64,
    symbol: &[u8],
    client_id: ClientOrderId,
    client_prefix: &[u8],
    auth: &Auth<'_>,
    signer: Option<&Signer>,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let mut ps = [("", Val::Int(0)); MAX_PARAMS];
    let mut n = 0;
    push(&mut ps, &mut n, "symbol", Val::Text(symbol));
    push(
        &mut ps,
        &mut n,
        "origClientOrderId",
        Val::ClientId(client_id),
    );
    push_auth(&mut ps, &mut n, auth);
    encode(
        request_id,
        b"order.cancel",
        &mut ps[..n],
        client_prefix,
        signer,
        out,
    )
}

/// Encodes `order.cancelReplace` (STOP_ON_FAILURE): cancel `old`, then place `new` (whose
/// `client_id` is the replacement's).
pub fn encode_cancel_replace(
    old: ClientOrderId,
    new: &OrderPlace<'_>,
    auth: &Auth<'_>,
    signer: Option<&Signer>,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let mut ps = [("", Val::Int(0)); MAX_PARAMS];
    let mut n = 0;
    push(&mut ps, &mut n, "symbol", Val::Text(new.symbol));
    push(
        &mut ps,
        &mut n,
        "cancelReplaceMode",
        Val::Text(b"STOP_ON_FAILURE"),
    );
    push(
        &mut ps,
        &mut n,
        "cancelOrigClientOrderId",
        Val::ClientId(old),
    );
    push(
        &mut ps,
        &mut n,
        "side",
        Val::Text(new.side.as_str().as_bytes()),
    );
    push_type(&mut ps, &mut n, new)?;
    push(
        &mut ps,
        &mut n,
        "price",
        Val::Units(new.price_ticks, new.tick),
    );
    push(
        &mut ps,
        &mut n,
        "quantity",
        Val::Units(new.qty_lots, new.lot),
    );
    push(
        &mut ps,
        &mut n,
        "newClientOrderId",
        Val::ClientId(new.client_id),
    );
    push_auth(&mut ps, &mut n, auth);
    encode(
        new.request_id,
        b"order.cancelReplace",
        &mut ps[..n],
        new.client_prefix,
        signer,
        out,
    )
}

/// Encodes a request on one symbol with an optional `origClientOrderId`: `order.status`,
/// `openOrders.status`, `openOrders.cancelAll` (signed when `signer` is given; omit it after
/// `session.logon`).
#[allow(clippy::too_many_arguments)]
pub fn encode_symbol_request(
    request_id: u64,
    method: &[u8],
    symbol: &[u8],
    client_id: Option<ClientOrderId>,
    client_prefix: &[u8],
    auth: &Auth<'_>,
    signer: Option<&Signer>,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let mut ps = [("", Val::Int(0)); MAX_PARAMS];
    let mut n = 0;
    push(&mut ps, &mut n, "symbol", Val::Text(symbol));
    if let Some(id) = client_id {
        push(&mut ps, &mut n, "origClientOrderId", Val::ClientId(id));
    }
    push_auth(&mut ps, &mut n, auth);
    encode(request_id, method, &mut ps[..n], client_prefix, signer, out)
}

/// Encodes a signed request whose only parameters are the authentication
/// (`userDataStream.subscribe.signature`: `apiKey`, `recvWindow`, `timestamp`, `signature`).
pub fn encode_signed_request(
    request_id: u64,
    method: &[u8],
    auth: &Auth<'_>,
    signer: &Signer,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let mut ps = [("", Val::Int(0)); MAX_PARAMS];
    let mut n = 0;
    push_auth(&mut ps, &mut n, auth);
    encode(request_id, method, &mut ps[..n], b"", Some(signer), out)
}

/// Encodes a request without parameters (`userDataStream.subscribe` after `session.logon`).
pub fn encode_plain_request(
    request_id: u64,
    method: &[u8],
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    encode(request_id, method, &mut [], b"", None, out)
}

/// Encodes `session.logon` (Ed25519 keys only, per Binance).
pub fn encode_session_logon(
    request_id: u64,
    api_key: &[u8],
    timestamp_ms: u64,
    signer: &Signer,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let mut ps = [("", Val::Int(0)); MAX_PARAMS];
    let mut n = 0;
    push(&mut ps, &mut n, "apiKey", Val::Text(api_key));
    push(&mut ps, &mut n, "timestamp", Val::Int(timestamp_ms));
    encode(
        request_id,
        b"session.logon",
        &mut ps[..n],
        b"",
        Some(signer),
        out,
    )
}

/// A USD-M futures `order.place` (LIMIT with `GTX`/`IOC`/`GTC`, RESULT answer) or, for
/// [`encode_futures_order_modify`], the new terms of `order.modify`.
#[derive(Clone, Copy, Debug)]
pub struct FuturesOrderPlace<'a> {
    /// Request id (echoed in the response).
    pub request_id: u64,
    /// Venue symbol, e.g. `DOGEUSDT`.
    pub symbol: &'a [u8],
    /// Side.
    pub side: Side,
    /// `timeInForce` text: `GTX` (post-only), `IOC` or `GTC` (not sent by `order.modify`).
    pub tif: &'a [u8],
    /// Price in ticks, with the instrument's tick scale.
    pub price_ticks: i64,
    /// The instrument's tick size.
    pub tick: Scale,
    /// Quantity in lots.
    pub qty_lots: i64,
    /// The instrument's lot size.
    pub lot: Scale,
    /// `reduceOnly=true` (not sent by `order.modify`).
    pub reduce_only: bool,
    /// Our client order id.
    pub client_id: ClientOrderId,
    /// Prefix rendering client ids as venue text.
    pub client_prefix: &'a [u8],
}

/// Encodes a USD-M `order.place`; signs when `signer` is given (omit it after `session.logon`).
pub fn encode_futures_order_place(
    o: &FuturesOrderPlace<'_>,
    auth: &Auth<'_>,
    signer: Option<&Signer>,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    if !matches!(o.tif, b"GTX" | b"IOC" | b"GTC") {
        return Err(EncodeError::Unsupported);
    }
    let mut ps = [("", Val::Int(0)); MAX_PARAMS];
    let mut n = 0;
    push(&mut ps, &mut n, "symbol", Val::Text(o.symbol));
    push(
        &mut ps,
        &mut n,
        "side",
        Val::Text(o.side.as_str().as_bytes()),
    );
    push(&mut ps, &mut n, "type", Val::Text(b"LIMIT"));
    push(&mut ps, &mut n, "timeInForce", Val::Text(o.tif));
    push(&mut ps, &mut n, "price", Val::Units(o.price_ticks, o.tick));
    push(&mut ps, &mut n, "quantity", Val::Units(o.qty_lots, o.lot));
    if o.reduce_only {
        push(&mut ps, &mut n, "reduceOnly", Val::Text(b"true"));
    }
    push(
        &mut ps,
        &mut n,
        "newClientOrderId",
        Val::ClientId(o.client_id),
    );
    push(&mut ps, &mut n, "newOrderRespType", Val::Text(b"RESULT"));
    push_auth(&mut ps, &mut n, auth);
    encode(
        o.request_id,
        b"order.place",
        &mut ps[..n],
        o.client_prefix,
        signer,
        out,
    )
}

/// Encodes a USD-M `order.modify` of our order `o.client_id` to `o`'s price and quantity (same
/// side; Binance requires it).
pub fn encode_futures_order_modify(
    o: &FuturesOrderPlace<'_>,
    auth: &Auth<'_>,
    signer: Option<&Signer>,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let mut ps = [("", Val::Int(0)); MAX_PARAMS];
    let mut n = 0;
    push(&mut ps, &mut n, "symbol", Val::Text(o.symbol));
    push(
        &mut ps,
        &mut n,
        "origClientOrderId",
        Val::ClientId(o.client_id),
    );
    push(
        &mut ps,
        &mut n,
        "side",
        Val::Text(o.side.as_str().as_bytes()),
    );
    push(&mut ps, &mut n, "price", Val::Units(o.price_ticks, o.tick));
    push(&mut ps, &mut n, "quantity", Val::Units(o.qty_lots, o.lot));
    push_auth(&mut ps, &mut n, auth);
    encode(
        o.request_id,
        b"order.modify",
        &mut ps[..n],
        o.client_prefix,
        signer,
        out,
    )
}

/// Encodes an API-key-only request (USD-M `userDataStream.start` / `ping` / `stop`): unsigned,
/// no timestamp.
pub fn encode_api_key_request(
    request_id: u64,
    method: &[u8],
    api_key: &[u8],
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let mut ps = [("apiKey", Val::Text(api_key))];
    encode(request_id, method, &mut ps, b"", None, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::signing::Verifier;

    const SECRET: &[u8] = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    fn order<'a>() -> OrderPlace<'a> {
        OrderPlace {
            request_id: 7,
            symbol: b"DOGEUSDT",
            side: Side::Buy,
            order_type: OrderType::Limit,
            tif: TimeInForce::Gtc,
            price_ticks: 16_912,
            tick: Scale::parse("0.00001").unwrap(),
            qty_lots: 100,
            lot: Scale::parse("1").unwrap(),
            client_id: ClientOrderId(42),
            client_prefix: b"pymm-",
        }
    }

    fn text(buf: &[u8], n: usize) -> String {
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn order_place_is_valid_json_signed_over_sorted_params() {
        let s = Signer::hmac(SECRET).unwrap();
        let auth = Auth {
            api_key: Some(b"KEY"),
            timestamp_ms: 1_700_000_000_123,
            recv_window_ms: Some(5000),
        };
        let mut out = [0u8; 1024];
        let n = encode_order_place(&order(), &auth, Some(&s), &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out[..n]).unwrap();
        assert_eq!(v["method"], "order.place");
        assert_eq!(v["id"], "7");
        let p = &v["params"];
        assert_eq!(p["price"], "0.16912");
        assert_eq!(p["quantity"], "100");
        assert_eq!(p["newClientOrderId"], "pymm-42");
        assert_eq!(p["timestamp"], 1_700_000_000_123u64);
        // The venue's check: sort every param but signature, join k=v with &, verify.
        let mut keys: Vec<&String> = p
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k != "signature")
            .collect();
        keys.sort();
        let payload = keys
            .iter()
            .map(|k| match &p[k.as_str()] {
                serde_json::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join("&");
        let sig = p["signature"].as_str().unwrap();
        assert!(
            Verifier::hmac(SECRET)
                .unwrap()
                .verify(payload.as_bytes(), sig.as_bytes()),
            "{payload}"
        );
    }

    #[test]
    fn after_logon_requests_are_unsigned_and_limit_maker_has_no_tif() {
        let auth = Auth {
            api_key: None,
            timestamp_ms: 1,
            recv_window_ms: None,
        };
        let mut out = [0u8; 1024];
        let o = OrderPlace {
            order_type: OrderType::LimitMaker,
            ..order()
        };
        let n = encode_order_place(&o, &auth, None, &mut out).unwrap();
        let s = text(&out, n);
        assert!(
            !s.contains("signature") && !s.contains("apiKey") && !s.contains("timeInForce"),
            "{s}"
        );
        assert!(s.contains("\"type\":\"LIMIT_MAKER\""));
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["params"]["timestamp"], 1);
    }

    #[test]
    fn cancel_replace_logon_and_overflow() {
        let s = Signer::ed25519_seed(&[3; 32]);
        let mut out = [0u8; 1024];
        let n = encode_session_logon(1, b"KEY", 5, &s, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out[..n]).unwrap();
        let sig = v["params"]["signature"].as_str().unwrap();
        let verifier = Verifier::ed25519_bytes(&s.ed25519_public().unwrap()).unwrap();
        assert!(verifier.verify(b"apiKey=KEY&timestamp=5", sig.as_bytes()));
        let signed = Auth {
            api_key: Some(b"KEY"),
            timestamp_ms: 6,
            recv_window_ms: Some(5000),
        };
        let n = encode_signed_request(
            3,
            b"userDataStream.subscribe.signature",
            &signed,
            &s,
            &mut out,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out[..n]).unwrap();
        assert_eq!(v["method"], "userDataStream.subscribe.signature");
        let sig = v["params"]["signature"].as_str().unwrap();
        assert!(verifier.verify(b"apiKey=KEY&recvWindow=5000&timestamp=6", sig.as_bytes()));
        let auth = Auth {
            api_key: None,
            timestamp_ms: 9,
            recv_window_ms: None,
        };
        let n = encode_cancel_replace(ClientOrderId(41), &order(), &auth, None, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out[..n]).unwrap();
        assert_eq!(v["params"]["cancelOrigClientOrderId"], "pymm-41");
        assert_eq!(v["params"]["newClientOrderId"], "pymm-42");
        let n = encode_order_cancel(
            2,
            b"DOGEUSDT",
            ClientOrderId(42),
            b"pymm-",
            &auth,
            None,
            &mut out,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out[..n]).unwrap();
        assert_eq!(v["params"]["origClientOrderId"], "pymm-42");
        let mut small = [0u8; 40];
        assert_eq!(
            encode_order_place(&order(), &auth, None, &mut small),
            Err(EncodeError::Overflow)
        );
        let gtx = OrderPlace {
            tif: TimeInForce::Gtx,
            ..order()
        };
        assert_eq!(
            encode_order_place(&gtx, &auth, None, &mut out),
            Err(EncodeError::Unsupported)
        );
        let bad = OrderPlace {
            client_prefix: b"bad prefix",
            ..order()
        };
        assert_eq!(
            encode_order_place(&bad, &auth, None, &mut out),
            Err(EncodeError::BadClientId)
        );
    }

    #[test]
    fn futures_place_modify_and_key_requests() {
        let signer = Signer::hmac(b"secret").unwrap();
        let o = FuturesOrderPlace {
            request_id: 9,
            symbol: b"DOGEUSDT",
            side: Side::Sell,
            tif: b"GTX",
            price_ticks: 10_050,
            tick: Scale::parse("0.00001").unwrap(),
            qty_lots: 120,
            lot: Scale::parse("1").unwrap(),
            reduce_only: true,
            client_id: ClientOrderId(77),
            client_prefix: b"pmf-",
        };
        let auth = Auth {
            api_key: Some(b"k"),
            timestamp_ms: 1_700_000_000_000,
            recv_window_ms: Some(5000),
        };
        let mut buf = [0u8; 1024];
        let n = encode_futures_order_place(&o, &auth, Some(&signer), &mut buf).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text(&buf, n)).unwrap();
        assert_eq!(v["method"], "order.place");
        let p = &v["params"];
        assert_eq!(
            (&p["timeInForce"], &p["reduceOnly"], &p["newClientOrderId"]),
            (
                &serde_json::json!("GTX"),
                &serde_json::json!("true"),
                &serde_json::json!("pmf-77")
            )
        );
        assert_eq!(
            (&p["price"], &p["quantity"]),
            (&serde_json::json!("0.10050"), &serde_json::json!("120"))
        );
        let payload = "apiKey=k&newClientOrderId=pmf-77&newOrderRespType=RESULT&price=0.10050&quantity=120&recvWindow=5000&reduceOnly=true&side=SELL&symbol=DOGEUSDT&timeInForce=GTX&timestamp=1700000000000&type=LIMIT";
        let mut sig = [0u8; MAX_SIGNATURE_LEN];
        let k = signer.sign(payload.as_bytes(), &mut sig);
        assert_eq!(p["signature"].as_str().unwrap().as_bytes(), &sig[..k]);
        let n = encode_futures_order_modify(&o, &auth, None, &mut buf).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text(&buf, n)).unwrap();
        assert_eq!(v["method"], "order.modify");
        assert_eq!(v["params"]["origClientOrderId"], "pmf-77");
        assert!(v["params"].get("timeInForce").is_none() && v["params"].get("signature").is_none());
        let n = encode_api_key_request(3, b"userDataStream.start", b"k", &mut buf).unwrap();
        assert_eq!(
            text(&buf, n),
            r#"{"id":"3","method":"userDataStream.start","params":{"apiKey":"k"}}"#
        );
        let bad = FuturesOrderPlace { tif: b"FOK", ..o };
        assert_eq!(
            encode_futures_order_place(&bad, &auth, None, &mut buf),
            Err(EncodeError::Unsupported)
        );
    }
}
