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
    m.add("PymmError", m.py().get_type::<PymmError>())?;
    m.add("JournalError", m.py().get_type::<JournalError>())?;
    Ok(())
}
