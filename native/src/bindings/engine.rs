//! Bindings for the engine's event ring: Python drains events as bytes that `pymm.events` views as a
//! numpy structured array.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::engine::events::{event_ring, EngineEvent, EventKind, EventSink};
use crate::model::{InstrumentId, Price, Qty, Side, UnixNanos};
use crate::net::ring::Consumer;

/// The Python end of an event ring.
#[pyclass(name = "EventReader", module = "pymm._native")]
pub struct PyEventReader {
    rx: Consumer<EngineEvent>,
}

#[pymethods]
impl PyEventReader {
    /// Takes up to `max_events` events as `64 × n` bytes (view them with `pymm.events.EVENT_DTYPE`).
    #[pyo3(signature = (max_events = 65536))]
    fn drain<'py>(&mut self, py: Python<'py>, max_events: usize) -> Bound<'py, PyBytes> {
        let mut out = Vec::with_capacity(64 * max_events.min(self.rx.len()));
        while out.len() < 64 * max_events {
            match self.rx.pop() {
                Some(e) => out.extend_from_slice(&e.to_bytes()),
                None => break,
            }
        }
        PyBytes::new(py, &out)
    }

    /// Events waiting now.
    fn __len__(&self) -> usize {
        self.rx.len()
    }
}

/// A producer end for simulations and tests (the engine owns the real one).
#[pyclass(name = "EventWriter", module = "pymm._native")]
pub struct PyEventWriter {
    sink: EventSink,
}

fn kind_from(k: u16) -> PyResult<EventKind> {
    Ok(match k {
        1 => EventKind::TopOfBook,
        2 => EventKind::OrderAccepted,
        3 => EventKind::OrderFilled,
        4 => EventKind::OrderCanceled,
        5 => EventKind::OrderRejected,
        6 => EventKind::OrderDenied,
        7 => EventKind::OrderUnknown,
        8 => EventKind::Stale,
        9 => EventKind::Kill,
        _ => {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "unknown event kind {k}"
            )))
        }
    })
}

#[pymethods]
impl PyEventWriter {
    /// Pushes one event; returns False when the ring was full (the drop is counted).
    #[pyo3(signature = (kind, instrument, side, seq, ts_event, ts_recv, price, qty, order_id, aux))]
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        kind: u16,
        instrument: u32,
        side: Option<u8>,
        seq: u64,
        ts_event: u64,
        ts_recv: u64,
        price: i64,
        qty: i64,
        order_id: u64,
        aux: i64,
    ) -> PyResult<bool> {
        let side = match side {
            None => None,
            Some(0) => Some(Side::Buy),
            Some(1) => Some(Side::Sell),
            Some(s) => {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "side {s} is not 0 or 1"
                )))
            }
        };
        let before = self.sink.dropped();
        self.sink.emit(EngineEvent::new(
            kind_from(kind)?,
            InstrumentId(instrument),
            side,
            seq,
            UnixNanos(ts_event),
            UnixNanos(ts_recv),
            Price::from_ticks(price),
            Qty::from_lots(qty),
            order_id,
            aux,
        ));
        Ok(self.sink.dropped() == before)
    }

    /// Events refused because the ring was full.
    #[getter]
    fn dropped(&self) -> u64 {
        self.sink.dropped()
    }
}

/// A ring of `capacity` events: `(writer, reader)`.
#[pyfunction]
fn event_ring_pair(capacity: usize) -> (PyEventWriter, PyEventReader) {
    let (sink, rx) = event_ring(capacity);
    (PyEventWriter { sink }, PyEventReader { rx })
}

/// `current` with the fields named in `params` (`QuoteParams` field names, int values) replaced;
/// an unknown name or a non-int value is refused, naming it.
pub(crate) fn merge_params(
    current: QuoteParams,
    params: &Bound<'_, PyDict>,
) -> PyResult<QuoteParams> {
    let mut words = current.to_words();
    for (k, v) in params.iter() {
        let key: String = k.extract()?;
        let i = PARAM_FIELDS
            .iter()
            .position(|f| *f == key)
            .ok_or_else(|| PyValueError::new_err(format!("unknown quote parameter {key:?}")))?;
        let v: i64 = v
            .extract()
            .map_err(|_| PyValueError::new_err(format!("{key} must be an int")))?;
        words[i] = v as u64;
    }
    Ok(QuoteParams::from_words(words))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyEventReader>()?;
    m.add_class::<PyEventWriter>()?;
    m.add_function(wrap_pyfunction!(event_ring_pair, m)?)?;
    m.add_class::<PyEngine>()?;
    m.add_function(wrap_pyfunction!(replay_engine_journal, m)?)?;
    Ok(())
}

/// Replays an engine journal through a session core built from `config` (the engine's config
/// dict) exactly as the engine builds it: `{"seq", "digest", "applied", "frames", "output_digest",
/// "unknown", "killed", "throttled", "ids_next", "elapsed_ns"}` (digests as hex). `stop_seq`: stop after that
/// record; `seed`: the order connection's mask seed (the output bytes depend on it, the digest not).
#[pyfunction]
#[pyo3(signature = (config, journal_dir, stop_seq = None, seed = 0))]
fn replay_engine_journal<'py>(
    py: Python<'py>,
    config: &Bound<'py, PyDict>,
    journal_dir: &str,
    stop_seq: Option<u64>,
    seed: u64,
) -> PyResult<Bound<'py, PyDict>> {
    let cfg: EngineConfig = super::config_from_dict(py, config)?
        .map_err(|e| PyValueError::new_err(format!("engine config: {e}")))?;
    let dir = std::path::PathBuf::from(journal_dir);
    let r = py
        .detach(|| live::replay_journal(&cfg, &dir, stop_seq, seed))
        .map_err(PyValueError::new_err)?;
    let d = PyDict::new(py);
    d.set_item("seq", r.seq)?;
    d.set_item("digest", hex(&r.digest))?;
    d.set_item("applied", r.applied)?;
    d.set_item("frames", r.frames)?;
    d.set_item("output_digest", hex(&r.output_digest))?;
    d.set_item("unknown", r.unknown)?;
    d.set_item("killed", r.killed)?;
    d.set_item("throttled", r.throttled)?;
    d.set_item("ids_next", r.ids_next)?;
    d.set_item("elapsed_ns", r.elapsed_ns)?;
    Ok(d)
}

// ---------------------------------------------------------------------------------------------
// The engine object (ADR 0005).

/// `status()["latency_ns"]` series, in recorder order: top-of-book change → first order frame
/// handed to `send`; `push_params` → first order frame of the requote handed to `send`;
/// `push_params` → the session thread saw the new version (every push); seen → handed to `send`;
/// that first `send` call itself.
const LATENCY_SERIES: [&str; 5] = [
    "tick_to_trade",
    "push_to_quote",
    "push_to_read",
    "read_to_quote",
    "quote_send",
];

/// `{series: {count, p50, p99, p999, max}}` in ns, for each of `names` (the tracker's series, in
/// order): the `status()["latency_ns"]` of both engines.
pub(crate) fn latency_dict<'py>(
    py: Python<'py>,
    latency: &LatencyTracker,
    names: &[&str],
) -> PyResult<Bound<'py, PyDict>> {
    let lat = PyDict::new(py);
    for (i, name) in names.iter().enumerate() {
        let t = latency
            .percentiles(i)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        let row = PyDict::new(py);
        row.set_item("count", t.count)?;
        row.set_item("p50", t.p50)?;
        row.set_item("p99", t.p99)?;
        row.set_item("p999", t.p999)?;
        row.set_item("max", t.max)?;
        lat.set_item(*name, row)?;
    }
    Ok(lat)
}

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::types::{PyDict, PyList};

use crate::engine::live::{self, sw, EngineConfig, LiveParts, Shared, STATUS_QUOTES_AT};
use crate::engine::params::{param_block, ParamWriter, Words};
use crate::engine::pipeline::PipelineInstrument;
use crate::engine::session::{Command, SessionState};
use crate::gateway::{ClientIdAllocator, OrderState, Signer};
use crate::journal::replay::hex;
use crate::model::Scale;
use crate::net::ring::{self, Producer};
use crate::quoter::{QuoteParams, QUOTE_PARAM_WORDS};
use crate::time::latency::{LatencyConfig, LatencyTracker};

pub(crate) const PARAM_FIELDS: [&str; QUOTE_PARAM_WORDS] = [
    "enabled",
    "anchor",
    "fair_value_mt",
    "half_spread_mt",
    "skew_mt_per_lot",
    "levels",
    "level_spacing_ticks",
    "size_lots",
    "max_inventory_lots",
    "requote_ticks",
    "ttl_ns",
    "post_only",
];

/// One venue session's trading engine: a pinned session thread driven through lock-free rings.
#[pyclass(name = "Engine", module = "pymm._native")]
pub struct PyEngine {
    cfg: EngineConfig,
    inst: PipelineInstrument,
    shared: Arc<Shared>,
    commands: Producer<Command>,
    params: ParamWriter<QuoteParams, QUOTE_PARAM_WORDS>,
    current: QuoteParams,
    pushes: u64,
    events: Consumer<EngineEvent>,
    parts: Option<LiveParts>,
    thread: Option<JoinHandle<()>>,
    latency: LatencyTracker,
    kill_reason: Option<String>,
}

fn state_name(code: u64) -> &'static str {
    match code {
        0 => SessionState::Connecting.as_str(),
        1 => SessionState::Reconciling.as_str(),
        2 => SessionState::Quoting.as_str(),
        3 => SessionState::Stale.as_str(),
        4 => SessionState::Killed.as_str(),
        5 => SessionState::Stopping.as_str(),
        _ => SessionState::Stopped.as_str(),
    }
}

fn order_state_name(code: u64) -> &'static str {
    match code {
        0 => OrderState::PendingNew.as_str(),
        1 => OrderState::New.as_str(),
        2 => OrderState::PartiallyFilled.as_str(),
        3 => OrderState::PendingCancel.as_str(),
        4 => OrderState::Unknown.as_str(),
        5 => OrderState::Filled.as_str(),
        6 => OrderState::Canceled.as_str(),
        7 => OrderState::Rejected.as_str(),
        8 => OrderState::Expired.as_str(),
        _ => OrderState::NeverLive.as_str(),
    }
}

fn amount_text(v: i64) -> String {
    crate::model::decimal::format_fixed(v, crate::engine::session::AMOUNT_EXP)
}

impl PyEngine {
    fn send(&mut self, c: Command) -> PyResult<()> {
        if self.thread.is_none() {
            return Err(PyRuntimeError::new_err("the engine is not started"));
        }
        self.commands
            .push(c)
            .map_err(|_| PyRuntimeError::new_err("the command ring is full"))
    }

    fn words(&self) -> [u64; live::STATUS_WORDS] {
        self.shared.status.read()
    }
}

#[pymethods]
impl PyEngine {
    /// Builds the engine from a session config dict (ADR 0005); nothing runs until `start()`.
    #[new]
    fn new(py: Python<'_>, config: &Bound<'_, PyDict>) -> PyResult<Self> {
        let cfg: EngineConfig = super::config_from_dict(py, config)?
            .map_err(|e| PyValueError::new_err(format!("engine config: {e}")))?;
        let (inst, assets) = live::instrument_from_config(&cfg).map_err(PyValueError::new_err)?;
        let (limits, rates) =
            live::limits_from_config(&cfg.risk, &inst).map_err(PyValueError::new_err)?;
        let signer = match (&cfg.ed25519_private_pem, &cfg.hmac_secret) {
            (Some(pem), _) => Signer::ed25519_pem(pem).map_err(|e| PyValueError::new_err(format!("ed25519_private_pem: {e}")))?,
            (None, Some(_)) => {
                return Err(PyValueError::new_err(
                    "hmac_secret: the WebSocket-API session.logon needs an Ed25519 key (give ed25519_private_pem)",
                ))
            }
            (None, None) => return Err(PyValueError::new_err("ed25519_private_pem is required")),
        };
        if cfg.client_prefix.is_empty() || cfg.client_prefix.len() > 8 {
            return Err(PyValueError::new_err(
                "client_prefix must be 1..=8 characters",
            ));
        }
        let ids = ClientIdAllocator::open(
            &cfg.client_id_file,
            crate::gateway::client_id::DEFAULT_BLOCK,
        )
        .map_err(|e| {
            PyValueError::new_err(format!("client_id_file {}: {e}", cfg.client_id_file))
        })?;
        let journal = match &cfg.journal_dir {
            Some(d) => {
                let opened = crate::journal::open_engine_journal(
                    d,
                    cfg.journal_core,
                    cfg.journal_idle_sleep_us,
                    crate::journal::JournalConfig::default(),
                )
                .map_err(PyValueError::new_err)?;
                Some((opened.handle, opened.writer))
            }
            None => None,
        };
        let tls = match &cfg.tls_ca_file {
            Some(f) => Some(
                crate::engine::ws_client::TlsTrust::from_ca_file(std::path::Path::new(f))
                    .map_err(|e| PyValueError::new_err(format!("tls_ca_file {f}: {e}")))?,
            ),
            None => None,
        };
        let (writer, reader) = param_block(QuoteParams::DISABLED);
        let (cmd_tx, cmd_rx) = ring::channel(256);
        let (sink, events) = event_ring(1 << 16);
        let mut latency = LatencyTracker::new(
            LatencyConfig::default(),
            &LATENCY_SERIES,
            crate::model::UnixNanos(0),
        )
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        let recorder = latency
            .take_recorder(0)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        let push_recorder = latency
            .take_recorder(1)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        let read_recorder = latency
            .take_recorder(2)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        let read_quote_recorder = latency
            .take_recorder(3)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        let send_recorder = latency
            .take_recorder(4)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        let shared = Arc::new(Shared::new());
        let seed = {
            let mut b = [0u8; 8];
            let ok = std::fs::File::open("/dev/urandom")
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
                .is_ok();
            if ok {
                u64::from_le_bytes(b)
            } else {
                u64::from(std::process::id()).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            }
        };
        let parts = LiveParts {
            cfg: cfg.clone(),
            inst,
            assets,
            limits,
            rates,
            signer,
            ids,
            params: reader,
            commands: cmd_rx,
            events: sink,
            tick_to_trade: recorder,
            push_to_quote: push_recorder,
            push_to_read: read_recorder,
            read_to_quote: read_quote_recorder,
            quote_send: send_recorder,
            journal,
            tls,
            shared: Arc::clone(&shared),
            seed,
        };
        Ok(Self {
            cfg,
            inst,
            shared,
            commands: cmd_tx,
            params: writer,
            current: QuoteParams::DISABLED,
            pushes: 0,
            events,
            parts: Some(parts),
            thread: None,
            latency,
            kill_reason: None,
        })
    }

    /// Spawns the session thread; returns at once.
    fn start(&mut self) -> PyResult<()> {
        let parts = self
            .parts
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("the engine was already started"))?;
        let t = std::thread::Builder::new()
            .name("pymm-session".into())
            .spawn(move || live::run(parts))
            .map_err(|e| PyRuntimeError::new_err(format!("spawning the session thread: {e}")))?;
        self.thread = Some(t);
        Ok(())
    }

    /// Writes quoting parameters (fields of `QuoteParams`; missing ones keep their value) into the
    /// parameter block; returns the block version. Never blocks the session thread.
    fn push_params(&mut self, params: &Bound<'_, PyDict>) -> PyResult<u64> {
        self.current = merge_params(self.current, params)?;
        self.pushes += 1;
        self.shared.push_ts.store(
            crate::time::posix_clock::PosixClock::MonotonicRaw.now_ns(),
            Ordering::Release,
        );
        Ok(self.params.write(self.current))
    }

    /// Latches the kill switch (block entry, cancel all open orders, pull quotes). Waits up to
    /// `timeout_s` for the venue's cancel-all answer; returns whether it came.
    #[pyo3(signature = (reason, timeout_s = 1.0))]
    fn kill(&mut self, py: Python<'_>, reason: String, timeout_s: f64) -> PyResult<bool> {
        self.shared.kill_push_ts.store(
            crate::time::posix_clock::PosixClock::MonotonicRaw.now_ns(),
            Ordering::Release,
        );
        self.send(Command::Kill)?;
        self.kill_reason = Some(reason);
        Ok(self.wait_kill(py, timeout_s))
    }

    /// Waits up to `timeout_s` (GIL released, the status block read every 50 µs) until the venue
    /// confirmed the last kill's mass cancel; returns whether it did.
    #[pyo3(signature = (timeout_s = 1.0))]
    fn wait_kill(&self, py: Python<'_>, timeout_s: f64) -> bool {
        let shared = Arc::clone(&self.shared);
        let mono = || crate::time::posix_clock::PosixClock::Monotonic.now_ns();
        let deadline = mono() + (timeout_s.max(0.0) * 1e9) as u64;
        py.detach(move || loop {
            let w = shared.status.read();
            if w[sw::FLAGS] & (1 << 4) != 0 {
                return true;
            }
            if mono() >= deadline || shared.finished.load(Ordering::Acquire) {
                return false;
            }
            std::thread::sleep(Duration::from_micros(50));
        })
    }

    /// The last kill at a glance, without building the status dict: `(latched, confirmed,
    /// told_ns, sent_ns, confirmed_ns, ring_ns)` — the engine clock's stamps (ns since the epoch,
    /// 0: not reached) of taking the command, handing the mass cancel to the socket and reading
    /// the venue's confirmation, and Python's push → the engine took it (ns).
    fn kill_times(&self) -> (bool, bool, u64, u64, u64, u64) {
        let w = self.words();
        let flags = w[sw::FLAGS];
        (
            flags & 8 != 0,
            flags & 16 != 0,
            w[sw::KILL_TOLD],
            w[sw::KILL_SENT],
            w[sw::KILL_CONFIRMED],
            w[sw::KILL_RING],
        )
    }

    /// Clears the kill latch (the two-person rule is enforced by the caller).
    fn lift(&mut self) -> PyResult<()> {
        self.send(Command::Lift)?;
        self.kill_reason = None;
        Ok(())
    }

    /// Drains up to `max` events as a numpy structured array of `pymm.events.EVENT_DTYPE`.
    #[pyo3(signature = (max = 65536))]
    fn poll_events<'py>(&mut self, py: Python<'py>, max: usize) -> PyResult<Bound<'py, PyAny>> {
        let mut out = Vec::with_capacity(64 * max.min(self.events.len()));
        while out.len() < 64 * max {
            match self.events.pop() {
                Some(e) => out.extend_from_slice(&e.to_bytes()),
                None => break,
            }
        }
        let dtype = py.import("pymm.events")?.getattr("EVENT_DTYPE")?;
        let bytes = PyBytes::new(py, &out);
        py.import("numpy")?
            .call_method1("frombuffer", (bytes, dtype))
    }

    /// A snapshot of the session (ADR 0005's instrument block plus counters); decimals as text.
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let w = self.words();
        let tick: Scale = self.inst.tick;
        let lot: Scale = self.inst.lot;
        let px = |t: u64| tick.format_units(t as i64);
        let qty = |l: u64| lot.format_units(l as i64);
        let d = PyDict::new(py);
        let running = self.thread.is_some() && !self.shared.finished.load(Ordering::Acquire);
        let flags = w[sw::FLAGS];
        d.set_item(
            "state",
            if self.thread.is_none() {
                "created"
            } else {
                state_name(w[sw::STATE])
            },
        )?;
        d.set_item("running", running)?;
        d.set_item("order_session", flags & 1 != 0)?;
        d.set_item("market_data", flags & 2 != 0)?;
        d.set_item("stale", flags & 4 != 0)?;
        let kill = PyDict::new(py);
        kill.set_item("latched", flags & 8 != 0)?;
        kill.set_item("confirmed", flags & 16 != 0)?;
        kill.set_item("reason", self.kill_reason.clone())?;
        let (told, sent, done) = (w[sw::KILL_TOLD], w[sw::KILL_SENT], w[sw::KILL_CONFIRMED]);
        let since = |t: u64| (told > 0 && t >= told).then(|| t - told);
        kill.set_item("told_ns", (told > 0).then_some(told))?;
        kill.set_item("sent_ns", (sent > 0).then_some(sent))?;
        kill.set_item("confirmed_ns", (done > 0).then_some(done))?;
        kill.set_item("send_ns", since(sent))?;
        kill.set_item("confirm_ns", since(done))?;
        kill.set_item("ring_ns", (told > 0).then_some(w[sw::KILL_RING]))?;
        d.set_item("kill", kill)?;
        let symbol =
            String::from_utf8_lossy(&self.inst.symbol[..self.inst.symbol_len]).into_owned();
        d.set_item("symbol", &symbol)?;
        let book = PyDict::new(py);
        let tf = w[sw::TOP_FLAGS];
        book.set_item("bid", (tf & 1 != 0).then(|| px(w[sw::BID])))?;
        book.set_item("bid_qty", (tf & 1 != 0).then(|| qty(w[sw::BID_QTY])))?;
        book.set_item("ask", (tf & 2 != 0).then(|| px(w[sw::ASK])))?;
        book.set_item("ask_qty", (tf & 2 != 0).then(|| qty(w[sw::ASK_QTY])))?;
        d.set_item("book", book)?;
        let quotes = PyList::empty(py);
        let prefix = &self.cfg.client_prefix;
        for k in 0..(w[sw::N_QUOTES] as usize).min(crate::engine::session::STATUS_QUOTES) {
            let at = STATUS_QUOTES_AT + 5 * k;
            let q = PyDict::new(py);
            q.set_item("client_id", format!("{prefix}{}", w[at]))?;
            q.set_item("side", if w[at + 1] & 0xFF == 0 { "BUY" } else { "SELL" })?;
            q.set_item("state", order_state_name(w[at + 1] >> 8))?;
            q.set_item("price", px(w[at + 2]))?;
            q.set_item("qty", qty(w[at + 3]))?;
            q.set_item("filled", qty(w[at + 4]))?;
            quotes.append(q)?;
        }
        d.set_item("quotes", quotes)?;
        d.set_item("position", qty(w[sw::POSITION]))?;
        d.set_item("position_lots", w[sw::POSITION] as i64)?;
        let bal = PyDict::new(py);
        bal.set_item("base", amount_text(w[sw::BASE] as i64))?;
        bal.set_item("quote", amount_text(w[sw::QUOTE] as i64))?;
        d.set_item("balance_change", bal)?;
        let fees = PyDict::new(py);
        fees.set_item("base", amount_text(w[sw::BASE_FEES] as i64))?;
        fees.set_item("quote", amount_text(w[sw::QUOTE_FEES] as i64))?;
        fees.set_item("other", amount_text(w[sw::OTHER_FEES] as i64))?;
        d.set_item("fees", fees)?;
        let orders = PyDict::new(py);
        for (name, i) in [
            ("sent", sw::SENT),
            ("cancels_sent", sw::CANCELS),
            ("accepted", sw::ACCEPTED),
            ("fills", sw::FILLS),
            ("canceled", sw::CANCELED),
            ("rejected", sw::REJECTED),
            ("denied", sw::DENIED),
            ("rate_denied", sw::RATE_DENIED),
            ("unknown_total", sw::UNKNOWN_TOTAL),
            ("working", sw::WORKING),
            ("unknown", sw::UNKNOWN_NOW),
            ("orphans_canceled", sw::ORPHANS),
            ("fills_without_fee", sw::FILLS_NO_FEE),
            ("untracked_fills", sw::UNTRACKED_FILLS),
            ("status_queries", sw::QUERIES),
        ] {
            orders.set_item(name, w[i])?;
        }
        d.set_item("orders", orders)?;
        let risk = PyDict::new(py);
        risk.set_item("position_limit_long", qty(w[sw::MAX_LONG]))?;
        risk.set_item("position_limit_short", qty(w[sw::MAX_SHORT]))?;
        risk.set_item("headroom_buy", qty(w[sw::HEAD_BUY]))?;
        risk.set_item("headroom_sell", qty(w[sw::HEAD_SELL]))?;
        risk.set_item("open_orders", w[sw::OPEN_ORDERS])?;
        risk.set_item("max_open_orders", w[sw::MAX_OPEN])?;
        risk.set_item("throttled", flags & 128 != 0)?;
        d.set_item("risk", risk)?;
        let counters = PyDict::new(py);
        for (name, i) in [
            ("inputs", sw::INPUTS),
            ("order_connects", sw::CONNECTS),
            ("market_connects", sw::MD_CONNECTS),
            ("reconciles", sw::RECONCILES),
            ("gaps", sw::GAPS),
            ("decode_errors", sw::DECODE_ERRORS),
            ("http_429", sw::HTTP_429),
            ("http_418", sw::HTTP_418),
            ("events_dropped", sw::EVENTS_DROPPED),
            ("venue_orders_10s", sw::VENUE_ORDERS_10S),
            ("venue_orders_10s_limit", sw::VENUE_ORDERS_10S_LIMIT),
        ] {
            counters.set_item(name, w[i])?;
        }
        counters.set_item(
            "journal_dropped",
            self.shared.journal_dropped.load(Ordering::Relaxed),
        )?;
        d.set_item("counters", counters)?;
        d.set_item(
            "latency_ns",
            latency_dict(py, &self.latency, &LATENCY_SERIES)?,
        )?;
        let params = PyDict::new(py);
        params.set_item("version", w[sw::PARAM_VERSION])?;
        params.set_item("pushes", self.pushes)?;
        let cur = PyDict::new(py);
        for (name, v) in PARAM_FIELDS.iter().zip(self.current.to_words()) {
            cur.set_item(*name, v as i64)?;
        }
        params.set_item("current", cur)?;
        d.set_item("params", params)?;
        let j = self.shared.journal.read();
        let mut digest = [0u8; 32];
        for (k, w) in j[1..].iter().enumerate() {
            digest[8 * k..8 * k + 8].copy_from_slice(&w.to_le_bytes());
        }
        let jd = PyDict::new(py);
        jd.set_item("seq", j[0])?;
        jd.set_item("writer_core", self.cfg.journal_core)?;
        jd.set_item("digest", hex(&digest))?;
        let halt = self.shared.journal_halt.lock().ok().and_then(|g| g.clone());
        jd.set_item("halted", halt)?;
        let snaps = self.shared.snapshots.lock().ok().and_then(|g| g.clone());
        match snaps {
            Some(st) => {
                let sd = PyDict::new(py);
                sd.set_item("written", st.written.load(Ordering::Acquire))?;
                sd.set_item("seq", st.seq.load(Ordering::Acquire))?;
                sd.set_item("errors", st.errors.load(Ordering::Acquire))?;
                sd.set_item("last_ms", st.last_ns.load(Ordering::Acquire) as f64 / 1e6)?;
                let err = st.last_error.lock().ok().and_then(|g| g.clone());
                sd.set_item("last_error", err)?;
                jd.set_item("snapshots", sd)?;
            }
            None => jd.set_item("snapshots", py.None())?,
        }
        d.set_item("journal", jd)?;
        let rec = self
            .shared
            .recovery
            .lock()
            .map(|g| g.clone())
            .unwrap_or_default();
        match rec {
            Some(r) => {
                let rd = PyDict::new(py);
                rd.set_item("seq", r.seq)?;
                rd.set_item("digest", hex(&r.digest))?;
                rd.set_item("applied", r.applied)?;
                rd.set_item("unknown", r.unknown)?;
                rd.set_item("killed", r.killed)?;
                rd.set_item("throttled", r.throttled)?;
                rd.set_item("ids_next", r.ids_next)?;
                rd.set_item("elapsed_ns", r.elapsed_ns)?;
                rd.set_item("snapshot_seq", r.snapshot_seq)?;
                rd.set_item("snapshots_skipped", r.snapshots_skipped)?;
                rd.set_item("error", r.error)?;
                d.set_item("recovery", rd)?;
            }
            None => d.set_item("recovery", py.None())?,
        }
        let err = self
            .shared
            .last_error
            .lock()
            .map(|g| g.clone())
            .unwrap_or_default();
        d.set_item("last_error", if err.is_empty() { None } else { Some(err) })?;
        Ok(d)
    }

    /// Orderly stop: block entry, cancel all, wait for the answers, join the thread. Returns
    /// whether it finished within `timeout_s` (if not, the thread is told to exit at once).
    #[pyo3(signature = (timeout_s = 5.0))]
    fn stop(&mut self, py: Python<'_>, timeout_s: f64) -> PyResult<bool> {
        let Some(t) = self.thread.take() else {
            return Ok(true);
        };
        let _ = self.commands.push(Command::Stop);
        let shared = Arc::clone(&self.shared);
        let mono = || crate::time::posix_clock::PosixClock::Monotonic.now_ns();
        let deadline = mono() + (timeout_s.max(0.0) * 1e9) as u64;
        let orderly = py.detach(move || {
            let ok = loop {
                if shared.finished.load(Ordering::Acquire) {
                    break true;
                }
                if mono() >= deadline {
                    shared.abort.store(true, Ordering::Relaxed);
                    break false;
                }
                std::thread::sleep(Duration::from_millis(1));
            };
            let _ = t.join();
            ok
        });
        Ok(orderly)
    }

    /// Whether the session thread is running.
    #[getter]
    fn running(&self) -> bool {
        self.thread.is_some() && !self.shared.finished.load(Ordering::Acquire)
    }
}

impl Drop for PyEngine {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.shared.abort.store(true, Ordering::Relaxed);
            let _ = t.join();
        }
    }
}
