//! Bindings for `journal`: `Journal.open` / `append_*` / `close` (tests and tools drive a journal
//! from Python), `Journal.verify` and `Journal.read` (the `pymm ledger` CLI). Conversion only.

use std::path::{Path, PathBuf};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use super::errors::JournalError as PyJournalError;
use crate::journal::{
    self, FsyncPolicy, JournalConfig, JournalHandle, JournalRecord, JournalStats, JournalWriter,
    Payload, ReadRecord, RecordKind, Recovery, VerifyReport,
};
use crate::model::{BookDelta, InstrumentId, OrderAction, OrderEvent, OrderRef, Price, Qty};
use crate::model::{Side, Trade, UnixNanos};

/// An open journal: the producer handle and the writer thread, closed by `close()` or `with`.
#[pyclass(name = "Journal", module = "pymm._native")]
pub(crate) struct PyJournal {
    inner: Option<(JournalHandle, JournalWriter)>,
    recovery: Recovery,
    dir: PathBuf,
}

fn side(s: &str) -> PyResult<Side> {
    match s {
        "BUY" => Ok(Side::Buy),
        "SELL" => Ok(Side::Sell),
        _ => Err(PyJournalError::new_err(format!(
            "side must be 'BUY' or 'SELL', got {s:?}"
        ))),
    }
}

fn kind(name: &str) -> PyResult<RecordKind> {
    RecordKind::from_name(name)
        .ok_or_else(|| PyJournalError::new_err(format!("unknown record kind {name:?}")))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl PyJournal {
    fn handle(&mut self) -> PyResult<&mut JournalHandle> {
        self.inner
            .as_mut()
            .map(|(h, _)| h)
            .ok_or_else(|| PyJournalError::new_err("journal is closed"))
    }

    fn push(&mut self, rec: JournalRecord) -> PyResult<u64> {
        Ok(self.handle()?.append(rec)?)
    }
}

fn stats_dict<'py>(py: Python<'py>, s: &JournalStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("appended", s.appended)?;
    d.set_item("dropped_full", s.dropped_full)?;
    d.set_item("written", s.written)?;
    d.set_item("bytes_written", s.bytes_written)?;
    d.set_item("fsyncs", s.fsyncs)?;
    d.set_item("segments_created", s.segments_created)?;
    d.set_item("written_seq", s.written_seq)?;
    d.set_item("durable_seq", s.durable_seq)?;
    d.set_item("ring_bytes", s.ring_bytes)?;
    d.set_item("ring_huge_page_bytes", s.ring_huge_page_bytes)?;
    Ok(d)
}

fn recovery_dict<'py>(py: Python<'py>, r: &Recovery) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("next_seq", r.next_seq)?;
    d.set_item("head_hash", hex(&r.head))?;
    d.set_item("segments", r.segments)?;
    d.set_item("records", r.records)?;
    d.set_item("removed_temporaries", r.removed_temporaries)?;
    match &r.cut {
        None => d.set_item("cut", py.None())?,
        Some(c) => {
            let cut = PyDict::new(py);
            cut.set_item("segment", &c.segment)?;
            cut.set_item("offset", c.offset)?;
            cut.set_item("bytes", c.bytes)?;
            cut.set_item("seq", c.seq)?;
            cut.set_item("reason", c.reason.to_string())?;
            cut.set_item("removed_segment", c.removed_segment)?;
            d.set_item("cut", cut)?;
        }
    }
    Ok(d)
}

fn report_dict<'py>(py: Python<'py>, r: &VerifyReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("intact", r.is_intact())?;
    d.set_item("records", r.records)?;
    d.set_item("segments", r.segments)?;
    d.set_item("first_seq", r.first_seq)?;
    d.set_item("last_seq", r.last_seq)?;
    d.set_item("head_hash", hex(&r.head_hash))?;
    match &r.first_bad {
        None => d.set_item("first_bad", py.None())?,
        Some(b) => {
            let bad = PyDict::new(py);
            bad.set_item("seq", b.seq)?;
            bad.set_item("segment", &b.segment)?;
            bad.set_item("offset", b.offset)?;
            bad.set_item("reason", b.reason.to_string())?;
            bad.set_item("torn_tail", b.torn_tail)?;
            d.set_item("first_bad", bad)?;
        }
    }
    Ok(d)
}

fn record_dict<'py>(
    py: Python<'py>,
    r: &ReadRecord,
    segments: &[journal::SegmentInfo],
) -> PyResult<Bound<'py, PyDict>> {
    let rec = &r.record;
    let d = PyDict::new(py);
    d.set_item("seq", rec.seq)?;
    d.set_item("kind", rec.kind.name())?;
    d.set_item("version", rec.version)?;
    d.set_item("ts_recv", rec.ts_recv.as_u64())?;
    d.set_item("ts_event", rec.ts_event.as_u64())?;
    d.set_item("segment", segments.get(r.segment).map(|s| s.path.clone()))?;
    d.set_item("offset", r.offset)?;
    d.set_item("chain", hex(&r.chain))?;
    match rec
        .decode()
        .map_err(|e| PyJournalError::new_err(e.to_string()))?
    {
        Payload::BookDelta(b) => {
            d.set_item("instrument", b.instrument.0)?;
            d.set_item("side", b.side.as_str())?;
            d.set_item("price", b.price.ticks())?;
            d.set_item("qty", b.qty.lots())?;
            d.set_item("sequence", b.sequence)?;
        }
        Payload::OrderEvent(e) => {
            let (action, new_ref) = match e.action {
                OrderAction::Add => ("add", None),
                OrderAction::Cancel => ("cancel", None),
                OrderAction::Delete => ("delete", None),
                OrderAction::Execute => ("execute", None),
                OrderAction::Replace { new_ref } => ("replace", Some(new_ref.0)),
                OrderAction::Clear => ("clear", None),
            };
            d.set_item("instrument", e.instrument.0)?;
            d.set_item("action", action)?;
            d.set_item("new_ref", new_ref)?;
            d.set_item("order", e.order.0)?;
            d.set_item("side", e.side.as_str())?;
            d.set_item("price", e.price.ticks())?;
            d.set_item("qty", e.qty.lots())?;
            d.set_item("sequence", e.sequence)?;
        }
        Payload::Trade(t) => {
            d.set_item("instrument", t.instrument.0)?;
            d.set_item("price", t.price.ticks())?;
            d.set_item("qty", t.qty.lots())?;
            d.set_item("aggressor", t.aggressor.map(Side::as_str))?;
            d.set_item("trade_id", t.trade_id)?;
        }
        Payload::Opaque(p) => d.set_item("payload", PyBytes::new(py, p))?,
        Payload::SegmentHeader(_) => {}
    }
    Ok(d)
}

#[pymethods]
impl PyJournal {
    /// Opens (or creates) the journal in `dir` for appending; a torn tail is cut (see `recovery`).
    /// Unset options take the native defaults.
    #[staticmethod]
    #[pyo3(signature = (dir, *, fsync=None, segment_bytes=None, ring_capacity=None))]
    fn open(
        py: Python<'_>,
        dir: PathBuf,
        fsync: Option<&str>,
        segment_bytes: Option<u64>,
        ring_capacity: Option<usize>,
    ) -> PyResult<Self> {
        let mut cfg = JournalConfig::default();
        if let Some(f) = fsync {
            cfg.fsync = f.parse::<FsyncPolicy>()?;
        }
        if let Some(b) = segment_bytes {
            cfg.segment_bytes = b;
        }
        if let Some(n) = ring_capacity {
            cfg.ring_capacity = n;
        }
        let opened = py.detach(|| journal::open(&dir, cfg))?;
        Ok(Self {
            inner: Some((opened.handle, opened.writer)),
            recovery: opened.recovery,
            dir,
        })
    }

    /// The journal directory.
    #[getter]
    fn dir(&self) -> PathBuf {
        self.dir.clone()
    }

    /// What opening found and repaired: next_seq, head_hash, segments, records, cut, removed_temporaries.
    #[getter]
    fn recovery<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        recovery_dict(py, &self.recovery)
    }

    /// The seq the next appended record gets.
    #[getter]
    fn next_seq(&mut self) -> PyResult<u64> {
        Ok(self.handle()?.next_seq())
    }

    /// Appends an L2 book delta; returns its seq.
    #[pyo3(signature = (*, instrument, side, price, qty, sequence, ts_event, ts_recv))]
    #[allow(clippy::too_many_arguments)]
    fn append_book_delta(
        &mut self,
        instrument: u32,
        side: &str,
        price: i64,
        qty: i64,
        sequence: u64,
        ts_event: u64,
        ts_recv: u64,
    ) -> PyResult<u64> {
        let d = BookDelta {
            instrument: InstrumentId(instrument),
            side: self::side(side)?,
            price: Price::from_ticks(price),
            qty: Qty::from_lots(qty),
            sequence,
            ts_event: UnixNanos(ts_event),
            ts_recv: UnixNanos(ts_recv),
        };
        self.push(JournalRecord::book_delta(&d))
    }

    /// Appends an L3 order event (`action`: add, cancel, delete, execute, replace, clear); returns its seq.
    #[pyo3(signature = (*, instrument, action, order, side, price, qty, sequence, ts_event, ts_recv, new_ref=None))]
    #[allow(clippy::too_many_arguments)]
    fn append_order_event(
        &mut self,
        instrument: u32,
        action: &str,
        order: u64,
        side: &str,
        price: i64,
        qty: i64,
        sequence: u64,
        ts_event: u64,
        ts_recv: u64,
        new_ref: Option<u64>,
    ) -> PyResult<u64> {
        let action = match (action, new_ref) {
            ("add", None) => OrderAction::Add,
            ("cancel", None) => OrderAction::Cancel,
            ("delete", None) => OrderAction::Delete,
            ("execute", None) => OrderAction::Execute,
            ("replace", Some(r)) => OrderAction::Replace {
                new_ref: OrderRef(r),
            },
            ("clear", None) => OrderAction::Clear,
            _ => {
                return Err(PyJournalError::new_err(format!(
                    "action {action:?} with new_ref {new_ref:?}: new_ref goes with 'replace' only"
                )))
            }
        };
        let e = OrderEvent {
            instrument: InstrumentId(instrument),
            action,
            order: OrderRef(order),
            side: self::side(side)?,
            price: Price::from_ticks(price),
            qty: Qty::from_lots(qty),
            sequence,
            ts_event: UnixNanos(ts_event),
            ts_recv: UnixNanos(ts_recv),
        };
        self.push(JournalRecord::order_event(&e))
    }

    /// Appends a trade print (`aggressor`: 'BUY', 'SELL' or None); returns its seq.
    #[pyo3(signature = (*, instrument, price, qty, trade_id, ts_event, ts_recv, aggressor=None))]
    #[allow(clippy::too_many_arguments)]
    fn append_trade(
        &mut self,
        instrument: u32,
        price: i64,
        qty: i64,
        trade_id: u64,
        ts_event: u64,
        ts_recv: u64,
        aggressor: Option<&str>,
    ) -> PyResult<u64> {
        let t = Trade {
            instrument: InstrumentId(instrument),
            price: Price::from_ticks(price),
            qty: Qty::from_lots(qty),
            aggressor: aggressor.map(self::side).transpose()?,
            trade_id,
            ts_event: UnixNanos(ts_event),
            ts_recv: UnixNanos(ts_recv),
        };
        self.push(JournalRecord::trade(&t))
    }

    /// Appends an opaque record (order_ack, fill, reject, param_push, operator_command, timer_tick);
    /// `ts_event` defaults to `ts_recv`. Returns its seq.
    #[pyo3(signature = (kind, payload, *, ts_recv, ts_event=None))]
    fn append(
        &mut self,
        kind: &str,
        payload: &[u8],
        ts_recv: u64,
        ts_event: Option<u64>,
    ) -> PyResult<u64> {
        let rec = JournalRecord::new(
            self::kind(kind)?,
            UnixNanos(ts_recv),
            UnixNanos(ts_event.unwrap_or(ts_recv)),
            payload,
        )
        .map_err(|e| PyJournalError::new_err(e.to_string()))?;
        self.push(rec)
    }

    /// The counters: appended, dropped_full, written, bytes_written, fsyncs, segments_created,
    /// written_seq, durable_seq; and ring_bytes, ring_huge_page_bytes (the ring's slot array and how
    /// much of it is on transparent huge pages).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (_, w) = self
            .inner
            .as_ref()
            .ok_or_else(|| PyJournalError::new_err("journal is closed"))?;
        stats_dict(py, &w.stats())
    }

    /// Writes what is queued, fsyncs, stops the writer; returns the final counters.
    fn close<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (h, w) = self
            .inner
            .take()
            .ok_or_else(|| PyJournalError::new_err("journal is closed"))?;
        drop(h);
        let stats = py.detach(|| w.close())?;
        stats_dict(py, &stats)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(
        &mut self,
        py: Python<'_>,
        _args: &Bound<'_, pyo3::types::PyTuple>,
    ) -> PyResult<bool> {
        if self.inner.is_some() {
            self.close(py)?;
        }
        Ok(false)
    }

    /// The health flag the engine checks before acting: ok (records are being written), failed
    /// (the writer stopped on an error), io_errors, errno (of the last error, 0 if none).
    fn health<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (_, w) = self
            .inner
            .as_ref()
            .ok_or_else(|| PyJournalError::new_err("journal is closed"))?;
        let h = w.health();
        let d = PyDict::new(py);
        d.set_item("ok", h.is_ok())?;
        d.set_item("failed", h.has_failed())?;
        d.set_item("io_errors", h.io_errors())?;
        d.set_item("errno", h.last_errno())?;
        Ok(d)
    }

    /// Appends records `skip..n` of the seeded synthetic stream (every kind; `journal::synth`),
    /// waiting while the ring is full; with `pace_every` > 0, sleeps `pace_us` after every
    /// `pace_every` records (crash tests pace a writer so a kill lands mid-stream). Returns the last
    /// seq; raises JournalError when the writer failed.
    #[pyo3(signature = (seed, n, *, skip=0, pace_every=0, pace_us=0))]
    fn append_synthetic(
        &mut self,
        py: Python<'_>,
        seed: u64,
        n: usize,
        skip: usize,
        pace_every: usize,
        pace_us: u64,
    ) -> PyResult<u64> {
        let handle = self.handle()?;
        let recs = journal::synth::synthetic_stream(seed, n);
        let r = py.detach(|| {
            let mut last = handle.next_seq().saturating_sub(1);
            for (i, rec) in recs.iter().enumerate().skip(skip) {
                if pace_every > 0 && i > skip && (i - skip) % pace_every == 0 {
                    std::thread::sleep(std::time::Duration::from_micros(pace_us));
                }
                loop {
                    match handle.append(*rec) {
                        Ok(seq) => {
                            last = seq;
                            break;
                        }
                        Err(journal::AppendError::Full) => {
                            std::thread::sleep(std::time::Duration::from_micros(50))
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            Ok(last)
        });
        Ok(r?)
    }

    /// Rebuilds the ledger state of `dir` (`journal::replay` over `LedgerState`): from genesis or
    /// the latest usable snapshot, up to seq `at_seq` or time `at_ts` (ns) or the end. Returns
    /// digest, chain, applied, last_seq, last_ts, stopped, snapshot (seq or None), skipped
    /// ([{path, seq, reason}]), snapshots_written, elapsed_ns, events_per_s and state_json (the
    /// canonical state as JSON). `snapshot_every` writes snapshots on the way; `snapshot_at_end`
    /// writes one at the stop point.
    #[staticmethod]
    #[pyo3(signature = (dir, *, at_seq=None, at_ts=None, use_snapshots=false, snapshot_every=0, snapshot_at_end=false))]
    #[allow(clippy::too_many_arguments)]
    fn replay<'py>(
        py: Python<'py>,
        dir: PathBuf,
        at_seq: Option<u64>,
        at_ts: Option<u64>,
        use_snapshots: bool,
        snapshot_every: u64,
        snapshot_at_end: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let stop = match (at_seq, at_ts) {
            (Some(_), Some(_)) => {
                return Err(PyJournalError::new_err("give at_seq or at_ts, not both"))
            }
            (Some(s), None) => journal::StopAt::Seq(s),
            (None, Some(t)) => journal::StopAt::Time(UnixNanos(t)),
            (None, None) => journal::StopAt::End,
        };
        let opts = journal::ReplayOptions {
            stop,
            use_snapshots,
            snapshot_every,
        };
        let (state, report, written) = py
            .detach(|| {
                let (state, report) = journal::replay(&dir, journal::LedgerState::new, &opts)?;
                let written = if snapshot_at_end {
                    Some(journal::replay::snapshot_now(&dir, &state, &report)?)
                } else {
                    None
                };
                Ok::<_, journal::ReplayError<journal::LedgerError>>((state, report, written))
            })
            .map_err(|e| PyJournalError::new_err(e.to_string()))?;
        let d = PyDict::new(py);
        d.set_item("digest", hex(&report.digest))?;
        d.set_item("chain", hex(&report.chain))?;
        d.set_item("applied", report.applied)?;
        d.set_item("last_seq", report.last_seq)?;
        d.set_item("last_ts", report.last_ts.as_u64())?;
        d.set_item(
            "stopped",
            match report.stopped {
                journal::Stopped::EndOfJournal => "end",
                journal::Stopped::AtSeq => "seq",
                journal::Stopped::AtTime => "time",
            },
        )?;
        d.set_item("snapshot", report.snapshot.as_ref().map(|s| s.0))?;
        let skipped = PyList::empty(py);
        for s in &report.skipped {
            let x = PyDict::new(py);
            x.set_item("path", &s.path)?;
            x.set_item("seq", s.seq)?;
            x.set_item("reason", &s.reason)?;
            skipped.append(x)?;
        }
        d.set_item("skipped", skipped)?;
        d.set_item(
            "snapshots_written",
            report.snapshots_written + u64::from(written.is_some()),
        )?;
        d.set_item("elapsed_ns", report.elapsed_ns)?;
        d.set_item("events_per_s", report.events_per_s())?;
        d.set_item("state_json", state.to_json_pretty())?;
        Ok(d)
    }

    /// The ledger's tables of `dir` as JSON text: {"orders": [...], "fills": [...], "params": [...]}
    /// (`journal::export`); the journal is verified as it is read.
    #[staticmethod]
    fn ledger_rows(py: Python<'_>, dir: PathBuf) -> PyResult<String> {
        py.detach(|| {
            let rows = journal::export::ledger_rows(&dir)?;
            serde_json::to_string(&rows).map_err(|e| {
                journal::export::ExportError::Journal(journal::JournalError::Writer {
                    reason: e.to_string(),
                })
            })
        })
        .map_err(|e| PyJournalError::new_err(e.to_string()))
    }

    /// Verifies `dir` (read-only): records, segments, first_seq, last_seq, head_hash, intact and
    /// first_bad (seq, segment, offset, reason, torn_tail) or None.
    #[staticmethod]
    fn verify<'py>(py: Python<'py>, dir: PathBuf) -> PyResult<Bound<'py, PyDict>> {
        let report = py.detach(|| journal::verify(&dir))?;
        report_dict(py, &report)
    }

    /// Reads up to `limit` input records of `dir` as dicts (decoded by kind), verifying as it reads;
    /// the first problem raises JournalError.
    #[staticmethod]
    #[pyo3(signature = (dir, *, limit=None))]
    fn read<'py>(
        py: Python<'py>,
        dir: PathBuf,
        limit: Option<usize>,
    ) -> PyResult<Bound<'py, PyList>> {
        let (records, segments) = py.detach(|| read_records(&dir, limit))?;
        let out = PyList::empty(py);
        for r in &records {
            out.append(record_dict(py, r, &segments)?)?;
        }
        Ok(out)
    }
}

fn read_records(
    dir: &Path,
    limit: Option<usize>,
) -> Result<(Vec<ReadRecord>, Vec<journal::SegmentInfo>), journal::JournalError> {
    let reader = journal::JournalReader::open(dir)?;
    let segments = reader.segments().to_vec();
    let records = reader
        .take(limit.unwrap_or(usize::MAX))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((records, segments))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyJournal>()?;
    Ok(())
}
