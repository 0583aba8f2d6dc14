//! The live OUCH 4.2 session ([`OuchSession`]) against the simulated exchange's real OUCH front over
//! loopback TCP (SoupBinTCP 3.0), with the front's explicit fault hooks: a connection dropped right
//! after an Enter was applied (or before it arrived), answers held past the timeout, a lost Cancel,
//! a login rejected once, a wrong password, a replay that starts early, server silence.
//!
//! Each fault test shows the order UNKNOWN and reserved by risk meanwhile, that the venue saw each
//! token at most once (never resent), and how the session resolved it (ADR 0008).
//!
//! The venue publishes ITCH on multicast (loopback), which these tests do not read.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use _native::engine::ouch_session::{now, Failure, OuchConfig, OuchSession, Phase, Refusal, INST};
use _native::gateway::OrderState;
use _native::model::{ClientOrderId, Price, Qty, Side};
use _native::risk::{DenyReason, OrderCheck, Reservation};
use _native::time::posix_clock::PosixClock;
use _native::venue::itch_flow::FlowAction;
use _native::venue::itch_venue::{ItchVenue, ItchVenueConfig};

fn mono_ms() -> u64 {
    PosixClock::Monotonic.now_ns() / 1_000_000
}

fn venue_with(heartbeat_ms: u64) -> ItchVenue {
    ItchVenue::start(
        ItchVenueConfig {
            flow: false,
            rerequest: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            ouch: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            heartbeat_ms,
            ..ItchVenueConfig::default()
        },
        None,
    )
    .expect("venue starts")
}

fn venue() -> ItchVenue {
    venue_with(200)
}

fn id_file(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pymm-ouchsess-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d.join("client_ids")
}

fn config(v: &ItchVenue, name: &str, extra: serde_json::Value) -> OuchConfig {
    let mut c = serde_json::json!({
        "addr": v.endpoints().ouch.to_string(),
        "user": "PYMM",
        "password": "pymm",
        "symbol": "PYMM",
        "tick": "0.01",
        "client_id_file": id_file(name).to_string_lossy(),
        "id_block": 1000,
        "order_timeout_ms": 400,
        "probe_timeout_ms": 2000,
        "reconnect_min_ms": 20,
        "reconnect_max_ms": 200,
        "risk": {
            "max_order_qty": "1000",
            "max_order_notional": "200000",
            "price_collar_bps": 500,
            "max_reference_age_ms": 600000,
            "max_long": "1000",
            "max_short": "1000",
            "max_position_notional": "500000",
            "max_open_orders": 20,
            "venue_orders_per_second": 1000,
            "venue_orders_burst": 1000,
            "messages_per_second": 1000,
            "messages_burst": 1000
        }
    });
    if let (Some(m), Some(e)) = (c.as_object_mut(), extra.as_object()) {
        for (k, val) in e {
            m.insert(k.clone(), val.clone());
        }
    }
    serde_json::from_value(c).unwrap()
}

/// A session logged in, reconciled, with a reference price of 99.00.
fn ready(v: &ItchVenue, name: &str) -> OuchSession {
    let mut s = OuchSession::new(&config(v, name, serde_json::json!({}))).unwrap();
    s.core_mut()
        .risk_mut()
        .set_reference(INST, Price::from_ticks(9_900), now());
    until(&mut s, "ready", |s| s.core().phase() == Phase::Ready);
    s
}

/// Polls until `cond` holds (generous deadline: the VM is shared and loaded).
fn until(s: &mut OuchSession, what: &str, cond: impl Fn(&OuchSession) -> bool) {
    let deadline = mono_ms() + 30_000;
    loop {
        s.poll();
        if cond(s) {
            return;
        }
        assert!(
            mono_ms() < deadline,
            "timed out waiting for {what}: phase {:?}, counters {:?}, error {:?}",
            s.core().phase(),
            s.core().counters(),
            s.last_error()
        );
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn state(s: &OuchSession, id: ClientOrderId) -> Option<OrderState> {
    s.core().order(id).map(|o| o.state)
}

fn buy(s: &mut OuchSession, ticks: i64, qty: i64) -> ClientOrderId {
    s.enter(
        Side::Buy,
        Price::from_ticks(ticks),
        Qty::from_lots(qty),
        false,
    )
    .expect("entered")
}

/// Every token the venue saw as a new order arrived once.
fn assert_no_resend(v: &ItchVenue) {
    let tokens = v.ouch_hooks(|h| h.tokens.clone());
    assert!(!tokens.is_empty());
    for (t, n) in tokens {
        assert_eq!(n, 1, "token {t} reached the venue {n} times");
    }
}

/// Whether a buy of `qty` more would still pass risk (checked on a copy: nothing is reserved).
fn buy_fits(s: &OuchSession, qty: i64) -> Result<(), DenyReason> {
    let mut r = s.core().risk().clone();
    r.check_new(
        &OrderCheck {
            instrument: INST,
            client_id: ClientOrderId(u64::MAX / 2),
            side: Side::Buy,
            price: Price::from_ticks(9_800),
            qty: Qty::from_lots(qty),
        },
        now(),
    )
}

#[test]
fn enter_fill_replace_cancel_kill_and_stop_on_the_real_front() {
    let v = venue();
    let mut s = ready(&v, "basic");
    assert_eq!(
        s.core().counters().barriers,
        1,
        "the first login reconciles"
    );
    let a = buy(&mut s, 9_900, 500);
    assert_eq!(state(&s, a), Some(OrderState::PendingNew));
    until(&mut s, "accepted", |s| state(s, a) == Some(OrderState::New));
    // The crowd sells 200 into it: one execution, position +200.
    v.with_front(|f| {
        f.apply_flow(FlowAction::Execute {
            side: Side::Sell,
            qty: Qty::from_lots(200),
        })
    });
    until(&mut s, "fill", |s| {
        state(s, a) == Some(OrderState::PartiallyFilled)
    });
    assert_eq!(s.core().risk().position(INST), Some(200));
    assert_eq!(s.core().order(a).unwrap().leaves, Qty::from_lots(300));
    // Replace the rest: a new token, the old one leaves when the venue confirms.
    let b = s
        .replace(a, Price::from_ticks(9_901), Qty::from_lots(300))
        .unwrap();
    assert_eq!(state(&s, a), Some(OrderState::PendingCancel));
    until(&mut s, "replaced", |s| {
        state(s, a).is_none() && state(s, b) == Some(OrderState::New)
    });
    s.cancel(b).unwrap();
    until(&mut s, "canceled", |s| state(s, b).is_none());
    assert_eq!(s.core().risk().open_orders(INST), 0);
    // Two working orders; kill sends one Cancel per token and denies entry.
    let c = buy(&mut s, 9_890, 100);
    let d = s
        .enter(
            Side::Sell,
            Price::from_ticks(9_950),
            Qty::from_lots(100),
            true,
        )
        .unwrap();
    until(&mut s, "both accepted", |s| {
        state(s, c) == Some(OrderState::New) && state(s, d) == Some(OrderState::New)
    });
    assert_eq!(v.resting_orders(), 2);
    assert_eq!(s.kill(), 2);
    until(&mut s, "kill done", |s| s.core().open_orders() == 0);
    assert_eq!(v.resting_orders(), 0);
    assert_eq!(s.core().phase(), Phase::Killed);
    assert_eq!(
        s.enter(
            Side::Buy,
            Price::from_ticks(9_900),
            Qty::from_lots(1),
            false
        ),
        Err(Refusal::Denied(DenyReason::Killed))
    );
    s.stop();
    until(&mut s, "stopped", |s| s.core().phase() == Phase::Stopped);
    assert!(!s.connected(), "logged out and closed");
    let st = v.stats();
    assert_eq!(st.front.ouch_ignored, 0);
    assert_eq!(st.protocol_errors, 0, "the venue saw a logout, not garbage");
    assert_no_resend(&v);
}

#[test]
fn connection_dropped_after_the_venue_applied_an_enter_resolves_live_from_the_replay() {
    let v = venue();
    let mut s = ready(&v, "drop-applied");
    v.ouch_hooks(|h| {
        h.drop_on = Some(b'O');
        h.drop_applies = true;
    });
    let a = buy(&mut s, 9_900, 600);
    until(&mut s, "disconnect", |s| {
        s.core().counters().disconnects == 1
    });
    // UNKNOWN, reserved as live by risk: 600 + 401 would pass the 1000 long limit only without it.
    assert_eq!(state(&s, a), Some(OrderState::Unknown));
    assert_eq!(
        s.core().risk().reservation(INST, a),
        Some(Reservation::Unknown)
    );
    assert_eq!(buy_fits(&s, 401), Err(DenyReason::MaxLong));
    assert_eq!(buy_fits(&s, 400), Ok(()));
    assert_eq!(v.resting_orders(), 1, "the venue did take it");
    until(&mut s, "reconciled", |s| s.core().phase() == Phase::Ready);
    // The replayed Accepted resolved it: live, reserved as live, nothing resent.
    assert_eq!(state(&s, a), Some(OrderState::New));
    assert_eq!(
        s.core().risk().reservation(INST, a),
        Some(Reservation::Live)
    );
    let c = s.core().counters();
    assert_eq!((c.logins, c.barriers, c.resolved_never_live), (2, 2, 0));
    assert!(c.resolved_live >= 1);
    assert_no_resend(&v);
    s.cancel(a).unwrap();
    until(&mut s, "canceled", |s| state(s, a).is_none());
    assert_eq!(v.resting_orders(), 0);
}

#[test]
fn connection_dropped_before_an_enter_reached_the_venue_resolves_never_live_by_the_barrier() {
    let v = venue();
    let mut s = ready(&v, "drop-lost");
    v.ouch_hooks(|h| {
        h.drop_on = Some(b'O');
        h.drop_applies = false;
    });
    let a = buy(&mut s, 9_900, 600);
    until(&mut s, "disconnect", |s| {
        s.core().counters().disconnects == 1
    });
    assert_eq!(state(&s, a), Some(OrderState::Unknown));
    assert_eq!(buy_fits(&s, 401), Err(DenyReason::MaxLong));
    // Entry waits for reconciliation.
    assert_eq!(
        s.enter(
            Side::Buy,
            Price::from_ticks(9_900),
            Qty::from_lots(1),
            false
        ),
        Err(Refusal::NotReady)
    );
    until(&mut s, "reconciled", |s| s.core().phase() == Phase::Ready);
    // No answer before the probe's: never received, released, never resent.
    assert_eq!(state(&s, a), None);
    assert!(s.core().was_never_live(a));
    assert_eq!(s.core().risk().open_orders(INST), 0);
    assert_eq!(buy_fits(&s, 1000), Ok(()));
    assert_eq!(v.resting_orders(), 0);
    assert_eq!(s.core().counters().resolved_never_live, 1);
    assert_eq!(v.ouch_hooks(|h| h.tokens.get(&a.0).copied()), Some(1));
    assert_no_resend(&v);
    // Trading resumes with a fresh token.
    let b = buy(&mut s, 9_900, 100);
    assert!(b.0 > a.0);
    until(&mut s, "accepted", |s| state(s, b) == Some(OrderState::New));
}

#[test]
fn an_answer_held_past_the_timeout_makes_the_order_unknown_until_it_arrives() {
    let v = venue();
    let mut s = ready(&v, "hold");
    v.ouch_hooks(|h| {
        h.hold_on = Some(b'O');
        h.hold_ms = 1_500;
    });
    let a = buy(&mut s, 9_900, 600);
    until(&mut s, "timeout", |s| {
        state(s, a) == Some(OrderState::Unknown)
    });
    assert_eq!(s.core().phase(), Phase::Reconciling, "a probe is out");
    assert_eq!(
        s.core().risk().reservation(INST, a),
        Some(Reservation::Unknown)
    );
    assert_eq!(buy_fits(&s, 401), Err(DenyReason::MaxLong));
    until(&mut s, "resolved", |s| s.core().phase() == Phase::Ready);
    assert_eq!(state(&s, a), Some(OrderState::New));
    let c = s.core().counters();
    assert_eq!(c.disconnects, 0, "the link stayed up");
    assert_eq!((c.unknown, c.resolved_live), (1, 1));
    assert!(c.probes >= 2, "the login's probe, then the timeout's");
    assert_no_resend(&v);
}

#[test]
fn a_cancel_the_venue_never_received_is_found_by_the_barrier_and_sent_again() {
    let v = venue();
    let mut s = ready(&v, "lost-cancel");
    let a = buy(&mut s, 9_900, 300);
    until(&mut s, "accepted", |s| state(s, a) == Some(OrderState::New));
    v.ouch_hooks(|h| {
        h.drop_on = Some(b'X');
        h.drop_applies = false;
    });
    s.cancel(a).unwrap();
    until(&mut s, "disconnect", |s| {
        s.core().counters().disconnects == 1
    });
    assert_eq!(state(&s, a), Some(OrderState::Unknown));
    until(&mut s, "canceled after reconcile", |s| {
        state(s, a).is_none()
    });
    let c = s.core().counters();
    assert_eq!((c.cancels, c.cancels_resent), (2, 1));
    assert_eq!(v.resting_orders(), 0);
    assert_eq!(s.core().risk().open_orders(INST), 0);
    assert_no_resend(&v);
}

#[test]
fn a_fill_in_the_replay_counts_once_and_replayed_duplicates_are_skipped_by_number() {
    let v = venue();
    let mut s = ready(&v, "replay");
    let a = buy(&mut s, 9_900, 500);
    until(&mut s, "accepted", |s| state(s, a) == Some(OrderState::New));
    let applied = s.core().applied_through();
    // We lose the connection; meanwhile the crowd fills 200 of it.
    s.disconnect();
    v.with_front(|f| {
        f.apply_flow(FlowAction::Execute {
            side: Side::Sell,
            qty: Qty::from_lots(200),
        })
    });
    // The server's replay starts 2 messages early: already applied, skipped by number.
    v.ouch_hooks(|h| h.replay_overlap = 2);
    until(&mut s, "reconciled", |s| s.core().phase() == Phase::Ready);
    assert_eq!(
        s.core().risk().position(INST),
        Some(200),
        "the fill counted once"
    );
    assert_eq!(state(&s, a), Some(OrderState::PartiallyFilled));
    let c = s.core().counters();
    assert_eq!((c.replay_skipped, c.executions), (2, 1));
    assert!(s.core().applied_through() > applied);
    assert_eq!(v.ouch_hooks(|h| h.replay_overlap), 0, "the hook fired");
    assert_no_resend(&v);
}

#[test]
fn a_login_rejected_once_is_retried_and_a_wrong_password_fails_without_retrying() {
    let v = venue();
    v.ouch_hooks(|h| h.reject_logins = 1);
    let s = ready(&v, "reject-once");
    let c = s.core().counters();
    assert_eq!((c.login_rejects, c.logins), (1, 1));
    assert_eq!(s.core().last_login_reject(), b'S');
    drop(s);

    let mut bad = OuchSession::new(&config(
        &v,
        "bad-password",
        serde_json::json!({"password": "wrong"}),
    ))
    .unwrap();
    until(&mut bad, "failed", |s| s.core().phase() == Phase::Failed);
    assert_eq!(bad.core().failure(), Some(Failure::NotAuthorized));
    let rejects = v.stats().login_rejects;
    // No retry storm: the session stays failed and never connects again.
    let deadline = mono_ms() + 500;
    while mono_ms() < deadline {
        bad.poll();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(bad.core().counters().connects, 1);
    assert_eq!(v.stats().login_rejects, rejects);
}

#[test]
fn server_silence_loses_the_session_and_orders_stay_reserved_until_reconciled() {
    // The venue heartbeats every 5 s; the session gives up after 600 ms of silence.
    let v = venue_with(5_000);
    let mut s = OuchSession::new(&config(
        &v,
        "silence",
        serde_json::json!({"server_timeout_ms": 600}),
    ))
    .unwrap();
    s.core_mut()
        .risk_mut()
        .set_reference(INST, Price::from_ticks(9_900), now());
    until(&mut s, "ready", |s| s.core().phase() == Phase::Ready);
    let a = buy(&mut s, 9_900, 100);
    until(&mut s, "accepted", |s| state(s, a) == Some(OrderState::New));
    until(&mut s, "silence", |s| {
        s.core().counters().server_timeouts >= 1
    });
    assert_eq!(
        state(&s, a),
        Some(OrderState::Unknown),
        "reconnect ⇒ UNKNOWN"
    );
    assert_eq!(s.core().risk().open_orders(INST), 1);
    until(&mut s, "reconciled", |s| s.core().phase() == Phase::Ready);
    assert_eq!(state(&s, a), Some(OrderState::New));
    assert_no_resend(&v);
}
