//! The PyO3 layer: converts arguments, calls the core, maps errors. No logic lives here.

use pyo3::prelude::*;
use pyo3::types::PyDict;

mod engine;
mod errors;
mod feed;
mod itch_engine;
mod itch_venue;
mod journal;
mod l3;
mod model;
mod ouch_session;
mod time;
mod usdm_gateway;
mod venue;

/// A config dict as `T`: Python's `json.dumps` of it, then serde. The outer error is Python's (the
/// dict does not serialise), the inner one serde's, for the caller to name its config in.
pub(crate) fn config_from_dict<T: serde::de::DeserializeOwned>(
    py: Python<'_>,
    config: &Bound<'_, PyDict>,
) -> PyResult<Result<T, serde_json::Error>> {
    let text: String = py
        .import("json")?
        .call_method1("dumps", (config,))?
        .extract()?;
    Ok(serde_json::from_str(&text))
}

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
    itch_engine::register(m)?;
    usdm_gateway::register(m)?;
    ouch_session::register(m)?;
    Ok(())
}
