"""Venue protocol facades: the Binance slow-path REST client and the simulated venue's fronts."""
