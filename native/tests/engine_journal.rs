//! The engine's journal is the journal (#11): a session core's inputs written as the journal's typed
//! records (and `SessionInput` for the rest) replay through `journal::replay` to the digest the live
//! core reported, decode in `LedgerState`, and replay deterministically: twice, on one pinned core
//! versus two threads, the same digest and the same order-connection bytes the live core sent.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use _native::engine::affinity;
use _native::engine::events::event_ring;
use _native::engine::live::build_core;
use _native::engine::params::param_block;
use _native::engine::pipeline::PipelineInstrument;
use _native::engine::session::{
    Command, ExecKind, FeeAsset, Input, InputDecoder, RecordCtx, SessionCore, SessionSettings,
    Stamped, VenueStatus,
};
use _native::feed::SequenceRule;
use _native::gateway::OrderState;
use _native::journal::snapshot::list_snapshots;
use _native::journal::snapshotter::{SnapshotPolicy, SnapshotStats, Snapshotter};
use _native::journal::{
    self, replay, AppendError, FsyncPolicy, JournalConfig, LedgerState, ReplayOptions, Replayable,
    StopAt,
};
use _native::model::{Asset, ClientOrderId, InstrumentId, Price, Qty, Scale, Side, UnixNanos};
use _native::net::transport::TxTransport;
use _native::quoter::{Anchor, QuoteParams, Top};
use _native::risk::{RateLimits, RiskLimits};

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "pymm-engine-journal-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Keeps every byte sent.
#[derive(Default)]
struct Bytes(Vec<u8>, u64);

impl TxTransport for Bytes {
    fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(data);
        self.1 += 1;
        Ok(data.len())
    }
}

const T0: u64 = 1_700_000_000_000_000_000;
const SEED: u64 = 42;

fn settings() -> SessionSettings {
    let mut symbol = [0u8; 20];
    symbol[..8].copy_from_slice(b"DOGEUSDT");
    let mut prefix = [0u8; 8];
    prefix[..2].copy_from_slice(b"pm");
    SessionSettings {
        inst: PipelineInstrument {
            id: InstrumentId(0),
            symbol,
            symbol_len: 8,
            tick: Scale::parse("0.00001").unwrap(),
            lot: Scale::parse("1").unwrap(),
            rule: SequenceRule::Spot,
        },
        limits: RiskLimits {
            max_order_qty: Qty::from_lots(10_000),
            max_order_notional: i128::MAX,
            price_collar_bps: 1_000,
            max_reference_age_ns: u64::MAX,
            max_long: Qty::from_lots(100_000),
            max_short: Qty::from_lots(100_000),
            max_position_notional: i128::MAX,
            max_open_orders: 40,
            duplicate_window_ns: 0,
            max_fills_in_window: 200,
            fill_window_ns: 1,
        },
        prefix,
        prefix_len: 2,
        order_timeout_ns: 1_000_000_000,
        venue_rate_guard_pct: 80,
    }
}

fn make() -> SessionCore {
    let (_w, r) = param_block(QuoteParams::DISABLED);
    let rates = RateLimits {
        venue_orders_burst: 1_000,
        venue_orders_per_second: 1_000,
        messages_burst: 1_000,
        messages_per_second: 1_000,
    };
    build_core(settings(), rates, r, event_ring(1 << 12).0, SEED)
}

const PARAMS: QuoteParams = QuoteParams {
    enabled: 1,
    anchor: Anchor::Mid as i64,
    fair_value_mt: 0,
    half_spread_mt: 1_000,
    skew_mt_per_lot: 0,
    levels: 2,
    level_spacing_ticks: 1,
    size_lots: 100,
    max_inventory_lots: 100_000,
    requote_ticks: 0,
    ttl_ns: 0,
    post_only: 1,
};

fn at(ms: u64, input: Input) -> Stamped {
    let t = UnixNanos(T0 + ms * 1_000_000);
    Stamped {
        ts_recv: t,
        ts_event: t,
        input,
    }
}

fn top(bid: i64, ask: i64) -> Input {
    Input::Top {
        top: Top {
            bid: Some((Price::from_ticks(bid), Qty::from_lots(1_000))),
            ask: Some((Price::from_ticks(ask), Qty::from_lots(1_000))),
        },
        stale: false,
    }
}

/// A live session: every input is journalled (as the live loop does: records first, then apply)
/// and applied; the venue's answers are scripted from what the core sent. Returns the live core and
/// the bytes it sent.
fn live_run(dir: &Path) -> (SessionCore, Bytes) {
    let (core, tx, _) = live_run_snapshotting(dir, None);
    (core, tx)
}

/// [`live_run`], with the writer thread's shadow-core snapshotter installed when `snap` is given.
fn live_run_snapshotting(
    dir: &Path,
    snap: Option<SnapshotPolicy>,
) -> (SessionCore, Bytes, Option<Arc<SnapshotStats>>) {
    let j = journal::open(
        dir,
        JournalConfig {
            fsync: FsyncPolicy::Never,
            segment_bytes: 1 << 20,
            ring_capacity: 1024,
            batch_bytes: 64 << 10,
            idle_sleep: Duration::from_micros(50),
            core: None,
        },
    )
    .unwrap();
    let stats = snap.map(|policy| {
        let (tap, stats) = Snapshotter::new(make(), 0, UnixNanos(0), UnixNanos(0), policy);
        j.writer.set_tap(Box::new(tap));
        stats
    });
    let mut h = j.handle;
    let mut core = make();
    let mut tx = Bytes::default();
    let ctx = RecordCtx {
        base: Asset::new("DOGE").unwrap(),
        quote: Asset::new("USDT").unwrap(),
        ..RecordCtx::default()
    };
    let mut feed = |core: &mut SessionCore, s: Stamped| {
        for rec in core.journal_records(&s, ctx).as_slice() {
            loop {
                match h.append(*rec) {
                    Ok(seq) => {
                        core.set_last_seq(seq);
                        break;
                    }
                    Err(AppendError::Full) => std::thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
        }
        core.apply(&s, &mut tx);
    };
    feed(
        &mut core,
        at(
            0,
            Input::IdBlock {
                next: 1_000,
                end: 2_000,
            },
        ),
    );
    feed(&mut core, at(0, Input::Params { params: PARAMS }));
    feed(&mut core, at(0, Input::OrderConnected));
    feed(&mut core, at(1, Input::OpenOrdersEnd { ok: true }));
    let mut ms = 2;
    for round in 0..40u64 {
        let mid = 16_900 + (round % 7) as i64 - 3;
        feed(&mut core, at(ms, top(mid - 1, mid + 1)));
        ms += 1;
        let live: Vec<_> = core
            .orders()
            .map(|o| (o.id, o.side, o.state, o.qty))
            .collect();
        for (k, (id, side, state, qty)) in live.into_iter().enumerate() {
            let venue_id = id.0 * 10;
            let input = match (state, (round + k as u64) % 9) {
                (OrderState::PendingNew, 0..=4) => Input::Ack { id, venue_id },
                (OrderState::PendingNew, 5) => Input::OrderError {
                    id,
                    status: 503,
                    code: -1007,
                },
                (OrderState::PendingNew, 6) => Input::OrderError {
                    id,
                    status: 400,
                    code: -2010,
                },
                (OrderState::New, 0..=2) => Input::Exec {
                    id,
                    venue_id,
                    kind: ExecKind::Trade,
                    status: VenueStatus::PartiallyFilled,
                    side,
                    last_qty: Qty::from_lots(qty.lots() / 4),
                    last_price: Price::from_ticks(mid),
                    last_quote: qty.lots() / 4 * mid * 1_000,
                    commission: 17,
                    fee_asset: if side == Side::Buy {
                        FeeAsset::Base
                    } else {
                        FeeAsset::Quote
                    },
                    cum_qty: Qty::from_lots(qty.lots() / 4),
                },
                (OrderState::PendingCancel, _) => Input::CancelAck { id },
                (OrderState::Unknown, _) => Input::Status {
                    id,
                    found: k % 2 == 0,
                    status: if k % 2 == 0 {
                        VenueStatus::Canceled
                    } else {
                        VenueStatus::Other
                    },
                    executed: Qty::ZERO,
                    cum_quote: 0,
                    venue_id,
                },
                (OrderState::New, 3) => Input::Exec {
                    id,
                    venue_id,
                    kind: ExecKind::Canceled,
                    status: VenueStatus::Canceled,
                    side,
                    last_qty: Qty::ZERO,
                    last_price: Price::ZERO,
                    last_quote: 0,
                    commission: 0,
                    fee_asset: FeeAsset::None,
                    cum_qty: Qty::ZERO,
                },
                _ => continue,
            };
            feed(&mut core, at(ms, input));
        }
        feed(&mut core, at(ms, Input::Tick));
        ms += 300;
        match round {
            10 => feed(
                &mut core,
                at(
                    ms,
                    Input::Rate {
                        orders_10s: 3,
                        orders_10s_limit: 50,
                        weight_1m: 9,
                        weight_1m_limit: 6000,
                    },
                ),
            ),
            15 => feed(&mut core, at(ms, Input::Command(Command::Kill))),
            16 => feed(&mut core, at(ms, Input::CancelAllDone { code: 0 })),
            18 => feed(&mut core, at(ms, Input::Command(Command::Lift))),
            // A code beyond i32: written as the exact SessionInput fallback.
            20 => feed(
                &mut core,
                at(
                    ms,
                    Input::CancelError {
                        id: ClientOrderId(1_001),
                        status: 400,
                        code: 1 << 40,
                    },
                ),
            ),
            25 => feed(&mut core, at(ms, Input::OrderDisconnected)),
            26 => {
                feed(&mut core, at(ms, Input::OrderConnected));
                feed(
                    &mut core,
                    at(
                        ms,
                        Input::OpenOrder {
                            id: Some(ClientOrderId(1_999)),
                            status: VenueStatus::New,
                            executed: Qty::ZERO,
                            cum_quote: 0,
                            venue_id: 5,
                        },
                    ),
                );
                feed(&mut core, at(ms, Input::OpenOrdersEnd { ok: true }));
            }
            30 => feed(
                &mut core,
                at(
                    ms,
                    Input::Params {
                        params: QuoteParams {
                            half_spread_mt: 2_000,
                            ..PARAMS
                        },
                    },
                ),
            ),
            _ => {}
        }
    }
    drop(h);
    j.writer.close().unwrap();
    (core, tx, stats)
}

/// Replays `dir` with its own decoder and transport.
fn replay_bytes(dir: &Path) -> (SessionCore, Bytes) {
    let mut core = make();
    let mut tx = Bytes::default();
    for r in journal::JournalReader::open(dir).unwrap() {
        core.apply_record(&r.unwrap().record, &mut tx).unwrap();
    }
    (core, tx)
}

#[test]
fn engine_journal_replays_to_the_live_digest_and_decodes_in_the_ledger() {
    let d = TempDir::new("live");
    let (live, live_tx) = live_run(d.path());
    assert!(live.account().fills > 0, "the scenario fills orders");
    assert!(
        live.counters().unknown > 0,
        "the scenario has UNKNOWN orders"
    );
    // The journal's replay driver rebuilds the core (restore-by-replay: no snapshots).
    let (core, report) = replay(d.path(), make, &ReplayOptions::default()).unwrap();
    assert_eq!(report.last_seq, live.last_seq());
    assert_eq!(report.digest, live.digest());
    assert_eq!(core.account(), live.account());
    // Bit for bit: the replayed core sends exactly the bytes the live core sent.
    let (again, tx) = replay_bytes(d.path());
    assert_eq!(again.digest(), live.digest());
    assert_eq!(tx.1, live_tx.1);
    assert!(
        tx.0 == live_tx.0,
        "replayed output bytes differ from the live run's"
    );
    // The same journal decodes in the ledger: orders, fills, the kill latch, parameter words.
    let (ledger, lrep) = replay(d.path(), LedgerState::new, &ReplayOptions::default()).unwrap();
    assert_eq!(lrep.last_seq, live.last_seq());
    let pos = ledger.instruments.get(&0).map_or(0, |i| i.position.qty);
    assert_eq!(
        pos,
        i128::from(live.core().risk().position(InstrumentId(0)).unwrap())
    );
    assert!(!ledger.kill.latched);
    assert_eq!(ledger.kill.kills, 1);
    assert_eq!(ledger.params.words.len(), 12);
    assert!(ledger.orders.keys().all(|&id| (1_000..2_000).contains(&id)));
    assert!(ledger.orders.values().any(|o| o.status == "REJECTED"));
    assert!(ledger
        .orders
        .values()
        .any(|o| o.status == "UNKNOWN" || o.status == "CANCELED"));
    assert!(ledger.counts.get("session_input").copied().unwrap_or(0) > 0);
    // A replay stopped at any seq matches a prefix replay by hand.
    for stop in [1, 5, live.last_seq() / 2, live.last_seq() - 1] {
        let opts = ReplayOptions {
            stop: StopAt::Seq(stop),
            ..ReplayOptions::default()
        };
        let (_, r) = replay(d.path(), make, &opts).unwrap();
        let mut c = make();
        for rec in journal::JournalReader::open(d.path()).unwrap() {
            let rec = rec.unwrap().record;
            if rec.seq > stop {
                break;
            }
            Replayable::apply(&mut c, &rec).unwrap();
        }
        assert_eq!(r.digest, Replayable::digest(&c));
    }
}

#[test]
fn every_input_reads_back_exactly() {
    let inputs = [
        Input::IdBlock { next: 5, end: 9 },
        Input::Restart,
        Input::Params { params: PARAMS },
        Input::Command(Command::Stop),
        Input::Tick,
        Input::Ack {
            id: ClientOrderId(3),
            venue_id: 0,
        },
        Input::Status {
            id: ClientOrderId(3),
            found: false,
            status: VenueStatus::Other,
            executed: Qty::ZERO,
            cum_quote: 0,
            venue_id: 0,
        },
        Input::Status {
            id: ClientOrderId(3),
            found: true,
            status: VenueStatus::Expired,
            executed: Qty::from_lots(4),
            cum_quote: -7,
            venue_id: 9,
        },
        Input::StatusError {
            id: ClientOrderId(3),
            code: -1000,
        },
        Input::OrderError {
            id: ClientOrderId(3),
            status: 418,
            code: i64::MIN,
        },
        Input::Exec {
            id: ClientOrderId(3),
            venue_id: 1,
            kind: ExecKind::Other,
            status: VenueStatus::New,
            side: Side::Sell,
            last_qty: Qty::ZERO,
            last_price: Price::from_ticks(5),
            last_quote: 0,
            commission: 0,
            fee_asset: FeeAsset::None,
            cum_qty: Qty::ZERO,
        },
        Input::Exec {
            id: ClientOrderId(3),
            venue_id: 1,
            kind: ExecKind::Trade,
            status: VenueStatus::Filled,
            side: Side::Sell,
            last_qty: Qty::from_lots(2),
            last_price: Price::from_ticks(5),
            last_quote: 10,
            commission: 123_456_789,
            fee_asset: FeeAsset::Other,
            cum_qty: Qty::from_lots(2),
        },
    ];
    for (k, input) in inputs.into_iter().enumerate() {
        let s = at(k as u64, input);
        let mut dec = InputDecoder::default();
        let mut got = None;
        for rec in s.to_records().as_slice() {
            if let Some(x) = dec.decode(rec).unwrap() {
                assert!(got.is_none());
                got = Some(x);
            }
        }
        assert_eq!(got, Some(s), "{input:?}");
    }
}

#[test]
fn replay_twice_and_pinned_versus_two_threads_is_identical() {
    let d = TempDir::new("threads");
    let (live, live_tx) = live_run(d.path());
    let path = d.path().to_path_buf();
    let run = move |pin: Option<usize>| {
        let path = path.clone();
        std::thread::spawn(move || {
            if let Some(c) = pin {
                affinity::pin_current_thread(c).unwrap();
            }
            let (core, tx) = replay_bytes(&path);
            (core.digest(), tx.0)
        })
    };
    let cores = affinity::allowed_cores().unwrap();
    let (c0, c1) = (cores[0], cores.get(1).copied().unwrap_or(cores[0]));
    let one = run(Some(c0)).join().unwrap();
    let twice = run(None).join().unwrap();
    let (a, b) = (run(Some(c0)), run(Some(c1)));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    for r in [&twice, &a, &b] {
        assert_eq!(r.0, one.0);
        assert!(r.1 == one.1);
    }
    assert_eq!(one.0, live.digest());
    assert!(one.1 == live_tx.0);
}

/// `restore(snapshot(x))` on a fresh core: the same digest, the same snapshot bytes, and from there
/// the same decisions, frame bytes and digest as `x` — at every seq of the scenario's journal.
#[test]
fn session_snapshot_round_trips_at_every_seq() {
    let d = TempDir::new("snaprt");
    let (live, _) = live_run(d.path());
    let recs: Vec<_> = journal::JournalReader::open(d.path())
        .unwrap()
        .map(|r| r.unwrap().record)
        .collect();
    let mut core = make();
    let mut tx = Bytes::default();
    for (k, rec) in recs.iter().enumerate() {
        core.apply_record(rec, &mut tx).unwrap();
        let mut a = Vec::new();
        Replayable::snapshot(&core, &mut a);
        let mut back = make();
        back.restore(&a).unwrap();
        assert_eq!(back.digest(), core.digest(), "seq {}", rec.seq);
        let mut b = Vec::new();
        Replayable::snapshot(&back, &mut b);
        assert!(
            a == b,
            "seq {}: snapshot of the restored core differs",
            rec.seq
        );
        if k % 97 == 0 {
            // The restored core continues exactly as the original does.
            let (mut x, mut y) = (make(), back);
            x.restore(&a).unwrap();
            let (mut tx_x, mut tx_y) = (Bytes::default(), Bytes::default());
            for r in &recs[k + 1..] {
                x.apply_record(r, &mut tx_x).unwrap();
                y.apply_record(r, &mut tx_y).unwrap();
            }
            assert_eq!(x.digest(), live.digest());
            assert_eq!(y.digest(), live.digest());
            assert!(tx_x.0 == tx_y.0 && tx_x.1 == tx_y.1);
        }
    }
    assert_eq!(core.digest(), live.digest());
    // Damaged state bytes are refused with a reason, never half-used.
    let mut a = Vec::new();
    Replayable::snapshot(&core, &mut a);
    for cut in [0, 1, a.len() / 2, a.len() - 1] {
        let e = make().restore(&a[..cut]).unwrap_err();
        assert!(e.to_string().contains("session snapshot"), "{e}");
    }
    a.push(0);
    assert!(make()
        .restore(&a)
        .unwrap_err()
        .to_string()
        .contains("trailing"));
}

/// The writer thread's shadow core writes snapshots while the session runs; recovery from the
/// latest snapshot plus the journal tail equals a replay from genesis and the live core; a
/// damaged newest snapshot is passed over (reported) for the next older one.
#[test]
fn recovery_from_writer_snapshots_equals_genesis_and_skips_a_bad_one() {
    let d = TempDir::new("snaprec");
    let policy = SnapshotPolicy {
        every_records: 15,
        every: Duration::ZERO,
        keep: 3,
        at_close: false,
    };
    let (live, _, stats) = live_run_snapshotting(d.path(), Some(policy));
    let stats = stats.unwrap();
    let written = stats.written.load(Ordering::Acquire);
    assert!(written >= 3, "snapshots written: {written}");
    assert_eq!(stats.errors.load(Ordering::Acquire), 0);
    let snaps = list_snapshots(d.path()).unwrap();
    assert_eq!(snaps.len(), 3, "older snapshots are pruned: {snaps:?}");
    let newest = snaps[2].0;
    assert!(newest < live.last_seq(), "a tail remains to replay");
    let (_, genesis) = replay(d.path(), make, &ReplayOptions::default()).unwrap();
    let opts = ReplayOptions {
        use_snapshots: true,
        ..ReplayOptions::default()
    };
    let (core, from_snap) = replay(d.path(), make, &opts).unwrap();
    assert_eq!(from_snap.snapshot.as_ref().map(|s| s.0), Some(newest));
    assert!(from_snap.skipped.is_empty(), "{:?}", from_snap.skipped);
    assert_eq!(from_snap.applied, live.last_seq() - newest);
    assert_eq!(from_snap.digest, genesis.digest);
    assert_eq!(from_snap.digest, live.digest());
    assert_eq!(core.account(), live.account());
    assert!(from_snap.applied < genesis.applied / 10);
    // Damage the newest snapshot: it is skipped with its reason, the next older one is used.
    let path = &snaps[2].1;
    let mut b = std::fs::read(path).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0x40;
    std::fs::write(path, &b).unwrap();
    let (_, r) = replay(d.path(), make, &opts).unwrap();
    assert_eq!(r.snapshot.as_ref().map(|s| s.0), Some(snaps[1].0));
    assert_eq!(r.skipped.len(), 1);
    assert_eq!(r.skipped[0].seq, newest);
    assert!(r.skipped[0].reason.contains("checksum"), "{:?}", r.skipped);
    assert_eq!(r.digest, live.digest());
    // Every snapshot damaged: genesis, every one reported.
    for (_, p) in &snaps[..2] {
        std::fs::write(p, b"PYMMSNAP").unwrap();
    }
    let (_, r) = replay(d.path(), make, &opts).unwrap();
    assert_eq!((r.snapshot.clone(), r.skipped.len()), (None, 3));
    assert_eq!(r.digest, live.digest());
}

mod random_streams {
    use super::*;
    use proptest::prelude::*;

    /// One scripted input from `(op, a, b)`, naming orders by index into the core's table (so it
    /// depends only on the core's state: two equal cores get the same input).
    fn input(core: &SessionCore, op: u8, a: u64, b: u64) -> Input {
        let orders: Vec<_> = core.orders().copied().collect();
        let pick = (!orders.is_empty()).then(|| orders[(a as usize) % orders.len()]);
        match (op % 12, pick) {
            (0..=3, _) => {
                let mid = 16_900 + (b % 9) as i64;
                top(mid - 1 - (a % 2) as i64, mid + 1)
            }
            (4, _) => Input::Tick,
            (5, Some(o)) => Input::Ack {
                id: o.id,
                venue_id: o.id.0 * 10,
            },
            (6, Some(o)) => Input::Exec {
                id: o.id,
                venue_id: o.id.0 * 10,
                kind: ExecKind::Trade,
                status: VenueStatus::PartiallyFilled,
                side: o.side,
                last_qty: Qty::from_lots((o.qty.lots() - o.filled.lots()).min(1 + (b % 50) as i64)),
                last_price: o.price,
                last_quote: 1_000 * o.price.ticks(),
                commission: (b % 20) as i64,
                fee_asset: FeeAsset::Quote,
                cum_qty: Qty::from_lots((o.filled.lots() + 1 + (b % 50) as i64).min(o.qty.lots())),
            },
            (7, Some(o)) => Input::CancelAck { id: o.id },
            (8, Some(o)) => Input::OrderError {
                id: o.id,
                status: 503,
                code: -1007,
            },
            (9, _) => match b % 6 {
                0 => Input::OrderDisconnected,
                1 => Input::OrderConnected,
                2 => Input::OpenOrdersEnd { ok: true },
                3 => Input::Command(Command::Kill),
                4 => Input::Command(Command::Lift),
                _ => Input::CancelAllDone { code: 0 },
            },
            (10, _) => Input::Params {
                params: QuoteParams {
                    half_spread_mt: 500 + 500 * (b % 4) as i64,
                    levels: 1 + (a % 3) as i64,
                    ..PARAMS
                },
            },
            (11, Some(o)) => Input::Status {
                id: o.id,
                found: b % 2 == 0,
                status: VenueStatus::Canceled,
                executed: Qty::ZERO,
                cum_quote: 0,
                venue_id: o.id.0 * 10,
            },
            _ => Input::Tick,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Random input streams, a snapshot at a random point: the restored core and the original
        /// agree on every later decision (frame bytes), the digest and the next snapshot's bytes.
        #[test]
        fn restore_of_snapshot_evolves_identically(
            ops in proptest::collection::vec((any::<u8>(), any::<u64>(), any::<u64>()), 1..300),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut x = make();
            let mut tx_x = Bytes::default();
            let start = [
                Input::IdBlock { next: 1_000, end: 5_000 },
                Input::Params { params: PARAMS },
                Input::OrderConnected,
                Input::OpenOrdersEnd { ok: true },
            ];
            for i in start {
                x.apply(&at(0, i), &mut tx_x);
            }
            let cut = cut.index(ops.len());
            let mut y = None;
            let mut tx_y = Bytes::default();
            for (k, &(op, a, b)) in ops.iter().enumerate() {
                if k == cut {
                    let mut bytes = Vec::new();
                    Replayable::snapshot(&x, &mut bytes);
                    let mut r = make();
                    r.restore(&bytes).unwrap();
                    prop_assert_eq!(r.digest(), x.digest());
                    y = Some(r);
                }
                let s = at(1 + k as u64 * 7, input(&x, op, a, b));
                x.apply(&s, &mut tx_x);
                if let Some(y) = y.as_mut() {
                    y.apply(&s, &mut tx_y);
                }
            }
            let y = y.unwrap();
            prop_assert_eq!(y.digest(), x.digest());
            let (mut a, mut b) = (Vec::new(), Vec::new());
            Replayable::snapshot(&x, &mut a);
            Replayable::snapshot(&y, &mut b);
            prop_assert!(a == b);
            let tail = &tx_x.0[tx_x.0.len() - tx_y.0.len()..];
            prop_assert!(tail == tx_y.0.as_slice(), "the restored core sent other bytes");
        }
    }
}
