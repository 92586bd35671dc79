"""Parity: the environments must really be alike before a single number is measured.

Rules follow each environment's kind: a VM numbers its vCPUs itself and its kernel keeps part
of its memory, a container's memory is a cgroup limit; cores, memory and binaries stay strict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hostbench.errors import HostbenchError
from hostbench.record_base import Record
from hostbench.run.facts import EnvFacts, cpu_bandwidth
from hostbench.stack.environments import ContainerOptions, Kind
from hostbench.stack.host import cpu_list
from hostbench.stack.spec import cpuset
from hostbench.stack.targets import Target

# A VM's kernel keeps part of its RAM for itself (and the firmware takes some), so MemTotal inside
# a VM given N MiB is below N: accepted down to 85% (seen here: 1024 MiB -> 961 MiB, 93.8%).
VM_MEMTOTAL_MIN_FRACTION = 0.85


class ParityCheck(Record):
    fact: str
    env: str
    expected: str
    actual: str
    ok: bool
    rule: str

    def describe(self) -> str:
        return (f"{self.env}: {self.fact}: expected {self.expected}, found {self.actual} "
                f"({self.rule})")


class ParityVerdict(Record):
    """Every check of a run's parity check, and whether the run went ahead despite failures."""

    ok: bool
    checks: list[ParityCheck]
    overridden: bool = False

    @property
    def failures(self) -> list[ParityCheck]:
        return [c for c in self.checks if not c.ok]


class ParityError(HostbenchError):
    def __init__(self, failures: list[ParityCheck]) -> None:
        self.failures = failures
        super().__init__("parity check failed; the environments are not alike:\n"
                         + "\n".join(f"  {c.describe()}" for c in failures)
                         + "\nfix the stack, or pass --allow-mismatch to run anyway (recorded)")


def _fmt_cpus(cpus: set[int]) -> str:
    return cpuset(sorted(cpus)) or "none"


def runs_own_kernel_view(t: Target) -> bool:
    """gVisor (runsc) answers /proc and /sys itself: no CPU list, no cgroup files inside, and
    the sandbox's memory limit as MemTotal."""
    return isinstance(t.options, ContainerOptions) and t.options.runtime == "runsc"


def _memory_checks(t: Target, f: EnvFacts) -> list[ParityCheck]:
    """The memory a VM's guest has, a container's limit: both for a container inside a VM."""
    want_kib = t.memory_mib * 1024
    if runs_own_kernel_view(t):
        return [ParityCheck(fact="MemTotal (KiB)", env=t.name, expected=str(want_kib),
                            actual=str(f.memtotal_kib), ok=f.memtotal_kib == want_kib,
                            rule="gVisor shows the sandbox's memory limit as MemTotal: exactly "
                                 "the memory given")]
    checks = []
    if t.kind is Kind.VM:
        low = int(VM_MEMTOTAL_MIN_FRACTION * want_kib)
        checks.append(ParityCheck(fact="MemTotal (KiB)", env=t.name, expected=f"{low}..{want_kib}",
                                  actual=str(f.memtotal_kib),
                                  ok=low <= f.memtotal_kib <= want_kib,
                                  rule=f"at least {VM_MEMTOTAL_MIN_FRACTION:.0%} of the VM's "
                                       "memory"))
    if t.kind is Kind.CONTAINER or t.nested_port is not None:
        limit = f.cgroup_memory_limit
        checks.append(ParityCheck(fact="cgroup memory limit (bytes)", env=t.name,
                                  expected=str(want_kib * 1024), actual=str(limit),
                                  ok=limit == want_kib * 1024, rule="exactly the memory given"))
    return checks


def _clock_check(t: Target, f: EnvFacts) -> ParityCheck | None:
    """A clocksource that ticks in jiffies times a 5-second trial to a few milliseconds; an
    environment that shows none (gVisor) is not judged."""
    if f.clocksource in ("", "unknown"):
        return None
    return ParityCheck(fact="clocksource", env=t.name, expected="not jiffies-based",
                       actual=f.clocksource, ok="jiffies" not in f.clocksource,
                       rule="a clock fit for timing (jiffies tick at 100-1000 Hz: give the "
                            "VM a TSC, HPET or ACPI PM timer, as hostbench's domain does)")


def check_parity(targets: Sequence[Target], facts: Mapping[str, EnvFacts],
                 reference_binaries: Mapping[str, str]) -> list[ParityCheck]:
    """Every rule for every environment that reported facts; `ok` says whether it holds."""
    measured = [t for t in targets if t.name in facts]
    checks: list[ParityCheck] = []
    declared = [t for t in measured if t.kind is not Kind.BARE]
    sizes = {(len(t.cores), t.memory_mib) for t in declared}
    if len(sizes) > 1:
        checks.append(ParityCheck(fact="declared resources",
                                  env="/".join(t.name for t in declared),
                                  expected="same cores and memory", actual=str(sorted(sizes)),
                                  ok=False, rule="every environment gets the same resources"))
    os_releases = {facts[t.name].os_release for t in measured}
    blas = {facts[t.name].blas for t in measured}
    visible = {cpu_bandwidth(facts[t.name].cpu_quota) for t in measured} - {"unknown"}
    io_limits = {facts[t.name].io_limits for t in measured} - {None}
    for t in measured:
        f = facts[t.name]
        checks.append(ParityCheck(fact="usable CPU count", env=t.name, expected=str(len(t.cores)),
                                  actual=str(f.nproc), ok=f.nproc == len(t.cores),
                                  rule="nproc equals the pinned cores"))
        # a VM numbers its vCPUs itself, gVisor shows no CPU list: both are checked by count
        if t.kind is not Kind.VM and not runs_own_kernel_view(t):
            allowed = cpu_list(f.cpus_allowed)
            checks.append(ParityCheck(fact="usable CPU list", env=t.name,
                                      expected=_fmt_cpus(set(t.cores)),
                                      actual=_fmt_cpus(allowed), ok=allowed == set(t.cores),
                                      rule="the same host cores as the stack declares"))
        checks += _memory_checks(t, f)
        bandwidth = cpu_bandwidth(f.cpu_quota)
        if bandwidth != "unknown":
            checks.append(ParityCheck(fact="CPU bandwidth", env=t.name,
                                      expected="the same in every environment",
                                      actual=bandwidth, ok=len(visible) == 1,
                                      rule="no environment throttled where others are not"))
        if f.io_limits is not None:
            checks.append(ParityCheck(fact="I/O limits", env=t.name,
                                      expected="the same in every environment",
                                      actual=f.io_limits, ok=len(io_limits) == 1,
                                      rule="no environment's disk throttled where others' "
                                           "are not"))
        if (clock := _clock_check(t, f)) is not None:
            checks.append(clock)
        checks.append(ParityCheck(fact="OS release", env=t.name,
                                  expected="the same in every environment",
                                  actual=f.os_release or "?", ok=len(os_releases) == 1,
                                  rule="one userland everywhere"))
        checks.append(ParityCheck(fact="BLAS", env=t.name, expected="the same in every environment",
                                  actual=f.blas or "?", ok=len(blas) == 1,
                                  rule="one BLAS library behind libblas.so.3 everywhere"))
        for binary, digest in sorted(reference_binaries.items()):
            found = f.binaries.get(binary, "missing")
            checks.append(ParityCheck(fact=f"sha256 {binary}", env=t.name, expected=digest[:16],
                                      actual=found[:16], ok=found == digest,
                                      rule="the image's own binary"))
    return checks


def verdict(checks: list[ParityCheck], allow_mismatch: bool) -> ParityVerdict:
    ok = all(c.ok for c in checks)
    return ParityVerdict(ok=ok, checks=checks, overridden=not ok and allow_mismatch)
