//! The USD-M WebSocket API transport's per-request work allocates nothing after warm-up: encoding
//! `order.place` / `order.modify` / `order.cancel` / `order.status` (unsigned after an Ed25519
//! `session.logon`, and HMAC-signed per request), decoding the answer envelope with its
//! `rateLimits` and order `result`, and copying the matched answer into the gateway's preallocated
//! buffer. (`WsClient`'s own send/poll is covered by `ws_client_no_alloc.rs`.)

mod common;

use _native::gateway::binance_usdm::decode_order;
use _native::gateway::binance_user::{decode, WsApiMessage};
use _native::gateway::binance_ws::{
    encode_futures_order_modify, encode_futures_order_place, encode_order_cancel,
    encode_symbol_request, Auth, FuturesOrderPlace,
};
use _native::gateway::Signer;
use _native::model::{ClientOrderId, Scale, Side};

#[global_allocator]
static GLOBAL: common::CountingAllocator = common::CountingAllocator;

const ANSWER: &[u8] = br#"{"id":"7","status":200,"result":{"orderId":325078477,"symbol":"DOGEUSDT","status":"NEW","clientOrderId":"pmf-7","price":"0.09900","avgPrice":"0.00","origQty":"100","executedQty":"0","cumQty":"0","cumQuote":"0.00000","timeInForce":"GTX","type":"LIMIT","reduceOnly":false,"closePosition":false,"side":"BUY","positionSide":"BOTH","stopPrice":"0.00000","workingType":"CONTRACT_PRICE","priceProtect":false,"origType":"LIMIT","priceMatch":"NONE","selfTradePreventionMode":"NONE","goodTillDate":0,"updateTime":1700000000000},"rateLimits":[{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":2400,"count":3},{"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":10,"limit":300,"count":1},{"rateLimitType":"ORDERS","interval":"MINUTE","intervalNum":1,"limit":1200,"count":1}]}"#;
const ERROR: &[u8] = br#"{"id":"8","status":400,"error":{"code":-5022,"msg":"Due to the order could not be executed as maker, the Post Only order will be rejected."},"rateLimits":[{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":2400,"count":4}]}"#;

#[test]
fn ws_fapi_encode_and_decode_allocate_nothing_after_warm_up() {
    common::assert_counting();
    let hmac = Signer::hmac(b"usdm-secret").unwrap();
    let (tick, lot) = (Scale::parse("0.00001").unwrap(), Scale::parse("1").unwrap());
    let mut out = [0u8; 2048];
    let mut resp: Vec<u8> = Vec::with_capacity(16 << 10);
    let mut work = |i: u64| -> u64 {
        let auth = Auth {
            api_key: (i % 2 == 0).then_some(&b"usdm-key"[..]),
            timestamp_ms: 1_700_000_000_000 + i,
            recv_window_ms: Some(5000),
        };
        let signer = (i % 2 == 0).then_some(&hmac);
        let o = FuturesOrderPlace {
            request_id: i,
            symbol: b"DOGEUSDT",
            side: if i % 3 == 0 { Side::Sell } else { Side::Buy },
            tif: [&b"GTX"[..], b"IOC", b"GTC"][(i % 3) as usize],
            price_ticks: 9_900 + (i % 50) as i64,
            tick,
            qty_lots: 100 + (i % 7) as i64,
            lot,
            reduce_only: i % 5 == 0,
            client_id: ClientOrderId(1_000_000 + i),
            client_prefix: b"pmf-",
        };
        let mut n = encode_futures_order_place(&o, &auth, signer, &mut out).unwrap() as u64;
        n += encode_futures_order_modify(&o, &auth, signer, &mut out).unwrap() as u64;
        n += encode_order_cancel(
            i,
            b"DOGEUSDT",
            o.client_id,
            b"pmf-",
            &auth,
            signer,
            &mut out,
        )
        .unwrap() as u64;
        n += encode_symbol_request(
            i,
            b"order.status",
            b"DOGEUSDT",
            Some(o.client_id),
            b"pmf-",
            &auth,
            signer,
            &mut out,
        )
        .unwrap() as u64;
        for msg in [ANSWER, ERROR] {
            resp.clear();
            resp.extend_from_slice(msg);
            let Ok(WsApiMessage::Response(a)) = decode(&resp) else {
                panic!("answer did not decode")
            };
            n += a.rate.weight_1m.map_or(0, |r| r.0);
            match (a.result, a.error) {
                (Some(r), None) => n += decode_order(r).unwrap().order_id % 2,
                (None, Some((code, _))) => n += code.unsigned_abs() % 2,
                _ => panic!("neither result nor error"),
            }
        }
        n
    };
    let mut sum = 0;
    for i in 0..100 {
        sum += work(i);
    }
    let before = common::allocations();
    for i in 100..20_100 {
        sum += work(i);
    }
    let allocs = common::allocations() - before;
    assert!(sum > 0);
    assert_eq!(
        allocs, 0,
        "{allocs} allocations over 20 000 request/answer rounds"
    );
}
