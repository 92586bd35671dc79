"""Adding up a run's orchestration by phase, and saying it in a line."""

from __future__ import annotations

import time

import pytest

from hostbench.run.phases import PHASES, Phases, breakdown, with_other


def test_phases_add_up_and_time_their_blocks() -> None:
    phases = Phases()
    phases.add("stores", 0.5)
    phases.add("stores", 0.25)
    phases.add("transport", -0.01)  # a command measured longer inside than from outside
    with phases.timed("parity"):
        time.sleep(0.02)
    assert phases.seconds["stores"] == 0.75 and phases.seconds["transport"] == 0.0
    assert 0.02 <= phases.seconds["parity"] < 1.0


def test_an_unknown_phase_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown orchestration phase 'ssh'"):
        Phases().add("ssh", 1.0)


def test_what_no_phase_covers_is_other_and_never_negative() -> None:
    measured = {"transport": 3.0, "parity": 2.0, "other": 9.0}
    assert with_other(measured, 6.5) == {"parity": 2.0, "transport": 3.0, "other": 1.5}
    assert with_other(measured, 4.0)["other"] == 0.0
    assert list(with_other(measured, 6.5)) == [p for p in PHASES if p in measured]


def test_the_line_names_the_largest_phases_first() -> None:
    line = breakdown({"stores": 0.04, "transport": 12.06, "parity": 3.2, "other": 0.01,
                      "servers": 8.0}, limit=4)
    assert line == "transport 12.1s, servers 8.0s, parity 3.2s, stores 40ms"
