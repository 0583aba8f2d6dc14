//! [`Instrument`]: one tradable symbol on one venue market — its grid ([`Scale`] of price and
//! quantity), the venue's filters as exact fixed-point values, the order types it accepts, and for
//! USD-M futures its contract terms.
//!
//! Built off the hot path by [`crate::model::instrument_master`] (from Binance `exchangeInfo` or our
//! TOML) and then read-only: the gateway and the validator consult it, nobody mutates it.

use super::{
    Decimal, DecimalError, InstrumentId, OrderTypes, Price, Qty, Scale, TimesInForce, UnixNanos,
};

/// Which Binance market an instrument trades on (the rules and error codes differ).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Market {
    /// Spot (`api/v3`).
    Spot,
    /// USDⓈ-M futures (`fapi`).
    UsdM,
}

impl Market {
    /// The spelling used in configs and reports (`spot`, `usdm`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Market::Spot => "spot",
            Market::UsdM => "usdm",
        }
    }

    /// Parses `spot` or `usdm`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "spot" => Some(Market::Spot),
            "usdm" => Some(Market::UsdM),
            _ => None,
        }
    }
}

/// The symbol's trading status as the venue reports it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum InstrumentStatus {
    /// `TRADING`: orders accepted.
    Trading,
    /// `HALT`, `BREAK`, `END_OF_DAY`, `CANCEL_ONLY`, `PENDING_TRADING`, `SETTLING`, … — the venue's
    /// text, kept as given.
    NotTrading(String),
}

impl InstrumentStatus {
    /// From the venue's text.
    pub fn parse(text: &str) -> Self {
        if text == "TRADING" {
            InstrumentStatus::Trading
        } else {
            InstrumentStatus::NotTrading(text.to_owned())
        }
    }

    /// The venue's text.
    pub fn as_str(&self) -> &str {
        match self {
            InstrumentStatus::Trading => "TRADING",
            InstrumentStatus::NotTrading(s) => s,
        }
    }
}

/// `PRICE_FILTER`: `min_price <= price <= max_price` and `price` a multiple of `tick_size`; a zero
/// field disables its check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriceFilter {
    /// Lowest accepted price (zero: no minimum).
    pub min_price: Decimal,
    /// Highest accepted price (zero: no maximum).
    pub max_price: Decimal,
    /// The tick (zero: no grid check). Equals the instrument's price scale when nonzero.
    pub tick_size: Decimal,
}

/// `LOT_SIZE` or `MARKET_LOT_SIZE`: the same rule on quantity; a zero field disables its check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LotSizeFilter {
    /// Lowest accepted quantity (zero: no minimum).
    pub min_qty: Decimal,
    /// Highest accepted quantity (zero: no maximum).
    pub max_qty: Decimal,
    /// The step (zero: no grid check).
    pub step_size: Decimal,
}

/// Spot `MIN_NOTIONAL` (`price × qty >= min_notional`), or USD-M `MIN_NOTIONAL` (key `notional`,
/// waived for reduce-only orders).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinNotionalFilter {
    /// The minimum notional in the quote asset.
    pub min_notional: Decimal,
    /// Whether MARKET orders are checked too (against the reference price). USD-M: always.
    pub apply_to_market: bool,
    /// Minutes of the average price used for MARKET orders (0: last price). Spot only.
    pub avg_price_mins: u32,
}

/// Spot `NOTIONAL`: `min_notional <= price × qty <= max_notional`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotionalFilter {
    /// The minimum notional (zero: none).
    pub min_notional: Decimal,
    /// Whether the minimum applies to MARKET orders.
    pub apply_min_to_market: bool,
    /// The maximum notional (zero: none).
    pub max_notional: Decimal,
    /// Whether the maximum applies to MARKET orders.
    pub apply_max_to_market: bool,
    /// Minutes of the average price used for MARKET orders (0: last price).
    pub avg_price_mins: u32,
}

/// `PERCENT_PRICE`: `reference × multiplier_down <= price <= reference × multiplier_up`. The
/// reference is spot's average price or USD-M's mark price.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PercentPriceFilter {
    /// Upper multiplier.
    pub multiplier_up: Decimal,
    /// Lower multiplier.
    pub multiplier_down: Decimal,
    /// Spot: minutes of the average price (0: last price).
    pub avg_price_mins: u32,
    /// USD-M: the multipliers' stated precision (`multiplierDecimal`), informational.
    pub multiplier_decimal: Option<u32>,
}

/// Spot `PERCENT_PRICE_BY_SIDE`: BUY needs `avg × bid_multiplier_down <= price <= avg ×
/// bid_multiplier_up`, SELL the same with the ask multipliers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PercentPriceBySideFilter {
    /// Upper multiplier for buys.
    pub bid_multiplier_up: Decimal,
    /// Lower multiplier for buys.
    pub bid_multiplier_down: Decimal,
    /// Upper multiplier for sells.
    pub ask_multiplier_up: Decimal,
    /// Lower multiplier for sells.
    pub ask_multiplier_down: Decimal,
    /// Minutes of the average price (0: last price).
    pub avg_price_mins: u32,
}

/// Every filter pymm understands, each absent when the venue does not set it. Filters pymm does not
/// check (iceberg parts, trailing delta, algo counts, …) are not kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    /// `PRICE_FILTER`.
    pub price: Option<PriceFilter>,
    /// `LOT_SIZE`.
    pub lot_size: Option<LotSizeFilter>,
    /// `MARKET_LOT_SIZE`.
    pub market_lot_size: Option<LotSizeFilter>,
    /// `MIN_NOTIONAL` (spot or USD-M).
    pub min_notional: Option<MinNotionalFilter>,
    /// `NOTIONAL` (spot).
    pub notional: Option<NotionalFilter>,
    /// `PERCENT_PRICE`.
    pub percent_price: Option<PercentPriceFilter>,
    /// `PERCENT_PRICE_BY_SIDE` (spot).
    pub percent_price_by_side: Option<PercentPriceBySideFilter>,
    /// `MAX_NUM_ORDERS`: open orders per symbol per account (spot `maxNumOrders`, USD-M `limit`).
    pub max_num_orders: Option<u32>,
    /// `MAX_NUM_ALGO_ORDERS`: open stop/take-profit orders.
    pub max_num_algo_orders: Option<u32>,
}

/// A futures contract's type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ContractType {
    /// `PERPETUAL`.
    Perpetual,
    /// Any other (`CURRENT_QUARTER`, `NEXT_QUARTER`, …), as given.
    Other(String),
}

impl ContractType {
    /// From the venue's text.
    pub fn parse(text: &str) -> Self {
        if text == "PERPETUAL" {
            ContractType::Perpetual
        } else {
            ContractType::Other(text.to_owned())
        }
    }

    /// The venue's text.
    pub fn as_str(&self) -> &str {
        match self {
            ContractType::Perpetual => "PERPETUAL",
            ContractType::Other(s) => s,
        }
    }
}

/// The terms of a USD-M futures contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contract {
    /// `PERPETUAL` or a delivery contract.
    pub contract_type: ContractType,
    /// The asset margin is posted in (`USDT`).
    pub margin_asset: String,
    /// The underlying pair (`DOGEUSDT`).
    pub pair: String,
    /// Delivery time (Binance gives 4133404800000 ms for perpetuals).
    pub delivery_date: UnixNanos,
    /// Listing time.
    pub onboard_date: UnixNanos,
}

/// One tradable symbol on one venue market.
///
/// Invariants (checked by [`Instrument::check`], which every loader calls): the price scale equals
/// `PRICE_FILTER.tickSize` and the quantity scale `LOT_SIZE.stepSize`; every bound is non-negative and
/// `min <= max` where both are set; USD-M instruments carry a [`Contract`], spot ones do not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instrument {
    /// Index in its [`crate::model::InstrumentMaster`].
    pub id: InstrumentId,
    /// The venue's name (`binance`).
    pub venue: String,
    /// The venue's symbol (`DOGEUSDT`).
    pub symbol: String,
    /// Spot or USD-M.
    pub market: Market,
    /// Trading status when the definition was taken.
    pub status: InstrumentStatus,
    /// Base asset (`DOGE`).
    pub base_asset: String,
    /// Quote asset (`USDT`).
    pub quote_asset: String,
    /// The tick: a [`Price`] counts these.
    pub price_scale: Scale,
    /// The lot: a [`Qty`] counts these.
    pub qty_scale: Scale,
    /// Most decimal places accepted in an order's price text before the venue answers `-1111` (spot:
    /// `quoteAssetPrecision`; USD-M: `pricePrecision`).
    pub price_precision: u8,
    /// Most decimal places accepted in an order's quantity text (spot: `baseAssetPrecision`; USD-M:
    /// `quantityPrecision`).
    pub qty_precision: u8,
    /// Order types the symbol accepts (of those pymm sends).
    pub order_types: OrderTypes,
    /// Times in force the symbol accepts (of those pymm sends).
    pub time_in_force: TimesInForce,
    /// The venue's filters.
    pub filters: Filters,
    /// Contract terms (USD-M only).
    pub contract: Option<Contract>,
}

impl Instrument {
    /// Parses a price string into ticks, exactly; off-tick or over-precise input is refused.
    pub fn price_from_str(&self, text: &str) -> Result<Price, DecimalError> {
        self.price_scale
            .parse_units(text.as_bytes())
            .map(Price::from_ticks)
    }

    /// A price as the canonical decimal string at the tick's places ("0.16912").
    pub fn price_to_string(&self, price: Price) -> String {
        self.price_scale.format_units(price.ticks())
    }

    /// Parses a quantity string into lots, exactly; off-step or over-precise input is refused.
    pub fn qty_from_str(&self, text: &str) -> Result<Qty, DecimalError> {
        self.qty_scale
            .parse_units(text.as_bytes())
            .map(Qty::from_lots)
    }

    /// A quantity as the canonical decimal string at the lot's places.
    pub fn qty_to_string(&self, qty: Qty) -> String {
        self.qty_scale.format_units(qty.lots())
    }

    /// Whether the symbol was trading when defined.
    pub fn is_trading(&self) -> bool {
        self.status == InstrumentStatus::Trading
    }

    /// Checks the invariants in the type's doc; the reason names the failing values.
    pub fn check(&self) -> Result<(), String> {
        let f = &self.filters;
        if let Some(p) = f.price {
            if !p.tick_size.is_zero() && p.tick_size != self.price_scale.to_decimal() {
                return Err(format!(
                    "PRICE_FILTER tickSize {} differs from the price scale {}",
                    p.tick_size, self.price_scale
                ));
            }
            bounds("PRICE_FILTER minPrice/maxPrice", p.min_price, p.max_price)?;
        }
        if let Some(l) = f.lot_size {
            if !l.step_size.is_zero() && l.step_size != self.qty_scale.to_decimal() {
                return Err(format!(
                    "LOT_SIZE stepSize {} differs from the quantity scale {}",
                    l.step_size, self.qty_scale
                ));
            }
            bounds("LOT_SIZE minQty/maxQty", l.min_qty, l.max_qty)?;
        }
        if let Some(l) = f.market_lot_size {
            bounds("MARKET_LOT_SIZE minQty/maxQty", l.min_qty, l.max_qty)?;
        }
        if let Some(n) = f.notional {
            bounds(
                "NOTIONAL minNotional/maxNotional",
                n.min_notional,
                n.max_notional,
            )?;
        }
        if let Some(n) = f.min_notional {
            bounds("MIN_NOTIONAL", n.min_notional, Decimal::ZERO)?;
        }
        if let Some(p) = f.percent_price {
            bounds(
                "PERCENT_PRICE multiplierDown/Up",
                p.multiplier_down,
                p.multiplier_up,
            )?;
        }
        if let Some(p) = f.percent_price_by_side {
            bounds(
                "PERCENT_PRICE_BY_SIDE bid multipliers",
                p.bid_multiplier_down,
                p.bid_multiplier_up,
            )?;
            bounds(
                "PERCENT_PRICE_BY_SIDE ask multipliers",
                p.ask_multiplier_down,
                p.ask_multiplier_up,
            )?;
        }
        match (self.market, &self.contract) {
            (Market::UsdM, None) => Err("a usdm instrument needs contract terms".to_owned()),
            (Market::Spot, Some(_)) => Err("a spot instrument has no contract terms".to_owned()),
            _ => Ok(()),
        }
    }
}

/// `lo` and `hi` non-negative, and `lo <= hi` when `hi` is set (nonzero).
fn bounds(what: &str, lo: Decimal, hi: Decimal) -> Result<(), String> {
    if lo.is_negative() || hi.is_negative() {
        return Err(format!("{what}: negative bound ({lo}, {hi})"));
    }
    if !hi.is_zero() && lo > hi {
        return Err(format!("{what}: minimum {lo} exceeds maximum {hi}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testing::{spot_doge, usdm_doge};
    use proptest::prelude::*;

    #[test]
    fn converts_prices_and_quantities_exactly() {
        let i = spot_doge();
        assert_eq!(i.price_from_str("0.16912000"), Ok(Price::from_ticks(16912)));
        assert_eq!(i.price_to_string(Price::from_ticks(16912)), "0.16912");
        assert!(matches!(
            i.price_from_str("0.169125"),
            Err(DecimalError::NotRepresentable { .. })
        ));
        assert_eq!(i.qty_from_str("120.000"), Ok(Qty::from_lots(120)));
        assert!(i.qty_from_str("120.5").is_err());
        assert_eq!(i.qty_to_string(Qty::from_lots(120)), "120");
        assert!(i.is_trading());
        assert_eq!(i.check(), Ok(()));
    }

    #[test]
    fn usdm_tick_written_with_a_trailing_zero_is_the_same_grid() {
        let i = usdm_doge();
        assert_eq!(i.price_scale.to_string(), "0.00001");
        assert_eq!(i.price_from_str("0.169120"), Ok(Price::from_ticks(16912)));
        assert_eq!(
            i.contract.as_ref().map(|c| c.contract_type.as_str()),
            Some("PERPETUAL")
        );
        assert_eq!(i.check(), Ok(()));
    }

    #[test]
    fn check_names_the_broken_invariant() {
        let mut i = spot_doge();
        i.filters.price = Some(PriceFilter {
            min_price: Decimal::parse("2").unwrap(),
            max_price: Decimal::parse("1").unwrap(),
            tick_size: Decimal::parse("0.00001").unwrap(),
        });
        assert!(i
            .check()
            .unwrap_err()
            .contains("minimum 2 exceeds maximum 1"));
        let mut j = spot_doge();
        j.filters.lot_size = Some(LotSizeFilter {
            min_qty: Decimal::ZERO,
            max_qty: Decimal::ZERO,
            step_size: Decimal::parse("0.1").unwrap(),
        });
        assert!(j.check().unwrap_err().contains("stepSize 0.1"));
        let mut k = spot_doge();
        k.market = Market::UsdM;
        assert!(k.check().unwrap_err().contains("contract"));
    }

    proptest! {
        /// Every representable price and quantity survives text → ticks/lots → text exactly, with
        /// any number of trailing zeros in the venue's text.
        #[test]
        fn string_fixed_string_is_exact(ticks in 0i64..1_000_000_000_000, lots in 0i64..1_000_000_000_000,
                                        zeros in 0usize..4) {
            for i in [spot_doge(), usdm_doge()] {
                let p = i.price_to_string(Price::from_ticks(ticks));
                let padded = if zeros > 0 { format!("{p}{}", "0".repeat(zeros)) } else { p.clone() };
                prop_assert_eq!(i.price_from_str(&padded), Ok(Price::from_ticks(ticks)));
                prop_assert_eq!(i.price_to_string(i.price_from_str(&padded).unwrap()), p);
                let q = i.qty_to_string(Qty::from_lots(lots));
                prop_assert_eq!(i.qty_from_str(&q), Ok(Qty::from_lots(lots)));
            }
        }

        /// One more nonzero digit past the tick or the lot is refused, never rounded.
        #[test]
        fn non_representable_is_refused(ticks in 0i64..1_000_000_000_000, digit in 1u8..=9) {
            let i = spot_doge();
            let p = format!("{}{digit}", i.price_to_string(Price::from_ticks(ticks)));
            prop_assert!(i.price_from_str(&p).is_err());
            let q = format!("{}.{digit}", i.qty_to_string(Qty::from_lots(ticks)));
            prop_assert!(i.qty_from_str(&q).is_err());
        }
    }
}
