"""`fab benchmark` and `fab parity`: targets -> parity check -> interleaved trials -> summary."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hostbench.analysis.factors import factor_effects
from hostbench.analysis.overheads import analyse
from hostbench.console import table_console
from hostbench.errors import HostbenchError
from hostbench.image.manifest import load_manifest
from hostbench.paths import run_dir
from hostbench.provision.control import EnvironmentControl
from hostbench.reach.executors import Executor, executor_for
from hostbench.report.run_report import publish
from hostbench.report.tables import (
    factor_table,
    facts_table,
    failures_table,
    plan_table,
    summary_table,
)
from hostbench.results.store import Store, StoredRun
from hostbench.run import facts as facts_mod
from hostbench.run.facts import EnvFacts
from hostbench.run.neighbours import Control, Neighbours
from hostbench.run.parity import ParityError, ParityVerdict, check_parity, verdict
from hostbench.run.records import BenchmarkOptions, RunRecord, new_run_id, timestamp
from hostbench.run.runner import RunContext, cleanup_scratch, run_plan
from hostbench.run.schedule import PlannedTrial, estimate_seconds, plan
from hostbench.run.workloads import Workload, load_catalogue, select
from hostbench.stack.environments import Environment, Kind
from hostbench.stack.spec import load_stack_file
from hostbench.stack.targets import Target, Targets, resolve_targets

console = table_console()
# Estimated orchestration per trial (SSH command, transfers, parsing, storing) for the dry run.
PER_TRIAL_OVERHEAD_S = 1.5

Connect = Callable[[Target, str], Executor]
"""Makes the executor of one target (with the stack's private key); tests pass fakes."""
MakeControl = Callable[[Mapping[str, Target]], Control]
"""Pauses, resumes and meters the stack's VMs and containers on the host; tests pass fakes."""


def _csv(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def options_from_cli(**kwargs: Any) -> BenchmarkOptions:
    """Options from Fabric task flags (comma-separated lists for workloads and environments)."""
    kwargs["workloads"] = _csv(kwargs.pop("workload", None))
    kwargs["envs"] = _csv(kwargs.pop("env", None))
    try:
        kwargs["repeat"], kwargs["warmup"] = int(kwargs["repeat"]), int(kwargs["warmup"])
    except ValueError:
        raise HostbenchError("--repeat and --warmup must be whole numbers") from None
    if kwargs["repeat"] < 1 or kwargs["warmup"] < 0:
        raise HostbenchError("--repeat must be at least 1 and --warmup at least 0")
    if kwargs.get("isolation", "pause") not in ("pause", "none"):
        raise HostbenchError(f"--isolation must be pause or none, got {kwargs['isolation']!r}")
    return BenchmarkOptions(**kwargs)


def _reference_binaries(targets: Targets) -> dict[str, str]:
    """sha256 of each benchmark binary as built (from the image manifest the targets name)."""
    try:
        return load_manifest(Path(targets.image.manifest)).binaries
    except HostbenchError as exc:
        raise HostbenchError(f"{targets.source}: image.manifest: {exc}; the parity check needs "
                             "the image's binary hashes (run scripts/build-image)") from None


def _labels(targets: Mapping[str, Target]) -> dict[str, str]:
    return {name: t.environment.label for name, t in targets.items()}


def collect_facts(targets: Mapping[str, Target], executors: Mapping[str, Executor],
                  binaries: list[str]) -> dict[str, EnvFacts]:
    found = {}
    with console.status("reading facts inside each environment") as status:
        for name, executor in executors.items():
            status.update(f"reading facts inside {targets[name].environment.label}")
            found[name] = facts_mod.collect(executor, binaries)
    return found


def parity(targets: Targets, chosen: Mapping[str, Target], executors: Mapping[str, Executor],
           allow_mismatch: bool) -> tuple[dict[str, EnvFacts], ParityVerdict]:
    """Facts per environment and the parity verdict; raises ParityError unless overridden."""
    reference = _reference_binaries(targets)
    found = collect_facts(chosen, executors, sorted(reference))
    console.print(facts_table(found, _labels(chosen)))
    result = verdict(check_parity(list(chosen.values()), found, reference), allow_mismatch)
    if result.failures:
        console.print(failures_table(result.failures))
        if not allow_mismatch:
            raise ParityError(result.failures)
        console.print(f"[bold yellow]--allow-mismatch: running despite {len(result.failures)} "
                      "parity mismatch(es); this is recorded with the run[/]")
    else:
        console.print(f"[green]parity ok[/]: {len(result.checks)} checks passed in "
                      f"{', '.join(found)}")
    return found, result


def _chosen(targets: Targets, names: tuple[str, ...]) -> dict[str, Target]:
    """The targets to measure, in the stack's order (all of them when none are named)."""
    ordered = [env.name for env in targets.environments]
    unknown = [n for n in names if n not in targets.targets]
    if unknown:
        raise HostbenchError(f"{targets.source}: no target for environment(s) {unknown}; "
                             f"it has: {', '.join(ordered)}")
    return {name: targets.targets[name] for name in (names or ordered)}


def _connect_all(chosen: Mapping[str, Target], key: str, connect: Connect
                 ) -> dict[str, Executor]:
    return {name: connect(target, key) for name, target in chosen.items()}


def _close_all(executors: Mapping[str, Executor]) -> None:
    for executor in executors.values():
        executor.close()


def run_parity(stack: str, targets_file: str | None, connect: Connect = executor_for) -> bool:
    targets = resolve_targets(stack, targets_file)
    chosen = _chosen(targets, ())
    executors = _connect_all(chosen, targets.ssh_private_key, connect)
    try:
        parity(targets, chosen, executors, allow_mismatch=False)
    finally:
        _close_all(executors)
    return True


def _durations(trials: list[PlannedTrial], catalogue: Mapping[str, Workload], suite: str
               ) -> dict[str, int]:
    """Seconds each planned workload runs per trial in this suite."""
    return {w: catalogue[w].duration(suite) for w in {p.workload for p in trials}}


def _print_plan(trials: list[PlannedTrial], durations: dict[str, int], suite: str,
                environments: Mapping[str, Environment]) -> None:
    estimate = estimate_seconds(trials, durations, PER_TRIAL_OVERHEAD_S)
    console.print(plan_table(trials, durations, suite, environments))
    console.print(f"(* warm-up)  estimated duration: {estimate / 60:.1f} min "
                  f"({PER_TRIAL_OVERHEAD_S}s orchestration per trial assumed)")


def _environments_for_dry_run(opts: BenchmarkOptions) -> dict[str, Environment]:
    """A dry run needs no targets: without them, the stack config says what would be built."""
    try:
        envs = resolve_targets(opts.stack, opts.targets_file).environments
    except HostbenchError:
        envs = list(load_stack_file(opts.stack).all_environments)
    return {env.name: env for env in envs}


def _new_run(store: Store, opts: BenchmarkOptions, targets: Targets,
             chosen: Mapping[str, Target], trials: list[PlannedTrial]) -> RunRecord:
    run = RunRecord(
        id=new_run_id(), started_at=timestamp(), stack=targets.stack, suite=opts.suite,
        command_line=opts.command_line, git_commit=facts_mod.git_commit(),
        image_hash=targets.image.hash,
        environments=tuple(t.environment for t in chosen.values()), plan=tuple(trials),
        options=opts, host=facts_mod.host_facts(), spec=targets.spec)
    store.create_run(run)
    return run


def _sigterm_as_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def benchmark(opts: BenchmarkOptions, connect: Connect = executor_for,
              control: MakeControl = EnvironmentControl) -> str | None:
    """Run (or resume) a benchmark; returns the run id (None for a dry run)."""
    catalogue = load_catalogue()
    with Store.default() as store:
        previous = store.get_run(opts.resume) if opts.resume else None
        if previous is not None:
            opts = opts.model_copy(update={
                "suite": previous.suite, "envs": tuple(e.name for e in previous.environments),
                "targets_file": opts.targets_file or previous.options.targets_file,
                "isolation": previous.options.isolation})
            trials = store.load(previous.id).missing()
            if not trials:
                console.print(f"run {previous.id} has nothing missing")
                return previous.id
            console.print(f"resuming run {previous.id}: {len(trials)} of {len(previous.plan)} "
                          "trials missing")
        if opts.dry_run:
            environments = _environments_for_dry_run(opts)
            names = list(opts.envs or environments)
            chosen_names = names
        else:
            targets = resolve_targets(opts.stack, opts.targets_file)
            chosen = _chosen(targets, opts.envs)
            environments = {name: t.environment for name, t in chosen.items()}
            chosen_names = list(chosen)
        if previous is None:
            workloads = select(catalogue, opts.suite, list(opts.workloads) or None)
            trials = plan([w.name for w in workloads], chosen_names, opts.warmup, opts.repeat)
        durations = _durations(trials, catalogue, opts.suite)
        _print_plan(trials, durations, opts.suite, environments)
        if opts.dry_run:
            return None
        return _measure(store, opts, targets, chosen, trials, catalogue, durations, previous,
                        connect, control(chosen))


def _measure(store: Store, opts: BenchmarkOptions, targets: Targets,
             chosen: Mapping[str, Target], trials: list[PlannedTrial],
             catalogue: Mapping[str, Workload], durations: Mapping[str, int],
             previous: RunRecord | None, connect: Connect, host: Control) -> str:
    """Parity, then every planned trial; the run is finished and reported whatever happens."""
    neighbours = Neighbours(host, opts.isolation)
    _resume_all(neighbours)  # a run killed while others were paused left them so
    executors = _connect_all(chosen, targets.ssh_private_key, connect)
    wall_start = time.monotonic()
    ctx: RunContext | None = None
    run_id = previous.id if previous else None
    status = "failed"
    previous_signal = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        found, parity_verdict = parity(targets, chosen, executors, opts.allow_mismatch)
        if run_id is None:
            run_id = _new_run(store, opts, targets, chosen, trials).id
        else:
            store.reopen_run(run_id)
        store.set_parity(run_id, parity_verdict)
        for name, env_facts in found.items():
            store.put_env_facts(run_id, name, env_facts)
        console.print(f"run [bold]{run_id}[/] -> {store.path}")
        bare_trees = [t.rootfs for t in targets.targets.values() if t.kind is Kind.BARE]
        ctx = RunContext(run_id, opts.suite, chosen, catalogue, executors, store.add_trial,
                         run_dir(run_id) / "raw", console,
                         host_tree=bare_trees[0] if bare_trees else None, neighbours=neighbours)
        run_plan(ctx, trials, {w: d + PER_TRIAL_OVERHEAD_S for w, d in durations.items()})
        status = "complete" if ctx.completed >= {p.key for p in trials} else "failed"
    except KeyboardInterrupt:
        status = "interrupted"
        console.print(f"[yellow]interrupted: completed trials are kept; finish with "
                      f"`fab benchmark --resume {run_id}`[/]")
        raise
    finally:
        signal.signal(signal.SIGTERM, previous_signal)
        _resume_all(neighbours)
        if ctx is not None:
            cleanup_scratch(ctx)
        _close_all(executors)
        for problem in sorted(neighbours.problems):
            console.print(f"[yellow]idle neighbours: {problem}[/]", soft_wrap=True)
        if run_id is not None:
            _finish(store, run_id, status, previous, ctx, time.monotonic() - wall_start)
            if status == "interrupted":
                write_outputs(store.load(run_id))
    run = store.load(run_id)
    print_summary(run)
    write_outputs(run)
    missing = run.missing()
    if missing:
        raise HostbenchError(f"run {run_id}: {len(missing)} trial(s) failed or did not run; after "
                             f"fixing the cause, `fab benchmark --resume {run_id}` runs them")
    return run_id


def _resume_all(neighbours: Neighbours) -> None:
    for name in neighbours.control.names():
        try:
            neighbours.control.resume(name)
        except HostbenchError as exc:
            neighbours.problems.add(str(exc))


def write_outputs(run: StoredRun) -> None:
    """Write the run's report and exports and print where; a failure only warns: the trials are
    already stored, and `fab report --run ID` can try again."""
    try:
        paths, _exports = publish(run)
    except Exception as exc:
        console.print(f"[yellow]warning: could not write the report of run {run.id}: "
                      f"{type(exc).__name__}: {exc}; retry with `fab report --run {run.id}`[/]",
                      soft_wrap=True)
        return
    console.print(f"report: {paths.html}", soft_wrap=True)


def _finish(store: Store, run_id: str, status: str, previous: RunRecord | None,
            ctx: RunContext | None, wall: float) -> None:
    """Record status and the split of wall time (added to earlier sessions of a resumed run)."""
    workload = (previous.workload_seconds or 0.0 if previous else 0.0) + (
        ctx.workload_seconds if ctx else 0.0)
    total = (previous.wall_seconds or 0.0 if previous else 0.0) + wall
    store.finish_run(run_id, status, workload_seconds=workload,  # type: ignore[arg-type]
                     orchestration_seconds=max(total - workload, 0.0), wall_seconds=total)


def print_summary(run: StoredRun) -> None:
    record = run.record
    results = analyse(run.measured(), record.environments)
    console.print(summary_table(results, f"run {record.id} ({record.suite} suite, "
                                         f"stack {record.stack})"))
    effects = factor_effects(run.measured(), record.environments)
    if effects:
        console.print(factor_table(effects, "factor effects: each variant against the "
                                            "environment it varies"))
    if "tcg" in record.vm_accels:
        console.print("[bold yellow]The VM ran under TCG (software emulation, no KVM on this "
                      "host): its numbers measure QEMU's emulator, not KVM.[/]")
    failed = run.failed_trials()
    if failed:
        console.print(f"[red]{len(failed)} trial(s) failed[/]; see their raw output under "
                      f"{run_dir(record.id) / 'raw'}")
    if record.wall_seconds:
        share = 100 * (record.orchestration_seconds or 0) / record.wall_seconds
        console.print(f"wall time {record.wall_seconds:.0f}s: workloads "
                      f"{record.workload_seconds or 0:.0f}s, orchestration "
                      f"{record.orchestration_seconds or 0:.0f}s ({share:.1f}%)  "
                      f"status: {record.status}")
