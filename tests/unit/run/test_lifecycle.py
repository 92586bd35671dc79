"""The lifecycle measurements on fake instances and a fake clock: each step is the interval from
a backend call to its event, hostbench's own work stays outside, rounds rotate, a failed cycle
costs only itself, and density stops at its limits with everything it started removed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from hostbench.errors import ConfigError, HostbenchError
from hostbench.provision.metering import Memory
from hostbench.run.lifecycle import (
    DENSITY,
    DENSITY_STEP,
    FOOTPRINT,
    READY,
    SETUP,
    DensityLimits,
    Lifecycle,
    ReadinessProbe,
    Recorder,
    density_steps,
    host_used_mib,
    ksm_state,
)
from hostbench.run.run_records import TrialRecord
from hostbench.stack.environments import Environment, Kind

VM = Environment(name="vm", kind=Kind.VM, accel="tcg")
CONTAINER = Environment(name="container", kind=Kind.CONTAINER)
STEPS = {"create": 1.0, "start": 2.0, "boot": 3.0, "sshd": 4.0, "login": 0.5, "remove": 0.25}


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeInstance:
    """Takes STEPS (scaled) for each step; answers once booted; fails where told."""

    name: str
    env: Environment
    clock: Clock
    scale: float = 1.0
    fail_create: BaseException | None = None
    removed: int = 0
    started_at: float | None = None
    alive: bool = True
    hangs: bool = False  # stops answering once it was ready

    def _take(self, step: str) -> None:
        self.clock.now += STEPS[step] * self.scale

    def create(self) -> None:
        if self.fail_create is not None:
            raise self.fail_create
        self._take("create")

    def start(self) -> None:
        self._take("start")
        self.started_at = self.clock.now

    def booted(self, step: str) -> bool:
        assert self.started_at is not None
        return self.clock.now - self.started_at >= sum(
            STEPS[s] * self.scale for s in ("boot", "sshd")[:("boot", "sshd").index(step) + 1])

    def endpoint(self) -> tuple[str, int] | None:
        if not self.alive:
            raise HostbenchError(f"{self.name} stopped")
        return (self.name, 22) if self.booted("boot") else None

    def memory(self) -> Memory:
        self.clock.now += 7.0  # reading it takes time: hostbench's, not the instance's
        return Memory(100.0, 90.0, 120.0)

    def cpu_seconds(self) -> float:
        return self.clock.now / 100  # 1% of a core

    def disk_mib(self) -> float:
        return 42.0

    def remove(self) -> None:
        self._take("remove")
        self.removed += 1


@dataclass
class FakeProbe(ReadinessProbe):
    clock: Clock = field(default_factory=Clock)
    instances: dict[str, FakeInstance] = field(default_factory=dict)

    def banner(self, endpoint: tuple[str, int]) -> bool:
        return self.instances[endpoint[0]].booted("sshd")

    def first_command(self, instance, endpoint) -> None:
        self.clock.now += STEPS["login"] * instance.scale

    def answers(self, instance) -> bool:
        return not instance.hangs


@dataclass
class FakeInstances:
    clock: Clock
    probe: FakeProbe
    made: list[FakeInstance] = field(default_factory=list)
    fail: dict[int, BaseException] = field(default_factory=dict)  # extra index -> create fails
    hang: set[int] = field(default_factory=set)  # extra indexes that stop answering
    shared: list[str] = field(default_factory=list)

    def _make(self, name: str, env: Environment, scale: float, fail=None) -> FakeInstance:
        instance = FakeInstance(name, env, self.clock, scale, fail)
        self.made.append(instance)
        self.probe.instances[name] = instance
        return instance

    def instance(self, env: Environment) -> FakeInstance:
        return self._make(env.name, env, 10.0 if env.kind is Kind.VM else 1.0)

    def extra(self, env: Environment, index: int, memory_mib: int) -> FakeInstance:
        instance = self._make(f"{env.name}-x{index}", env, 1.0, self.fail.get(index))
        instance.hangs = index in self.hang
        return instance

    def create_network(self) -> None:
        self.clock.now += 0.5
        self.shared.append("network")

    def create_pool(self) -> None:
        self.clock.now += 0.25
        self.shared.append("pool")

    def import_image(self) -> None:
        self.clock.now += 3.0
        self.shared.append("image")


@dataclass
class Saved:
    clock: Clock
    trials: list[TrialRecord] = field(default_factory=list)

    def __call__(self, trial: TrialRecord) -> None:
        self.clock.now += 100.0  # a slow disk: never inside a measured interval
        self.trials.append(trial)

    def values(self, workload: str, env: str) -> list[dict[str, float]]:
        return [{s.metric: s.value for s in t.samples} for t in self.trials
                if t.workload == workload and t.env == env and t.status == "ok"]


def _lifecycle(tmp_path: Path, **instances: Any) -> tuple[Lifecycle, FakeInstances, Saved]:
    clock = Clock()
    probe = FakeProbe("key", tmp_path, poll_s=0.1, timeout_s=600, clock=clock, sleep=clock.sleep)
    fakes = FakeInstances(clock, probe, **instances)
    saved = Saved(clock)
    return (Lifecycle(fakes, probe, Recorder("run-1", saved), Console(file=None, quiet=True),
                      settle_s=20.0, idle_window_s=10.0), fakes, saved)


def test_each_step_runs_from_its_call_to_its_event_and_hostbench_s_work_is_outside(tmp_path):
    lifecycle, fakes, saved = _lifecycle(tmp_path)
    lifecycle.cycles([CONTAINER], repeat=1)
    (ready,) = saved.values(READY, "container")
    expected = {"create_s": 1.0, "start_s": 2.0, "address_s": 3.0, "sshd_s": 4.0, "login_s": 0.5}
    for step, seconds in expected.items():  # a polled event is seen within one poll
        assert seconds <= ready[step] <= seconds + 0.1 + 1e-9, step
    assert ready["ready_s"] == pytest.approx(sum(ready[s] for s in expected))
    assert ready["remove_s"] == pytest.approx(0.25)  # storing (100 s) and settling are outside
    (footprint,) = saved.values(FOOTPRINT, "container")
    assert footprint == {"memory_mib": 100.0, "pss_mib": 90.0, "rss_mib": 120.0,
                         "idle_cpu_pct": pytest.approx(1.0), "disk_mib": 42.0}
    assert fakes.made[0].removed == 1


def test_rounds_rotate_and_a_failed_cycle_costs_only_itself(tmp_path):
    lifecycle, fakes, saved = _lifecycle(tmp_path)
    original = fakes.instance

    def failing_second_vm(env):
        instance = original(env)
        if env.kind is Kind.VM and sum(i.env == VM for i in fakes.made) == 2:
            instance.alive = False  # dies during boot
        return instance

    fakes.instance = failing_second_vm
    lifecycle.cycles([VM, CONTAINER], repeat=3)
    order = [(t.env, t.trial) for t in saved.trials if t.workload == READY]
    assert order == [("container", 1), ("vm", 1), ("vm", 2), ("container", 2),
                     ("container", 3), ("vm", 3)]
    failed = [t for t in saved.trials if t.status == "failed"]
    assert [(t.env, t.trial) for t in failed] == [("vm", 2)] and "stopped" in (failed[0].error
                                                                              or "")
    assert all(i.removed == 1 for i in fakes.made)  # the failed one too
    assert len(saved.values(READY, "vm")) == 2 and len(saved.values(READY, "container")) == 3


def test_the_shared_set_up_is_timed_step_by_step(tmp_path):
    lifecycle, fakes, saved = _lifecycle(tmp_path)
    lifecycle.set_up_shared("vm")
    assert saved.values(SETUP, "vm") == [{"network_s": 0.5, "pool_s": 0.25,
                                          "image_import_s": 3.0}]
    assert fakes.shared == ["network", "pool", "image"]


def test_density_steps_double_up_to_the_maximum():
    assert density_steps(1) == [1]
    assert density_steps(2) == [1, 2]
    assert density_steps(5) == [1, 2, 4, 5]
    assert density_steps(8) == [1, 2, 4, 8]


def _limits(**changes: Any) -> DensityLimits:
    used = iter(range(0, 10_000, 50))  # every reading: 50 MiB more in use
    values: dict[str, Any] = {"maximum": 8, "memory_mib": 256, "memory_budget_mib": 10_000.0,
              "time_budget_s": 3600.0, "used_mib": lambda: float(next(used)), **changes}
    return DensityLimits(**values)


def test_density_goes_up_in_steps_and_removes_every_instance(tmp_path):
    lifecycle, fakes, saved = _lifecycle(tmp_path)
    outcome = lifecycle.density(CONTAINER, _limits(maximum=4))
    assert (outcome.instances, outcome.stopped) == (4, "reached the maximum of 4")
    steps = saved.values(DENSITY_STEP, "container")
    assert [s["instances"] for s in steps] == [1, 2, 4]
    assert [s["answering"] for s in steps] == [1, 2, 4]
    assert [s["marginal_mib"] for s in steps] == [50.0, 50.0, 25.0]  # 50 MiB a step / new ones
    assert all(s["attributed_mib"] == 100.0 for s in steps)
    starts = saved.values(DENSITY, "container")
    assert len(starts) == 4 and all(10.4 <= s["ready_s"] <= 10.9 for s in starts)
    assert [i.removed for i in fakes.made] == [1, 1, 1, 1]


def test_density_never_plans_beyond_the_memory_budget(tmp_path):
    lifecycle, fakes, _ = _lifecycle(tmp_path)
    outcome = lifecycle.density(VM, _limits(memory_budget_mib=3 * 256.0))
    assert outcome.instances == 2 and outcome.stopped.startswith("memory budget: 4 x 256 MiB")
    assert len(fakes.made) == 2 and all(i.removed == 1 for i in fakes.made)


def test_density_plans_with_what_an_instance_was_seen_to_cost_beyond_its_memory(tmp_path):
    lifecycle, fakes, _ = _lifecycle(tmp_path)
    used = iter(range(0, 100_000, 400))  # 400 MiB more at every reading: above 256 MiB each
    outcome = lifecycle.density(VM, _limits(memory_budget_mib=1500.0,
                                            used_mib=lambda: float(next(used))))
    assert outcome.instances == 2 and outcome.stopped.startswith("memory budget: 4 x 400 MiB")
    assert len(fakes.made) == 2


def test_density_stops_before_a_step_that_would_pass_the_time_budget(tmp_path):
    lifecycle, fakes, _ = _lifecycle(tmp_path)
    # an instance takes 110.5 s (10.5 s to ready, 100 s to store) and a step about 130 s more:
    # step 2 ends near 480 s, and two more instances would pass 400 s
    outcome = lifecycle.density(CONTAINER, _limits(time_budget_s=400.0))
    assert outcome.instances == 2 and outcome.stopped.startswith("time budget")
    assert [i.removed for i in fakes.made] == [1, 1]


def test_an_instance_that_fails_stops_density_and_everything_is_removed(tmp_path):
    lifecycle, fakes, saved = _lifecycle(tmp_path, fail={3: HostbenchError("no space")})
    outcome = lifecycle.density(CONTAINER, _limits())
    assert outcome.instances == 2 and outcome.stopped == "instance 3 failed: no space"
    failed = [t for t in saved.trials if t.status == "failed"]
    assert [(t.workload, t.trial, t.error) for t in failed] == [(DENSITY, 3, "no space")]
    assert [i.removed for i in fakes.made] == [1, 1, 1]


def test_an_instance_that_stops_answering_ends_density(tmp_path):
    lifecycle, _, saved = _lifecycle(tmp_path, hang={2})
    outcome = lifecycle.density(CONTAINER, _limits())
    assert outcome.stopped == "only 1 of 2 answered"
    assert saved.values(DENSITY_STEP, "container")[-1]["answering"] == 1


def test_ctrl_c_during_density_removes_everything_started(tmp_path):
    lifecycle, fakes, _ = _lifecycle(tmp_path, fail={3: KeyboardInterrupt()})
    with pytest.raises(KeyboardInterrupt):
        lifecycle.density(VM, _limits())
    assert [i.removed for i in fakes.made] == [1, 1, 1]


def test_ctrl_c_during_a_cycle_removes_its_instance(tmp_path):
    lifecycle, fakes, _ = _lifecycle(tmp_path)
    original = fakes.instance

    def interrupted(env):
        instance = original(env)
        instance.memory = lambda: (_ for _ in ()).throw(KeyboardInterrupt())
        return instance

    fakes.instance = interrupted
    with pytest.raises(KeyboardInterrupt):
        lifecycle.cycles([CONTAINER], repeat=1)
    assert fakes.made[0].removed == 1


def test_host_memory_and_ksm_are_read_from_the_kernel(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  4096000 kB\nMemFree: 100 kB\nMemAvailable:  1024000 kB\n")
    assert host_used_mib(meminfo) == pytest.approx((4096000 - 1024000) / 1024)
    assert host_used_mib() > 0
    ksm = tmp_path / "ksm"
    assert ksm_state(ksm).startswith("absent")
    ksm.mkdir()
    (ksm / "run").write_text("1\n")
    (ksm / "pages_sharing").write_text("512\n")
    assert ksm_state(ksm) == "on (run=1, pages_sharing=512)"


@pytest.mark.parametrize(("flags", "problem"), [
    ({"repeat": "0"}, "--repeat"), ({"repeat": "two"}, "--repeat must be a number"),
    ({"density_memory": "64"}, "--density_memory"), ({"settle": "-1"}, "--settle")])
def test_bad_flags_are_named(flags, problem):
    from hostbench.commands.lifecycle import lifecycle_options

    with pytest.raises((ConfigError, HostbenchError), match=problem):
        lifecycle_options(**flags)
