//! The PyO3 layer: converts arguments, calls the core, maps errors. No logic lives here.

use pyo3::prelude::*;

mod errors;
mod l3;
mod model;
mod time;

/// `pymm._native`: the compiled core.
#[pymodule]
#[pyo3(name = "_native")]
fn native_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    l3::register(m)?;
    model::register(m)?;
    time::register(m)?;
    Ok(())
}
