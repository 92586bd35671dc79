"""A stressor in a neighbour of the measured environment's kind, on cores it does not use,
started before a trial and stopped after it: a process in the bare-metal tree beside bare
metal, a second container from the stack's image beside a container, a second VM beside a VM
(``hostbench.run.vm_neighbour``)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from typing import Any, Protocol

from hostbench.errors import HostbenchError
from hostbench.reach.executors import chroot_argv, guarded_popen, timed_argv
from hostbench.run.conditions import condition
from hostbench.run.stressors import Stressor
from hostbench.stack.environments import Kind
from hostbench.stack.host import Host
from hostbench.stack.spec import cpuset
from hostbench.stack.targets import Target, Targets

NEIGHBOUR_DIR = "hostbench-neighbour"
"""The neighbour's writable directory, under its scratch directory; removed after each trial."""


def neighbour_cores(target: Target, host: Host, override: Sequence[int] = ()) -> tuple[int, ...]:
    """The cores the neighbour gets: ``override`` when given (a deliberate misplacement),
    otherwise the host's cores the measured environment does not use."""
    if override:
        return tuple(override)
    free = sorted(host.usable_cpus() - set(target.cores))
    if not free:
        raise HostbenchError(f"{target.name} uses every core of the host ({cpuset(target.cores)})"
                             ": no core is left for a neighbour")
    return tuple(free)


@contextmanager
def bare_neighbour(stressor: Stressor, target: Target, host: Host, cores: Sequence[int],
                   limit_s: float) -> Iterator[None]:
    """The stressor in the bare-metal tree, pinned to ``cores``; killed with its process group
    when the block ends (and at the latest after ``limit_s``)."""
    if target.rootfs is None or target.scratch is None:
        raise HostbenchError(f"{target.name}: a bare-metal neighbour needs the tree and its "
                             "scratch directory")
    directory = f"{target.scratch}/{NEIGHBOUR_DIR}"
    host.output(["mkdir", "-p", "--", directory])
    argv = timed_argv(stressor.argv(len(cores), f"/scratch/{NEIGHBOUR_DIR}"), limit_s)
    try:
        with guarded_popen(host.argv(chroot_argv(target.rootfs, cpuset(list(cores)), argv,
                                                 target.scratch)),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           errors="replace") as proc:
            yield
            if proc.poll() is not None:
                raise HostbenchError(f"stressor {stressor.name} stopped before the trial ended "
                                     f"(exit code {proc.returncode}): "
                                     f"{(proc.stderr.read() if proc.stderr else '')[-300:]}")
    finally:
        host.output(["rm", "-rf", "--", directory])


@contextmanager
def container_neighbour(stressor: Stressor, target: Target, targets: Targets, host: Host,
                        cores: Sequence[int]) -> Iterator[None]:
    """A second container from the stack's image, pinned to ``cores`` with the measured one's
    memory, running the stressor; removed when the block ends."""
    from docker.errors import DockerException  # Docker's client on first use

    client = host.docker()
    name = f"hostbench-{targets.stack}-{target.name}-neighbour"
    with contextlib.suppress(DockerException):  # one a killed run left behind
        client.containers.get(name).remove(force=True)
    try:
        container: Any = client.containers.run(
            targets.image.docker_tag, stressor.argv(len(cores), "/tmp"), name=name,
            cpuset_cpus=cpuset(list(cores)), mem_limit=f"{target.memory_mib}m",
            memswap_limit=f"{target.memory_mib}m", network_mode="none",
            labels={"hostbench.stack": targets.stack, "hostbench.neighbour": target.name},
            detach=True)
    except DockerException as exc:
        raise HostbenchError(f"neighbour container {name} did not start: {exc}") from None
    try:
        yield
        container.reload()
        if container.status != "running":
            raise HostbenchError(f"stressor {stressor.name} stopped before the trial ended "
                                 f"(container {name} is {container.status}): "
                                 f"{container.logs(tail=5).decode(errors='replace')[-300:]}")
    finally:
        with contextlib.suppress(DockerException):
            container.remove(force=True)


Stressing = Callable[[], AbstractContextManager[None]]
"""Starts a stressor's neighbour when entered, stops it on the way out."""


class VmNeighbours(Protocol):
    """The run's neighbour VMs (``hostbench.run.vm_neighbour.NeighbourVms``)."""

    def booted_for(self, target: Target, cores: Sequence[int]
                   ) -> Callable[[Stressor, float], AbstractContextManager[None]]:
        """Boots ``target``'s neighbour VM on ``cores``; returns what runs a stressor in it
        (for at most the given seconds)."""
        ...

    def remove(self) -> list[str]:
        """Every neighbour VM booted gone; returns what could not be removed, with why."""
        ...


def stressings(stressors: Sequence[Stressor], chosen: Mapping[str, Target], targets: Targets,
               host: Host, override: Sequence[int], limit_s: float, vms: VmNeighbours
               ) -> dict[str, Stressing]:
    """For every measured environment and stressor, by the trial name ``env@stressor``: what
    starts that stressor's neighbour (of the environment's kind, on its neighbour cores); a
    measured VM's neighbour VM is booted here, once for the run."""
    made: dict[str, Stressing] = {}
    for target in chosen.values():
        cores = neighbour_cores(target, host, override)
        if target.kind is Kind.VM:
            in_vm = vms.booted_for(target, cores)
        for stressor in stressors:
            name = condition(target.name, stressor.name)
            if target.kind is Kind.BARE:
                made[name] = partial(bare_neighbour, stressor, target, host, cores, limit_s)
            elif target.kind is Kind.VM:
                made[name] = partial(in_vm, stressor, limit_s)
            else:
                made[name] = partial(container_neighbour, stressor, target, targets, host, cores)
    return made
