"""Synthetic runs with known values, stored in a real results database (no mocks).

Trials follow the real schedule (hostbench.run.schedule.plan): per workload, warm-up rounds
first, then measured rounds, each running every environment once in rotated order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from hostbench.report import plots
from hostbench.results.store import Store
from hostbench.run.conditions import split
from hostbench.run.facts import HostFacts
from hostbench.run.parity import ParityCheck, ParityVerdict
from hostbench.run.procfs import CPU_FIELDS
from hostbench.run.run_records import (
    BenchmarkOptions,
    Figure,
    MetricNames,
    RunRecord,
    RunStatus,
    Sample,
    TrialRecord,
    timestamp,
)
from hostbench.run.schedule import plan
from hostbench.run.workloads import load_catalogue, metric_names
from hostbench.stack.environments import Environment, Kind
from hostbench.stack.spec import StackSpec

ENVS = ("bare", "vm", "container")
# metric name -> (workload, unit, higher_is_better)
METRICS: dict[str, tuple[str, str, bool]] = {
    "events_per_second": ("cpu-sysbench", "events/s", True),
    "read_lat_p99_us": ("disk-fio-randread", "us", False),
    "read_iops": ("disk-fio-randread", "IO/s", True),
    "requests_per_second": ("service-nginx-wrk", "requests/s", True),
    "latency_p99_ms": ("service-nginx-wrk", "ms", False),
}
CATALOGUE = metric_names(load_catalogue())
"""What a run planned from today's workload files records of them."""
START = datetime(2026, 11, 26, 15, 8, 50, tzinfo=UTC)
DURATION_S = 5.0  # every synthetic trial's measured command ran this long

Accounting = Callable[[str, str, int], tuple[Sequence[Figure], str | None]]
"""A measured trial's accounting and note from its (workload, env, round)."""

HOST = HostFacts(
    hostname="bench-host", cpu_model="AMD EPYC 7763 64-Core Processor", host_cpus=8,
    kernel="6.1.0-27-amd64", host_is_vm=False, kvm_usable=True, governor="performance",
    memory_kib=32_774_000,
    versions={"pulumi": "3.272.0", "fabric": "3.2.3", "numpy": "2.4.6", "scipy": "1.17.1",
              "python": "3.11.7", "docker": "20.10.24+dfsg1", "libvirt": "9.0.0",
              "qemu": "QEMU emulator version 7.2.22"})


VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "container-hostnet": ("container", {"network": "host"}),
    "vm-raw": ("vm", {"disk": "raw", "cache": "none", "io": "native"}),
}
"""Variants the synthetic runs know: name -> (the environment it varies, its options)."""


def environment(name: str, vm_accel: str = "kvm") -> Environment:
    """``bare``, ``vm``, ``container``, a variant of ``VARIANTS``, or another environment named
    after its kind (``container-2``)."""
    kind = Kind(name.split("-")[0])
    base, options = VARIANTS.get(name, (None, {}))
    return Environment(name=name, kind=kind, accel=vm_accel if kind is Kind.VM else None,
                       variant_of=base, options=options)


def spec(vm_accel: str = "kvm") -> StackSpec:
    return StackSpec(stack="lab", source="/work/main/stacks/Pulumi.lab.yaml", cores=(2, 3),
                     memory_mib=2048, disk_gib=8, accel=vm_accel)


def _check(fact: str, env: str, expected: str, actual: str, rule: str) -> ParityCheck:
    return ParityCheck(fact=fact, env=env, expected=expected, actual=actual,
                       ok=expected == actual, rule=rule)


def parity(overridden: bool = False, envs: Sequence[str] = ENVS) -> ParityVerdict:
    """A parity verdict; with ``overridden`` the container's CPU list is wrong (run anyway)."""
    checks = []
    for env in envs:
        checks.append(_check("usable CPU count", env, "2", "2", "nproc equals the pinned cores"))
        if not env.startswith("vm"):
            actual = "2,3" if env == "bare" or not overridden else "0-7"
            checks.append(_check("usable CPU list", env, "2,3", actual,
                                 "the same host cores as the stack declares"))
        checks.append(_check("sha256 /usr/bin/sysbench", env, "71994b6326452cd5",
                             "71994b6326452cd5", "the image's own binary"))
    bad = any(not c.ok for c in checks)
    return ParityVerdict(ok=not bad, checks=checks, overridden=bad and overridden)


def make_run(store: Store, run_id: str, values: Mapping[tuple[str, str], Sequence[float]], *,
             vm_accel: str = "kvm", warmup: int = 1, overridden: bool = False,
             failed: Sequence[tuple[str, str]] = (), status: RunStatus = "complete",
             envs: Sequence[str] = ENVS, accounting: Accounting | None = None,
             catalogue: MetricNames | None = CATALOGUE) -> RunRecord:
    """Store a run whose measured samples are ``values[(metric, env)]`` (all the same length).

    Warm-up rounds get 0.8 x the first measured value.  Each ``(workload, env)`` in ``failed``
    gets one extra failed trial (with an error) after its workload. ``accounting`` gives each
    measured trial its figures and note (none without it); ``catalogue``: the workloads'
    metrics the run recorded (None: a run stored before runs kept them).
    """
    repeat = len(next(iter(values.values())))
    workloads = list(dict.fromkeys(METRICS[m][0] for m, _ in values))
    trials = plan(workloads, list(envs), warmup, repeat)
    run = RunRecord(
        id=run_id, started_at=timestamp(START), stack="lab", suite="quick",
        command_line=f".venv/bin/fab benchmark --stack lab --repeat {repeat} --warmup {warmup}",
        git_commit="ff5060c", image_hash="c7b3a7bfe67fe0560cc237771934ce8f07227b1f416274bb",
        environments=tuple(environment(e, vm_accel) for e in envs if split(e)[1] is None),
        plan=tuple(trials),
        options=BenchmarkOptions(stack="lab", suite="quick", repeat=repeat, warmup=warmup,
                                 allow_mismatch=overridden),
        host=HOST.model_copy(update={"kvm_usable": vm_accel == "kvm"}), spec=spec(vm_accel),
        parity=parity(overridden, envs), catalogue=catalogue)
    store.create_run(run)
    moment = START
    for index, p in enumerate(trials):
        moment += timedelta(seconds=6)
        samples = []
        for (metric, env), measured in values.items():
            workload, unit, higher = METRICS[metric]
            if (workload, env) == (p.workload, p.env):
                value = 0.8 * measured[0] if p.warmup else measured[p.trial - warmup]
                samples.append(Sample(workload=workload, env=env, trial=p.trial,
                                      warmup=p.warmup, position=p.position, metric=metric,
                                      value=value, unit=unit, higher_is_better=higher,
                                      timestamp=timestamp(moment)))
        figures, note = (accounting(p.workload, p.env, p.trial)
                         if accounting and not p.warmup else ((), None))
        store.add_trial(TrialRecord(
            run_id=run_id, workload=p.workload, env=p.env, trial=p.trial, warmup=p.warmup,
            position=p.position, status="ok", command=f"run {p.workload}",
            started_at=timestamp(moment), wall_s=DURATION_S, duration_s=DURATION_S,
            raw_path=f"raw/{p.workload}/{p.trial:03d}-{p.env}.txt", samples=tuple(samples),
            accounting=tuple(figures), accounting_note=note))
        last_of_workload = index + 1 == len(trials) or trials[index + 1].workload != p.workload
        for workload, env in failed:
            if last_of_workload and workload == p.workload:
                moment += timedelta(seconds=6)
                store.add_trial(TrialRecord(
                    run_id=run_id, workload=workload, env=env, trial=warmup + repeat,
                    warmup=False, position=0, status="failed", command=f"run {workload}",
                    started_at=timestamp(moment),
                    error="sysbench exited 137: Killed (out of memory)"))
    store.finish_run(run_id, status, workload_seconds=len(trials) * 5.0,
                     orchestration_seconds=len(trials) * 1.0, wall_seconds=len(trials) * 6.0,
                     finished_at=timestamp(moment))
    return store.get_run(run_id)


def two_metric_values(vm_factor: float = 2.0) -> dict[tuple[str, str], list[float]]:
    """Bare and container alike; the VM ``vm_factor`` times slower on both metrics."""
    base_eps = [1000.0, 1010.0, 990.0, 1005.0, 995.0]
    base_lat = [200.0, 202.0, 198.0, 201.0, 199.0]
    return {
        ("events_per_second", "bare"): base_eps,
        ("events_per_second", "vm"): [v / vm_factor for v in base_eps],
        ("events_per_second", "container"): [998.0, 1003.0, 1001.0, 997.0, 1000.0],
        ("read_lat_p99_us", "bare"): base_lat,
        ("read_lat_p99_us", "vm"): [v * vm_factor for v in base_lat],
        ("read_lat_p99_us", "container"): [199.0, 201.0, 200.0, 202.0, 198.0],
    }


# A run with accounting: the container does half bare metal's events per second and raises 3x
# its NET_RX per trial, so 6x per 1,000 events.
BARE_EPS = [1000.0, 1010.0, 990.0, 1005.0, 995.0]
CONTAINER_EPS = [v / 2 for v in BARE_EPS]  # half the events in the same time
NET_RX = {"bare": [1000.0, 1020.0, 980.0, 1010.0, 990.0],
          "container": [3000.0, 3150.0, 2900.0, 3080.0, 2950.0]}
NOTE = "not read both times (restarted or gone): dockerd"


def cpu(measured_user: float, other_user: float) -> list[Figure]:
    """Five seconds on one measured and one other core: ``user`` busy, the rest idle."""
    return [Figure(name=f"cpu.{key}.{state}", unit="s",
                   value={"user": user, "idle": DURATION_S - user}.get(state, 0.0))
            for key, user in (("measured", measured_user), ("other", other_user))
            for state in CPU_FIELDS]


def accounting(workload: str, env: str, trial: int) -> tuple[list[Figure], str | None]:
    """The container raises 3x bare metal's NET_RX per trial, runs dockerd (bare metal never
    does) and has no NET_TX in round 2; its round-3 accounting lost dockerd and its rusage."""
    round_ = trial - 1
    figures = [*cpu(4.0, 0.5 + 0.01 * round_),
               Figure(name="softirq.NET_RX", value=NET_RX.get(env, NET_RX["bare"])[round_],
                      unit="count"),
               Figure(name="softirq.NET_TX", unit="count",
                      value=0.0 if (env, trial) == ("container", 2) else 50.0 + trial)]
    if (env, trial) == ("container", 3):
        return figures, NOTE
    if env == "container":
        figures.append(Figure(name="host.dockerd", value=0.2, unit="s"))
    figures.append(Figure(name="workload.system", value=0.25 + 0.01 * trial, unit="s"))
    return figures, None


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DRAWN_ELSEWHERE = ("metric_figure", "change_figure", "cpu_split_figure")
"""The figures of a run report, each drawn from runs like these in tests/unit/report."""


def figures_undrawn(monkeypatch: pytest.MonkeyPatch,
                    names: Sequence[str] = DRAWN_ELSEWHERE) -> None:
    """For a test of what a run's report says (and that it is written): each figure is a file
    holding only the PNG signature, not drawn, and matplotlib is not loaded (drawing costs
    about 0.1 s of CPU a figure, loading matplotlib half a second). ``names``: the kinds left
    undrawn, when the test's run draws another kind no other test does."""
    for name in names:
        monkeypatch.setattr(plots, name, lambda *_args, **_kwargs: PNG_SIGNATURE)
