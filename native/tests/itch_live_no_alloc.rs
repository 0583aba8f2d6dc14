//! The live ITCH/OUCH engine loop makes no allocation per pass after warm-up: multicast datagrams
//! (with loss on the line, so re-requests and their replies are in the window), the L3 book, the
//! quoter, orders through the OUCH session over a real loopback TCP connection, the venue's answers
//! and fills, parameter pushes and status publishing — all driven by `ItchLoop::step` on the test
//! thread against the simulated exchange.
//!
//! The journal is on: every input is appended on the test thread (the writer thread allocates
//! freely), and the journal is verified at the end.
//!
//! The counting global allocator counts per thread: the venue's threads (which allocate freely) do
//! not disturb the count of the test thread, which owns and steps the loop.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::sync::Arc;

use std::path::{Path, PathBuf};

use _native::engine::itch_live::{Command, ItchEngineConfig, ItchLoop, ItchShared};
use _native::engine::ouch_session::Phase;
use _native::engine::params::{param_block, ParamWriter};
use _native::journal::{open_engine_journal, JournalConfig};
use _native::model::Side;
use _native::net::ring::{self, Producer};
use _native::quoter::{Anchor, QuoteParams, QUOTE_PARAM_WORDS};
use _native::time::posix_clock::PosixClock;
use _native::venue::itch_venue::{ItchVenue, ItchVenueConfig, LineFaultConfig};

#[global_allocator]
static GLOBAL: common::CountingAllocator = common::CountingAllocator;

fn free_port(tcp: bool) -> u16 {
    if tcp {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    } else {
        UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }
}

fn params(half_spread_mt: i64) -> QuoteParams {
    QuoteParams {
        enabled: 1,
        anchor: Anchor::Mid as i64,
        fair_value_mt: 0,
        half_spread_mt,
        skew_mt_per_lot: 0,
        levels: 3,
        level_spacing_ticks: 1,
        size_lots: 10,
        max_inventory_lots: 1000,
        requote_ticks: 1,
        ttl_ns: 0,
        post_only: 1,
    }
}

struct Rig {
    lp: ItchLoop,
    venue: ItchVenue,
    writer: ParamWriter<QuoteParams, QUOTE_PARAM_WORDS>,
    cmd_tx: Producer<Command>,
    dir: PathBuf,
}

fn mono() -> u64 {
    PosixClock::Monotonic.now_ns()
}

fn run_until(lp: &mut ItchLoop, what: &str, cond: &dyn Fn(&ItchLoop) -> bool) {
    let deadline = mono() + 60_000_000_000;
    while !cond(lp) {
        lp.step();
        assert!(mono() < deadline, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_micros(50));
    }
}

/// The loop (journal in `dir/journal`: from the config, or opened with `journal` when given)
/// against a venue on multicast group `239.1.24.group` (and line B on `group + 1` when `line_b`:
/// both lines then lose and reorder packets), quoting.
fn rig(name: &str, group: u8, journal: Option<JournalConfig>, line_b: bool) -> Rig {
    let (ouch_port, rr_port) = (free_port(true), free_port(false));
    let dir = std::env::temp_dir().join(format!("pymm-itchlive-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg: ItchEngineConfig = serde_json::from_value(serde_json::json!({
        "feed": format!("239.1.24.{group}:0"),
        "rerequest": format!("127.0.0.1:{rr_port}"),
        "journal_dir": dir.join("journal").to_string_lossy(),
        "ouch": {
            "addr": format!("127.0.0.1:{ouch_port}"),
            "user": "PYMM", "password": "pymm", "symbol": "PYMM", "tick": "0.01",
            "client_id_file": dir.join("ids").to_string_lossy(),
            "heartbeat_ms": 20,
            "risk": {
                "max_order_qty": "1000", "max_order_notional": "500000", "price_collar_bps": 500,
                "max_reference_age_ms": 600000, "max_long": "100000", "max_short": "100000",
                "max_position_notional": "100000000", "max_open_orders": 40,
                "venue_orders_per_second": 100000, "venue_orders_burst": 100000,
                "messages_per_second": 100000, "messages_burst": 100000
            }
        }
    }))
    .unwrap();
    let cfg = ItchEngineConfig {
        feed_b: line_b.then(|| format!("239.1.24.{}:0", group + 1)),
        ..cfg
    };
    let (mut writer, reader) = param_block(QuoteParams::DISABLED);
    let (cmd_tx, cmd_rx) = ring::channel::<Command>(16);
    let shared = Arc::new(ItchShared::new());
    let lp = match journal {
        None => ItchLoop::new(&cfg, reader, cmd_rx, shared).unwrap(),
        Some(jc) => {
            let j = open_engine_journal(&cfg.journal_dir.clone().unwrap(), None, None, jc).unwrap();
            ItchLoop::with_journal(&cfg, reader, cmd_rx, shared, Some(j)).unwrap()
        }
    };
    let venue = ItchVenue::start(
        ItchVenueConfig {
            itch_a: SocketAddrV4::new(Ipv4Addr::new(239, 1, 24, group), lp.feed_port()),
            itch_b: SocketAddrV4::new(
                Ipv4Addr::new(239, 1, 24, group + 1),
                lp.feed_b_port().unwrap_or(9),
            ),
            rerequest: SocketAddrV4::new(Ipv4Addr::LOCALHOST, rr_port),
            ouch: SocketAddrV4::new(Ipv4Addr::LOCALHOST, ouch_port),
            heartbeat_ms: 50,
            interval_us: 300,
            faults_a: LineFaultConfig {
                seed: 11,
                drop: 0.02,
                reorder: if line_b { 0.02 } else { 0.0 },
                ..LineFaultConfig::default()
            },
            faults_b: LineFaultConfig {
                seed: 12,
                drop: 0.02,
                reorder: 0.02,
                ..LineFaultConfig::default()
            },
            ..ItchVenueConfig::default()
        },
        None,
    )
    .unwrap();
    writer.write(params(1_000));
    Rig {
        lp,
        venue,
        writer,
        cmd_tx,
        dir,
    }
}

/// Closes the journal (everything appended written) and checks it is intact up to `last`.
fn close_and_verify(mut lp: ItchLoop, venue: ItchVenue, dir: &Path, last: u64) {
    lp.close_journal().unwrap().unwrap();
    let report = _native::journal::verify(&dir.join("journal")).unwrap();
    assert!(report.is_intact(), "{:?}", report.first_bad);
    assert_eq!(report.last_seq, Some(last));
    drop(venue);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_refused_journal_append_latches_the_kill_and_nothing_new_is_sent() {
    // A writer that naps 2 s behind a 4096-record ring: the feed fills the ring in about a second
    // (usually after the first quotes went out).
    let jc = JournalConfig {
        ring_capacity: 4096,
        idle_sleep: std::time::Duration::from_secs(2),
        ..JournalConfig::default()
    };
    let Rig {
        mut lp,
        venue,
        cmd_tx: mut cmd,
        dir,
        ..
    } = rig("halt", 5, Some(jc), false);
    run_until(&mut lp, "the halt", &|lp| lp.journal_halted());
    let at_halt = lp.journal_seq();
    eprintln!(
        "halted at seq {at_halt} after {} orders entered",
        lp.session().core().counters().entered
    );
    run_until(&mut lp, "the kill latched", &|lp| {
        lp.session().core().risk().is_killed()
    });
    // Whatever the session does from now on, nothing new is entered, and a lift is refused.
    cmd.push(Command::Lift).unwrap();
    let entered = lp.session().core().counters().entered;
    let end = mono() + 1_000_000_000;
    while mono() < end {
        lp.step();
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    let c = lp.session().core().counters();
    assert!(
        lp.session().core().risk().is_killed(),
        "the lift was applied"
    );
    assert_eq!(c.entered, entered, "entered after the halt: {c:?}");
    assert!(lp.core().quoter().working(Side::Buy).next().is_none());
    assert_eq!(lp.journal_seq(), at_halt, "journalled after the halt");
    // What was journalled is an intact prefix ending at the halt.
    close_and_verify(lp, venue, &dir, at_halt);
}

#[test]
fn itch_live_loop_allocates_nothing_per_pass_after_warm_up() {
    common::assert_counting();
    let Rig {
        mut lp,
        venue,
        mut writer,
        mut cmd_tx,
        dir,
    } = rig("noalloc", 1, None, true);
    // Warm-up: connect, log in, reconcile, quote, a few fills; line B won a datagram line A lost,
    // one was parked ahead of a hole, and the re-request server filled one both lines lost.
    run_until(&mut lp, "warm-up", &|lp| {
        let c = lp.session().core().counters();
        let f = lp.core().feed_counters();
        lp.session().core().phase() == Phase::Ready
            && c.executions >= 2
            && f.won[1] >= 1
            && f.reordered >= 1
            && f.won[2] >= 1
    });
    let before = common::allocations();
    let (f0, o0) = (lp.core().feed_counters(), lp.session().core().counters());
    let end = mono() + 3_000_000_000;
    let mut pushes = 0;
    while mono() < end {
        lp.step();
        // A parameter push every ~100 ms (wider, then tighter) moves every quote.
        if (mono() / 100_000_000) % 2 == pushes % 2 {
            pushes += 1;
            writer.write(params(if pushes % 2 == 0 { 1_000 } else { 3_000 }));
        }
        std::thread::sleep(std::time::Duration::from_micros(50));
    }
    let allocs = common::allocations() - before;
    let journalled = lp.journal_seq();
    let (f1, o1) = (lp.core().feed_counters(), lp.session().core().counters());
    let feed = f1.applied - f0.applied;
    let gaps = f1.gaps - f0.gaps;
    let won_b = f1.won[1] - f0.won[1];
    let orders = o1.entered + o1.replaces + o1.cancels - o0.entered - o0.replaces - o0.cancels;
    assert!(
        feed > 100 && orders > 10,
        "too little traffic: {f1:?} {o1:?}"
    );
    assert_eq!(o1.disconnects, 0, "{o1:?}");
    assert_eq!(
        allocs, 0,
        "allocations over {feed} ITCH messages, {won_b} from line B, {gaps} gaps, {orders} orders, \
         {pushes} pushes"
    );
    assert!(!lp.journal_halted(), "the journal refused a record");
    assert!(
        journalled > feed,
        "{journalled} records for {feed} ITCH messages"
    );
    // Kill then an orderly stop, through the command ring.
    cmd_tx.push(Command::Kill).unwrap();
    run_until(&mut lp, "kill", &|lp| {
        lp.session().core().open_orders() == 0 && lp.session().core().risk().is_killed()
    });
    cmd_tx.push(Command::Stop).unwrap();
    run_until(&mut lp, "stop", &|lp| lp.done());
    let last = lp.journal_seq();
    close_and_verify(lp, venue, &dir, last);
}
