"""What `fab lifecycle` measures: each environment's time from the create call to ready, step by
step, its idle footprint and removal, and with density, how many instances fit and what each
costs.

Every time is the interval between a backend call and an observed event: the clock is read
right before the call and right after the check that sees the event, so hostbench's own work
between measurements (storing, progress, footprint readings) is never inside one. Events that
are polled for (an address, sshd's banner) are seen at most one poll interval late.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from rich.console import Console

from hostbench.console import untrusted
from hostbench.errors import HostbenchError
from hostbench.polling import wait_until
from hostbench.provision.metering import Memory
from hostbench.reach.ssh import StackAccess, close, connection
from hostbench.run.lifecycle_metrics import (
    DENSITY,
    DENSITY_STEP,
    FOOTPRINT,
    HIGHER_IS_BETTER,
    READY,
    READY_STEPS,
    SETUP,
    SETUP_STEPS,
    UNITS,
)
from hostbench.run.run_records import DensityOutcome, Sample, TrialRecord, timestamp
from hostbench.run.schedule import rotation
from hostbench.stack.environments import Environment
from hostbench.stack.targets import SSH_USER

T = TypeVar("T")


class LifecycleError(HostbenchError):
    pass


class LifecycleInstance(Protocol):
    """One VM or container that can be created, started, found, metered and removed."""

    @property
    def name(self) -> str: ...

    @property
    def env(self) -> Environment: ...

    def create(self) -> None: ...

    def start(self) -> None: ...

    def endpoint(self) -> tuple[str, int] | None: ...

    def memory(self) -> Memory: ...

    def cpu_seconds(self) -> float: ...

    def disk_mib(self) -> float: ...

    def remove(self) -> None: ...


class Instances(Protocol):
    """Where the instances come from: the stack's backend (tests pass fakes)."""

    def instance(self, env: Environment) -> LifecycleInstance: ...

    def extra(self, env: Environment, index: int, memory_mib: int) -> LifecycleInstance: ...

    def create_network(self) -> None: ...

    def create_pool(self) -> None: ...

    def import_image(self) -> None: ...


@dataclass
class ReadinessProbe:
    """How ready is observed: sshd's banner, then a first command over SSH with the stack key
    (each instance pins its own host key in its own file under ``known_hosts_dir``)."""

    private_key: str
    known_hosts_dir: Path
    poll_s: float
    timeout_s: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def access(self, instance: LifecycleInstance) -> StackAccess:
        return StackAccess(self.private_key, self.known_hosts_dir / f"{instance.name}.known")

    def forget(self, instance: LifecycleInstance) -> None:
        """A new instance under an old name has a new host key: pinned anew."""
        self.access(instance).known_hosts.unlink(missing_ok=True)

    def wait(self, check: Callable[[], T | None], what: str) -> tuple[T, float]:
        """The first truthy result of ``check`` and the time it was seen."""
        def seen() -> tuple[T, float] | None:
            found = check()
            return (found, self.clock()) if found else None

        result = wait_until(seen, self.timeout_s, self.poll_s, clock=self.clock,
                            sleep=self.sleep)
        if result is None:
            raise LifecycleError(f"{what} not seen within {self.timeout_s:.0f}s")
        return result

    def first_command(self, instance: LifecycleInstance, endpoint: tuple[str, int]) -> None:
        conn = connection(*endpoint, SSH_USER, self.access(instance), timeout=30)
        try:
            conn.run("true", hide=True, in_stream=False)
        finally:
            close(conn)

    def banner(self, endpoint: tuple[str, int]) -> bool:
        return ssh_banner(endpoint)

    def answers(self, instance: LifecycleInstance) -> bool:
        """Whether the instance still runs a command over SSH."""
        try:
            endpoint = instance.endpoint()
            if endpoint is None:
                return False
            self.first_command(instance, endpoint)
            return True
        except Exception:  # any failure means: it does not answer
            return False


def ssh_banner(endpoint: tuple[str, int]) -> bool:
    """Whether sshd answers at ``endpoint`` (a proxy that accepts and closes does not count)."""
    try:
        with socket.create_connection(endpoint, timeout=1) as s:
            s.settimeout(2)
            return s.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def time_to_ready(instance: LifecycleInstance, probe: ReadinessProbe) -> dict[str, float]:
    """Create, start and reach the instance; the time of each step, and the total."""
    clock = probe.clock
    probe.forget(instance)
    t0 = clock()
    instance.create()
    created = clock()
    instance.start()
    running = clock()
    endpoint, addressed = probe.wait(instance.endpoint, f"{instance.name}'s address")
    _, answering = probe.wait(lambda: probe.banner(endpoint),
                              f"{instance.name}'s sshd at {endpoint[0]}:{endpoint[1]}")
    probe.first_command(instance, endpoint)
    done = clock()
    marks = (t0, created, running, addressed, answering, done)
    steps = {step: after - before for step, before, after in zip(READY_STEPS, marks, marks[1:],
                                                                  strict=False)}
    return {**steps, "ready_s": done - t0}


def idle_footprint(instance: LifecycleInstance, settle_s: float, window_s: float,
                   probe: ReadinessProbe) -> dict[str, float]:
    """After ``settle_s`` idle: the host memory, CPU (over ``window_s``) and disk it holds."""
    probe.sleep(settle_s)
    cpu_before, t_before = instance.cpu_seconds(), probe.clock()
    probe.sleep(window_s)
    cpu_after, t_after = instance.cpu_seconds(), probe.clock()
    memory = instance.memory()
    return {"memory_mib": memory.attributed, "pss_mib": memory.pss, "rss_mib": memory.rss,
            "idle_cpu_pct": 100 * (cpu_after - cpu_before) / max(t_after - t_before, 1e-9),
            "disk_mib": instance.disk_mib()}


def timed_removal(instance: LifecycleInstance, probe: ReadinessProbe) -> float:
    t0 = probe.clock()
    instance.remove()
    return probe.clock() - t0


def _meminfo_mib(meminfo: Path) -> dict[str, float]:
    return {k: int(v.split()[0]) / 1024 for k, v in
            (line.split(":", 1) for line in meminfo.read_text().splitlines() if ":" in line)}


def host_used_mib(meminfo: Path = Path("/proc/meminfo")) -> float:
    """Host memory in use: MemTotal minus MemAvailable."""
    fields = _meminfo_mib(meminfo)
    return fields["MemTotal"] - fields["MemAvailable"]


def host_available_mib(meminfo: Path = Path("/proc/meminfo")) -> float:
    return _meminfo_mib(meminfo)["MemAvailable"]


def ksm_state(root: Path = Path("/sys/kernel/mm/ksm")) -> str:
    """Whether the kernel merges identical pages (KSM), which lowers what each VM costs."""
    if not (root / "run").is_file():
        return "absent (kernel without KSM)"
    run = (root / "run").read_text().strip()
    sharing = (root / "pages_sharing").read_text().strip()
    return f"{'on' if run == '1' else 'off'} (run={run}, pages_sharing={sharing})"


def density_steps(maximum: int) -> list[int]:
    """1, 2, 4, ... instances, the last one ``maximum``."""
    steps, n = [], 1
    while n < maximum:
        steps.append(n)
        n *= 2
    return [*steps, maximum]


@dataclass
class Recorder:
    """Turns measured values into stored trials (each committed as it is made)."""

    run_id: str
    save: Callable[[TrialRecord], object]  # stores it
    position: int = 0
    trial_ids: dict[tuple[str, str], int] = field(default_factory=dict)

    def record(self, workload: str, env: str, values: dict[str, float], trial: int | None = None,
               command: str = "", error: str | None = None) -> None:
        key = (workload, env)
        number = trial if trial is not None else self.trial_ids.get(key, 0) + 1
        self.trial_ids[key] = number
        self.position += 1
        started = timestamp()
        samples = tuple(Sample(workload=workload, env=env, trial=number, warmup=False,
                               position=self.position, metric=metric, value=value,
                               unit=UNITS.get(metric, "s"),
                               higher_is_better=metric in HIGHER_IS_BETTER, timestamp=started)
                        for metric, value in values.items())
        self.save(TrialRecord(run_id=self.run_id, workload=workload, env=env, trial=number,
                              warmup=False, position=self.position,
                              status="failed" if error else "ok", command=command,
                              started_at=started, error=error, samples=samples))


@dataclass
class Lifecycle:
    """One `fab lifecycle` measurement over a stack's instances."""

    instances: Instances
    probe: ReadinessProbe
    recorder: Recorder
    console: Console
    settle_s: float
    idle_window_s: float

    def set_up_shared(self, env: str) -> None:
        """The stack's network, pool and image import, each timed (VMs need them), recorded
        with the VM environment ``env``."""
        clock = self.probe.clock
        marks = [clock()]
        with self.console.status("stack set-up: network, storage pool, image import"):
            for step in (self.instances.create_network, self.instances.create_pool,
                         self.instances.import_image):
                step()
                marks.append(clock())
        values = {name: after - before for name, before, after in
                  zip(SETUP_STEPS, marks, marks[1:], strict=False)}
        self.recorder.record(SETUP, env, values, command="network, pool, image upload")
        self.console.print(f"stack set-up: {_steps_text(values)}", highlight=False)

    def cycles(self, environments: Sequence[Environment], repeat: int) -> None:
        """``repeat`` rounds, each environment once a round in rotated order: create, ready,
        idle footprint, remove."""
        for round_index in range(1, repeat + 1):
            for env in rotation([e.name for e in environments], round_index):
                self._cycle(next(e for e in environments if e.name == env), round_index)

    def _cycle(self, env: Environment, round_index: int) -> None:
        instance = self.instances.instance(env)
        what = f"round {round_index}: {env.label}"
        with self.console.status(f"{what}: create to ready"):
            try:
                with _removed_on_failure(instance):
                    ready = time_to_ready(instance, self.probe)
                    footprint = idle_footprint(instance, self.settle_s, self.idle_window_s,
                                               self.probe)
                    ready["remove_s"] = timed_removal(instance, self.probe)
            except Exception as exc:  # one failed cycle costs only itself
                self.recorder.record(READY, env.name, {}, trial=round_index,
                                     command=f"create {instance.name}", error=str(exc))
                self.console.print(untrusted(f"{what}: failed: {exc}", "red"), soft_wrap=True)
                return
        self.recorder.record(READY, env.name, ready, trial=round_index,
                             command=f"create {instance.name}")
        self.recorder.record(FOOTPRINT, env.name, footprint, trial=round_index,
                             command=f"idle {self.settle_s:g}s, window {self.idle_window_s:g}s")
        self.console.print(f"{what}: {_steps_text(ready)}; idle "
                           f"{footprint['memory_mib']:.0f} MiB, "
                           f"{footprint['idle_cpu_pct']:.1f}% CPU", highlight=False)

    def density(self, env: Environment, limits: DensityLimits) -> DensityOutcome:
        """Instances of ``env`` started one after the other in steps of 1, 2, 4, ... until a
        limit; all of them removed again, whatever happens. A step starts only if its
        instances fit the memory budget at the most an instance was seen to cost (never less
        than its memory size)."""
        started: list[LifecycleInstance] = []
        try:
            return self._density(env, limits, started)
        finally:
            for instance in reversed(started):
                with suppress(Exception):
                    instance.remove()

    def _density(self, env: Environment, limits: DensityLimits, started: list[LifecycleInstance]
                 ) -> DensityOutcome:
        clock = self.probe.clock
        begin, baseline = clock(), limits.used_mib()
        per_instance_s, per_instance_mib = 0.0, float(limits.memory_mib)
        for step in density_steps(limits.maximum):
            new = step - len(started)
            if step * per_instance_mib > limits.memory_budget_mib:
                return _outcome(env, started, f"memory budget: {step} x {per_instance_mib:.0f} "
                                f"MiB > {limits.memory_budget_mib:.0f} MiB")
            if started and clock() - begin + new * per_instance_s > limits.time_budget_s:
                return _outcome(env, started, f"time budget: {step} instances would take "
                                f"longer than {limits.time_budget_s:.0f}s in all")
            before, step_start = limits.used_mib(), clock()
            for _ in range(new):
                instance = self.instances.extra(env, len(started) + 1, limits.memory_mib)
                started.append(instance)
                with self.console.status(f"density {env.label}: instance {len(started)} "
                                         f"of {step}"):
                    try:
                        ready = time_to_ready(instance, self.probe)
                    except Exception as exc:  # recorded, then density stops
                        self.recorder.record(DENSITY, env.name, {}, trial=len(started),
                                             command=f"create {instance.name}", error=str(exc))
                        return _outcome(env, started[:-1],
                                        f"instance {len(started)} failed: {exc}")
                self.recorder.record(DENSITY, env.name, {**ready, "instances": step},
                                     trial=len(started), command=f"create {instance.name}")
            per_instance_s = (clock() - step_start) / new
            self.probe.sleep(self.settle_s)
            answering = sum(self.probe.answers(i) for i in started)
            after = limits.used_mib()
            attributed = sum(i.memory().attributed for i in started) / step
            # what an instance really costs the host may exceed its memory size (a TCG VM's
            # translation cache): later steps are planned with the most seen
            per_instance_mib = max(per_instance_mib, attributed, (after - before) / new)
            self.recorder.record(DENSITY_STEP, env.name, {
                "instances": step, "answering": answering, "host_memory_mib": after - baseline,
                "marginal_mib": (after - before) / new, "attributed_mib": attributed},
                trial=step, command=f"{step} instances")
            self.console.print(f"density {env.label}: {step} running, {answering} answer, "
                               f"{(after - before) / new:.0f} MiB more each", highlight=False)
            if answering < step:
                return _outcome(env, started, f"only {answering} of {step} answered")
        return _outcome(env, started, f"reached the maximum of {limits.maximum}")


@dataclass(frozen=True)
class DensityLimits:
    maximum: int
    memory_mib: int
    memory_budget_mib: float
    time_budget_s: float
    used_mib: Callable[[], float] = host_used_mib


def _outcome(env: Environment, started: list[LifecycleInstance], why: str) -> DensityOutcome:
    return DensityOutcome(env=env.name, instances=len(started), stopped=why)


@contextmanager
def _removed_on_failure(instance: LifecycleInstance) -> Iterator[None]:
    """Removes the instance when the block fails (on success the block removes it, timed)."""
    try:
        yield
    except BaseException:
        with suppress(Exception):
            instance.remove()
        raise


def _steps_text(values: dict[str, float]) -> str:
    return ", ".join(f"{k.removesuffix('_s')} {v:.2f}s" for k, v in values.items())
