"""An operator's bad day, for real, on the session's stack: a disk that fills mid-run and a
terminal hung up on. Each ends with a message, loses nothing stored, leaves nothing running, and
`--resume` completes (`fab up` and `fab down` under faults: test_up_down_faults.py)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from hostbench.paths import PROJECT_ROOT
from hostbench.polling import wait_until
from hostbench.provision.plan import ResourcePlan
from hostbench.results.store import Store
from hostbench.stack.spec import StackSpec
from tests.e2e.test_benchmark import fab_argv
from tests.unit.fakes import fill

SHORT_RUN = ("benchmark", "--workload", "cpu-sysbench", "--repeat", "2", "--warmup", "0")


@pytest.fixture(scope="module")
def env(stack: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The fab processes' environment: the session's state, results of this module's own."""
    return {**os.environ, "HOSTBENCH_STATE_DIR": os.environ["HOSTBENCH_STATE_DIR"],
            "HOSTBENCH_RESULTS_DIR": str(tmp_path_factory.mktemp("results")), "COLUMNS": "160"}


def _as_at_a_terminal() -> None:
    """INT, TERM and HUP as a terminal's process gets them, even where this suite runs with
    some ignored (a background job, nohup), which fab would otherwise inherit and keep."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def _start(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, preexec_fn=_as_at_a_terminal)


def _read_until(proc: subprocess.Popen[str], marker: str, seen: list[str]) -> None:
    """Read the process's output into ``seen`` until a line holds ``marker``."""
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            return
    raise AssertionError(f"{marker!r} never came:\n{''.join(seen)[-3000:]}")


def _finish(proc: subprocess.Popen[str], seen: list[str], timeout: float = 120) -> str:
    """Everything the process still says, once it has ended."""
    rest, _ = proc.communicate(timeout=timeout)
    return "".join(seen) + rest


def _signalled_once(proc: subprocess.Popen[str], ready: Callable[[], object], never: str,
                    how: signal.Signals, timeout: float, interval: float) -> str:
    """Sends ``how`` once ``ready()`` holds (``never``: the message if the process ends
    first), and returns everything it said by its end; it is killed if anything fails."""
    try:
        wait_until(lambda: ready() or proc.poll() is not None, timeout, interval)
        assert ready(), never
        proc.send_signal(how)
        return _finish(proc, [])
    finally:
        proc.kill()


def _latest(env: dict[str, str]) -> str:
    with Store(Path(env["HOSTBENCH_RESULTS_DIR"]) / "hostbench.sqlite") as store:
        run_id = store.latest_run_id()
    assert run_id is not None
    return run_id


def _stored(env: dict[str, str], run_id: str):
    with Store(Path(env["HOSTBENCH_RESULTS_DIR"]) / "hostbench.sqlite") as store:
        return store.load(run_id)


def _nothing_paused_or_running(plan: ResourcePlan) -> None:
    """Every VM and container of the stack runs (none is left paused), and no workload does."""
    for vm in plan.vms:
        state = subprocess.run(["virsh", "domstate", vm.domain], capture_output=True,
                               text=True).stdout.strip()
        assert state == "running", f"{vm.domain}: {state}"
    engine = docker.from_env()
    for ctr in plan.containers:
        assert engine.containers.get(ctr.name).attrs["State"]["Paused"] is False, ctr.name
    assert not _sysbench_running()


def _sysbench_running() -> bool:
    return subprocess.run(["pgrep", "-f", "sysbench cpu --threads"],
                          capture_output=True).returncode == 0


def _resume(env: dict[str, str], spec: StackSpec, run_id: str) -> None:
    resumed = subprocess.run(fab_argv(spec, "benchmark", "--resume", run_id), cwd=PROJECT_ROOT,
                             env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    run = _stored(env, run_id)
    assert run.record.status == "complete" and run.missing() == []


def test_a_disk_that_fills_mid_run_ends_it_with_the_stores_message_and_resume_completes(
        env, e2e_spec, e2e_plan, tiny_disk):
    on_tiny = {**env, "HOSTBENCH_RESULTS_DIR": str(tiny_disk)}
    seen: list[str] = []
    proc = _start(fab_argv(e2e_spec, *SHORT_RUN, "--env", "bare,container"), on_tiny)
    try:
        _read_until(proc, ": ok", seen)
        filler = fill(tiny_disk)
        output = _finish(proc, seen)
    finally:
        proc.kill()
    assert proc.returncode == 1, output[-3000:]
    assert "cannot write" in output and "Free space" in output and "--resume" in output
    assert "Traceback" not in output
    filler.unlink()
    run_id = _latest(on_tiny)
    kept = _stored(on_tiny, run_id).completed_keys()
    assert kept  # the trial stored before the disk filled
    _nothing_paused_or_running(e2e_plan)
    _resume(on_tiny, e2e_spec, run_id)
    assert kept <= _stored(on_tiny, run_id).completed_keys()


def test_a_hang_up_mid_benchmark_resumes_the_neighbours_and_resume_completes(
        env, e2e_spec, e2e_plan):
    proc = _start(fab_argv(e2e_spec, *SHORT_RUN, "--env", "bare"), env)
    output = _signalled_once(proc, _sysbench_running, "the trial never started", signal.SIGHUP,
                             300, 0.1)
    assert proc.returncode == 128 + signal.SIGHUP, output[-3000:]
    assert "stopped by SIGHUP" in output and "--resume" in output
    run_id = _latest(env)
    assert _stored(env, run_id).record.status == "interrupted"
    _nothing_paused_or_running(e2e_plan)
    _resume(env, e2e_spec, run_id)
