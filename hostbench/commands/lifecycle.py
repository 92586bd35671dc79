"""`fab lifecycle`: time to ready, idle footprint and (with --density) density of the stack's
environments, on the same backend as `fab up`, stored as a run of its own kind and reported.

The stack must be down: every instance is created from nothing and removed again, and whatever
happens (a failure, Ctrl-C) everything of the stack is removed at the end.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from hostbench.commands.benchmark import as_number, comma_list
from hostbench.commands.connections import console
from hostbench.commands.provision import plan_for, remove_stack
from hostbench.commands.session import write_outputs
from hostbench.console import untrusted
from hostbench.errors import HostbenchError
from hostbench.provision.networks import check_network
from hostbench.provision.plan import BOOT_TIMEOUT_S
from hostbench.record_base import NotBool, Record, validated
from hostbench.report.summary import print_summary
from hostbench.results.store import Store
from hostbench.run import facts as facts_mod
from hostbench.run.lifecycle import (
    READY,
    DensityLimits,
    Lifecycle,
    ReadinessProbe,
    Recorder,
    host_available_mib,
    ksm_state,
)
from hostbench.run.run_records import (
    BenchmarkOptions,
    LifecycleSettings,
    RunRecord,
    RunStatus,
    new_run_id,
    timestamp,
)
from hostbench.run.schedule import PlannedTrial, rotation
from hostbench.signals import cleanup
from hostbench.stack.environments import BARE_METAL, Environment, Kind
from hostbench.stack.keys import ensure_stack_key
from hostbench.stack.lock import cores_lock, stack_lock
from hostbench.stack.spec import StackSpec, load_stack_file

if TYPE_CHECKING:
    from hostbench.provision.instances import StackInstances

POLL_S = 0.1
BUDGET_SHARE = 0.5
"""The default density memory budget: this share of the host's available memory."""
PositiveInt = Annotated[int, Field(ge=1), NotBool]
Seconds = Annotated[float, Field(ge=0)]


class LifecycleOptions(Record):
    """What `fab lifecycle` was asked for (flags as given; defaults for the rest)."""

    stack: str = "local"
    repeat: PositiveInt = 5
    envs: tuple[str, ...] = ()
    settle: Seconds = 20.0
    idle_window: Annotated[float, Field(gt=0)] = 10.0
    margin: Annotated[float, Field(gt=0)] = 10.0
    density: bool = False
    density_max: PositiveInt = 16
    density_memory: Annotated[int, Field(ge=128), NotBool] = 256
    memory_budget: Annotated[float, Field(gt=0)] | None = None
    time_budget_min: Annotated[float, Field(gt=0)] = 20.0
    command_line: str = ""


FLAG_TYPES = {"repeat": int, "settle": float, "idle_window": float, "margin": float,
              "density_max": int, "density_memory": int, "memory_budget": float,
              "time_budget_min": float}


def lifecycle_options(**flags: Any) -> LifecycleOptions:
    """Options from Fabric's flags (text), each checked with an error naming its flag."""
    values = {k: v for k, v in flags.items() if v is not None}
    if "env" in values:
        values["envs"] = comma_list(values.pop("env"))
    for name, kind in FLAG_TYPES.items():
        as_number(values, name, kind, name.replace("_", "-"))
    return validated(LifecycleOptions, values, "fab lifecycle", prefix="--")


def _chosen(spec: StackSpec, names: tuple[str, ...]) -> list[Environment]:
    """The stack's VMs and containers (all, or those named), a VM labelled with its accel."""
    envs = [env.model_copy(update={"accel": spec.accel}) if env.kind is Kind.VM else env
            for env in spec.all_environments if env.kind is not Kind.BARE]
    unknown = sorted(set(names) - {e.name for e in envs})
    if unknown:
        raise HostbenchError(f"--env {','.join(unknown)}: stack {spec.stack} has no such VM or "
                             f"container (it has {', '.join(e.name for e in envs)})")
    return [e for e in envs if not names or e.name in names]


def _settings(opts: LifecycleOptions) -> LifecycleSettings:
    available = host_available_mib()
    budget = opts.memory_budget if opts.memory_budget is not None else BUDGET_SHARE * available
    if opts.density and budget > available:
        raise HostbenchError(f"--memory-budget {budget:.0f} MiB is more than the host has "
                             f"available ({available:.0f} MiB): density never goes beyond that")
    return LifecycleSettings(
        settle_s=opts.settle, idle_window_s=opts.idle_window, poll_s=POLL_S,
        margin_pct=opts.margin, density=opts.density, density_max=opts.density_max,
        density_memory_mib=opts.density_memory, memory_budget_mib=budget,
        time_budget_s=opts.time_budget_min * 60, ksm=ksm_state())


def lifecycle(opts: LifecycleOptions) -> str:
    """Measure, store, summarise and report; returns the run id."""
    spec = load_stack_file(opts.stack)
    if spec.host is not None:
        raise HostbenchError(
            f"stack {spec.stack} runs on {spec.host}: `fab lifecycle` reads footprints from the "
            "processes of this machine and times every step from here, so it measures local "
            "stacks only; run hostbench on that host to measure its lifecycle")
    what = opts.command_line or f"fab lifecycle --stack {spec.stack}"
    with stack_lock(spec.stack, what), cores_lock(spec.host, spec.cores, what):
        return _lifecycle(spec, opts)


def _lifecycle(spec: StackSpec, opts: LifecycleOptions) -> str:
    from hostbench.provision.direct import DirectBackend  # the engines' clients, loaded to use
    from hostbench.provision.instances import StackInstances

    plan = plan_for(spec)
    backend = DirectBackend(plan)
    if existing := backend.existing():
        raise HostbenchError(
            f"stack {spec.stack} is up ({', '.join(existing)}); `fab lifecycle` creates and "
            f"removes the stack's environments itself: run `fab down --stack {spec.stack}` "
            "first")
    chosen = _chosen(spec, opts.envs)
    settings = _settings(opts)
    if any(e.kind is Kind.VM for e in chosen):
        check_network(spec, plan.network)
    key = ensure_stack_key(spec.stack)
    instances = StackInstances(backend, key.public_openssh)
    with Store.default() as store:
        run = _new_run(store, spec, plan.image.hash, opts, chosen, settings)
        console.print(f"run [bold]{run.id}[/] (lifecycle) -> {store.path}")
        status: RunStatus = "failed"
        started = time.monotonic()
        try:
            with tempfile.TemporaryDirectory(prefix="hostbench-lifecycle-") as known:
                _measure(store, run.id, instances, chosen, opts, settings, key.private_openssh,
                         Path(known))
            status = "complete"
        except KeyboardInterrupt:
            status = "interrupted"
            console.print("[yellow]interrupted: what was measured is kept; removing "
                          "everything that was started[/]")
            raise
        finally:
            with cleanup():
                try:
                    remove_stack(spec)
                except HostbenchError as exc:  # what stopped the measurement is what to report
                    console.print(untrusted(str(exc), "red"), soft_wrap=True)
                if status == "complete" and store.load(run.id).failed_trials():
                    status = "failed"
                store.finish_run(run.id, status, workload_seconds=None,
                                 orchestration_seconds=None,
                                 wall_seconds=time.monotonic() - started)
                if status == "interrupted":
                    write_outputs(store.load(run.id))
        stored = store.load(run.id)
    print_summary(stored, console)
    write_outputs(stored)
    if failed := stored.failed_trials():
        raise HostbenchError(f"run {run.id}: {len(failed)} lifecycle measurement(s) failed; "
                             "their errors are in the report")
    return run.id


def _measure(store: Store, run_id: str, instances: StackInstances, chosen: list[Environment],
             opts: LifecycleOptions, settings: LifecycleSettings, private_key: str,
             known_hosts: Path) -> None:
    probe = ReadinessProbe(private_key, known_hosts, settings.poll_s, BOOT_TIMEOUT_S)
    measuring = Lifecycle(instances, probe, Recorder(run_id, store.add_trial), console,
                          settings.settle_s, settings.idle_window_s)
    if vms := [e for e in chosen if e.kind is Kind.VM]:
        measuring.set_up_shared(vms[0].name)
    measuring.cycles(chosen, opts.repeat)
    if not opts.density:
        return
    limits = DensityLimits(settings.density_max, settings.density_memory_mib,
                           settings.memory_budget_mib, settings.time_budget_s)
    outcomes = []
    for env in sorted(chosen, key=lambda e: e.kind is Kind.VM):  # containers first: quicker
        outcomes.append(measuring.density(env, limits))
        store.set_lifecycle(run_id, settings.model_copy(update={
            "density_outcomes": tuple(outcomes)}))
        console.print(untrusted(f"density {env.label}: {outcomes[-1].instances} at most; "
                                f"stopped: {outcomes[-1].stopped}"), soft_wrap=True)


def _new_run(store: Store, spec: StackSpec, image_hash: str, opts: LifecycleOptions,
             chosen: list[Environment], settings: LifecycleSettings) -> RunRecord:
    names = [e.name for e in chosen]
    planned = tuple(PlannedTrial(workload=READY, trial=r, warmup=False, env=env, position=i)
                    for r in range(1, opts.repeat + 1)
                    for i, env in enumerate(rotation(names, r)))
    run = RunRecord(
        id=new_run_id(), started_at=timestamp(), stack=spec.stack, suite="lifecycle",
        command_line=opts.command_line, git_commit=facts_mod.git_commit(),
        image_hash=image_hash, environments=(BARE_METAL, *chosen), plan=planned,
        options=BenchmarkOptions(stack=spec.stack, repeat=opts.repeat, envs=tuple(names),
                                 purpose="lifecycle", command_line=opts.command_line),
        host=facts_mod.host_facts(), spec=spec, lifecycle=settings)
    store.create_run(run)
    return run
