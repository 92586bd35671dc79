"""Reading the host CPU time of an environment: its QEMU process, or its container's cgroup,
and how often the host is asked for it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from hostbench.errors import ControlError
from hostbench.provision.control import QEMU_PID_DIR, EnvironmentControl, vm_cpu_quota
from hostbench.provision.metering import cgroup_cpu_seconds, process_cpu_seconds
from hostbench.stack.environments import Kind
from hostbench.stack.host import LocalHost
from hostbench.stack.targets import Target


def test_a_process_cpu_time_grows_as_it_works():
    before = process_cpu_seconds(os.getpid())
    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    assert process_cpu_seconds(os.getpid()) > before


def _own_cgroup() -> tuple[str, str]:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "cpuacct" in controllers.split(","):
            return "v1", path
    return "v2", Path("/proc/self/cgroup").read_text().split("0::", 1)[1].strip()


def test_the_cgroup_of_a_process_is_read_where_the_kernel_keeps_it(tmp_path):
    version, path = _own_cgroup()
    if version == "v1":
        folder = tmp_path / "cpuacct" / path.lstrip("/")
        folder.mkdir(parents=True)
        (folder / "cpuacct.usage").write_text("2500000000\n")
    else:
        folder = tmp_path / path.lstrip("/")
        folder.mkdir(parents=True)
        (folder / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 1\nsystem_usec 1\n")
    assert cgroup_cpu_seconds(os.getpid(), tmp_path) == pytest.approx(2.5)


def test_the_real_cgroup_of_this_process_has_a_cpu_time():
    assert cgroup_cpu_seconds(os.getpid()) > 0


def test_a_missing_cgroup_file_is_an_error_not_a_number(tmp_path):
    with pytest.raises((ControlError, OSError)):
        cgroup_cpu_seconds(os.getpid(), tmp_path)


@pytest.mark.parametrize(("params", "vcpus", "expected"), [
    ({"vcpu_quota": -1, "vcpu_period": 100000, "global_quota": -1, "global_period": 100000},
     1, "-1 100000"),
    ({"vcpu_quota": 50000, "vcpu_period": 100000}, 1, "50000 100000"),
    ({"vcpu_quota": 50000, "vcpu_period": 100000}, 2, "100000 100000"),  # per vCPU: x2
    ({"vcpu_quota": -1, "vcpu_period": 100000, "global_quota": 25000, "global_period": 100000},
     2, "25000 100000"),  # the whole domain's limit is the tighter one
    ({"cpu_shares": 1024}, 1, ""),  # no quota known
])
def test_a_vms_cpu_bandwidth_reads_as_a_containers_quota(params, vcpus, expected):
    assert vm_cpu_quota(params, vcpus) == expected


class CountingHost(LocalHost):
    """This machine, counting the files read on it (each is a round trip to a remote host)."""

    def __init__(self, pid_dir: Path) -> None:
        self.pid_dir = pid_dir
        self.reads: list[str] = []

    def read_text(self, path: str) -> str:
        self.reads.append(path)
        return super().read_text(path.replace(str(QEMU_PID_DIR), str(self.pid_dir)))


def test_metering_an_environment_reads_one_file_of_the_host_after_the_first_time(tmp_path):
    """The VM's QEMU process is looked up once; every later metering is one read of its stat."""
    (tmp_path / "hostbench-x.pid").write_text(str(os.getpid()))
    host = CountingHost(tmp_path)
    vm = Target(name="vm", kind=Kind.VM, cores=(1,), memory_mib=1024,
                host_address="192.168.150.1", host="h", port=22, user="root", accel="tcg",
                domain="hostbench-x")
    control = EnvironmentControl({"vm": vm}, host)
    readings = [control.cpu_seconds("vm") for _ in range(3)]
    assert readings == sorted(readings) and readings[0] > 0
    assert host.reads == [str(QEMU_PID_DIR / "hostbench-x.pid")] + [f"/proc/{os.getpid()}/stat"] * 3


class _Domain:
    def __init__(self, name: str) -> None:
        self._name = name

    def name(self) -> str:
        return self._name


class _Hypervisor:
    """libvirt's answer: the paused domains of every stack on the host."""

    def isAlive(self) -> bool:
        return True

    def listAllDomains(self, flags: int) -> list[_Domain]:
        import libvirt  # loaded by the call under test too: not at every collection

        assert flags == libvirt.VIR_CONNECT_LIST_DOMAINS_PAUSED
        return [_Domain("hostbench-x"), _Domain("hostbench-other")]


class _Engine:
    """Docker's answer: the paused containers of every stack, each name with its slash."""

    class api:
        @staticmethod
        def containers(filters: dict[str, str]) -> list[dict[str, list[str]]]:
            assert filters == {"status": "paused"}
            return [{"Names": ["/hostbench-x-container"]}, {"Names": ["/hostbench-other"]}]


def test_which_environments_are_paused_is_one_question_to_each_engine(monkeypatch):
    """Only the stack's own VMs and containers are named, whatever else the host has paused."""
    common = {"cores": (1,), "memory_mib": 1024, "host_address": "192.168.150.1", "port": 22,
              "user": "root"}
    targets = {
        "vm": Target(name="vm", kind=Kind.VM, host="h", accel="tcg", domain="hostbench-x",
                     **common),
        "vm-raw": Target(name="vm-raw", kind=Kind.VM, host="h", accel="tcg",
                         domain="hostbench-x-vm-raw", **common),
        "container": Target(name="container", kind=Kind.CONTAINER, host="127.0.0.1",
                            container="hostbench-x-container", **common)}
    control = EnvironmentControl(targets, LocalHost())
    monkeypatch.setattr(control, "_libvirt", _Hypervisor())
    monkeypatch.setattr(control, "_docker", _Engine())
    assert control.paused_now() == {"vm", "container"}
