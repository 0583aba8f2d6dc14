"""The hedge router: which instrument hedges which exposure, and which positions make up that exposure.

pymm's first market routes the DOGE delta of Binance spot DOGEUSDT to the Binance USD-M perpetual
DOGEUSDT at 1x. A route is accepted only for a linear perpetual (``usdm`` market, ``PERPETUAL``
contract) in the same base asset as the exposure and margined in its quote asset, so one perp unit
hedges one base unit (hedge ratio 1). Anything else — an inverse contract, a dated future, another
base — is refused when the route is built, not discovered while hedging.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from pymm.hedge.delta_bus import Market
from pymm.hedge.position_book import PositionKey

if TYPE_CHECKING:
    from pymm._native import Instrument

__all__ = ["HedgeRoute", "HedgeRouter", "NoRouteError"]


class NoRouteError(LookupError):
    """No route hedges the named exposure."""


@dataclass(frozen=True, slots=True)
class HedgeRoute:
    """Exposure in ``base_asset`` from ``sources``, hedged on ``hedge_venue``'s ``hedge_instrument``.

    Attributes:
        base_asset: the exposure's asset (``"DOGE"``).
        sources: position keys whose positions are the exposure (the spot instrument).
        hedge_venue: configured venue name of the hedge leg.
        hedge_instrument: the perp.
        ratio: perp units per base unit of exposure (1 for a linear perp in the same base).
        leverage: the leverage the hedge account must run at (1).
    """

    base_asset: str
    sources: tuple[PositionKey, ...]
    hedge_venue: str
    hedge_instrument: Instrument
    ratio: Decimal = Decimal(1)
    leverage: int = 1

    @property
    def hedge_key(self) -> PositionKey:
        """The hedge leg's position key."""
        return PositionKey(self.hedge_venue, Market.USDM, self.hedge_instrument.symbol)

    @property
    def delta_keys(self) -> tuple[PositionKey, ...]:
        """Every position counted in this route's net delta: the sources and the hedge leg."""
        return (*self.sources, self.hedge_key)


class HedgeRouter:
    """Routes by base asset; built once at start from the configured instruments."""

    def __init__(self, routes: Iterable[HedgeRoute] = ()) -> None:
        """A router holding ``routes``."""
        self._routes: dict[str, HedgeRoute] = {}
        for r in routes:
            self.add(r)

    def add(self, route: HedgeRoute) -> None:
        """Add a route after checking it is a 1x linear perp hedge of the same base.

        Raises:
            ValueError: the route is not one pymm can hedge with, or its base is routed already.
        """
        inst = route.hedge_instrument
        problems = []
        if inst.market != "usdm":
            problems.append(f"hedge instrument market is {inst.market!r}, not 'usdm'")
        if inst.contract_type != "PERPETUAL":
            problems.append(f"contract type is {inst.contract_type!r}, not 'PERPETUAL'")
        if inst.base_asset != route.base_asset:
            problems.append(f"hedge base {inst.base_asset!r} is not the exposure's {route.base_asset!r}")
        if inst.margin_asset != inst.quote_asset:
            problems.append(
                f"margin asset {inst.margin_asset!r} is not the quote {inst.quote_asset!r} (not linear)"
            )
        if route.ratio != 1:
            problems.append(f"hedge ratio {route.ratio} (a linear perp in the same base hedges 1:1)")
        if route.leverage != 1:
            problems.append(f"leverage {route.leverage}; pymm hedges at 1x only")
        if not route.sources:
            problems.append("no source positions")
        if route.base_asset in self._routes:
            problems.append(f"{route.base_asset} is routed already")
        if problems:
            raise ValueError(f"refused hedge route for {route.base_asset}: " + "; ".join(problems))
        self._routes[route.base_asset] = route

    @classmethod
    def spot_to_perp(
        cls, spot: Instrument, spot_venue: str, perp: Instrument, perp_venue: str
    ) -> HedgeRouter:
        """The first market's router: ``spot``'s base delta hedged on ``perp`` at 1x."""
        if spot.market != "spot":
            raise ValueError(f"source must be a spot instrument, got {spot.market}")
        source = PositionKey(spot_venue, Market.SPOT, spot.symbol)
        return cls([HedgeRoute(spot.base_asset, (source,), perp_venue, perp)])

    def route(self, base_asset: str) -> HedgeRoute:
        """The route hedging ``base_asset``.

        Raises:
            NoRouteError: nothing hedges it.
        """
        try:
            return self._routes[base_asset]
        except KeyError:
            raise NoRouteError(f"no hedge route for {base_asset}; routed: {sorted(self._routes)}") from None

    def routes(self) -> list[HedgeRoute]:
        """Every route, in insertion order."""
        return list(self._routes.values())
