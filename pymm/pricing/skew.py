"""Inventory skew: how far both quotes move, and how sizes shrink, as inventory builds up.

The price skew is linear in inventory, as both models give it:

- Avellaneda-Stoikov: the reservation price moves by ``-q*gamma*sigma**2*(T - t)`` (eq. 8), i.e.
  ``per_unit = gamma*sigma**2*(T - t)`` (:meth:`InventorySkew.from_avellaneda_stoikov`);
- GLFT: each unit moves both quotes by ``w = sqrt(sigma**2*gamma/(2kA) * (1 + gamma/k)**(1 + k/gamma))``
  (:meth:`InventorySkew.from_glft`).

Two practical limits on top (design choices, not from the papers): an optional cap on the total price
shift, and a hard inventory bound ``max_inventory`` as in GLFT, approached with a linear size taper on the
side that would add to the position, so that no complete fill can carry ``|q|`` past the bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pymm.pricing.glft import GlftApproximation

__all__ = ["InventorySkew"]


@dataclass(frozen=True, slots=True)
class InventorySkew:
    """Price shift and size taper as functions of the signed inventory ``q`` (in order-size units)."""

    per_unit: float
    """Price shift of both quotes per unit of inventory (>= 0; the shift is ``-per_unit*q``)."""
    max_inventory: float
    """Hard bound on ``|q|``: no bid at ``q >= max_inventory``, no ask at ``q <= -max_inventory``."""
    max_shift: float = math.inf
    """Cap on ``|price shift|``."""

    def __post_init__(self) -> None:
        """Refuse nonsense parameters."""
        if not self.per_unit >= 0 or not self.max_inventory > 0 or not self.max_shift >= 0:
            raise ValueError(
                f"need per_unit >= 0, max_inventory > 0, max_shift >= 0; got "
                f"{self.per_unit}, {self.max_inventory}, {self.max_shift}"
            )

    @classmethod
    def from_avellaneda_stoikov(
        cls, gamma: float, sigma: float, tau: float, max_inventory: float, max_shift: float = math.inf
    ) -> InventorySkew:
        """``per_unit = gamma*sigma**2*tau`` (A-S eq. 8)."""
        return cls(gamma * sigma**2 * tau, max_inventory, max_shift)

    @classmethod
    def from_glft(
        cls, approx: GlftApproximation, max_inventory: float, max_shift: float = math.inf
    ) -> InventorySkew:
        """``per_unit = w`` of the GLFT approximation."""
        return cls(approx.skew_per_unit, max_inventory, max_shift)

    def price_shift(self, q: float) -> float:
        """How far both quotes move (negative when long), ``-per_unit*q`` capped at ``max_shift``."""
        return -min(max(self.per_unit * q, -self.max_shift), self.max_shift)

    def size_factors(self, q: float) -> tuple[float, float]:
        """``(bid, ask)`` multipliers of the base size, in [0, 1]; 1 while flat, 0 at the bound."""
        bid = min(max((self.max_inventory - q) / self.max_inventory, 0.0), 1.0)
        ask = min(max((self.max_inventory + q) / self.max_inventory, 0.0), 1.0)
        return bid, ask

    def sizes(self, q: float, base_size: int) -> tuple[int, int]:
        """``(bid, ask)`` sizes in whole lots: tapered, and never more than the room left to the bound."""
        if base_size < 0:
            raise ValueError(f"base size must be >= 0, got {base_size}")
        fb, fa = self.size_factors(q)
        room_bid = max(math.floor(self.max_inventory - q + 1e-9), 0)
        room_ask = max(math.floor(self.max_inventory + q + 1e-9), 0)
        return min(math.floor(base_size * fb + 1e-9), room_bid), min(
            math.floor(base_size * fa + 1e-9), room_ask
        )
