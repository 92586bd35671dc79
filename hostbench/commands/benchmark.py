"""`fab benchmark` and `fab calibrate`: targets -> plan -> a measuring session -> summary."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hostbench.analysis.adaptive import looks
from hostbench.analysis.calibration import SECOND_BASELINE
from hostbench.analysis.rule import ALPHA, MIN_PAIRS
from hostbench.commands.connections import (
    Connect,
    MakeControl,
    chosen_targets,
    console,
    environment_control,
)
from hostbench.commands.session import PER_TRIAL_OVERHEAD_S, Session, measure
from hostbench.errors import ConfigError, HostbenchError
from hostbench.reach.executors import executor_for
from hostbench.record_base import validated
from hostbench.report.tables import plan_table
from hostbench.results.store import Store
from hostbench.run import neighbour_plan
from hostbench.run.run_records import BenchmarkOptions, RunRecord
from hostbench.run.schedule import PlannedTrial, estimate_seconds, plan
from hostbench.run.stressors import chosen as chosen_stressors
from hostbench.run.stressors import load_stressors
from hostbench.run.workloads import Workload, load_catalogue, select
from hostbench.stack.environments import BASELINE, Environment, Kind
from hostbench.stack.lock import cores_lock, stack_lock
from hostbench.stack.spec import StackSpec, load_stack_file
from hostbench.stack.targets import Target, Targets, resolve_targets

"""Pauses, resumes and meters the stack's VMs and containers on the host; tests pass fakes."""
BUDGET_FACTOR = 2.0
"""With --repeat auto and no --budget: up to twice the time of the minimum rounds."""


def comma_list(text: str | None) -> tuple[str, ...]:
    """A flag's comma-separated names."""
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def as_number(kwargs: dict[str, Any], key: str, kind: type, flag: str) -> None:
    """``kwargs[key]`` (a flag's text) as a ``kind`` in place, or an error naming ``--flag``."""
    if kwargs.get(key) is not None:
        try:
            kwargs[key] = kind(kwargs[key])
        except ValueError:
            raise HostbenchError(f"--{flag} must be a number, got {kwargs[key]!r}") from None


def options_from_cli(**kwargs: Any) -> BenchmarkOptions:
    """Options from Fabric task flags (comma-separated lists for workloads and environments);
    a flag not given is None, so the options know which were given (``model_fields_set``)."""
    for flag, field in (("workload", "workloads"), ("env", "envs")):
        if (given := kwargs.pop(flag, None)) is not None:
            kwargs[field] = comma_list(given)
    for flag in ("neighbour", "neighbour_cores"):
        if kwargs.get(flag) is not None:
            kwargs[flag] = comma_list(kwargs[flag])
    if kwargs.get("repeat") != "auto":
        as_number(kwargs, "repeat", int, "repeat")
    for key, kind in (("warmup", int), ("min_repeat", int), ("max_repeat", int),
                      ("margin", float), ("budget_min", float)):
        as_number(kwargs, key, kind, key.replace("_", "-"))
    try:
        opts = validated(BenchmarkOptions, {k: v for k, v in kwargs.items() if v is not None},
                         "the command line", "--")
    except ConfigError as exc:
        raise HostbenchError(f"{exc.field.replace('_', '-')}: {exc.problem}") from None
    if (opts.repeat != "auto" and opts.repeat < 1) or opts.warmup < 0:
        raise HostbenchError("--repeat must be at least 1 (or auto) and --warmup at least 0")
    if not MIN_PAIRS <= opts.min_repeat <= opts.max_repeat:
        raise HostbenchError(f"--min-repeat ({opts.min_repeat}) must be at least {MIN_PAIRS} (no "
                             f"verdict comes from fewer rounds) and at most --max-repeat "
                             f"({opts.max_repeat})")
    if opts.neighbour and (opts.repeat == "auto" or opts.purpose == "calibration"):
        raise HostbenchError("--neighbour runs a fixed number of paired rounds: give --repeat N "
                             "(not auto), and not with fab calibrate")
    if opts.neighbour_cores and not opts.neighbour:
        raise HostbenchError("--neighbour-cores places a neighbour: give --neighbour too")
    if opts.margin is not None and not 0 < opts.margin <= 50:
        raise HostbenchError(f"--margin must be a percentage above 0 and at most 50, got "
                             f"{opts.margin}")
    return opts


def _durations(trials: list[PlannedTrial], catalogue: Mapping[str, Workload], suite: str
               ) -> dict[str, int]:
    """Seconds each planned workload runs per trial in this suite."""
    return {w: catalogue[w].duration(suite) for w in {p.workload for p in trials}}


def _print_plan(trials: list[PlannedTrial], durations: dict[str, int], suite: str,
                environments: Mapping[str, Environment], opts: BenchmarkOptions,
                budget_s: float) -> None:
    estimate = estimate_seconds(trials, durations, PER_TRIAL_OVERHEAD_S)
    console.print(plan_table(trials, durations, suite, environments))
    console.print(f"(* warm-up)  estimated duration: {estimate / 60:.1f} min "
                  f"({PER_TRIAL_OVERHEAD_S}s a trial beyond its duration assumed)")
    if opts.repeat == "auto":
        planned = looks(opts.min_repeat, opts.max_repeat)
        console.print(f"--repeat auto: looks after {', '.join(map(str, planned))} measured "
                      f"rounds; at each, environments whose metrics all have a verdict drop "
                      f"out; every verdict at level {ALPHA}/{len(planned)} so that all looks "
                      f"together claim falsely at most {ALPHA}; time budget "
                      f"{budget_s / 60:.0f} min")


def _environments_for_dry_run(opts: BenchmarkOptions) -> dict[str, Environment]:
    """A dry run needs no targets: without them, the stack config says what would be built."""
    try:
        envs = resolve_targets(opts.stack, opts.targets_file).environments
    except HostbenchError:
        envs = list(load_stack_file(opts.stack).all_environments)
    return {env.name: env for env in envs}


def _chosen_names(opts: BenchmarkOptions, environments: Mapping[str, Environment]) -> list[str]:
    """The environments ``--env`` names (all when none), each one the stack has."""
    if unknown := [n for n in opts.envs if n not in environments]:
        raise HostbenchError(f"stack {opts.stack!r}: no environment(s) {unknown}; it has: "
                             f"{', '.join(environments)}")
    return list(opts.envs or environments)


RESUME_MAY_GIVE = frozenset({"resume", "dry_run", "command_line", "targets_file",
                             "allow_mismatch"})
"""What a resume may set anew; every other option is the run's own."""
FLAGS = {"workloads": "workload", "envs": "env"}


def _flag(name: str, value: object) -> str:
    shown = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
    return f"--{FLAGS.get(name, name).replace('_', '-')} {shown}"


def _conflicts(given: BenchmarkOptions, started: BenchmarkOptions) -> list[str]:
    """The options given with --resume that differ from the run's, each as its flag."""
    return [f"{_flag(name, getattr(given, name))} (the run has "
            f"{_flag(name, getattr(started, name)).split(' ', 1)[1]})"
            for name in sorted(given.model_fields_set - RESUME_MAY_GIVE)
            if getattr(given, name) != getattr(started, name)]


def _resumed(store: Store, opts: BenchmarkOptions, catalogue: Mapping[str, Workload]
             ) -> tuple[BenchmarkOptions, RunRecord, list[PlannedTrial]]:
    """The options the run was started with, and its missing trials."""
    previous = store.get_run(opts.resume or "")
    if conflicts := _conflicts(opts, previous.options):
        raise HostbenchError(f"--resume {previous.id} finishes the run with the options it was "
                             f"started with; these differ: {'; '.join(conflicts)}")
    missing = store.load(previous.id).missing()
    if gone := sorted({p.workload for p in missing} - set(catalogue)):
        raise HostbenchError(
            f"run {previous.id} has trials of {', '.join(gone)} to run, but "
            f"{', '.join(f'workloads/{w}.yaml' for w in gone)} no longer exists (renamed or "
            "removed?): restore it to resume the run, or start a new run")
    opts = previous.options.model_copy(update={
        "resume": previous.id, "dry_run": opts.dry_run, "command_line": opts.command_line,
        "targets_file": opts.targets_file or previous.options.targets_file,
        "envs": tuple(e.name for e in previous.environments)})
    return opts, previous, missing


def _host(spec: StackSpec | None) -> str:
    if spec is None or spec.host is None:
        return "this machine"
    return "host " + spec.host + (f":{spec.host_port}" if spec.host_port else "")


def _refuse_other_targets(previous: RunRecord, targets: Targets) -> None:
    """A run is resumed on the stack, host and image it was started on (and so under the same
    stack's lock), never mixed with another's."""
    pairs = [(f"stack {targets.stack}", f"stack {previous.stack}"),
             (_host(targets.spec), _host(previous.spec)),
             (f"image {targets.image.hash[:12]}", f"image {(previous.image_hash or '?')[:12]}")]
    if differ := [f"{given}; the run's is {started}" for given, started in pairs
                  if given != started]:
        raise HostbenchError(f"--resume {previous.id}: {targets.source} is of {'; '.join(differ)}"
                             ": resume with the run's own targets, or start a new run")


def benchmark(opts: BenchmarkOptions, connect: Connect = executor_for,
              control: MakeControl = environment_control) -> str | None:
    """Run (or resume) a benchmark; returns the run id (None for a dry run)."""
    catalogue = load_catalogue()
    with Store.default() as store:
        previous: RunRecord | None = None
        if opts.resume:
            opts, previous, trials = _resumed(store, opts, catalogue)
            if not trials:
                console.print(f"run {previous.id} has nothing missing")
                return previous.id
            console.print(f"resuming run {previous.id}: {len(trials)} of {len(previous.plan)} "
                          "trials missing")
        targets: Targets | None = None
        if opts.dry_run:
            environments = _environments_for_dry_run(opts)
            names = _chosen_names(opts, environments)
        else:
            targets = resolve_targets(opts.stack, opts.targets_file)
            if previous is not None:
                _refuse_other_targets(previous, targets)
            chosen = chosen_targets(targets, opts.envs)
            if opts.purpose == "calibration":
                chosen = _two_baselines(targets)
            environments = {name: t.environment for name, t in chosen.items()}
            names = list(chosen)
        if previous is None:
            workloads = select(catalogue, opts.suite, list(opts.workloads) or None)
            rounds = opts.min_repeat if opts.repeat == "auto" else opts.repeat
            if opts.neighbour:
                chosen_stressors(load_stressors(), opts.neighbour)
                neighbour_plan.check(workloads)
                names = neighbour_plan.conditions(names, opts.neighbour)
            trials = plan([w.name for w in workloads], names, opts.warmup, rounds)
        durations = _durations(trials, catalogue, opts.suite)
        budget_s = (opts.budget_min * 60 if opts.budget_min is not None else BUDGET_FACTOR
                    * estimate_seconds(trials, durations, PER_TRIAL_OVERHEAD_S))
        _print_plan(trials, durations, opts.suite, environments, opts, budget_s)
        if targets is None:
            return None
        what = opts.command_line or f"fab benchmark ({opts.purpose})"
        with (stack_lock(targets.stack, what),
              cores_lock(targets.spec.host, targets.spec.cores, what)):
            return measure(Session(store, opts, targets, chosen, catalogue, trials, previous,
                                   connect, control(targets.targets, targets.spec.machine),
                                   budget_s))


def _two_baselines(targets: Targets) -> dict[str, Target]:
    """Bare metal twice, on the same tree and cores: an A/A experiment."""
    bare = [t for t in targets.targets.values() if t.kind is Kind.BARE]
    if not bare:
        raise HostbenchError(f"{targets.source}: calibrating needs a bare-metal target")
    return {BASELINE: bare[0].model_copy(update={"name": BASELINE}),
            SECOND_BASELINE: bare[0].model_copy(update={"name": SECOND_BASELINE})}


def calibrate(opts: BenchmarkOptions, connect: Connect = executor_for,
              control: MakeControl = environment_control) -> str | None:
    """`fab calibrate`: the A/A run whose spread is the host's noise floor."""
    return benchmark(opts.model_copy(update={"purpose": "calibration", "envs": ()}),
                     connect, control)
