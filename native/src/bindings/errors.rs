//! The exception tree of `pymm._native` and the one mapping from native error enums to it.

use crate::feed::replay::ReplayError;
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyOSError};
use pyo3::prelude::*;

use crate::model::{DecimalError, InstrumentError as NativeInstrumentError, VenueError};

create_exception!(
    pymm._native,
    PymmError,
    PyException,
    "Base class of every pymm native error."
);
create_exception!(
    pymm._native,
    ScaleError,
    PymmError,
    "A decimal was malformed, too precise for its scale, or off the instrument's grid."
);
create_exception!(
    pymm._native,
    InstrumentError,
    PymmError,
    "Instrument definitions (exchangeInfo JSON or TOML) were refused."
);
create_exception!(
    pymm._native,
    ClockError,
    PymmError,
    "The clock could not be built or calibrated (no usable TSC, implausible rate, too few samples)."
);
create_exception!(
    pymm._native,
    VenueRejectError,
    PymmError,
    "The venue would reject the order; `.code` and `.msg` are the venue's error code and message."
);
create_exception!(
    pymm._native,
    SimVenueError,
    PymmError,
    "The simulated venue could not be set up (instrument, deposit, fee rate or key refused)."
);

create_exception!(
    pymm._native,
    JournalError,
    PymmError,
    "The journal refused an operation, or found corruption (the message names segment, offset, seq)."
);

impl From<crate::journal::JournalError> for PyErr {
    fn from(e: crate::journal::JournalError) -> PyErr {
        JournalError::new_err(e.to_string())
    }
}

impl From<crate::journal::AppendError> for PyErr {
    fn from(e: crate::journal::AppendError) -> PyErr {
        JournalError::new_err(e.to_string())
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("PymmError", py.get_type::<PymmError>())?;
    m.add("ScaleError", py.get_type::<ScaleError>())?;
    m.add("InstrumentError", py.get_type::<InstrumentError>())?;
    m.add("VenueRejectError", py.get_type::<VenueRejectError>())?;
    m.add("JournalError", py.get_type::<JournalError>())?;
    m.add("SimVenueError", py.get_type::<SimVenueError>())?;
    m.add("ClockError", py.get_type::<ClockError>())?;
    Ok(())
}

// The one mapping: each native error enum to its Python class.

impl From<DecimalError> for PyErr {
    fn from(e: DecimalError) -> Self {
        ScaleError::new_err(e.to_string())
    }
}

impl From<NativeInstrumentError> for PyErr {
    fn from(e: NativeInstrumentError) -> Self {
        InstrumentError::new_err(e.to_string())
    }
}

impl From<VenueError> for PyErr {
    fn from(e: VenueError) -> Self {
        Python::attach(|py| {
            let err = VenueRejectError::new_err((e.code, e.msg.clone()));
            let value = err.value(py);
            match (value.setattr("code", e.code), value.setattr("msg", e.msg)) {
                (Ok(()), Ok(())) => err,
                (Err(set), _) | (_, Err(set)) => set,
            }
        })
    }
}

impl From<crate::time::ClockError> for PyErr {
    fn from(e: crate::time::ClockError) -> Self {
        ClockError::new_err(e.to_string())
    }
}

/// Unknown stage → `KeyError`; bad stage name or bounds → `ValueError`; recorder already taken or
/// export failure → `PymmError`.
impl From<crate::time::LatencyError> for PyErr {
    fn from(e: crate::time::LatencyError) -> Self {
        use crate::time::LatencyError as E;
        match e {
            E::UnknownStage(_) => pyo3::exceptions::PyKeyError::new_err(e.to_string()),
            E::InvalidStage { .. } | E::InvalidBounds { .. } => {
                pyo3::exceptions::PyValueError::new_err(e.to_string())
            }
            E::RecorderTaken(_) | E::Export(_) => PymmError::new_err(e.to_string()),
        }
    }
}

/// Maps a replay failure: unreadable files are `OSError`, the rest `PymmError`.
pub(crate) fn replay_error(e: ReplayError) -> PyErr {
    match e {
        ReplayError::Io { .. } => PyOSError::new_err(e.to_string()),
        ReplayError::NotBuilt(_)
        | ReplayError::UnknownFormat(_)
        | ReplayError::BadArguments(_)
        | ReplayError::Interrupted => PymmError::new_err(e.to_string()),
    }
}
