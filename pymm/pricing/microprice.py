"""Stoikov (2018), "The micro-price: a high-frequency estimator of future prices" (QF 18(12) 1959-1966).

Definitions (section 2 of the paper): mid ``M = (Pb + Pa)/2``, spread ``S = Pa - Pb``, imbalance
``I = Qb/(Qb + Qa)``; the weighted mid ``Pb*(1 - I) + Pa*I`` is noisy and not a martingale. The micro-price is
the limit of ``P_i = E[M at the i-th mid change | I, S]``:

    ``P_micro = M + g1 + B g1 + B**2 g1 + ...`` with ``g1 = (1 - Q)^-1 R1 K`` and ``B = (1 - Q)^-1 R2``,

where, over the discretised states ``x = (imbalance bucket, spread in ticks)``, ``Q`` holds the transition
probabilities among states when the mid does not move, ``R1`` the probabilities of each mid move in
``K = (-1, -1/2, +1/2, +1)`` ticks, and ``R2`` the probability of each next state given that the mid moved.
As in the author's notebook the series is cut after six terms (the expected mid after six moves).

Estimation follows the author's code (sstoikov/microprice), with the fixes of its PR #2: imbalance buckets
symmetric around 1/2, spread kept as a column, and the data symmetrised (mirror copy with
``bucket -> n - 1 - bucket``, ``dM -> -dM``) so that the adjustment is exactly antisymmetric. One departure:
``Q`` is estimated over all next states, not block-diagonal per spread, so a no-move transition that
changes the spread (bid and ask both widening by a tick) is kept rather than dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "MOVES_TICKS",
    "MicroPriceModel",
    "fit_micro_price",
    "imbalance",
    "micro_price_series",
    "weighted_mid",
]

FloatArray = npt.NDArray[np.float64]

MOVES_TICKS: FloatArray = np.array([-1.0, -0.5, 0.5, 1.0])
"""``K``: the mid moves the chain knows, in ticks."""


def imbalance(bid_size: float, ask_size: float) -> float:
    """``I = Qb/(Qb + Qa)``; 1/2 when both sizes are zero."""
    total = bid_size + ask_size
    return 0.5 if total <= 0 else bid_size / total


def weighted_mid(bid: float, ask: float, bid_size: float, ask_size: float) -> float:
    """``Pb*(1 - I) + Pa*I``, the size-weighted mid."""
    i = imbalance(bid_size, ask_size)
    return bid * (1.0 - i) + ask * i


def micro_price_series(q: FloatArray, r1: FloatArray, r2: FloatArray, n_terms: int = 6) -> FloatArray:
    """The adjustment ``g1 + B g1 + ... + B**(n_terms-1) g1`` (in ticks) for each state of a chain.

    Args:
        q: ``(n, n)`` no-move transition probabilities.
        r1: ``(n, 4)`` probabilities of a mid move by each of :data:`MOVES_TICKS`.
        r2: ``(n, n)`` probabilities of moving the mid and landing in each next state.
        n_terms: terms of the series (6 in the paper's notebook).
    """
    n = q.shape[0]
    try:
        g1 = np.linalg.solve(np.eye(n) - q, r1 @ MOVES_TICKS)
        b = np.linalg.solve(np.eye(n) - q, r2)
    except np.linalg.LinAlgError as e:
        raise ValueError("no-move chain has an absorbing state (the mid never moves from it)") from e
    total: FloatArray = np.array(g1, dtype=np.float64)
    term = total.copy()
    for _ in range(n_terms - 1):
        term = b @ term
        total += term
    return total


@dataclass(frozen=True, slots=True)
class MicroPriceModel:
    """A fitted micro-price: imbalance bucket edges and the adjustment per (bucket, spread) in ticks."""

    tick: float
    inner_edges: FloatArray
    """``n_imb - 1`` increasing cut points of the imbalance, symmetric around 1/2."""
    adjustment_ticks: FloatArray
    """``(n_spread, n_imb)``: ``G*(bucket, spread)``, row ``s - 1`` for a spread of ``s`` ticks."""
    n_transitions: int

    @property
    def n_imb(self) -> int:
        """Number of imbalance buckets."""
        return self.inner_edges.size + 1

    @property
    def n_spread(self) -> int:
        """Largest spread (in ticks) the model knows."""
        return int(self.adjustment_ticks.shape[0])

    def bucket(self, imb: float) -> int:
        """The imbalance bucket of ``imb``."""
        return int(np.searchsorted(self.inner_edges, imb, side="right"))

    def adjustment(self, bid: float, ask: float, bid_size: float, ask_size: float) -> float:
        """``P_micro - M`` in price units; spreads beyond the model's range use its widest spread."""
        s = int(np.clip(round((ask - bid) / self.tick), 1, self.n_spread))
        return float(self.adjustment_ticks[s - 1, self.bucket(imbalance(bid_size, ask_size))]) * self.tick

    def micro_price(self, bid: float, ask: float, bid_size: float, ask_size: float) -> float:
        """The micro-price of one quote snapshot."""
        return (bid + ask) / 2.0 + self.adjustment(bid, ask, bid_size, ask_size)


def _symmetric_edges(imb: FloatArray, n_imb: int) -> FloatArray:
    both = np.concatenate([imb, 1.0 - imb])
    edges = np.quantile(both, np.arange(1, n_imb) / n_imb)
    return (edges + (1.0 - edges[::-1])) / 2.0


def fit_micro_price(
    bid: npt.ArrayLike,
    ask: npt.ArrayLike,
    bid_size: npt.ArrayLike,
    ask_size: npt.ArrayLike,
    tick: float,
    n_imb: int = 10,
    n_spread: int = 2,
    n_terms: int = 6,
) -> MicroPriceModel:
    """Estimate the micro-price from consecutive top-of-book snapshots.

    Args:
        bid: best bid prices, one per snapshot, in time order.
        ask: best ask prices.
        bid_size: sizes at the best bid.
        ask_size: sizes at the best ask.
        tick: the tick size (the notebook infers it as the smallest positive spread).
        n_imb: imbalance buckets (BAC: 10, CVX: 4 in the notebook).
        n_spread: spreads of 1..n_spread ticks are modelled; snapshots outside are dropped.
        n_terms: terms of the series.

    Returns:
        The fitted model.
    """
    pb, pa = np.asarray(bid, dtype=np.float64), np.asarray(ask, dtype=np.float64)
    qb, qa = np.asarray(bid_size, dtype=np.float64), np.asarray(ask_size, dtype=np.float64)
    if not pb.shape == pa.shape == qb.shape == qa.shape or pb.ndim != 1 or pb.size < 3:
        raise ValueError("bid, ask and sizes must be 1-d arrays of one length >= 3")
    if n_imb < 2 or n_spread < 1 or n_terms < 1:
        raise ValueError(f"need n_imb >= 2, n_spread >= 1, n_terms >= 1; got {n_imb}, {n_spread}, {n_terms}")
    total = qb + qa
    imb = np.divide(qb, total, out=np.full_like(qb, 0.5), where=total > 0)
    spread = np.rint((pa - pb) / tick).astype(np.int64)
    mid = (pb + pa) / 2.0
    edges = _symmetric_edges(imb[(spread >= 1) & (spread <= n_spread)], n_imb)
    bucket = np.searchsorted(edges, imb, side="right")
    dm = np.rint(2.0 * np.diff(mid) / tick) / 2.0

    ok_now = (spread[:-1] >= 1) & (spread[:-1] <= n_spread)
    ok_next = (spread[1:] >= 1) & (spread[1:] <= n_spread)
    keep = ok_now & ok_next & (np.abs(dm) <= 1.0)
    b0, s0, b1, s1, d = bucket[:-1][keep], spread[:-1][keep], bucket[1:][keep], spread[1:][keep], dm[keep]
    # Symmetrise: the mirror image of every transition.
    b0 = np.concatenate([b0, n_imb - 1 - b0])
    b1 = np.concatenate([b1, n_imb - 1 - b1])
    s0, s1, d = np.concatenate([s0, s0]), np.concatenate([s1, s1]), np.concatenate([d, -d])

    n = n_imb * n_spread
    x0 = (s0 - 1) * n_imb + b0
    x1 = (s1 - 1) * n_imb + b1
    moved = d != 0
    q_counts = np.zeros((n, n))
    np.add.at(q_counts, (x0[~moved], x1[~moved]), 1.0)
    r1_counts = np.zeros((n, MOVES_TICKS.size))
    np.add.at(r1_counts, (x0[moved], np.searchsorted(MOVES_TICKS, d[moved])), 1.0)
    r2_counts = np.zeros((n, n))
    np.add.at(r2_counts, (x0[moved], x1[moved]), 1.0)
    row_total = q_counts.sum(axis=1) + r1_counts.sum(axis=1)
    norm = np.where(row_total > 0, row_total, 1.0)[:, None]
    g = micro_price_series(q_counts / norm, r1_counts / norm, r2_counts / norm, n_terms)
    return MicroPriceModel(
        tick=tick,
        inner_edges=edges,
        adjustment_ticks=g.reshape(n_spread, n_imb),
        n_transitions=int(keep.sum()),
    )
