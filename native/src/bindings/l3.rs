//! Bindings for the order-by-order replay drivers (`feed::replay_l3`), the LOBSTER → ITCH converter
//! and the DBN record decoder used by the cross-check tests. Converts, detaches, maps errors.

use std::path::PathBuf;

use numpy::IntoPyArray;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::errors::PymmError;
use crate::feed::dbn::DbnFile;
use crate::feed::lobster_to_itch::convert;
use crate::feed::replay_l3::{self, L3ReplayReport};
use crate::feed::DataError;

fn err(e: DataError) -> PyErr {
    PymmError::new_err(e.to_string())
}

fn to_py<'py>(py: Python<'py>, v: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value;
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        Value::Array(a) => {
            let l = PyList::empty(py);
            for x in a {
                l.append(to_py(py, x)?)?;
            }
            l.into_any()
        }
        Value::Object(o) => {
            let d = PyDict::new(py);
            for (k, x) in o {
                d.set_item(k, to_py(py, x)?)?;
            }
            d.into_any()
        }
    })
}

fn report<'py>(
    py: Python<'py>,
    r: Result<L3ReplayReport, DataError>,
) -> PyResult<Bound<'py, PyAny>> {
    let r = r.map_err(err)?;
    let v = serde_json::to_value(&r).map_err(|e| PymmError::new_err(e.to_string()))?;
    to_py(py, &v)
}

/// Replays a LOBSTER message file against its order-book file; returns the report as a dict.
#[pyfunction]
fn replay_lobster<'py>(
    py: Python<'py>,
    msg_path: PathBuf,
    book_path: PathBuf,
) -> PyResult<Bound<'py, PyAny>> {
    let r = py.detach(|| replay_l3::replay_lobster(&msg_path, &book_path));
    report(py, r)
}

/// Replays a mold file of ITCH 5.0; with `expect_book`, checks every row of a LOBSTER book file.
#[pyfunction]
#[pyo3(signature = (path, expect_book=None))]
fn replay_itch<'py>(
    py: Python<'py>,
    path: PathBuf,
    expect_book: Option<PathBuf>,
) -> PyResult<Bound<'py, PyAny>> {
    let r = py.detach(|| replay_l3::replay_itch(&path, expect_book.as_deref()));
    report(py, r)
}

/// Replays a Databento DBN MBO file into L3 books; returns the report as a dict.
#[pyfunction]
fn replay_dbn<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyAny>> {
    let r = py.detach(|| replay_l3::replay_dbn(&path));
    report(py, r)
}

/// Converts LOBSTER files to a mold file of ITCH 5.0; returns packet and message counts.
#[pyfunction]
#[pyo3(signature = (msg_path, book_path, out_path, symbol="AMZN"))]
fn lobster_to_itch<'py>(
    py: Python<'py>,
    msg_path: PathBuf,
    book_path: PathBuf,
    out_path: PathBuf,
    symbol: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let s = py
        .detach(|| convert(&msg_path, &book_path, symbol, &out_path))
        .map_err(err)?;
    let d = PyDict::new(py);
    d.set_item("packets", s.packets)?;
    d.set_item("messages", s.messages)?;
    d.set_item(
        "mismatched_states",
        s.replay.mismatched + s.replay.mismatched_after_reconcile,
    )?;
    Ok(d)
}

/// Every MBO record of a DBN file as a dict of numpy columns (field names as in `databento_dbn`;
/// `action` and `side` as one-character strings in a list).
#[pyfunction]
fn dbn_records<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyDict>> {
    let recs = py
        .detach(|| {
            let f = DbnFile::read(&path)?;
            f.mbo_records().map_err(|source| DataError::Decode {
                path: path.display().to_string(),
                record: 0,
                source,
            })
        })
        .map_err(err)?;
    let d = PyDict::new(py);
    macro_rules! col {
        ($name:literal, $f:ident) => {
            d.set_item(
                $name,
                recs.iter()
                    .map(|r| r.$f)
                    .collect::<Vec<_>>()
                    .into_pyarray(py),
            )?;
        };
    }
    col!("ts_recv", ts_recv);
    col!("ts_event", ts_event);
    col!("rtype", rtype);
    col!("publisher_id", publisher_id);
    col!("instrument_id", instrument_id);
    col!("price", price);
    col!("size", size);
    col!("channel_id", channel_id);
    col!("order_id", order_id);
    col!("flags", flags);
    col!("ts_in_delta", ts_in_delta);
    col!("sequence", sequence);
    let chars = |f: fn(&crate::feed::dbn::MboRecord) -> u8| {
        recs.iter()
            .map(|r| char::from(f(r)).to_string())
            .collect::<Vec<_>>()
    };
    d.set_item("action", chars(|r| r.action))?;
    d.set_item("side", chars(|r| r.side))?;
    Ok(d)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(replay_lobster, m)?)?;
    m.add_function(wrap_pyfunction!(replay_itch, m)?)?;
    m.add_function(wrap_pyfunction!(replay_dbn, m)?)?;
    m.add_function(wrap_pyfunction!(lobster_to_itch, m)?)?;
    m.add_function(wrap_pyfunction!(dbn_records, m)?)?;
    Ok(())
}
