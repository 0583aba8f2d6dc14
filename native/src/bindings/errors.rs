//! The exception tree of `pymm._native` and the one mapping from native error enums to it.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    pymm._native,
    PymmError,
    PyException,
    "Base class of every pymm native error."
);

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("PymmError", m.py().get_type::<PymmError>())?;
    register_time(m)?;
    Ok(())
}

// --- time -------------------------------------------------------------------------------------

create_exception!(
    pymm._native,
    ClockError,
    PymmError,
    "The clock could not be built or calibrated (no TSC, implausible rate, too few samples)."
);

/// `time::ClockError` → `ClockError`.
pub(crate) fn clock_error(e: &crate::time::ClockError) -> PyErr {
    ClockError::new_err(e.to_string())
}

/// `time::LatencyError` → `KeyError` (unknown stage), `ValueError` (bad stage name or bounds),
/// `PymmError` (recorder already taken, export failed).
pub(crate) fn latency_error(e: &crate::time::LatencyError) -> PyErr {
    use crate::time::LatencyError as E;
    match e {
        E::UnknownStage(_) => pyo3::exceptions::PyKeyError::new_err(e.to_string()),
        E::InvalidStage { .. } | E::InvalidBounds { .. } => {
            pyo3::exceptions::PyValueError::new_err(e.to_string())
        }
        E::RecorderTaken(_) | E::Export(_) => PymmError::new_err(e.to_string()),
    }
}

pub(crate) fn register_time(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ClockError", m.py().get_type::<ClockError>())?;
    Ok(())
}
