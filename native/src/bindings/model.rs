//! Bindings for `model`: `Side`, `Instrument` (read-only, with exact price/quantity conversion),
//! `InstrumentMaster` and `validate_order`. Arguments are converted, the core is called, errors are
//! mapped by `errors.rs`; no rule lives here.

use std::path::PathBuf;

use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::model::{
    validator, Decimal, Instrument, InstrumentMaster, Market, MarketContext, OrderRequest,
    OrderType, Price, PriceInput, Qty, QtyInput, Side, TimeInForce,
};

/// `Side.BUY` / `Side.SELL`.
#[pyclass(
    eq,
    eq_int,
    frozen,
    from_py_object,
    name = "Side",
    module = "pymm._native"
)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum PySide {
    #[pyo3(name = "BUY")]
    Buy,
    #[pyo3(name = "SELL")]
    Sell,
}

impl From<PySide> for Side {
    fn from(s: PySide) -> Self {
        match s {
            PySide::Buy => Side::Buy,
            PySide::Sell => Side::Sell,
        }
    }
}

fn market_arg(text: &str) -> PyResult<Market> {
    Market::parse(text)
        .ok_or_else(|| PyValueError::new_err(format!("market {text:?}: expected 'spot' or 'usdm'")))
}

/// One instrument, read-only.
#[pyclass(frozen, name = "Instrument", module = "pymm._native")]
pub(crate) struct PyInstrument {
    inner: Instrument,
}

fn opt_str(d: Option<Decimal>) -> Option<String> {
    d.map(|d| d.to_string())
}

#[pymethods]
impl PyInstrument {
    /// Index in its master.
    #[getter]
    fn id(&self) -> u32 {
        self.inner.id.0
    }
    /// The venue's name (`binance`).
    #[getter]
    fn venue(&self) -> &str {
        &self.inner.venue
    }
    /// The venue symbol (`DOGEUSDT`).
    #[getter]
    fn symbol(&self) -> &str {
        &self.inner.symbol
    }
    /// `spot` or `usdm`.
    #[getter]
    fn market(&self) -> &'static str {
        self.inner.market.as_str()
    }
    /// The venue's status text (`TRADING`, `BREAK`, …).
    #[getter]
    fn status(&self) -> &str {
        self.inner.status.as_str()
    }
    /// Base asset (`DOGE`).
    #[getter]
    fn base_asset(&self) -> &str {
        &self.inner.base_asset
    }
    /// Quote asset (`USDT`).
    #[getter]
    fn quote_asset(&self) -> &str {
        &self.inner.quote_asset
    }
    /// The tick, canonical text (`0.00001`).
    #[getter]
    fn tick_size(&self) -> String {
        self.inner.price_scale.to_string()
    }
    /// The lot, canonical text (`1`).
    #[getter]
    fn step_size(&self) -> String {
        self.inner.qty_scale.to_string()
    }
    /// Most decimal places accepted in a price text.
    #[getter]
    fn price_precision(&self) -> u8 {
        self.inner.price_precision
    }
    /// Most decimal places accepted in a quantity text.
    #[getter]
    fn qty_precision(&self) -> u8 {
        self.inner.qty_precision
    }
    /// Order types accepted (of LIMIT, LIMIT_MAKER, MARKET).
    #[getter]
    fn order_types(&self) -> Vec<&'static str> {
        self.inner
            .order_types
            .iter()
            .map(OrderType::as_str)
            .collect()
    }
    /// Times in force accepted (of GTC, IOC, FOK, GTX).
    #[getter]
    fn time_in_force(&self) -> Vec<&'static str> {
        self.inner
            .time_in_force
            .iter()
            .map(TimeInForce::as_str)
            .collect()
    }
    /// `PRICE_FILTER.minPrice` (None without the filter; "0" = no minimum).
    #[getter]
    fn min_price(&self) -> Option<String> {
        opt_str(self.inner.filters.price.map(|f| f.min_price))
    }
    /// `PRICE_FILTER.maxPrice`.
    #[getter]
    fn max_price(&self) -> Option<String> {
        opt_str(self.inner.filters.price.map(|f| f.max_price))
    }
    /// `LOT_SIZE.minQty`.
    #[getter]
    fn min_qty(&self) -> Option<String> {
        opt_str(self.inner.filters.lot_size.map(|f| f.min_qty))
    }
    /// `LOT_SIZE.maxQty`.
    #[getter]
    fn max_qty(&self) -> Option<String> {
        opt_str(self.inner.filters.lot_size.map(|f| f.max_qty))
    }
    /// `MIN_NOTIONAL` (spot or USD-M) or else spot `NOTIONAL`'s minimum.
    #[getter]
    fn min_notional(&self) -> Option<String> {
        let f = &self.inner.filters;
        opt_str(
            f.min_notional
                .map(|n| n.min_notional)
                .or(f.notional.map(|n| n.min_notional)),
        )
    }
    /// `MAX_NUM_ORDERS`.
    #[getter]
    fn max_num_orders(&self) -> Option<u32> {
        self.inner.filters.max_num_orders
    }
    /// USD-M contract type (`PERPETUAL`); None on spot.
    #[getter]
    fn contract_type(&self) -> Option<&str> {
        self.inner
            .contract
            .as_ref()
            .map(|c| c.contract_type.as_str())
    }
    /// USD-M margin asset; None on spot.
    #[getter]
    fn margin_asset(&self) -> Option<&str> {
        self.inner
            .contract
            .as_ref()
            .map(|c| c.margin_asset.as_str())
    }

    /// Exact price text → ticks; raises `ScaleError` when off the tick grid or malformed.
    fn price_from_str(&self, text: &str) -> PyResult<i64> {
        Ok(self.inner.price_from_str(text)?.ticks())
    }
    /// Ticks → canonical price text.
    fn price_to_str(&self, ticks: i64) -> String {
        self.inner.price_to_string(Price::from_ticks(ticks))
    }
    /// Exact quantity text → lots; raises `ScaleError` when off the step grid or malformed.
    fn qty_from_str(&self, text: &str) -> PyResult<i64> {
        Ok(self.inner.qty_from_str(text)?.lots())
    }
    /// Lots → canonical quantity text.
    fn qty_to_str(&self, lots: i64) -> String {
        self.inner.qty_to_string(Qty::from_lots(lots))
    }

    fn __repr__(&self) -> String {
        format!(
            "Instrument({} {} {} tick {} lot {})",
            self.inner.venue,
            self.inner.market.as_str(),
            self.inner.symbol,
            self.inner.price_scale,
            self.inner.qty_scale
        )
    }
}

/// Every instrument an engine knows.
#[pyclass(name = "InstrumentMaster", module = "pymm._native")]
pub(crate) struct PyInstrumentMaster {
    pub(crate) inner: InstrumentMaster,
}

#[pymethods]
impl PyInstrumentMaster {
    #[new]
    fn new() -> Self {
        Self {
            inner: InstrumentMaster::new(),
        }
    }

    /// Every symbol of a Binance exchangeInfo JSON document of `market` ('spot' or 'usdm').
    #[staticmethod]
    #[pyo3(signature = (json, market, venue = "binance"))]
    fn from_exchange_info(json: &str, market: &str, venue: &str) -> PyResult<Self> {
        let market = market_arg(market)?;
        Ok(Self {
            inner: InstrumentMaster::from_exchange_info(json, market, venue)?,
        })
    }

    /// One instrument from our TOML definition: a path (str or os.PathLike), or TOML text (a str
    /// containing a newline).
    #[staticmethod]
    fn from_toml(source: &Bound<'_, PyAny>) -> PyResult<Self> {
        if let Ok(s) = source.cast::<PyString>() {
            let text = s.to_str()?;
            if text.contains('\n') {
                return Ok(Self {
                    inner: InstrumentMaster::from_toml_str(text)?,
                });
            }
        }
        let path: PathBuf = source.extract()?;
        Ok(Self {
            inner: InstrumentMaster::from_toml_file(&path)?,
        })
    }

    /// Adds every instrument of `other`, renumbered after this master's.
    fn extend(&mut self, other: PyRef<'_, PyInstrumentMaster>) -> PyResult<()> {
        Ok(self.inner.extend(other.inner.clone())?)
    }

    /// The id of `symbol` on `market`, or None.
    fn lookup(&self, symbol: &str, market: &str) -> PyResult<Option<u32>> {
        Ok(self
            .inner
            .lookup(market_arg(market)?, symbol)
            .map(|id| id.0))
    }

    /// The instrument `symbol` on `market`; raises KeyError when absent.
    fn get(&self, symbol: &str, market: &str) -> PyResult<PyInstrument> {
        let m = market_arg(market)?;
        match self.inner.by_symbol(m, symbol) {
            Some(i) => Ok(PyInstrument { inner: i.clone() }),
            None => Err(PyKeyError::new_err(format!("{} {symbol}", m.as_str()))),
        }
    }

    /// All instruments, in id order.
    fn instruments(&self) -> Vec<PyInstrument> {
        self.inner
            .iter()
            .map(|i| PyInstrument { inner: i.clone() })
            .collect()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

/// A price or quantity from Python: venue text, or whole ticks/lots as an int.
#[derive(FromPyObject)]
enum Amount {
    Text(String),
    Units(i64),
}

fn parse_enum<T>(what: &str, text: &str, parse: fn(&str) -> Option<T>) -> PyResult<T> {
    parse(text)
        .ok_or_else(|| PyValueError::new_err(format!("{what} {text:?} is not one pymm sends")))
}

/// Raises `VenueRejectError(code, msg)` exactly when the venue would reject the order.
#[pyfunction]
#[pyo3(signature = (instrument, side, order_type, price, quantity, *, time_in_force = None,
                    reduce_only = false, reference_price = None, open_orders = 0))]
#[allow(clippy::too_many_arguments)] // mirrors the venue's keyword parameters one to one
fn validate_order(
    instrument: PyRef<'_, PyInstrument>,
    side: PySide,
    order_type: &str,
    price: Option<Amount>,
    quantity: Option<Amount>,
    time_in_force: Option<&str>,
    reduce_only: bool,
    reference_price: Option<&str>,
    open_orders: u32,
) -> PyResult<()> {
    let order_type = parse_enum("order type", order_type, OrderType::parse)?;
    let time_in_force = time_in_force
        .map(|t| parse_enum("time in force", t, TimeInForce::parse))
        .transpose()?;
    let reference_price = reference_price.map(Decimal::parse).transpose()?;
    let req = OrderRequest {
        side: side.into(),
        order_type,
        time_in_force,
        price: price.as_ref().map(|p| match p {
            Amount::Text(t) => PriceInput::Text(t),
            Amount::Units(n) => PriceInput::Ticks(Price::from_ticks(*n)),
        }),
        qty: quantity.as_ref().map(|q| match q {
            Amount::Text(t) => QtyInput::Text(t),
            Amount::Units(n) => QtyInput::Lots(Qty::from_lots(*n)),
        }),
        reduce_only,
    };
    let ctx = MarketContext {
        reference_price,
        open_orders,
    };
    Ok(validator::validate(&instrument.inner, &req, &ctx)?)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySide>()?;
    m.add_class::<PyInstrument>()?;
    m.add_class::<PyInstrumentMaster>()?;
    m.add_function(wrap_pyfunction!(validate_order, m)?)?;
    Ok(())
}
