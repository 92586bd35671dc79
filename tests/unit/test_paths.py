"""Where files go: a run's directory never leaves the results directory."""

from __future__ import annotations

import pytest

from hostbench.errors import HostbenchError
from hostbench.paths import results_dir, run_dir, stack_state_dir


def test_a_run_directory_is_under_the_results(monkeypatch, tmp_path):
    monkeypatch.setenv("HOSTBENCH_RESULTS_DIR", str(tmp_path))
    assert run_dir("20261126-150102-3f2a") == tmp_path / "runs" / "20261126-150102-3f2a"
    assert results_dir() == tmp_path


@pytest.mark.parametrize("run_id", ["../..", "..", "a/b", "", "/etc", "."])
def test_a_run_id_that_is_not_one_name_is_refused(run_id):
    with pytest.raises(HostbenchError, match="not a run id"):
        run_dir(run_id)


@pytest.mark.parametrize("stack", ["../../../../tmp/x", "..", "a/b", "", "a\nb", "-x"])
def test_a_stack_name_that_is_not_a_plain_name_never_becomes_a_path(stack):
    with pytest.raises(HostbenchError, match="stack name") as info:
        stack_state_dir(stack)
    assert repr(stack) in str(info.value)
