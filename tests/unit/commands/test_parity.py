"""The parity check's reading of facts: every environment at once, failures kept whole."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from hostbench.commands.parity import _collect
from hostbench.reach.executors import ExecResult, StopRequest
from hostbench.run.facts import FactsError
from hostbench.stack.targets import Target
from tests.unit.fakes import FakeExecutor, fake_targets, load


class WaitingExecutor(FakeExecutor):
    """Answers the facts script only once every environment has been asked (or never, when
    they are asked one after another)."""

    def __init__(self, target: Target, barrier: threading.Barrier, exit_code: int = 0) -> None:
        super().__init__(target)
        self.barrier, self.exit_code = barrier, exit_code

    def run(self, argv: list[str], timeout: float, stop: StopRequest | None = None
            ) -> ExecResult:
        self.barrier.wait(timeout=5)
        result = super().run(argv, timeout)
        return ExecResult(result.stdout, "no facts", self.exit_code, 0.01, 0.02)


def _executors(tmp_path: Path, failing: str = "") -> tuple[dict, dict]:
    chosen = load(fake_targets(tmp_path)).targets
    barrier = threading.Barrier(len(chosen))
    return chosen, {name: WaitingExecutor(target, barrier, 1 if name == failing else 0)
                    for name, target in chosen.items()}


def test_facts_are_read_in_every_environment_at_once(tmp_path: Path) -> None:
    chosen, executors = _executors(tmp_path)
    found = _collect(chosen, executors, ["sysbench"])
    assert list(found) == list(executors)
    assert {name: f.nproc for name, f in found.items()} == {name: 1 for name in executors}


def test_a_failure_in_one_environment_is_raised_naming_it(tmp_path: Path) -> None:
    chosen, executors = _executors(tmp_path, failing="vm")
    with pytest.raises(FactsError, match=r"^vm: reading facts failed"):
        _collect(chosen, executors, ["sysbench"])
