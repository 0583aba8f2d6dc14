//! [`InstrumentMaster`]: every instrument an engine knows, loaded from Binance `exchangeInfo` JSON
//! (spot `GET /api/v3/exchangeInfo`, USD-M `GET /fapi/v1/exchangeInfo`) or from our TOML instrument
//! definition (`docs/instruments.md`), with lookup by `(market, symbol)` → [`InstrumentId`].
//!
//! Runs at start-up on the supervisor's thread, never on the hot path: it parses with serde and
//! allocates freely. Decimal fields are parsed exactly ([`Decimal::parse`]); nothing is rounded.
//!
//! Filters keep Binance's names and keys in both formats (a TOML `[[filters]]` table is an
//! exchangeInfo filter object), so one parser serves both and a filter can be pasted from a capture.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use thiserror::Error;

use super::instrument::{
    Contract, ContractType, Filters, Instrument, InstrumentStatus, LotSizeFilter, Market,
    MinNotionalFilter, NotionalFilter, PercentPriceBySideFilter, PercentPriceFilter, PriceFilter,
};
use super::{
    Decimal, DecimalError, InstrumentId, OrderType, OrderTypes, Scale, TimeInForce, TimesInForce,
    UnixNanos,
};

/// Why instrument definitions were refused.
#[derive(Debug, Error)]
pub enum InstrumentError {
    /// The exchangeInfo document is not the JSON we expect.
    #[error("exchangeInfo JSON: {0}")]
    Json(String),
    /// The TOML definition does not parse or has unknown keys.
    #[error("instrument TOML: {0}")]
    Toml(String),
    /// A definition file could not be read.
    #[error("reading {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// A decimal field is malformed or not representable.
    #[error("{symbol}: {field} {text:?}: {source}")]
    Decimal {
        /// The symbol being loaded.
        symbol: String,
        /// The field (Binance's key).
        field: &'static str,
        /// The refused text.
        text: String,
        /// Why.
        source: DecimalError,
    },
    /// A value is out of range or inconsistent with another.
    #[error("{symbol}: {reason}")]
    Invalid {
        /// The symbol being loaded.
        symbol: String,
        /// What is wrong, with the values.
        reason: String,
    },
    /// The same `(market, symbol)` was loaded twice.
    #[error("{market} {symbol} is defined twice")]
    Duplicate {
        /// The market.
        market: &'static str,
        /// The symbol.
        symbol: String,
    },
    /// A market name other than `spot` or `usdm`.
    #[error("unknown market {0:?} (expected \"spot\" or \"usdm\")")]
    UnknownMarket(String),
}

/// All instruments of an engine; an [`InstrumentId`] is an index into it.
#[derive(Clone, Debug, Default)]
pub struct InstrumentMaster {
    instruments: Vec<Instrument>,
    index: BTreeMap<(Market, String), InstrumentId>,
}

impl InstrumentMaster {
    /// An empty master.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `instrument` (after [`Instrument::check`]), assigning it the next id.
    pub fn add(&mut self, mut instrument: Instrument) -> Result<InstrumentId, InstrumentError> {
        instrument
            .check()
            .map_err(|reason| InstrumentError::Invalid {
                symbol: instrument.symbol.clone(),
                reason,
            })?;
        let key = (instrument.market, instrument.symbol.clone());
        if self.index.contains_key(&key) {
            return Err(InstrumentError::Duplicate {
                market: instrument.market.as_str(),
                symbol: instrument.symbol,
            });
        }
        let id = InstrumentId(u32::try_from(self.instruments.len()).map_err(|_| {
            InstrumentError::Invalid {
                symbol: instrument.symbol.clone(),
                reason: "more than 2^32 instruments".to_owned(),
            }
        })?);
        instrument.id = id;
        self.instruments.push(instrument);
        self.index.insert(key, id);
        Ok(id)
    }

    /// Adds every instrument of `other`, renumbering them after this master's.
    pub fn extend(&mut self, other: InstrumentMaster) -> Result<(), InstrumentError> {
        for i in other.instruments {
            self.add(i)?;
        }
        Ok(())
    }

    /// Every symbol of a Binance `exchangeInfo` document of `market`, on venue `venue`.
    pub fn from_exchange_info(
        json: &str,
        market: Market,
        venue: &str,
    ) -> Result<Self, InstrumentError> {
        let info: RawExchangeInfo =
            serde_json::from_str(json).map_err(|e| InstrumentError::Json(e.to_string()))?;
        let mut master = Self::new();
        for s in info.symbols {
            master.add(from_raw_symbol(s, market, venue)?)?;
        }
        Ok(master)
    }

    /// One instrument from our TOML definition text.
    pub fn from_toml_str(text: &str) -> Result<Self, InstrumentError> {
        let def: TomlInstrument = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        let mut master = Self::new();
        master.add(from_toml(def)?)?;
        Ok(master)
    }

    /// One instrument from a TOML definition file.
    pub fn from_toml_file(path: &Path) -> Result<Self, InstrumentError> {
        Self::from_toml_str(&read(path)?)
    }

    /// Every symbol of an exchangeInfo JSON file.
    pub fn from_exchange_info_file(
        path: &Path,
        market: Market,
        venue: &str,
    ) -> Result<Self, InstrumentError> {
        Self::from_exchange_info(&read(path)?, market, venue)
    }

    /// The id of `symbol` on `market`.
    pub fn lookup(&self, market: Market, symbol: &str) -> Option<InstrumentId> {
        self.index.get(&(market, symbol.to_owned())).copied()
    }

    /// The instrument with `id`.
    pub fn get(&self, id: InstrumentId) -> Option<&Instrument> {
        self.instruments.get(usize::try_from(id.0).ok()?)
    }

    /// The instrument `symbol` on `market`.
    pub fn by_symbol(&self, market: Market, symbol: &str) -> Option<&Instrument> {
        self.get(self.lookup(market, symbol)?)
    }

    /// All instruments, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Instrument> {
        self.instruments.iter()
    }

    /// How many instruments are loaded.
    pub fn len(&self) -> usize {
        self.instruments.len()
    }

    /// Whether none is loaded.
    pub fn is_empty(&self) -> bool {
        self.instruments.is_empty()
    }
}

/// A TOML error on one line: `line N: message` (the library's own rendering spans several lines).
fn toml_error(text: &str, e: &toml::de::Error) -> InstrumentError {
    let msg = e.message().trim_end();
    match e.span() {
        Some(span) => {
            let line = text.as_bytes()[..span.start.min(text.len())]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            InstrumentError::Toml(format!("line {line}: {msg}"))
        }
        None => InstrumentError::Toml(msg.to_owned()),
    }
}

fn read(path: &Path) -> Result<String, InstrumentError> {
    std::fs::read_to_string(path).map_err(|e| InstrumentError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

// ---------------------------------------------------------------------------------------------
// Wire shapes. Keys follow Binance exactly (research brief §1.6 spot, §3.3 USD-M).

#[derive(Deserialize)]
struct RawExchangeInfo {
    symbols: Vec<RawSymbol>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSymbol {
    symbol: String,
    status: String,
    base_asset: String,
    quote_asset: String,
    // Spot.
    base_asset_precision: Option<u8>,
    quote_asset_precision: Option<u8>,
    quote_precision: Option<u8>,
    // USD-M.
    price_precision: Option<u8>,
    quantity_precision: Option<u8>,
    time_in_force: Option<Vec<String>>,
    contract_type: Option<String>,
    margin_asset: Option<String>,
    pair: Option<String>,
    delivery_date: Option<u64>,
    onboard_date: Option<u64>,
    #[serde(default)]
    order_types: Vec<String>,
    #[serde(default)]
    filters: Vec<RawFilter>,
}

/// An integer Binance sometimes sends as a JSON string (`multiplierDecimal: "4"`).
#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum IntOrText {
    Int(u32),
    Text(String),
}

/// One exchangeInfo filter object. Unknown `filterType`s are kept as `Other` and ignored.
#[derive(Deserialize)]
#[serde(tag = "filterType")]
enum RawFilter {
    #[serde(rename = "PRICE_FILTER", rename_all = "camelCase")]
    Price {
        min_price: String,
        max_price: String,
        tick_size: String,
    },
    #[serde(rename = "LOT_SIZE", rename_all = "camelCase")]
    LotSize {
        min_qty: String,
        max_qty: String,
        step_size: String,
    },
    #[serde(rename = "MARKET_LOT_SIZE", rename_all = "camelCase")]
    MarketLotSize {
        min_qty: String,
        max_qty: String,
        step_size: String,
    },
    /// Spot: `minNotional, applyToMarket, avgPriceMins`; USD-M: `notional`.
    #[serde(rename = "MIN_NOTIONAL", rename_all = "camelCase")]
    MinNotional {
        min_notional: Option<String>,
        notional: Option<String>,
        apply_to_market: Option<bool>,
        avg_price_mins: Option<u32>,
    },
    #[serde(rename = "NOTIONAL", rename_all = "camelCase")]
    Notional {
        min_notional: String,
        apply_min_to_market: bool,
        max_notional: String,
        apply_max_to_market: bool,
        avg_price_mins: u32,
    },
    #[serde(rename = "PERCENT_PRICE", rename_all = "camelCase")]
    PercentPrice {
        multiplier_up: String,
        multiplier_down: String,
        avg_price_mins: Option<u32>,
        multiplier_decimal: Option<IntOrText>,
    },
    #[serde(rename = "PERCENT_PRICE_BY_SIDE", rename_all = "camelCase")]
    PercentPriceBySide {
        bid_multiplier_up: String,
        bid_multiplier_down: String,
        ask_multiplier_up: String,
        ask_multiplier_down: String,
        avg_price_mins: u32,
    },
    /// Spot key `maxNumOrders`, USD-M key `limit`.
    #[serde(rename = "MAX_NUM_ORDERS", rename_all = "camelCase")]
    MaxNumOrders {
        max_num_orders: Option<u32>,
        limit: Option<u32>,
    },
    /// Spot key `maxNumAlgoOrders`, USD-M key `limit`.
    #[serde(rename = "MAX_NUM_ALGO_ORDERS", rename_all = "camelCase")]
    MaxNumAlgoOrders {
        max_num_algo_orders: Option<u32>,
        limit: Option<u32>,
    },
    #[serde(other)]
    Other,
}

/// Our TOML instrument definition (documented in `docs/instruments.md`). Unknown keys are errors.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlInstrument {
    venue: String,
    market: String,
    symbol: String,
    status: String,
    base_asset: String,
    quote_asset: String,
    price_precision: u8,
    qty_precision: u8,
    order_types: Vec<String>,
    time_in_force: Vec<String>,
    filters: Vec<RawFilter>,
    contract: Option<TomlContract>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlContract {
    contract_type: String,
    margin_asset: String,
    pair: String,
    delivery_date_ms: u64,
    onboard_date_ms: u64,
}

// ---------------------------------------------------------------------------------------------
// Conversion into `Instrument`.

/// What both formats provide, once their spellings are unified.
struct Common {
    venue: String,
    symbol: String,
    market: Market,
    status: String,
    base_asset: String,
    quote_asset: String,
    price_precision: u8,
    qty_precision: u8,
    order_types: OrderTypes,
    time_in_force: TimesInForce,
    filters: Vec<RawFilter>,
    contract: Option<Contract>,
}

fn invalid(symbol: &str, reason: String) -> InstrumentError {
    InstrumentError::Invalid {
        symbol: symbol.to_owned(),
        reason,
    }
}

fn from_raw_symbol(
    s: RawSymbol,
    market: Market,
    venue: &str,
) -> Result<Instrument, InstrumentError> {
    let missing = |key: &str| invalid(&s.symbol, format!("exchangeInfo lacks `{key}`"));
    let (price_precision, qty_precision) = match market {
        // Spot: price text is limited by the quote asset's precision, quantity text by the base
        // asset's. Which precision field the venue applies is UNVERIFIED (research brief §1.6 lists
        // the fields, not their use); `quotePrecision` is the older name of `quoteAssetPrecision`.
        Market::Spot => (
            s.quote_asset_precision
                .or(s.quote_precision)
                .ok_or_else(|| missing("quoteAssetPrecision"))?,
            s.base_asset_precision
                .ok_or_else(|| missing("baseAssetPrecision"))?,
        ),
        Market::UsdM => (
            s.price_precision.ok_or_else(|| missing("pricePrecision"))?,
            s.quantity_precision
                .ok_or_else(|| missing("quantityPrecision"))?,
        ),
    };
    // exchangeInfo lists order types pymm never sends (STOP_LOSS, TAKE_PROFIT, …): skipped here.
    let order_types = s
        .order_types
        .iter()
        .filter_map(|t| OrderType::parse(t))
        .fold(OrderTypes::EMPTY, OrderTypes::with);
    let time_in_force = match (&s.time_in_force, market) {
        // USD-M lists its times in force (GTD, RPI are skipped: pymm does not send them).
        (Some(list), _) => list
            .iter()
            .filter_map(|t| TimeInForce::parse(t))
            .fold(TimesInForce::EMPTY, TimesInForce::with),
        // Spot exchangeInfo has no list; spot accepts exactly GTC, IOC, FOK (brief §1.7).
        (None, Market::Spot) => spot_times_in_force(),
        (None, Market::UsdM) => return Err(missing("timeInForce")),
    };
    let contract = match market {
        Market::Spot => None,
        Market::UsdM => Some(Contract {
            contract_type: ContractType::parse(
                s.contract_type
                    .as_deref()
                    .ok_or_else(|| missing("contractType"))?,
            ),
            margin_asset: s
                .margin_asset
                .clone()
                .ok_or_else(|| missing("marginAsset"))?,
            pair: s.pair.clone().ok_or_else(|| missing("pair"))?,
            delivery_date: UnixNanos::from_millis(
                s.delivery_date.ok_or_else(|| missing("deliveryDate"))?,
            ),
            onboard_date: UnixNanos::from_millis(
                s.onboard_date.ok_or_else(|| missing("onboardDate"))?,
            ),
        }),
    };
    build(Common {
        venue: venue.to_owned(),
        symbol: s.symbol,
        market,
        status: s.status,
        base_asset: s.base_asset,
        quote_asset: s.quote_asset,
        price_precision,
        qty_precision,
        order_types,
        time_in_force,
        filters: s.filters,
        contract,
    })
}

fn spot_times_in_force() -> TimesInForce {
    TimesInForce::EMPTY
        .with(TimeInForce::Gtc)
        .with(TimeInForce::Ioc)
        .with(TimeInForce::Fok)
}

fn from_toml(d: TomlInstrument) -> Result<Instrument, InstrumentError> {
    let market =
        Market::parse(&d.market).ok_or_else(|| InstrumentError::UnknownMarket(d.market.clone()))?;
    let mut order_types = OrderTypes::EMPTY;
    for t in &d.order_types {
        let ot = OrderType::parse(t).ok_or_else(|| {
            invalid(
                &d.symbol,
                format!("order_types: unknown {t:?} (LIMIT, LIMIT_MAKER, MARKET)"),
            )
        })?;
        order_types = order_types.with(ot);
    }
    let mut time_in_force = TimesInForce::EMPTY;
    for t in &d.time_in_force {
        let tif = TimeInForce::parse(t).ok_or_else(|| {
            invalid(
                &d.symbol,
                format!("time_in_force: unknown {t:?} (GTC, IOC, FOK, GTX)"),
            )
        })?;
        time_in_force = time_in_force.with(tif);
    }
    let contract = d.contract.map(|c| Contract {
        contract_type: ContractType::parse(&c.contract_type),
        margin_asset: c.margin_asset,
        pair: c.pair,
        delivery_date: UnixNanos::from_millis(c.delivery_date_ms),
        onboard_date: UnixNanos::from_millis(c.onboard_date_ms),
    });
    build(Common {
        venue: d.venue,
        symbol: d.symbol,
        market,
        status: d.status,
        base_asset: d.base_asset,
        quote_asset: d.quote_asset,
        price_precision: d.price_precision,
        qty_precision: d.qty_precision,
        order_types,
        time_in_force,
        filters: d.filters,
        contract,
    })
}

fn build(c: Common) -> Result<Instrument, InstrumentError> {
    let sym = c.symbol.as_str();
    let dec = |field: &'static str, text: &str| -> Result<Decimal, InstrumentError> {
        let d = Decimal::parse(text).map_err(|source| InstrumentError::Decimal {
            symbol: sym.to_owned(),
            field,
            text: text.to_owned(),
            source,
        })?;
        if d.is_negative() {
            return Err(invalid(sym, format!("{field} {text:?} is negative")));
        }
        Ok(d)
    };
    let mut f = Filters::default();
    for raw in &c.filters {
        match raw {
            RawFilter::Price {
                min_price,
                max_price,
                tick_size,
            } => {
                f.price = Some(PriceFilter {
                    min_price: dec("minPrice", min_price)?,
                    max_price: dec("maxPrice", max_price)?,
                    tick_size: dec("tickSize", tick_size)?,
                });
            }
            RawFilter::LotSize {
                min_qty,
                max_qty,
                step_size,
            } => {
                f.lot_size = Some(LotSizeFilter {
                    min_qty: dec("minQty", min_qty)?,
                    max_qty: dec("maxQty", max_qty)?,
                    step_size: dec("stepSize", step_size)?,
                });
            }
            RawFilter::MarketLotSize {
                min_qty,
                max_qty,
                step_size,
            } => {
                f.market_lot_size = Some(LotSizeFilter {
                    min_qty: dec("minQty", min_qty)?,
                    max_qty: dec("maxQty", max_qty)?,
                    step_size: dec("stepSize", step_size)?,
                });
            }
            RawFilter::MinNotional {
                min_notional,
                notional,
                apply_to_market,
                avg_price_mins,
            } => {
                let (field, text) = match (min_notional, notional) {
                    (Some(t), _) => ("minNotional", t),
                    (None, Some(t)) => ("notional", t),
                    (None, None) => {
                        return Err(invalid(
                            sym,
                            "MIN_NOTIONAL has neither minNotional nor notional".to_owned(),
                        ))
                    }
                };
                f.min_notional = Some(MinNotionalFilter {
                    min_notional: dec(field, text)?,
                    // USD-M's MIN_NOTIONAL has no flag: it applies to MARKET orders too (at the mark price).
                    apply_to_market: apply_to_market.unwrap_or(true),
                    avg_price_mins: avg_price_mins.unwrap_or(0),
                });
            }
            RawFilter::Notional {
                min_notional,
                apply_min_to_market,
                max_notional,
                apply_max_to_market,
                avg_price_mins,
            } => {
                f.notional = Some(NotionalFilter {
                    min_notional: dec("minNotional", min_notional)?,
                    apply_min_to_market: *apply_min_to_market,
                    max_notional: dec("maxNotional", max_notional)?,
                    apply_max_to_market: *apply_max_to_market,
                    avg_price_mins: *avg_price_mins,
                });
            }
            RawFilter::PercentPrice {
                multiplier_up,
                multiplier_down,
                avg_price_mins,
                multiplier_decimal,
            } => {
                let multiplier_decimal = match multiplier_decimal {
                    None => None,
                    Some(IntOrText::Int(n)) => Some(*n),
                    Some(IntOrText::Text(t)) => Some(t.parse::<u32>().map_err(|_| {
                        invalid(
                            sym,
                            format!("PERCENT_PRICE multiplierDecimal {t:?} is not an integer"),
                        )
                    })?),
                };
                f.percent_price = Some(PercentPriceFilter {
                    multiplier_up: dec("multiplierUp", multiplier_up)?,
                    multiplier_down: dec("multiplierDown", multiplier_down)?,
                    avg_price_mins: avg_price_mins.unwrap_or(0),
                    multiplier_decimal,
                });
            }
            RawFilter::PercentPriceBySide {
                bid_multiplier_up,
                bid_multiplier_down,
                ask_multiplier_up,
                ask_multiplier_down,
                avg_price_mins,
            } => {
                f.percent_price_by_side = Some(PercentPriceBySideFilter {
                    bid_multiplier_up: dec("bidMultiplierUp", bid_multiplier_up)?,
                    bid_multiplier_down: dec("bidMultiplierDown", bid_multiplier_down)?,
                    ask_multiplier_up: dec("askMultiplierUp", ask_multiplier_up)?,
                    ask_multiplier_down: dec("askMultiplierDown", ask_multiplier_down)?,
                    avg_price_mins: *avg_price_mins,
                });
            }
            RawFilter::MaxNumOrders {
                max_num_orders,
                limit,
            } => {
                f.max_num_orders = Some(max_num_orders.or(*limit).ok_or_else(|| {
                    invalid(
                        sym,
                        "MAX_NUM_ORDERS has neither maxNumOrders nor limit".to_owned(),
                    )
                })?);
            }
            RawFilter::MaxNumAlgoOrders {
                max_num_algo_orders,
                limit,
            } => {
                f.max_num_algo_orders = Some(max_num_algo_orders.or(*limit).ok_or_else(|| {
                    invalid(
                        sym,
                        "MAX_NUM_ALGO_ORDERS has neither maxNumAlgoOrders nor limit".to_owned(),
                    )
                })?);
            }
            RawFilter::Other => {}
        }
    }
    let scale = |d: Option<Decimal>, what: &str| -> Result<Scale, InstrumentError> {
        match d {
            Some(d) if !d.is_zero() => {
                Scale::new(d.raw(), d.exp()).map_err(|source| InstrumentError::Decimal {
                    symbol: sym.to_owned(),
                    field: "tickSize/stepSize",
                    text: d.to_string(),
                    source,
                })
            }
            _ => Err(invalid(
                sym,
                format!("{what} is required and must be nonzero"),
            )),
        }
    };
    let price_scale = scale(f.price.map(|p| p.tick_size), "PRICE_FILTER tickSize")?;
    let qty_scale = scale(f.lot_size.map(|l| l.step_size), "LOT_SIZE stepSize")?;
    for (what, exp, precision) in [
        ("price", price_scale.exp(), c.price_precision),
        ("quantity", qty_scale.exp(), c.qty_precision),
    ] {
        if exp > precision {
            return Err(invalid(
                sym,
                format!("{what} precision {precision} cannot hold the increment's {exp} places"),
            ));
        }
    }
    Ok(Instrument {
        id: InstrumentId(0),
        venue: c.venue,
        symbol: c.symbol,
        market: c.market,
        status: InstrumentStatus::parse(&c.status),
        base_asset: c.base_asset,
        quote_asset: c.quote_asset,
        price_scale,
        qty_scale,
        price_precision: c.price_precision,
        qty_precision: c.qty_precision,
        order_types: c.order_types,
        time_in_force: c.time_in_force,
        filters: f,
        contract: c.contract,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SPOT_JSON: &str = include_str!("../../../tests/fixtures/exchangeinfo_spot_dogeusdt.json");
    const USDM_JSON: &str = include_str!("../../../tests/fixtures/exchangeinfo_usdm_dogeusdt.json");
    const SPOT_TOML: &str = include_str!("../../../config/instruments/DOGEUSDT.spot.toml");
    const USDM_TOML: &str = include_str!("../../../config/instruments/DOGEUSDT.usdm.toml");

    #[test]
    fn loads_spot_exchange_info() {
        let m = InstrumentMaster::from_exchange_info(SPOT_JSON, Market::Spot, "binance").unwrap();
        let id = m.lookup(Market::Spot, "DOGEUSDT").unwrap();
        let i = m.get(id).unwrap();
        assert_eq!(i.id, id);
        assert_eq!(i.price_scale.to_string(), "0.00001");
        assert_eq!(i.qty_scale.to_string(), "1");
        assert_eq!((i.price_precision, i.qty_precision), (8, 8));
        assert!(i.order_types.contains(OrderType::LimitMaker));
        assert!(!i.time_in_force.contains(TimeInForce::Gtx));
        let n = i.filters.notional.unwrap();
        assert_eq!(n.min_notional.to_string(), "1");
        assert!(i.filters.percent_price_by_side.is_some());
        assert_eq!(i.filters.max_num_orders, Some(200));
        assert!(i.contract.is_none());
        assert_eq!(m.lookup(Market::UsdM, "DOGEUSDT"), None);
        // The second symbol in the fixture is loaded too, with its own id.
        assert!(m.len() >= 2);
    }

    #[test]
    fn loads_usdm_exchange_info() {
        let m = InstrumentMaster::from_exchange_info(USDM_JSON, Market::UsdM, "binance").unwrap();
        let i = m.by_symbol(Market::UsdM, "DOGEUSDT").unwrap();
        assert_eq!(i.price_scale.to_string(), "0.00001");
        assert_eq!((i.price_precision, i.qty_precision), (6, 0));
        assert!(i.time_in_force.contains(TimeInForce::Gtx));
        assert!(!i.order_types.contains(OrderType::LimitMaker));
        assert_eq!(
            i.filters.min_notional.unwrap().min_notional.to_string(),
            "5"
        );
        assert_eq!(i.filters.percent_price.unwrap().multiplier_decimal, Some(4));
        assert_eq!(i.filters.max_num_orders, Some(200));
        let c = i.contract.as_ref().unwrap();
        assert_eq!(c.contract_type, ContractType::Perpetual);
        assert_eq!(c.margin_asset, "USDT");
    }

    #[test]
    fn toml_and_exchange_info_agree() {
        for (toml_text, json, market) in [
            (SPOT_TOML, SPOT_JSON, Market::Spot),
            (USDM_TOML, USDM_JSON, Market::UsdM),
        ] {
            let t = InstrumentMaster::from_toml_str(toml_text).unwrap();
            let j = InstrumentMaster::from_exchange_info(json, market, "binance").unwrap();
            let a = t.by_symbol(market, "DOGEUSDT").unwrap();
            let b = j.by_symbol(market, "DOGEUSDT").unwrap();
            assert_eq!(a.filters, b.filters, "{market:?}");
            assert_eq!((a.price_scale, a.qty_scale), (b.price_scale, b.qty_scale));
            assert_eq!(
                (a.price_precision, a.qty_precision),
                (b.price_precision, b.qty_precision)
            );
            assert_eq!(a.order_types, b.order_types);
            assert_eq!(a.time_in_force, b.time_in_force);
            assert_eq!(a.contract, b.contract);
        }
    }

    #[test]
    fn refusals_name_the_problem() {
        let e = InstrumentMaster::from_toml_str(
            &SPOT_TOML.replace("market = \"spot\"", "market = \"swap\""),
        )
        .unwrap_err();
        assert!(e.to_string().contains("\"swap\""), "{e}");
        let e = InstrumentMaster::from_toml_str(&format!("bogus = 1\n{SPOT_TOML}")).unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
        assert!(
            e.to_string()
                .starts_with("instrument TOML: line 1: unknown field `bogus`"),
            "{e}"
        );
        assert!(!e.to_string().contains('\n'), "{e}");
        let e = InstrumentMaster::from_toml_str(&SPOT_TOML.replace("\"0.00001\"", "\"0.00001x\""))
            .unwrap_err();
        assert!(matches!(e, InstrumentError::Decimal { .. }), "{e}");
        let e = InstrumentMaster::from_exchange_info("{\"symbols\": 3}", Market::Spot, "binance")
            .unwrap_err();
        assert!(matches!(e, InstrumentError::Json(_)));
        let e = InstrumentMaster::from_toml_file(Path::new("/nonexistent/x.toml")).unwrap_err();
        assert!(matches!(e, InstrumentError::Io { .. }));
        let mut m = InstrumentMaster::from_toml_str(SPOT_TOML).unwrap();
        let again = InstrumentMaster::from_toml_str(SPOT_TOML).unwrap();
        assert!(matches!(
            m.extend(again),
            Err(InstrumentError::Duplicate { .. })
        ));
        m.extend(InstrumentMaster::from_toml_str(USDM_TOML).unwrap())
            .unwrap();
        assert_eq!(m.lookup(Market::UsdM, "DOGEUSDT"), Some(InstrumentId(1)));
    }

    proptest! {
        /// Arbitrary text never panics either parser (a stand-in for a fuzz target until the crate
        /// has a nightly toolchain for cargo-fuzz).
        #[test]
        fn arbitrary_text_never_panics(s in ".{0,200}") {
            let _ = InstrumentMaster::from_exchange_info(&s, Market::Spot, "binance");
            let _ = InstrumentMaster::from_toml_str(&s);
        }

        /// Mutating one byte of a valid definition gives a master or an error, never a panic.
        #[test]
        fn mutated_definitions_never_panic(pos in 0usize..4096, byte in any::<u8>()) {
            for text in [SPOT_JSON, USDM_JSON, SPOT_TOML, USDM_TOML] {
                let mut b = text.as_bytes().to_vec();
                let at = pos % b.len();
                b[at] = byte;
                if let Ok(t) = std::str::from_utf8(&b) {
                    let _ = InstrumentMaster::from_exchange_info(t, Market::UsdM, "binance");
                    let _ = InstrumentMaster::from_toml_str(t);
                }
            }
        }
    }
}
