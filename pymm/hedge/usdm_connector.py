"""The USD-M account check at start: 1x leverage, the configured margin type, one-way mode — or no hedging.

Run once before the hedge service starts (and again after any reconnect). Against a small
:class:`UsdmAccountApi` protocol it reads the account's position mode (``GET
/fapi/v1/positionSide/dual``) and the symbol's leverage, margin type and position
(``GET /fapi/v2/positionRisk``), sets what differs when allowed to, then reads everything back and
returns a :class:`VerifiedUsdmAccount` only if the read-back shows exactly 1x, the configured margin
type and one-way mode (binance_protocol.md §3.3, §3.6). Anything else raises
:class:`UsdmAccountError` naming each failed check; the hedge service cannot be built without a
verified account.

Facts this relies on (binance_protocol.md §3.3/§3.6): the position mode is account-wide and cannot
change while orders (``-4067``) or positions (``-4068``) are open; ``-4059`` means the mode is already
the asked one; ``-4046`` means the margin type is already the asked one; the margin type cannot
change with an open position; ``positionRisk`` v2 reports ``marginType`` as ``"cross"`` or
``"isolated"`` while ``POST /fapi/v1/marginType`` takes ``CROSSED`` or ``ISOLATED``.

The HTTP implementation of :class:`UsdmAccountApi` (signed REST, plus hedge order entry) is
:class:`pymm.venues.binance_usdm.UsdmRestClient`; its tests run this check against the simulated
venue's USD-M front. The unit tests here drive the module with an in-memory fake of the protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

__all__ = [
    "MarginType",
    "UsdmAccountApi",
    "UsdmAccountError",
    "UsdmApiError",
    "VerifiedUsdmAccount",
    "verify_usdm_account",
]

# Binance USD-M answers that mean "already so" (binance_protocol.md §3.3).
NO_NEED_MARGIN_TYPE = -4046
NO_NEED_POSITION_SIDE = -4059
MODE_BLOCKED_BY_ORDERS = -4067
MODE_BLOCKED_BY_POSITION = -4068


class MarginType(StrEnum):
    """The margin type as ``POST /fapi/v1/marginType`` takes it."""

    CROSSED = "CROSSED"
    ISOLATED = "ISOLATED"

    @classmethod
    def from_position_risk(cls, text: str) -> MarginType:
        """``positionRisk``'s ``"cross"``/``"isolated"`` (any case, or the POST spelling) to the enum."""
        t = text.strip().lower()
        if t in ("cross", "crossed"):
            return cls.CROSSED
        if t == "isolated":
            return cls.ISOLATED
        raise ValueError(f"unknown marginType {text!r}")


class UsdmApiError(Exception):
    """The venue answered with an error: ``code`` and ``msg`` as in its JSON body."""

    def __init__(self, code: int, msg: str) -> None:
        """Keep the venue's code and message."""
        super().__init__(code, msg)
        self.code = code
        self.msg = msg


class UsdmAccountApi(Protocol):
    """The USD-M account calls the start-up check needs; each raises :class:`UsdmApiError` on an error."""

    def get_position_side_dual(self) -> Mapping[str, Any]:
        """``GET /fapi/v1/positionSide/dual`` → ``{"dualSidePosition": bool}``."""
        ...

    def set_position_side_dual(self, dual: bool) -> Mapping[str, Any]:
        """``POST /fapi/v1/positionSide/dual`` with ``dualSidePosition``."""
        ...

    def get_position_risk(self, symbol: str) -> Sequence[Mapping[str, Any]]:
        """``GET /fapi/v2/positionRisk?symbol=`` → rows: ``leverage``, ``marginType``, ``positionAmt``..."""
        ...

    def set_leverage(self, symbol: str, leverage: int) -> Mapping[str, Any]:
        """``POST /fapi/v1/leverage`` → ``{"leverage", "maxNotionalValue", "symbol"}``."""
        ...

    def set_margin_type(self, symbol: str, margin_type: str) -> Mapping[str, Any]:
        """``POST /fapi/v1/marginType`` with ``ISOLATED`` or ``CROSSED``."""
        ...


class UsdmAccountError(RuntimeError):
    """The account is not (and could not be made) 1x, the configured margin type and one-way."""

    def __init__(self, symbol: str, problems: Sequence[str], actions: Sequence[str]) -> None:
        """Keep every failed check and every action taken before failing."""
        self.symbol = symbol
        self.problems = list(problems)
        self.actions = list(actions)
        super().__init__(f"USD-M {symbol}: refusing to hedge: " + "; ".join(self.problems))


@dataclass(frozen=True, slots=True)
class VerifiedUsdmAccount:
    """Proof that the read-back showed 1x, the margin type and one-way mode for ``symbol``.

    Attributes:
        symbol: the perp.
        leverage: 1.
        margin_type: as configured.
        position_amt: the position at the check (the position book's opening for the perp).
        actions: what was changed to get there, in order (empty when nothing was).
    """

    symbol: str
    leverage: int
    margin_type: MarginType
    position_amt: Decimal
    actions: tuple[str, ...] = field(default=())


def _margin_of(row: Mapping[str, Any], symbol: str, actions: Sequence[str]) -> MarginType:
    try:
        return MarginType.from_position_risk(str(row.get("marginType", "")))
    except ValueError as e:
        raise UsdmAccountError(symbol, [f"positionRisk: {e}"], actions) from None


def _both_row(rows: Sequence[Mapping[str, Any]], symbol: str) -> Mapping[str, Any]:
    mine = [r for r in rows if r.get("symbol") == symbol]
    if len(mine) != 1:
        raise UsdmAccountError(
            symbol, [f"positionRisk returned {len(mine)} rows for {symbol}, expected 1 (one-way)"], []
        )
    return mine[0]


def verify_usdm_account(
    api: UsdmAccountApi,
    symbol: str,
    margin_type: MarginType,
    *,
    leverage: int = 1,
    allow_changes: bool = True,
) -> VerifiedUsdmAccount:
    """Set (when allowed) and verify one-way mode, ``leverage`` and ``margin_type`` for ``symbol``.

    Args:
        api: the account calls.
        symbol: the perp (``"DOGEUSDT"``).
        margin_type: the configured margin type.
        leverage: must be 1; anything else is refused before any call.
        allow_changes: False only reads and verifies (a dry run); differences are then refusals.

    Returns:
        The verified account.

    Raises:
        UsdmAccountError: a setting is wrong and could not be changed, or the read-back disagrees.
    """
    if leverage != 1:
        raise UsdmAccountError(symbol, [f"configured leverage {leverage}; pymm hedges at 1x only"], [])
    problems: list[str] = []
    actions: list[str] = []

    # 1. Position mode: one-way (dualSidePosition false), account-wide.
    dual = api.get_position_side_dual().get("dualSidePosition")
    if dual is not False:
        if not allow_changes:
            problems.append(f"position mode is hedge (dualSidePosition={dual}); one-way required")
        else:
            try:
                api.set_position_side_dual(False)
                actions.append("set position mode one-way")
            except UsdmApiError as e:
                if e.code != NO_NEED_POSITION_SIDE:
                    why = {
                        MODE_BLOCKED_BY_ORDERS: "open orders exist",
                        MODE_BLOCKED_BY_POSITION: "an open position exists",
                    }.get(e.code, "venue refused")
                    problems.append(f"cannot switch to one-way mode ({why}): {e.code} {e.msg}")

    if problems:  # in hedge mode positionRisk has LONG/SHORT rows: stop before reading them
        raise UsdmAccountError(symbol, problems, actions)

    # 2. Leverage and margin type of the symbol.
    row = _both_row(api.get_position_risk(symbol), symbol)
    current_margin = _margin_of(row, symbol, actions)
    position = Decimal(str(row.get("positionAmt", "0")))
    if current_margin is not margin_type:
        if not allow_changes:
            problems.append(f"margin type is {current_margin}, configured {margin_type}")
        elif position != 0:
            problems.append(
                f"margin type is {current_margin}, configured {margin_type}, and cannot change "
                f"with an open position ({position})"
            )
        else:
            try:
                api.set_margin_type(symbol, margin_type.value)
                actions.append(f"set margin type {margin_type}")
            except UsdmApiError as e:
                if e.code != NO_NEED_MARGIN_TYPE:
                    problems.append(f"cannot set margin type {margin_type}: {e.code} {e.msg}")
    if int(row.get("leverage", 0)) != leverage:
        if not allow_changes:
            problems.append(f"leverage is {row.get('leverage')}x, {leverage}x required")
        else:
            try:
                answer = api.set_leverage(symbol, leverage)
                actions.append(f"set leverage {leverage}x")
                if int(answer.get("leverage", 0)) != leverage:
                    problems.append(f"leverage call answered {answer.get('leverage')}x, asked {leverage}x")
            except UsdmApiError as e:
                problems.append(f"cannot set leverage {leverage}x: {e.code} {e.msg}")
    if problems:
        raise UsdmAccountError(symbol, problems, actions)

    # 3. Read everything back: only the venue's own answer proves the settings.
    dual = api.get_position_side_dual().get("dualSidePosition")
    row = _both_row(api.get_position_risk(symbol), symbol)
    if dual is not False:
        problems.append(f"read-back: dualSidePosition={dual}, one-way required")
    if str(row.get("positionSide", "BOTH")) != "BOTH":
        problems.append(f"read-back: positionSide {row.get('positionSide')}, BOTH required")
    if int(row.get("leverage", 0)) != leverage:
        problems.append(f"read-back: leverage {row.get('leverage')}x, {leverage}x required")
    got_margin = _margin_of(row, symbol, actions)
    if got_margin is not margin_type:
        problems.append(f"read-back: margin type {got_margin}, {margin_type} required")
    if problems:
        raise UsdmAccountError(symbol, problems, actions)
    return VerifiedUsdmAccount(
        symbol=symbol,
        leverage=leverage,
        margin_type=margin_type,
        position_amt=Decimal(str(row.get("positionAmt", "0"))),
        actions=tuple(actions),
    )
