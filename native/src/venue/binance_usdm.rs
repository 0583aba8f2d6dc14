//! The Binance USD-M wire shapes of the simulated venue: `/fapi/v1|v2|v3/...` requests (decoded
//! parameters in, as on spot) answered with Binance-shaped JSON and HTTP status by [`handle`], and
//! the futures market-stream and listenKey user-stream payloads of [`FuturesEvent`]s
//! ([`render_event`]).
//!
//! Key names and error codes follow the research brief `binance_protocol.md` §3.3-§3.7: order
//! objects carry `avgPrice`/`cumQuote` (ccxt reads them), `code: 200` bodies answer marginType,
//! positionSide/dual and allOpenOrders, every account asset has a non-zero `updateTime`, order events
//! carry `ps` (how ccxt tells them from spot's). Prices print at the symbol's tick, quantities at its
//! step, money with 8 places.

use serde_json::{json, Map, Value};

use super::account::{format_atto, parse_stp, stp_str, OrderKey};
use super::binance_spot::{amount, err, get, mandatory, ms, need, venue_err, zero, Params, Reply};
use super::matching::StpMode;
use super::usdm::{
    max_notional, FuturesEvent, FuturesModify, FuturesOrder, FuturesPlace, FuturesTrade,
    MarginType, PositionSide, PositionView, UsdmVenue, MAX_LEVERAGE,
};
use crate::model::{Instrument, OrderType, Price, Qty, Side, TimeInForce, UnixNanos, VenueError};

/// Where a rendered futures event goes.
#[derive(Clone, Debug, PartialEq)]
pub enum Audience {
    /// A market stream (`dogeusdt@depth`, `dogeusdt@markPrice`, ...).
    Stream(String),
    /// An account's listenKey stream.
    Account(u32),
}

fn px(inst: &Instrument, p: Price) -> String {
    inst.price_to_string(p)
}

fn qty(inst: &Instrument, q: Qty) -> String {
    inst.qty_to_string(q)
}

/// A price in atto per unit at the places the symbol prints its prices with (more if needed).
fn px_atto(inst: &Instrument, a: i128) -> String {
    let tick = inst.price_to_string(Price::from_ticks(1));
    let places = tick.split_once('.').map_or(0, |(_, f)| f.len());
    format_atto(a, u32::try_from(places).unwrap_or(8))
}

fn inst_or(v: &UsdmVenue, s: usize) -> Result<&Instrument, VenueError> {
    v.instrument(s)
        .ok_or_else(|| venue_err(-1121, "Invalid symbol."))
}

fn symbol_idx(v: &UsdmVenue, p: &Params) -> Result<usize, VenueError> {
    v.symbol_index(need(p, "symbol")?)
        .ok_or_else(|| venue_err(-1121, "Invalid symbol."))
}

fn avg_price(v: &UsdmVenue, o: &FuturesOrder) -> String {
    let Some(inst) = v.instrument(o.symbol) else {
        return zero();
    };
    if o.executed_qty.is_zero() {
        return px_atto(inst, 0);
    }
    let qe = u32::from(inst.qty_scale.exp());
    let qm = i128::from(inst.qty_scale.mantissa());
    let a = o.cum_quote * 10i128.pow(qe) / (i128::from(o.executed_qty.lots()) * qm);
    px_atto(inst, a)
}

/// The futures order object (new, cancel, query).
pub fn order_json(v: &UsdmVenue, o: &FuturesOrder) -> Value {
    let Some(inst) = v.instrument(o.symbol) else {
        return Value::Null;
    };
    let mut m = Map::new();
    m.insert("orderId".into(), json!(o.order_id));
    m.insert("symbol".into(), json!(inst.symbol));
    m.insert("status".into(), json!(o.status.as_str()));
    m.insert("clientOrderId".into(), json!(o.client_order_id));
    m.insert("price".into(), json!(px(inst, o.price)));
    m.insert("avgPrice".into(), json!(avg_price(v, o)));
    m.insert("origQty".into(), json!(qty(inst, o.orig_qty)));
    m.insert("executedQty".into(), json!(qty(inst, o.executed_qty)));
    m.insert("cumQty".into(), json!(qty(inst, o.executed_qty)));
    m.insert("cumQuote".into(), json!(amount(o.cum_quote)));
    m.insert("timeInForce".into(), json!(o.time_in_force.as_str()));
    m.insert("type".into(), json!(o.order_type.as_str()));
    m.insert("reduceOnly".into(), json!(o.reduce_only));
    m.insert("closePosition".into(), json!(false));
    m.insert("side".into(), json!(o.side.as_str()));
    m.insert("positionSide".into(), json!(o.position_side.as_str()));
    m.insert("stopPrice".into(), json!(px(inst, Price::ZERO)));
    m.insert("workingType".into(), json!("CONTRACT_PRICE"));
    m.insert("priceProtect".into(), json!(false));
    m.insert("origType".into(), json!(o.order_type.as_str()));
    m.insert("priceMatch".into(), json!("NONE"));
    m.insert("selfTradePreventionMode".into(), json!(stp_str(o.stp)));
    m.insert("goodTillDate".into(), json!(0));
    m.insert("time".into(), json!(ms(o.time)));
    m.insert("updateTime".into(), json!(ms(o.update_time)));
    Value::Object(m)
}

fn parse_bool(p: &Params, k: &str) -> Result<Option<bool>, VenueError> {
    match get(p, k) {
        None => Ok(None),
        Some(t) if t.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(t) if t.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(venue_err(
            -1100,
            format!("Illegal characters found in parameter '{k}'; legal range is 'true', 'false'."),
        )),
    }
}

fn parse_new_order<'a>(account: u32, p: &'a Params) -> Result<FuturesPlace<'a>, VenueError> {
    let symbol = need(p, "symbol")?;
    let side = match need(p, "side")? {
        "BUY" => Side::Buy,
        "SELL" => Side::Sell,
        _ => return Err(venue_err(-1117, "Invalid side.")),
    };
    let order_type = OrderType::parse(need(p, "type")?)
        .filter(|t| *t != OrderType::LimitMaker)
        .ok_or_else(|| venue_err(-1116, "Invalid orderType."))?;
    let time_in_force = get(p, "timeInForce")
        .map(|t| TimeInForce::parse(t).ok_or_else(|| venue_err(-1115, "Invalid timeInForce.")))
        .transpose()?;
    let position_side = get(p, "positionSide")
        .map(|t| PositionSide::parse(t).ok_or_else(|| venue_err(-4006, "Invalid position side.")))
        .transpose()?;
    let stp = get(p, "selfTradePreventionMode")
        .map(|t| {
            parse_stp(t).filter(|m| *m != StpMode::Decrement).ok_or_else(|| {
                venue_err(
                    -1100,
                    "Illegal characters found in parameter 'selfTradePreventionMode'; legal range is 'NONE', 'EXPIRE_TAKER', 'EXPIRE_MAKER', 'EXPIRE_BOTH'.",
                )
            })
        })
        .transpose()?;
    match get(p, "newOrderRespType") {
        None | Some("ACK" | "RESULT") => {}
        Some(_) => {
            return Err(venue_err(
                -1100,
                "Illegal characters found in parameter 'newOrderRespType'; legal range is 'ACK', 'RESULT'.",
            ))
        }
    }
    Ok(FuturesPlace {
        account,
        symbol,
        side,
        position_side,
        order_type,
        time_in_force,
        price: get(p, "price"),
        qty: get(p, "quantity"),
        reduce_only: parse_bool(p, "reduceOnly")?,
        client_order_id: get(p, "newClientOrderId"),
        stp,
    })
}

fn place_one(
    v: &mut UsdmVenue,
    account: u32,
    p: &Params,
    now: UnixNanos,
) -> Result<Value, VenueError> {
    let req = parse_new_order(account, p)?;
    let accepted = v.place(&req, now)?;
    let o = if get(p, "newOrderRespType") == Some("RESULT") {
        v.query(account, req.symbol, OrderKey::Id(accepted.order_id))?
    } else {
        accepted
    };
    Ok(order_json(v, &o))
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

fn limit(p: &Params, default: usize, max: usize) -> Result<usize, VenueError> {
    Ok(get(p, "limit")
        .map(|s| s.parse::<usize>().map_err(|_| mandatory("limit")))
        .transpose()?
        .unwrap_or(default)
        .min(max))
}

/// A JSON array parameter (`batchOrders`, `orderIdList`), looked up case-insensitively.
fn json_param(p: &Params, name: &str) -> Option<Result<Vec<Value>, VenueError>> {
    let text = p
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .filter(|t| !t.is_empty())?;
    Some(serde_json::from_str::<Vec<Value>>(text).map_err(|_| {
        venue_err(
            -1130,
            format!("Data sent for parameter '{name}' is not valid."),
        )
    }))
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn batch_place(
    v: &mut UsdmVenue,
    account: u32,
    p: &Params,
    now: UnixNanos,
) -> Result<Value, VenueError> {
    let items = json_param(p, "batchOrders").ok_or_else(|| mandatory("batchOrders"))??;
    if items.is_empty() || items.len() > 5 {
        return Err(venue_err(
            -1130,
            "Data sent for parameter 'batchOrders' is not valid.",
        ));
    }
    let mut out = Vec::new();
    for item in &items {
        let Some(obj) = item.as_object() else {
            out.push(json!({"code": -1130, "msg": "Data sent for parameter 'batchOrders' is not valid."}));
            continue;
        };
        let one: Params = obj
            .iter()
            .filter_map(|(k, x)| scalar_text(x).map(|t| (k.clone(), t)))
            .collect();
        out.push(match place_one(v, account, &one, now) {
            Ok(o) => o,
            Err(e) => json!({"code": e.code, "msg": e.msg}),
        });
    }
    Ok(Value::Array(out))
}

fn batch_cancel(
    v: &mut UsdmVenue,
    account: u32,
    p: &Params,
    now: UnixNanos,
) -> Result<Value, VenueError> {
    let symbol = need(p, "symbol")?;
    let (ids, by_client) = match (json_param(p, "orderIdList"), json_param(p, "origClientOrderIdList")) {
        (Some(l), _) => (l?, false),
        (None, Some(l)) => (l?, true),
        (None, None) => {
            return Err(venue_err(
                -1102,
                "Param 'origClientOrderIdList' or 'orderIdList' must be sent, but both were empty/null!",
            ))
        }
    };
    if ids.is_empty() || ids.len() > 10 {
        return Err(venue_err(
            -1130,
            "Data sent for parameter 'orderIdList' is not valid.",
        ));
    }
    let mut out = Vec::new();
    for id in &ids {
        let text = scalar_text(id).unwrap_or_default();
        let r = if by_client {
            v.cancel(account, symbol, OrderKey::ClientId(&text), now)
        } else {
            match text.parse() {
                Ok(n) => v.cancel(account, symbol, OrderKey::Id(n), now),
                Err(_) => Err(venue_err(
                    -1130,
                    "Data sent for parameter 'orderIdList' is not valid.",
                )),
            }
        };
        out.push(match r {
            Ok(o) => order_json(v, &o),
            Err(e) => json!({"code": e.code, "msg": e.msg}),
        });
    }
    Ok(Value::Array(out))
}

fn levels(inst: &Instrument, l: &[(Price, Qty)]) -> Value {
    Value::Array(
        l.iter()
            .map(|(p, q)| json!([px(inst, *p), qty(inst, *q)]))
            .collect(),
    )
}

fn depth(v: &UsdmVenue, p: &Params, now: UnixNanos) -> Result<Value, VenueError> {
    let s = symbol_idx(v, p)?;
    let n = limit(p, 500, 1000)?;
    let inst = inst_or(v, s)?;
    let (id, bids, asks) = v
        .depth(s, n)
        .ok_or_else(|| venue_err(-1121, "Invalid symbol."))?;
    Ok(json!({
        "lastUpdateId": id, "E": ms(now), "T": ms(now),
        "bids": levels(inst, &bids), "asks": levels(inst, &asks),
    }))
}

/// The weight `GET /fapi/v1/depth` costs for `limit`.
pub fn depth_weight(limit: usize) -> u32 {
    match limit {
        0..=50 => 2,
        51..=100 => 5,
        101..=500 => 10,
        _ => 20,
    }
}

fn each_symbol(
    v: &UsdmVenue,
    p: &Params,
    one: impl Fn(usize) -> Option<Value>,
) -> Result<Value, VenueError> {
    match get(p, "symbol") {
        Some(sym) => v
            .symbol_index(sym)
            .and_then(&one)
            .ok_or_else(|| venue_err(-1121, "Invalid symbol.")),
        None => Ok(Value::Array(
            (0..v.instruments().count()).filter_map(one).collect(),
        )),
    }
}

fn book_ticker(v: &UsdmVenue, p: &Params, now: UnixNanos) -> Result<Value, VenueError> {
    each_symbol(v, p, |s| {
        let inst = v.instrument(s)?;
        let (bid, ask) = v.top(s)?;
        let (id, _, _) = v.depth(s, 0)?;
        let side = |l: Option<(Price, Qty)>| {
            l.map_or((px(inst, Price::ZERO), qty(inst, Qty::ZERO)), |(p, q)| {
                (px(inst, p), qty(inst, q))
            })
        };
        let ((b, bq), (a, aq)) = (side(bid), side(ask));
        Some(
            json!({"symbol": inst.symbol, "bidPrice": b, "bidQty": bq, "askPrice": a, "askQty": aq, "time": ms(now), "lastUpdateId": id}),
        )
    })
}

fn ticker_price(v: &UsdmVenue, p: &Params, now: UnixNanos) -> Result<Value, VenueError> {
    each_symbol(v, p, |s| {
        let inst = v.instrument(s)?;
        let last = v.last_price(s).unwrap_or(Price::ZERO);
        Some(json!({"symbol": inst.symbol, "price": px(inst, last), "time": ms(now)}))
    })
}

fn rate_text(r: i64) -> String {
    let neg = r < 0;
    let m = r.unsigned_abs();
    format!(
        "{}{}.{:08}",
        if neg { "-" } else { "" },
        m / 100_000_000,
        m % 100_000_000
    )
}

fn premium_index(v: &UsdmVenue, p: &Params, now: UnixNanos) -> Result<Value, VenueError> {
    each_symbol(v, p, |s| {
        let inst = v.instrument(s)?;
        let mark = v.mark_price(s).unwrap_or(0);
        let (rate, next) = v.funding(s)?;
        Some(json!({
            "symbol": inst.symbol,
            "markPrice": px_atto(inst, mark),
            "indexPrice": px_atto(inst, mark),
            "estimatedSettlePrice": px_atto(inst, mark),
            "lastFundingRate": rate_text(rate),
            "interestRate": "0.00010000",
            "nextFundingTime": ms(next),
            "time": ms(now),
        }))
    })
}

fn funding_rate(v: &UsdmVenue, p: &Params) -> Result<Value, VenueError> {
    let only = get(p, "symbol")
        .map(|s| {
            v.symbol_index(s)
                .ok_or_else(|| venue_err(-1121, "Invalid symbol."))
        })
        .transpose()?;
    let n = limit(p, 100, 1000)?;
    let rows: Vec<Value> = v
        .funding_history()
        .iter()
        .filter(|r| only.is_none_or(|s| r.symbol == s))
        .filter_map(|r| {
            let inst = v.instrument(r.symbol)?;
            Some(json!({"symbol": inst.symbol, "fundingRate": rate_text(r.rate), "fundingTime": ms(r.time), "markPrice": px_atto(inst, r.mark)}))
        })
        .collect();
    let skip = rows.len().saturating_sub(n);
    Ok(Value::Array(rows.into_iter().skip(skip).collect()))
}

fn funding_info(v: &UsdmVenue) -> Value {
    let hours = v.funding_interval() / 3_600_000_000_000;
    Value::Array(
        v.instruments()
            .map(|i| json!({"symbol": i.symbol, "adjustedFundingRateCap": "0.02000000", "adjustedFundingRateFloor": "-0.02000000", "fundingIntervalHours": hours.max(1), "disclaimer": false}))
            .collect(),
    )
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
    if let Some(n) = f.max_num_orders {
        out.push(json!({"filterType": "MAX_NUM_ORDERS", "limit": n}));
    }
    if let Some(n) = f.max_num_algo_orders {
        out.push(json!({"filterType": "MAX_NUM_ALGO_ORDERS", "limit": n}));
    }
    if let Some(n) = f.min_notional {
        out.push(json!({"filterType": "MIN_NOTIONAL", "notional": d(n.min_notional)}));
    }
    if let Some(p) = f.percent_price {
        out.push(json!({"filterType": "PERCENT_PRICE", "multiplierUp": d(p.multiplier_up), "multiplierDown": d(p.multiplier_down), "multiplierDecimal": p.multiplier_decimal.unwrap_or(4).to_string()}));
    }
    out
}

fn exchange_info(v: &UsdmVenue, now: UnixNanos) -> Value {
    let symbols: Vec<Value> = v
        .instruments()
        .map(|i| {
            let c = i.contract.as_ref();
            json!({
                "symbol": i.symbol,
                "pair": c.map_or(i.symbol.as_str(), |c| c.pair.as_str()),
                "contractType": c.map_or("PERPETUAL", |c| c.contract_type.as_str()),
                "deliveryDate": c.map_or(4_133_404_800_000, |c| ms(c.delivery_date)),
                "onboardDate": c.map_or(0, |c| ms(c.onboard_date)),
                "status": i.status.as_str(),
                "maintMarginPercent": "2.5000",
                "requiredMarginPercent": "5.0000",
                "baseAsset": i.base_asset,
                "quoteAsset": i.quote_asset,
                "marginAsset": c.map_or("USDT", |c| c.margin_asset.as_str()),
                "pricePrecision": i.price_precision,
                "quantityPrecision": i.qty_precision,
                "baseAssetPrecision": 8,
                "quotePrecision": 8,
                "underlyingType": "COIN",
                "underlyingSubType": [],
                "settlePlan": 0,
                "triggerProtect": "0.0500",
                "liquidationFee": "0.012500",
                "marketTakeBound": "0.05",
                "maxMoveOrderLimit": 10000,
                "filters": filters_json(i),
                "orderTypes": i.order_types.iter().map(OrderType::as_str).collect::<Vec<_>>(),
                "timeInForce": i.time_in_force.iter().map(TimeInForce::as_str).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "timezone": "UTC",
        "serverTime": ms(now),
        "futuresType": "U_MARGINED",
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
        ],
        "exchangeFilters": [],
        "assets": [{"asset": "USDT", "marginAvailable": true, "autoAssetExchange": "-10000"}],
        "symbols": symbols,
    })
}

fn position_v3(v: &UsdmVenue, pv: &PositionView, now: UnixNanos) -> Option<Value> {
    let inst = v.instrument(pv.symbol)?;
    let p = &pv.position;
    let (bid_n, ask_n) = (zero(), zero());
    let iso = pv.margin == MarginType::Isolated;
    Some(json!({
        "symbol": inst.symbol,
        "positionSide": pv.side.as_str(),
        "positionAmt": qty(inst, Qty::from_lots(p.amt)),
        "entryPrice": px_atto(inst, pv.entry_price),
        "breakEvenPrice": px_atto(inst, pv.entry_price),
        "markPrice": px_atto(inst, pv.mark),
        "unRealizedProfit": amount(pv.unrealized),
        "liquidationPrice": "0",
        "isolatedMargin": if iso { amount(pv.initial_margin + pv.unrealized) } else { zero() },
        "notional": amount(pv.notional),
        "marginAsset": "USDT",
        "isolatedWallet": if iso { amount(pv.initial_margin) } else { zero() },
        "initialMargin": amount(pv.initial_margin + pv.order_margin),
        "maintMargin": amount(pv.notional.abs() / 200),
        "positionInitialMargin": amount(pv.initial_margin),
        "openOrderInitialMargin": amount(pv.order_margin),
        "adl": 0,
        "bidNotional": bid_n,
        "askNotional": ask_n,
        "updateTime": ms(if p.update_time.0 == 0 { now } else { p.update_time }),
    }))
}

fn position_v2(v: &UsdmVenue, pv: &PositionView, now: UnixNanos) -> Option<Value> {
    let inst = v.instrument(pv.symbol)?;
    let p = &pv.position;
    let iso = pv.margin == MarginType::Isolated;
    Some(json!({
        "entryPrice": px_atto(inst, pv.entry_price),
        "breakEvenPrice": px_atto(inst, pv.entry_price),
        "marginType": pv.margin.risk_str(),
        "isAutoAddMargin": "false",
        "isolatedMargin": if iso { amount(pv.initial_margin + pv.unrealized) } else { zero() },
        "leverage": pv.leverage.to_string(),
        "liquidationPrice": "0",
        "markPrice": px_atto(inst, pv.mark),
        "maxNotionalValue": amount(max_notional(pv.leverage)),
        "positionAmt": qty(inst, Qty::from_lots(p.amt)),
        "notional": amount(pv.notional),
        "isolatedWallet": if iso { amount(pv.initial_margin) } else { zero() },
        "symbol": inst.symbol,
        "unRealizedProfit": amount(pv.unrealized),
        "positionSide": pv.side.as_str(),
        "updateTime": ms(if p.update_time.0 == 0 { now } else { p.update_time }),
    }))
}

fn position_risk(
    v: &UsdmVenue,
    account: u32,
    p: &Params,
    now: UnixNanos,
    v3: bool,
) -> Result<Value, VenueError> {
    let only = get(p, "symbol")
        .map(|s| {
            v.symbol_index(s)
                .ok_or_else(|| venue_err(-1121, "Invalid symbol."))
        })
        .transpose()?;
    let open = v.open_orders(account, None)?;
    let rows: Vec<Value> = v
        .positions(account)
        .iter()
        .filter(|pv| only.is_none_or(|s| pv.symbol == s))
        // v3 lists only symbols with a position or open orders (brief §3.3).
        .filter(|pv| !v3 || pv.position.amt != 0 || open.iter().any(|o| o.symbol == pv.symbol))
        .filter_map(|pv| {
            if v3 {
                position_v3(v, pv, now)
            } else {
                position_v2(v, pv, now)
            }
        })
        .collect();
    Ok(Value::Array(rows))
}

fn account_json(v: &UsdmVenue, account: u32, now: UnixNanos, v3: bool) -> Value {
    let s = v.summary(account);
    let upd = ms(if s.update_time.0 == 0 {
        now
    } else {
        s.update_time
    });
    let margin_balance = s.wallet + s.unrealized;
    let im = s.position_margin + s.order_margin;
    let maint: i128 = v
        .positions(account)
        .iter()
        .map(|p| p.notional.abs() / 200)
        .sum();
    let asset = json!({
        "asset": "USDT",
        "walletBalance": amount(s.wallet),
        "unrealizedProfit": amount(s.unrealized),
        "marginBalance": amount(margin_balance),
        "maintMargin": amount(maint),
        "initialMargin": amount(im),
        "positionInitialMargin": amount(s.position_margin),
        "openOrderInitialMargin": amount(s.order_margin),
        "crossWalletBalance": amount(s.wallet),
        "crossUnPnl": amount(s.unrealized),
        "availableBalance": amount(s.available),
        "maxWithdrawAmount": amount(s.available.max(0)),
        "marginAvailable": true,
        "updateTime": upd,
    });
    let positions: Vec<Value> = v
        .positions(account)
        .iter()
        .filter(|p| !v3 || p.position.amt != 0)
        .filter_map(|pv| {
            let inst = v.instrument(pv.symbol)?;
            let mut m = json!({
                "symbol": inst.symbol,
                "positionSide": pv.side.as_str(),
                "positionAmt": qty(inst, Qty::from_lots(pv.position.amt)),
                "unrealizedProfit": amount(pv.unrealized),
                "isolatedMargin": zero(),
                "notional": amount(pv.notional),
                "isolatedWallet": zero(),
                "initialMargin": amount(pv.initial_margin + pv.order_margin),
                "maintMargin": amount(pv.notional.abs() / 200),
                "updateTime": ms(pv.position.update_time),
            });
            if !v3 {
                if let Some(o) = m.as_object_mut() {
                    o.insert("leverage".into(), json!(pv.leverage.to_string()));
                    o.insert("isolated".into(), json!(pv.margin == MarginType::Isolated));
                    o.insert("entryPrice".into(), json!(px_atto(inst, pv.entry_price)));
                    o.insert(
                        "maxNotional".into(),
                        json!(amount(max_notional(pv.leverage))),
                    );
                    o.insert(
                        "positionInitialMargin".into(),
                        json!(amount(pv.initial_margin)),
                    );
                    o.insert(
                        "openOrderInitialMargin".into(),
                        json!(amount(pv.order_margin)),
                    );
                }
            }
            Some(m)
        })
        .collect();
    json!({
        "feeTier": 0,
        "feeBurn": false,
        "canTrade": true,
        "canDeposit": true,
        "canWithdraw": false,
        "updateTime": 0,
        "multiAssetsMargin": false,
        "tradeGroupId": -1,
        "totalInitialMargin": amount(im),
        "totalMaintMargin": amount(maint),
        "totalWalletBalance": amount(s.wallet),
        "totalUnrealizedProfit": amount(s.unrealized),
        "totalMarginBalance": amount(margin_balance),
        "totalPositionInitialMargin": amount(s.position_margin),
        "totalOpenOrderInitialMargin": amount(s.order_margin),
        "totalCrossWalletBalance": amount(s.wallet),
        "totalCrossUnPnl": amount(s.unrealized),
        "availableBalance": amount(s.available),
        "maxWithdrawAmount": amount(s.available.max(0)),
        "assets": [asset],
        "positions": positions,
    })
}

fn balance_json(v: &UsdmVenue, account: u32, now: UnixNanos) -> Value {
    let s = v.summary(account);
    let upd = ms(if s.update_time.0 == 0 {
        now
    } else {
        s.update_time
    });
    json!([{
        "accountAlias": "SimFutures",
        "asset": "USDT",
        "balance": amount(s.wallet),
        "crossWalletBalance": amount(s.wallet),
        "crossUnPnl": amount(s.unrealized),
        "availableBalance": amount(s.available),
        "maxWithdrawAmount": amount(s.available.max(0)),
        "marginAvailable": true,
        "updateTime": upd,
    }])
}

fn trade_json(v: &UsdmVenue, t: &FuturesTrade) -> Value {
    let Some(inst) = v.instrument(t.symbol) else {
        return Value::Null;
    };
    json!({
        "buyer": t.side == Side::Buy,
        "commission": amount(t.commission),
        "commissionAsset": "USDT",
        "id": t.trade_id,
        "maker": t.is_maker,
        "orderId": t.order_id,
        "price": px(inst, t.price),
        "qty": qty(inst, t.qty),
        "quoteQty": amount(t.quote),
        "realizedPnl": amount(t.realized),
        "side": t.side.as_str(),
        "positionSide": t.position_side.as_str(),
        "symbol": inst.symbol,
        "time": ms(t.time),
    })
}

fn leverage_bracket(v: &UsdmVenue, account: u32, p: &Params) -> Result<Value, VenueError> {
    let only = get(p, "symbol")
        .map(|s| {
            v.symbol_index(s)
                .ok_or_else(|| venue_err(-1121, "Invalid symbol."))
        })
        .transpose()?;
    let _ = account;
    let brackets: Vec<Value> = [(MAX_LEVERAGE, 0i128, 50_000i128), (50, 50_000, 1_000_000), (20, 1_000_000, 5_000_000), (10, 5_000_000, 25_000_000), (5, 25_000_000, 100_000_000), (1, 100_000_000, 500_000_000)]
        .iter()
        .enumerate()
        .map(|(i, (lev, floor, cap))| json!({"bracket": i + 1, "initialLeverage": lev, "notionalCap": cap, "notionalFloor": floor, "maintMarginRatio": 0.005 * (i as f64 + 1.0), "cum": 0.0}))
        .collect();
    let rows: Vec<Value> = v
        .instruments()
        .enumerate()
        .filter(|(i, _)| only.is_none_or(|s| s == *i))
        .map(|(_, inst)| json!({"symbol": inst.symbol, "brackets": brackets}))
        .collect();
    Ok(if only.is_some() {
        rows.into_iter().next().unwrap_or(Value::Null)
    } else {
        Value::Array(rows)
    })
}

fn income_json(v: &UsdmVenue, account: u32, p: &Params) -> Result<Value, VenueError> {
    let n = limit(p, 100, 1000)?;
    let rows = v.income(account, get(p, "incomeType"), n);
    Ok(Value::Array(
        rows.iter()
            .map(|i| {
                json!({
                    "symbol": i.symbol.and_then(|s| v.instrument(s)).map_or("", |x| x.symbol.as_str()),
                    "incomeType": i.kind,
                    "income": amount(i.amount),
                    "asset": "USDT",
                    "info": i.kind,
                    "time": ms(i.time),
                    "tranId": i.tran_id,
                    "tradeId": i.trade_id.map_or(String::new(), |t| t.to_string()),
                })
            })
            .collect(),
    ))
}

fn ok200(msg: &str) -> Value {
    json!({"code": 200, "msg": msg})
}

/// Answers one `/fapi` request: `route` is `"METHOD /fapi/vN/path"`, `account` the authenticated
/// account (ignored by public routes). Unknown routes answer `-1000`-free 404 JSON.
pub fn handle(v: &mut UsdmVenue, route: &str, account: u32, p: &Params, now: UnixNanos) -> Reply {
    let r: Result<Value, VenueError> = match route {
        "GET /fapi/v1/exchangeInfo" => Ok(exchange_info(v, now)),
        "GET /fapi/v1/depth" => depth(v, p, now),
        "GET /fapi/v1/ticker/bookTicker" => book_ticker(v, p, now),
        "GET /fapi/v1/ticker/price" | "GET /fapi/v2/ticker/price" => ticker_price(v, p, now),
        "GET /fapi/v1/premiumIndex" => premium_index(v, p, now),
        "GET /fapi/v1/fundingRate" => funding_rate(v, p),
        "GET /fapi/v1/fundingInfo" => Ok(funding_info(v)),
        "POST /fapi/v1/order" => place_one(v, account, p, now),
        "GET /fapi/v1/order" | "GET /fapi/v1/openOrder" => (|| {
            let symbol = need(p, "symbol")?;
            let o = v.query(account, symbol, order_key(p)?)?;
            if route.ends_with("openOrder") && !o.is_open() {
                return Err(venue_err(-2013, "Order does not exist."));
            }
            Ok(order_json(v, &o))
        })(),
        "DELETE /fapi/v1/order" => (|| {
            let symbol = need(p, "symbol")?;
            let key = order_key(p)?;
            let o = v.cancel(account, symbol, key, now)?;
            Ok(order_json(v, &o))
        })(),
        "PUT /fapi/v1/order" => (|| {
            let symbol = need(p, "symbol")?;
            let key = order_key(p)?;
            let side = match need(p, "side")? {
                "BUY" => Side::Buy,
                "SELL" => Side::Sell,
                _ => return Err(venue_err(-1117, "Invalid side.")),
            };
            let req = FuturesModify {
                account,
                symbol,
                key,
                side,
                qty: need(p, "quantity")?,
                price: need(p, "price")?,
            };
            let o = v.modify(&req, now)?;
            Ok(order_json(v, &o))
        })(),
        "POST /fapi/v1/batchOrders" => batch_place(v, account, p, now),
        "DELETE /fapi/v1/batchOrders" => batch_cancel(v, account, p, now),
        "GET /fapi/v1/openOrders" => v
            .open_orders(account, get(p, "symbol"))
            .map(|os| Value::Array(os.iter().map(|o| order_json(v, o)).collect())),
        "GET /fapi/v1/allOrders" => (|| {
            let os = v.all_orders(account, need(p, "symbol")?, limit(p, 500, 1000)?)?;
            Ok(Value::Array(os.iter().map(|o| order_json(v, o)).collect()))
        })(),
        "DELETE /fapi/v1/allOpenOrders" => need(p, "symbol")
            .and_then(|s| v.cancel_all(account, s, now))
            .map(|_| ok200("The operation of cancel all open order is done.")),
        "GET /fapi/v2/account" => Ok(account_json(v, account, now, false)),
        "GET /fapi/v3/account" => Ok(account_json(v, account, now, true)),
        "GET /fapi/v2/balance" | "GET /fapi/v3/balance" => Ok(balance_json(v, account, now)),
        "GET /fapi/v2/positionRisk" => position_risk(v, account, p, now, false),
        "GET /fapi/v3/positionRisk" => position_risk(v, account, p, now, true),
        "POST /fapi/v1/leverage" => (|| {
            let symbol = need(p, "symbol")?;
            let text = need(p, "leverage")?;
            let lev: i64 = text
                .parse()
                .map_err(|_| venue_err(-1100, "Illegal characters found in parameter 'leverage'; legal range is '^[0-9]{1,20}$'."))?;
            let (l, cap) = v.set_leverage(account, symbol, lev, now)?;
            Ok(
                json!({"leverage": l, "maxNotionalValue": (cap / super::account::ATTO).to_string(), "symbol": symbol}),
            )
        })(),
        "POST /fapi/v1/marginType" => (|| {
            let symbol = need(p, "symbol")?;
            let m = MarginType::parse(need(p, "marginType")?)
                .ok_or_else(|| venue_err(-4044, "The margin type is invalid."))?;
            v.set_margin_type(account, symbol, m)?;
            Ok(ok200("success"))
        })(),
        "GET /fapi/v1/positionSide/dual" => Ok(json!({"dualSidePosition": v.dual(account)})),
        "POST /fapi/v1/positionSide/dual" => (|| {
            let dual =
                parse_bool(p, "dualSidePosition")?.ok_or_else(|| mandatory("dualSidePosition"))?;
            v.set_dual(account, dual)?;
            Ok(ok200("success"))
        })(),
        "GET /fapi/v1/userTrades" => (|| {
            let symbol = need(p, "symbol")?;
            let oid = get(p, "orderId")
                .map(|s| s.parse().map_err(|_| mandatory("orderId")))
                .transpose()?;
            let ts = v.trades(account, symbol, oid, limit(p, 500, 1000)?)?;
            Ok(Value::Array(ts.iter().map(|t| trade_json(v, t)).collect()))
        })(),
        "GET /fapi/v1/income" => income_json(v, account, p),
        "GET /fapi/v1/leverageBracket" => leverage_bracket(v, account, p),
        "GET /fapi/v1/commissionRate" => (|| {
            let symbol = need(p, "symbol")?;
            symbol_idx(v, p)?;
            let f = v.fees();
            Ok(
                json!({"symbol": symbol, "makerCommissionRate": rate_text(f.maker), "takerCommissionRate": rate_text(f.taker), "rpiCommissionRate": "0"}),
            )
        })(),
        _ => {
            return Reply {
                status: 404,
                body: json!({"code": -5000, "msg": "Path not found"}),
            }
        }
    };
    r.map_or_else(|e| err(&e), Reply::ok)
}

/// The partial-depth payload `<symbol>@depth<N>`: the same keys as a diff (brief §3.5).
pub fn partial_depth(v: &UsdmVenue, symbol: &str, n: usize, now: UnixNanos) -> Option<Value> {
    let s = v.symbol_index(symbol)?;
    let inst = v.instrument(s)?;
    let (id, bids, asks) = v.depth(s, n)?;
    Some(json!({
        "e": "depthUpdate", "E": ms(now), "T": ms(now), "s": inst.symbol,
        "U": id, "u": id, "pu": id,
        "b": levels(inst, &bids), "a": levels(inst, &asks),
    }))
}

fn order_event(v: &UsdmVenue, u: &super::usdm::OrderUpdate) -> Option<Value> {
    let o = &u.order;
    let inst = v.instrument(o.symbol)?;
    let t = ms(u.time);
    let mut m = json!({
        "s": inst.symbol,
        "c": o.client_order_id,
        "S": o.side.as_str(),
        "o": o.order_type.as_str(),
        "f": o.time_in_force.as_str(),
        "q": qty(inst, o.orig_qty),
        "p": px(inst, o.price),
        "ap": avg_price(v, o),
        "sp": px(inst, Price::ZERO),
        "x": u.exec_type.as_str(),
        "X": o.status.as_str(),
        "i": o.order_id,
        "l": qty(inst, u.last_qty),
        "z": qty(inst, o.executed_qty),
        "L": px(inst, u.last_price),
        "n": amount(u.commission),
        "T": t,
        "t": u.trade_id.unwrap_or(0),
        "b": zero(),
        "a": zero(),
        "m": u.is_maker,
        "R": o.reduce_only,
        "wt": "CONTRACT_PRICE",
        "ot": o.order_type.as_str(),
        "ps": o.position_side.as_str(),
        "cp": false,
        "rp": amount(u.realized),
        "pP": false,
        "si": 0,
        "ss": 0,
        "V": stp_str(o.stp),
        "pm": "NONE",
        "gtd": 0,
    });
    if u.trade_id.is_some() {
        if let Some(obj) = m.as_object_mut() {
            obj.insert("N".into(), json!("USDT"));
        }
    }
    Some(json!({"e": "ORDER_TRADE_UPDATE", "E": t, "T": t, "o": m}))
}

/// Renders one futures event: where it goes and its payload (stream payloads unwrapped).
pub fn render_event(v: &UsdmVenue, e: &FuturesEvent) -> Option<(Audience, Value)> {
    let sym = |idx: usize| v.instrument(idx).map(|i| i.symbol.to_ascii_lowercase());
    match e {
        FuturesEvent::Order { account, update } => {
            Some((Audience::Account(*account), order_event(v, update)?))
        }
        FuturesEvent::Account {
            account,
            reason,
            wallet,
            positions,
            time,
        } => {
            let t = ms(*time);
            let p: Vec<Value> = positions
                .iter()
                .filter_map(|pv| {
                    let inst = v.instrument(pv.symbol)?;
                    Some(json!({
                        "s": inst.symbol,
                        "pa": qty(inst, Qty::from_lots(pv.position.amt)),
                        "ep": px_atto(inst, pv.entry_price),
                        "bep": px_atto(inst, pv.entry_price),
                        "cr": amount(pv.position.realized),
                        "up": amount(pv.unrealized),
                        "mt": pv.margin.risk_str(),
                        "iw": if pv.margin == MarginType::Isolated { amount(pv.initial_margin) } else { zero() },
                        "ps": pv.side.as_str(),
                    }))
                })
                .collect();
            let mut a = json!({
                "m": reason,
                "B": [{"a": "USDT", "wb": amount(*wallet), "cw": amount(*wallet), "bc": zero()}],
                "P": p,
            });
            if *reason == "FUNDING_FEE" {
                if let (Some(obj), Some(first)) = (a.as_object_mut(), positions.first()) {
                    if let Some(inst) = v.instrument(first.symbol) {
                        obj.insert("S".into(), json!(inst.symbol));
                    }
                }
            }
            Some((
                Audience::Account(*account),
                json!({"e": "ACCOUNT_UPDATE", "E": t, "T": t, "a": a}),
            ))
        }
        FuturesEvent::Config {
            account,
            symbol,
            leverage,
            time,
        } => {
            let inst = v.instrument(*symbol)?;
            Some((
                Audience::Account(*account),
                json!({"e": "ACCOUNT_CONFIG_UPDATE", "E": ms(*time), "T": ms(*time), "ac": {"s": inst.symbol, "l": leverage}}),
            ))
        }
        FuturesEvent::Trade {
            symbol,
            trade_id,
            price,
            qty: q,
            buyer_is_maker,
            time,
        } => {
            let inst = v.instrument(*symbol)?;
            Some((
                Audience::Stream(format!("{}@trade", sym(*symbol)?)),
                json!({
                    "e": "trade", "E": ms(*time), "T": ms(*time), "s": inst.symbol, "t": trade_id,
                    "p": px(inst, *price), "q": qty(inst, *q), "X": "MARKET", "m": buyer_is_maker,
                }),
            ))
        }
        FuturesEvent::Depth {
            symbol,
            first,
            last,
            prev,
            bids,
            asks,
            time,
        } => {
            let inst = v.instrument(*symbol)?;
            Some((
                Audience::Stream(format!("{}@depth", sym(*symbol)?)),
                json!({
                    "e": "depthUpdate", "E": ms(*time), "T": ms(*time), "s": inst.symbol,
                    "U": first, "u": last, "pu": prev,
                    "b": levels(inst, bids), "a": levels(inst, asks),
                }),
            ))
        }
        FuturesEvent::BookTicker {
            symbol,
            update_id,
            bid,
            ask,
            time,
        } => {
            let inst = v.instrument(*symbol)?;
            let side = |l: &Option<(Price, Qty)>| {
                l.map_or((px(inst, Price::ZERO), qty(inst, Qty::ZERO)), |(p, q)| {
                    (px(inst, p), qty(inst, q))
                })
            };
            let ((b, bq), (a, aq)) = (side(bid), side(ask));
            Some((
                Audience::Stream(format!("{}@bookTicker", sym(*symbol)?)),
                json!({"e": "bookTicker", "u": update_id, "E": ms(*time), "T": ms(*time), "s": inst.symbol, "b": b, "B": bq, "a": a, "A": aq}),
            ))
        }
        FuturesEvent::MarkPrice {
            symbol,
            mark,
            rate,
            next_funding,
            time,
        } => {
            let inst = v.instrument(*symbol)?;
            let m = px_atto(inst, *mark);
            Some((
                Audience::Stream(format!("{}@markPrice", sym(*symbol)?)),
                json!({"e": "markPriceUpdate", "E": ms(*time), "s": inst.symbol, "p": m, "ap": m, "P": m, "i": m, "r": rate_text(*rate), "T": ms(*next_funding)}),
            ))
        }
    }
}

/// Every route [`handle`] answers (for the fuzz target and its seeds).
pub const ROUTES: &[&str] = &[
    "GET /fapi/v1/exchangeInfo",
    "GET /fapi/v1/depth",
    "GET /fapi/v1/ticker/bookTicker",
    "GET /fapi/v1/ticker/price",
    "GET /fapi/v1/premiumIndex",
    "GET /fapi/v1/fundingRate",
    "GET /fapi/v1/fundingInfo",
    "POST /fapi/v1/order",
    "GET /fapi/v1/order",
    "PUT /fapi/v1/order",
    "GET /fapi/v1/openOrder",
    "DELETE /fapi/v1/order",
    "POST /fapi/v1/batchOrders",
    "DELETE /fapi/v1/batchOrders",
    "GET /fapi/v1/openOrders",
    "GET /fapi/v1/allOrders",
    "DELETE /fapi/v1/allOpenOrders",
    "GET /fapi/v2/account",
    "GET /fapi/v3/account",
    "GET /fapi/v2/balance",
    "GET /fapi/v2/positionRisk",
    "GET /fapi/v3/positionRisk",
    "POST /fapi/v1/leverage",
    "POST /fapi/v1/marginType",
    "GET /fapi/v1/positionSide/dual",
    "POST /fapi/v1/positionSide/dual",
    "GET /fapi/v1/userTrades",
    "GET /fapi/v1/income",
    "GET /fapi/v1/leverageBracket",
    "GET /fapi/v1/commissionRate",
];

/// Fuzz entry, on a venue listing `inst`: each line of `data` is one request — byte 0 picks the route, byte 1 the account
/// (1 or 2), the rest is `k=v&k=v` parameters. Panics if any reply is malformed (not 200 and no
/// `code`), or if a futures invariant breaks ([`UsdmVenue::check_invariants`]).
pub fn fuzz_front(inst: Instrument, data: &[u8]) {
    let mut v = UsdmVenue::new(
        super::account::FeeRates {
            maker: 20_000,
            taker: 50_000,
        },
        1_000_000_000,
    );
    if v.list(inst, UnixNanos(0)).is_err() {
        return;
    }
    for a in [1, 2] {
        if v.deposit(a, "USDT", "10000", UnixNanos(0)).is_err() {
            return;
        }
    }
    for (i, line) in data.split(|&b| b == b'\n').enumerate() {
        let (Some(&r), Some(&a)) = (line.first(), line.get(1)) else {
            continue;
        };
        let route = ROUTES[usize::from(r) % ROUTES.len()];
        let account = 1 + u32::from(a % 2);
        let text = String::from_utf8_lossy(&line[2..]);
        let params: Params = text
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, val)| (k.to_owned(), val.to_owned()))
            .collect();
        let now = UnixNanos(1_000_000_000 + i as u64 * 300_000_000);
        let reply = handle(&mut v, route, account, &params, now);
        assert!(
            reply.status == 200 || reply.body.get("code").is_some(),
            "{route}: {} {}",
            reply.status,
            reply.body
        );
        v.settle_funding(now);
        v.publish_marks(now);
        for e in v.drain_events() {
            let _ = render_event(&v, &e);
        }
        if let Err(e) = v.check_invariants() {
            panic!("after {route} {params:?}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testing::usdm_doge;
    use crate::venue::account::FeeRates;

    const T: UnixNanos = UnixNanos(1_700_000_000_000_000_000);

    fn params(kv: &[(&str, &str)]) -> Params {
        kv.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn venue() -> UsdmVenue {
        let mut v = UsdmVenue::new(FeeRates::from_bps(2, 5).unwrap(), 3_600_000_000_000);
        v.list(usdm_doge(), T).unwrap();
        v.deposit(1, "USDT", "10000", T).unwrap();
        v.deposit(2, "USDT", "10000", T).unwrap();
        v
    }

    #[test]
    fn orders_batches_and_errors_have_binance_shapes() {
        let mut v = venue();
        let r = handle(
            &mut v,
            "POST /fapi/v1/order",
            2,
            &params(&[
                ("symbol", "DOGEUSDT"),
                ("side", "SELL"),
                ("type", "LIMIT"),
                ("timeInForce", "GTC"),
                ("quantity", "100"),
                ("price", "0.2"),
            ]),
            T,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["status"], "NEW");
        assert_eq!(r.body["positionSide"], "BOTH");
        assert_eq!(r.body["price"], "0.20000");
        let gtx = handle(
            &mut v,
            "POST /fapi/v1/order",
            1,
            &params(&[
                ("symbol", "DOGEUSDT"),
                ("side", "BUY"),
                ("type", "LIMIT"),
                ("timeInForce", "GTX"),
                ("quantity", "100"),
                ("price", "0.2"),
            ]),
            T,
        );
        assert_eq!((gtx.status, gtx.body["code"].as_i64()), (400, Some(-5022)));
        let batch = r#"[{"symbol":"DOGEUSDT","side":"BUY","type":"LIMIT","timeInForce":"IOC","quantity":"40","price":"0.2"},{"symbol":"DOGEUSDT","side":"BUY","type":"LIMIT","timeInForce":"GTC","quantity":"1","price":"0.199"}]"#;
        let b = handle(
            &mut v,
            "POST /fapi/v1/batchOrders",
            1,
            &params(&[("batchOrders", batch), ("newOrderRespType", "RESULT")]),
            T,
        );
        assert_eq!(b.status, 200);
        assert_eq!(
            b.body[0]["status"], "NEW",
            "ACK is the default inside a batch"
        );
        assert_eq!(b.body[1]["code"], -4164, "{}", b.body);
        let pos = handle(&mut v, "GET /fapi/v3/positionRisk", 1, &params(&[]), T);
        assert_eq!(pos.body[0]["positionAmt"], "40");
        assert_eq!(pos.body[0]["entryPrice"], "0.20000");
        let acct = handle(&mut v, "GET /fapi/v3/account", 1, &params(&[]), T);
        assert!(acct.body["assets"][0]["updateTime"].as_u64().unwrap() > 0);
        let lev = handle(
            &mut v,
            "POST /fapi/v1/leverage",
            1,
            &params(&[("symbol", "DOGEUSDT"), ("leverage", "1")]),
            T,
        );
        assert_eq!(lev.body["leverage"], 1);
        let mt = handle(
            &mut v,
            "POST /fapi/v1/marginType",
            1,
            &params(&[("symbol", "DOGEUSDT"), ("marginType", "CROSSED")]),
            T,
        );
        assert_eq!(mt.body["code"], -4046);
        let c = handle(
            &mut v,
            "DELETE /fapi/v1/allOpenOrders",
            2,
            &params(&[("symbol", "DOGEUSDT")]),
            T,
        );
        assert_eq!(
            c.body,
            json!({"code": 200, "msg": "The operation of cancel all open order is done."})
        );
        let bad = handle(
            &mut v,
            "POST /fapi/v1/order",
            1,
            &params(&[
                ("symbol", "DOGEUSDT"),
                ("side", "BUY"),
                ("type", "LIMIT_MAKER"),
                ("quantity", "100"),
                ("price", "0.2"),
            ]),
            T,
        );
        assert_eq!(bad.body["code"], -1116);
        let unknown = handle(
            &mut v,
            "GET /fapi/v1/order",
            1,
            &params(&[("symbol", "DOGEUSDT"), ("orderId", "999")]),
            T,
        );
        assert_eq!(
            (unknown.status, unknown.body["code"].as_i64()),
            (400, Some(-2013))
        );
        let events: Vec<_> = v
            .drain_events()
            .iter()
            .filter_map(|e| render_event(&v, e))
            .collect();
        assert!(events.iter().any(|(a, p)| *a == Audience::Account(1)
            && p["e"] == "ORDER_TRADE_UPDATE"
            && p["o"]["ps"] == "BOTH"));
        assert!(events
            .iter()
            .any(|(_, p)| p["e"] == "ACCOUNT_UPDATE" && p["a"]["P"][0]["pa"] == "40"));
        let depth: Vec<_> = events
            .iter()
            .filter(|(_, p)| p["e"] == "depthUpdate")
            .map(|(_, p)| p.clone())
            .collect();
        for w in depth.windows(2) {
            assert_eq!(w[1]["pu"], w[0]["u"]);
        }
    }
}
