"""Shared fixtures: every test gets its own state and build directories."""

from pathlib import Path

import pytest

SHARED_SCHEMAS = Path(__file__).resolve().parents[2] / "shared" / "schemas"


@pytest.fixture(autouse=True)
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("HOSTBENCH_STATE_DIR", str(state))
    return state
