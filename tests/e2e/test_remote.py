"""A remote host for real: a second sshd of this machine (127.0.0.1, its own port, host key and
client key) plays it. `fab up`, `fab parity`, a short `fab benchmark` and `fab down` reach
libvirt, Docker, bare metal and the host-side servers only over SSH (this machine's Docker
socket is hidden from the fab processes), and a fleet of that stack and a local one (a container
beside bare metal, on core 0) benchmarks in parallel. It boots stacks of its own, so it runs
beside the e2e stack's tests (tests/conftest.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import docker
import libvirt
import pytest

from hostbench.commands import provision
from hostbench.image.manifest import ImageManifest
from hostbench.paths import PROJECT_ROOT
from hostbench.provision.plan import ResourcePlan, resource_plan
from hostbench.results.store import Store, StoredRun
from hostbench.stack.host import RemoteHost, close_remote_hosts
from hostbench.stack.spec import StackSpec, load_stack_file
from hostbench.stack.targets import load_targets_file, saved_targets_file
from tests.e2e.conftest import write_stack
from tests.sshd import Sshd, free_port

FAB = str(Path(sys.executable).with_name("fab"))
REMOTE = "remote"
LOCAL = "fleet-local"


def fab(env: dict[str, str], *args: str, timeout: float = 1200) -> subprocess.CompletedProcess:
    return subprocess.run([FAB, *args], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def remote_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    server = Sshd(tmp_path_factory.mktemp("remote-sshd"), free_port()).start()
    yield server
    close_remote_hosts()
    server.stop()


@pytest.fixture(scope="module")
def host_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("remote-host-dir")


@pytest.fixture(scope="module")
def remote_spec(remote_host: Sshd, host_dir: Path, e2e_spec: StackSpec) -> StackSpec:
    """Next to the e2e stack's file: other cores, network and port, and a host."""
    path = write_stack(Path(e2e_spec.source).parent, REMOTE, cores="[0]",
                       network_cidr="192.168.156.0/24", ssh_port=2350,
                       host=remote_host.destination, host_port=remote_host.port,
                       host_identity_file=str(remote_host.client_key), host_dir=str(host_dir))
    return load_stack_file(REMOTE, path)


@pytest.fixture(scope="module")
def env(e2e_spec: StackSpec, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The fab processes' environment: this machine's Docker engine out of reach (only the
    remote host's, over SSH, answers), the e2e state and stack files, results of their own."""
    return {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock",
            "HOSTBENCH_STACKS_DIR": str(Path(e2e_spec.source).parent),
            "HOSTBENCH_RESULTS_DIR": str(tmp_path_factory.mktemp("remote-results")),
            "COLUMNS": "200"}


@pytest.fixture(scope="module")
def remote_plan(remote_spec: StackSpec, image: ImageManifest) -> ResourcePlan:
    return resource_plan(remote_spec, image)


@pytest.fixture(scope="module")
def remote_up(env: dict[str, str], remote_spec: StackSpec, remote_plan: ResourcePlan
              ) -> Iterator[str]:
    """`fab up` through the remote host; `fab down --purge-image` after the module, whatever
    happened."""
    fab(env, "down", "--stack", REMOTE, "--purge-image")  # a killed earlier run's leftovers
    try:
        yield _ok(fab(env, "up", "--stack", REMOTE))
    finally:
        fab(env, "down", "--stack", REMOTE, "--purge-image")


@pytest.fixture(scope="module")
def local_up(remote_spec: StackSpec) -> Iterator[StackSpec]:
    """The fleet's local member: bare metal and a container (no VM to boot), up for the module."""
    path = write_stack(Path(remote_spec.source).parent, LOCAL, cores="[0]", ssh_port=2360,
                       network_cidr="192.168.158.0/24",
                       environments='[{"name": "container", "kind": "container"}]')
    spec = load_stack_file(LOCAL, path)
    provision.down(spec)
    provision.up(spec)
    yield spec
    provision.down(spec)


def test_setup_prepares_the_host_over_ssh(remote_host, tmp_path):
    """`scripts/setup --host`: packages checked and daemons ensured on the host itself."""
    proc = subprocess.run(
        ["scripts/setup", "--host", remote_host.destination, "--port", str(remote_host.port),
         "--identity", str(remote_host.client_key),
         "--ssh-option", f"UserKnownHostsFile={tmp_path / 'known_hosts'}"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    out = _ok(proc)
    for daemon in ("dockerd", "virtlogd", "libvirtd"):
        assert re.search(rf"\[setup\] {daemon}: (already running|started)", out), out
    assert f"host {remote_host.destination} is ready" in out


def _leftovers(plan: ResourcePlan, host_dir: Path) -> list[str]:
    conn = libvirt.open("qemu:///system")
    found = [f"domain {d.name()}" for d in conn.listAllDomains()
             if d.name().startswith(plan.prefix)]
    found += [f"network {n.name()}" for n in conn.listAllNetworks()
              if n.name().startswith(plan.prefix)]
    found += [f"pool {p.name()}" for p in conn.listAllStoragePools()
              if p.name() in (plan.pool, plan.image_pool)]
    found += [f"container {c.name}" for c in docker.from_env().containers.list(
        all=True, filters={"label": f"hostbench.stack={REMOTE}"})]
    found += [f"file {p}" for p in host_dir.rglob("*") if not p.is_dir()]
    rules = subprocess.run(["iptables", "-S", "INPUT"], capture_output=True, text=True).stdout
    found += [f"firewall rule {line}" for line in rules.splitlines()
              if f"hostbench:{REMOTE}" in line]
    return found


def test_up_delivers_the_image_once_and_every_environment_answers(
        remote_up, env, remote_spec, remote_plan, host_dir, image):
    assert f"image on {remote_spec.machine.label}: sent image tree" in remote_up
    targets = load_targets_file(saved_targets_file(REMOTE))
    assert targets.targets["bare"].rootfs == str(host_dir / "images" / image.hash[:16] / "rootfs")
    assert Path(targets.targets["bare"].rootfs, "usr/bin/sysbench").exists()
    assert _leftovers(remote_plan, host_dir) != []  # the check sees the stack...
    again = _ok(fab(env, "deliver", "--stack", REMOTE))
    assert "already there (nothing sent)" in again  # checked by content hash


def test_parity_and_a_short_benchmark_go_through_the_host(remote_up, env, remote_host):
    assert "parity ok" in _ok(fab(env, "parity", "--stack", REMOTE))
    _ok(fab(env, "benchmark", "--stack", REMOTE, "--suite", "smoke", "--workload",
            "cpu-sysbench,net-iperf3", "--repeat", "1", "--warmup", "0"))
    with Store(Path(env["HOSTBENCH_RESULTS_DIR"]) / "hostbench.sqlite") as store:
        run = store.load(store.latest_run_id() or "")
    assert run.record.stack == REMOTE and run.record.status == "complete"
    assert {(t.workload, t.env) for t in run.trials if t.status == "ok"} == {
        (w, e) for w in ("cpu-sysbench", "net-iperf3") for e in ("bare", "vm", "container")}
    facts = run.record.host
    assert facts is not None
    assert facts.reached == f"{remote_host.destination}:{remote_host.port}"
    assert facts.libvirt_uri.startswith(f"qemu+ssh://root@127.0.0.1:{remote_host.port}/system?")
    assert facts.docker.startswith(f"ssh://root@127.0.0.1:{remote_host.port}")
    assert "runc" in facts.container_runtimes  # read from the engine behind the SSH socket


def _measuring(run: StoredRun) -> tuple[datetime, datetime]:
    """When a run measured: its parity and trials, the wall time it stored before it finished
    (its record is made only after parity, which over SSH to the remote host can take longer
    than the local member's whole run)."""
    assert run.record.finished_at is not None and run.record.wall_seconds is not None
    end = datetime.fromisoformat(run.record.finished_at)
    return end - timedelta(seconds=run.record.wall_seconds), end


def test_a_fleet_of_a_local_and_a_remote_stack_benchmarks_in_parallel(
        remote_up, local_up, env, remote_host):
    # ten trials a member: the remote member's set-up over SSH takes seconds longer than the
    # local one's, which with two trials could finish before the remote one began measuring
    out = _ok(fab(env, "benchmark", "--stack", f"{LOCAL},{REMOTE}", "--suite", "smoke",
                  "--workload", "cpu-sysbench", "--env", "bare,container", "--repeat", "4",
                  "--warmup", "1"))
    run_ids = {stack: re.search(rf"^{stack}: done, run (\S+);", out, re.M)
               for stack in (LOCAL, REMOTE)}
    assert all(run_ids.values()), out
    with Store(Path(env["HOSTBENCH_RESULTS_DIR"]) / "hostbench.sqlite") as store:
        runs = [store.load(m.group(1)) for m in run_ids.values() if m]
    assert [r.record.status for r in runs] == ["complete", "complete"]
    assert [r.record.host.reached for r in runs if r.record.host] == [
        "this machine", f"{remote_host.destination}:{remote_host.port}"]
    spans = [_measuring(r) for r in runs]
    assert max(start for start, _ in spans) < min(end for _, end in spans)  # they overlapped
    shown = _ok(fab(env, "compare", *(r.id for r in runs), "--hosts"))
    assert "this machine" in shown and f"127.0.0.1:{remote_host.port}" in shown
    assert "cpu-sysbench" in shown and "not measured" not in shown
    assert "fleet report:" in out and "fleet report:" in shown


def test_down_leaves_nothing_on_the_host(remote_up, env, remote_spec, remote_plan, host_dir):
    _ok(fab(env, "down", "--stack", REMOTE, "--purge-image"))
    assert _leftovers(remote_plan, host_dir) == []
    assert not host_dir.exists(), "hostbench's emptied directories stayed on the host"
    assert not saved_targets_file(REMOTE).exists()
    host = remote_spec.machine
    assert isinstance(host, RemoteHost)
    master = subprocess.run(host.ssh_argv("-O", "check", host.destination), capture_output=True,
                            text=True)
    assert master.returncode != 0, "the SSH connection to the host outlived the fab processes"
    assert subprocess.run(["pgrep", "-af", f"ssh -F .*/stacks/{REMOTE}/host/ssh_config"],
                          capture_output=True, text=True).stdout == ""
