"""The simulated venue's Binance-compatible front (REST, market streams) over the native exchange."""

from pymm.venues.sim.flow import FlowConfig
from pymm.venues.sim.keys import ApiKey, generate_key, load_keys
from pymm.venues.sim.server import LatencyConfig, SimVenue, SimVenueConfig, start_server

__all__ = [
    "ApiKey",
    "FlowConfig",
    "LatencyConfig",
    "SimVenue",
    "SimVenueConfig",
    "generate_key",
    "load_keys",
    "start_server",
]
