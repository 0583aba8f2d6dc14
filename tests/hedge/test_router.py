"""Router: spot DOGE delta → USD-M DOGEUSDT perp at 1x, nothing else."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pymm._native import Instrument
from pymm.hedge import HedgeRoute, HedgeRouter, Market, NoRouteError, PositionKey
from tests.hedge.conftest import PERP_VENUE, SPOT_VENUE


def test_spot_to_perp(spot: Instrument, perp: Instrument) -> None:
    router = HedgeRouter.spot_to_perp(spot, SPOT_VENUE, perp, PERP_VENUE)
    route = router.route("DOGE")
    assert route.hedge_key == PositionKey(PERP_VENUE, Market.USDM, "DOGEUSDT")
    assert route.delta_keys == (PositionKey(SPOT_VENUE, Market.SPOT, "DOGEUSDT"), route.hedge_key)
    assert (route.ratio, route.leverage) == (Decimal(1), 1)
    assert router.routes() == [route]
    with pytest.raises(NoRouteError, match="BTC"):
        router.route("BTC")


def test_refuses_a_spot_hedge_leg(spot: Instrument) -> None:
    with pytest.raises(ValueError, match="not 'usdm'"):
        HedgeRouter.spot_to_perp(spot, SPOT_VENUE, spot, SPOT_VENUE)


def test_refuses_a_perp_as_source(perp: Instrument) -> None:
    with pytest.raises(ValueError, match="spot"):
        HedgeRouter.spot_to_perp(perp, PERP_VENUE, perp, PERP_VENUE)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"base_asset": "BTC"}, "is not the exposure's"),
        ({"ratio": Decimal(2)}, "hedge ratio"),
        ({"leverage": 3}, "1x only"),
        ({"sources": ()}, "no source"),
    ],
)
def test_refuses_other_routes(perp: Instrument, kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {
        "base_asset": "DOGE",
        "sources": (PositionKey(SPOT_VENUE, Market.SPOT, "DOGEUSDT"),),
        "hedge_venue": PERP_VENUE,
        "hedge_instrument": perp,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        HedgeRouter([HedgeRoute(**args)])  # type: ignore[arg-type]


def test_one_route_per_base(spot: Instrument, perp: Instrument) -> None:
    router = HedgeRouter.spot_to_perp(spot, SPOT_VENUE, perp, PERP_VENUE)
    with pytest.raises(ValueError, match="routed already"):
        router.add(router.route("DOGE"))
