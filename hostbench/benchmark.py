"""`fab benchmark` and `fab parity`: targets -> parity check -> interleaved trials -> summary."""

from __future__ import annotations

import dataclasses
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from hostbench import facts as facts_mod
from hostbench.cli import table_console
from hostbench.errors import HostbenchError
from hostbench.executors import Executor
from hostbench.image.manifest import load_manifest
from hostbench.parity import (
    ParityError,
    check_parity,
    facts_table,
    failures,
    failures_table,
)
from hostbench.paths import results_dir
from hostbench.report import publish
from hostbench.runner import RunContext, cleanup_scratch, run_plan
from hostbench.schedule import ENVIRONMENTS, PlannedTrial, estimate_seconds, plan
from hostbench.store import RunRecord, Store, new_run_id, timestamp
from hostbench.summary import analyse, env_label, summary_table
from hostbench.target_source import Targets, resolve_targets
from hostbench.workloads import Workload, load_catalogue, select

console = table_console()
# Estimated orchestration per trial (SSH command, transfers, parsing, storing) for the dry run.
PER_TRIAL_OVERHEAD_S = 1.5


@dataclass(frozen=True)
class BenchmarkOptions:
    stack: str = "local"
    targets_file: str | None = None
    suite: str = "quick"
    repeat: int = 5
    warmup: int = 1
    workloads: tuple[str, ...] = ()
    envs: tuple[str, ...] = ()
    dry_run: bool = False
    resume: str | None = None
    allow_mismatch: bool = False
    command_line: str = ""


def _csv(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def options_from_cli(**kwargs: Any) -> BenchmarkOptions:
    """Options from Fabric task flags (comma-separated lists for workloads and environments)."""
    kwargs["workloads"] = _csv(kwargs.pop("workload", None))
    kwargs["envs"] = _csv(kwargs.pop("env", None))
    unknown = sorted(set(kwargs["envs"]) - set(ENVIRONMENTS))
    if unknown:
        raise HostbenchError(f"--env: unknown environment(s) {unknown}; "
                             f"known: {', '.join(ENVIRONMENTS)}")
    if int(kwargs.get("repeat", 1)) < 1 or int(kwargs.get("warmup", 0)) < 0:
        raise HostbenchError("--repeat must be at least 1 and --warmup at least 0")
    kwargs["repeat"], kwargs["warmup"] = int(kwargs["repeat"]), int(kwargs["warmup"])
    return BenchmarkOptions(**kwargs)


def _reference_binaries(targets: Targets) -> dict[str, str]:
    """sha256 of each benchmark binary as built (from the image manifest the targets name)."""
    manifest = targets.image.get("manifest")
    if manifest and Path(manifest).exists():
        return load_manifest(Path(manifest)).binaries
    raise HostbenchError(f"{targets.source}: image.manifest {manifest!r} is missing; the parity "
                         "check needs the image's binary hashes (run scripts/build-image)")


def collect_facts(targets: Targets, executors: dict[str, Executor], binaries: list[str]
                  ) -> dict[str, dict[str, Any]]:
    found = {}
    with console.status("reading facts inside each environment") as status:
        for env, executor in executors.items():
            status.update(f"reading facts inside {env_label(env, targets.vm_accel)}")
            found[env] = facts_mod.collect(executor, binaries)
    return found


def parity(targets: Targets, executors: dict[str, Executor], allow_mismatch: bool
           ) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Facts per environment and the parity verdict; raises ParityError unless overridden."""
    reference = _reference_binaries(targets)
    found = collect_facts(targets, executors, sorted(reference))
    console.print(facts_table(found, env_label("vm", targets.vm_accel)))
    checks = check_parity(targets, found, reference)
    bad = failures(checks)
    verdict = {"ok": not bad, "checks": [c.to_dict() for c in checks],
               "overridden": bool(bad) and allow_mismatch}
    if bad:
        console.print(failures_table(bad))
        if not allow_mismatch:
            raise ParityError(bad)
        console.print(f"[bold yellow]--allow-mismatch: running despite {len(bad)} parity "
                      "mismatch(es); this is recorded with the run[/]")
    else:
        console.print(f"[green]parity ok[/]: {len(checks)} checks passed in "
                      f"{', '.join(found)}")
    return found, verdict


def _executors(targets: Targets, envs: tuple[str, ...]) -> dict[str, Executor]:
    wanted = envs or tuple(e for e in ENVIRONMENTS if e in targets.targets)
    missing = [e for e in wanted if e not in targets.targets]
    if missing:
        raise HostbenchError(f"{targets.source}: no target for environment(s) {missing}")
    return {env: targets.executor(env) for env in wanted}


def run_parity(stack: str, targets_file: str | None) -> bool:
    targets = resolve_targets(stack, targets_file)
    executors = _executors(targets, ())
    try:
        parity(targets, executors, allow_mismatch=False)
    finally:
        for executor in executors.values():
            executor.close()
    return True


def _durations(trials: list[PlannedTrial], catalogue: dict[str, Workload], suite: str
               ) -> dict[str, int]:
    """Seconds each planned workload runs per trial in this suite."""
    return {w: catalogue[w].duration(suite) for w in {p.workload for p in trials}}


def _print_plan(trials: list[PlannedTrial], durations: dict[str, int], suite: str) -> float:
    estimate = estimate_seconds(trials, durations, PER_TRIAL_OVERHEAD_S)
    table = Table(title=f"plan: {len(trials)} trials, suite {suite}")
    for column in ("workload", "duration", "rounds", "order of environments per round"):
        table.add_column(column)
    for name in dict.fromkeys(p.workload for p in trials):
        mine = [p for p in trials if p.workload == name]
        rounds: dict[int, list[str]] = {}
        for p in mine:
            rounds.setdefault(p.trial, []).append(p.env + ("*" if p.warmup else ""))
        table.add_row(name, f"{durations[name]}s", str(len(rounds)),
                      "; ".join(" ".join(r) for r in list(rounds.values())[:3])
                      + (" ..." if len(rounds) > 3 else ""))
    console.print(table)
    console.print(f"(* warm-up)  estimated duration: {estimate / 60:.1f} min "
                  f"({PER_TRIAL_OVERHEAD_S}s orchestration per trial assumed)")
    return estimate


def _new_run(store: Store, opts: BenchmarkOptions, targets: Targets, trials: list[PlannedTrial]
             ) -> RunRecord:
    host = facts_mod.host_facts(targets.vm_accel)
    run = RunRecord(
        id=new_run_id(), started_at=timestamp(), stack=targets.stack, suite=opts.suite,
        command_line=opts.command_line, git_commit=facts_mod.git_commit(),
        image_hash=targets.image.get("hash"), plan=[dataclasses.asdict(p) for p in trials],
        options=dataclasses.asdict(opts), host_facts=host, stack_config=targets.spec,
        tool_versions=host["versions"])
    store.create_run(run)
    return run


def _sigterm_as_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def benchmark(opts: BenchmarkOptions) -> str | None:
    """Run (or resume) a benchmark; returns the run id (None for a dry run)."""
    catalogue = load_catalogue()
    store = Store.default()
    if opts.resume:
        previous = store.get_run(opts.resume)
        saved = previous.options or {}
        opts = dataclasses.replace(opts, suite=previous.suite,
                                   envs=tuple(saved.get("envs", ())),
                                   targets_file=opts.targets_file or saved.get("targets_file"))
        trials = [PlannedTrial(**p) for p in store.missing(previous.id)]
        if not trials:
            console.print(f"run {previous.id} has nothing missing")
            return previous.id
        console.print(f"resuming run {previous.id}: {len(trials)} of {len(previous.plan)} "
                      "trials missing")
    else:
        chosen = select(catalogue, opts.suite, list(opts.workloads) or None)
        trials = plan([w.name for w in chosen], list(opts.envs or ENVIRONMENTS), opts.warmup,
                      opts.repeat)
    durations = _durations(trials, catalogue, opts.suite)
    _print_plan(trials, durations, opts.suite)
    if opts.dry_run:
        return None
    targets = resolve_targets(opts.stack, opts.targets_file)
    envs = tuple(dict.fromkeys(p.env for p in trials))
    executors = _executors(targets, envs)
    wall_start = time.monotonic()
    ctx: RunContext | None = None
    run_id = opts.resume
    status = "failed"
    previous_signal = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        found, verdict = parity(targets, executors, opts.allow_mismatch)
        if run_id is None:
            run_id = _new_run(store, opts, targets, trials).id
        else:
            store.update_run(run_id, status="running", finished_at=None)
        store.update_run(run_id, parity=verdict)
        for env, env_facts in found.items():
            store.put_env_facts(run_id, env, env_facts)
        console.print(f"run [bold]{run_id}[/] -> {store.path}")
        ctx = RunContext(run_id, opts.suite, targets, catalogue, executors, store,
                         results_dir() / "runs" / run_id / "raw", console)
        run_plan(ctx, trials, {w: d + PER_TRIAL_OVERHEAD_S for w, d in durations.items()})
        status = "complete" if not store.missing(run_id) else "failed"
    except KeyboardInterrupt:
        status = "interrupted"
        console.print(f"[yellow]interrupted: completed trials are kept; finish with "
                      f"`fab benchmark --resume {run_id}`[/]")
        raise
    finally:
        signal.signal(signal.SIGTERM, previous_signal)
        if ctx is not None:
            cleanup_scratch(ctx)
        for executor in executors.values():
            executor.close()
        if run_id is not None and store.get_run(run_id).status == "running":
            _finish(store, run_id, status, ctx, time.monotonic() - wall_start)
        if run_id is not None and status == "interrupted":
            write_outputs(store, run_id)
    print_summary(store, run_id)
    write_outputs(store, run_id)
    missing = store.missing(run_id)
    if missing:
        raise HostbenchError(f"run {run_id}: {len(missing)} trial(s) failed or did not run; after "
                             f"fixing the cause, `fab benchmark --resume {run_id}` runs them")
    return run_id


def write_outputs(store: Store, run_id: str) -> None:
    """Write the run's report and exports and print where; a failure only warns: the trials are
    already stored, and `fab report --run ID` can try again."""
    try:
        paths, _exports = publish(store, run_id)
    except Exception as exc:
        console.print(f"[yellow]warning: could not write the report of run {run_id}: "
                      f"{type(exc).__name__}: {exc}; retry with `fab report --run {run_id}`[/]",
                      soft_wrap=True)
        return
    console.print(f"report: {paths.html}", soft_wrap=True)


def _finish(store: Store, run_id: str, status: str, ctx: RunContext | None, wall: float) -> None:
    """Record status and the split of wall time (added to earlier sessions of a resumed run)."""
    run = store.get_run(run_id)
    workload = (run.workload_seconds or 0.0) + (ctx.workload_seconds if ctx else 0.0)
    total = (run.wall_seconds or 0.0) + wall
    store.finish_run(run_id, status, workload_seconds=workload,
                     orchestration_seconds=max(total - workload, 0.0), wall_seconds=total)


def print_summary(store: Store, run_id: str) -> None:
    run = store.get_run(run_id)
    vm_accel = (run.host_facts or {}).get("vm_accel", "")
    results = analyse(store.samples(run_id), list(ENVIRONMENTS))
    failed = store.trials(run_id, status="failed")
    console.print(summary_table(results, vm_accel, f"run {run_id} ({run.suite} suite, "
                                                   f"stack {run.stack})"))
    if vm_accel == "tcg":
        console.print("[bold yellow]The VM ran under TCG (software emulation, no KVM on this "
                      "host): its numbers measure QEMU's emulator, not KVM.[/]")
    if failed:
        console.print(f"[red]{len(failed)} trial(s) failed[/]; see their raw output under "
                      f"{results_dir() / 'runs' / run_id / 'raw'}")
    if run.wall_seconds:
        share = 100 * (run.orchestration_seconds or 0) / run.wall_seconds
        console.print(f"wall time {run.wall_seconds:.0f}s: workloads "
                      f"{run.workload_seconds:.0f}s, orchestration "
                      f"{run.orchestration_seconds:.0f}s ({share:.1f}%)  status: {run.status}")
