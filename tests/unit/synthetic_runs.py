"""Synthetic runs with known values, stored in a real results database (no mocks).

Trials follow the real schedule (hostbench.schedule.plan): per workload, warm-up rounds first,
then measured rounds, each running every environment once in rotated order.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from hostbench.schedule import plan
from hostbench.store import RunRecord, SampleRecord, Store, TrialRecord, timestamp

ENVS = ("bare", "vm", "container")
# metric name -> (workload, unit, higher_is_better)
METRICS: dict[str, tuple[str, str, bool]] = {
    "events_per_second": ("cpu-sysbench", "events/s", True),
    "read_lat_p99_us": ("disk-fio-randread", "us", False),
}
START = datetime(2026, 11, 26, 15, 8, 50, tzinfo=UTC)

HOST_FACTS: dict[str, Any] = {
    "hostname": "bench-host", "cpu_model": "AMD EPYC 7763 64-Core Processor", "host_cpus": 8,
    "kernel": "6.1.0-27-amd64", "host_is_vm": False, "vm_accel": "kvm", "kvm_usable": True,
    "governor": "performance", "memory_kib": 32_774_000,
    "versions": {"pulumi": "3.272.0", "fabric": "3.2.3", "numpy": "2.4.6", "scipy": "1.17.1",
                 "python": "3.11.7", "docker": "20.10.24+dfsg1", "libvirt": "9.0.0",
                 "qemu": "QEMU emulator version 7.2.22"},
}
STACK_CONFIG = {"cores": [2, 3], "memory_mib": 2048, "disk_gib": 8, "accel": "kvm",
                "source": "/work/main/stacks/Pulumi.lab.yaml"}


def _check(fact: str, env: str, expected: str, actual: str, rule: str) -> dict[str, Any]:
    return {"fact": fact, "env": env, "expected": expected, "actual": actual,
            "ok": expected == actual, "rule": rule}


def parity(overridden: bool = False) -> dict[str, Any]:
    """A parity verdict; with ``overridden`` the container's CPU list is wrong (run anyway)."""
    checks = []
    for env in ENVS:
        checks.append(_check("usable CPU count", env, "2", "2", "nproc equals the pinned cores"))
        if env != "vm":
            actual = "2,3" if env == "bare" or not overridden else "0-7"
            checks.append(_check("usable CPU list", env, "2,3", actual,
                                 "the same host cores as the stack declares"))
        checks.append(_check("sha256 /usr/bin/sysbench", env, "71994b6326452cd5",
                             "71994b6326452cd5", "the image's own binary"))
    bad = any(not c["ok"] for c in checks)
    return {"ok": not bad, "checks": checks, "overridden": bad and overridden}


def make_run(store: Store, run_id: str, values: Mapping[tuple[str, str], Sequence[float]], *,
             vm_accel: str = "kvm", warmup: int = 1, overridden: bool = False,
             failed: Sequence[tuple[str, str]] = (), status: str = "complete") -> RunRecord:
    """Store a run whose measured samples are ``values[(metric, env)]`` (all the same length).

    Warm-up rounds get 0.8 x the first measured value.  Each ``(workload, env)`` in ``failed``
    gets one extra failed trial (with an error and one partial sample) after its workload.
    """
    repeat = len(next(iter(values.values())))
    workloads = list(dict.fromkeys(METRICS[m][0] for m, _ in values))
    trials = plan(workloads, list(ENVS), warmup, repeat)
    host = copy.deepcopy(HOST_FACTS)
    host["vm_accel"], host["kvm_usable"] = vm_accel, vm_accel == "kvm"
    run = RunRecord(
        id=run_id, started_at=timestamp(START), stack="lab", suite="quick",
        command_line=f".venv/bin/fab benchmark --stack lab --repeat {repeat} --warmup {warmup}",
        git_commit="ff5060c", image_hash="c7b3a7bfe67fe0560cc237771934ce8f07227b1f416274bb",
        plan=[{"workload": p.workload, "trial": p.trial, "warmup": p.warmup, "env": p.env,
               "position": p.position} for p in trials],
        options={"stack": "lab", "suite": "quick", "repeat": repeat, "warmup": warmup,
                 "allow_mismatch": overridden},
        host_facts=host, stack_config={**STACK_CONFIG, "accel": vm_accel},
        tool_versions=host["versions"], parity=parity(overridden))
    store.create_run(run)
    moment = START
    for index, p in enumerate(trials):
        moment += timedelta(seconds=6)
        samples = []
        for (metric, env), measured in values.items():
            workload, unit, higher = METRICS[metric]
            if (workload, env) == (p.workload, p.env):
                value = 0.8 * measured[0] if p.warmup else measured[p.trial - warmup]
                samples.append(SampleRecord(metric, value, unit, higher))
        store.add_trial(TrialRecord(run_id, p.workload, p.env, p.trial, p.warmup, p.position,
                                    "ok", f"run {p.workload}", timestamp(moment), wall_s=5.0,
                                    raw_path=f"raw/{p.workload}/{p.trial:03d}-{p.env}.txt"),
                        samples)
        last_of_workload = index + 1 == len(trials) or trials[index + 1].workload != p.workload
        for workload, env in failed:
            if last_of_workload and workload == p.workload:
                moment += timedelta(seconds=6)
                metric = next(m for m, (w, _, _) in METRICS.items() if w == workload)
                _, unit, higher = METRICS[metric]
                store.add_trial(TrialRecord(run_id, workload, env, warmup + repeat, False, 0,
                                            "failed", f"run {workload}", timestamp(moment),
                                            error="sysbench exited 137: Killed (out of memory)"),
                                [SampleRecord(metric, 1.0, unit, higher)])
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
