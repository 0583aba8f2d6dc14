"""Test harnesses shared by the test suite and the engine's acceptance tests."""
