//! Bindings for `venue`: `SimExchange` (the simulated spot venue's accounts and books, answering
//! Binance REST requests as `(status, body)`), `SimFutures` (the USD-M side, answering `/fapi` routes) and `SignatureVerifier` (HMAC / Ed25519 over raw request
//! bytes). Conversion only: parameters in as `dict[str, str]`, Binance JSON out as Python objects.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::errors::SimVenueError;
use super::model::PyInstrumentMaster;
use crate::gateway::signing::{Signer, Verifier, MAX_SIGNATURE_LEN};
use crate::model::{Market, UnixNanos};
use crate::venue::binance_spot::{self as spot, Audience, Params, Reply};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use crate::venue::binance_usdm::{self as usdm, Audience as FuturesAudience};
use crate::venue::latency::{Jitter, LatencyModel, PathDelay};
use crate::venue::replay::{self as rp, QueueModel, ReplayDriver};
use crate::venue::{FeeRates, FlowGenerator, FlowParams, SpotVenue, UsdmVenue};

/// First house account id of the flow generators (one per symbol).
const FLOW_ACCOUNT_BASE: u32 = 4_000_000_001;

fn to_py(py: Python<'_>, v: &serde_json::Value) -> PyResult<Py<PyAny>> {
    let json = py.import("json")?;
    Ok(json.call_method1("loads", (v.to_string(),))?.unbind())
}

fn reply(py: Python<'_>, r: &Reply) -> PyResult<(u16, Py<PyAny>)> {
    Ok((r.status, to_py(py, &r.body)?))
}

/// The simulated Binance spot venue: symbols from an instrument master, accounts by integer id.
#[pyclass(name = "SimExchange", module = "pymm._native")]
pub(crate) struct PySimExchange {
    inner: SpotVenue,
    flows: Vec<FlowGenerator>,
    replay: Option<ReplayDriver>,
    latency: LatencyModel,
    /// Rendered market data waiting for its release time (the market-data latency).
    delayed: VecDeque<(u64, Audience, serde_json::Value)>,
}

fn venue_err(e: impl std::fmt::Display) -> PyErr {
    SimVenueError::new_err(e.to_string())
}

fn jitter_from(kind: &str, a: f64, b: f64) -> PyResult<Jitter> {
    Ok(match kind {
        "none" => Jitter::None,
        "uniform" => Jitter::Uniform { max_ns: a as u64 },
        "exponential" => Jitter::Exponential { mean_ns: a as u64 },
        "lognormal" => Jitter::LogNormal {
            median_ns: a as u64,
            sigma: b,
        },
        other => {
            return Err(venue_err(format!(
                "unknown jitter {other:?} (none, uniform, exponential, lognormal)"
            )))
        }
    })
}

fn queue_model(name: &str) -> PyResult<QueueModel> {
    match name {
        "risk_averse" => Ok(QueueModel::RiskAverse),
        s if s.starts_with("power") => s[5..]
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n > 0.0)
            .map(QueueModel::Power)
            .ok_or_else(|| venue_err(format!("bad queue model {name:?} (risk_averse, powerN)"))),
        _ => Err(venue_err(format!(
            "bad queue model {name:?} (risk_averse, powerN)"
        ))),
    }
}

#[pymethods]
impl PySimExchange {
    /// A venue charging `maker_bps` / `taker_bps` on fills, listing every spot instrument of
    /// `instruments`.
    #[new]
    #[pyo3(signature = (instruments, maker_bps = 1, taker_bps = 1))]
    fn new(
        instruments: PyRef<'_, PyInstrumentMaster>,
        maker_bps: i64,
        taker_bps: i64,
    ) -> PyResult<Self> {
        let fees = FeeRates::from_bps(maker_bps, taker_bps)
            .map_err(|e| SimVenueError::new_err(e.to_string()))?;
        let mut inner = SpotVenue::new(fees);
        for i in instruments
            .inner
            .iter()
            .filter(|i| i.market == Market::Spot)
        {
            inner
                .list(i.clone())
                .map_err(|e| SimVenueError::new_err(e.to_string()))?;
        }
        Ok(Self {
            inner,
            flows: Vec::new(),
            replay: None,
            latency: LatencyModel::zero(),
            delayed: VecDeque::new(),
        })
    }

    /// Starts the market-flow generator described by `params_toml` (a `config/flow/*.toml` text) on
    /// its symbol at venue time `start_ns`, seeded with `seed`, and seeds the book.
    fn attach_flow(&mut self, params_toml: &str, seed: u64, start_ns: u64) -> PyResult<()> {
        let params = FlowParams::from_toml(params_toml).map_err(venue_err)?;
        if self.flows.iter().any(|f| f.symbol() == params.symbol) {
            return Err(venue_err(format!(
                "a flow already runs on {}",
                params.symbol
            )));
        }
        let account = FLOW_ACCOUNT_BASE + self.flows.len() as u32;
        let mut f = FlowGenerator::new(&mut self.inner, params, account, seed, UnixNanos(start_ns))
            .map_err(venue_err)?;
        f.seed_book(&mut self.inner);
        self.flows.push(f);
        Ok(())
    }

    /// Replays a recording into `symbol`'s book from venue time `start_ns`: `format` is `binance`
    /// (one or more capture files of one session), `dbn` or `lobster` (`tick` in the file's price
    /// units: 1e-9 for DBN, 1e-4 USD for LOBSTER); `queue_model` `risk_averse` or `powerN` (L2).
    #[pyo3(signature = (paths, format, symbol, start_ns, queue_model = "power3", tick = 1))]
    fn attach_replay(
        &mut self,
        paths: Vec<PathBuf>,
        format: &str,
        symbol: &str,
        start_ns: u64,
        queue_model: &str,
        tick: i64,
    ) -> PyResult<()> {
        let model = self::queue_model(queue_model)?;
        let first = paths
            .first()
            .ok_or_else(|| venue_err("no file to replay"))?
            .clone();
        let rec = match format {
            "binance" => {
                let idx = self
                    .inner
                    .symbol_index(symbol)
                    .ok_or_else(|| venue_err(format!("symbol {symbol} is not listed")))?;
                let inst = self
                    .inner
                    .instrument(idx)
                    .ok_or_else(|| venue_err("no instrument"))?
                    .clone();
                let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
                rp::load_binance(&refs, &inst)
            }
            "dbn" => rp::load_dbn(&first, symbol, tick),
            "lobster" => rp::load_lobster(&first, symbol, tick),
            other => return Err(venue_err(format!("unknown replay format {other:?}"))),
        }
        .map_err(venue_err)?;
        let d = ReplayDriver::new(&mut self.inner, rec, model, UnixNanos(start_ns))
            .map_err(venue_err)?;
        self.replay = Some(d);
        Ok(())
    }

    /// Runs every flow generator and the replay up to venue time `now_ns`; returns the events
    /// simulated or replayed.
    fn advance(&mut self, now_ns: u64) -> u64 {
        let mut n = 0;
        for f in &mut self.flows {
            n += f.advance(&mut self.inner, UnixNanos(now_ns));
        }
        if let Some(r) = &mut self.replay {
            n += r.advance(&mut self.inner, UnixNanos(now_ns));
        }
        n
    }

    /// The flow generator's counters on `symbol` (events, adds, cancels, markets, rejects,
    /// cancel_misses, skipped_markets, refills,
    /// resting).
    fn flow_stats(&self, symbol: &str) -> PyResult<std::collections::BTreeMap<&'static str, u64>> {
        let f = self
            .flows
            .iter()
            .find(|f| f.symbol() == symbol)
            .ok_or_else(|| venue_err(format!("no flow on {symbol}")))?;
        let s = f.stats();
        Ok([
            ("events", s.events),
            ("adds", s.adds),
            ("cancels", s.cancels),
            ("markets", s.markets),
            ("rejects", s.rejects),
            ("cancel_misses", s.cancel_misses),
            ("skipped_markets", s.skipped_markets),
            ("refills", s.refills),
            ("resting", f.resting_orders() as u64),
        ]
        .into_iter()
        .collect())
    }

    /// The replay's counters (events, trades, client_fill_lots, unknown_orders, rejects, done), or
    /// None without a replay.
    fn replay_stats(&self) -> Option<std::collections::BTreeMap<&'static str, i64>> {
        let r = self.replay.as_ref()?;
        let s = r.stats();
        Some(
            [
                ("events", s.events as i64),
                ("trades", s.trades as i64),
                ("client_fill_lots", s.client_fill_lots),
                ("unknown_orders", s.unknown_orders as i64),
                ("rejects", s.rejects as i64),
                ("done", i64::from(r.done())),
            ]
            .into_iter()
            .collect(),
        )
    }

    /// Venue time of the replay's next event (None: no replay, or done).
    fn replay_next_ns(&self) -> Option<u64> {
        self.replay.as_ref()?.next_time().map(|t| t.0)
    }

    /// Venue time of the next thing to publish, whichever comes first: a flow generator's next
    /// event (drawn ahead, see `FlowGenerator::next_event`), the replay's next event, or the
    /// release of market data the latency model holds back. None: nothing is scheduled. A server
    /// sleeps until then (and wakes sooner when a client changes the book) instead of stepping on a
    /// fixed interval, so what the flow does is published when it happens.
    fn next_event_ns(&mut self) -> Option<u64> {
        let flows = self
            .flows
            .iter_mut()
            .filter_map(|f| f.next_event(&self.inner).map(|t| t.0));
        let replay = self
            .replay
            .as_ref()
            .and_then(ReplayDriver::next_time)
            .map(|t| t.0);
        let held = self.delayed.iter().map(|(release, _, _)| *release);
        flows.chain(replay).chain(held).min()
    }

    /// Sets the latency model: order entry and market data each `base_ns` plus jitter `kind`
    /// (`none`; `uniform` a=max; `exponential` a=mean; `lognormal` a=median, b=sigma), seeded.
    #[pyo3(signature = (entry_base_ns, md_base_ns, seed, entry_jitter = None, md_jitter = None))]
    fn set_latency(
        &mut self,
        entry_base_ns: u64,
        md_base_ns: u64,
        seed: u64,
        entry_jitter: Option<(String, f64, f64)>,
        md_jitter: Option<(String, f64, f64)>,
    ) -> PyResult<()> {
        let none = || ("none".to_owned(), 0.0, 0.0);
        let (entry_jitter, md_jitter) = (
            entry_jitter.unwrap_or_else(none),
            md_jitter.unwrap_or_else(none),
        );
        let entry = PathDelay {
            base_ns: entry_base_ns,
            jitter: jitter_from(&entry_jitter.0, entry_jitter.1, entry_jitter.2)?,
        };
        let md = PathDelay {
            base_ns: md_base_ns,
            jitter: jitter_from(&md_jitter.0, md_jitter.1, md_jitter.2)?,
        };
        self.latency = LatencyModel::new(entry, md, seed).map_err(venue_err)?;
        Ok(())
    }

    /// The order-entry delay (ns) for the next request: the venue acts on it this much later.
    fn entry_delay_ns(&mut self) -> u64 {
        self.latency.entry_delay()
    }

    /// Quantity (lots) resting ahead of order `order_id` on `symbol` (None: not resting).
    fn queue_ahead(&self, symbol: &str, order_id: u64) -> Option<i64> {
        let idx = self.inner.symbol_index(symbol)?;
        self.inner.queue_ahead(idx, order_id).map(|q| q.lots())
    }

    /// Listed symbols, in index order.
    fn symbols(&self) -> Vec<String> {
        self.inner.instruments().map(|i| i.symbol.clone()).collect()
    }

    /// Credits `amount` (decimal text) of `asset` to `account`.
    fn deposit(&mut self, account: u32, asset: &str, amount: &str) -> PyResult<()> {
        self.inner
            .deposit(account, asset, amount)
            .map_err(|e| SimVenueError::new_err(e.to_string()))
    }

    /// `GET /api/v3/exchangeInfo`.
    fn exchange_info(
        &self,
        py: Python<'_>,
        params: Params,
        now_ns: u64,
    ) -> PyResult<(u16, Py<PyAny>)> {
        reply(
            py,
            &spot::exchange_info(&self.inner, &params, UnixNanos(now_ns)),
        )
    }

    /// `GET /api/v3/depth`.
    fn depth(&self, py: Python<'_>, params: Params) -> PyResult<(u16, Py<PyAny>)> {
        reply(py, &spot::depth(&self.inner, &params))
    }

    /// `POST /api/v3/order`.
    fn new_order(
        &mut self,
        py: Python<'_>,
        account: u32,
        params: Params,
        now_ns: u64,
    ) -> PyResult<(u16, Py<PyAny>)> {
        reply(
            py,
            &spot::new_order(&mut self.inner, account, &params, UnixNanos(now_ns)),
        )
    }

    /// `DELETE /api/v3/order`.
    fn cancel_order(
        &mut self,
        py: Python<'_>,
        account: u32,
        params: Params,
        now_ns: u64,
    ) -> PyResult<(u16, Py<PyAny>)> {
        reply(
            py,
            &spot::cancel_order(&mut self.inner, account, &params, UnixNanos(now_ns)),
        )
    }

    /// `GET /api/v3/order`.
    fn query_order(
        &self,
        py: Python<'_>,
        account: u32,
        params: Params,
    ) -> PyResult<(u16, Py<PyAny>)> {
        reply(py, &spot::query_order(&self.inner, account, &params))
    }

    /// `GET /api/v3/openOrders`.
    fn open_orders(
        &self,
        py: Python<'_>,
        account: u32,
        params: Params,
    ) -> PyResult<(u16, Py<PyAny>)> {
        reply(py, &spot::open_orders(&self.inner, account, &params))
    }

    /// `DELETE /api/v3/openOrders`.
    fn cancel_open_orders(
        &mut self,
        py: Python<'_>,
        account: u32,
        params: Params,
        now_ns: u64,
    ) -> PyResult<(u16, Py<PyAny>)> {
        reply(
            py,
            &spot::cancel_open_orders(&mut self.inner, account, &params, UnixNanos(now_ns)),
        )
    }

    /// `POST /api/v3/order/cancelReplace`.
    fn cancel_replace(
        &mut self,
        py: Python<'_>,
        account: u32,
        params: Params,
        now_ns: u64,
    ) -> PyResult<(u16, Py<PyAny>)> {
        reply(
            py,
            &spot::cancel_replace(&mut self.inner, account, &params, UnixNanos(now_ns)),
        )
    }

    /// `GET /api/v3/account`.
    fn account(
        &self,
        py: Python<'_>,
        account: u32,
        params: Params,
        now_ns: u64,
    ) -> PyResult<(u16, Py<PyAny>)> {
        reply(
            py,
            &spot::account(&self.inner, account, &params, UnixNanos(now_ns)),
        )
    }

    /// `POST /api/v3/order/test`.
    fn test_order(
        &self,
        py: Python<'_>,
        account: u32,
        params: Params,
    ) -> PyResult<(u16, Py<PyAny>)> {
        reply(py, &spot::test_order(&self.inner, account, &params))
    }

    /// `GET /api/v3/allOrders`.
    fn all_orders(
        &self,
        py: Python<'_>,
        account: u32,
        params: Params,
    ) -> PyResult<(u16, Py<PyAny>)> {
        reply(py, &spot::all_orders(&self.inner, account, &params))
    }

    /// `GET /api/v3/ticker/bookTicker`.
    fn book_ticker(&self, py: Python<'_>, params: Params) -> PyResult<(u16, Py<PyAny>)> {
        reply(py, &spot::book_ticker(&self.inner, &params))
    }

    /// `GET /api/v3/avgPrice`.
    fn avg_price(&self, py: Python<'_>, params: Params, now_ns: u64) -> PyResult<(u16, Py<PyAny>)> {
        reply(
            py,
            &spot::avg_price(&self.inner, &params, UnixNanos(now_ns)),
        )
    }

    /// `GET /api/v3/myTrades`.
    fn my_trades(
        &self,
        py: Python<'_>,
        account: u32,
        params: Params,
    ) -> PyResult<(u16, Py<PyAny>)> {
        reply(py, &spot::my_trades(&self.inner, account, &params))
    }

    /// Best bid and ask of `symbol` as `(bid, ask)` price texts (None when a side is empty), or
    /// None for an unknown symbol.
    fn top(&self, symbol: &str) -> Option<(Option<String>, Option<String>)> {
        let idx = self.inner.symbol_index(symbol)?;
        let inst = self.inner.instrument(idx)?;
        let (b, a) = self.inner.top(idx)?;
        Some((
            b.map(|(p, _)| inst.price_to_string(p)),
            a.map(|(p, _)| inst.price_to_string(p)),
        ))
    }

    /// Raises `SimVenueError` naming the first broken conservation invariant (deposits = balances +
    /// fees, nothing negative, locked = open orders' reservations).
    fn check_invariants(&self) -> PyResult<()> {
        self.inner
            .check_invariants()
            .map_err(SimVenueError::new_err)
    }

    /// Events since the last call as `(audience, payload)`: audience is a stream name
    /// (`dogeusdt@depth`) or an account id (user data). With `now_ns`, market-data events are held
    /// back by the latency model's market-data delay (order kept) and only those released by
    /// `now_ns` are returned; user data is never delayed. Without it, everything is returned.
    #[pyo3(signature = (now_ns = None))]
    fn drain_events<'py>(
        &mut self,
        py: Python<'py>,
        now_ns: Option<u64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for e in self.inner.drain_events() {
            if let Some((aud, payload)) = spot::render_event(&self.inner, &e) {
                let release = match (&aud, now_ns) {
                    (Audience::Stream(_), Some(now)) => self.latency.md_release(now),
                    _ => 0,
                };
                self.delayed.push_back((release, aud, payload));
            }
        }
        let limit = now_ns.unwrap_or(u64::MAX);
        let mut keep = VecDeque::new();
        while let Some((release, aud, payload)) = self.delayed.pop_front() {
            if release > limit {
                keep.push_back((release, aud, payload));
                continue;
            }
            let payload = to_py(py, &payload)?;
            match aud {
                Audience::Stream(name) => out.append((name, payload))?,
                Audience::Account(id) => out.append((id, payload))?,
            }
        }
        self.delayed = keep;
        Ok(out)
    }
}

/// The simulated Binance USD-M futures venue: symbols from an instrument master, futures accounts by
/// integer id (the same ids as the spot accounts, separate USDT margin wallets).
#[pyclass(name = "SimFutures", module = "pymm._native")]
pub(crate) struct PySimFutures {
    inner: UsdmVenue,
}

#[pymethods]
impl PySimFutures {
    /// A venue charging `maker_bps` / `taker_bps`, settling funding every `funding_interval_s`
    /// (first settlement one interval after `now_ns`), listing every USD-M instrument.
    #[new]
    #[pyo3(signature = (instruments, maker_bps = 2, taker_bps = 5, funding_interval_s = 28800.0, now_ns = 0))]
    fn new(
        instruments: PyRef<'_, PyInstrumentMaster>,
        maker_bps: i64,
        taker_bps: i64,
        funding_interval_s: f64,
        now_ns: u64,
    ) -> PyResult<Self> {
        let fees = FeeRates::from_bps(maker_bps, taker_bps)
            .map_err(|e| SimVenueError::new_err(e.to_string()))?;
        if !(funding_interval_s.is_finite() && funding_interval_s > 0.0) {
            return Err(SimVenueError::new_err(
                "funding_interval_s must be positive",
            ));
        }
        let mut inner = UsdmVenue::new(fees, (funding_interval_s * 1e9) as u64);
        for i in instruments
            .inner
            .iter()
            .filter(|i| i.market == Market::UsdM)
        {
            inner
                .list(i.clone(), UnixNanos(now_ns))
                .map_err(|e| SimVenueError::new_err(e.to_string()))?;
        }
        Ok(Self { inner })
    }

    /// Listed symbols, in index order.
    fn symbols(&self) -> Vec<String> {
        self.inner.instruments().map(|i| i.symbol.clone()).collect()
    }

    /// Credits `amount` (decimal text) of USDT to `account`'s futures wallet.
    #[pyo3(signature = (account, asset, amount, now_ns = 0))]
    fn deposit(&mut self, account: u32, asset: &str, amount: &str, now_ns: u64) -> PyResult<()> {
        self.inner
            .deposit(account, asset, amount, UnixNanos(now_ns))
            .map_err(|e| SimVenueError::new_err(e.to_string()))
    }

    /// Answers `route` (`"POST /fapi/v1/order"`) for `account` as `(status, body)`.
    fn request(
        &mut self,
        py: Python<'_>,
        route: &str,
        account: u32,
        params: Params,
        now_ns: u64,
    ) -> PyResult<(u16, Py<PyAny>)> {
        reply(
            py,
            &usdm::handle(&mut self.inner, route, account, &params, UnixNanos(now_ns)),
        )
    }

    /// `POST /fapi/v1/order` (the market-flow generator's entry point).
    fn new_order(
        &mut self,
        py: Python<'_>,
        account: u32,
        params: Params,
        now_ns: u64,
    ) -> PyResult<(u16, Py<PyAny>)> {
        self.request(py, "POST /fapi/v1/order", account, params, now_ns)
    }

    /// `DELETE /fapi/v1/allOpenOrders`.
    fn cancel_open_orders(
        &mut self,
        py: Python<'_>,
        account: u32,
        params: Params,
        now_ns: u64,
    ) -> PyResult<(u16, Py<PyAny>)> {
        self.request(py, "DELETE /fapi/v1/allOpenOrders", account, params, now_ns)
    }

    /// Sets `symbol`'s funding rate (decimal text, up to 8 places, may be negative).
    fn set_funding_rate(&mut self, symbol: &str, rate: &str) -> PyResult<()> {
        self.inner
            .set_funding_rate(symbol, rate)
            .map_err(|e| SimVenueError::new_err(e.to_string()))
    }

    /// Settles every funding whose time has come; returns how many settlements were made.
    fn settle_funding(&mut self, now_ns: u64) -> usize {
        self.inner.settle_funding(UnixNanos(now_ns))
    }

    /// Queues a `markPriceUpdate` for every symbol that has a mark price.
    fn publish_marks(&mut self, now_ns: u64) {
        self.inner.publish_marks(UnixNanos(now_ns));
    }

    /// The `<symbol>@depth<n>` payload (diff-shaped, as futures sends it), or None.
    fn partial_depth(
        &self,
        py: Python<'_>,
        symbol: &str,
        n: usize,
        now_ns: u64,
    ) -> PyResult<Option<Py<PyAny>>> {
        usdm::partial_depth(&self.inner, symbol, n, UnixNanos(now_ns))
            .map(|v| to_py(py, &v))
            .transpose()
    }

    /// Best bid and ask price texts of `symbol` (None when a side is empty), or None if unknown.
    fn top(&self, symbol: &str) -> Option<(Option<String>, Option<String>)> {
        let idx = self.inner.symbol_index(symbol)?;
        let inst = self.inner.instrument(idx)?;
        let (b, a) = self.inner.top(idx)?;
        Some((
            b.map(|(p, _)| inst.price_to_string(p)),
            a.map(|(p, _)| inst.price_to_string(p)),
        ))
    }

    /// Raises `SimVenueError` naming the first broken futures invariant (positions sum to zero and
    /// match fills; wallet = deposits + realized − fees − funding; the venue's books balance).
    fn check_invariants(&self) -> PyResult<()> {
        self.inner
            .check_invariants()
            .map_err(SimVenueError::new_err)
    }

    /// Events since the last call as `(audience, payload)`: a stream name or an account id.
    fn drain_events<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for e in self.inner.drain_events() {
            if let Some((aud, payload)) = usdm::render_event(&self.inner, &e) {
                let payload = to_py(py, &payload)?;
                match aud {
                    FuturesAudience::Stream(name) => out.append((name, payload))?,
                    FuturesAudience::Account(id) => out.append((id, payload))?,
                }
            }
        }
        Ok(out)
    }
}

/// A venue-side API key check: the HMAC secret or the registered Ed25519 public key.
#[pyclass(frozen, name = "SignatureVerifier", module = "pymm._native")]
pub(crate) struct PySignatureVerifier {
    inner: Verifier,
}

#[pymethods]
impl PySignatureVerifier {
    /// From the HMAC-SHA256 secret.
    #[staticmethod]
    fn hmac(secret: &str) -> PyResult<Self> {
        Verifier::hmac(secret.as_bytes())
            .map(|inner| Self { inner })
            .map_err(|e| SimVenueError::new_err(e.to_string()))
    }

    /// From an Ed25519 public key in PEM.
    #[staticmethod]
    fn ed25519_pem(pem: &str) -> PyResult<Self> {
        Verifier::ed25519_pem(pem)
            .map(|inner| Self { inner })
            .map_err(|e| SimVenueError::new_err(e.to_string()))
    }

    /// Whether `signature` (hex for HMAC, any case; base64 for Ed25519, percent-decoded) signs
    /// exactly `payload`.
    fn verify(&self, payload: &Bound<'_, PyBytes>, signature: &Bound<'_, PyBytes>) -> bool {
        self.inner.verify(payload.as_bytes(), signature.as_bytes())
    }
}

/// A client-side request signer (HMAC-SHA256 hex, or Ed25519 base64), for REST connectors.
#[pyclass(frozen, name = "RequestSigner", module = "pymm._native")]
pub(crate) struct PyRequestSigner {
    inner: Signer,
}

#[pymethods]
impl PyRequestSigner {
    /// From the HMAC-SHA256 API secret.
    #[staticmethod]
    fn hmac(secret: &str) -> PyResult<Self> {
        Signer::hmac(secret.as_bytes())
            .map(|inner| Self { inner })
            .map_err(|e| SimVenueError::new_err(e.to_string()))
    }

    /// From an Ed25519 PKCS#8 PEM private key.
    #[staticmethod]
    fn ed25519_pem(pem: &str) -> PyResult<Self> {
        Signer::ed25519_pem(pem)
            .map(|inner| Self { inner })
            .map_err(|e| SimVenueError::new_err(e.to_string()))
    }

    /// Whether this is an Ed25519 key (its signature must be percent-encoded on the wire).
    fn is_ed25519(&self) -> bool {
        self.inner.ed25519_public().is_some()
    }

    /// The signature text of exactly `payload` (hex for HMAC, base64 for Ed25519).
    fn sign(&self, payload: &Bound<'_, PyBytes>) -> String {
        let mut out = [0u8; MAX_SIGNATURE_LEN];
        let n = self.inner.sign(payload.as_bytes(), &mut out);
        String::from_utf8_lossy(&out[..n]).into_owned()
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySimExchange>()?;
    m.add_class::<PySimFutures>()?;
    m.add_class::<PySignatureVerifier>()?;
    m.add_class::<PyRequestSigner>()?;
    Ok(())
}
