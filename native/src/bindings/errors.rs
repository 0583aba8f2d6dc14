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
    Ok(())
}
