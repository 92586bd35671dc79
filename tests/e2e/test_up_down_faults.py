"""An operator's bad day for `fab up` and `fab down`, for real, on a stack of one container (no
VM to boot) of their own: `fab up` terminated half-way, libvirtd stopped under `fab down`. Each
ends with a message, leaves nothing running, and a second `fab down` completes. They boot
nothing of the session's stack, so they run beside it (tests/conftest.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator

import docker
import pytest

from hostbench.image.manifest import ImageManifest
from hostbench.paths import PROJECT_ROOT, build_dir
from hostbench.provision.libvirt_backend import OPEN_TIMEOUT_S
from hostbench.stack.targets import saved_targets_file
from tests.e2e.conftest import write_stack
from tests.e2e.test_bad_day import _signalled_once, _start
from tests.e2e.test_benchmark import FAB

CONTAINER_ONLY = "e2e-ctr"


@pytest.fixture(scope="module")
def container_only(image: ImageManifest, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[dict[str, str]]:
    """The environment of `fab up` and `down` for a stack of one container, and no VM."""
    stacks = tmp_path_factory.mktemp("stacks-ctr")
    write_stack(stacks, CONTAINER_ONLY, ssh_port=2296, network_cidr="192.168.157.0/24",
                environments=json.dumps([{"name": "container", "kind": "container"}]))
    env = {**os.environ, "HOSTBENCH_STACKS_DIR": str(stacks),
           "HOSTBENCH_BUILD_DIR": str(build_dir())}
    yield env
    subprocess.run([FAB, "down", "--stack", CONTAINER_ONLY], cwd=PROJECT_ROOT, env=env,
                   capture_output=True, timeout=300)


def _containers(stack: str) -> list[str]:
    """The stack's containers, from one listing: inspecting each, as the high-level client
    does, races a removal under way (a container listed and gone before it is inspected)."""
    listed = docker.from_env().api.containers(
        all=True, filters={"label": f"hostbench.stack={stack}"})
    return [name.lstrip("/") for c in listed for name in c["Names"]]


def test_a_terminated_fab_up_removes_what_it_had_created(container_only):
    proc = _start([FAB, "up", "--stack", CONTAINER_ONLY], container_only)
    output = _signalled_once(proc, lambda: _containers(CONTAINER_ONLY),
                             "fab up never created its container", signal.SIGTERM, 120, 0.05)
    assert proc.returncode == 128 + signal.SIGTERM, output[-3000:]
    assert "removing what was created" in output and "stopped by SIGTERM" in output
    assert _containers(CONTAINER_ONLY) == []
    assert not saved_targets_file(CONTAINER_ONLY).exists()


def _libvirtd() -> int:
    found = subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True, text=True).stdout
    return int(found.split()[0])


@pytest.mark.disrupts_daemons
def test_fab_down_with_libvirtd_stopped_ends_naming_it_and_a_second_down_completes(
        container_only):
    up = subprocess.run([FAB, "up", "--stack", CONTAINER_ONLY], cwd=PROJECT_ROOT,
                        env=container_only, capture_output=True, text=True, timeout=300)
    assert up.returncode == 0, up.stderr[-2000:]
    libvirtd = _libvirtd()
    os.kill(libvirtd, signal.SIGSTOP)
    try:
        started = time.monotonic()
        down = subprocess.run([FAB, "down", "--stack", CONTAINER_ONLY], cwd=PROJECT_ROOT,
                              env=container_only, capture_output=True, text=True,
                              timeout=OPEN_TIMEOUT_S + 60)
        took = time.monotonic() - started
    finally:
        os.kill(libvirtd, signal.SIGCONT)
    assert down.returncode == 1 and took < OPEN_TIMEOUT_S + 30, down.stderr[-2000:]
    assert "libvirtd at qemu:///system did not answer" in down.stderr
    assert f"fab down --stack {CONTAINER_ONLY}" in down.stderr
    assert _containers(CONTAINER_ONLY) == []  # the Docker side went all the same
    again = subprocess.run([FAB, "down", "--stack", CONTAINER_ONLY], cwd=PROJECT_ROOT,
                           env=container_only, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert not saved_targets_file(CONTAINER_ONLY).exists()
