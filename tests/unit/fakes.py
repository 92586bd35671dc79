"""A fake executor that answers like an environment would, and a stack of fake targets around it.

Everything else the runner and the benchmark orchestration touch is real: the workload
catalogue, the parsers (fed with output captured from the real tools), the schedule, parity,
the SQLite store, statistics and the report.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hostbench.errors import ControlError
from hostbench.image.manifest import ImageManifest
from hostbench.provision.metering import CpuTimeFile, process_cpu_file
from hostbench.provision.plan import resource_plan, targets_document
from hostbench.reach.executors import ExecResult, StopRequest, TrialTimeout
from hostbench.reach.ssh import StackAccess, TargetUnreachable
from hostbench.run.facts import FACTS_SCRIPT
from hostbench.stack.environments import DEFAULT_ENVIRONMENTS, Environment, Kind
from hostbench.stack.spec import StackSpec
from hostbench.stack.targets import Target, Targets, parse_targets

OUTPUTS = Path(__file__).resolve().parents[1] / "data" / "outputs"
BINARIES = {"/usr/bin/sysbench": "a" * 64, "/usr/bin/stress-ng": "b" * 64}
SYSBENCH_EPS = 2764.31  # events per second in the captured sysbench-cpu.txt
INSIDE_S = 0.0002  # how long every fake workload command runs (and says it ran inside)


@dataclass
class FakeExecutor:
    """Runs nothing: answers the facts script and each tool from captured output. ``slowdown``
    divides sysbench's events per second; ``fail`` decides, per call number of a workload
    command, what goes wrong (an exception to raise, or an exit status)."""

    target: Target
    slowdown: float = 1.0
    fail: Callable[[int], Exception | int | None] = lambda _n: None
    memory_limit: int | None = None  # a container's cgroup limit in bytes (default: as declared)
    noise: float = 0.0  # events per second vary by +-noise (a fraction), trial after trial
    calls: list[list[str]] = field(default_factory=list)
    workload_calls: int = 0
    closed: int = 0

    @property
    def env(self) -> str:
        return self.target.name

    def _facts(self, binaries: list[str]) -> str:
        t = self.target
        vm = t.kind is Kind.VM
        limit = self.memory_limit or (t.memory_mib * 2**20 if t.kind is Kind.CONTAINER else 0)
        lines = [f"nproc={len(t.cores)}",
                 f"cpus_allowed={'0' if vm else t.cpuset}",
                 f"memtotal_kib={int(t.memory_mib * 1024 * 0.94) if vm else 24683656}",
                 f"cgroup_memory_limit={limit or 'max'}",
                 "kernel=6.1.0-50-amd64", "os_release=Debian GNU/Linux 12 (bookworm)",
                 "blas=/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3",
                 f"virtualization={'qemu' if vm else 'docker' if limit else 'none'}",
                 "clocksource=tsc", "cpu_quota=-1 100000", "io_limits=none"]
        lines += [f"sha256:{b}={BINARIES.get(b, 'missing')}" for b in binaries]
        return "\n".join(lines) + "\n"

    def run(self, argv: list[str], timeout: float, stop: StopRequest | None = None
            ) -> ExecResult:
        self.calls.append(argv)
        if argv[:3] == ["sh", "-c", FACTS_SCRIPT]:
            return ExecResult(self._facts(argv[4:]), "", 0, 0.01, 0.02)
        if argv[0] in ("mkdir", "rm"):
            return ExecResult("", "", 0, 0.0, 0.01)
        start = time.monotonic()
        self.workload_calls += 1
        problem = self.fail(self.workload_calls)
        if isinstance(problem, Exception):
            raise problem
        if isinstance(problem, int):
            return ExecResult("", "sysbench: fatal: out of memory", problem, INSIDE_S, 0.3)
        time.sleep(INSIDE_S)
        text = (OUTPUTS / "sysbench-cpu.txt").read_text()
        text = re.sub(r"events per second:\s+\S+",
                      f"events per second:  {self._eps():.2f}", text)
        return ExecResult(text, "", 0, INSIDE_S, time.monotonic() - start)

    def _eps(self) -> float:
        """Alternating above and below the median: a spread the statistics cannot narrow much."""
        sign = (-1) ** self.workload_calls
        return SYSBENCH_EPS / self.slowdown * (1 + sign * self.noise)

    def close(self) -> None:
        self.closed += 1


def unreachable(at: int) -> Callable[[int], Exception | None]:
    """The target stops answering at its ``at``-th workload command."""
    return lambda n: TargetUnreachable("connection reset by peer") if n >= at else None


def timing_out(at: int) -> Callable[[int], Exception | None]:
    return lambda n: TrialTimeout("no result after 360s") if n == at else None


def fill(directory: Path) -> Path:
    """Write to ``directory`` until its filesystem is full; returns the filler file."""
    filler = directory / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as f:  # closing it fails too
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    return filler


def write_manifest(directory: Path) -> Path:
    manifest = ImageManifest(
        hash="f" * 64, docker_tag="hostbench:ffffffffffffffff", suite="bookworm",
        mirror="http://mirror.invalid/debian", built_at="2026-01-01T00:00:00+00:00",
        rootfs=str(directory / "rootfs"), disk=str(directory / "disk.qcow2"),
        raw_disk=str(directory / "disk.raw"),
        kernel=str(directory / "vmlinuz"), initrd=str(directory / "initrd.img"),
        kernel_cmdline="root=/dev/vda rw", packages={}, binaries=BINARIES)
    path = directory / "manifest.json"
    manifest.write(path)
    return path


def fake_targets(directory: Path, environments: tuple[Environment, ...] = DEFAULT_ENVIRONMENTS,
                 stack: str = "fake") -> Path:
    """A targets file as `fab up` would save it for a stack of ``environments`` (bare metal
    added), made with the same resource plan; returns its path."""
    manifest = write_manifest(directory)
    spec = StackSpec(stack=stack, source=f"stacks/Pulumi.{stack}.yaml", cores=(1,),
                     memory_mib=1024, accel="tcg", image_manifest=str(manifest),
                     environments=environments)
    plan = resource_plan(spec, ImageManifest.model_validate_json(manifest.read_text()))
    targets = targets_document(
        plan, "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----\n",
        {vm.env.name: f"192.168.150.{10 + i}" for i, vm in enumerate(plan.vms)},
        {ctr.env.name: "172.17.0.1" for ctr in plan.containers})
    path = directory / "targets.json"
    path.write_text(targets.to_json())
    return path


@dataclass
class FakeControl:
    """The host side of a stack's VMs and containers: each one that is not paused burns
    ``IDLE_CPU_S`` of host CPU between two readings; ``broken`` ones cannot be paused."""

    targets: dict[str, Target]
    broken: set[str] = field(default_factory=set)
    paused: set[str] = field(default_factory=set)
    used: dict[str, float] = field(default_factory=dict)
    events: list[tuple[str, str]] = field(default_factory=list)
    quota: dict[str, str] = field(default_factory=dict)  # a VM's CPU quota on the host
    engine_gone: bool = False  # libvirtd and dockerd stopped: nothing can be paused or resumed

    IDLE_CPU_S = 0.01

    def names(self) -> list[str]:
        return [n for n, t in self.targets.items() if t.kind is not Kind.BARE]

    def paused_now(self) -> set[str]:
        """The engines asked which are paused (recorded: it is an engine call too)."""
        if self.engine_gone:
            raise ControlError("cannot tell which environments are paused: End of file")
        self.events.append(("query", "paused"))
        return set(self.paused)

    def pause(self, name: str) -> None:
        if name in self.broken:
            raise ControlError(f"cannot pause {name}: container is not running")
        if self.engine_gone:
            raise ControlError(f"cannot pause {name}: End of file while reading data")
        self.paused.add(name)
        self.events.append(("pause", name))

    def resume(self, name: str) -> None:
        if self.engine_gone:
            raise ControlError(f"cannot resume {name}: End of file while reading data")
        if name in self.paused:
            self.paused.discard(name)
            self.events.append(("resume", name))

    def cpu_quota(self, name: str) -> str:
        kind = self.targets[name].kind
        return self.quota.get(name, "-1 100000") if kind is Kind.VM else ""

    def main_pid(self, name: str) -> int:
        """This test's own process stands in for every environment's QEMU or container."""
        if self.engine_gone:
            raise ControlError(f"{name}: End of file while reading data")
        return os.getpid()

    def cpu_file(self, name: str) -> CpuTimeFile:
        return process_cpu_file(self.main_pid(name))

    def cpu_seconds(self, name: str) -> float:
        if name not in self.paused:
            self.used[name] = self.used.get(name, 0.0) + self.IDLE_CPU_S
        return self.used.get(name, 0.0)


@dataclass
class FakeHost:
    """Makes the executors and the host control of a benchmark and keeps them for the test to
    look at; each executor notes which neighbours were paused when its workloads ran."""

    slowdown: dict[str, float] = field(default_factory=dict)
    fail: dict[str, Callable[[int], Exception | int | None]] = field(default_factory=dict)
    memory_limit: dict[str, int] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)
    noise: dict[str, float] = field(default_factory=dict)
    host_quota: dict[str, str] = field(default_factory=dict)  # a VM's CPU quota on the host
    made: dict[str, FakeExecutor] = field(default_factory=dict)
    host: FakeControl | None = None
    paused_while_running: dict[str, list[set[str]]] = field(default_factory=dict)

    def connect(self, target: Target, _access: StackAccess) -> FakeExecutor:
        def fail(n: int, name: str = target.name) -> Exception | int | None:
            if self.host is not None:
                self.paused_while_running.setdefault(name, []).append(set(self.host.paused))
            return self.fail.get(name, lambda _n: None)(n)

        executor = FakeExecutor(target, self.slowdown.get(target.name, 1.0), fail,
                                self.memory_limit.get(target.name),
                                self.noise.get(target.name, 0.0))
        self.made[target.name] = executor
        return executor

    def control(self, targets: Mapping[str, Target], _host: object = None) -> FakeControl:
        self.host = FakeControl(dict(targets), set(self.broken), quota=dict(self.host_quota))
        return self.host


def load(path: Path) -> Targets:
    return parse_targets(json.loads(path.read_text()), str(path))
