//! The live session loop: one pinned thread per venue session that owns the sockets (market
//! stream, REST snapshot, WebSocket API), turns bytes into [`Input`]s, journals each one, applies it
//! to the [`SessionCore`], and publishes a status snapshot.
//!
//! Python talks to it only through lock-free structures: the parameter block (seqlock), the command
//! ring (SPSC), the event ring (SPSC), the status block (seqlock) and the latency histogram counters.
//!
//! # Hot path
//! Per message: one non-blocking read into the connection's fixed buffer, in-place frame parsing,
//! an allocation-free decode, one journal push, the core's decision and the order frames' `send`.
//! Connecting, logon, snapshot fetches and id-block reservations happen on the same thread but only
//! while the session cannot quote anyway (they may allocate and block, with timeouts).

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;

use crate::book::L2Book;
use crate::engine::affinity;
use crate::engine::events::event_ring;
use crate::engine::events::EventSink;
use crate::engine::http;
use crate::engine::params::{ParamReader, Words};
use crate::engine::pipeline::{IdRange, PipelineInstrument};
use crate::engine::session::{
    headroom, Command, Input, Normalizer, RecordCtx, SessionCore, SessionSettings, Stamped,
    CTL_LOGON, CTL_SUBSCRIBE, STATUS_QUOTES,
};
use crate::engine::ws_client::{TlsTrust, Url, WsClient};
use crate::feed::binance::{self, Message};
use crate::feed::{BookSync, SequenceRule, SyncEvent};
use crate::gateway::binance_user::{self, WsApiMessage};
use crate::gateway::binance_ws;
use crate::gateway::{ClientIdAllocator, Signer};
use crate::journal::replay::{replay, ReplayOptions, ReplayReport, Replayable};
use crate::journal::snapshotter::{SnapshotPolicy, SnapshotStats, Snapshotter};
use crate::journal::{AppendError, JournalHandle, JournalWriter};
use crate::model::{Asset, Qty, UnixNanos};
use crate::net::ring::Consumer;
use crate::net::transport::TxTransport;
use crate::quoter::{QuoteParams, Top, QUOTE_PARAM_WORDS};
use crate::risk::{PreTradeRisk, RateLimits, RiskLimits};
use crate::time::latency::LatencyRecorder;
use crate::time::posix_clock::PosixClock;
use crate::time::seqlock::SeqLock;
use crate::time::{Clock, ClockConfig};

/// Words of the status block.
pub const STATUS_WORDS: usize = 136;
/// First word of the quotes table in the status block (5 words per quote).
pub const STATUS_QUOTES_AT: usize = 48;

/// Status block word indexes (see [`publish_status`]).
pub mod sw {
    /// [`super::super::session::SessionState`] code.
    pub const STATE: usize = 0;
    /// Flag bits: 1 order connection up, 2 market connection up, 4 book stale, 8 killed,
    /// 16 kill confirmed, 32 finished, 64 thread running, 128 repeated-execution throttle latched.
    pub const FLAGS: usize = 1;
    /// Inputs applied.
    pub const INPUTS: usize = 2;
    /// Time of the last input (ns).
    pub const TS: usize = 3;
    /// Best bid ticks, lots; best ask ticks, lots; bit flags (1 bid, 2 ask).
    pub const BID: usize = 4;
    /// See [`BID`].
    pub const BID_QTY: usize = 5;
    /// See [`BID`].
    pub const ASK: usize = 6;
    /// See [`BID`].
    pub const ASK_QTY: usize = 7;
    /// See [`BID`].
    pub const TOP_FLAGS: usize = 8;
    /// Position in lots (risk's view).
    pub const POSITION: usize = 9;
    /// Base balance change (1e-8).
    pub const BASE: usize = 10;
    /// Quote balance change (1e-8).
    pub const QUOTE: usize = 11;
    /// Base fees (1e-8).
    pub const BASE_FEES: usize = 12;
    /// Quote fees (1e-8).
    pub const QUOTE_FEES: usize = 13;
    /// Other-asset fees (1e-8).
    pub const OTHER_FEES: usize = 14;
    /// Orders sent (new and replace).
    pub const SENT: usize = 15;
    /// Cancels sent.
    pub const CANCELS: usize = 16;
    /// Orders acknowledged.
    pub const ACCEPTED: usize = 17;
    /// Fills applied.
    pub const FILLS: usize = 18;
    /// Orders cancelled or expired.
    pub const CANCELED: usize = 19;
    /// Orders rejected by the venue.
    pub const REJECTED: usize = 20;
    /// Orders denied by risk.
    pub const DENIED: usize = 21;
    /// Orders that became UNKNOWN (cumulative).
    pub const UNKNOWN_TOTAL: usize = 22;
    /// Orders working now (UNKNOWN included).
    pub const WORKING: usize = 23;
    /// Orders UNKNOWN now.
    pub const UNKNOWN_NOW: usize = 24;
    /// Risk's open-order count.
    pub const OPEN_ORDERS: usize = 25;
    /// Max open orders.
    pub const MAX_OPEN: usize = 26;
    /// Buy headroom (lots).
    pub const HEAD_BUY: usize = 27;
    /// Sell headroom (lots).
    pub const HEAD_SELL: usize = 28;
    /// Max long (lots).
    pub const MAX_LONG: usize = 29;
    /// Max short (lots).
    pub const MAX_SHORT: usize = 30;
    /// Parameter block version applied.
    pub const PARAM_VERSION: usize = 31;
    /// Order connections made.
    pub const CONNECTS: usize = 32;
    /// Market connections made.
    pub const MD_CONNECTS: usize = 33;
    /// Sequence gaps.
    pub const GAPS: usize = 34;
    /// Frames that did not decode.
    pub const DECODE_ERRORS: usize = 35;
    /// 429 answers.
    pub const HTTP_429: usize = 36;
    /// 418 answers.
    pub const HTTP_418: usize = 37;
    /// Rate denials by our own throttle.
    pub const RATE_DENIED: usize = 38;
    /// Orphans cancelled.
    pub const ORPHANS: usize = 39;
    /// Fills learned without commission (reconciliation).
    pub const FILLS_NO_FEE: usize = 40;
    /// Fills on untracked orders.
    pub const UNTRACKED_FILLS: usize = 41;
    /// Events dropped (Python fell behind).
    pub const EVENTS_DROPPED: usize = 42;
    /// Venue ORDERS/10 s count.
    pub const VENUE_ORDERS_10S: usize = 43;
    /// Venue ORDERS/10 s limit.
    pub const VENUE_ORDERS_10S_LIMIT: usize = 44;
    /// Reconciliations completed.
    pub const RECONCILES: usize = 45;
    /// `order.status` queries sent.
    pub const QUERIES: usize = 46;
    /// Quotes in the table below.
    pub const N_QUOTES: usize = 47;
    /// The last kill, on the engine's clock (ns since the epoch; 0: not yet): the session thread
    /// took the `Kill` command off the ring.
    pub const KILL_TOLD: usize = 128;
    /// ... handed the mass cancel (`openOrders.cancelAll`) to the order socket's `send`.
    pub const KILL_SENT: usize = 129;
    /// ... read the venue's answer that the mass cancel is done (no open order left).
    pub const KILL_CONFIRMED: usize = 130;
    /// Python's push of that `Kill` → the session thread took it off the ring (ns,
    /// `CLOCK_MONOTONIC_RAW` at both ends: the ring's wake-up delay, not part of `KILL_TOLD`).
    pub const KILL_RING: usize = 131;
}

/// Risk limits as the engine config gives them (decimal text in the instrument's units).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskConfig {
    /// Largest order quantity (base units).
    pub max_order_qty: String,
    /// Largest order notional (quote units).
    pub max_order_notional: String,
    /// Collar half-width, bps.
    pub price_collar_bps: u32,
    /// Oldest reference price, ms.
    #[serde(default = "d_ref_age")]
    pub max_reference_age_ms: u64,
    /// Largest long position (base units), working buys and UNKNOWN counted as filled.
    pub max_long: String,
    /// Largest short position (base units).
    pub max_short: String,
    /// Largest position notional (quote units).
    pub max_position_notional: String,
    /// Most open orders.
    pub max_open_orders: u32,
    /// Duplicate window, ms (0: off).
    #[serde(default)]
    pub duplicate_window_ms: u64,
    /// Fills that latch the execution throttle within `fill_window_ms`.
    #[serde(default = "d_fills")]
    pub max_fills_in_window: u32,
    /// Execution-throttle window, ms.
    #[serde(default = "d_fill_window")]
    pub fill_window_ms: u64,
    /// Our venue-order budget per second (keep below the venue's ORDERS limit).
    #[serde(default = "d_vops")]
    pub venue_orders_per_second: u64,
    /// Venue-order burst.
    #[serde(default = "d_vburst")]
    pub venue_orders_burst: u64,
    /// Internal message budget per second.
    #[serde(default = "d_mps")]
    pub messages_per_second: u64,
    /// Internal message burst.
    #[serde(default = "d_mburst")]
    pub messages_burst: u64,
    /// Percent of a venue limit at which our venue-order budget is drained.
    #[serde(default = "d_guard")]
    pub venue_rate_guard_pct: u64,
}

fn d_ref_age() -> u64 {
    5_000
}
fn d_fills() -> u32 {
    200
}
fn d_fill_window() -> u64 {
    1_000
}
fn d_vops() -> u64 {
    8
}
fn d_vburst() -> u64 {
    40
}
fn d_mps() -> u64 {
    50
}
fn d_mburst() -> u64 {
    100
}
fn d_guard() -> u64 {
    80
}
fn d_timeout() -> u64 {
    5_000
}
/// Idle nap of an unpinned session thread, µs (its timer slack is 1 ns, so it wakes on time).
pub const DEFAULT_IDLE_SLEEP_US: u64 = 5;

/// The instrument: a TOML file path or its fields.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum InstrumentConfig {
    /// An instrument definition file (`config/instruments/*.toml`).
    Path(String),
    /// The fields directly.
    Fields {
        /// Symbol.
        symbol: String,
        /// Tick size text.
        tick: String,
        /// Lot size text.
        lot: String,
        /// Base asset.
        base_asset: String,
        /// Quote asset.
        quote_asset: String,
    },
}

/// The engine's session config (ADR 0005), as `pymm._native.Engine` takes it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Market stream base URL (`ws://host:port/ws`).
    pub market_ws: String,
    /// REST base URL (`http://host:port`).
    pub rest: String,
    /// WebSocket API URL (`ws://host:port/ws-api/v3`).
    pub ws_api: String,
    /// API key.
    pub api_key: String,
    /// Ed25519 private key (PKCS#8 PEM).
    #[serde(default)]
    pub ed25519_private_pem: Option<String>,
    /// HMAC secret (refused: `session.logon` needs Ed25519).
    #[serde(default)]
    pub hmac_secret: Option<String>,
    /// The instrument.
    pub instrument: InstrumentConfig,
    /// Risk limits.
    pub risk: RiskConfig,
    /// CPU to pin the session thread to.
    #[serde(default)]
    pub core: Option<usize>,
    /// Client id high-water-mark file.
    pub client_id_file: String,
    /// Client id prefix (at most 8 of `[A-Za-z0-9._:/-]`).
    pub client_prefix: String,
    /// Journal directory (none: no journal).
    #[serde(default)]
    pub journal_dir: Option<String>,
    /// No answer within this many ms → UNKNOWN.
    #[serde(default = "d_timeout")]
    pub order_timeout_ms: u64,
    /// Sleep this many µs when a loop pass found nothing to do (0: busy-poll). Default: busy-poll
    /// when the thread is pinned (`core` set: the core is the session's), else
    /// [`DEFAULT_IDLE_SLEEP_US`] with the thread's timer slack at 1 ns.
    #[serde(default)]
    pub idle_sleep_us: Option<u64>,
    /// The journal writer thread's sleep when its ring is empty, µs (default 100; 0: it spins,
    /// for a host that gives the writer a core of its own — the ring push's p99 is then lowest,
    /// `bench/README.md` journal section).
    #[serde(default)]
    pub journal_idle_sleep_us: Option<u64>,
    /// Pin the journal writer thread to this core, its own (DESIGN §3). With a core of its own the
    /// writer spins when idle unless `journal_idle_sleep_us` says otherwise. `None`: unpinned.
    #[serde(default)]
    pub journal_core: Option<usize>,
    /// Depth stream suffix (default `@depth@100ms`).
    #[serde(default)]
    pub depth_stream: Option<String>,
    /// PEM file of the CA certificates `wss://`/`https://` connections trust instead of the
    /// webpki roots (a private CA: a co-location TLS terminator, a test venue). Read at
    /// construction; a file that does not load is refused.
    #[serde(default)]
    pub tls_ca_file: Option<String>,
    /// Recover from `journal_dir` at start (#11): replay the journal into the session core, mark
    /// every order not known to be done UNKNOWN, keep the kill latch and the client-id high-water
    /// mark, then connect, reconcile and only then quote. Ignored without a journal or when the
    /// journal holds no session input.
    #[serde(default)]
    pub recover: bool,
    /// Snapshot the session core every this many journal records (0: not by count). Taken on the
    /// journal writer thread from a shadow core (ADR 0006), never on the session thread; recovery
    /// starts from the latest valid snapshot plus the journal tail.
    #[serde(default = "d_snap_every")]
    pub snapshot_every: u64,
    /// ... or after this many ms with at least one new record (0: not by time).
    #[serde(default = "d_snap_ms")]
    pub snapshot_interval_ms: u64,
}

fn d_snap_every() -> u64 {
    SnapshotPolicy::default().every_records
}
fn d_snap_ms() -> u64 {
    SnapshotPolicy::default().every.as_millis() as u64
}

/// What a recovery at start found (see [`EngineConfig::recover`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryInfo {
    /// The last journal seq replayed.
    pub seq: u64,
    /// The session core's digest after replaying it (before the restart input).
    pub digest: [u8; 32],
    /// Records applied.
    pub applied: u64,
    /// Orders marked UNKNOWN by the restart.
    pub unknown: u64,
    /// Whether the kill latch was set in the journal.
    pub killed: bool,
    /// Whether the repeated-execution throttle was latched in the journal (it stays latched).
    pub throttled: bool,
    /// The next client id the journal's core would have used.
    pub ids_next: u64,
    /// Replay time, nanoseconds.
    pub elapsed_ns: u64,
    /// The snapshot recovery started from (`None`: genesis).
    pub snapshot_seq: Option<u64>,
    /// Snapshots passed over, each with its reason.
    pub snapshots_skipped: Vec<String>,
    /// An error that stopped recovery (the engine then does not run).
    pub error: Option<String>,
}

/// What the running thread shares with its owner.
pub struct Shared {
    /// The status snapshot.
    pub status: SeqLock<STATUS_WORDS>,
    /// Set by the thread when it exits.
    pub finished: AtomicBool,
    /// Asks the thread to exit at once (no orderly stop).
    pub abort: AtomicBool,
    /// Last connection error (written off the hot path, read by `status()`).
    pub last_error: Mutex<String>,
    /// Journal records the ring refused.
    pub journal_dropped: AtomicU64,
    /// `CLOCK_MONOTONIC_RAW` ns at which Python last pushed parameters, stamped right before the
    /// parameter-block write (for the push → quote latency; the session thread ends the interval
    /// on the same clock).
    pub push_ts: AtomicU64,
    /// `CLOCK_MONOTONIC_RAW` ns at which Python last pushed a `Kill` command (stamped right before
    /// the ring push; the session thread ends the ring interval on the same clock).
    pub kill_push_ts: AtomicU64,
    /// The core's journal position: `[seq, digest words 0..4]` (the digest of the state after
    /// applying every input up to `seq`), written with the status block.
    pub journal: SeqLock<5>,
    /// What recovery found (written once at start, before quoting).
    pub recovery: Mutex<Option<RecoveryInfo>>,
    /// Why the journal halted the session (fail closed), if it did: the alert `journal_unwritable`.
    pub journal_halt: Mutex<Option<String>>,
    /// The journal writer's snapshotter, once installed.
    pub snapshots: Mutex<Option<Arc<SnapshotStats>>>,
}

impl Shared {
    /// A fresh shared block.
    pub fn new() -> Self {
        Self {
            status: SeqLock::new([0; STATUS_WORDS]),
            finished: AtomicBool::new(false),
            abort: AtomicBool::new(false),
            last_error: Mutex::new(String::new()),
            journal_dropped: AtomicU64::new(0),
            push_ts: AtomicU64::new(0),
            kill_push_ts: AtomicU64::new(0),
            journal: SeqLock::new([0; 5]),
            recovery: Mutex::new(None),
            snapshots: Mutex::new(None),
            journal_halt: Mutex::new(None),
        }
    }

    fn error(&self, e: impl std::fmt::Display) {
        if let Ok(mut g) = self.last_error.lock() {
            *g = e.to_string();
        }
    }
}

impl Default for Shared {
    fn default() -> Self {
        Self::new()
    }
}

/// Everything the session thread takes with it.
pub struct LiveParts {
    /// Config.
    pub cfg: EngineConfig,
    /// The instrument.
    pub inst: PipelineInstrument,
    /// Base and quote asset names.
    pub assets: (String, String),
    /// Risk limits in instrument units.
    pub limits: RiskLimits,
    /// Rate budgets.
    pub rates: RateLimits,
    /// Signer for `session.logon`.
    pub signer: Signer,
    /// Client ids.
    pub ids: ClientIdAllocator,
    /// Parameter block reader.
    pub params: ParamReader<QuoteParams, QUOTE_PARAM_WORDS>,
    /// Commands from Python.
    pub commands: Consumer<Command>,
    /// Events to Python.
    pub events: EventSink,
    /// Tick-to-trade recorder.
    pub tick_to_trade: LatencyRecorder,
    /// Parameter push → first order frame of the requote handed to `send` (as tick-to-trade).
    pub push_to_quote: LatencyRecorder,
    /// Parameter push → the session thread saw the new block version (every push, no-op ones
    /// included: the wake-up floor of `push_to_quote`).
    pub push_to_read: LatencyRecorder,
    /// The session thread saw the new version → first order frame handed to `send` (in-process:
    /// read, journal, quoter, risk, encode).
    pub read_to_quote: LatencyRecorder,
    /// That first `send` itself (entry → return: the frame is in the kernel's socket buffer).
    pub quote_send: LatencyRecorder,
    /// Journal producer, if configured.
    pub journal: Option<(JournalHandle, JournalWriter)>,
    /// The CAs TLS trusts (`None`: the webpki roots).
    pub tls: Option<TlsTrust>,
    /// Shared state.
    pub shared: Arc<Shared>,
    /// Seed for masks and nonces.
    pub seed: u64,
}

/// Stamps the first frame a decision hands to the socket (tick-to-trade and push-to-quote end
/// there, as in `bench/`'s tick-to-trade).
struct FirstSend<'a, T: TxTransport> {
    inner: &'a mut T,
    clock: &'a Clock,
    first: u64,
    /// Also stamp `CLOCK_MONOTONIC_RAW` right before and after the first `send` (push → quote).
    raw: bool,
    first_raw: (u64, u64),
}

impl<T: TxTransport> TxTransport for FirstSend<'_, T> {
    #[inline]
    fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.first == 0 {
            self.first = self.clock.ticks();
            if !self.raw {
                return self.inner.send(data);
            }
            let before = PosixClock::MonotonicRaw.now_ns();
            let r = self.inner.send(data);
            self.first_raw = (before, PosixClock::MonotonicRaw.now_ns());
            return r;
        }
        self.inner.send(data)
    }
}

/// A transport for when the order connection is down: every send fails.
struct Down;

impl TxTransport for Down {
    fn send(&mut self, _data: &[u8]) -> io::Result<usize> {
        Err(io::ErrorKind::NotConnected.into())
    }
}

struct Market {
    ws: WsClient,
}

struct Loop {
    core: SessionCore,
    norm: Normalizer,
    sync: BookSync,
    md: Option<Market>,
    ord: Option<WsClient>,
    pending: Vec<Stamped>,
    journal: Option<(JournalHandle, JournalWriter)>,
    assets: (Asset, Asset),
    journal_refused: u64,
    /// Why the journal stopped taking this session's inputs (fail closed: kill latched, no new
    /// orders until restart).
    journal_halt: Option<String>,
    last_top: Option<(Top, bool)>,
    /// When `last_top` was last handed to the core.
    last_top_at: UnixNanos,
    /// An unchanged top is handed to the core again after this long while the feed keeps applying
    /// updates (a quarter of `max_reference_age_ms`), so the risk reference's age is the feed's
    /// silence, not the time since the top last moved.
    top_refresh_ns: u64,
    param_version: u64,
    md_retry_at: u64,
    md_backoff: u64,
    ord_retry_at: u64,
    ord_backoff: u64,
    snapshot_due: bool,
    snapshot_at: u64,
    connects: u64,
    md_connects: u64,
    gaps: u64,
    md_decode_errors: u64,
    seed: u64,
    /// Set around a parameter input: [`FirstSend`] then stamps `first_raw`.
    stamp_raw: bool,
    first_raw: (u64, u64),
    tls: Option<TlsTrust>,
    /// The last kill's stamps (see [`KillTimes`]).
    kill: KillTimes,
    /// Publish the status block on this pass (a kill was taken or confirmed), not at the next
    /// 5 ms status tick.
    publish_now: bool,
}

/// The last kill's timeline on the engine's clock (ns since the epoch; 0: not reached yet).
#[derive(Clone, Copy, Debug, Default)]
struct KillTimes {
    /// The session thread took the `Kill` command.
    told: u64,
    /// The mass cancel was handed to the order socket's `send` (first frame of the kill, or of
    /// the reconnect that carried it when the order connection was down).
    sent: u64,
    /// The venue's answer that the mass cancel is done was read.
    confirmed: u64,
    /// Python's push → the session thread took it (`CLOCK_MONOTONIC_RAW`, ns).
    ring: u64,
}

fn rest_depth_url(cfg: &EngineConfig, symbol: &str) -> io::Result<Url> {
    let base = Url::parse(&cfg.rest)?;
    let path = format!(
        "{}/api/v3/depth?symbol={symbol}&limit=1000",
        base.path.trim_end_matches('/')
    );
    Ok(base.with_path(&path))
}

fn market_url(cfg: &EngineConfig, symbol: &str) -> io::Result<Url> {
    let base = Url::parse(&cfg.market_ws)?;
    let suffix = cfg.depth_stream.as_deref().unwrap_or("@depth@100ms");
    let path = format!(
        "{}/{}{}",
        base.path.trim_end_matches('/'),
        symbol.to_ascii_lowercase(),
        suffix
    );
    Ok(base.with_path(&path))
}

/// Runs the session until an orderly stop finishes or `shared.abort` is set.
pub fn run(mut p: LiveParts) {
    // Idle naps are a few µs; the default 50 µs timer slack would multiply them.
    let _ = affinity::set_timer_slack_ns(1);
    let mut pinned = false;
    if let Some(core) = p.cfg.core {
        match affinity::pin_current_thread(core) {
            Ok(()) => pinned = true,
            Err(e) => p.shared.error(format!("pinning to core {core}: {e}")),
        }
    }
    // A pinned thread owns its core: it spins. An unpinned one naps (1 ns slack) when idle.
    let idle_us = p
        .cfg
        .idle_sleep_us
        .unwrap_or(if pinned { 0 } else { DEFAULT_IDLE_SLEEP_US });
    let clock = match Clock::new(ClockConfig::default()) {
        Ok(c) => c,
        Err(e) => {
            p.shared.error(format!("clock: {e}"));
            p.shared.finished.store(true, Ordering::Release);
            return;
        }
    };
    let (first, end) = match p.ids.take_block() {
        Ok(b) => b,
        Err(e) => {
            p.shared.error(format!("client ids: {e}"));
            p.shared.finished.store(true, Ordering::Release);
            return;
        }
    };
    let now = clock.now();
    let settings = session_settings(&p.cfg, p.inst, p.limits);
    let initial = p.params.read();
    let make = |events| build_core(settings, p.rates, p.params.clone(), events, p.seed);
    let recover_dir = match (&p.cfg.journal_dir, p.cfg.recover) {
        (Some(d), true) => Some(std::path::PathBuf::from(d)),
        _ => None,
    };
    let (core, recovered) = match recover_dir {
        Some(dir) => {
            // Replayed decisions' events are not news: they go to a ring nobody reads.
            let fresh = || make(event_ring(1 << 4).0);
            let opts = ReplayOptions {
                use_snapshots: true,
                ..ReplayOptions::default()
            };
            match replay(&dir, fresh, &opts) {
                Ok((mut core, report)) if report.applied > 0 || report.snapshot.is_some() => {
                    let _ = core.set_events(p.events);
                    (core, Some(report))
                }
                Ok(_) => (make(p.events), None),
                Err(e) => {
                    let msg = format!("recovery from {}: {e}", dir.display());
                    p.shared.error(&msg);
                    if let Ok(mut g) = p.shared.recovery.lock() {
                        *g = Some(RecoveryInfo {
                            error: Some(msg),
                            ..RecoveryInfo::default()
                        });
                    }
                    p.shared.finished.store(true, Ordering::Release);
                    return;
                }
            }
        }
        None => (make(p.events), None),
    };
    let asset = |a: &str| Asset::new(a).unwrap_or(Asset::NONE);
    let mut lp = Loop {
        core,
        norm: Normalizer::new(
            p.inst,
            &settings.prefix[..settings.prefix_len],
            &p.assets.0,
            &p.assets.1,
        ),
        sync: BookSync::new(p.inst.rule, p.inst.tick, p.inst.lot, L2Book::default()),
        md: None,
        ord: None,
        pending: Vec::with_capacity(4096),
        journal: p.journal.take(),
        assets: (asset(&p.assets.0), asset(&p.assets.1)),
        journal_refused: 0,
        journal_halt: None,
        last_top: None,
        last_top_at: UnixNanos(0),
        top_refresh_ns: p.limits.max_reference_age_ns / 4,
        param_version: p.params.version(),
        md_retry_at: 0,
        md_backoff: 100_000_000,
        ord_retry_at: 0,
        ord_backoff: 100_000_000,
        snapshot_due: true,
        snapshot_at: 0,
        connects: 0,
        md_connects: 0,
        gaps: 0,
        md_decode_errors: 0,
        seed: p.seed,
        stamp_raw: false,
        first_raw: (0, 0),
        tls: p.tls.take(),
        kill: KillTimes::default(),
        publish_now: false,
    };
    // The shadow core on the writer thread starts as this one (same construction, then this
    // core's state), before anything more is journalled.
    if let Some((j, w)) = lp.journal.as_ref() {
        let policy = SnapshotPolicy {
            every_records: p.cfg.snapshot_every,
            every: Duration::from_millis(p.cfg.snapshot_interval_ms),
            ..SnapshotPolicy::default()
        };
        let wanted = policy.every_records > 0 || !policy.every.is_zero();
        // Only when this core is the journal's state: a fresh core on a non-empty journal
        // (`recover` off) is not what a replay of that journal gives.
        if wanted && j.next_seq() == lp.core.last_seq() + 1 {
            match shadow_of(&lp.core, make(event_ring(1 << 4).0)) {
                Ok(shadow) => {
                    let (last_ts, max_ts) = recovered
                        .as_ref()
                        .map_or((UnixNanos(0), UnixNanos(0)), |r| (r.last_ts, r.max_ts));
                    let seq = lp.core.last_seq();
                    let (tap, stats) = Snapshotter::new(shadow, seq, last_ts, max_ts, policy);
                    w.set_tap(Box::new(tap));
                    if let Ok(mut g) = p.shared.snapshots.lock() {
                        *g = Some(stats);
                    }
                }
                Err(e) => p.shared.error(format!("snapshots off: {e}")),
            }
        }
    }
    if let Some(report) = &recovered {
        recovered_start(&mut lp, &clock, &p.shared, report, now);
    }
    // The id block (the journal's record of the client-id high-water mark), then the first
    // parameters, as inputs, so a replay starts from the same values.
    lp.feed(
        &clock,
        None,
        Stamped {
            ts_recv: now,
            ts_event: now,
            input: Input::IdBlock { next: first, end },
        },
    );
    lp.feed(
        &clock,
        None,
        Stamped {
            ts_recv: now,
            ts_event: now,
            input: Input::Params { params: initial },
        },
    );
    let symbol = std::str::from_utf8(&p.inst.symbol[..p.inst.symbol_len])
        .unwrap_or_default()
        .to_string();
    let md_url = market_url(&p.cfg, &symbol);
    let depth_url = rest_depth_url(&p.cfg, &symbol);
    let api_url = Url::parse(&p.cfg.ws_api);
    let (md_url, depth_url, api_url) = match (md_url, depth_url, api_url) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (a, b, c) => {
            let e = [a.err(), b.err(), c.err()]
                .into_iter()
                .flatten()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            p.shared.error(format!("bad URL: {e}"));
            p.shared.finished.store(true, Ordering::Release);
            return;
        }
    };
    let mut next_tick = 0u64;
    let mut next_status = 0u64;
    let idle = Duration::from_micros(idle_us);
    loop {
        if p.shared.abort.load(Ordering::Relaxed) {
            break;
        }
        let mut busy = false;
        let now = clock.now();
        // Commands.
        while let Some(c) = p.commands.pop() {
            busy = true;
            let t = clock.now();
            if c == Command::Kill {
                let pushed = p.shared.kill_push_ts.load(Ordering::Acquire);
                let ring = if pushed > 0 {
                    PosixClock::MonotonicRaw.now_ns().saturating_sub(pushed)
                } else {
                    0
                };
                lp.kill = KillTimes {
                    told: t.0,
                    ring,
                    ..KillTimes::default()
                };
                lp.publish_now = true;
            }
            lp.feed(
                &clock,
                None,
                Stamped {
                    ts_recv: t,
                    ts_event: t,
                    input: Input::Command(c),
                },
            );
        }
        // Parameters.
        let v = p.params.version();
        if v != lp.param_version {
            // Push → quote runs on CLOCK_MONOTONIC_RAW at both ends (Python stamps it right before
            // the block write; here: on seeing the version, and around the first order frame's
            // `send`).
            let seen = PosixClock::MonotonicRaw.now_ns();
            let pushed = p.shared.push_ts.load(Ordering::Acquire);
            lp.param_version = v;
            let params = p.params.read();
            let t = clock.now();
            busy = true;
            if pushed > 0 {
                p.push_to_read.record(seen.saturating_sub(pushed));
            }
            lp.stamp_raw = true;
            lp.first_raw = (0, 0);
            let sent = lp.feed(
                &clock,
                None,
                Stamped {
                    ts_recv: t,
                    ts_event: t,
                    input: Input::Params { params },
                },
            );
            lp.stamp_raw = false;
            let (before, after) = lp.first_raw;
            if sent > 0 && before > 0 {
                p.read_to_quote.record(before.saturating_sub(seen));
                p.quote_send.record(after.saturating_sub(before));
                if pushed > 0 {
                    p.push_to_quote.record(before.saturating_sub(pushed));
                }
            }
        }
        // Market data.
        if lp.md.is_none() && now.0 >= lp.md_retry_at {
            match WsClient::connect_trusting(
                &md_url,
                Duration::from_secs(5),
                4 << 20,
                lp.seed ^ now.0,
                lp.tls.as_ref(),
            ) {
                Ok(ws) => {
                    lp.md = Some(Market { ws });
                    lp.md_connects += 1;
                    lp.md_backoff = 100_000_000;
                    lp.sync =
                        BookSync::new(p.inst.rule, p.inst.tick, p.inst.lot, L2Book::default());
                    lp.snapshot_due = true;
                    lp.snapshot_at = now.0 + 50_000_000;
                }
                Err(e) => {
                    p.shared
                        .error(format!("market stream {}: {e}", md_url.host_header()));
                    lp.md_retry_at = now.0 + lp.md_backoff;
                    lp.md_backoff = (lp.md_backoff * 2).min(5_000_000_000);
                }
            }
        }
        if lp.md.is_some() {
            busy |= lp.poll_market(&clock, &p.shared, &mut p.tick_to_trade);
        }
        if lp.md.is_some() && lp.snapshot_due && clock.now().0 >= lp.snapshot_at {
            lp.fetch_snapshot(&clock, &depth_url, &p.shared, &mut p.tick_to_trade);
        }
        // Order connection.
        if lp.ord.is_none() && now.0 >= lp.ord_retry_at && !lp.core.finished() {
            match lp.connect_orders(&api_url, &p.cfg, &p.signer, &clock) {
                Ok(ws) => {
                    lp.ord = Some(ws);
                    lp.connects += 1;
                    lp.ord_backoff = 100_000_000;
                    let t = clock.now();
                    lp.feed(
                        &clock,
                        None,
                        Stamped {
                            ts_recv: t,
                            ts_event: t,
                            input: Input::OrderConnected,
                        },
                    );
                }
                Err(e) => {
                    p.shared
                        .error(format!("order session {}: {e}", api_url.host_header()));
                    lp.ord_retry_at = now.0 + lp.ord_backoff;
                    lp.ord_backoff = (lp.ord_backoff * 2).min(5_000_000_000);
                }
            }
        }
        if lp.ord.is_some() {
            busy |= lp.poll_orders(&clock, &p.shared);
        }
        if lp.core.take_reconnect() {
            lp.drop_orders(&clock);
        }
        // Timers.
        let now = clock.now();
        if now.0 >= next_tick {
            next_tick = now.0 + 1_000_000;
            lp.feed(
                &clock,
                None,
                Stamped {
                    ts_recv: now,
                    ts_event: now,
                    input: Input::Tick,
                },
            );
            if lp.core.ids_left() < 1_000 {
                if let Ok((a, b)) = p.ids.take_block() {
                    lp.feed(
                        &clock,
                        None,
                        Stamped {
                            ts_recv: now,
                            ts_event: now,
                            input: Input::IdBlock { next: a, end: b },
                        },
                    );
                }
            }
        }
        if now.0 >= next_status || lp.publish_now {
            next_status = now.0 + 5_000_000;
            lp.publish_now = false;
            lp.publish(&p.shared, p.params.version(), true);
        }
        if lp.core.finished() {
            break;
        }
        if !busy && !idle.is_zero() {
            std::thread::sleep(idle);
        }
    }
    if let Some(mut ws) = lp.ord.take() {
        ws.close();
    }
    if let Some(mut m) = lp.md.take() {
        m.ws.close();
    }
    lp.publish(&p.shared, p.params.version(), false);
    if let Some((handle, writer)) = lp.journal.take() {
        drop(handle);
        let _ = writer.close();
    }
    p.shared.finished.store(true, Ordering::Release);
}

impl Loop {
    /// Journals and applies one input; returns the frames sent and when the first one was handed
    /// to the socket (ns since the epoch, 0: none); records tick-to-trade into `ttt`.
    fn feed_at(
        &mut self,
        clock: &Clock,
        ttt: Option<&mut LatencyRecorder>,
        s: Stamped,
    ) -> (usize, u64) {
        // Journal before act, fail closed: an input that cannot be journalled whole halts the
        // session (see `halt_journal`); nothing more is journalled this run.
        if let (Some((j, _)), None) = (self.journal.as_mut(), &self.journal_halt) {
            let ctx = RecordCtx {
                base: self.assets.0,
                quote: self.assets.1,
                param_version: self.param_version,
                ..RecordCtx::default()
            };
            let recs = self.core.journal_records(&s, ctx);
            let recs = recs.as_slice();
            let mut refused = None;
            if j.free_slots() < recs.len() {
                refused = Some(AppendError::Full);
            } else {
                for rec in recs {
                    match j.append(*rec) {
                        Ok(seq) => self.core.set_last_seq(seq),
                        Err(e) => {
                            refused = Some(e);
                            break;
                        }
                    }
                }
            }
            if let Some(e) = refused {
                self.halt_journal(clock, e, s.ts_recv);
            }
        }
        if self.journal_halt.is_some() {
            self.journal_refused += 1;
            if s.input == Input::Command(Command::Lift) {
                // The latch the halt set holds until restart.
                return (0, 0);
            }
        }
        let (sent, first) = match self.ord.as_mut() {
            Some(ws) => {
                let mut tx = FirstSend {
                    inner: ws,
                    clock,
                    first: 0,
                    raw: self.stamp_raw,
                    first_raw: (0, 0),
                };
                let n = self.core.apply(&s, &mut tx);
                self.first_raw = tx.first_raw;
                (n, tx.first)
            }
            None => (self.core.apply(&s, &mut Down), 0),
        };
        let first = if first == 0 {
            0
        } else {
            clock.ticks_to_unix(first).0
        };
        self.stamp_kill(&s, first);
        if sent > 0 && first > 0 {
            if let Some(r) = ttt {
                r.record(first.saturating_sub(s.ts_recv.0));
            }
        }
        (sent, first)
    }

    /// The journal refused an input (ring full, writer failed on I/O, closed): fail closed. The
    /// kill latch is applied to the live core at once (cancel all, no new orders; a later `Lift`
    /// is refused) and nothing more is journalled this run, so the journal stays a clean prefix
    /// of what the session did — to a replay, the halt looks like a crash right after the last
    /// journalled input, and a restart recovers from it the same way (everything in flight
    /// UNKNOWN, reconciled with the venue before quoting). Cancels still go out: they only
    /// reduce risk.
    #[cold]
    fn halt_journal(&mut self, clock: &Clock, e: AppendError, ts: UnixNanos) {
        let health = self.journal.as_ref().map(|(j, _)| j.health());
        let errno = health.as_ref().map_or(0, |h| h.last_errno());
        let why = match e {
            AppendError::Full => "journal ring full (the writer is behind)".to_string(),
            AppendError::WriterFailed => format!(
                "journal writer failed: {}",
                io::Error::from_raw_os_error(errno)
            ),
            AppendError::Closed => "journal closed".to_string(),
        };
        self.journal_halt = Some(format!(
            "{why}; session halted at seq {} (kill latched, no new orders until restart)",
            self.core.last_seq()
        ));
        self.feed_at(
            clock,
            None,
            Stamped {
                ts_recv: ts,
                ts_event: ts,
                input: Input::Command(Command::Kill),
            },
        );
    }

    /// Stamps the kill's timeline after `s` was applied (`first`: when its first frame went to
    /// the socket, 0: none).
    #[inline]
    fn stamp_kill(&mut self, s: &Stamped, first: u64) {
        let k = &mut self.kill;
        if k.told == 0 || k.confirmed != 0 {
            return;
        }
        if k.sent == 0
            && first > 0
            && matches!(
                s.input,
                Input::Command(Command::Kill) | Input::OrderConnected
            )
        {
            k.sent = first;
        }
        let (killed, confirmed) = self.core.kill_state();
        if killed && confirmed {
            k.confirmed = s.ts_recv.0;
            self.publish_now = true;
        }
    }

    fn feed(&mut self, clock: &Clock, ttt: Option<&mut LatencyRecorder>, s: Stamped) -> usize {
        self.feed_at(clock, ttt, s).0
    }

    fn top_input(
        &mut self,
        clock: &Clock,
        ttt: &mut LatencyRecorder,
        ts: UnixNanos,
        force_stale: bool,
    ) {
        let stale = force_stale || self.sync.is_stale();
        let top = if stale {
            Top::default()
        } else {
            Top {
                bid: self.sync.book().best_bid(),
                ask: self.sync.book().best_ask(),
            }
        };
        if self.last_top == Some((top, stale))
            && ts.saturating_since(self.last_top_at) < self.top_refresh_ns
        {
            return;
        }
        self.last_top = Some((top, stale));
        self.last_top_at = ts;
        self.feed(
            clock,
            Some(ttt),
            Stamped {
                ts_recv: ts,
                ts_event: ts,
                input: Input::Top { top, stale },
            },
        );
    }

    fn poll_market(&mut self, clock: &Clock, shared: &Shared, ttt: &mut LatencyRecorder) -> bool {
        let Some(md) = self.md.as_mut() else {
            return false;
        };
        let sync = &mut self.sync;
        let mut gaps = 0;
        let mut errors = 0;
        let mut changed = false;
        let r = md.ws.poll(|payload| match binance::decode(payload) {
            Ok(env) => {
                if let Message::DepthUpdate(d) = env.message {
                    match sync.on_depth_update(payload, &d) {
                        SyncEvent::SequenceBreak => {
                            gaps += 1;
                            changed = true;
                        }
                        SyncEvent::Applied | SyncEvent::SnapshotLoaded => changed = true,
                        _ => {}
                    }
                }
            }
            Err(_) => errors += 1,
        });
        self.gaps += gaps;
        self.md_decode_errors += errors;
        let ts = clock.now();
        match r {
            Ok(n) => {
                if gaps > 0 || (self.sync.needs_snapshot() && !self.snapshot_due) {
                    self.snapshot_due = true;
                    self.snapshot_at = ts.0;
                }
                if changed {
                    self.top_input(clock, ttt, ts, false);
                }
                n > 0
            }
            Err(e) => {
                shared.error(format!("market stream: {e}"));
                if let Some(mut m) = self.md.take() {
                    m.ws.close();
                }
                self.md_retry_at = ts.0 + self.md_backoff;
                self.top_input(clock, ttt, ts, true);
                true
            }
        }
    }

    fn fetch_snapshot(
        &mut self,
        clock: &Clock,
        url: &Url,
        shared: &Shared,
        ttt: &mut LatencyRecorder,
    ) {
        let now = clock.now();
        self.snapshot_at = now.0 + 1_000_000_000;
        match http::get_trusting(url, &[], Duration::from_secs(5), self.tls.as_ref()) {
            Ok(resp) => {
                let t = clock.now();
                if let Some(w) = resp.header_u64("x-mbx-used-weight-1m") {
                    self.feed(
                        clock,
                        None,
                        Stamped {
                            ts_recv: t,
                            ts_event: t,
                            input: Input::Rate {
                                orders_10s: 0,
                                orders_10s_limit: 0,
                                weight_1m: w,
                                weight_1m_limit: 6_000,
                            },
                        },
                    );
                }
                if resp.status == 429 || resp.status == 418 {
                    let secs = resp.header_u64("retry-after").unwrap_or(1);
                    self.feed(
                        clock,
                        None,
                        Stamped {
                            ts_recv: t,
                            ts_event: t,
                            input: Input::RateLimited {
                                status: resp.status,
                                until: UnixNanos(t.0 + secs * 1_000_000_000),
                            },
                        },
                    );
                    return;
                }
                if resp.status != 200 {
                    shared.error(format!("depth snapshot: HTTP {}", resp.status));
                    return;
                }
                match binance::decode(&resp.body) {
                    Ok(env) => {
                        if let Message::DepthSnapshot(s) = env.message {
                            let ev = self.sync.on_snapshot(&s);
                            if matches!(ev, SyncEvent::SnapshotLoaded | SyncEvent::Applied)
                                || !self.sync.is_stale()
                            {
                                self.snapshot_due = false;
                            }
                            self.top_input(clock, ttt, t, false);
                        }
                    }
                    Err(e) => shared.error(format!("depth snapshot: {e}")),
                }
            }
            Err(e) => shared.error(format!("depth snapshot {}: {e}", url.host_header())),
        }
    }

    /// Connect, `session.logon`, `userDataStream.subscribe` (blocking, with timeouts).
    fn connect_orders(
        &mut self,
        url: &Url,
        cfg: &EngineConfig,
        signer: &Signer,
        clock: &Clock,
    ) -> io::Result<WsClient> {
        let mut ws = WsClient::connect_trusting(
            url,
            Duration::from_secs(5),
            1 << 20,
            self.seed ^ clock.now().0.rotate_left(7),
            self.tls.as_ref(),
        )?;
        let mut buf = [0u8; 2048];
        let now_ms = clock.now().0 / 1_000_000;
        let n = binance_ws::encode_session_logon(
            CTL_LOGON,
            cfg.api_key.as_bytes(),
            now_ms,
            signer,
            &mut buf,
        )
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        ws.send_text(&buf[..n])?;
        wait_response(&mut ws, CTL_LOGON, clock)?;
        let n =
            binance_ws::encode_plain_request(CTL_SUBSCRIBE, b"userDataStream.subscribe", &mut buf)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        ws.send_text(&buf[..n])?;
        wait_response(&mut ws, CTL_SUBSCRIBE, clock)?;
        Ok(ws)
    }

    fn poll_orders(&mut self, clock: &Clock, shared: &Shared) -> bool {
        let Some(ws) = self.ord.as_mut() else {
            return false;
        };
        let norm = &mut self.norm;
        let pending = &mut self.pending;
        let r = ws.poll(|payload| {
            let ts = clock.now();
            norm.frame(payload, ts, &mut |s| pending.push(s));
        });
        let mut busy = false;
        for k in 0..self.pending.len() {
            let s = self.pending[k];
            self.feed(clock, None, s);
            busy = true;
        }
        self.pending.clear();
        if let Err(e) = r {
            shared.error(format!("order session: {e}"));
            self.drop_orders(clock);
            return true;
        }
        busy
    }

    fn drop_orders(&mut self, clock: &Clock) {
        if let Some(mut ws) = self.ord.take() {
            ws.close();
        }
        let t = clock.now();
        self.ord_retry_at = t.0 + self.ord_backoff;
        self.ord_backoff = (self.ord_backoff * 2).min(5_000_000_000);
        self.feed(
            clock,
            None,
            Stamped {
                ts_recv: t,
                ts_event: t,
                input: Input::OrderDisconnected,
            },
        );
    }

    fn publish(&mut self, shared: &Shared, param_version: u64, running: bool) {
        let mut w = [0u64; STATUS_WORDS];
        let c = &self.core;
        let (top, stale) = c.top();
        let (killed, confirmed) = c.kill_state();
        let counters = c.counters();
        let acct = c.account();
        let stats = c.core().stats();
        let id = c.settings().inst.id;
        let position = c.core().risk().position(id).unwrap_or(0);
        let limits = c.settings().limits;
        let working = c.working_lots();
        let (hb, hs) = headroom(&limits, position, working);
        let flags = u64::from(self.ord.is_some())
            | u64::from(self.md.is_some()) << 1
            | u64::from(stale) << 2
            | u64::from(killed) << 3
            | u64::from(confirmed) << 4
            | u64::from(c.finished()) << 5
            | u64::from(running) << 6
            | u64::from(c.core().risk().is_throttled()) << 7;
        w[sw::STATE] = c.state() as u64;
        w[sw::FLAGS] = flags;
        w[sw::INPUTS] = counters.inputs;
        w[sw::TS] = 0;
        if let Some((p, q)) = top.bid {
            w[sw::BID] = p.ticks() as u64;
            w[sw::BID_QTY] = q.lots() as u64;
            w[sw::TOP_FLAGS] |= 1;
        }
        if let Some((p, q)) = top.ask {
            w[sw::ASK] = p.ticks() as u64;
            w[sw::ASK_QTY] = q.lots() as u64;
            w[sw::TOP_FLAGS] |= 2;
        }
        w[sw::POSITION] = position as u64;
        w[sw::BASE] = acct.base as u64;
        w[sw::QUOTE] = acct.quote as u64;
        w[sw::BASE_FEES] = acct.base_fees as u64;
        w[sw::QUOTE_FEES] = acct.quote_fees as u64;
        w[sw::OTHER_FEES] = acct.other_fees as u64;
        w[sw::SENT] = stats.orders_sent;
        w[sw::CANCELS] = stats.cancels_sent;
        w[sw::ACCEPTED] = counters.accepted;
        w[sw::FILLS] = acct.fills;
        w[sw::CANCELED] = counters.canceled;
        w[sw::REJECTED] = counters.rejected;
        w[sw::DENIED] = counters.denied;
        w[sw::UNKNOWN_TOTAL] = counters.unknown;
        w[sw::WORKING] = c.orders().filter(|o| !o.state.is_terminal()).count() as u64;
        w[sw::UNKNOWN_NOW] = c
            .orders()
            .filter(|o| o.state == crate::gateway::OrderState::Unknown)
            .count() as u64;
        w[sw::OPEN_ORDERS] = c.core().risk().open_orders(id) as u64;
        w[sw::MAX_OPEN] = u64::from(limits.max_open_orders);
        w[sw::HEAD_BUY] = hb as u64;
        w[sw::HEAD_SELL] = hs as u64;
        w[sw::MAX_LONG] = limits.max_long.lots() as u64;
        w[sw::MAX_SHORT] = limits.max_short.lots() as u64;
        w[sw::PARAM_VERSION] = param_version;
        w[sw::CONNECTS] = self.connects;
        w[sw::MD_CONNECTS] = self.md_connects;
        w[sw::GAPS] = self.gaps;
        w[sw::DECODE_ERRORS] = self.md_decode_errors + self.norm.stats().decode_errors;
        w[sw::HTTP_429] = counters.http_429;
        w[sw::HTTP_418] = counters.http_418;
        w[sw::RATE_DENIED] = counters.rate_denied;
        w[sw::ORPHANS] = counters.orphans;
        w[sw::FILLS_NO_FEE] = acct.fills_without_fee;
        w[sw::UNTRACKED_FILLS] = acct.untracked_fills;
        w[sw::EVENTS_DROPPED] = c.events_dropped();
        w[sw::VENUE_ORDERS_10S] = counters.venue_orders_10s.0;
        w[sw::VENUE_ORDERS_10S_LIMIT] = counters.venue_orders_10s.1;
        w[sw::RECONCILES] = counters.reconciles;
        w[sw::QUERIES] = counters.queries;
        let mut n = 0;
        for o in c.orders() {
            if n == STATUS_QUOTES {
                break;
            }
            let at = STATUS_QUOTES_AT + 5 * n;
            w[at] = o.id.0;
            w[at + 1] = o.side as u64 | (o.state as u64) << 8;
            w[at + 2] = o.price.ticks() as u64;
            w[at + 3] = o.qty.lots() as u64;
            w[at + 4] = o.filled.lots() as u64;
            n += 1;
        }
        w[sw::N_QUOTES] = n as u64;
        w[sw::KILL_TOLD] = self.kill.told;
        w[sw::KILL_SENT] = self.kill.sent;
        w[sw::KILL_CONFIRMED] = self.kill.confirmed;
        w[sw::KILL_RING] = self.kill.ring;
        shared.status.write(w);
        let d = c.digest();
        let mut j = [c.last_seq(), 0, 0, 0, 0];
        for (k, chunk) in d.chunks_exact(8).enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            j[1 + k] = u64::from_le_bytes(b);
        }
        shared.journal.write(j);
        shared
            .journal_dropped
            .store(self.journal_refused, Ordering::Relaxed);
        if let Some(h) = &self.journal_halt {
            if let Ok(mut g) = shared.journal_halt.lock() {
                if g.is_none() {
                    *g = Some(h.clone());
                }
            }
        }
    }
}

/// The session settings of `cfg`.
pub fn session_settings(
    cfg: &EngineConfig,
    inst: PipelineInstrument,
    limits: RiskLimits,
) -> SessionSettings {
    let mut prefix = [0u8; 8];
    let pl = cfg.client_prefix.len().min(8);
    prefix[..pl].copy_from_slice(&cfg.client_prefix.as_bytes()[..pl]);
    SessionSettings {
        inst,
        limits,
        prefix,
        prefix_len: pl,
        order_timeout_ns: cfg.order_timeout_ms.saturating_mul(1_000_000),
        venue_rate_guard_pct: cfg.risk.venue_rate_guard_pct,
    }
}

/// A fresh session core exactly as the live loop and every replay of its journal build it: risk's
/// buckets start full (their start time does not matter: a full bucket stays full), no client ids
/// until the journalled `IdBlock`, parameters disabled until the journalled first push.
pub fn build_core(
    settings: SessionSettings,
    rates: RateLimits,
    params: ParamReader<QuoteParams, QUOTE_PARAM_WORDS>,
    events: EventSink,
    seed: u64,
) -> SessionCore {
    SessionCore::new(
        settings,
        PreTradeRisk::new(1, rates, UnixNanos(0)),
        params,
        IdRange { next: 0, end: 0 },
        QuoteParams::DISABLED,
        events,
        seed,
    )
}

/// After a replay at start: record what was found, then the journalled restart (everything not
/// known done becomes UNKNOWN).
fn recovered_start(
    lp: &mut Loop,
    clock: &Clock,
    shared: &Shared,
    report: &ReplayReport,
    now: UnixNanos,
) {
    let digest = lp.core.digest();
    lp.core.set_last_seq(report.last_seq);
    // A restart is stamped no earlier than the last replayed input (time never runs back).
    let ts = UnixNanos(now.0.max(report.max_ts.0));
    let s = Stamped {
        ts_recv: ts,
        ts_event: ts,
        input: Input::Restart,
    };
    if let Some((j, _)) = lp.journal.as_mut() {
        if j.next_seq() != report.last_seq + 1 {
            shared.error(format!(
                "recovery: the journal continues at seq {} but replay ended at {}",
                j.next_seq(),
                report.last_seq
            ));
        }
    }
    lp.feed(clock, None, s);
    let unknown = lp
        .core
        .orders()
        .filter(|o| o.state == crate::gateway::OrderState::Unknown)
        .count() as u64;
    if let Ok(mut g) = shared.recovery.lock() {
        *g = Some(RecoveryInfo {
            seq: report.last_seq,
            digest,
            applied: report.applied,
            unknown,
            killed: lp.core.kill_state().0,
            throttled: lp.core.core().risk().is_throttled(),
            ids_next: lp.core.core().ids_next(),
            elapsed_ns: report.elapsed_ns,
            snapshot_seq: report.snapshot.as_ref().map(|(seq, _)| *seq),
            snapshots_skipped: report
                .skipped
                .iter()
                .map(|k| format!("{}: {}", k.path.display(), k.reason))
                .collect(),
            error: None,
        });
    }
}

/// A second core in `core`'s state: `fresh` (built as `core` was) restored from `core`'s snapshot,
/// checked by digest.
fn shadow_of(core: &SessionCore, mut fresh: SessionCore) -> Result<SessionCore, String> {
    let mut b = Vec::new();
    Replayable::snapshot(core, &mut b);
    fresh.restore(&b).map_err(|e| e.to_string())?;
    if fresh.digest() != core.digest() {
        return Err("the shadow core's digest differs from the session core's".into());
    }
    Ok(fresh)
}

fn wait_response(ws: &mut WsClient, rid: u64, clock: &Clock) -> io::Result<()> {
    let deadline = clock.now().0 + 5_000_000_000;
    let mut result: Option<Result<(), String>> = None;
    while result.is_none() {
        if clock.now().0 > deadline {
            return Err(io::ErrorKind::TimedOut.into());
        }
        // Stop at the answer: what follows it (user-stream events right after the subscribe)
        // stays buffered for the session loop.
        ws.poll_until(|payload| {
            if let Ok(WsApiMessage::Response(r)) = binance_user::decode(payload) {
                if r.id == Some(rid) {
                    result = Some(match r.error {
                        None if r.status == 200 => Ok(()),
                        Some((code, msg)) => {
                            Err(format!("{code} {}", String::from_utf8_lossy(msg)))
                        }
                        None => Err(format!("status {}", r.status)),
                    });
                    return false;
                }
            }
            true
        })?;
        if result.is_none() {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    match result {
        Some(Err(e)) => Err(io::Error::new(io::ErrorKind::PermissionDenied, e)),
        _ => Ok(()),
    }
}

/// Builds the thread's parts from a config (the binding's constructor calls this).
pub fn instrument_from_config(
    cfg: &EngineConfig,
) -> Result<(PipelineInstrument, (String, String)), String> {
    use crate::model::{InstrumentId, InstrumentMaster, Scale};
    let (symbol, tick, lot, base, quote) = match &cfg.instrument {
        InstrumentConfig::Path(p) => {
            let m = InstrumentMaster::from_toml_file(std::path::Path::new(p))
                .map_err(|e| format!("instrument {p}: {e}"))?;
            let i = m
                .get(InstrumentId(0))
                .ok_or_else(|| format!("instrument {p}: empty"))?;
            (
                i.symbol.clone(),
                i.price_scale,
                i.qty_scale,
                i.base_asset.clone(),
                i.quote_asset.clone(),
            )
        }
        InstrumentConfig::Fields {
            symbol,
            tick,
            lot,
            base_asset,
            quote_asset,
        } => (
            symbol.clone(),
            Scale::parse(tick).map_err(|e| format!("tick {tick:?}: {e}"))?,
            Scale::parse(lot).map_err(|e| format!("lot {lot:?}: {e}"))?,
            base_asset.clone(),
            quote_asset.clone(),
        ),
    };
    if symbol.is_empty() || symbol.len() > 20 {
        return Err(format!("symbol {symbol:?} must be 1..=20 bytes"));
    }
    let mut sym = [0u8; 20];
    sym[..symbol.len()].copy_from_slice(symbol.as_bytes());
    Ok((
        PipelineInstrument {
            id: InstrumentId(0),
            symbol: sym,
            symbol_len: symbol.len(),
            tick,
            lot,
            rule: SequenceRule::Spot,
        },
        (base, quote),
    ))
}

/// Risk limits and rate budgets in instrument units from the config.
pub fn limits_from_config(
    cfg: &RiskConfig,
    inst: &PipelineInstrument,
) -> Result<(RiskLimits, RateLimits), String> {
    let lots = |t: &str, f: &str| -> Result<Qty, String> {
        inst.lot
            .parse_units(t.as_bytes())
            .map(Qty::from_lots)
            .map_err(|e| format!("risk.{f} {t:?}: {e}"))
    };
    // Notional in tick × lot units: the amount in ticks, divided by one lot's value.
    let notional = |t: &str, f: &str| -> Result<i128, String> {
        let ticks = inst
            .tick
            .parse_units(t.as_bytes())
            .map_err(|e| format!("risk.{f} {t:?}: {e}"))?;
        let lot_m = i128::from(inst.lot.mantissa().max(1));
        let lot_e = 10i128.pow(u32::from(inst.lot.exp()));
        Ok(i128::from(ticks) * lot_e / lot_m)
    };
    let ms = |v: u64| v.saturating_mul(1_000_000);
    Ok((
        RiskLimits {
            max_order_qty: lots(&cfg.max_order_qty, "max_order_qty")?,
            max_order_notional: notional(&cfg.max_order_notional, "max_order_notional")?,
            price_collar_bps: cfg.price_collar_bps,
            max_reference_age_ns: ms(cfg.max_reference_age_ms),
            max_long: lots(&cfg.max_long, "max_long")?,
            max_short: lots(&cfg.max_short, "max_short")?,
            max_position_notional: notional(&cfg.max_position_notional, "max_position_notional")?,
            max_open_orders: cfg.max_open_orders,
            duplicate_window_ns: ms(cfg.duplicate_window_ms),
            max_fills_in_window: cfg.max_fills_in_window,
            fill_window_ns: ms(cfg.fill_window_ms),
        },
        RateLimits {
            venue_orders_burst: cfg.venue_orders_burst,
            venue_orders_per_second: cfg.venue_orders_per_second,
            messages_burst: cfg.messages_burst,
            messages_per_second: cfg.messages_per_second,
        },
    ))
}

/// `QuoteParams` words (for the binding's partial updates).
pub fn params_words(p: &QuoteParams) -> [u64; QUOTE_PARAM_WORDS] {
    p.to_words()
}

/// What [`replay_journal`] rebuilt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineReplay {
    /// The last seq applied.
    pub seq: u64,
    /// The session core's digest there.
    pub digest: [u8; 32],
    /// Records applied.
    pub applied: u64,
    /// Order-connection frames the core sent while replaying.
    pub frames: u64,
    /// BLAKE3 of every byte of those frames, in order (with the same `seed`, the same bytes the
    /// live run sent on its order connection).
    pub output_digest: [u8; 32],
    /// Orders UNKNOWN at the end.
    pub unknown: u64,
    /// Whether the kill latch is set at the end.
    pub killed: bool,
    /// Whether the repeated-execution throttle is latched at the end.
    pub throttled: bool,
    /// The next client id at the end.
    pub ids_next: u64,
    /// Replay time, nanoseconds.
    pub elapsed_ns: u64,
}

/// Hashes what a replayed core sends.
struct HashTx {
    h: blake3::Hasher,
    frames: u64,
}

impl TxTransport for HashTx {
    fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        self.h.update(data);
        self.frames += 1;
        Ok(data.len())
    }
}

/// Replays the engine journal in `dir` (up to `stop_seq`) through a session core built from `cfg`
/// exactly as the live loop builds it, with mask seed `seed`; reports the digest and a hash of the
/// frames it sent. Off the hot path (offline tools and tests).
pub fn replay_journal(
    cfg: &EngineConfig,
    dir: &std::path::Path,
    stop_seq: Option<u64>,
    seed: u64,
) -> Result<EngineReplay, String> {
    let (inst, _) = instrument_from_config(cfg)?;
    let (limits, rates) = limits_from_config(&cfg.risk, &inst)?;
    let settings = session_settings(cfg, inst, limits);
    let (_w, reader) = crate::engine::params::param_block(QuoteParams::DISABLED);
    let mut core = build_core(settings, rates, reader, event_ring(1 << 4).0, seed);
    let mut tx = HashTx {
        h: blake3::Hasher::new(),
        frames: 0,
    };
    let t0 = stopwatch();
    let mut applied = 0;
    for r in crate::journal::JournalReader::open(dir).map_err(|e| e.to_string())? {
        let rec = r.map_err(|e| e.to_string())?.record;
        if stop_seq.is_some_and(|s| rec.seq > s) {
            break;
        }
        core.apply_record(&rec, &mut tx)
            .map_err(|e| e.to_string())?;
        applied += 1;
    }
    Ok(EngineReplay {
        seq: core.last_seq(),
        digest: core.digest(),
        applied,
        frames: tx.frames,
        output_digest: *tx.h.finalize().as_bytes(),
        unknown: core
            .orders()
            .filter(|o| o.state == crate::gateway::OrderState::Unknown)
            .count() as u64,
        killed: core.kill_state().0,
        throttled: core.core().risk().is_throttled(),
        ids_next: core.core().ids_next(),
        elapsed_ns: u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX),
    })
}

/// Replay's stopwatch (reported, never seen by the core).
#[allow(clippy::disallowed_methods)]
fn stopwatch() -> std::time::Instant {
    std::time::Instant::now()
}
