//! The live OUCH session makes no allocation per order after warm-up: enter, the venue's Accepted,
//! cancel, the venue's Canceled, heartbeats — each through a real non-blocking loopback TCP socket
//! to the simulated exchange's OUCH front.
//!
//! The counting global allocator counts per thread: the venue's threads (which allocate freely) do
//! not disturb the count of the test thread, which owns and polls the session.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use _native::engine::ouch_session::{now, OuchConfig, OuchSession, Phase, INST};
use _native::gateway::OrderState;
use _native::model::{ClientOrderId, Price, Qty, Side};
use _native::time::posix_clock::PosixClock;
use _native::venue::itch_venue::{ItchVenue, ItchVenueConfig};

#[global_allocator]
static GLOBAL: common::CountingAllocator = common::CountingAllocator;

fn until(s: &mut OuchSession, cond: impl Fn(&OuchSession) -> bool) {
    let deadline = PosixClock::Monotonic.now_ns() + 30_000_000_000;
    while !cond(s) {
        s.poll();
        assert!(PosixClock::Monotonic.now_ns() < deadline, "timed out");
        std::thread::sleep(Duration::from_micros(100));
    }
}

fn cycle(s: &mut OuchSession, i: i64) {
    let id = s
        .enter(
            Side::Buy,
            Price::from_ticks(9_800 + i % 50),
            Qty::from_lots(1),
            false,
        )
        .expect("entered");
    until(s, |s| {
        s.core().order(id).map(|o| o.state) == Some(OrderState::New)
    });
    s.cancel(id).expect("cancel sent");
    let gone = |s: &OuchSession, id: ClientOrderId| s.core().order(id).is_none();
    until(s, |s| gone(s, id));
}

#[test]
fn ouch_session_allocates_nothing_per_order_after_warm_up() {
    common::assert_counting();
    let v = ItchVenue::start(
        ItchVenueConfig {
            flow: false,
            rerequest: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            ouch: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            heartbeat_ms: 50,
            ..ItchVenueConfig::default()
        },
        None,
    )
    .unwrap();
    let dir = std::env::temp_dir().join(format!("pymm-ouchsess-noalloc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg: OuchConfig = serde_json::from_value(serde_json::json!({
        "addr": v.endpoints().ouch.to_string(),
        "user": "PYMM", "password": "pymm", "symbol": "PYMM", "tick": "0.01",
        "client_id_file": dir.join("ids").to_string_lossy(),
        "heartbeat_ms": 20,
        "risk": {
            "max_order_qty": "1000", "max_order_notional": "200000", "price_collar_bps": 500,
            "max_reference_age_ms": 600000, "max_long": "1000", "max_short": "1000",
            "max_position_notional": "500000", "max_open_orders": 20,
            "venue_orders_per_second": 100000, "venue_orders_burst": 100000,
            "messages_per_second": 100000, "messages_burst": 100000
        }
    }))
    .unwrap();
    let mut s = OuchSession::new(&cfg).unwrap();
    s.core_mut()
        .risk_mut()
        .set_reference(INST, Price::from_ticks(9_820), now());
    until(&mut s, |s| s.core().phase() == Phase::Ready);
    for i in 0..50 {
        cycle(&mut s, i);
    }
    let before = common::allocations();
    for i in 0..500 {
        cycle(&mut s, i);
    }
    let allocs = common::allocations() - before;
    let c = s.core().counters();
    assert_eq!((c.entered, c.canceled), (550, 550), "{c:?}");
    assert_eq!(c.disconnects, 0);
    assert_eq!(
        allocs, 0,
        "allocations over 500 enter/cancel round trips: {c:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
