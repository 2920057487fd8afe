"""Shared fixtures: paths to the real dev recordings and small synthetic media."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEV = (REPO.parent / "shared" / "data" / "dev").resolve()


@pytest.fixture(scope="session")
def dev_data() -> Path:
    """The shared dev recordings (../shared/data/dev); they must exist on every machine that runs the tests."""
    if not DEV.is_dir():
        raise FileNotFoundError(f"Dev recordings not found at {DEV}: the tests need ../shared/data/dev beside the repository.")
    return DEV
