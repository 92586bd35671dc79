"""`fab parity`, and the parity check that opens every benchmark: facts read inside each
environment, compared by the rules of each one's kind."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from hostbench.commands.connections import (
    Connect,
    MakeControl,
    chosen_targets,
    close_executors,
    connect_all,
    console,
    environment_control,
)
from hostbench.errors import HostbenchError
from hostbench.image.manifest import load_manifest
from hostbench.reach.executors import Executor, executor_for
from hostbench.report.tables import facts_table, failures_table
from hostbench.run import facts as facts_mod
from hostbench.run.facts import EnvFacts
from hostbench.run.neighbours import Control
from hostbench.run.parity import ParityError, ParityVerdict, check_parity, verdict
from hostbench.stack.environments import Kind
from hostbench.stack.targets import Target, Targets, resolve_targets


def _reference_binaries(targets: Targets) -> dict[str, str]:
    """sha256 of each benchmark binary as built (from the image manifest the targets name)."""
    try:
        return load_manifest(Path(targets.image.manifest)).binaries
    except HostbenchError as exc:
        raise HostbenchError(f"{targets.source}: image.manifest: {exc}; the parity check needs "
                             "the image's binary hashes (run scripts/build-image)") from None


def _collect(chosen: Mapping[str, Target], executors: Mapping[str, Executor],
             binaries: list[str]) -> dict[str, EnvFacts]:
    """Each environment's facts, read in all of them at once (the slowest one, a TCG VM, sets
    the time); the first failure is raised once every reader has ended."""
    labels = {name: chosen[name].environment.label for name in executors}
    with console.status(f"reading facts inside {', '.join(labels.values())}") as status, \
            ThreadPoolExecutor(max_workers=max(len(executors), 1)) as pool:
        pending = {pool.submit(facts_mod.collect, executor, binaries): name
                   for name, executor in executors.items()}
        found: dict[str, EnvFacts] = {}
        for future in as_completed(pending):
            found[pending[future]] = future.result()
            left = [labels[n] for n in executors if n not in found]
            if left:
                status.update(f"reading facts inside {', '.join(left)}")
    return {name: found[name] for name in executors}


def _host_side(found: dict[str, EnvFacts], chosen: Mapping[str, Target], control: Control
               ) -> dict[str, EnvFacts]:
    """A VM's CPU bandwidth is the host's to give (libvirt's quota): the guest cannot see it."""
    for name, target in chosen.items():
        if target.kind is Kind.VM:
            try:
                quota = control.cpu_quota(name)
            except HostbenchError:
                quota = ""
            found[name] = found[name].model_copy(update={"cpu_quota": quota})
    return found


def parity(targets: Targets, chosen: Mapping[str, Target], executors: Mapping[str, Executor],
           allow_mismatch: bool, control: Control) -> tuple[dict[str, EnvFacts], ParityVerdict]:
    """Facts per environment and the parity verdict; raises ParityError unless overridden."""
    reference = _reference_binaries(targets)
    found = _host_side(_collect(chosen, executors, sorted(reference)), chosen, control)
    console.print(facts_table(found, {n: t.environment.label for n, t in chosen.items()}))
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


def run_parity(stack: str, targets_file: str | None, connect: Connect = executor_for,
               control: MakeControl = environment_control) -> bool:
    """`fab parity`: the check alone, on every environment of the stack."""
    targets = resolve_targets(stack, targets_file)
    chosen = chosen_targets(targets, ())
    executors = connect_all(chosen, targets, connect)
    try:
        parity(targets, chosen, executors, allow_mismatch=False,
               control=control(targets.targets, targets.spec.machine))
    finally:
        close_executors(executors)
    return True
