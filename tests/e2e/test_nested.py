"""A container inside a VM for real: a stack whose only environment is a TCG VM running its
workloads in a Docker container in its guest. `fab up`'s code brings it up; the workloads are
seen from inside to run in that container, pinned and limited as declared; parity and the smoke
suite go through; `fab down` leaves nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from hostbench.commands import provision
from hostbench.commands.connections import access
from hostbench.paths import PROJECT_ROOT
from hostbench.provision.plan import NESTED_CONTAINER, ResourcePlan, resource_plan
from hostbench.reach.executors import executor_for
from hostbench.results.store import Store
from hostbench.run.workloads import load_catalogue
from hostbench.stack.spec import load_stack_file
from hostbench.stack.targets import Targets, saved_targets_file
from tests.e2e.conftest import own_stack, ssh_output

FAB = str(Path(sys.executable).with_name("fab"))
STACK = "inner"
ENV = "container-in-vm"


@pytest.fixture(scope="module")
def nested(image, e2e_state, tmp_path_factory) -> Iterator[tuple[ResourcePlan, Targets]]:
    environments = [{"name": ENV, "kind": "vm", "options": {"workloads": "container"}}]
    with own_stack(tmp_path_factory.mktemp("stacks"), STACK, cores="[0]", ssh_port=2320,
                   network_cidr="192.168.153.0/24", environments=json.dumps(environments)
                   ) as (spec, targets):
        yield resource_plan(spec, image), targets


def _inside(targets: Targets, command: str) -> str:
    """``command`` where the environment's workloads run: in the container."""
    executor = executor_for(targets.targets[ENV], access(targets))
    try:
        result = executor.run(["sh", "-c", command], 60)
    finally:
        executor.close()
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_the_workloads_run_in_a_container_pinned_and_limited_inside_the_guest(nested):
    _, targets = nested
    assert _inside(targets, "systemd-detect-virt --container || true").strip() == "docker"
    assert ssh_output(targets, ENV, "systemd-detect-virt --container || true").strip() == "none"
    assert ssh_output(targets, ENV, "systemd-detect-virt --vm").strip() == "qemu"
    info = json.loads(ssh_output(targets, ENV, f"docker inspect {NESTED_CONTAINER}"))[0]
    host = info["HostConfig"]
    assert (host["CpusetCpus"], host["Memory"], host["MemorySwap"]) == ("0", 1024**3, 1024**3)
    usr = next(m for m in info["Mounts"] if m["Destination"] == "/usr")
    assert usr["Source"] == "/usr" and usr["RW"] is False  # the image's binaries, one copy
    # the guest's Docker engine runs only because this VM declares a container
    assert ssh_output(targets, ENV, "systemctl is-active docker").strip() == "active"


def test_parity_and_the_smoke_suite_go_through_the_container(nested, tmp_path):
    env = {**os.environ, "HOSTBENCH_RESULTS_DIR": str(tmp_path), "COLUMNS": "200"}
    targets_file = str(saved_targets_file(STACK))
    proc = subprocess.run([FAB, "parity", "--targets-file", targets_file], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "parity ok" in proc.stdout, proc.stdout[-3000:]
    proc = subprocess.run([FAB, "benchmark", "--targets-file", targets_file, "--suite", "smoke",
                           "--repeat", "1", "--warmup", "0"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=1500)
    with Store(tmp_path / "hostbench.sqlite") as store:
        run_id = store.latest_run_id()
        assert run_id is not None, proc.stdout[-3000:] + proc.stderr[-2000:]
        run = store.load(run_id)
    failed = [(t.workload, t.env, t.error) for t in run.failed_trials()]
    assert proc.returncode == 0 and not failed, (failed, proc.stdout[-3000:])
    smoke = {w.name for w in load_catalogue().values() if w.in_suite("smoke")}
    assert {t.workload for t in run.trials if t.env == ENV} == smoke


def test_down_removes_the_vm_and_the_container_with_it(nested):
    plan, _ = nested
    provision.down(load_stack_file(STACK, Path(plan.spec.source)))
    conn = libvirt.open(plan.libvirt_uri)
    assert not [d for d in conn.listAllDomains() if d.name().startswith(plan.prefix)]
    assert not [p for p in conn.listAllStoragePools() if p.name() == plan.pool]
    assert not [n for n in conn.listAllNetworks() if n.name() == plan.network.name]
    assert not plan.pool_path.exists()
