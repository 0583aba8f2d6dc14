//! The market-flow generator without recorded data: the same seed gives the same market, the book
//! is never crossed, the venue's conservation invariants hold, and a client quote at the touch is
//! filled by the generated marketable flow.

use std::path::PathBuf;

use _native::model::order::{OrderType, TimeInForce};
use _native::model::{InstrumentMaster, Side, UnixNanos};
use _native::venue::{FeeRates, FlowGenerator, FlowParams, PlaceOrder, SpotVenue, VenueEvent};

fn repo(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(p)
}

fn venue(symbol: &str) -> SpotVenue {
    let master =
        InstrumentMaster::from_toml_file(&repo(&format!("config/instruments/{symbol}.spot.toml")))
            .unwrap();
    let mut v = SpotVenue::new(FeeRates::from_bps(1, 1).unwrap());
    for i in master.iter() {
        v.list(i.clone()).unwrap();
    }
    v
}

fn params(symbol: &str) -> FlowParams {
    FlowParams::from_toml(
        &std::fs::read_to_string(repo(&format!("config/flow/{symbol}.toml"))).unwrap(),
    )
    .unwrap()
}

const T0: u64 = 1_700_000_000_000_000_000;

/// Runs `secs` simulated seconds in 100 ms steps; returns every depth/trade event rendered as text
/// and the number of trades.
fn run(symbol: &str, seed: u64, secs: u64) -> (Vec<String>, usize) {
    let mut v = venue(symbol);
    let mut g =
        FlowGenerator::new(&mut v, params(symbol), 4_000_000_001, seed, UnixNanos(T0)).unwrap();
    g.seed_book(&mut v);
    let idx = v.symbol_index(symbol).unwrap();
    let mut log = Vec::new();
    let mut trades = 0;
    for step in 1..=secs * 10 {
        g.advance(&mut v, UnixNanos(T0 + step * 100_000_000));
        let (b, a) = v.top(idx).unwrap();
        let (b, a) = (b.expect("bid side empty"), a.expect("ask side empty"));
        assert!(b.0 < a.0, "crossed book at step {step}: {b:?} / {a:?}");
        for e in v.drain_events() {
            match e {
                VenueEvent::Trade { price, qty, .. } => {
                    trades += 1;
                    log.push(format!("T {price:?} {qty:?}"));
                }
                VenueEvent::Depth { bids, asks, .. } => log.push(format!("D {bids:?} {asks:?}")),
                _ => {}
            }
        }
    }
    v.check_invariants().unwrap();
    (log, trades)
}

#[test]
fn same_seed_same_market_and_never_crossed() {
    let (a, ta) = run("DOGEUSDT", 1, 60);
    let (b, _) = run("DOGEUSDT", 1, 60);
    assert_eq!(a, b);
    assert!(ta > 10, "only {ta} trades in 60 s");
    let (c, _) = run("DOGEUSDT", 2, 60);
    assert_ne!(a, c);
}

#[test]
fn btcusdt_parameters_run_uncrossed() {
    let (_, trades) = run("BTCUSDT", 5, 60);
    assert!(trades > 100, "only {trades} trades in 60 s");
}

#[test]
fn a_client_bid_at_the_touch_is_filled_by_the_flow() {
    let mut v = venue("DOGEUSDT");
    let idx = v.symbol_index("DOGEUSDT").unwrap();
    let mut g =
        FlowGenerator::new(&mut v, params("DOGEUSDT"), 4_000_000_001, 3, UnixNanos(T0)).unwrap();
    g.seed_book(&mut v);
    v.deposit(1, "USDT", "100000").unwrap();
    let mut filled_at = None;
    let mut order = None;
    for step in 1..=6000u64 {
        let now = UnixNanos(T0 + step * 100_000_000);
        g.advance(&mut v, now);
        let open = order.and_then(|id| v.open_qty(idx, id));
        if open.is_none() {
            if let Some(id) = order {
                let q = v
                    .query(1, "DOGEUSDT", _native::venue::OrderKey::Id(id))
                    .unwrap();
                if q.executed_qty.lots() > 0 {
                    filled_at = Some(step);
                    break;
                }
            }
            // (Re)join the best bid with 100 DOGE.
            let (b, _) = v.top(idx).unwrap();
            let px = v.instrument(idx).unwrap().price_to_string(b.unwrap().0);
            let p = v
                .place(
                    &PlaceOrder {
                        account: 1,
                        symbol: "DOGEUSDT",
                        side: Side::Buy,
                        order_type: OrderType::Limit,
                        time_in_force: Some(TimeInForce::Gtc),
                        price: Some(&px),
                        qty: Some("100"),
                        quote_qty: None,
                        client_order_id: None,
                        stp: None,
                    },
                    now,
                )
                .unwrap();
            order = Some(p.order.order_id);
        }
    }
    assert!(
        filled_at.is_some(),
        "a bid kept at the touch was never filled in 600 simulated seconds"
    );
    v.check_invariants().unwrap();
}

/// The committed seeds of the `flow_params` fuzz target run through its body.
#[test]
fn flow_params_fuzz_seeds() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/flow_params");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        _native::venue::flow::fuzz_params(&std::fs::read(e.unwrap().path()).unwrap());
        n += 1;
    }
    assert!(n > 0);
}

/// A server that sleeps until `next_event` and then advances meets each event when it happens:
/// nothing happens before the drawn time, the event does at it, and peeking twice without a change
/// gives the same time (the draw is kept, not repeated).
#[test]
fn next_event_is_when_the_flow_acts() {
    let mut v = venue("DOGEUSDT");
    let mut g =
        FlowGenerator::new(&mut v, params("DOGEUSDT"), 4_000_000_001, 5, UnixNanos(T0)).unwrap();
    g.seed_book(&mut v);
    let mut events = 0;
    for i in 0..300 {
        let at = g
            .next_event(&v)
            .expect("the calibrated flow always has a positive rate");
        assert!(
            at.0 >= g.now().0,
            "step {i}: drawn time {at:?} before the time reached"
        );
        assert_eq!(g.next_event(&v), Some(at), "step {i}: a second peek redrew");
        if at.0 > g.now().0 + 1 {
            assert_eq!(
                g.advance(&mut v, UnixNanos(at.0 - 1)),
                0,
                "step {i}: an event before the drawn time"
            );
            assert_eq!(g.next_event(&v), Some(at), "step {i}: the draw was lost");
        }
        let n = g.advance(&mut v, UnixNanos(at.0 + 1));
        assert!(n >= 1, "step {i}: no event at the drawn time {at:?}");
        events += n;
        v.drain_events();
    }
    assert!(events >= 300);
    v.check_invariants().unwrap();
}
