"""The optional ``[hedge]`` config section (pymm.config.HedgeConfig)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from pymm.config import DEFAULT_CONFIG, HedgeConfig, load_config
from pymm.errors import ConfigError


def _without_hedge() -> str:
    """The default config with its ``[hedge]`` section (the file's last) cut off."""
    text = DEFAULT_CONFIG.read_text(encoding="utf-8").replace(
        '"instruments/', f'"{DEFAULT_CONFIG.parent}/instruments/'
    )
    return text[: text.index("\n[hedge]\n")].rsplit("\n#", 3)[0] + "\n"


def _with_hedge(tmp_path: Path, section: str) -> Path:
    p = tmp_path / "c.toml"
    p.write_text(_without_hedge() + "\n[hedge]\n" + section)
    return p


def test_section_is_optional(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text(_without_hedge())
    assert load_config(p).hedge is None


def test_the_default_config_hedges() -> None:
    h = load_config(DEFAULT_CONFIG).hedge
    assert h is not None and h.leverage == 1 and h.hedge_venue == "binance-usdm"


def test_defaults_and_exact_decimals(tmp_path: Path) -> None:
    cfg = load_config(
        _with_hedge(tmp_path, 'max_order_qty = "50000"\nmax_position_qty = 2000000\ncollar_bps = "12.5"\n')
    )
    h = cfg.hedge
    assert h is not None
    assert h.collar_bps == Decimal("12.5") and h.max_order_qty == Decimal(50_000)
    assert (h.no_trade_band, h.active_band, h.hard_band) == (Decimal(10), Decimal(150), Decimal(1500))
    assert (h.margin_type, h.leverage, h.hedge_venue) == ("CROSSED", 1, "binance-usdm")
    assert (h.gateway, h.max_order_notional, h.max_position_notional) == ("python", None, None)


def test_gateway_choice(tmp_path: Path) -> None:
    cfg = load_config(
        _with_hedge(
            tmp_path,
            'max_order_qty = 1\nmax_position_qty = 1\ngateway = "native"\nmax_position_notional = "8000"\n',
        )
    )
    h = cfg.hedge
    assert h is not None and h.gateway == "native" and h.max_position_notional == Decimal(8000)


def test_risk_limits_have_no_default() -> None:
    with pytest.raises(ValueError, match="max_order_qty"):
        HedgeConfig(max_position_qty=Decimal(1))  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("leverage = 2", "hedge.leverage"),
        ('margin_type = "PORTFOLIO"', "hedge.margin_type"),
        ("active_band = 5", "hedge"),  # not above no_trade_band = 10
        ("hard_band = 100", "hedge"),  # not above active_band = 150
        ("collar_bps = 0", "hedge.collar_bps"),
        ("bogus = 1", "hedge.bogus"),
        ('hedge_venue = "binance-spot"', "hedge.hedge_venue"),
        ('gateway = "rust"', "hedge.gateway"),
        ('max_order_notional = "0"', "hedge.max_order_notional"),
        ("gateway_request_timeout_ms = 10", "hedge.gateway_request_timeout_ms"),
    ],
)
def test_refusals_name_the_field(tmp_path: Path, line: str, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_with_hedge(tmp_path, f"max_order_qty = 1\nmax_position_qty = 1\n{line}\n"))
    assert field in [path for path, _ in info.value.errors]
