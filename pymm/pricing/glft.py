"""Guéant, Lehalle & Fernandez-Tapia (2013), "Dealing with the inventory risk".

The Avellaneda-Stoikov problem with a hard inventory bound ``Q`` (no bid at ``q = Q``, no ask at
``q = -Q``). Notation of the paper (Math. Financ. Econ. 7 (2013) 477-507): mid volatility ``sigma``,
intensity ``A*exp(-k*delta)``, risk aversion ``gamma``; all distances are measured from the mid.

Exact solution (section 3 of the paper; research notes section 2.1). With ``alpha = (k/2)*gamma*sigma**2`` and
``eta = A*(1 + gamma/k)**-(1 + k/gamma)``, the vector ``v(t) = (v_q(t))_{q=-Q..Q}`` solves the linear ODE
``dv/dt = M v`` (``M`` tridiagonal: ``alpha*q**2`` on the diagonal, ``-eta`` beside it) with
``v(T) = 1``, so ``v(t) = exp(-M*(T - t)) 1``. The optimal quotes are (G1)

    ``delta_b(t, q) = (1/k)*ln(v_q/v_{q+1}) + (1/gamma)*ln(1 + gamma/k)``,
    ``delta_a(t, q) = (1/k)*ln(v_q/v_{q-1}) + (1/gamma)*ln(1 + gamma/k)``,

and as ``T - t -> infinity`` the ratios come from the eigenvector of ``M`` with the smallest eigenvalue.

Closed-form asymptotic approximation (G2; the "GLFT formulas"), with
``w = sqrt(sigma**2*gamma/(2*k*A) * (1 + gamma/k)**(1 + k/gamma))``:

    ``delta_b(q) ~ (1/gamma)*ln(1 + gamma/k) + (2q + 1)/2 * w``,
    ``delta_a(q) ~ (1/gamma)*ln(1 + gamma/k) - (2q - 1)/2 * w``,

so the spread ``(2/gamma)*ln(1 + gamma/k) + w`` does not depend on ``q`` and each unit of inventory skews
both quotes by ``w``. A drift ``mu`` adds ``-/+ mu/(gamma*sigma**2) * w``; an adverse-selection jump ``xi``
per fill (the 2013 paper's meaning of ``xi``) adds ``xi/2`` to each quote and multiplies ``w`` by
``exp(k*xi/4)``.

Guéant (2017, "Optimal market making", eqs. 4.6-4.7) generalises with an order size ``Delta`` and a
utility parameter ``xi`` (``xi = gamma``: CARA, as above): :func:`glft_coefficients` gives the ``c1, c2``
that hftbacktest quotes with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pymm.pricing.avellaneda_stoikov import arrival_half_term

__all__ = [
    "GlftApproximation",
    "GlftCoefficients",
    "GlftExact",
    "glft_approximation",
    "glft_coefficients",
]


def _compound(gamma: float, k: float) -> float:
    """``(1 + x)**(1 + 1/x)`` with ``x = gamma/k``, as ``exp(ln(1 + x) + ln(1 + x)/x)``: stable as x -> 0."""
    return math.exp(math.log1p(gamma / k) + k * arrival_half_term(gamma, k))


def _check(sigma: float, a: float, k: float, gamma: float) -> None:
    for name, value in (("sigma", sigma), ("A", a), ("k", k), ("gamma", gamma)):
        if not value > 0 or not math.isfinite(value):
            raise ValueError(f"{name} must be finite and > 0, got {value}")


@dataclass(frozen=True, slots=True)
class GlftApproximation:
    """The closed-form asymptotic quotes (G2), as distances from the mid in price units."""

    base: float
    """``(1/gamma)*ln(1 + gamma/k)`` (+ ``xi/2`` with adverse selection): the q-free part of each quote."""
    skew_per_unit: float
    """``w``: how far one unit of inventory moves both quotes."""
    drift_shift: float
    """``mu/(gamma*sigma**2) * w``: how far the drift moves both quotes up (0 without drift)."""

    def bid_distance(self, q: float) -> float:
        """``delta_b(q)``: distance of the bid below the mid."""
        return self.base + (q + 0.5) * self.skew_per_unit - self.drift_shift

    def ask_distance(self, q: float) -> float:
        """``delta_a(q)``: distance of the ask above the mid."""
        return self.base - (q - 0.5) * self.skew_per_unit + self.drift_shift

    @property
    def spread(self) -> float:
        """``delta_b + delta_a``, the same for every ``q``."""
        return 2.0 * self.base + self.skew_per_unit

    @property
    def half_spread(self) -> float:
        """Half of :attr:`spread`: the distance of each quote from the reservation price."""
        return self.spread / 2.0


def glft_approximation(
    sigma: float, a: float, k: float, gamma: float, *, drift: float = 0.0, adverse_selection: float = 0.0
) -> GlftApproximation:
    """The GLFT asymptotic approximation (G2) for one parameter set.

    Args:
        sigma: mid volatility, price per sqrt(time).
        a: arrival rate ``A`` of market orders at distance 0, per unit time.
        k: decay of the arrival rate with distance, per price unit.
        gamma: risk aversion, per price unit.
        drift: expected mid drift ``mu``, price per unit time.
        adverse_selection: ``xi``, the jump of the reference price against us after each fill.
    """
    _check(sigma, a, k, gamma)
    w = math.sqrt(sigma**2 * gamma / (2.0 * k * a) * _compound(gamma, k))
    w *= math.exp(k * adverse_selection / 4.0)
    base = arrival_half_term(gamma, k) + adverse_selection / 2.0
    return GlftApproximation(base=base, skew_per_unit=w, drift_shift=drift / (gamma * sigma**2) * w)


@dataclass(frozen=True, slots=True)
class GlftCoefficients:
    """Guéant (2017) eqs. 4.6-4.7: ``c1``, ``c2`` and the order size ``Delta`` they were computed for."""

    c1: float
    c2: float
    order_size: float

    def half_spread(self, sigma: float) -> float:
        """``c1 + (Delta/2)*sigma*c2``: each quote's distance from the reservation price."""
        return self.c1 + self.order_size / 2.0 * sigma * self.c2

    def skew(self, sigma: float) -> float:
        """``sigma*c2``: the shift of both quotes per unit of inventory (in order-size units)."""
        return sigma * self.c2


def glft_coefficients(gamma: float, xi: float, order_size: float, a: float, k: float) -> GlftCoefficients:
    """Guéant (2017) eqs. 4.6-4.7, as hftbacktest computes them.

    ``c1 = ln(1 + xi*Delta/k)/(xi*Delta)`` and
    ``c2 = sqrt(gamma/(2*A*Delta*k) * (1 + xi*Delta/k)**(k/(xi*Delta) + 1))``;
    ``xi = gamma`` and ``Delta = 1`` give the 2013 formulas of :func:`glft_approximation`.
    """
    _check(1.0, a, k, gamma)
    if not xi > 0 or not order_size > 0:
        raise ValueError(f"xi and order size must be > 0, got xi={xi}, order size={order_size}")
    x = xi * order_size
    c1 = arrival_half_term(x, k)
    c2 = math.sqrt(gamma / (2.0 * a * order_size * k) * _compound(x, k))
    return GlftCoefficients(c1=c1, c2=c2, order_size=order_size)


def _expm_nonnegative_ones(n: npt.NDArray[np.float64], tau: float) -> npt.NDArray[np.float64]:
    """``exp(n*tau) @ 1`` scaled to a largest component of 1, for an entrywise nonnegative ``n``."""
    ones = np.ones(n.shape[0])
    norm = float(np.abs(n).sum(axis=1).max()) * tau
    if norm == 0.0:
        return ones
    squarings = max(0, math.ceil(math.log2(norm / 0.5)))
    step = n * (tau / 2.0**squarings)
    e = np.eye(n.shape[0])
    term = np.eye(n.shape[0])
    for j in range(1, 30):  # ||step|| <= 0.5: 0.5**30/30! is far below double precision
        term = term @ step / j
        e += term
    e /= e.max()
    for _ in range(squarings):
        e = e @ e
        e /= e.max()
    out: npt.NDArray[np.float64] = e @ ones
    return out / out.max()


def _log_ratio(num: float, den: float) -> float:
    """``ln(num/den)``; ``+inf`` when ``den`` underflowed to 0 (the quote is infinitely far)."""
    if den <= 0.0:
        return math.inf
    return math.log(num / den)


class GlftExact:
    """The exact finite-inventory solution (G1) for ``q`` in ``[-q_max, q_max]``.

    The components of ``v`` span many orders of magnitude (``v_q`` falls roughly like
    ``prod_j eta/(alpha*j**2)`` away from 0), and an eigen-decomposition only resolves components down to
    about 1e-16 of the largest, which makes quotes near the bound garbage. So ``exp(-M*tau) 1`` is computed
    as ``exp(N*tau) 1`` with ``N = c*I - M >= 0`` entrywise (``c = alpha*q_max**2``): a Taylor series of a
    nonnegative matrix, then repeated squaring, sums only nonnegative terms and keeps every component to
    full *relative* precision. The result is rescaled after each squaring (ratios are all that matter).
    ``tau = inf`` is a horizon long enough for the ratios to have converged to double precision: ``850``
    over the spectral gap ``lambda_1 - lambda_0`` of ``M``.
    """

    def __init__(self, sigma: float, a: float, k: float, gamma: float, q_max: int) -> None:
        """Build the ODE matrix for inventories ``-q_max..q_max``."""
        _check(sigma, a, k, gamma)
        if q_max < 1:
            raise ValueError(f"q_max must be >= 1, got {q_max}")
        self.sigma, self.a, self.k, self.gamma, self.q_max = sigma, a, k, gamma, q_max
        self.alpha = k / 2.0 * gamma * sigma**2
        self.eta = a / _compound(gamma, k)
        q = np.arange(-q_max, q_max + 1, dtype=np.float64)
        m = np.diag(self.alpha * q**2) - self.eta * (np.eye(q.size, k=1) + np.eye(q.size, k=-1))
        self.matrix: npt.NDArray[np.float64] = m
        eig = np.linalg.eigvalsh(m)
        self.spectral_gap = float(eig[1] - eig[0])
        self._nonneg = self.alpha * q_max**2 * np.eye(q.size) - m
        self.base = arrival_half_term(gamma, k)
        self._last: tuple[float, npt.NDArray[np.float64]] | None = None

    def v(self, tau: float) -> npt.NDArray[np.float64]:
        """``v(T - tau)`` for ``q = -q_max..q_max``, scaled so its largest component is 1."""
        if math.isinf(tau) and tau > 0:
            tau = 850.0 / self.spectral_gap
        if not tau >= 0:
            raise ValueError(f"time left must be >= 0, got {tau}")
        if self._last is None or self._last[0] != tau:
            self._last = (tau, _expm_nonnegative_ones(self._nonneg, tau))
        return self._last[1]

    def _index(self, q: int) -> int:
        if not -self.q_max <= q <= self.q_max:
            raise ValueError(f"inventory {q} outside [-{self.q_max}, {self.q_max}]")
        return q + self.q_max

    def bid_distance(self, q: int, tau: float = math.inf) -> float | None:
        """``delta_b(t, q)``; ``None`` at ``q = q_max`` (no bid at the bound)."""
        i = self._index(q)
        if q == self.q_max:
            return None
        v = self.v(tau)
        return _log_ratio(v[i], v[i + 1]) / self.k + self.base

    def ask_distance(self, q: int, tau: float = math.inf) -> float | None:
        """``delta_a(t, q)``; ``None`` at ``q = -q_max`` (no ask at the bound)."""
        i = self._index(q)
        if q == -self.q_max:
            return None
        v = self.v(tau)
        return _log_ratio(v[i], v[i - 1]) / self.k + self.base
