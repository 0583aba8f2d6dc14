//! The PyO3 layer: converts arguments, calls the core, maps errors. No logic lives here.

use pyo3::prelude::*;

mod engine;
mod errors;
mod feed;
mod itch_venue;
mod journal;
mod l3;
mod model;
mod ouch_session;
mod time;
mod usdm_gateway;
mod venue;

/// `pymm._native`: the compiled core.
#[pymodule]
#[pyo3(name = "_native")]
fn native_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    engine::register(m)?;
    journal::register(m)?;
    l3::register(m)?;
    model::register(m)?;
    feed::register(m)?;
    time::register(m)?;
    venue::register(m)?;
    itch_venue::register(m)?;
    usdm_gateway::register(m)?;
    ouch_session::register(m)?;
    Ok(())
}
