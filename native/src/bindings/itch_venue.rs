//! Bindings for `venue::itch_venue`: `ItchVenue`, the colocated-exchange front (ITCH 5.0 over
//! MoldUDP64 A/B multicast, re-request server, OUCH 4.2 over SoupBinTCP) run by background threads.
//! Conversion only: the config dict goes through JSON into `ItchVenueConfig`.

use std::collections::BTreeMap;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::errors::SimVenueError;
use crate::gateway::ouch::Outbound;
use crate::model::Side;
use crate::venue::itch_venue::{ItchVenue, ItchVenueConfig, LineStats};

/// The ITCH/OUCH venue. `ItchVenue(config)` validates; `start()` opens the sockets and threads.
#[pyclass(name = "ItchVenue", module = "pymm._native")]
pub(crate) struct PyItchVenue {
    config: ItchVenueConfig,
    running: Option<ItchVenue>,
}

fn line_dict<'py>(py: Python<'py>, s: &LineStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("sent", s.sent)?;
    d.set_item("dropped", s.dropped)?;
    d.set_item("duplicated", s.duplicated)?;
    d.set_item("reordered", s.reordered)?;
    d.set_item("delayed", s.delayed)?;
    d.set_item("heartbeats", s.heartbeats)?;
    d.set_item("send_errors", s.send_errors)?;
    Ok(d)
}

#[pymethods]
impl PyItchVenue {
    /// A venue from a config dict (keys of `ItchVenueConfig`; missing keys take the defaults).
    #[new]
    #[pyo3(signature = (config = None))]
    fn new(py: Python<'_>, config: Option<Bound<'_, PyDict>>) -> PyResult<Self> {
        let config: ItchVenueConfig = match config {
            None => ItchVenueConfig::default(),
            Some(d) => super::config_from_dict(py, &d)?
                .map_err(|e| SimVenueError::new_err(e.to_string()))?,
        };
        config
            .front_params()
            .map_err(|e| SimVenueError::new_err(e.to_string()))?;
        Ok(Self {
            config,
            running: None,
        })
    }

    /// Opens the sockets and starts the threads (an error if already running or a port is taken).
    fn start(&mut self, py: Python<'_>) -> PyResult<()> {
        if self.running.is_some() {
            return Err(SimVenueError::new_err("ItchVenue is already running"));
        }
        let cfg = self.config.clone();
        let v = py
            .detach(|| ItchVenue::start(cfg, None))
            .map_err(|e| SimVenueError::new_err(e.to_string()))?;
        self.running = Some(v);
        Ok(())
    }

    /// Stops the threads after end of day and end of session (no-op when stopped).
    fn stop(&mut self, py: Python<'_>) {
        if let Some(mut v) = self.running.take() {
            py.detach(move || v.stop());
        }
    }

    /// Whether it runs.
    #[getter]
    fn running(&self) -> bool {
        self.running.is_some()
    }

    /// `{"itch_a", "itch_b", "itch_rerequest", "ouch"}` as `"ip:port"` (actual ports once started).
    fn endpoints<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let (a, b, rr, ouch) = match &self.running {
            Some(v) => {
                let e = v.endpoints();
                (e.itch_a, e.itch_b, e.rerequest, e.ouch)
            }
            None => (
                self.config.itch_a,
                self.config.itch_b,
                self.config.rerequest,
                self.config.ouch,
            ),
        };
        d.set_item("itch_a", a.to_string())?;
        d.set_item("itch_b", b.to_string())?;
        d.set_item("itch_rerequest", rr.to_string())?;
        d.set_item("ouch", ouch.to_string())?;
        d.set_item("session", self.config.session.clone())?;
        d.set_item("symbol", self.config.symbol.clone())?;
        Ok(d)
    }

    /// Counters (empty dict when stopped).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let Some(v) = &self.running else {
            return Ok(d);
        };
        let s = v.stats();
        let f = s.front;
        for (k, val) in [
            ("messages", f.messages),
            ("packets", f.packets),
            ("flow_actions", f.flow_actions),
            ("trades", f.trades),
            ("ouch_in", f.ouch_in),
            ("ouch_bad", f.ouch_bad),
            ("ouch_accepted", f.ouch_accepted),
            ("ouch_rejected", f.ouch_rejected),
            ("ouch_executions", f.ouch_executions),
            ("ouch_canceled", f.ouch_canceled),
            ("ouch_ignored", f.ouch_ignored),
            ("rerequests", f.rerequests),
            ("resent", f.resent),
            ("rerequest_refused", f.rerequest_refused),
            ("logins", s.logins),
            ("login_rejects", s.login_rejects),
            ("protocol_errors", s.protocol_errors),
            ("client_timeouts", s.client_timeouts),
            ("next_sequence", s.next_sequence),
        ] {
            d.set_item(k, val)?;
        }
        d.set_item("line_a", line_dict(py, &s.line_a)?)?;
        d.set_item("line_b", line_dict(py, &s.line_b)?)?;
        Ok(d)
    }

    /// Hex digest of the displayed book (every order in priority order) and the next sequence.
    fn digest(&self) -> PyResult<(String, u64)> {
        let v = self
            .running
            .as_ref()
            .ok_or_else(|| SimVenueError::new_err("ItchVenue is not running"))?;
        let (d, next) = v.digest();
        Ok((d.iter().map(|b| format!("{b:02x}")).collect(), next))
    }

    /// The venue's own view of one OUCH user, from its sequenced message log and its book:
    /// `{"position"` (shares bought minus sold), `"open_orders"` (the user's orders resting now),
    /// `"tokens"` (distinct tokens that arrived as new orders), `"tokens_repeated"` (tokens that
    /// arrived more than once, on the wire), `"executions"` (fills in the log)`}`.
    fn user_view<'py>(&self, py: Python<'py>, user: &str) -> PyResult<Bound<'py, PyDict>> {
        let (v, idx) = self.user(user)?;
        let (position, open, executions) = v.with_front(|f| {
            let log = fold_user_log(f.ouch_log(idx, 1));
            let open = log
                .refs
                .values()
                .filter(|r| f.engine().open_qty(**r).is_some_and(|q| q.lots() > 0))
                .count();
            (log.position(), open, log.executions.len())
        });
        let (tokens, repeated) = v.ouch_hooks(|h| {
            (
                h.tokens.len(),
                h.tokens.values().filter(|c| **c > 1).count(),
            )
        });
        let d = PyDict::new(py);
        d.set_item("position", position)?;
        d.set_item("open_orders", open)?;
        d.set_item("tokens", tokens)?;
        d.set_item("tokens_repeated", repeated)?;
        d.set_item("executions", executions)?;
        Ok(d)
    }

    /// The user's executions in the venue's sequenced log, oldest first, from the `since`-th on
    /// (the venue's own statement, what a drop copy reads): `[(side, shares, price, match)]` with
    /// side `"BUY"`/`"SELL"` and the price as decimal text in dollars.
    #[pyo3(signature = (user, since = 0))]
    fn user_executions<'py>(
        &self,
        py: Python<'py>,
        user: &str,
        since: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        let (v, idx) = self.user(user)?;
        let fills = v.with_front(|f| fold_user_log(f.ouch_log(idx, 1)).executions);
        let out = PyList::empty(py);
        for e in fills.iter().skip(since) {
            let side = if e.side.sign() > 0 { "BUY" } else { "SELL" };
            let price = format!("{}.{:04}", e.price / 10_000, e.price % 10_000);
            out.append((side, e.shares, price, e.match_number))?;
        }
        Ok(out)
    }
}

impl PyItchVenue {
    /// The running venue and the index of OUCH user `user`.
    fn user(&self, user: &str) -> PyResult<(&ItchVenue, usize)> {
        let v = self
            .running
            .as_ref()
            .ok_or_else(|| SimVenueError::new_err("ItchVenue is not running"))?;
        let idx = self
            .config
            .users
            .iter()
            .position(|u| u.user == user)
            .ok_or_else(|| SimVenueError::new_err(format!("no OUCH user {user:?}")))?;
        Ok((v, idx))
    }
}

/// One execution of a user's order, from the venue's sequenced log.
struct Execution {
    side: Side,
    shares: u32,
    /// 1/10000 dollar.
    price: u32,
    match_number: u64,
}

/// A user's sequenced OUCH messages folded: the live order ref per token, the executions in order.
struct UserLog {
    refs: BTreeMap<u64, u64>,
    executions: Vec<Execution>,
}

impl UserLog {
    /// Shares bought minus sold.
    fn position(&self) -> i64 {
        self.executions
            .iter()
            .map(|e| e.side.sign() * i64::from(e.shares))
            .sum()
    }
}

fn fold_user_log(log: &[Vec<u8>]) -> UserLog {
    let mut sides: BTreeMap<u64, Side> = BTreeMap::new();
    let mut refs: BTreeMap<u64, u64> = BTreeMap::new();
    let mut executions = Vec::new();
    for m in log {
        match Outbound::decode(m) {
            Ok(Outbound::Accepted {
                token,
                side,
                order_ref,
                ..
            }) => {
                sides.insert(token.0, side);
                refs.insert(token.0, order_ref);
            }
            Ok(Outbound::Replaced {
                replacement,
                side,
                order_ref,
                previous,
                ..
            }) => {
                sides.insert(replacement.0, side);
                refs.insert(replacement.0, order_ref);
                refs.remove(&previous.0);
            }
            Ok(Outbound::Executed {
                token,
                shares,
                price,
                match_number,
                ..
            }) => {
                if let Some(side) = sides.get(&token.0) {
                    executions.push(Execution {
                        side: *side,
                        shares,
                        price,
                        match_number,
                    });
                }
            }
            _ => {}
        }
    }
    UserLog { refs, executions }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyItchVenue>()
}
