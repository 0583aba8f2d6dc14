//! Measures L3 book apply (and ITCH decode + apply) in ns per update on recorded order flow:
//! LOBSTER AMZN level 5 converted to ITCH, and Databento ESH4 MBO.
//!
//! `cargo run --release -p pymm-native --example l3_apply` (PYMM_DATA_DIR as for the tests).
//! Mean over whole replays (the clock is read twice per replay, not per update).
#![allow(clippy::print_stdout, clippy::disallowed_methods)] // a measurement tool: prints, reads a clock

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use _native::book::{L3Book, L3Config};
use _native::feed::arbiter::{Arbiter, ArbiterConfig, Line};
use _native::feed::dbn::DbnFile;
use _native::feed::itch;
use _native::feed::lobster_to_itch::{convert, datagrams};
use _native::model::{InstrumentId, OrderEvent, UnixNanos};

const ROUNDS: usize = 20;

fn best_of(mut f: impl FnMut() -> u64) -> (f64, u64) {
    let mut best = f64::MAX;
    let mut n = 0;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        n = f();
        best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
    }
    (best, n)
}

fn apply_all(events: &[OrderEvent], auction: bool) -> (f64, u64) {
    // One book, cleared between rounds outside the timed region: the steady state of a feed thread.
    let mut b = L3Book::new(InstrumentId(1), L3Config::default());
    b.set_auction(auction);
    let mut best = f64::MAX;
    for _ in 0..ROUNDS {
        b.clear();
        let t = Instant::now();
        let mut ok = 0u64;
        for e in events {
            ok += u64::from(b.apply(black_box(e)).is_ok());
        }
        black_box(ok);
        best = best.min(t.elapsed().as_nanos() as f64 / events.len() as f64);
    }
    (best, events.len() as u64)
}

fn main() {
    let dir = std::env::var_os("PYMM_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    let lob = dir.join("lobster_2012-06-21_amzn_aapl/AMZN_2012-06-21_34200000_57600000");
    let msg = PathBuf::from(format!("{}_message_5.csv.gz", lob.display()));
    let book = PathBuf::from(format!("{}_orderbook_5.csv.gz", lob.display()));
    let mold = std::env::temp_dir().join(format!("pymm-bench-{}.mold", std::process::id()));
    convert(&msg, &book, "AMZN", &mold).expect("LOBSTER data (set PYMM_DATA_DIR)");
    let bytes = std::fs::read(&mold).expect("mold file");
    let _ = std::fs::remove_file(&mold);
    let pkts: Vec<&[u8]> = datagrams(&bytes).map(|d| d.expect("datagram")).collect();
    let mut events = Vec::new();
    let mut arb = Arbiter::new(1, ArbiterConfig::default());
    for p in &pkts {
        let _ = arb.on_packet(Line::A, p, &mut |seq, m| {
            if let Some(ev) = itch::decode(m)
                .ok()
                .and_then(|m| m.order_event(UnixNanos(0), seq, UnixNanos(0)))
            {
                events.push(ev);
            }
        });
    }
    let (ns, n) = apply_all(&events, false);
    println!("AMZN (LOBSTER L5 via ITCH): L3 apply {ns:.1} ns/update over {n} updates (best of {ROUNDS})");

    let mut b = L3Book::new(InstrumentId(1), L3Config::default());
    let (ns, n) = best_of(|| {
        b.clear();
        let mut arb = Arbiter::new(1, ArbiterConfig::default());
        let mut count = 0u64;
        for p in &pkts {
            let _ = arb.on_packet(Line::A, p, &mut |seq, m| {
                count += 1;
                if let Ok(m) = itch::decode(m) {
                    if let Some(ev) = m.order_event(UnixNanos(0), seq, UnixNanos(0)) {
                        let _ = black_box(b.apply(&ev));
                    }
                }
            });
        }
        count
    });
    println!(
        "AMZN: MoldUDP64 + arbiter + ITCH decode + L3 apply {ns:.1} ns/message over {n} messages"
    );

    let esh4 = dir.join("databento_glbx_mbo_esh4_2023-12-25/esh4-glbx-mdp3-20231225.mbo.dbn.zst");
    let f = DbnFile::read(&esh4).expect("ESH4");
    let events: Vec<OrderEvent> = f
        .mbo_records()
        .expect("records")
        .iter()
        .filter_map(|r| r.order_event(250_000_000))
        .collect();
    let (ns, n) = apply_all(&events, true);
    println!(
        "ESH4 (DBN MBO A/C/M/R): L3 apply {ns:.1} ns/update over {n} updates (best of {ROUNDS})"
    );
}
