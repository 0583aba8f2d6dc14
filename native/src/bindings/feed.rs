//! Bindings for `feed` and `book`: `replay()` of a recorded file, and `L2Book`, one instrument's
//! Binance-synchronised L2 book fed message by message (tools, notebooks, tests).

use super::errors::replay_error;
use crate::book::L2Book;
use crate::feed::binance::{self, Message};
use crate::feed::replay;
use crate::feed::{BookSync, SequenceRule, SyncEvent};
use crate::model::{Price, Qty, Scale, Side};
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;

/// Replays a recorded capture (or a list of files, in order, as one session); returns the summary as
/// a dict. The interpreter is released while the file replays; `progress(done_bytes, total_bytes)` is
/// called now and then if given, and Ctrl-C (or an exception from `progress`) stops the replay.
#[pyfunction]
#[pyo3(name = "replay", signature = (path, format = "binance", expect_book = None, progress = None))]
fn py_replay(
    py: Python<'_>,
    path: &Bound<'_, PyAny>,
    format: &str,
    expect_book: Option<PathBuf>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    let paths: Vec<PathBuf> = match path.extract::<PathBuf>() {
        Ok(one) => vec![one],
        Err(_) => path.extract::<Vec<PathBuf>>()?,
    };
    let mut pending: Option<PyErr> = None;
    let result = py.detach(|| {
        // Now and then: show progress, and stop on Ctrl-C (or any error the callback raises).
        let mut report = |done: u64, total: u64| {
            Python::attach(|py| {
                let step = match &progress {
                    Some(cb) => cb.call1(py, (done, total)).map(drop),
                    None => Ok(()),
                }
                .and_then(|()| py.check_signals());
                match step {
                    Ok(()) => true,
                    Err(e) => {
                        pending = Some(e);
                        false
                    }
                }
            })
        };
        match (&paths[..], expect_book.as_deref()) {
            ([one], expect) => replay::replay(format, one, expect, &mut report),
            (many, None) => replay::replay_session(format, many, &mut report),
            (_, Some(_)) => Err(replay::ReplayError::BadArguments(
                "--expect-book takes a single recording".into(),
            )),
        }
    });
    if let Some(e) = pending {
        return Err(e);
    }
    let summary = result.map_err(replay_error)?;
    let json = py.import("json")?;
    Ok(json.call_method1("loads", (summary.to_json(),))?.unbind())
}

/// One instrument's L2 book, kept in sync with Binance diff/snapshot messages fed one at a time.
#[pyclass(name = "L2Book", module = "pymm._native")]
pub struct PyL2Book {
    sync: BookSync,
}

fn parse_scale(text: &str) -> PyResult<Scale> {
    Scale::parse(text).map_err(|e| PyValueError::new_err(e.to_string()))
}

fn event_name(ev: SyncEvent) -> &'static str {
    match ev {
        SyncEvent::Applied => "applied",
        SyncEvent::Buffered => "buffered",
        SyncEvent::DroppedStale => "dropped_stale",
        SyncEvent::SequenceBreak => "sequence_break",
        SyncEvent::Integrity(_) => "integrity_error",
        SyncEvent::Decode => "decode_error",
        SyncEvent::SnapshotLoaded => "snapshot_loaded",
    }
}

impl PyL2Book {
    fn levels(&self, side: Side, n: usize) -> Vec<(Price, Qty)> {
        let mut out = vec![(Price::ZERO, Qty::ZERO); n];
        let k = self.sync.book().top(side, &mut out);
        out.truncate(k);
        out
    }
}

#[pymethods]
impl PyL2Book {
    /// A book for one instrument with tick size `tick_size` and lot size `lot_size` (decimal text),
    /// following `rule` ("spot": `U == u + 1`; "futures": `pu == u`).
    #[new]
    #[pyo3(signature = (tick_size, lot_size, rule = "spot"))]
    fn new(tick_size: &str, lot_size: &str, rule: &str) -> PyResult<Self> {
        let rule = match rule {
            "spot" => SequenceRule::Spot,
            "futures" => SequenceRule::Futures,
            other => {
                return Err(PyValueError::new_err(format!(
                    "rule must be 'spot' or 'futures', not {other:?}"
                )))
            }
        };
        let sync = BookSync::new(
            rule,
            parse_scale(tick_size)?,
            parse_scale(lot_size)?,
            L2Book::default(),
        );
        Ok(Self { sync })
    }

    /// Feeds one raw message (diff, REST snapshot, or anything else, which is ignored); returns what
    /// happened: "applied", "buffered", "dropped_stale", "sequence_break", "integrity_error",
    /// "decode_error", "snapshot_loaded", or the kind of a non-book message ("trade", ...).
    fn feed(&mut self, message: &[u8]) -> PyResult<&'static str> {
        let env = binance::decode(message).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(match env.message {
            Message::DepthUpdate(d) => event_name(self.sync.on_depth_update(message, &d)),
            Message::DepthSnapshot(s) => event_name(self.sync.on_snapshot(&s)),
            other => other.kind_name(),
        })
    }

    /// Sets already-decoded levels in order — `is_bid`, `price_ticks`, `qty_lots` of equal length
    /// (a replay of levels in ticks and lots, e.g. from a columnar store) — with no decode and no
    /// sequence check; returns how many were set. Raises `ValueError` on a refused level (the ones
    /// before it stay set).
    fn set_levels(
        &mut self,
        is_bid: PyReadonlyArray1<'_, bool>,
        price_ticks: PyReadonlyArray1<'_, i64>,
        qty_lots: PyReadonlyArray1<'_, i64>,
    ) -> PyResult<usize> {
        let contiguous = |e: numpy::AsSliceError| PyValueError::new_err(e.to_string());
        let sides = is_bid.as_slice().map_err(contiguous)?;
        let prices = price_ticks.as_slice().map_err(contiguous)?;
        let qtys = qty_lots.as_slice().map_err(contiguous)?;
        if sides.len() != prices.len() || prices.len() != qtys.len() {
            return Err(PyValueError::new_err(format!(
                "is_bid, price_ticks and qty_lots differ in length: {}, {}, {}",
                sides.len(),
                prices.len(),
                qtys.len()
            )));
        }
        let levels = sides.iter().zip(prices).zip(qtys).map(|((&bid, &p), &q)| {
            let side = if bid { Side::Buy } else { Side::Sell };
            (side, Price::from_ticks(p), Qty::from_lots(q))
        });
        self.sync
            .apply_levels(levels)
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// The best `n` levels per side as `(bids, asks)`, each a list of `(price, qty)` decimal strings.
    #[allow(clippy::type_complexity)]
    fn top(&self, n: usize) -> (Vec<(String, String)>, Vec<(String, String)>) {
        let (ps, qs) = self.sync.scales();
        let text = |levels: Vec<(Price, Qty)>| {
            levels
                .into_iter()
                .map(|(p, q)| (ps.format_units(p.ticks()), qs.format_units(q.lots())))
                .collect()
        };
        (
            text(self.levels(Side::Buy, n)),
            text(self.levels(Side::Sell, n)),
        )
    }

    /// The best `n` levels as a numpy structured array of `n` rows with int64 fields `bid_price`,
    /// `bid_qty`, `ask_price`, `ask_qty` in ticks and lots (0 where a side has fewer levels).
    fn to_numpy<'py>(&self, py: Python<'py>, n: usize) -> PyResult<Bound<'py, PyAny>> {
        let mut a = Array2::<i64>::zeros((n, 4));
        for (col, side) in [(0, Side::Buy), (2, Side::Sell)] {
            for (i, (p, q)) in self.levels(side, n).into_iter().enumerate() {
                a[[i, col]] = p.ticks();
                a[[i, col + 1]] = q.lots();
            }
        }
        let np = py.import("numpy")?;
        let fields = vec![
            ("bid_price", "i8"),
            ("bid_qty", "i8"),
            ("ask_price", "i8"),
            ("ask_qty", "i8"),
        ];
        let dtype = np.call_method1("dtype", (fields,))?;
        a.into_pyarray(py)
            .call_method1("view", (dtype,))?
            .call_method1("reshape", (n,))
    }

    /// True when quotes must be pulled (no snapshot yet, or a break since).
    #[getter]
    fn stale(&self) -> bool {
        self.sync.is_stale()
    }

    /// True when a new REST snapshot is needed.
    #[getter]
    fn needs_snapshot(&self) -> bool {
        self.sync.needs_snapshot()
    }

    /// The book's update id.
    #[getter]
    fn last_update_id(&self) -> u64 {
        self.sync.last_update_id()
    }

    /// The tick size as text.
    #[getter]
    fn tick_size(&self) -> String {
        self.sync.scales().0.to_string()
    }

    /// The lot size as text.
    #[getter]
    fn lot_size(&self) -> String {
        self.sync.scales().1.to_string()
    }

    /// The synchroniser's counters.
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.sync.counters();
        let d = PyDict::new(py);
        for (k, v) in [
            ("snapshots", c.snapshots),
            ("applied", c.applied),
            ("buffered", c.buffered),
            ("dropped_stale", c.dropped_stale),
            ("sequence_breaks", c.sequence_breaks),
            ("resyncs", c.resyncs),
            ("integrity_errors", c.integrity_errors),
            ("crossed_events", c.crossed_events),
            ("decode_errors", c.decode_errors),
            ("buffer_overflows", c.buffer_overflows),
        ] {
            d.set_item(k, v)?;
        }
        Ok(d)
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(py_replay, m)?)?;
    m.add_class::<PyL2Book>()?;
    Ok(())
}
