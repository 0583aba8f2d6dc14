//! The validator's accepting path allocates nothing (its "Hot path" promise), checked with a
//! counting global allocator. Rejections may allocate their message; they are the cold path.
//!
//! Counted per thread (`common::CountingAllocator`): the test harness's own threads, which may
//! allocate at any time, do not disturb the count (a process-wide counter once saw 4 of theirs).

mod common;

use _native::model::{
    validate, Decimal, InstrumentMaster, Market, MarketContext, OrderRequest, OrderType, Price,
    PriceInput, Qty, QtyInput, Side, TimeInForce,
};

#[global_allocator]
static GLOBAL: common::CountingAllocator = common::CountingAllocator;

#[test]
fn accepting_path_does_not_allocate() {
    let spot = InstrumentMaster::from_toml_str(include_str!(
        "../../config/instruments/DOGEUSDT.spot.toml"
    ))
    .expect("spot definition loads");
    let usdm = InstrumentMaster::from_toml_str(include_str!(
        "../../config/instruments/DOGEUSDT.usdm.toml"
    ))
    .expect("usdm definition loads");
    let spot = spot
        .by_symbol(Market::Spot, "DOGEUSDT")
        .expect("spot DOGEUSDT");
    let usdm = usdm
        .by_symbol(Market::UsdM, "DOGEUSDT")
        .expect("usdm DOGEUSDT");
    let ctx = MarketContext {
        reference_price: Some(Decimal::parse("0.2").expect("decimal")),
        open_orders: 3,
    };
    let fixed = OrderRequest {
        side: Side::Buy,
        order_type: OrderType::Limit,
        time_in_force: Some(TimeInForce::Gtc),
        price: Some(PriceInput::Ticks(Price::from_ticks(20_000))),
        qty: Some(QtyInput::Lots(Qty::from_lots(100))),
        reduce_only: false,
    };
    let text = OrderRequest {
        side: Side::Sell,
        order_type: OrderType::Limit,
        time_in_force: Some(TimeInForce::Gtx),
        price: Some(PriceInput::Text("0.20001000")),
        qty: Some(QtyInput::Text("100")),
        reduce_only: false,
    };
    let market = OrderRequest {
        side: Side::Sell,
        order_type: OrderType::Market,
        time_in_force: None,
        price: None,
        qty: Some(QtyInput::Lots(Qty::from_lots(100))),
        reduce_only: false,
    };

    common::assert_counting();
    let before = common::allocations();
    let mut ok = 0;
    for _ in 0..1000 {
        ok += usize::from(validate(spot, &fixed, &ctx).is_ok());
        ok += usize::from(validate(usdm, &fixed, &ctx).is_ok());
        ok += usize::from(validate(usdm, &text, &ctx).is_ok());
        ok += usize::from(validate(spot, &market, &ctx).is_ok());
    }
    let allocated = common::allocations() - before;
    assert_eq!(ok, 4000);
    assert_eq!(
        allocated, 0,
        "the accepting path allocated {allocated} times"
    );
}
