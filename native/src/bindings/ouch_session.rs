//! Bindings for `engine::ouch_session`: `OuchSession`, the live OUCH 4.2 order-entry session over
//! SoupBinTCP. Conversion only: the config dict goes through JSON into `OuchConfig`; prices are
//! decimal text on the session's tick; every decision is the core's.
//!
//! The session is driven by `poll(seconds)` (the interpreter is released while it runs): Python
//! owns the loop, there is no background thread.

use std::sync::Mutex;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::errors::PymmError;
use crate::engine::ouch_session::{now, OuchConfig, OuchOrder, OuchSession, Refusal, INST};
use crate::model::{ClientOrderId, Price, Qty, Scale, Side};
use crate::time::posix_clock::PosixClock;

/// The live OUCH session. `OuchSession(config)` validates and reserves client ids; `poll()`
/// connects, logs in, reconciles and applies the venue's messages.
#[pyclass(name = "OuchSession", module = "pymm._native")]
pub(crate) struct PyOuchSession {
    inner: Mutex<OuchSession>,
    tick: Scale,
}

fn side_of(s: &str) -> PyResult<Side> {
    match s {
        "BUY" => Ok(Side::Buy),
        "SELL" => Ok(Side::Sell),
        _ => Err(PyValueError::new_err(format!(
            "side {s:?}: must be BUY or SELL"
        ))),
    }
}

fn outcome<'py>(
    py: Python<'py>,
    r: Result<Option<ClientOrderId>, Refusal>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    match r {
        Ok(id) => {
            d.set_item("token", id.map(|i| i.0))?;
            d.set_item("refused", None::<&str>)?;
        }
        Err(e) => {
            d.set_item("token", None::<u64>)?;
            d.set_item("refused", e.as_str())?;
        }
    }
    Ok(d)
}

impl PyOuchSession {
    fn lock(&self) -> std::sync::MutexGuard<'_, OuchSession> {
        // A panic while polling leaves the session as it was (the core's state stays consistent).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn price(&self, t: &str) -> PyResult<Price> {
        self.tick
            .parse_units(t.as_bytes())
            .map(Price::from_ticks)
            .map_err(|e| PyValueError::new_err(format!("price {t:?}: {e}")))
    }

    fn order_dict<'py>(&self, py: Python<'py>, o: &OuchOrder) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("token", o.id.0)?;
        d.set_item("side", if o.side == Side::Buy { "BUY" } else { "SELL" })?;
        d.set_item("price", self.tick.format_units(o.price.ticks()))?;
        d.set_item("qty", o.qty.lots())?;
        d.set_item("filled", o.filled.lots())?;
        d.set_item("leaves", o.leaves.lots())?;
        d.set_item("state", o.state.as_str())?;
        d.set_item("venue_ref", o.venue_ref)?;
        d.set_item("foreign", o.foreign)?;
        Ok(d)
    }
}

#[pymethods]
impl PyOuchSession {
    /// A session from a config dict (keys of `OuchConfig`).
    #[new]
    fn new(py: Python<'_>, config: Bound<'_, PyDict>) -> PyResult<Self> {
        let cfg: OuchConfig = super::config_from_dict(py, &config)?
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let tick = cfg.instrument().map_err(PyValueError::new_err)?.tick;
        let s = OuchSession::new(&cfg).map_err(PymmError::new_err)?;
        Ok(Self {
            inner: Mutex::new(s),
            tick,
        })
    }

    /// Polls the session for `seconds` (at least once); returns the sequenced messages applied.
    #[pyo3(signature = (seconds = 0.0))]
    fn poll(&self, py: Python<'_>, seconds: f64) -> usize {
        let ns = (seconds.max(0.0) * 1e9) as u64;
        py.detach(|| {
            let mut s = self.lock();
            let end = PosixClock::Monotonic.now_ns().saturating_add(ns);
            let mut n = s.poll();
            while PosixClock::Monotonic.now_ns() < end {
                std::thread::sleep(Duration::from_micros(200));
                n += s.poll();
            }
            n
        })
    }

    /// Enters a DAY limit order: `{"token": int, "refused": None}` or `{"token": None, "refused":
    /// reason}` (risk denial by its name, `not_ready` while reconciling, ...).
    #[pyo3(signature = (side, price, qty, post_only = false))]
    fn enter<'py>(
        &self,
        py: Python<'py>,
        side: &str,
        price: &str,
        qty: i64,
        post_only: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (side, price) = (side_of(side)?, self.price(price)?);
        let r = self
            .lock()
            .enter(side, price, Qty::from_lots(qty), post_only)
            .map(Some);
        outcome(py, r)
    }

    /// Replaces order `token` by a new token: the same outcome dict as `enter`.
    fn replace<'py>(
        &self,
        py: Python<'py>,
        token: u64,
        price: &str,
        qty: i64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let price = self.price(price)?;
        let r = self
            .lock()
            .replace(ClientOrderId(token), price, Qty::from_lots(qty))
            .map(Some);
        outcome(py, r)
    }

    /// Cancels order `token`: `{"token": None, "refused": None}` when sent.
    fn cancel<'py>(&self, py: Python<'py>, token: u64) -> PyResult<Bound<'py, PyDict>> {
        let r = self.lock().cancel(ClientOrderId(token)).map(|()| None);
        outcome(py, r)
    }

    /// Latches the kill switch and sends one Cancel per open token; returns how many went out.
    fn kill(&self) -> usize {
        self.lock().kill()
    }

    /// Lifts the kill latch (the two-person rule is the caller's).
    fn lift_kill(&self) {
        self.lock().core_mut().lift_kill();
    }

    /// Orderly stop: cancel everything, then log out (keep polling until `status()["phase"]` is
    /// `"stopped"`).
    fn stop(&self) {
        self.lock().stop();
    }

    /// Drops the TCP connection now, as a reset would.
    fn disconnect(&self) {
        self.lock().disconnect();
    }

    /// Sets risk's reference price (collar, position notional) as of now.
    fn set_reference(&self, price: &str) -> PyResult<()> {
        let p = self.price(price)?;
        self.lock()
            .core_mut()
            .risk_mut()
            .set_reference(INST, p, now());
        Ok(())
    }

    /// Sets the position in shares (after reconciliation with the venue's records).
    fn set_position(&self, shares: i64) {
        self.lock().core_mut().risk_mut().set_position(INST, shares);
    }

    /// The tracked order `token` (terminal orders leave the table: `None`).
    fn order<'py>(&self, py: Python<'py>, token: u64) -> PyResult<Option<Bound<'py, PyDict>>> {
        let o = self.lock().core().order(ClientOrderId(token));
        o.map(|o| self.order_dict(py, &o)).transpose()
    }

    /// Phase, link, failure, position, open orders, counters.
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.lock();
        let core = s.core();
        let d = PyDict::new(py);
        d.set_item("phase", core.phase().as_str())?;
        d.set_item("connected", s.connected())?;
        d.set_item("failure", core.failure().map(|f| f.as_str()))?;
        d.set_item("killed", core.risk().is_killed())?;
        d.set_item("position", core.risk().position(INST).unwrap_or(0))?;
        d.set_item("open_orders", core.open_orders())?;
        d.set_item("reserved_orders", core.risk().open_orders(INST))?;
        d.set_item("applied_through", core.applied_through())?;
        d.set_item("last_error", s.last_error())?;
        let c = core.counters();
        let counters = PyDict::new(py);
        for (k, v) in [
            ("connects", c.connects),
            ("logins", c.logins),
            ("login_rejects", c.login_rejects),
            ("disconnects", c.disconnects),
            ("server_timeouts", c.server_timeouts),
            ("heartbeats", c.heartbeats),
            ("applied", c.applied),
            ("replay_skipped", c.replay_skipped),
            ("entered", c.entered),
            ("replaces", c.replaces),
            ("cancels", c.cancels),
            ("cancels_resent", c.cancels_resent),
            ("denied", c.denied),
            ("accepted", c.accepted),
            ("rejected", c.rejected),
            ("canceled", c.canceled),
            ("executions", c.executions),
            ("unknown", c.unknown),
            ("resolved_live", c.resolved_live),
            ("resolved_never_live", c.resolved_never_live),
            ("probes", c.probes),
            ("barriers", c.barriers),
            ("foreign", c.foreign),
            ("contradictions", c.contradictions),
            ("unknown_tokens", c.unknown_tokens),
            ("unattributed_fills", c.unattributed_fills),
        ] {
            counters.set_item(k, v)?;
        }
        d.set_item("counters", counters)?;
        let orders: Vec<_> = core
            .orders()
            .map(|o| self.order_dict(py, o))
            .collect::<PyResult<_>>()?;
        d.set_item("orders", orders)?;
        Ok(d)
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyOuchSession>()
}
