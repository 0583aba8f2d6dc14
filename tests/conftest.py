"""Shared fixtures: where recorded data lives, and how a test that needs it behaves without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """`$PYMM_DATA_DIR` (default ../shared/data): fails under CI=true when absent, else skips."""
    path = Path(os.environ.get("PYMM_DATA_DIR", REPO.parent / "shared" / "data"))
    if not (path / "README.md").is_file():
        msg = f"recorded data not found at {path} (set PYMM_DATA_DIR)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path
