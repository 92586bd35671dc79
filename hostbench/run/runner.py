"""Executing planned trials: host-side servers, scratch files, raw output on disk, each trial
handed to the caller (who stores it) as it finishes, failures recorded without stopping the run."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from hostbench.console import untrusted
from hostbench.errors import HostbenchError, write_refused
from hostbench.reach.executors import ChrootExecutor, ExecResult, Executor, TrialTimeout
from hostbench.reach.ssh import TargetUnreachable
from hostbench.run.accounting import Accountant, TrialAccounts, rusage_figures
from hostbench.run.conditions import split
from hostbench.run.firewall import client_source
from hostbench.run.neighbours import Neighbours, Usage
from hostbench.run.parsers import parse
from hostbench.run.phases import Phases
from hostbench.run.run_records import Sample, TrialRecord, timestamp
from hostbench.run.schedule import PlannedTrial
from hostbench.run.servers import HostServerProcess, free_cores, server_cores
from hostbench.run.services import ServiceError, ServiceInEnvironment, accepts_on
from hostbench.run.stressor_neighbours import Stressing
from hostbench.run.workloads import Workload
from hostbench.stack.host import Host, LocalHost
from hostbench.stack.spec import cpuset
from hostbench.stack.targets import SCRATCH_DIR, Target

TrialSink = Callable[[TrialRecord], object]
"""Receives every trial the moment it finishes (the results store commits it)."""


@dataclass
class RunContext:
    run_id: str
    suite: str
    targets: Mapping[str, Target]
    workloads: Mapping[str, Workload]
    executors: Mapping[str, Executor]
    save: TrialSink
    raw_dir: Path
    console: Console
    host_tree: str | None = None  # the image tree on the host, where host-side servers run from
    firewall_tag: str = "hostbench"  # the comment on the rules that keep host servers private
    neighbours: Neighbours | None = None  # the other environments: paused and metered
    host: Host = field(default_factory=LocalHost)  # where bare metal and host servers run
    workload_seconds: float = 0.0
    # env -> the workload during which it stopped answering, and why; it is tried again once
    # when the next workload begins
    dead: dict[str, tuple[str, str]] = field(default_factory=dict)
    prepared: set[tuple[str, str]] = field(default_factory=set)
    completed: set[tuple[str, str, int]] = field(default_factory=set)  # keys of ok trials
    sources: dict[str, str] = field(default_factory=dict)  # env -> address it connects from
    clients_set_up: set[tuple[str, str]] = field(default_factory=set)  # service workloads
    stressors: Mapping[str, Stressing] = field(default_factory=dict)  # by env@stressor name
    accountant: Accountant | None = None  # where each trial's time went; None: not accounted
    phases: Phases = field(default_factory=Phases)  # where hostbench's own time went


def _raw_text(argv: str, result: ExecResult | None, error: str | None) -> str:
    parts = [f"$ {argv}"]
    if result is not None:
        parts += [f"# exit code {result.exit_code}, inside {result.inside_s}s, "
                  f"wall {result.wall_s:.3f}s", "## stdout", result.stdout, "## stderr",
                  result.stderr]
    if error:
        parts += ["## error", error]
    return "\n".join(parts) + "\n"


def scratch_file(workload: Workload) -> str:
    return f"{SCRATCH_DIR}/hostbench-{workload.name}.dat"


def service_dir(workload: Workload) -> str:
    return f"{SCRATCH_DIR}/hostbench-{workload.name}.d"


def _source(ctx: RunContext, env: str) -> str:
    """The address ``env`` connects to the host from, which is also where the host reaches it
    (asked once per run)."""
    if env not in ctx.sources:
        ctx.sources[env] = client_source(ctx.executors[env], ctx.targets[env].host_address)
    return ctx.sources[env]


def _extras(ctx: RunContext, workload: Workload, env: str) -> dict[str, str | int | float]:
    extra: dict[str, str | int | float] = {"memory_mib": ctx.targets[env].memory_mib}
    if workload.scratch_mib:
        extra["scratch_file"] = scratch_file(workload)
    if workload.host_server:
        extra["server_address"] = ctx.targets[env].host_address
        extra["port"] = workload.host_server.port
    if workload.service:
        extra["service_address"] = _source(ctx, env)
        extra["client_address"] = ctx.targets[env].host_address
        extra["port"] = workload.service.port
        extra["service_dir"] = service_dir(workload)
    return extra


def _checked(result: ExecResult, what: str) -> None:
    if result.exit_code != 0:
        raise HostbenchError(f"{what} failed, exit code {result.exit_code}: "
                             f"{(result.stderr or result.stdout).strip()[-300:]}")


def _prepare(ctx: RunContext, workload: Workload, env: str, values: Mapping[str, object]
             ) -> None:
    """Once per workload and environment: the scratch directory exists; a service's directory
    is new and its setup has run."""
    if (workload.name, env) in ctx.prepared:
        return
    executor = ctx.executors[env]
    if workload.scratch_mib:
        _checked(executor.run(["mkdir", "-p", SCRATCH_DIR], 60), f"creating {SCRATCH_DIR}")
    if workload.service:
        directory = service_dir(workload)
        _checked(executor.run(["sh", "-c", 'rm -rf "$1" && mkdir -p "$1"', "sh", directory], 60),
                 f"creating {directory}")
        if workload.service.setup:
            _checked(executor.run(workload.fill("service.setup", workload.service.setup, values),
                                  workload.timeout_s), "service setup")
    ctx.prepared.add((workload.name, env))


@dataclass
class Measuring:
    """One trial's measured command on its way: where it runs, what it runs, and the accounts
    its accounting fills."""

    env: str
    argv: list[str]
    values: Mapping[str, object]
    raw: Path
    accounts: TrialAccounts = field(default_factory=TrialAccounts)

    @contextmanager
    def accounted(self, ctx: RunContext) -> Iterator[None]:
        """Around the measured command only (servers, services and neighbours are already up)."""
        if ctx.accountant is None:
            yield
            return
        with ctx.accountant.around(self.env, self.accounts):
            yield


def _execute(ctx: RunContext, workload: Workload, m: Measuring, usage: Usage,
             stressing: Stressing) -> ExecResult:
    """The workload in its environment, its idle neighbours quiet (``usage`` gets what they
    used), and the stressing neighbour, if any, running throughout."""
    if ctx.neighbours is None:
        with stressing():
            return _with_server(ctx, workload, m)
    with ctx.neighbours.around(m.env) as measured, stressing():
        result = _with_server(ctx, workload, m)
    usage.cpu_s = measured.cpu_s
    return result


def _host_tree(ctx: RunContext) -> str:
    if not ctx.host_tree:
        raise HostbenchError("host-side servers and load generators run from the image tree: "
                             "the targets need a bare-metal entry with its rootfs")
    return ctx.host_tree


def _with_server(ctx: RunContext, workload: Workload, m: Measuring) -> ExecResult:
    executor = ctx.executors[m.env]
    if workload.service is not None:
        return _with_service(ctx, workload, m)
    if workload.host_server is None:
        with m.accounted(ctx):
            return executor.run(m.argv, workload.timeout_s)
    target, server = ctx.targets[m.env], workload.host_server
    with HostServerProcess(server.render(target.host_address), target.host_address, server.port,
                           _host_tree(ctx), server_cores(target.cores, ctx.host),
                           m.raw.with_suffix(".server.log"), server.protocol,
                           client=_source(ctx, m.env), tag=ctx.firewall_tag, host=ctx.host), \
            m.accounted(ctx):
        return executor.run(m.argv, workload.timeout_s)


def load_generator(ctx: RunContext, env: str) -> ChrootExecutor:
    """Where a service workload's client runs: the image tree on the host, on cores no
    environment uses (never on a measured one: with none left, the trial cannot run)."""
    measured = {core for target in ctx.targets.values() for core in target.cores}
    free = free_cores(measured, ctx.host)
    if not free:
        raise HostbenchError(f"no host core is left for the load generator: the environments "
                             f"use cores {cpuset(sorted(measured))}, all this host has; give "
                             "the stack fewer cores")
    return ChrootExecutor("load generator", _host_tree(ctx), cpuset(free), host=ctx.host)


def _with_service(ctx: RunContext, workload: Workload, m: Measuring) -> ExecResult:
    """The service up inside the environment (its client setup run once), the command from
    the host."""
    assert workload.service is not None
    env, values = m.env, m.values
    client = load_generator(ctx, env)
    spec = workload.service
    with ServiceInEnvironment(
            ctx.executors[env], workload.fill("service.command", spec.command, values),
            str(values["service_address"]), spec.port,
            workload.timeout_s * 2 + spec.ready_timeout_s, spec.ready_timeout_s,
            m.raw.with_suffix(".service.log"), accepts_on(ctx.host),
            client=str(values["client_address"]), tag=ctx.firewall_tag,
            host=ctx.host) as service:
        if workload.client_setup and (workload.name, env) not in ctx.clients_set_up:
            _checked(client.run(workload.fill("client_setup", workload.client_setup, values),
                                workload.timeout_s), "client setup")
            ctx.clients_set_up.add((workload.name, env))
        with m.accounted(ctx):
            result = client.run(m.argv, workload.timeout_s)
        gone = service.exited_early()
    if gone:
        raise ServiceError(gone)
    return result


def run_trial(ctx: RunContext, planned: PlannedTrial) -> TrialRecord:
    """Run one planned trial and hand it (ok or failed) to ``ctx.save`` before returning;
    a trial named ``env@stressor`` runs in ``env`` with that stressor's neighbour beside it."""
    workload, env = ctx.workloads[planned.workload], split(planned.env)[0]
    stressing = ctx.stressors.get(planned.env, nullcontext)
    raw = ctx.raw_dir / workload.name / f"{planned.trial:03d}-{planned.env}.txt"
    command = shlex.join(workload.command)  # the template, until the values are known
    started = timestamp()
    result: ExecResult | None = None
    samples: tuple[Sample, ...] = ()
    error: str | None = None
    usage = Usage()
    measuring: Measuring | None = None
    if env in ctx.dead and ctx.dead[env][0] != workload.name:
        del ctx.dead[env]  # another workload: one more try (a target busy for a while answers)
    if env in ctx.dead:
        error = (f"skipped: target stopped answering earlier in this workload "
                 f"({ctx.dead[env][1]}); tried again when the next one begins")
    else:
        try:
            if ctx.neighbours is not None:  # nothing runs in an environment paused for another
                with ctx.phases.timed("neighbours"):
                    ctx.neighbours.ready(env)
            with ctx.phases.timed("set-up"):
                values = workload.values(ctx.suite, len(ctx.targets[env].cores),
                                         _extras(ctx, workload, env))
                argv = workload.fill("command", workload.command, values)
                command = shlex.join(argv)
                _prepare(ctx, workload, env, values)
            measuring = Measuring(env, argv, values, raw)
            executing = time.monotonic()
            result = _execute(ctx, workload, measuring, usage, stressing)
            _split_execution(ctx.phases, time.monotonic() - executing, result,
                             measuring.accounts)
            if result.rusage is not None:
                measuring.accounts.figures += rusage_figures(
                    result.rusage, "loadgen" if workload.service else "workload")
            ctx.workload_seconds += result.inside_s or result.wall_s
            if result.exit_code != 0:
                error = (f"exit code {result.exit_code}: "
                         f"{(result.stderr or result.stdout).strip()[-300:]}")
            else:
                parsed = parse(workload.parser, result.stdout)
                samples = tuple(
                    Sample(workload=workload.name, env=planned.env, trial=planned.trial,
                           warmup=planned.warmup, position=planned.position, metric=m.name,
                           value=parsed[m.name], unit=m.unit,
                           higher_is_better=m.higher_is_better, timestamp=started)
                    for m in workload.metric_specs)
        except TargetUnreachable as exc:
            ctx.dead[env] = (workload.name, str(exc))
            error = f"target unreachable: {exc}"
        except (TrialTimeout, HostbenchError) as exc:
            error = f"{type(exc).__name__}: {exc}"
    storing = time.monotonic()
    _write_raw(ctx, raw, _raw_text(command, result, error))
    trial = TrialRecord(
        run_id=ctx.run_id, workload=workload.name, env=planned.env, trial=planned.trial,
        warmup=planned.warmup, position=planned.position, status="failed" if error else "ok",
        command=command, started_at=started, wall_s=result.wall_s if result else None,
        duration_s=result.inside_s if result else None, error=error, raw_path=str(raw),
        neighbours_cpu_s=usage.cpu_s, samples=() if error else samples,
        **_accounting(measuring, error))
    ctx.save(trial)
    ctx.phases.add("stores", time.monotonic() - storing)
    if trial.status == "ok":
        ctx.completed.add(trial.key)
    return trial


def _split_execution(phases: Phases, spent: float, result: ExecResult,
                     accounts: TrialAccounts) -> None:
    """A trial's execution beyond its measured command: getting the command there and its
    result back (transport), the host's snapshots, and servers, services and metering."""
    inside = result.inside_s if result.inside_s is not None else result.wall_s
    accounting = sum(f.value for f in accounts.figures if f.name == "accounting.cost")
    phases.add("transport", result.wall_s - inside)
    phases.add("accounting", accounting)
    phases.add("servers", spent - result.wall_s - accounting)


def _accounting(measuring: Measuring | None, error: str | None) -> dict[str, object]:
    """A measured trial's accounting and why any is missing (a failed one keeps none)."""
    if measuring is None or error:
        return {}
    accounts = measuring.accounts
    return {"accounting": tuple(accounts.figures), "accounting_note": accounts.note}


def _write_raw(ctx: RunContext, raw: Path, text: str) -> None:
    """The trial's raw output on disk; a disk that refuses it stops the run, as the store does."""
    try:
        raw.parent.mkdir(parents=True, exist_ok=True)
        raw.write_text(text)
    except OSError as exc:
        raise write_refused(raw, exc, ctx.run_id) from None


def cleanup_scratch(ctx: RunContext) -> None:
    """Remove the scratch files and service directories workloads made (the scratch directory
    stays, it is empty)."""
    for workload_name, env in sorted(ctx.prepared):
        workload = ctx.workloads[workload_name]
        made = ([scratch_file(workload)] if workload.scratch_mib else []) + (
            [service_dir(workload)] if workload.service else [])
        if made and env not in ctx.dead:
            try:
                ctx.executors[env].run(["rm", "-rf", *made], 60)
            except (TargetUnreachable, TrialTimeout) as exc:
                ctx.console.print(untrusted(f"could not remove scratch files in {env}: {exc}",
                                            "yellow"))


def _describe(ctx: RunContext, p: PlannedTrial) -> str:
    kind = "warm-up" if p.warmup else "trial"
    env, stressor = split(p.env)
    beside = f" beside {stressor}" if stressor else ""
    return f"{p.workload} {ctx.targets[env].environment.label}{beside} {kind} {p.trial}"


@dataclass
class TrialProgress:
    """One progress display for a whole run, whose ETA is weighted by each workload's estimated
    trial time; rounds that `--repeat auto` adds extend it."""

    progress: Progress
    task: TaskID
    estimate_s: Mapping[str, float]  # per trial, by workload
    done: int = 0
    count: int = 0

    def add(self, trials: list[PlannedTrial]) -> None:
        self.count += len(trials)
        total = (self.progress.tasks[self.task].total or 0.0) + sum(
            self.estimate_s[p.workload] for p in trials)
        self.progress.update(self.task, total=total, count=self.count)


@contextmanager
def trial_progress(console: Console, estimate_s: Mapping[str, float], note: str = ""
                   ) -> Iterator[TrialProgress]:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.fields[done]}/{task.fields[count]} trials" + note),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("benchmark", total=0.0, done=0, count=0)
        yield TrialProgress(progress, task, estimate_s)


def run_plan(ctx: RunContext, plan: list[PlannedTrial], shown: TrialProgress) -> None:
    """All trials of ``plan`` in order, each handed over at once, shown in ``shown``."""
    shown.add(plan)
    for planned in plan:
        shown.progress.update(shown.task, description=_describe(ctx, planned))
        start = time.monotonic()
        trial = run_trial(ctx, planned)
        mark = Text("ok", "green") if trial.status == "ok" else Text.assemble(
            ("failed", "red"), " ", untrusted(trial.error or ""))
        shown.progress.console.print(Text.assemble(
            f"  {_describe(ctx, planned)}: ", mark,
            (f" ({time.monotonic() - start:.1f}s)", "dim")), highlight=False)
        shown.done += 1
        shown.progress.update(shown.task, advance=shown.estimate_s[planned.workload],
                              done=shown.done)
