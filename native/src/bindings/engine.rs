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

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyEventReader>()?;
    m.add_class::<PyEventWriter>()?;
    m.add_function(wrap_pyfunction!(event_ring_pair, m)?)?;
    Ok(())
}
