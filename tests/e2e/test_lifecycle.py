"""`fab lifecycle` for real on a stack of its own: a create-to-ready cycle of a TCG VM and of a
container, their idle footprint, density up to 2 of each, stored, reported and exported; and
Ctrl-C during density. Afterwards nothing of the stack is left. One round: rounds rotating, and
a failed cycle costing only itself, are tested on fake instances (tests/unit/run/test_lifecycle.py);
a second real round was a TCG boot more (40 s) on the path that decides how long CI takes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from hostbench.polling import wait_until
from hostbench.provision.plan import ResourcePlan, resource_plan
from hostbench.results.store import Store, StoredRun
from hostbench.run.lifecycle_metrics import DENSITY, DENSITY_STEP, FOOTPRINT, READY, SETUP
from hostbench.stack.spec import load_stack_file
from tests.e2e.conftest import write_stack
from tests.e2e.test_teardown import _leftovers

FAB = str(Path(sys.executable).with_name("fab"))
STACK = "lifecycle"
LIFECYCLE = [FAB, "lifecycle", "--stack", STACK, "--idle-window", "1"]


@pytest.fixture(scope="module")
def lab(image, e2e_state, tmp_path_factory) -> dict[str, str]:
    """The environment `fab` runs in: the lifecycle stack's config and its own results."""
    stacks = tmp_path_factory.mktemp("stacks")
    write_stack(stacks, STACK, cores="[0]", ssh_port=2330, network_cidr="192.168.153.0/24",
                memory_mib=512)
    return {**os.environ, "HOSTBENCH_STACKS_DIR": str(stacks),
            "HOSTBENCH_RESULTS_DIR": str(tmp_path_factory.mktemp("results"))}


@pytest.fixture(scope="module")
def plan(image, lab) -> ResourcePlan:
    spec = load_stack_file(STACK, Path(lab["HOSTBENCH_STACKS_DIR"]) / f"Pulumi.{STACK}.yaml")
    return resource_plan(spec, image)


def _latest(lab: dict[str, str]) -> StoredRun:
    with Store(Path(lab["HOSTBENCH_RESULTS_DIR"]) / "hostbench.sqlite") as store:
        run_id = store.latest_run_id()
        assert run_id is not None
        return store.load(run_id)


@pytest.fixture(scope="module")
def measured(lab) -> tuple[subprocess.CompletedProcess[str], StoredRun]:
    proc = subprocess.run([*LIFECYCLE, "--settle", "1", "--repeat", "1", "--density",
                           "--density-max", "2"],
                          env=lab, capture_output=True, text=True, timeout=1800)
    return proc, _latest(lab)


def test_lifecycle_measures_each_step_of_both_kinds_and_removes_everything(measured, plan):
    proc, run = measured
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert run.record.purpose == "lifecycle" and run.record.status == "complete"
    assert [e.name for e in run.record.environments] == ["bare", "vm", "container"]
    for env in ("vm", "container"):
        cycles = [t for t in run.trials if t.workload == READY and t.env == env]
        assert [t.status for t in cycles] == ["ok"]
        for t in cycles:
            steps = {s.metric: s.value for s in t.samples}
            assert all(steps[k] >= 0 for k in steps) and steps["remove_s"] > 0
            assert steps["ready_s"] == pytest.approx(sum(
                steps[k] for k in ("create_s", "start_s", "address_s", "sshd_s", "login_s")))
        footprint = [{s.metric: s.value for s in t.samples} for t in run.trials
                     if t.workload == FOOTPRINT and t.env == env]
        assert len(footprint) == 1 and all(f["memory_mib"] > 0 and f["disk_mib"] > 0
                                           for f in footprint)
    ready = {env: [s.value for s in run.measured() if s.workload == READY and s.env == env
                   and s.metric == "ready_s"] for env in ("vm", "container")}
    assert min(ready["vm"]) > max(ready["container"])  # a TCG boot against a process start
    assert {s.metric for s in run.measured() if s.workload == SETUP} == {
        "network_s", "pool_s", "image_import_s"}
    assert "time to ready" in proc.stdout and "TCG" in proc.stdout
    assert _leftovers(plan) == []


def test_density_reaches_two_of_each_and_every_instance_answers(measured):
    _, run = measured
    settings = run.record.lifecycle
    assert settings is not None and settings.ksm and settings.density_memory_mib == 256
    assert {(o.env, o.instances) for o in settings.density_outcomes} == {("vm", 2),
                                                                          ("container", 2)}
    for env in ("vm", "container"):
        steps = {t.trial: {s.metric: s.value for s in t.samples} for t in run.trials
                 if t.workload == DENSITY_STEP and t.env == env}
        assert sorted(steps) == [1, 2] and all(s["answering"] == n for n, s in steps.items())
        started = [t for t in run.trials if t.workload == DENSITY and t.env == env]
        assert [t.trial for t in started] == [1, 2] and all(t.status == "ok" for t in started)


def test_the_report_and_exports_are_written(measured, lab):
    _, run = measured
    folder = Path(lab["HOSTBENCH_RESULTS_DIR"]) / "runs" / run.id
    html = (folder / "report.html").read_text()
    assert "Time to ready" in html and "Density" in html and "tcg-banner" in html
    exported = (folder / "samples.csv").read_text()
    assert exported.count(f",{DENSITY},") == 2 * 2 * 7  # 2 instances of 2 kinds, 7 values each


def test_ctrl_c_during_density_removes_everything_it_started(lab, plan):
    proc = subprocess.Popen([*LIFECYCLE, "--env", "container", "--repeat", "1", "--density",
                             "--density-max", "8", "--settle", "5"], env=lab,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    engine = docker.from_env()
    try:
        def two_extra() -> bool:
            extra = [c.name for c in engine.containers.list(
                filters={"label": f"hostbench.stack={STACK}"}) if "-x" in c.name]
            assert len(extra) >= 2 or proc.poll() is None, "fab ended before density's second"
            return len(extra) >= 2

        assert wait_until(two_extra, 300, 0.2), "density never had two instances running"
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, output[-3000:]
    run = _latest(lab)
    assert run.record.status == "interrupted"
    assert [t.trial for t in run.trials if t.workload == DENSITY and t.status == "ok"]
    assert _leftovers(plan) == []
