"""S5 hedging: keep the spot inventory's delta neutral with the USD-M perpetual at 1x.

Pure Python, engine-independent; one module per component (docs/hedging.md):

- :mod:`~pymm.hedge.delta_bus` — fills from any venue → sequenced :class:`DeltaEvent` s;
- :mod:`~pymm.hedge.position_book` — positions per venue and instrument, reconciled with a drop copy;
- :mod:`~pymm.hedge.drop_copy` — the user streams' executions and positions as that drop copy;
- :mod:`~pymm.hedge.mode_controller` — passive / active / emergency by delta band and age;
- :mod:`~pymm.hedge.planner` — post-only GTX (passive) and collared IOC (active) perp orders;
- :mod:`~pymm.hedge.router` — which instrument hedges which exposure (spot → USD-M perp, 1x);
- :mod:`~pymm.hedge.governor` — order size, position, rate and the funding rule;
- :mod:`~pymm.hedge.service` — the wiring, in-flight and UNKNOWN orders, hedge latency;
- :mod:`~pymm.hedge.usdm_connector` — the start-up check: 1x, margin type, one-way, or refuse.
"""

from __future__ import annotations

from pymm.hedge.delta_bus import DeltaBus, DeltaEvent, Fill, Market, Side
from pymm.hedge.drop_copy import DropCopyCollector, fill_from_execution_report, fill_from_order_trade_update
from pymm.hedge.governor import FundingState, GovernorDecision, GovernorLimits, HedgeGovernor, TokenBucket
from pymm.hedge.mode_controller import HedgeBands, HedgeMode, ModeController, ModeDecision
from pymm.hedge.planner import ActivePlanner, HedgePlan, PassivePlanner, PerpMarket, PlanRefused
from pymm.hedge.position_book import (
    BreakKind,
    DropCopySnapshot,
    PositionAdjustment,
    PositionBook,
    PositionKey,
    ReconciliationBreak,
    ReconciliationReport,
)
from pymm.hedge.router import HedgeRoute, HedgeRouter, NoRouteError
from pymm.hedge.service import (
    HedgeOrder,
    HedgeService,
    InFlightOrder,
    OrderSender,
    OrderStatus,
    OrderUpdate,
)
from pymm.hedge.usdm_connector import (
    MarginType,
    UsdmAccountApi,
    UsdmAccountError,
    UsdmApiError,
    VerifiedUsdmAccount,
    verify_usdm_account,
)

__all__ = [
    "ActivePlanner",
    "BreakKind",
    "DeltaBus",
    "DeltaEvent",
    "DropCopyCollector",
    "DropCopySnapshot",
    "Fill",
    "FundingState",
    "GovernorDecision",
    "GovernorLimits",
    "HedgeBands",
    "HedgeGovernor",
    "HedgeMode",
    "HedgeOrder",
    "HedgePlan",
    "HedgeRoute",
    "HedgeRouter",
    "HedgeService",
    "InFlightOrder",
    "MarginType",
    "Market",
    "ModeController",
    "ModeDecision",
    "NoRouteError",
    "OrderSender",
    "OrderStatus",
    "OrderUpdate",
    "PassivePlanner",
    "PerpMarket",
    "PlanRefused",
    "PositionAdjustment",
    "PositionBook",
    "PositionKey",
    "ReconciliationBreak",
    "ReconciliationReport",
    "Side",
    "TokenBucket",
    "UsdmAccountApi",
    "UsdmAccountError",
    "UsdmApiError",
    "VerifiedUsdmAccount",
    "fill_from_execution_report",
    "fill_from_order_trade_update",
    "verify_usdm_account",
]
