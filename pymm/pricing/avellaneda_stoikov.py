"""Avellaneda & Stoikov (2008), "High-frequency trading in a limit order book".

Equation numbers are those of the published version (Quantitative Finance 8(3), 2008, 217-224):

- reservation price ``r = s - q*gamma*sigma**2*(T - t)`` (eq. 8 / 29);
- optimal total spread ``delta_a + delta_b = gamma*sigma**2*(T - t) + (2/gamma)*ln(1 + gamma/k)`` (eq. 30),
  centred on ``r``, not on the mid, and independent of ``q``;
- fill intensity of a quote at distance ``delta`` from the mid, ``lambda(delta) = A*exp(-k*delta)`` (eq. 12).

Every function accepts floats or numpy arrays (broadcasting), so the Monte Carlo in
:mod:`pymm.pricing.as2008` uses the same code as live quoting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

__all__ = [
    "AsQuote",
    "arrival_half_term",
    "arrival_term",
    "average_spread",
    "fill_intensity",
    "optimal_quotes",
    "optimal_spread",
    "reservation_price",
]

Real = TypeVar("Real", float, npt.NDArray[np.float64])


def _check_gamma_k(gamma: float, k: float) -> None:
    if not gamma > 0:
        raise ValueError(f"risk aversion gamma must be > 0, got {gamma}")
    if not k > 0:
        raise ValueError(f"intensity decay k must be > 0, got {k}")


def reservation_price(mid: Real, q: Real, gamma: float, sigma: float, tau: Real) -> Real:
    """Indifference (reservation) price, eq. 8: ``s - q*gamma*sigma**2*tau``.

    Args:
        mid: the mid price ``s``.
        q: the signed inventory in units.
        gamma: risk aversion (per unit of price).
        sigma: volatility of the arithmetic mid, price per sqrt(time).
        tau: time left, ``T - t``.
    """
    return mid - q * gamma * sigma**2 * tau


def arrival_half_term(gamma: float, k: float) -> float:
    """``(1/gamma)*ln(1 + gamma/k)``, the per-side edge of eqs. 18-19 with exponential intensity.

    Computed as ``(1/k) * ln(1 + x)/x`` with ``x = gamma/k``, which stays exact as ``gamma -> 0`` (limit
    ``1/k``, the risk-neutral edge) instead of dividing two underflowing numbers. ``gamma = 0`` is allowed.
    """
    if not k > 0 or not gamma >= 0:
        raise ValueError(f"need k > 0 and gamma >= 0, got k={k}, gamma={gamma}")
    x = gamma / k
    ratio = 1.0 - x / 2.0 + x * x / 3.0 if x < 1e-5 else math.log1p(x) / x
    return ratio / k


def arrival_term(gamma: float, k: float) -> float:
    """The spread's arrival term ``(2/gamma)*ln(1 + gamma/k)`` (second term of eq. 30)."""
    _check_gamma_k(gamma, k)
    return 2.0 * arrival_half_term(gamma, k)


def optimal_spread(gamma: float, sigma: float, tau: Real, k: float) -> Real:
    """Total bid-ask spread of eq. 30: ``gamma*sigma**2*tau + (2/gamma)*ln(1 + gamma/k)``."""
    return gamma * sigma**2 * tau + arrival_term(gamma, k)


def average_spread(gamma: float, sigma: float, horizon: float, k: float) -> float:
    """Continuous time-average of eq. 30 over ``[0, horizon]``: ``gamma*sigma**2*T/2 + arrival term``.

    This is the "spread" column of the published tables (1.49 / 1.35 / 3.02 for gamma 0.1 / 0.01 / 1).
    """
    return gamma * sigma**2 * horizon / 2.0 + arrival_term(gamma, k)


def fill_intensity(delta: Real, a: float, k: float) -> Real:
    """Arrival rate of market orders that reach a quote ``delta`` away from the mid: ``A*exp(-k*delta)``."""
    return a * np.exp(-k * delta)


@dataclass(frozen=True, slots=True)
class AsQuote:
    """One Avellaneda-Stoikov quote pair, in price units (not yet on the tick grid)."""

    mid: float
    reservation: float
    spread: float
    bid: float
    ask: float

    @property
    def bid_distance(self) -> float:
        """``delta_b = s - bid``: how far below the mid the bid sits."""
        return self.mid - self.bid

    @property
    def ask_distance(self) -> float:
        """``delta_a = ask - s``: how far above the mid the ask sits (negative when it crosses the mid)."""
        return self.ask - self.mid


def optimal_quotes(mid: float, q: float, gamma: float, sigma: float, tau: float, k: float) -> AsQuote:
    """Bid and ask of the inventory strategy: ``r -/+ spread/2`` (eqs. 8 and 30).

    Equivalently, measured from the mid, ``delta_a = spread/2 - q*gamma*sigma**2*tau`` and
    ``delta_b = spread/2 + q*gamma*sigma**2*tau``.
    """
    r = float(reservation_price(mid, q, gamma, sigma, tau))
    spread = float(optimal_spread(gamma, sigma, tau, k))
    return AsQuote(mid=mid, reservation=r, spread=spread, bid=r - spread / 2.0, ask=r + spread / 2.0)
