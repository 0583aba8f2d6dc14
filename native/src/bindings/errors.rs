//! The exception tree of `pymm._native` and the one mapping from native error enums to it.

use crate::feed::replay::ReplayError;
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyOSError};
use pyo3::prelude::*;

create_exception!(
    pymm._native,
    PymmError,
    PyException,
    "Base class of every pymm native error."
);

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("PymmError", m.py().get_type::<PymmError>())?;
    Ok(())
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
