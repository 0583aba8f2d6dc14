//! The Binance spot wire shapes of the simulated venue: request parameters (as the HTTP front
//! decoded them: name → text) in, Binance-shaped JSON and HTTP status out, for `/api/v3/...`, and
//! the market-stream and user-stream payloads of [`VenueEvent`]s.
//!
//! Key names, their order, misspellings (`cummulativeQuoteQty`), error codes and messages follow the
//! research brief `binance_protocol.md` §1.5–§1.10 and §2.2. Numbers are strings with 8 decimal
//! places (more only when a value needs them); ids and times are integers (milliseconds).
//!
//! Off the hot path: called by the simulated venue's front, it allocates freely. Never reads a clock.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::account::{
    format_atto, parse_stp, stp_str, AccountTrade, CancelReplaceMode, ExecutionUpdate, OrderKey,
    OrderRecord, PlaceOrder, Placed, SpotVenue, VenueEvent, ATTO,
};
use crate::model::{
    Instrument, OrderStatus, OrderType, Price, Qty, Side, TimeInForce, UnixNanos, VenueError,
};

/// Request parameters by name, as decoded by the front (query wins over body there).
pub type Params = BTreeMap<String, String>;

/// An HTTP status and a JSON body.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: Value,
}

impl Reply {
    pub(crate) fn ok(body: Value) -> Self {
        Self { status: 200, body }
    }
}

pub(crate) fn err(e: &VenueError) -> Reply {
    Reply {
        status: if matches!(e.code, -2014 | -2015) {
            401
        } else {
            400
        },
        body: json!({"code": e.code, "msg": e.msg}),
    }
}

pub(crate) fn venue_err(code: i32, msg: impl Into<String>) -> VenueError {
    VenueError {
        code,
        msg: msg.into(),
    }
}

pub(crate) fn mandatory(p: &str) -> VenueError {
    venue_err(
        -1102,
        format!("Mandatory parameter '{p}' was not sent, was empty/null, or malformed."),
    )
}

pub(crate) fn ms(t: UnixNanos) -> u64 {
    t.0 / 1_000_000
}

pub(crate) fn get<'a>(p: &'a Params, k: &str) -> Option<&'a str> {
    p.get(k).map(String::as_str).filter(|s| !s.is_empty())
}

pub(crate) fn need<'a>(p: &'a Params, k: &str) -> Result<&'a str, VenueError> {
    get(p, k).ok_or_else(|| mandatory(k))
}

/// Display places for amounts (Binance prints 8).
const PLACES: u32 = 8;

fn price_text(inst: &Instrument, p: Price) -> String {
    let e = u32::from(inst.price_scale.exp());
    format_atto(
        i128::from(p.ticks()) * i128::from(inst.price_scale.mantissa()) * 10i128.pow(18 - e),
        PLACES,
    )
}

fn qty_text(inst: &Instrument, q: Qty) -> String {
    let e = u32::from(inst.qty_scale.exp());
    format_atto(
        i128::from(q.lots()) * i128::from(inst.qty_scale.mantissa()) * 10i128.pow(18 - e),
        PLACES,
    )
}

pub(crate) fn amount(a: i128) -> String {
    format_atto(a, PLACES)
}

pub(crate) fn zero() -> String {
    amount(0)
}

fn inst_of(v: &SpotVenue, idx: usize) -> Result<&Instrument, VenueError> {
    v.instrument(idx)
        .ok_or_else(|| venue_err(-1121, "Invalid symbol."))
}

fn tif_text(o: &OrderRecord) -> &'static str {
    o.time_in_force.as_str()
}

/// The order object of `GET /api/v3/order` and `/openOrders`.
pub fn order_json(v: &SpotVenue, o: &OrderRecord) -> Value {
    let Some(inst) = v.instrument(o.symbol) else {
        return Value::Null;
    };
    let mut m = Map::new();
    m.insert("symbol".into(), json!(inst.symbol));
    m.insert("orderId".into(), json!(o.order_id));
    m.insert("orderListId".into(), json!(-1));
    m.insert("clientOrderId".into(), json!(o.client_order_id));
    m.insert("price".into(), json!(price_text(inst, o.price)));
    m.insert("origQty".into(), json!(qty_text(inst, o.orig_qty)));
    m.insert("executedQty".into(), json!(qty_text(inst, o.executed_qty)));
    m.insert("cummulativeQuoteQty".into(), json!(amount(o.cum_quote)));
    m.insert("status".into(), json!(o.status.as_str()));
    m.insert("timeInForce".into(), json!(tif_text(o)));
    m.insert("type".into(), json!(o.order_type.as_str()));
    m.insert("side".into(), json!(o.side.as_str()));
    m.insert("stopPrice".into(), json!(zero()));
    m.insert("icebergQty".into(), json!(zero()));
    m.insert("time".into(), json!(ms(o.time)));
    m.insert("updateTime".into(), json!(ms(o.update_time)));
    m.insert("isWorking".into(), json!(true));
    m.insert("workingTime".into(), json!(ms(o.time)));
    m.insert("origQuoteOrderQty".into(), json!(amount(o.orig_quote_qty)));
    m.insert("selfTradePreventionMode".into(), json!(stp_str(o.stp)));
    if !o.prevented_qty.is_zero() {
        m.insert("preventedMatchId".into(), json!(0));
        m.insert(
            "preventedQuantity".into(),
            json!(qty_text(inst, o.prevented_qty)),
        );
    }
    Value::Object(m)
}

/// ACK, RESULT or FULL for a new order.
fn placed_json(v: &SpotVenue, p: &Placed, resp_type: &str) -> Value {
    let o = &p.order;
    let Some(inst) = v.instrument(o.symbol) else {
        return Value::Null;
    };
    let mut m = Map::new();
    m.insert("symbol".into(), json!(inst.symbol));
    m.insert("orderId".into(), json!(o.order_id));
    m.insert("orderListId".into(), json!(-1));
    m.insert("clientOrderId".into(), json!(o.client_order_id));
    m.insert("transactTime".into(), json!(ms(p.time)));
    if resp_type == "ACK" {
        return Value::Object(m);
    }
    m.insert("price".into(), json!(price_text(inst, o.price)));
    m.insert("origQty".into(), json!(qty_text(inst, o.orig_qty)));
    m.insert("executedQty".into(), json!(qty_text(inst, o.executed_qty)));
    m.insert("origQuoteOrderQty".into(), json!(amount(o.orig_quote_qty)));
    m.insert("cummulativeQuoteQty".into(), json!(amount(o.cum_quote)));
    m.insert("status".into(), json!(o.status.as_str()));
    m.insert("timeInForce".into(), json!(tif_text(o)));
    m.insert("type".into(), json!(o.order_type.as_str()));
    m.insert("side".into(), json!(o.side.as_str()));
    m.insert("workingTime".into(), json!(ms(o.time)));
    m.insert("selfTradePreventionMode".into(), json!(stp_str(o.stp)));
    if !o.prevented_qty.is_zero() {
        m.insert("preventedMatchId".into(), json!(0));
        m.insert(
            "preventedQuantity".into(),
            json!(qty_text(inst, o.prevented_qty)),
        );
    }
    if resp_type == "FULL" {
        let fills: Vec<Value> = p
            .fills
            .iter()
            .map(|f| {
                json!({
                    "price": price_text(inst, f.price),
                    "qty": qty_text(inst, f.qty),
                    "commission": amount(f.commission),
                    "commissionAsset": f.commission_asset,
                    "tradeId": f.trade_id,
                })
            })
            .collect();
        m.insert("fills".into(), Value::Array(fills));
    }
    Value::Object(m)
}

/// The cancel object of `DELETE /api/v3/order`.
fn cancel_json(v: &SpotVenue, o: &OrderRecord, cancel_id: &str, now: UnixNanos) -> Value {
    let Some(inst) = v.instrument(o.symbol) else {
        return Value::Null;
    };
    json!({
        "symbol": inst.symbol,
        "origClientOrderId": o.client_order_id,
        "orderId": o.order_id,
        "orderListId": -1,
        "clientOrderId": cancel_id,
        "transactTime": ms(now),
        "price": price_text(inst, o.price),
        "origQty": qty_text(inst, o.orig_qty),
        "executedQty": qty_text(inst, o.executed_qty),
        "origQuoteOrderQty": amount(o.orig_quote_qty),
        "cummulativeQuoteQty": amount(o.cum_quote),
        "status": o.status.as_str(),
        "timeInForce": tif_text(o),
        "type": o.order_type.as_str(),
        "side": o.side.as_str(),
        "selfTradePreventionMode": stp_str(o.stp),
    })
}

/// Parses the new-order parameters of `POST /api/v3/order` (also the new half of cancelReplace).
fn parse_new_order<'a>(account: u32, p: &'a Params) -> Result<PlaceOrder<'a>, VenueError> {
    let symbol = need(p, "symbol")?;
    let side = match need(p, "side")? {
        "BUY" => Side::Buy,
        "SELL" => Side::Sell,
        _ => return Err(venue_err(-1117, "Invalid side.")),
    };
    let order_type =
        OrderType::parse(need(p, "type")?).ok_or_else(|| venue_err(-1116, "Invalid orderType."))?;
    let time_in_force = get(p, "timeInForce")
        .map(|t| TimeInForce::parse(t).ok_or_else(|| venue_err(-1115, "Invalid timeInForce.")))
        .transpose()?;
    let stp = get(p, "selfTradePreventionMode")
        .map(|t| {
            parse_stp(t).ok_or_else(|| {
                venue_err(
                    -1100,
                    "Illegal characters found in parameter 'selfTradePreventionMode'; legal range is 'NONE', 'EXPIRE_TAKER', 'EXPIRE_MAKER', 'EXPIRE_BOTH', 'DECREMENT'.",
                )
            })
        })
        .transpose()?;
    Ok(PlaceOrder {
        account,
        symbol,
        side,
        order_type,
        time_in_force,
        price: get(p, "price"),
        qty: get(p, "quantity"),
        quote_qty: get(p, "quoteOrderQty"),
        client_order_id: get(p, "newClientOrderId"),
        stp,
    })
}

fn resp_type(p: &Params, t: OrderType) -> Result<&str, VenueError> {
    match get(p, "newOrderRespType") {
        None => Ok(match t {
            OrderType::Limit | OrderType::Market => "FULL",
            OrderType::LimitMaker => "ACK",
        }),
        Some(r @ ("ACK" | "RESULT" | "FULL")) => Ok(r),
        Some(_) => Err(venue_err(-1100, "Illegal characters found in parameter 'newOrderRespType'; legal range is 'ACK', 'RESULT', 'FULL'.")),
    }
}

/// `POST /api/v3/order`.
pub fn new_order(v: &mut SpotVenue, account: u32, p: &Params, now: UnixNanos) -> Reply {
    let run = |v: &mut SpotVenue| -> Result<Value, VenueError> {
        let req = parse_new_order(account, p)?;
        let rt = resp_type(p, req.order_type)?;
        let placed = v.place(&req, now)?;
        Ok(placed_json(v, &placed, rt))
    };
    run(v).map_or_else(|e| err(&e), Reply::ok)
}

/// `POST /api/v3/order/test`: every check, nothing placed; `{}` when it would be accepted.
pub fn test_order(v: &SpotVenue, account: u32, p: &Params) -> Reply {
    let run = || -> Result<Value, VenueError> {
        let req = parse_new_order(account, p)?;
        resp_type(p, req.order_type)?;
        v.test_order(&req)?;
        Ok(json!({}))
    };
    run().map_or_else(|e| err(&e), Reply::ok)
}

/// `GET /api/v3/allOrders` (`limit` default 500, at most 1000).
pub fn all_orders(v: &SpotVenue, account: u32, p: &Params) -> Reply {
    let run = || -> Result<Value, VenueError> {
        let symbol = need(p, "symbol")?;
        let limit = get(p, "limit")
            .map(|s| s.parse::<usize>().map_err(|_| mandatory("limit")))
            .transpose()?
            .unwrap_or(500)
            .min(1000);
        let os = v.all_orders(account, symbol, limit)?;
        Ok(Value::Array(os.iter().map(|o| order_json(v, o)).collect()))
    };
    run().map_or_else(|e| err(&e), Reply::ok)
}

/// `GET /api/v3/ticker/bookTicker`: one symbol, or every symbol as an array.
pub fn book_ticker(v: &SpotVenue, p: &Params) -> Reply {
    let one = |idx: usize| -> Option<Value> {
        let inst = v.instrument(idx)?;
        let (bid, ask) = v.top(idx)?;
        let side = |l: Option<(Price, Qty)>| {
            l.map_or((zero(), zero()), |(p, q)| {
                (price_text(inst, p), qty_text(inst, q))
            })
        };
        let ((b, bq), (a, aq)) = (side(bid), side(ask));
        Some(
            json!({"symbol": inst.symbol, "bidPrice": b, "bidQty": bq, "askPrice": a, "askQty": aq}),
        )
    };
    match get(p, "symbol") {
        Some(sym) => match v.symbol_index(sym).and_then(one) {
            Some(t) => Reply::ok(t),
            None => err(&venue_err(-1121, "Invalid symbol.")),
        },
        None => Reply::ok(Value::Array(
            (0..v.instruments().count()).filter_map(one).collect(),
        )),
    }
}

/// `GET /api/v3/avgPrice`: the last trade price stands in for the 5-minute average (not computed).
pub fn avg_price(v: &SpotVenue, p: &Params, now: UnixNanos) -> Reply {
    let run = || -> Result<Value, VenueError> {
        let symbol = need(p, "symbol")?;
        let idx = v
            .symbol_index(symbol)
            .ok_or_else(|| venue_err(-1121, "Invalid symbol."))?;
        let inst = inst_of(v, idx)?;
        let price = v
            .last_price(idx)
            .map_or_else(zero, |px| price_text(inst, px));
        Ok(json!({"mins": 5, "price": price, "closeTime": ms(now)}))
    };
    run().map_or_else(|e| err(&e), Reply::ok)
}

fn order_key(p: &Params) -> Result<OrderKey<'_>, VenueError> {
    match (get(p, "orderId"), get(p, "origClientOrderId")) {
        (Some(id), _) => id
            .parse()
            .map(OrderKey::Id)
            .map_err(|_| mandatory("orderId")),
        (None, Some(c)) => Ok(OrderKey::ClientId(c)),
        (None, None) => Err(venue_err(
            -1102,
            "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
        )),
    }
}

fn cancel_id(p: &Params, key: &str, o: &OrderRecord) -> String {
    get(p, key).map_or_else(|| format!("simcancel{}", o.order_id), str::to_owned)
}

/// `DELETE /api/v3/order`.
pub fn cancel_order(v: &mut SpotVenue, account: u32, p: &Params, now: UnixNanos) -> Reply {
    let run = |v: &mut SpotVenue| -> Result<Value, VenueError> {
        let symbol = need(p, "symbol")?;
        let key = order_key(p)?;
        let o = v.cancel(account, symbol, key, get(p, "newClientOrderId"), now)?;
        Ok(cancel_json(
            v,
            &o,
            &cancel_id(p, "newClientOrderId", &o),
            now,
        ))
    };
    run(v).map_or_else(|e| err(&e), Reply::ok)
}

/// `GET /api/v3/order`.
pub fn query_order(v: &SpotVenue, account: u32, p: &Params) -> Reply {
    let run = || -> Result<Value, VenueError> {
        let symbol = need(p, "symbol")?;
        let o = v.query(account, symbol, order_key(p)?)?;
        Ok(order_json(v, &o))
    };
    run().map_or_else(|e| err(&e), Reply::ok)
}

/// `GET /api/v3/openOrders`.
pub fn open_orders(v: &SpotVenue, account: u32, p: &Params) -> Reply {
    match v.open_orders(account, get(p, "symbol")) {
        Ok(os) => Reply::ok(Value::Array(os.iter().map(|o| order_json(v, o)).collect())),
        Err(e) => err(&e),
    }
}

/// `DELETE /api/v3/openOrders`.
pub fn cancel_open_orders(v: &mut SpotVenue, account: u32, p: &Params, now: UnixNanos) -> Reply {
    let run = |v: &mut SpotVenue| -> Result<Value, VenueError> {
        let symbol = need(p, "symbol")?;
        let os = v.cancel_all(account, symbol, now)?;
        Ok(Value::Array(
            os.iter()
                .map(|o| cancel_json(v, o, &format!("simcancel{}", o.order_id), now))
                .collect(),
        ))
    };
    run(v).map_or_else(|e| err(&e), Reply::ok)
}

/// `POST /api/v3/order/cancelReplace`: 200 both succeeded; 400 `-2022` nothing done; 409 `-2021`
/// one half failed.
pub fn cancel_replace(v: &mut SpotVenue, account: u32, p: &Params, now: UnixNanos) -> Reply {
    let parsed = (|| -> Result<_, VenueError> {
        let mode = match need(p, "cancelReplaceMode")? {
            "STOP_ON_FAILURE" => CancelReplaceMode::StopOnFailure,
            "ALLOW_FAILURE" => CancelReplaceMode::AllowFailure,
            _ => return Err(venue_err(-1100, "Illegal characters found in parameter 'cancelReplaceMode'; legal range is 'STOP_ON_FAILURE', 'ALLOW_FAILURE'.")),
        };
        let key = match (get(p, "cancelOrderId"), get(p, "cancelOrigClientOrderId")) {
            (Some(id), _) => OrderKey::Id(id.parse().map_err(|_| mandatory("cancelOrderId"))?),
            (None, Some(c)) => OrderKey::ClientId(c),
            (None, None) => {
                return Err(venue_err(
                    -1102,
                    "Param 'cancelOrigClientOrderId' or 'cancelOrderId' must be sent, but both were empty/null!",
                ))
            }
        };
        let req = parse_new_order(account, p)?;
        let rt = resp_type(p, req.order_type)?;
        Ok((mode, key, req, rt))
    })();
    let (mode, key, req, rt) = match parsed {
        Ok(x) => x,
        Err(e) => return err(&e),
    };
    let r = v.cancel_replace(key, get(p, "cancelNewClientOrderId"), &req, mode, now);
    let cancel_ok = r.cancel.is_ok();
    let cancel_resp = match &r.cancel {
        Ok(o) => cancel_json(v, o, &cancel_id(p, "cancelNewClientOrderId", o), now),
        Err(e) => json!({"code": e.code, "msg": e.msg}),
    };
    let (new_result, new_resp, new_ok) = match &r.new_order {
        None => ("NOT_ATTEMPTED", Value::Null, false),
        Some(Ok(placed)) => ("SUCCESS", placed_json(v, placed, rt), true),
        Some(Err(e)) => ("FAILURE", json!({"code": e.code, "msg": e.msg}), false),
    };
    let data = json!({
        "cancelResult": if cancel_ok { "SUCCESS" } else { "FAILURE" },
        "newOrderResult": new_result,
        "cancelResponse": cancel_resp,
        "newOrderResponse": new_resp,
    });
    match (cancel_ok, new_ok) {
        (true, true) => Reply::ok(data),
        (false, false) => Reply {
            status: 400,
            body: json!({"code": -2022, "msg": "Order cancel-replace failed.", "data": data}),
        },
        _ => Reply {
            status: 409,
            body: json!({"code": -2021, "msg": "Order cancel-replace partially failed.", "data": data}),
        },
    }
}

/// `GET /api/v3/account`.
pub fn account(v: &SpotVenue, account: u32, p: &Params, now: UnixNanos) -> Reply {
    let f = v.fees();
    let omit_zero = get(p, "omitZeroBalances") == Some("true");
    let balances: Vec<Value> = v
        .balances(account)
        .into_iter()
        .filter(|(_, b)| !omit_zero || b.free != 0 || b.locked != 0)
        .map(|(a, b)| json!({"asset": a, "free": amount(b.free), "locked": amount(b.locked)}))
        .collect();
    let rate = |r: i64| format_atto(i128::from(r) * (ATTO / 100_000_000), PLACES);
    Reply::ok(json!({
        "makerCommission": f.maker / 10_000,
        "takerCommission": f.taker / 10_000,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": rate(f.maker), "taker": rate(f.taker), "buyer": zero(), "seller": zero(),
        },
        "canTrade": true,
        "canWithdraw": false,
        "canDeposit": false,
        "brokered": false,
        "requireSelfTradePrevention": false,
        "preventSor": false,
        "updateTime": ms(now),
        "accountType": "SPOT",
        "balances": balances,
        "permissions": ["SPOT"],
        "uid": account,
    }))
}

fn trade_json(v: &SpotVenue, t: &AccountTrade) -> Value {
    let Some(inst) = v.instrument(t.symbol) else {
        return Value::Null;
    };
    json!({
        "symbol": inst.symbol,
        "id": t.trade_id,
        "orderId": t.order_id,
        "orderListId": -1,
        "price": price_text(inst, t.price),
        "qty": qty_text(inst, t.qty),
        "quoteQty": amount(t.quote),
        "commission": amount(t.commission),
        "commissionAsset": t.commission_asset,
        "time": ms(t.time),
        "isBuyer": t.is_buyer,
        "isMaker": t.is_maker,
        "isBestMatch": true,
    })
}

/// `GET /api/v3/myTrades`.
pub fn my_trades(v: &SpotVenue, account: u32, p: &Params) -> Reply {
    let run = || -> Result<Value, VenueError> {
        let symbol = need(p, "symbol")?;
        let order_id = get(p, "orderId")
            .map(|s| s.parse().map_err(|_| mandatory("orderId")))
            .transpose()?;
        let limit = get(p, "limit")
            .map(|s| s.parse::<usize>().map_err(|_| mandatory("limit")))
            .transpose()?
            .unwrap_or(500)
            .min(1000);
        let ts = v.my_trades(account, symbol, order_id, limit)?;
        Ok(Value::Array(ts.iter().map(|t| trade_json(v, t)).collect()))
    };
    run().map_or_else(|e| err(&e), Reply::ok)
}

/// `GET /api/v3/depth`.
pub fn depth(v: &SpotVenue, p: &Params) -> Reply {
    let run = || -> Result<Value, VenueError> {
        let symbol = need(p, "symbol")?;
        let idx = v
            .symbol_index(symbol)
            .ok_or_else(|| venue_err(-1121, "Invalid symbol."))?;
        let limit = get(p, "limit")
            .map(|s| s.parse::<usize>().map_err(|_| mandatory("limit")))
            .transpose()?
            .unwrap_or(100)
            .min(5000);
        let inst = inst_of(v, idx)?;
        let (id, bids, asks) = v
            .depth(idx, limit)
            .ok_or_else(|| venue_err(-1121, "Invalid symbol."))?;
        Ok(json!({
            "lastUpdateId": id,
            "bids": levels(inst, &bids),
            "asks": levels(inst, &asks),
        }))
    };
    run().map_or_else(|e| err(&e), Reply::ok)
}

fn levels(inst: &Instrument, l: &[(Price, Qty)]) -> Value {
    Value::Array(
        l.iter()
            .map(|(p, q)| json!([price_text(inst, *p), qty_text(inst, *q)]))
            .collect(),
    )
}

/// The weight `GET /api/v3/depth` costs for `limit` (brief §1.5).
pub fn depth_weight(limit: usize) -> u32 {
    match limit {
        0..=100 => 5,
        101..=500 => 25,
        501..=1000 => 50,
        _ => 250,
    }
}

fn filters_json(inst: &Instrument) -> Vec<Value> {
    let f = &inst.filters;
    let d = |x: crate::model::Decimal| x.to_string();
    let mut out = Vec::new();
    if let Some(p) = f.price {
        out.push(json!({"filterType": "PRICE_FILTER", "minPrice": d(p.min_price), "maxPrice": d(p.max_price), "tickSize": d(p.tick_size)}));
    }
    if let Some(l) = f.lot_size {
        out.push(json!({"filterType": "LOT_SIZE", "minQty": d(l.min_qty), "maxQty": d(l.max_qty), "stepSize": d(l.step_size)}));
    }
    if let Some(l) = f.market_lot_size {
        out.push(json!({"filterType": "MARKET_LOT_SIZE", "minQty": d(l.min_qty), "maxQty": d(l.max_qty), "stepSize": d(l.step_size)}));
    }
    if let Some(n) = f.min_notional {
        out.push(json!({"filterType": "MIN_NOTIONAL", "minNotional": d(n.min_notional), "applyToMarket": n.apply_to_market, "avgPriceMins": n.avg_price_mins}));
    }
    if let Some(n) = f.notional {
        out.push(json!({"filterType": "NOTIONAL", "minNotional": d(n.min_notional), "applyMinToMarket": n.apply_min_to_market, "maxNotional": d(n.max_notional), "applyMaxToMarket": n.apply_max_to_market, "avgPriceMins": n.avg_price_mins}));
    }
    if let Some(p) = f.percent_price {
        out.push(json!({"filterType": "PERCENT_PRICE", "multiplierUp": d(p.multiplier_up), "multiplierDown": d(p.multiplier_down), "avgPriceMins": p.avg_price_mins}));
    }
    if let Some(p) = f.percent_price_by_side {
        out.push(json!({"filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": d(p.bid_multiplier_up), "bidMultiplierDown": d(p.bid_multiplier_down), "askMultiplierUp": d(p.ask_multiplier_up), "askMultiplierDown": d(p.ask_multiplier_down), "avgPriceMins": p.avg_price_mins}));
    }
    if let Some(n) = f.max_num_orders {
        out.push(json!({"filterType": "MAX_NUM_ORDERS", "maxNumOrders": n}));
    }
    if let Some(n) = f.max_num_algo_orders {
        out.push(json!({"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": n}));
    }
    out
}

/// `GET /api/v3/exchangeInfo`, generated from the listed instruments (optionally `symbol`).
pub fn exchange_info(v: &SpotVenue, p: &Params, now: UnixNanos) -> Reply {
    let only = get(p, "symbol");
    if let Some(s) = only {
        if v.symbol_index(s).is_none() {
            return err(&venue_err(-1121, "Invalid symbol."));
        }
    }
    let symbols: Vec<Value> = v
        .instruments()
        .filter(|i| only.is_none_or(|s| s == i.symbol))
        .map(|i| {
            json!({
                "symbol": i.symbol,
                "status": i.status.as_str(),
                "baseAsset": i.base_asset,
                "baseAssetPrecision": i.qty_precision,
                "quoteAsset": i.quote_asset,
                "quotePrecision": i.price_precision,
                "quoteAssetPrecision": i.price_precision,
                "baseCommissionPrecision": 8,
                "quoteCommissionPrecision": 8,
                "orderTypes": i.order_types.iter().map(OrderType::as_str).collect::<Vec<_>>(),
                "icebergAllowed": false,
                "ocoAllowed": false,
                "otoAllowed": false,
                "opoAllowed": false,
                "quoteOrderQtyMarketAllowed": true,
                "allowTrailingStop": false,
                "cancelReplaceAllowed": true,
                "amendAllowed": false,
                "pegInstructionsAllowed": false,
                "isSpotTradingAllowed": true,
                "isMarginTradingAllowed": false,
                "filters": filters_json(i),
                "permissions": [],
                "permissionSets": [["SPOT"]],
                "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT"],
            })
        })
        .collect();
    Reply::ok(json!({
        "timezone": "UTC",
        "serverTime": ms(now),
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
        ],
        "exchangeFilters": [],
        "symbols": symbols,
    }))
}

/// Where a rendered event goes.
#[derive(Clone, Debug, PartialEq)]
pub enum Audience {
    /// A public market stream, by name (`dogeusdt@depth`, `dogeusdt@trade`, `dogeusdt@bookTicker`).
    Stream(String),
    /// An account's user data stream.
    Account(u32),
}

fn execution_report(v: &SpotVenue, u: &ExecutionUpdate) -> Value {
    let o = &u.order;
    let Some(inst) = v.instrument(o.symbol) else {
        return Value::Null;
    };
    let (c, big_c) = match &u.cancel_client_id {
        Some(cancel) => (cancel.clone(), o.client_order_id.clone()),
        None => (o.client_order_id.clone(), String::new()),
    };
    let t = ms(u.time);
    let mut m = json!({
        "e": "executionReport",
        "E": t,
        "s": inst.symbol,
        "c": c,
        "S": o.side.as_str(),
        "o": o.order_type.as_str(),
        "f": tif_text(o),
        "q": qty_text(inst, o.orig_qty),
        "p": price_text(inst, o.price),
        "P": zero(),
        "F": zero(),
        "g": -1,
        "C": big_c,
        "x": u.exec_type.as_str(),
        "X": o.status.as_str(),
        "r": "NONE",
        "i": o.order_id,
        "l": qty_text(inst, u.last_qty),
        "z": qty_text(inst, o.executed_qty),
        "L": price_text(inst, u.last_price),
        "n": amount(u.commission),
        "N": if u.commission_asset.is_empty() { Value::Null } else { json!(u.commission_asset) },
        "T": t,
        "t": u.trade_id.map_or(-1, |x| i64::try_from(x).unwrap_or(i64::MAX)),
        "v": 0,
        "I": 0,
        "w": o.is_open(),
        "m": u.is_maker,
        "M": false,
        "O": ms(o.time),
        "Z": amount(o.cum_quote),
        "Y": amount(u.last_quote),
        "Q": amount(o.orig_quote_qty),
        "W": ms(o.time),
        "V": stp_str(o.stp),
    });
    if o.status == OrderStatus::ExpiredInMatch {
        if let Some(obj) = m.as_object_mut() {
            obj.insert("A".into(), json!(qty_text(inst, o.prevented_qty)));
        }
    }
    m
}

/// Renders one venue event: where it goes and its Binance payload (stream payloads unwrapped).
pub fn render_event(v: &SpotVenue, e: &VenueEvent) -> Option<(Audience, Value)> {
    let sym = |idx: usize| v.instrument(idx).map(|i| i.symbol.to_ascii_lowercase());
    match e {
        VenueEvent::Execution { account, update } => {
            Some((Audience::Account(*account), execution_report(v, update)))
        }
        VenueEvent::AccountPosition {
            account,
            balances,
            time,
        } => Some((
            Audience::Account(*account),
            json!({
                "e": "outboundAccountPosition",
                "E": ms(*time),
                "u": ms(*time),
                "B": balances.iter().map(|(a, b)| json!({"a": a, "f": amount(b.free), "l": amount(b.locked)})).collect::<Vec<_>>(),
            }),
        )),
        VenueEvent::Trade {
            symbol,
            trade_id,
            price,
            qty,
            buyer_is_maker,
            time,
        } => {
            let inst = v.instrument(*symbol)?;
            Some((
                Audience::Stream(format!("{}@trade", sym(*symbol)?)),
                json!({
                    "e": "trade", "E": ms(*time), "s": inst.symbol, "t": trade_id,
                    "p": price_text(inst, *price), "q": qty_text(inst, *qty), "T": ms(*time),
                    "m": buyer_is_maker, "M": true,
                }),
            ))
        }
        VenueEvent::Depth {
            symbol,
            first,
            last,
            bids,
            asks,
            time,
        } => {
            let inst = v.instrument(*symbol)?;
            Some((
                Audience::Stream(format!("{}@depth", sym(*symbol)?)),
                json!({
                    "e": "depthUpdate", "E": ms(*time), "s": inst.symbol, "U": first, "u": last,
                    "b": levels(inst, bids), "a": levels(inst, asks),
                }),
            ))
        }
        VenueEvent::BookTicker {
            symbol,
            update_id,
            bid,
            ask,
        } => {
            let inst = v.instrument(*symbol)?;
            let side = |l: &Option<(Price, Qty)>| {
                l.map_or((zero(), zero()), |(p, q)| {
                    (price_text(inst, p), qty_text(inst, q))
                })
            };
            let ((b, bq), (a, aq)) = (side(bid), side(ask));
            Some((
                Audience::Stream(format!("{}@bookTicker", sym(*symbol)?)),
                json!({"u": update_id, "s": inst.symbol, "b": b, "B": bq, "a": a, "A": aq}),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testing::spot_doge;
    use crate::venue::account::FeeRates;

    const T: UnixNanos = UnixNanos(1_700_000_000_000_000_000);

    fn params(kv: &[(&str, &str)]) -> Params {
        kv.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn venue() -> SpotVenue {
        let mut v = SpotVenue::new(FeeRates::from_bps(1, 1).unwrap());
        v.list(spot_doge()).unwrap();
        v.deposit(1, "USDT", "1000").unwrap();
        v.deposit(1, "DOGE", "10000").unwrap();
        v
    }

    #[test]
    fn new_order_full_response_and_errors() {
        let mut v = venue();
        let r = new_order(
            &mut v,
            1,
            &params(&[
                ("symbol", "DOGEUSDT"),
                ("side", "BUY"),
                ("type", "LIMIT"),
                ("timeInForce", "GTC"),
                ("quantity", "100"),
                ("price", "0.15000"),
                ("newClientOrderId", "abc"),
            ]),
            T,
        );
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["clientOrderId"], "abc");
        assert_eq!(r.body["price"], "0.15000000");
        assert_eq!(r.body["origQty"], "100.00000000");
        assert_eq!(r.body["status"], "NEW");
        assert_eq!(r.body["fills"], json!([]));
        assert_eq!(r.body["transactTime"], 1_700_000_000_000u64);
        let q = query_order(
            &v,
            1,
            &params(&[("symbol", "DOGEUSDT"), ("origClientOrderId", "abc")]),
        );
        assert_eq!(q.body["cummulativeQuoteQty"], "0.00000000");
        let gtx = new_order(
            &mut v,
            1,
            &params(&[
                ("symbol", "DOGEUSDT"),
                ("side", "BUY"),
                ("type", "LIMIT"),
                ("timeInForce", "GTX"),
                ("quantity", "100"),
                ("price", "0.15"),
            ]),
            T,
        );
        assert_eq!((gtx.status, gtx.body["code"].clone()), (400, json!(-1115)));
        let miss = new_order(
            &mut v,
            1,
            &params(&[("symbol", "DOGEUSDT"), ("side", "BUY")]),
            T,
        );
        assert_eq!(miss.body["code"], -1102);
        let gone = query_order(&v, 1, &params(&[("symbol", "DOGEUSDT"), ("orderId", "77")]));
        assert_eq!(
            gone.body,
            json!({"code": -2013, "msg": "Order does not exist."})
        );
    }

    #[test]
    fn order_test_all_orders_and_book_ticker() {
        let mut v = venue();
        let sell = params(&[
            ("symbol", "DOGEUSDT"),
            ("side", "SELL"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "100"),
            ("price", "0.2"),
        ]);
        assert_eq!(test_order(&v, 1, &sell), Reply::ok(json!({})));
        assert_eq!(
            depth(&v, &params(&[("symbol", "DOGEUSDT")])).body["asks"],
            json!([])
        );
        let big = params(&[
            ("symbol", "DOGEUSDT"),
            ("side", "SELL"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "99999"),
            ("price", "0.2"),
        ]);
        assert_eq!(test_order(&v, 1, &big).body["code"], -2010);
        new_order(&mut v, 1, &sell, T);
        let t = book_ticker(&v, &params(&[("symbol", "DOGEUSDT")]));
        assert_eq!(t.body["askPrice"], "0.20000000");
        assert_eq!(t.body["bidQty"], "0.00000000");
        let all = all_orders(&v, 1, &params(&[("symbol", "DOGEUSDT")]));
        assert_eq!(all.body.as_array().map(Vec::len), Some(1));
        assert_eq!(
            avg_price(&v, &params(&[("symbol", "DOGEUSDT")]), T).body["price"],
            "0.00000000"
        );
    }

    #[test]
    fn cancel_replace_statuses() {
        let mut v = venue();
        let base = [
            ("symbol", "DOGEUSDT"),
            ("side", "SELL"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "100"),
            ("price", "0.2"),
            ("cancelReplaceMode", "STOP_ON_FAILURE"),
        ];
        let mut p = params(&base);
        p.insert("cancelOrderId".into(), "9".into());
        let r = cancel_replace(&mut v, 1, &p, T);
        assert_eq!(r.status, 400);
        assert_eq!(r.body["code"], -2022);
        assert_eq!(r.body["data"]["cancelResponse"]["code"], -2011);
        assert_eq!(r.body["data"]["newOrderResult"], "NOT_ATTEMPTED");
        let placed = new_order(&mut v, 1, &params(&base[..6]), T);
        let id = placed.body["orderId"].as_u64().unwrap().to_string();
        p.insert("cancelOrderId".into(), id);
        let r = cancel_replace(&mut v, 1, &p, T);
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["cancelResponse"]["status"], "CANCELED");
        assert_eq!(r.body["newOrderResponse"]["status"], "NEW");
    }

    #[test]
    fn streams_render_binance_payloads() {
        let mut v = venue();
        v.deposit(2, "USDT", "1000").unwrap();
        let sell = params(&[
            ("symbol", "DOGEUSDT"),
            ("side", "SELL"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "100"),
            ("price", "0.2"),
        ]);
        new_order(&mut v, 1, &sell, T);
        let buy = params(&[
            ("symbol", "DOGEUSDT"),
            ("side", "BUY"),
            ("type", "MARKET"),
            ("quantity", "40"),
        ]);
        let r = new_order(&mut v, 2, &buy, T);
        assert_eq!(r.body["status"], "FILLED", "{:?}", r.body);
        assert_eq!(r.body["fills"][0]["commissionAsset"], "DOGE");
        let rendered: Vec<_> = v
            .drain_events()
            .iter()
            .filter_map(|e| render_event(&v, e))
            .collect();
        let trade = rendered
            .iter()
            .find(|(a, _)| *a == Audience::Stream("dogeusdt@trade".into()))
            .unwrap();
        assert_eq!(trade.1["p"], "0.20000000");
        assert_eq!(trade.1["m"], false);
        let depth: Vec<_> = rendered
            .iter()
            .filter(|(a, _)| *a == Audience::Stream("dogeusdt@depth".into()))
            .collect();
        assert_eq!(depth.len(), 2);
        assert_eq!(depth[1].1["U"], depth[0].1["u"].as_u64().unwrap() + 1);
        let snap = super::depth(&v, &params(&[("symbol", "DOGEUSDT")]));
        assert_eq!(snap.body["lastUpdateId"], depth[1].1["u"]);
        assert_eq!(snap.body["asks"], json!([["0.20000000", "60.00000000"]]));
        let er: Vec<_> = rendered
            .iter()
            .filter(|(a, p)| *a == Audience::Account(2) && p["e"] == "executionReport")
            .map(|(_, p)| (p["x"].clone(), p["X"].clone()))
            .collect();
        assert_eq!(
            er,
            vec![
                (json!("NEW"), json!("NEW")),
                (json!("TRADE"), json!("FILLED"))
            ]
        );
        let acct = account(&v, 2, &Params::new(), T);
        assert_eq!(acct.body["makerCommission"], 1);
        assert_eq!(acct.body["commissionRates"]["maker"], "0.00010000");
        let info = exchange_info(&v, &Params::new(), T);
        assert_eq!(
            info.body["symbols"][0]["orderTypes"],
            json!(["LIMIT", "LIMIT_MAKER", "MARKET"])
        );
    }
}
