"""The USD-M start-up check: set and verify 1x, margin type and one-way mode, or refuse."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pymm.hedge import MarginType, UsdmAccountError, verify_usdm_account
from tests.hedge.conftest import FakeUsdmAccount


def test_already_configured_account_changes_nothing() -> None:
    api = FakeUsdmAccount(leverage=1, margin="cross", position="-1200")
    v = verify_usdm_account(api, "DOGEUSDT", MarginType.CROSSED)
    assert (v.leverage, v.margin_type, v.position_amt, v.actions) == (
        1,
        MarginType.CROSSED,
        Decimal(-1200),
        (),
    )
    assert not any(c.startswith("POST") for c in api.calls)


def test_sets_one_way_leverage_and_margin_then_reads_back() -> None:
    api = FakeUsdmAccount(dual=True, leverage=20, margin="cross")
    v = verify_usdm_account(api, "DOGEUSDT", MarginType.ISOLATED)
    assert v.actions == ("set position mode one-way", "set margin type ISOLATED", "set leverage 1x")
    assert (api.dual, api.leverage, api.margin) == (False, 1, "isolated")
    assert api.calls[-2:] == ["GET dual", "GET positionRisk"]  # the read-back


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dual": True, "open_orders": 2}, "open orders exist"),
        ({"dual": True, "position": "5"}, "an open position exists"),
        ({"margin": "isolated", "position": "-10"}, "cannot change with an open position"),
        ({"lie_leverage": True}, "read-back: leverage 20x"),
    ],
)
def test_refuses_when_it_cannot_get_there(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(UsdmAccountError, match=match) as info:
        verify_usdm_account(FakeUsdmAccount(**kwargs), "DOGEUSDT", MarginType.CROSSED)  # type: ignore[arg-type]
    assert info.value.symbol == "DOGEUSDT" and info.value.problems


def test_dry_run_only_verifies() -> None:
    api = FakeUsdmAccount(dual=True, leverage=2, margin="isolated")
    with pytest.raises(UsdmAccountError) as info:
        verify_usdm_account(api, "DOGEUSDT", MarginType.CROSSED, allow_changes=False)
    assert "one-way required" in str(info.value)
    assert not any(c.startswith("POST") for c in api.calls)
    api.dual = False
    with pytest.raises(UsdmAccountError) as info:
        verify_usdm_account(api, "DOGEUSDT", MarginType.CROSSED, allow_changes=False)
    assert len(info.value.problems) == 2  # margin type and leverage, both named


def test_refuses_leverage_other_than_one_before_any_call() -> None:
    api = FakeUsdmAccount()
    with pytest.raises(UsdmAccountError, match="1x only"):
        verify_usdm_account(api, "DOGEUSDT", MarginType.CROSSED, leverage=2)
    assert api.calls == []


@pytest.mark.parametrize(
    ("text", "mt"), [("cross", "CROSSED"), ("CROSSED", "CROSSED"), ("isolated", "ISOLATED")]
)
def test_margin_type_spellings(text: str, mt: str) -> None:
    assert MarginType.from_position_risk(text) is MarginType(mt)
    with pytest.raises(ValueError):
        MarginType.from_position_risk("portfolio")


def test_unreadable_margin_type_is_a_refusal() -> None:
    with pytest.raises(UsdmAccountError, match="unknown marginType"):
        verify_usdm_account(FakeUsdmAccount(leverage=1, margin="portfolio"), "DOGEUSDT", MarginType.CROSSED)
