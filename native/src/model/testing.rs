//! Test fixtures for `model`: DOGEUSDT spot and USD-M instruments with fixed filter values, written
//! here (not read from `config/`) so the validator's boundary tables do not move when configs do.

use super::instrument::Instrument;
use super::instrument_master::InstrumentMaster;

/// Spot DOGEUSDT: tick 0.00001, lot 1, NOTIONAL 1..9000000, PERCENT_PRICE_BY_SIDE 0.2..5 both sides.
pub const SPOT_DOGE_TOML: &str = r#"
venue = "binance"
market = "spot"
symbol = "DOGEUSDT"
status = "TRADING"
base_asset = "DOGE"
quote_asset = "USDT"
price_precision = 8
qty_precision = 8
order_types = ["LIMIT", "LIMIT_MAKER", "MARKET"]
time_in_force = ["GTC", "IOC", "FOK"]

[[filters]]
filterType = "PRICE_FILTER"
minPrice = "0.00001000"
maxPrice = "1000.00000000"
tickSize = "0.00001000"

[[filters]]
filterType = "LOT_SIZE"
minQty = "1.00000000"
maxQty = "9000000.00000000"
stepSize = "1.00000000"

[[filters]]
filterType = "MARKET_LOT_SIZE"
minQty = "0.00000000"
maxQty = "2500000.00000000"
stepSize = "0.00000000"

[[filters]]
filterType = "NOTIONAL"
minNotional = "1.00000000"
applyMinToMarket = true
maxNotional = "9000000.00000000"
applyMaxToMarket = false
avgPriceMins = 5

[[filters]]
filterType = "PERCENT_PRICE_BY_SIDE"
bidMultiplierUp = "5"
bidMultiplierDown = "0.2"
askMultiplierUp = "5"
askMultiplierDown = "0.2"
avgPriceMins = 5

[[filters]]
filterType = "MAX_NUM_ORDERS"
maxNumOrders = 200
"#;

/// USD-M DOGEUSDT perpetual: tick 0.00001, lot 1, MIN_NOTIONAL 5, PERCENT_PRICE 0.95..1.05.
pub const USDM_DOGE_TOML: &str = r#"
venue = "binance"
market = "usdm"
symbol = "DOGEUSDT"
status = "TRADING"
base_asset = "DOGE"
quote_asset = "USDT"
price_precision = 6
qty_precision = 0
order_types = ["LIMIT", "MARKET"]
time_in_force = ["GTC", "IOC", "FOK", "GTX"]

[[filters]]
filterType = "PRICE_FILTER"
minPrice = "0.002440"
maxPrice = "30"
tickSize = "0.000010"

[[filters]]
filterType = "LOT_SIZE"
minQty = "1"
maxQty = "50000000"
stepSize = "1"

[[filters]]
filterType = "MARKET_LOT_SIZE"
minQty = "1"
maxQty = "30000000"
stepSize = "1"

[[filters]]
filterType = "MIN_NOTIONAL"
notional = "5"

[[filters]]
filterType = "PERCENT_PRICE"
multiplierUp = "1.0500"
multiplierDown = "0.9500"
multiplierDecimal = "4"

[[filters]]
filterType = "MAX_NUM_ORDERS"
limit = 200

[contract]
contract_type = "PERPETUAL"
margin_asset = "USDT"
pair = "DOGEUSDT"
delivery_date_ms = 4133404800000
onboard_date_ms = 1569398400000
"#;

fn load(text: &str) -> Instrument {
    let m = InstrumentMaster::from_toml_str(text).unwrap();
    let first = m.iter().next().unwrap().clone();
    first
}

/// The spot fixture.
pub fn spot_doge() -> Instrument {
    load(SPOT_DOGE_TOML)
}

/// The USD-M fixture.
pub fn usdm_doge() -> Instrument {
    load(USDM_DOGE_TOML)
}
