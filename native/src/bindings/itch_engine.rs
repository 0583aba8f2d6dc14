//! Bindings for `engine::itch_live`: `ItchEngine`, the live ITCH/OUCH quoting engine on its own
//! thread. Conversion only: the config dict goes through JSON into `ItchEngineConfig`; parameters
//! go through the seqlock parameter block, commands through the SPSC ring, status comes from the
//! seqlock status block. Prices are decimal text on the session's tick.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::engine::{latency_dict, merge_params};
use crate::engine::itch_live::{
    sw, Command, ItchEngineConfig, ItchLoop, ItchShared, OUCH_COUNTERS, STATUS_QUOTES_AT,
    STATUS_WORDS,
};
use crate::engine::ouch_session::Phase;
use crate::engine::params::{param_block, ParamWriter};
use crate::model::Scale;
use crate::net::ring::{self, Producer};
use crate::quoter::{QuoteParams, QUOTE_PARAM_WORDS};
use crate::time::latency::{LatencyConfig, LatencyTracker};
use crate::time::posix_clock::PosixClock;

/// `status()["latency_ns"]` series: a datagram that changed the book received (kernel timestamp)
/// → the decision's orders written to the OUCH socket.
const LATENCY_SERIES: [&str; 1] = ["tick_to_trade"];

/// The live ITCH/OUCH quoting engine: one thread (pinnable) that owns the feed sockets and the OUCH
/// session; driven through lock-free structures.
#[pyclass(name = "ItchEngine", module = "pymm._native")]
pub(crate) struct PyItchEngine {
    tick: Scale,
    journal_core: Option<usize>,
    shared: Arc<ItchShared>,
    commands: Producer<Command>,
    params: ParamWriter<QuoteParams, QUOTE_PARAM_WORDS>,
    current: QuoteParams,
    /// The loop until `start()` (a mutex only to make the object shareable; never contended).
    parts: Mutex<Option<ItchLoop>>,
    thread: Option<JoinHandle<()>>,
    latency: LatencyTracker,
}

const PHASES: [Phase; 8] = [
    Phase::Connecting,
    Phase::Reconciling,
    Phase::Ready,
    Phase::Killed,
    Phase::Stopping,
    Phase::Stopped,
    Phase::Ended,
    Phase::Failed,
];

fn mono() -> u64 {
    PosixClock::Monotonic.now_ns()
}

impl PyItchEngine {
    fn send(&mut self, c: Command) -> PyResult<()> {
        if self.thread.is_none() {
            return Err(PyRuntimeError::new_err("the engine is not started"));
        }
        self.commands
            .push(c)
            .map_err(|_| PyRuntimeError::new_err("the command ring is full"))
    }
}

#[pymethods]
impl PyItchEngine {
    /// Builds the engine (opens the journal if `journal_dir` is set, the feed and re-request
    /// sockets, reserves client ids); nothing runs until `start()`.
    #[new]
    fn new(py: Python<'_>, config: &Bound<'_, PyDict>) -> PyResult<Self> {
        let cfg: ItchEngineConfig = super::config_from_dict(py, config)?
            .map_err(|e| PyValueError::new_err(format!("itch engine config: {e}")))?;
        let tick = cfg.ouch.instrument().map_err(PyValueError::new_err)?.tick;
        let (writer, reader) = param_block(QuoteParams::DISABLED);
        let (cmd_tx, cmd_rx) = ring::channel(256);
        let shared = Arc::new(ItchShared::new());
        let mut parts = ItchLoop::new(&cfg, reader, cmd_rx, Arc::clone(&shared))
            .map_err(PyValueError::new_err)?;
        let rt = |e: crate::time::latency::LatencyError| PyRuntimeError::new_err(e.to_string());
        let mut latency = LatencyTracker::new(
            LatencyConfig::default(),
            &LATENCY_SERIES,
            crate::model::UnixNanos(0),
        )
        .map_err(rt)?;
        parts.set_tick_to_trade(latency.take_recorder(0).map_err(rt)?);
        Ok(Self {
            tick,
            journal_core: cfg.journal_core,
            shared,
            commands: cmd_tx,
            params: writer,
            current: QuoteParams::DISABLED,
            parts: Mutex::new(Some(parts)),
            thread: None,
            latency,
        })
    }

    /// The local port of the feed socket (useful with port 0).
    #[getter]
    fn feed_port(&self) -> PyResult<u16> {
        self.parts
            .lock()
            .map_err(|_| PyRuntimeError::new_err("poisoned"))?
            .as_ref()
            .map(ItchLoop::feed_port)
            .ok_or_else(|| PyRuntimeError::new_err("the engine was already started"))
    }

    /// The local port of line B's socket (`None` without `feed_b`).
    #[getter]
    fn feed_b_port(&self) -> PyResult<Option<u16>> {
        self.parts
            .lock()
            .map_err(|_| PyRuntimeError::new_err("poisoned"))?
            .as_ref()
            .map(ItchLoop::feed_b_port)
            .ok_or_else(|| PyRuntimeError::new_err("the engine was already started"))
    }

    /// Spawns the engine thread; returns at once.
    fn start(&mut self) -> PyResult<()> {
        let parts = self
            .parts
            .lock()
            .map_err(|_| PyRuntimeError::new_err("poisoned"))?
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("the engine was already started"))?;
        let t = std::thread::Builder::new()
            .name("pymm-itch".into())
            .spawn(move || parts.run())
            .map_err(|e| PyRuntimeError::new_err(format!("spawning the engine thread: {e}")))?;
        self.thread = Some(t);
        Ok(())
    }

    /// Writes quoting parameters (fields of `QuoteParams`; missing ones keep their value);
    /// returns the block version.
    fn push_params(&mut self, params: &Bound<'_, PyDict>) -> PyResult<u64> {
        self.current = merge_params(self.current, params)?;
        Ok(self.params.write(self.current))
    }

    /// Latches the kill switch: entry denied, one Cancel per open token, quotes pulled.
    fn kill(&mut self) -> PyResult<()> {
        self.send(Command::Kill)
    }

    /// Clears the kill latch (the two-person rule is enforced by the caller).
    fn lift(&mut self) -> PyResult<()> {
        self.send(Command::Lift)
    }

    /// Drops the OUCH connection now, as a reset would (operators and fault tests).
    fn drop_link(&mut self) -> PyResult<()> {
        self.send(Command::DropLink)
    }

    /// Orderly stop (cancel all, log out), waiting up to `timeout_s`; returns whether it finished
    /// in time (otherwise the thread is aborted).
    #[pyo3(signature = (timeout_s = 5.0))]
    fn stop(&mut self, py: Python<'_>, timeout_s: f64) -> PyResult<bool> {
        let Some(t) = self.thread.take() else {
            return Ok(true);
        };
        let _ = self.commands.push(Command::Stop);
        let shared = Arc::clone(&self.shared);
        let deadline = mono() + (timeout_s.max(0.0) * 1e9) as u64;
        Ok(py.detach(move || {
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
        }))
    }

    /// Whether the engine thread is running.
    #[getter]
    fn running(&self) -> bool {
        self.thread.is_some() && !self.shared.finished.load(Ordering::Acquire)
    }

    /// A snapshot: session phase, flags, book top, position, order counts, working quotes,
    /// feed and session counters.
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let w: [u64; STATUS_WORDS] = self.shared.status.read();
        let d = PyDict::new(py);
        let phase = PHASES
            .get(w[sw::PHASE] as usize)
            .copied()
            .unwrap_or(Phase::Failed);
        d.set_item("phase", phase.as_str())?;
        let f = w[sw::FLAGS];
        d.set_item("link_up", f & 1 != 0)?;
        d.set_item("stale", f & 2 != 0)?;
        d.set_item("killed", f & 4 != 0)?;
        d.set_item("feed_gave_up", f & 8 != 0)?;
        d.set_item("running", f & 16 != 0)?;
        d.set_item("finished", f & 32 != 0)?;
        d.set_item("position", w[sw::POSITION] as i64)?;
        d.set_item("open_orders", w[sw::OPEN_ORDERS])?;
        d.set_item("unknown_orders", w[sw::UNKNOWN_ORDERS])?;
        let px = |t: u64| self.tick.format_units(t as i64);
        let tf = w[sw::TOP_FLAGS];
        d.set_item(
            "bid",
            (tf & 1 != 0).then(|| (px(w[sw::BID]), w[sw::BID_QTY])),
        )?;
        d.set_item(
            "ask",
            (tf & 2 != 0).then(|| (px(w[sw::ASK]), w[sw::ASK_QTY])),
        )?;
        let quotes = PyList::empty(py);
        for i in 0..(w[sw::QUOTES] as usize).min(crate::engine::itch_live::STATUS_QUOTES) {
            let at = STATUS_QUOTES_AT + 4 * i;
            let q = PyDict::new(py);
            q.set_item("token", w[at])?;
            q.set_item("side", if w[at + 1] == 1 { "BUY" } else { "SELL" })?;
            q.set_item("price", px(w[at + 2]))?;
            q.set_item("qty", w[at + 3])?;
            quotes.append(q)?;
        }
        d.set_item("quotes", quotes)?;
        let feed = PyDict::new(py);
        for (k, i) in [
            ("datagrams", sw::DATAGRAMS),
            ("applied", sw::APPLIED),
            ("next_seq", sw::NEXT_SEQ),
            ("gaps", sw::GAPS),
            ("rerequests", sw::REREQUESTS),
            ("duplicates", sw::DUPLICATES),
            ("decode_errors", sw::DECODE_ERRORS),
            ("book_errors", sw::BOOK_ERRORS),
            ("won_a", sw::WON),
            ("won_b", sw::WON + 1),
            ("won_rerequest", sw::WON + 2),
            ("reordered", sw::REORDERED),
        ] {
            feed.set_item(k, w[i])?;
        }
        d.set_item("feed", feed)?;
        d.set_item(
            "latency_ns",
            latency_dict(py, &self.latency, &LATENCY_SERIES)?,
        )?;
        // The last kill on CLOCK_MONOTONIC (Python's `time.monotonic_ns()`), ns; 0: not yet.
        let k = PyDict::new(py);
        k.set_item("told", w[sw::KILL_TOLD])?;
        k.set_item("sent", w[sw::KILL_SENT])?;
        k.set_item("confirmed", w[sw::KILL_DONE])?;
        d.set_item("kill_ns", k)?;
        let q = PyDict::new(py);
        q.set_item("requotes", w[sw::REQUOTES])?;
        q.set_item("refused", w[sw::REFUSED])?;
        q.set_item("orphans_cancelled", w[sw::ORPHANS])?;
        q.set_item("param_version", w[sw::PARAM_VERSION])?;
        d.set_item("quoting", q)?;
        let c = PyDict::new(py);
        for (i, k) in OUCH_COUNTERS.iter().enumerate() {
            c.set_item(*k, w[sw::OUCH + i])?;
        }
        d.set_item("ouch", c)?;
        let j = PyDict::new(py);
        j.set_item("enabled", f & 64 != 0)?;
        j.set_item("seq", w[sw::JOURNAL_SEQ])?;
        j.set_item("dropped", w[sw::JOURNAL_DROPPED])?;
        j.set_item("writer_core", self.journal_core)?;
        let halt = self.shared.journal_halt.lock().ok().and_then(|g| g.clone());
        j.set_item("halted", halt)?;
        d.set_item("journal", j)?;
        let err = self
            .shared
            .last_error
            .lock()
            .map(|g| g.clone())
            .unwrap_or_default();
        d.set_item("last_error", (!err.is_empty()).then_some(err))?;
        Ok(d)
    }
}

impl Drop for PyItchEngine {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.shared.abort.store(true, Ordering::Relaxed);
            let _ = t.join();
        }
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyItchEngine>()
}
