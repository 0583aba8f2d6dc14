"""Pricing models: the slow parameters behind the quoter (fair value, half spread, skew, sizes, levels).

Pure Python + numpy, engine-independent. Float model prices reach the tick grid only through
:mod:`pymm.pricing.ticks` (bids floor, asks ceil) or the grid search of
:mod:`pymm.pricing.spread_optimizer`. See docs/pricing.md.
"""

from __future__ import annotations

from pymm.pricing.as2008 import As2008Result, As2008Setup, format_table, run_as2008
from pymm.pricing.avellaneda_stoikov import (
    AsQuote,
    arrival_term,
    average_spread,
    fill_intensity,
    optimal_quotes,
    optimal_spread,
    reservation_price,
)
from pymm.pricing.calibration import (
    IntensityEstimator,
    IntensityFit,
    VolatilityEstimator,
    merge_aggressor_prints,
    trade_depth,
)
from pymm.pricing.glft import (
    GlftApproximation,
    GlftCoefficients,
    GlftExact,
    glft_approximation,
    glft_coefficients,
)
from pymm.pricing.levels import LadderSpec, QuoteLadder, QuoteLevel, build_ladder
from pymm.pricing.manager import MarketState, ParameterSet, PricingConfig, PricingManager
from pymm.pricing.microprice import (
    MicroPriceModel,
    fit_micro_price,
    imbalance,
    micro_price_series,
    weighted_mid,
)
from pymm.pricing.queue_position import (
    Log2ProbQueue,
    LogProbQueue,
    PlacementAction,
    PlacementDecision,
    PlacementPolicy,
    Power2ProbQueue,
    Power3ProbQueue,
    PowerProbQueue,
    QueueModel,
    QueuePosition,
    RiskAverseQueue,
    decide_placement,
)
from pymm.pricing.skew import InventorySkew
from pymm.pricing.spread_optimizer import OptimizedQuotes, SpreadOptimizer, optimal_edge, side_value
from pymm.pricing.ticks import (
    QuoteSide,
    ceil_to_tick,
    floor_to_tick,
    price_to_ticks,
    ticks_to_price,
    to_ticks_array,
)

__all__ = [
    "As2008Result",
    "As2008Setup",
    "AsQuote",
    "GlftApproximation",
    "GlftCoefficients",
    "GlftExact",
    "IntensityEstimator",
    "IntensityFit",
    "InventorySkew",
    "LadderSpec",
    "Log2ProbQueue",
    "LogProbQueue",
    "MarketState",
    "MicroPriceModel",
    "OptimizedQuotes",
    "ParameterSet",
    "PlacementAction",
    "PlacementDecision",
    "PlacementPolicy",
    "Power2ProbQueue",
    "Power3ProbQueue",
    "PowerProbQueue",
    "PricingConfig",
    "PricingManager",
    "QueueModel",
    "QueuePosition",
    "QuoteLadder",
    "QuoteLevel",
    "QuoteSide",
    "RiskAverseQueue",
    "SpreadOptimizer",
    "VolatilityEstimator",
    "arrival_term",
    "average_spread",
    "build_ladder",
    "ceil_to_tick",
    "decide_placement",
    "fill_intensity",
    "fit_micro_price",
    "floor_to_tick",
    "format_table",
    "glft_approximation",
    "glft_coefficients",
    "imbalance",
    "merge_aggressor_prints",
    "micro_price_series",
    "optimal_edge",
    "optimal_quotes",
    "optimal_spread",
    "price_to_ticks",
    "reservation_price",
    "run_as2008",
    "side_value",
    "ticks_to_price",
    "to_ticks_array",
    "trade_depth",
    "weighted_mid",
]
