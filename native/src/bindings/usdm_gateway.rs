//! Bindings for `engine::usdm_session`: `UsdmGateway`, the Binance USD-M (or, with
//! `market = "spot"`, spot REST) order gateway thread.
//! Conversion only: the config dict goes through JSON into `UsdmConfig`, decimal text to ticks and
//! lots with the instrument's scales, outcomes and events back to dicts. Every call that talks to
//! the venue detaches from the interpreter.

use std::sync::Mutex;
use std::time::Duration;

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::engine::usdm_session::{
    prepare, Answer, Command, GatewayStatus, OrderSlot, Outcome, UsdmConfig, UsdmEvent, UsdmHandle,
};
use crate::gateway::binance_usdm::{MarketKind, UsdmMarket, UsdmOrder, MAX_BATCH};
use crate::gateway::OrderState;
use crate::model::{ClientOrderId, Price, Qty, Side};

/// The USD-M order gateway. `UsdmGateway(config)` validates, starts the thread, creates the
/// listenKey and connects the user stream; `close()` stops it.
#[pyclass(name = "UsdmGateway", module = "pymm._native")]
pub(crate) struct PyUsdmGateway {
    handle: Mutex<Option<UsdmHandle>>,
    market: UsdmMarket,
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

fn text(m: &UsdmMarket, id: ClientOrderId) -> String {
    format!("{}{}", m.prefix, id.0)
}

impl PyUsdmGateway {
    fn price(&self, t: &str) -> PyResult<Price> {
        self.market
            .tick
            .parse_units(t.as_bytes())
            .map(Price::from_ticks)
            .map_err(|e| PyValueError::new_err(format!("price {t:?}: {e}")))
    }

    fn qty(&self, t: &str) -> PyResult<Qty> {
        self.market
            .lot
            .parse_units(t.as_bytes())
            .map(Qty::from_lots)
            .map_err(|e| PyValueError::new_err(format!("qty {t:?}: {e}")))
    }

    fn order_of(
        &self,
        side: &str,
        price: &str,
        qty: &str,
        tif: &str,
        reduce_only: bool,
    ) -> PyResult<UsdmOrder> {
        let kind = self.market.kind;
        if kind == MarketKind::Spot && reduce_only {
            return Err(PyValueError::new_err("reduce_only: spot has no reduceOnly"));
        }
        Ok(UsdmOrder {
            side: side_of(side)?,
            tif: kind.parse_tif(tif).ok_or_else(|| {
                let post = kind.tif_text(crate::gateway::binance_usdm::UsdmTif::Gtx);
                PyValueError::new_err(format!("tif {tif:?}: must be {post}, IOC or GTC"))
            })?,
            price: self.price(price)?,
            qty: self.qty(qty)?,
            reduce_only,
        })
    }

    fn call(&self, py: Python<'_>, c: Command) -> PyResult<Answer> {
        let h = &self.handle;
        py.detach(move || {
            let g = h
                .lock()
                .map_err(|_| PyRuntimeError::new_err("the gateway lock is poisoned"))?;
            let handle = g
                .as_ref()
                .ok_or_else(|| PyRuntimeError::new_err("the gateway is closed"))?;
            handle
                .call(c)
                .map_err(|e| PyRuntimeError::new_err(e.to_string()))
        })
    }

    fn outcome<'py>(&self, py: Python<'py>, o: &Outcome) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("client_order_id", o.id.map(|i| i.0))?;
        d.set_item("client_order_text", o.id.map(|i| text(&self.market, i)))?;
        d.set_item("state", o.state.map(OrderState::as_str))?;
        d.set_item("refusal", o.refusal.map(|r| r.as_str()))?;
        d.set_item("code", o.code)?;
        d.set_item("msg", String::from_utf8_lossy(o.msg()))?;
        d.set_item("http_status", o.http_status)?;
        d.set_item("venue_order_id", o.venue_id)?;
        d.set_item("cum_filled", self.market.lot.format_units(o.cum.lots()))?;
        Ok(d)
    }

    fn event<'py>(&self, py: Python<'py>, e: &UsdmEvent) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("client_order_id", e.id.0)?;
        d.set_item("client_order_text", text(&self.market, e.id))?;
        d.set_item("state", e.state.as_str())?;
        d.set_item("cum_filled", self.market.lot.format_units(e.cum.lots()))?;
        d.set_item("last_qty", self.market.lot.format_units(e.last_qty.lots()))?;
        d.set_item(
            "last_price",
            self.market.tick.format_units(e.last_price.ticks()),
        )?;
        d.set_item("venue_order_id", e.venue_id)?;
        d.set_item("ts_ns", e.ts_ns)?;
        d.set_item("source", e.source.as_str())?;
        Ok(d)
    }

    fn slot<'py>(&self, py: Python<'py>, s: &OrderSlot) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("client_order_id", s.id.0)?;
        d.set_item("client_order_text", text(&self.market, s.id))?;
        d.set_item("state", s.state.as_str())?;
        d.set_item("side", s.order.side.as_str())?;
        d.set_item("tif", self.market.kind.tif_text(s.order.tif))?;
        d.set_item(
            "price",
            self.market.tick.format_units(s.order.price.ticks()),
        )?;
        d.set_item("qty", self.market.lot.format_units(s.order.qty.lots()))?;
        d.set_item("reduce_only", s.order.reduce_only)?;
        d.set_item("cum_filled", self.market.lot.format_units(s.cum.lots()))?;
        d.set_item("venue_order_id", s.venue_id)?;
        d.set_item("queries", s.queries)?;
        Ok(d)
    }

    fn outcomes<'py>(&self, py: Python<'py>, a: Answer) -> PyResult<Vec<Bound<'py, PyDict>>> {
        match a {
            Answer::Outcomes(out, n) => out[..n].iter().map(|o| self.outcome(py, o)).collect(),
            _ => Err(PyRuntimeError::new_err(
                "unexpected answer from the gateway thread",
            )),
        }
    }

    fn first<'py>(&self, py: Python<'py>, a: Answer) -> PyResult<Bound<'py, PyDict>> {
        self.outcomes(py, a)?
            .into_iter()
            .next()
            .ok_or_else(|| PyRuntimeError::new_err("the gateway returned no outcome"))
    }
}

fn status_dict<'py>(py: Python<'py>, s: &GatewayStatus) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in [
        ("orders_sent", s.orders_sent),
        ("batches_sent", s.batches_sent),
        ("cancels_sent", s.cancels_sent),
        ("modifies_sent", s.modifies_sent),
        ("mass_cancels", s.mass_cancels),
        ("reconciles", s.reconciles),
        ("queries_sent", s.queries_sent),
        ("unknown", s.unknown),
        ("unknown_resolved", s.unknown_resolved),
        ("never_live", s.never_live),
        ("denied", s.denied),
        ("rate_blocked", s.rate_blocked),
        ("user_events", s.user_events),
        ("user_decode_errors", s.user_decode_errors),
        ("user_connects", s.user_connects),
        ("foreign_events", s.foreign_events),
        ("illegal_transitions", s.illegal_transitions),
        ("events_dropped", s.events_dropped),
        ("live_orders", s.live_orders),
        ("unknown_now", s.unknown_now),
    ] {
        d.set_item(k, v)?;
    }
    d.set_item("user_stream_up", s.user_stream_up)?;
    d.set_item("killed", s.killed)?;
    let h = PyDict::new(py);
    h.set_item("connects", s.http.connects)?;
    h.set_item("requests", s.http.requests)?;
    h.set_item("reused", s.http.reused)?;
    h.set_item("stale", s.http.stale)?;
    h.set_item("failed_after_send", s.http.failed_after_send)?;
    d.set_item("http", h)?;
    let w = PyDict::new(py);
    w.set_item("connects", s.ws_api.connects)?;
    w.set_item("requests", s.ws_api.requests)?;
    w.set_item("timeouts", s.ws_api.timeouts)?;
    w.set_item("late_answers", s.ws_api.late_answers)?;
    w.set_item("up", s.ws_api.up)?;
    w.set_item("logged_on", s.ws_api.logged_on)?;
    d.set_item("ws_api", w)?;
    let r = PyDict::new(py);
    let now = crate::time::posix_clock::PosixClock::Realtime.now_ns();
    r.set_item("used_weight_1m", s.rate.used_weight_1m)?;
    r.set_item("order_count_10s", s.rate.order_count_10s)?;
    r.set_item("order_count_1m", s.rate.order_count_1m)?;
    r.set_item("order_count_1d", s.rate.order_count_1d)?;
    r.set_item("http_429", s.rate.http_429)?;
    r.set_item("http_418", s.rate.http_418)?;
    r.set_item("refused", s.rate.refused)?;
    r.set_item("blocked_until_ns", s.rate.blocked_until(now))?;
    r.set_item("block", s.rate.block.map(|b| b.as_str()))?;
    r.set_item("weight_per_minute", s.rate.limits.weight_per_minute)?;
    r.set_item("orders_per_10s", s.rate.limits.orders_per_10s)?;
    r.set_item("orders_per_minute", s.rate.limits.orders_per_minute)?;
    r.set_item("orders_per_day", s.rate.limits.orders_per_day)?;
    r.set_item("guard_pct", s.rate.limits.guard_pct)?;
    d.set_item("rate", r)?;
    Ok(d)
}

#[pymethods]
impl PyUsdmGateway {
    /// Validates `config` (keys of `UsdmConfig`), starts the gateway thread and, with `user_ws`,
    /// creates the listenKey and connects the user stream.
    #[new]
    fn new(py: Python<'_>, config: &Bound<'_, PyDict>) -> PyResult<Self> {
        let cfg: UsdmConfig = super::config_from_dict(py, config)?
            .map_err(|e| PyValueError::new_err(format!("usdm gateway config: {e}")))?;
        let parts = prepare(cfg).map_err(PyValueError::new_err)?;
        let handle = py
            .detach(move || UsdmHandle::start(parts))
            .map_err(PyOSError::new_err)?;
        let market = handle.market.clone();
        Ok(Self {
            handle: Mutex::new(Some(handle)),
            market,
        })
    }

    /// The traded symbol.
    #[getter]
    fn symbol(&self) -> String {
        self.market.symbol.clone()
    }

    /// `"usdm"` or `"spot"`.
    #[getter]
    fn market(&self) -> &'static str {
        self.market.kind.as_str()
    }

    /// Places one LIMIT order (`tif` GTX, IOC or GTC; spot: LIMIT_MAKER, IOC or GTC); returns its
    /// outcome.
    #[pyo3(signature = (side, price, qty, tif = "GTX", reduce_only = false))]
    fn place<'py>(
        &self,
        py: Python<'py>,
        side: &str,
        price: &str,
        qty: &str,
        tif: &str,
        reduce_only: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut orders = [None; MAX_BATCH];
        orders[0] = Some(self.order_of(side, price, qty, tif, reduce_only)?);
        let a = self.call(py, Command::Place(orders))?;
        self.first(py, a)
    }

    /// Places 1..=5 orders `(side, price, qty, tif, reduce_only)` in one `batchOrders` request
    /// (spot REST has no batch endpoint: one request each); returns one outcome per order, in
    /// order.
    fn place_batch<'py>(
        &self,
        py: Python<'py>,
        orders: Vec<(String, String, String, String, bool)>,
    ) -> PyResult<Bound<'py, PyList>> {
        if orders.is_empty() || orders.len() > MAX_BATCH {
            return Err(PyValueError::new_err(format!(
                "orders: a batch holds 1..={MAX_BATCH} orders, got {}",
                orders.len()
            )));
        }
        let mut list = [None; MAX_BATCH];
        for (k, (s, p, q, t, r)) in orders.iter().enumerate() {
            list[k] = Some(self.order_of(s, p, q, t, *r)?);
        }
        let a = self.call(py, Command::Place(list))?;
        PyList::new(py, self.outcomes(py, a)?)
    }

    /// Cancels one of our orders by id.
    fn cancel<'py>(&self, py: Python<'py>, client_order_id: u64) -> PyResult<Bound<'py, PyDict>> {
        let a = self.call(py, Command::Cancel(ClientOrderId(client_order_id)))?;
        self.first(py, a)
    }

    /// Amends a resting order's price and quantity in place (`PUT /fapi/v1/order`). Spot:
    /// `cancelReplace` (STOP_ON_FAILURE) by a new order of `qty` at `price` under a new client id;
    /// returns the replacement's outcome (the old order's state: `order(old_id)` and events).
    fn modify<'py>(
        &self,
        py: Python<'py>,
        client_order_id: u64,
        price: &str,
        qty: &str,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (p, q) = (self.price(price)?, self.qty(qty)?);
        let a = self.call(py, Command::Modify(ClientOrderId(client_order_id), p, q))?;
        self.first(py, a)
    }

    /// Queries the venue for one of our orders now.
    fn query<'py>(&self, py: Python<'py>, client_order_id: u64) -> PyResult<Bound<'py, PyDict>> {
        let a = self.call(py, Command::Query(ClientOrderId(client_order_id)))?;
        self.first(py, a)
    }

    /// The reference price for risk's collar and position notional (e.g. the perp's mid).
    fn set_reference(&self, py: Python<'_>, price: &str) -> PyResult<()> {
        let p = self.price(price)?;
        self.call(py, Command::SetReference(p)).map(|_| ())
    }

    /// The venue position (signed base units) after reconciliation.
    fn set_position(&self, py: Python<'_>, qty: &str) -> PyResult<()> {
        let (neg, t) = match qty.strip_prefix('-') {
            Some(t) => (true, t),
            None => (false, qty),
        };
        let lots = self.qty(t)?.lots();
        self.call(py, Command::SetPosition(if neg { -lots } else { lots }))
            .map(|_| ())
    }

    /// Latches the kill switch in risk: new orders and modifies are denied; cancels still go. Spot:
    /// then cancels every open order on the symbol (`DELETE /api/v3/openOrders`).
    fn kill(&self, py: Python<'_>) -> PyResult<()> {
        self.call(py, Command::Kill).map(|_| ())
    }

    /// Lifts the kill latch.
    fn lift_kill(&self, py: Python<'_>) -> PyResult<()> {
        self.call(py, Command::Lift).map(|_| ())
    }

    /// One order as the gateway knows it, or None.
    fn order<'py>(
        &self,
        py: Python<'py>,
        client_order_id: u64,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        match self.call(py, Command::Order(ClientOrderId(client_order_id)))? {
            Answer::Order(Some(s)) => Ok(Some(self.slot(py, &s)?)),
            _ => Ok(None),
        }
    }

    /// Up to `max_events` order events, waiting up to `timeout_s` for the first.
    #[pyo3(signature = (max_events = 1024, timeout_s = 0.0))]
    fn events<'py>(
        &self,
        py: Python<'py>,
        max_events: usize,
        timeout_s: f64,
    ) -> PyResult<Bound<'py, PyList>> {
        if !(0.0..=3600.0).contains(&timeout_s) {
            return Err(PyValueError::new_err(format!(
                "timeout_s {timeout_s}: must be 0..=3600"
            )));
        }
        let h = &self.handle;
        let out = py.detach(move || {
            let mut out = Vec::new();
            if let Ok(g) = h.lock() {
                if let Some(handle) = g.as_ref() {
                    handle.events(max_events, Duration::from_secs_f64(timeout_s), &mut out);
                }
            }
            out
        });
        let items: PyResult<Vec<_>> = out.iter().map(|e| self.event(py, e)).collect();
        PyList::new(py, items?)
    }

    /// Counters, the venue's rate usage and our rate blocks.
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        match self.call(py, Command::Status)? {
            Answer::Status(s) => status_dict(py, &s),
            _ => Err(PyRuntimeError::new_err(
                "unexpected answer from the gateway thread",
            )),
        }
    }

    /// The venue text of one of our ids (`prefix` + decimal).
    fn client_order_text(&self, client_order_id: u64) -> String {
        text(&self.market, ClientOrderId(client_order_id))
    }

    /// Our id from its venue text, or None when the text is not ours.
    fn parse_client_order_text(&self, text: &str) -> Option<u64> {
        crate::gateway::client_id::parse_binance_client_id(
            self.market.prefix.as_bytes(),
            text.as_bytes(),
        )
        .map(|i| i.0)
    }

    /// Stops the thread (idempotent).
    fn close(&self, py: Python<'_>) {
        let h = &self.handle;
        py.detach(move || {
            if let Ok(mut g) = h.lock() {
                if let Some(mut handle) = g.take() {
                    handle.stop();
                }
            }
        });
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyUsdmGateway>()
}
