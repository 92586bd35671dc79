"""Shared fixtures: every test gets its own state and build directories."""

from pathlib import Path

import pytest

SHARED_SCHEMAS = Path(__file__).resolve().parents[2] / "shared" / "schemas"
LEGACY_DB = Path(__file__).resolve().parent / "data" / "legacy" / "results-format1.sqlite"
"""Written by hostbench at f4e0701 (schema 1, run format 1), before environments were values."""


@pytest.fixture(autouse=True)
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("HOSTBENCH_STATE_DIR", str(state))
    return state
