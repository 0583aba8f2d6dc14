"""The engine-independent core of the pricing manager: market state in, one parameter set out.

It owns the online calibrators (sigma, A, k), picks the fair value (mid or micro-price), applies the
model's inventory skew, lets the spread optimizer place both quotes on the tick grid, lays out the ladder,
and records every parameter set it computed (``history``), so a run can be audited and replayed. It does
not talk to the engine; writing the result to the engine's parameter block belongs to the caller.

All prices here are in **ticks** (``tick = 1``): calibrated ``sigma`` is ticks/sqrt(s), ``k`` is per tick,
``gamma`` is per tick. Times are float seconds (callers convert from nanosecond event fields).

Model choice, both with half-spread ``h`` around the reservation price ``r = fair - q*per_unit``:

- ``glft`` (default, for a 24/7 market): ``per_unit = w`` and ``h = (1/gamma)ln(1+gamma/k) + w/2``;
- ``avellaneda_stoikov`` with a rolling horizon ``tau``: ``per_unit = gamma*sigma**2*tau`` and
  ``h = (1/gamma)ln(1+gamma/k) + gamma*sigma**2*tau/2``.

The risk part of ``h`` (``w/2`` or ``gamma*sigma**2*tau/2``) is passed to the spread optimizer as cost on
top of the configured per-unit cost, so its continuous optimum is the model's quote and the grid search
only adds rounding, post-only and minimum-spread handling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from pymm.pricing.calibration import IntensityEstimator, IntensityFit, VolatilityEstimator, trade_depth
from pymm.pricing.glft import glft_approximation
from pymm.pricing.levels import LadderSpec, QuoteLadder, build_ladder
from pymm.pricing.microprice import MicroPriceModel
from pymm.pricing.skew import InventorySkew
from pymm.pricing.spread_optimizer import SpreadOptimizer

__all__ = ["MarketState", "ParameterSet", "PricingConfig", "PricingManager"]


@dataclass(frozen=True, slots=True)
class MarketState:
    """What the manager needs to know at one instant."""

    ts: float
    best_bid_ticks: int
    best_ask_ticks: int
    bid_size: float
    ask_size: float
    inventory: float


@dataclass(frozen=True, slots=True)
class PricingConfig:
    """Model, risk and calibration settings (prices in ticks)."""

    gamma: float
    max_inventory: float
    order_size: int
    model: Literal["glft", "avellaneda_stoikov"] = "glft"
    horizon: float = 60.0
    """A-S only: the rolling time-to-horizon ``tau`` in seconds."""
    cost: float = 0.0
    """Per-unit cost added to each side's edge (fees minus rebates, expected adverse selection), ticks."""
    fair_value: Literal["mid", "micro"] = "mid"
    min_spread_ticks: int = 1
    max_skew: float = math.inf
    ladder: LadderSpec = field(default_factory=LadderSpec)
    prior_sigma: float = 1.0
    prior_a: float = 1.0
    prior_k: float = 1.0
    sigma_window: float = 600.0
    sigma_min_interval: float = 0.1
    intensity_window: float = 600.0
    intensity_levels: int = 20
    intensity_min_count: int = 10


@dataclass(frozen=True, slots=True)
class ParameterSet:
    """One computed set of quoting parameters (prices in ticks)."""

    ts: float
    inventory: float
    fair_value: float
    reservation: float
    sigma: float
    a: float
    k: float
    calibrated: bool
    skew_per_unit: float
    half_spread: float
    """The model's continuous half-spread around the reservation price, configured cost included."""
    bid_ticks: int
    ask_ticks: int
    ladder: QuoteLadder


class PricingManager:
    """Computes and records parameter sets; pure Python, no engine."""

    def __init__(self, config: PricingConfig, micro_price: MicroPriceModel | None = None) -> None:
        """Set up calibrators; ``micro_price`` is required when ``config.fair_value == "micro"``."""
        if config.fair_value == "micro" and micro_price is None:
            raise ValueError("fair_value 'micro' needs a fitted MicroPriceModel")
        self.config = config
        self.micro_price = micro_price
        self.volatility = VolatilityEstimator(config.sigma_window, config.sigma_min_interval)
        # Trade depths seen from a mid between two ticks sit at half-tick offsets; levels sit there too.
        self.intensity = IntensityEstimator(
            config.intensity_window,
            level_step=1.0,
            n_levels=config.intensity_levels,
            min_count=config.intensity_min_count,
            level_offset=0.5,
        )
        self.history: list[ParameterSet] = []
        self._mid: float | None = None

    def on_mid(self, ts: float, mid_ticks: float) -> None:
        """A new mid (ticks) at ``ts`` (seconds)."""
        self._mid = mid_ticks
        self.volatility.on_mid(ts, mid_ticks)

    def on_trade(self, ts: float, price_ticks: float, aggressor_is_buy: bool) -> None:
        """A market order's deepest print (ticks); its depth is measured from the last mid."""
        if self._mid is not None:
            self.intensity.on_trade(ts, trade_depth(price_ticks, self._mid, aggressor_is_buy))

    def _calibration(self, now: float) -> tuple[float, float, float, bool]:
        cfg = self.config
        sigma = self.volatility.sigma(now)
        fit: IntensityFit | None = self.intensity.fit(now)
        ok = sigma is not None and sigma > 0 and fit is not None and fit.k > 0 and fit.a > 0
        if not ok or sigma is None or fit is None:
            return cfg.prior_sigma, cfg.prior_a, cfg.prior_k, False
        return sigma, fit.a, fit.k, True

    def compute(self, state: MarketState) -> ParameterSet:
        """Compute, record and return the parameter set for ``state``."""
        cfg = self.config
        if state.best_bid_ticks >= state.best_ask_ticks:
            raise ValueError(f"crossed book: bid {state.best_bid_ticks} >= ask {state.best_ask_ticks}")
        mid = (state.best_bid_ticks + state.best_ask_ticks) / 2.0
        fair = mid
        if cfg.fair_value == "micro" and self.micro_price is not None:
            fair = self.micro_price.micro_price(
                float(state.best_bid_ticks), float(state.best_ask_ticks), state.bid_size, state.ask_size
            )
        sigma, a, k, calibrated = self._calibration(state.ts)
        if cfg.model == "glft":
            w = glft_approximation(sigma, a, k, cfg.gamma).skew_per_unit
            per_unit, risk_half = w, w / 2.0
        else:
            per_unit = cfg.gamma * sigma**2 * cfg.horizon
            risk_half = per_unit / 2.0
        skew = InventorySkew(per_unit, cfg.max_inventory, cfg.max_skew)
        q = state.inventory
        reservation = fair + skew.price_shift(q)
        optimizer = SpreadOptimizer(
            a=a, k=k, gamma=cfg.gamma, cost=cfg.cost + risk_half, min_spread_ticks=cfg.min_spread_ticks
        )
        quotes = optimizer.optimize(
            mid, reservation, 1, best_bid_ticks=state.best_bid_ticks, best_ask_ticks=state.best_ask_ticks
        )
        bid_size, ask_size = skew.sizes(q, cfg.order_size)
        ladder = build_ladder(
            quotes.bid_ticks,
            quotes.ask_ticks,
            bid_size,
            ask_size,
            cfg.ladder,
            bid_room=max(math.floor(cfg.max_inventory - q + 1e-9), 0),
            ask_room=max(math.floor(cfg.max_inventory + q + 1e-9), 0),
        )
        params = ParameterSet(
            ts=state.ts,
            inventory=q,
            fair_value=fair,
            reservation=reservation,
            sigma=sigma,
            a=a,
            k=k,
            calibrated=calibrated,
            skew_per_unit=per_unit,
            half_spread=quotes.continuous_ask - reservation,
            bid_ticks=quotes.bid_ticks,
            ask_ticks=quotes.ask_ticks,
            ladder=ladder,
        )
        self.history.append(params)
        return params
