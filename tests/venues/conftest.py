"""Fixtures: a real simulated venue on an ephemeral loopback port (see ``_harness``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pymm.venues.sim import FlowConfig, SimVenueConfig
from tests.venues._harness import Venue, make_key, run_venue


@pytest.fixture
def venue() -> Iterator[Venue]:
    """A venue with an empty book and two funded accounts (keys 1 and 2)."""
    yield from run_venue(SimVenueConfig(keys=[make_key(1), make_key(2)], maker_bps=1, taker_bps=5))


@pytest.fixture
def busy_venue() -> Iterator[Venue]:
    """A venue whose seeded liquidity provider has quoted (it steps every 50 ms)."""
    cfg = SimVenueConfig(keys=[make_key(1)], flow=FlowConfig(seed=3, interval_s=0.05))
    yield from run_venue(cfg)
