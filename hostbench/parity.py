"""Parity: the environments must really be alike before a single number is measured."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from rich.table import Table

from hostbench.errors import HostbenchError
from hostbench.target_source import Targets

# A VM's kernel keeps part of its RAM for itself (and the firmware takes some), so MemTotal inside
# a VM given N MiB is below N: accepted down to 85% (seen here: 1024 MiB -> 961 MiB, 93.8%).
VM_MEMTOTAL_MIN_FRACTION = 0.85
# The facts shown side by side (binary hashes appear as parity checks instead).
FACT_KEYS = ("nproc", "cpus_allowed", "memtotal_kib", "cgroup_memory_limit", "kernel",
             "os_release", "virtualization", "clocksource")


@dataclass(frozen=True)
class Check:
    fact: str
    env: str
    expected: str
    actual: str
    ok: bool
    rule: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ParityError(HostbenchError):
    def __init__(self, failures: list[Check]) -> None:
        self.failures = failures
        lines = [f"  {c.env}: {c.fact}: expected {c.expected}, found {c.actual} ({c.rule})"
                 for c in failures]
        super().__init__("parity check failed; the environments are not alike:\n"
                         + "\n".join(lines)
                         + "\nfix the stack, or pass --allow-mismatch to run anyway (recorded)")


def cpu_list(text: str) -> set[int]:
    """Parse a kernel CPU list such as "0-2,5"."""
    cpus: set[int] = set()
    for part in filter(None, text.strip().split(",")):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


def _fmt_cpus(cpus: set[int]) -> str:
    return ",".join(str(c) for c in sorted(cpus)) or "none"


def check_parity(targets: Targets, facts: dict[str, dict[str, Any]],
                 reference_binaries: dict[str, str]) -> list[Check]:
    """Every rule for every environment; `ok` says whether it holds."""
    checks: list[Check] = []
    envs = [env for env in targets.targets if env in facts]
    declared = {env: targets.targets[env] for env in envs}
    sizes = {(len(t.cores), t.memory_mib) for env, t in declared.items() if env != "bare"}
    if len(sizes) > 1:
        checks.append(Check("declared resources", "vm/container", "same cores and memory",
                            str(sorted(sizes)), False, "VM and container must be matched"))
    os_releases = {facts[env].get("os_release", "?") for env in envs}
    for env in envs:
        t, f = declared[env], facts[env]
        checks.append(Check("usable CPU count", env, str(len(t.cores)), str(f["nproc"]),
                            f["nproc"] == len(t.cores), "nproc equals the pinned cores"))
        if env != "vm":  # the guest numbers its vCPUs itself; its pinning is checked by count
            allowed = cpu_list(f.get("cpus_allowed", ""))
            checks.append(Check("usable CPU list", env, _fmt_cpus(set(t.cores)),
                                _fmt_cpus(allowed), allowed == set(t.cores),
                                "the same host cores as the stack declares"))
        want_kib = t.memory_mib * 1024
        if env == "vm":
            low = int(VM_MEMTOTAL_MIN_FRACTION * want_kib)
            checks.append(Check("MemTotal (KiB)", env, f"{low}..{want_kib}",
                                str(f["memtotal_kib"]), low <= f["memtotal_kib"] <= want_kib,
                                f"at least {VM_MEMTOTAL_MIN_FRACTION:.0%} of the VM's memory"))
        elif env == "container":
            limit = f.get("cgroup_memory_limit")
            checks.append(Check("cgroup memory limit (bytes)", env, str(want_kib * 1024),
                                str(limit), limit == want_kib * 1024, "exactly the memory given"))
        checks.append(Check("OS release", env, "the same in every environment",
                            f.get("os_release", "?"), len(os_releases) == 1,
                            "one userland everywhere"))
        for binary, digest in sorted(reference_binaries.items()):
            found = f.get("binaries", {}).get(binary, "missing")
            checks.append(Check(f"sha256 {binary}", env, digest[:16], found[:16],
                                found == digest, "the image's own binary"))
    return checks


def failures(checks: list[Check]) -> list[Check]:
    return [c for c in checks if not c.ok]


def facts_table(facts: dict[str, dict[str, Any]], vm_label: str) -> Table:
    """What each environment reported, side by side."""
    envs = list(facts)
    table = Table(title="environment facts")
    table.add_column("fact")
    for env in envs:
        table.add_column(vm_label if env == "vm" else env)
    for key in FACT_KEYS:
        table.add_row(key, *(str(facts[env].get(key, "")) for env in envs))
    return table


def failures_table(bad: list[Check]) -> Table:
    table = Table(title="parity mismatches", style="red")
    for column in ("environment", "fact", "expected", "found", "rule"):
        table.add_column(column)
    for c in bad:
        table.add_row(c.env, c.fact, c.expected, c.actual, c.rule)
    return table
