"""The mode controller: passive, active or emergency, from |net delta|, its age, and the data we trust.

Bands are quote notionals (USDT) of the net delta at the reference price:

- ``|delta| <= no_trade``: in band, nothing to hedge (mode stays what hysteresis says, with
  ``in_band`` set so planners plan nothing);
- outside ``no_trade``: PASSIVE (post-only on the perp), until the delta has been outside ``no_trade``
  for ``passive_timeout_ns`` — then ACTIVE;
- outside ``active``: ACTIVE at once (IOC limit within the collar);
- outside ``hard``: EMERGENCY (IOC with the wider emergency collar; quoting should stop adding risk).

Hysteresis: a mode is left downwards only at the *lower* band — ACTIVE falls back to PASSIVE when the
delta is back inside ``no_trade``; EMERGENCY (by band) falls back to ACTIVE when the delta is back
inside ``active``. So a delta hovering at a threshold does not flap between modes.

EMERGENCY is also forced, whatever the delta, by an open reconciliation break or by stale data; those
emergencies carry ``hedge_allowed = False``: with an unknown position or no trustworthy price, no hedge
is sent (the caller pulls quotes). Time comes in as event timestamps (ns), never from a wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

__all__ = ["HedgeBands", "HedgeMode", "ModeController", "ModeDecision"]


class HedgeMode(StrEnum):
    """How the hedge is worked."""

    PASSIVE = "passive"
    ACTIVE = "active"
    EMERGENCY = "emergency"


@dataclass(frozen=True, slots=True)
class HedgeBands:
    """Thresholds on |net delta| in quote notional, and the passive timeout.

    Attributes:
        no_trade: at or below this, nothing is hedged.
        active: above this, hedge actively at once.
        hard: above this, emergency.
        passive_timeout_ns: outside ``no_trade`` this long ⇒ active.
    """

    no_trade: Decimal
    active: Decimal
    hard: Decimal
    passive_timeout_ns: int

    def __post_init__(self) -> None:
        """Bands must be ordered: 0 <= no_trade < active < hard."""
        if not (0 <= self.no_trade < self.active < self.hard):
            raise ValueError(
                "bands must satisfy 0 <= no_trade < active < hard, "
                f"got {self.no_trade}, {self.active}, {self.hard}"
            )
        if self.passive_timeout_ns < 0:
            raise ValueError(f"passive_timeout_ns must be >= 0, got {self.passive_timeout_ns}")


@dataclass(frozen=True, slots=True)
class ModeDecision:
    """The mode for this moment and why.

    Attributes:
        mode: the chosen mode.
        in_band: |delta| is within the no-trade band: plan nothing.
        hedge_allowed: False for an emergency caused by a break or stale data.
        reasons: human-readable causes, most severe first.
        outside_since_ns: when |delta| last left the no-trade band (None while inside).
    """

    mode: HedgeMode
    in_band: bool
    hedge_allowed: bool
    reasons: tuple[str, ...]
    outside_since_ns: int | None


class ModeController:
    """Chooses the hedge mode with hysteresis; one instance per hedged underlying."""

    def __init__(self, bands: HedgeBands) -> None:
        """A controller in PASSIVE mode with the delta in band."""
        self.bands = bands
        self._mode = HedgeMode.PASSIVE
        self._band_mode = HedgeMode.PASSIVE
        self._outside_since: int | None = None

    @property
    def mode(self) -> HedgeMode:
        """The mode chosen by the last :meth:`update`."""
        return self._mode

    def update(
        self,
        ts_ns: int,
        delta_notional: Decimal,
        *,
        reconciliation_ok: bool = True,
        data_fresh: bool = True,
    ) -> ModeDecision:
        """Choose the mode at event time ``ts_ns``.

        Args:
            ts_ns: event time of the input that prompted the call.
            delta_notional: net delta times the reference price (sign ignored).
            reconciliation_ok: False while the position book has an open break.
            data_fresh: False when the reference price or book is stale.
        """
        b = self.bands
        size = abs(delta_notional)
        in_band = size <= b.no_trade
        if in_band:
            self._outside_since = None
        elif self._outside_since is None:
            self._outside_since = ts_ns

        # The band mode, with hysteresis: up at the upper threshold, down at the lower one.
        prev = self._band_mode
        reasons: list[str] = []
        if size > b.hard:
            band_mode = HedgeMode.EMERGENCY
            reasons.append(f"|delta| {size} > hard band {b.hard}")
        elif prev is HedgeMode.EMERGENCY and size > b.active:
            band_mode = HedgeMode.EMERGENCY
            reasons.append(f"|delta| {size} not yet back inside active band {b.active}")
        elif size > b.active:
            band_mode = HedgeMode.ACTIVE
            reasons.append(f"|delta| {size} > active band {b.active}")
        elif prev in (HedgeMode.ACTIVE, HedgeMode.EMERGENCY) and not in_band:
            band_mode = HedgeMode.ACTIVE
            reasons.append(f"|delta| {size} not yet back inside no-trade band {b.no_trade}")
        elif (
            not in_band
            and self._outside_since is not None
            and ts_ns - self._outside_since >= b.passive_timeout_ns
        ):
            band_mode = HedgeMode.ACTIVE
            age_ms = (ts_ns - self._outside_since) / 1_000_000
            reasons.append(f"|delta| {size} outside no-trade band for {age_ms:g} ms")
        else:
            band_mode = HedgeMode.PASSIVE
            if not in_band:
                reasons.append(f"|delta| {size} > no-trade band {b.no_trade}")
        self._band_mode = band_mode

        mode = band_mode
        hedge_allowed = True
        blockers = []
        if not reconciliation_ok:
            blockers.append("reconciliation break open")
        if not data_fresh:
            blockers.append("market data stale")
        if blockers:
            mode = HedgeMode.EMERGENCY
            hedge_allowed = False
            reasons = blockers + reasons
        self._mode = mode
        return ModeDecision(mode, in_band, hedge_allowed, tuple(reasons), self._outside_since)
