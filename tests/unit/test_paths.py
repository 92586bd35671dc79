"""Where files go: a run's directory never leaves the results directory."""

from __future__ import annotations

import stat

import pytest

from hostbench.commands.provision import save_targets
from hostbench.errors import HostbenchError
from hostbench.paths import results_dir, run_dir, stack_state_dir
from hostbench.stack.keys import ensure_stack_key
from hostbench.stack.lock import stack_lock
from hostbench.stack.targets import load_targets_file, saved_targets_file
from tests.unit.fakes import fake_targets


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


def test_a_stack_state_directory_is_private_whatever_makes_it_first(isolated_state):
    with stack_lock("lab", "fab benchmark"):
        pass
    ensure_stack_key("lab")
    assert stat.S_IMODE(stack_state_dir("lab").stat().st_mode) == 0o700


def test_saved_targets_are_private_even_over_a_file_that_was_not(tmp_path):
    targets = load_targets_file(fake_targets(tmp_path, stack="lab"))
    saved = saved_targets_file("lab")
    saved.parent.mkdir(parents=True)
    saved.write_text("{}")
    saved.chmod(0o644)
    save_targets(targets)
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert stat.S_IMODE(saved.parent.stat().st_mode) == 0o700
    assert load_targets_file(saved).stack == "lab"
