//! The replay driver: a client order fills only after the recorded quantity ahead of it has traded
//! (hand-built L2 and L3 cases), the L2 queue models split level decreases as documented, and a
//! recorded Binance capture replays with the rule holding at every event.

mod common;

use std::path::PathBuf;

use _native::model::order::{OrderType, TimeInForce};
use _native::model::{InstrumentMaster, Price, Qty, Side, UnixNanos};
use _native::venue::replay::{load_binance, QueueModel, Recording, ReplayDriver, ReplayEvent};
use _native::venue::{FeeRates, OrderKey, PlaceOrder, SpotVenue};

fn repo(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(p)
}

fn venue() -> SpotVenue {
    let master =
        InstrumentMaster::from_toml_file(&repo("config/instruments/BTCUSDT.spot.toml")).unwrap();
    let mut v = SpotVenue::new(FeeRates::from_bps(0, 0).unwrap());
    for i in master.iter() {
        v.list(i.clone()).unwrap();
    }
    v.deposit(1, "USDT", "10000000").unwrap();
    v.deposit(1, "BTC", "1000").unwrap();
    v
}

const PX: i64 = 6_000_000; // 60000.00

fn px(t: i64) -> Price {
    Price::from_ticks(t)
}

fn driver(v: &mut SpotVenue, model: QueueModel) -> ReplayDriver {
    let rec = Recording {
        symbol: "BTCUSDT".into(),
        ..Recording::default()
    };
    ReplayDriver::new(v, rec, model, UnixNanos(0)).unwrap()
}

/// A client bid of `lots` at 60000.00.
fn bid(v: &mut SpotVenue, lots: i64) -> u64 {
    let qty = format!("{}.{:05}", lots / 100_000, lots % 100_000);
    v.place(
        &PlaceOrder {
            account: 1,
            symbol: "BTCUSDT",
            side: Side::Buy,
            order_type: OrderType::Limit,
            time_in_force: Some(TimeInForce::Gtc),
            price: Some("60000.00"),
            qty: Some(&qty),
            quote_qty: None,
            client_order_id: None,
            stp: None,
        },
        UnixNanos(1),
    )
    .unwrap()
    .order
    .order_id
}

fn executed(v: &SpotVenue, id: u64) -> i64 {
    v.query(1, "BTCUSDT", OrderKey::Id(id))
        .unwrap()
        .executed_qty
        .lots()
}

fn ahead(v: &SpotVenue, id: u64) -> i64 {
    v.queue_ahead(0, id).map_or(-1, Qty::lots)
}

fn level(d: &mut ReplayDriver, v: &mut SpotVenue, side: Side, t: i64, lots: i64) {
    d.apply(
        v,
        ReplayEvent::Level {
            side,
            price: px(t),
            qty: Qty::from_lots(lots),
        },
        UnixNanos(2),
    );
}

fn sell(d: &mut ReplayDriver, v: &mut SpotVenue, t: i64, lots: i64) {
    d.apply(
        v,
        ReplayEvent::Trade {
            aggressor: Side::Sell,
            price: px(t),
            qty: Qty::from_lots(lots),
        },
        UnixNanos(3),
    );
}

#[test]
fn l2_trades_consume_the_queue_ahead_first() {
    let mut v = venue();
    let mut d = driver(&mut v, QueueModel::RiskAverse);
    level(&mut d, &mut v, Side::Buy, PX, 500);
    level(&mut d, &mut v, Side::Sell, PX + 1, 500);
    let id = bid(&mut v, 200);
    assert_eq!(ahead(&v, id), 500);
    level(&mut d, &mut v, Side::Buy, PX, 900); // 400 joins behind us
    assert_eq!(ahead(&v, id), 500);
    sell(&mut d, &mut v, PX, 300);
    assert_eq!((executed(&v, id), ahead(&v, id)), (0, 200));
    sell(&mut d, &mut v, PX, 300); // 200 ahead, then 100 of ours
    assert_eq!(executed(&v, id), 100);
    assert_eq!(d.stats().client_fill_lots, 100);
    sell(&mut d, &mut v, PX, 150); // our last 100, then 50 of the recorded 400 behind
    assert_eq!(executed(&v, id), 200);
    assert!(v.open_qty(0, id).is_none());
    v.check_invariants().unwrap();
}

#[test]
fn l2_decreases_follow_the_queue_model() {
    // front 800 ahead of us, 200 behind; the level shrinks by 200 without a trade.
    // Power(3): the front's share is 800^3 / (800^3 + 200^3) = 0.985, so 197 of the 200 come from
    // ahead of us.
    // Then the level shrinks to 100 (700 gone): risk-averse takes the 200 behind first, then 500
    // ahead (100 left ahead); Power(3) gives the front 0.966 of it, more than the front holds.
    for (model, want, want2) in [
        (QueueModel::RiskAverse, 800, 100),
        (QueueModel::Power(3.0), 603, 0),
    ] {
        let mut v = venue();
        let mut d = driver(&mut v, model);
        level(&mut d, &mut v, Side::Buy, PX, 800);
        let id = bid(&mut v, 200);
        level(&mut d, &mut v, Side::Buy, PX, 1000);
        level(&mut d, &mut v, Side::Buy, PX, 800);
        assert_eq!(ahead(&v, id), want, "{model:?}");
        level(&mut d, &mut v, Side::Buy, PX, 100);
        assert_eq!(ahead(&v, id), want2, "{model:?}");
        assert_eq!(executed(&v, id), 0);
        v.check_invariants().unwrap();
    }
}

#[test]
fn l3_execution_behind_us_fills_us_first() {
    let mut v = venue();
    let mut d = driver(&mut v, QueueModel::RiskAverse);
    let add = |id, lots| ReplayEvent::Add {
        id,
        side: Side::Buy,
        price: px(PX),
        qty: Qty::from_lots(lots),
    };
    d.apply(&mut v, add(1, 500), UnixNanos(1));
    let ours = bid(&mut v, 200);
    d.apply(&mut v, add(2, 300), UnixNanos(2));
    assert_eq!(ahead(&v, ours), 500);
    // Order 1 (ahead of us) executes: nothing for us.
    let exec = |id, lots| ReplayEvent::Execute {
        id,
        qty: Qty::from_lots(lots),
        book_effect: true,
    };
    d.apply(&mut v, exec(1, 500), UnixNanos(3));
    assert_eq!((executed(&v, ours), ahead(&v, ours)), (0, 0));
    // Order 2 (behind us) executes 50: in FIFO the aggressor met us first.
    d.apply(&mut v, exec(2, 50), UnixNanos(4));
    assert_eq!(executed(&v, ours), 50);
    // The recorded book is still the recording's: order 2 has 250 left.
    let q = v.level_queue(0, Side::Buy, px(PX));
    assert_eq!(q.iter().map(|e| e.2.lots()).sum::<i64>(), 150 + 250);
    // A partial cancel keeps priority; a size increase loses it.
    d.apply(
        &mut v,
        ReplayEvent::Modify {
            id: 2,
            price: px(PX),
            qty: Qty::from_lots(400),
        },
        UnixNanos(5),
    );
    assert_eq!(ahead(&v, ours), 0);
    d.apply(&mut v, add(3, 100), UnixNanos(6));
    d.apply(
        &mut v,
        ReplayEvent::Cancel {
            id: 9,
            qty: Qty::from_lots(1),
        },
        UnixNanos(7),
    );
    assert_eq!(d.stats().unknown_orders, 1);
    v.check_invariants().unwrap();
}

/// The BTCUSDT spot capture: a client bid joins the best bid after the snapshot; at every event,
/// a fill happens only on a recorded sell print larger than the quantity ahead of us (or when a
/// recorded ask crosses our price), and never for more than the print's excess.
#[test]
fn recorded_capture_fills_only_after_the_queue_ahead_traded() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let master =
        InstrumentMaster::from_toml_file(&repo("config/instruments/BTCUSDT.spot.toml")).unwrap();
    let inst = master.iter().next().unwrap().clone();
    let d1 = dir.join("binance_hftbacktest_btc_2024-08-08/spot_btcusdt_20240808.gz");
    let d2 = dir.join("binance_hftbacktest_btc_2024-08-08/spot_btcusdt_20240809.gz");
    let rec = load_binance(&[&d1, &d2], &inst).unwrap();
    assert_eq!(rec.bad_records, 0);
    assert!(rec.events.len() > 50_000, "{}", rec.events.len());
    for model in [QueueModel::RiskAverse, QueueModel::Power(3.0)] {
        let mut v = venue();
        let events = rec.events.clone();
        let mut d =
            ReplayDriver::new(&mut v, rec.clone(), model, UnixNanos(events[0].0 .0)).unwrap();
        let mut ours: Option<(u64, Price)> = None;
        let mut fills = 0;
        for (i, (t, ev)) in events.iter().enumerate() {
            if ours.is_none() && i > 5_000 {
                let (b, _) = v.top(0).unwrap();
                let b = b.unwrap().0;
                let p = v.instrument(0).unwrap().price_to_string(b);
                let id = v
                    .place(
                        &PlaceOrder {
                            account: 1,
                            symbol: "BTCUSDT",
                            side: Side::Buy,
                            order_type: OrderType::Limit,
                            time_in_force: Some(TimeInForce::Gtc),
                            price: Some(&p),
                            qty: Some("0.01000"),
                            quote_qty: None,
                            client_order_id: None,
                            stp: None,
                        },
                        *t,
                    )
                    .unwrap()
                    .order
                    .order_id;
                ours = Some((id, b));
            }
            let before = ours.map(|(id, _)| (executed(&v, id), v.queue_ahead(0, id)));
            d.apply(&mut v, *ev, *t);
            let Some((id, our_px)) = ours else { continue };
            let (exec_before, ahead_before) = before.unwrap();
            let gained = executed(&v, id) - exec_before;
            if gained == 0 {
                continue;
            }
            fills += 1;
            let ahead_before = ahead_before.map_or(0, Qty::lots);
            match *ev {
                ReplayEvent::Trade {
                    aggressor: Side::Sell,
                    price,
                    qty,
                } if price <= our_px => {
                    let room = if price == our_px {
                        qty.lots() - ahead_before
                    } else {
                        qty.lots()
                    };
                    assert!(
                        gained <= room,
                        "event {i}: filled {gained} > print {qty:?} - ahead {ahead_before}"
                    );
                }
                ReplayEvent::Level {
                    side: Side::Sell,
                    price,
                    ..
                } if price <= our_px => {} // a recorded ask crossed our bid
                other => panic!("event {i}: filled {gained} on {other:?}"),
            }
            if v.open_qty(0, id).is_none() {
                break;
            }
        }
        assert!(ours.is_some());
        assert!(
            fills > 0,
            "{model:?}: the client bid never filled during the capture"
        );
        v.check_invariants().unwrap();
    }
}
