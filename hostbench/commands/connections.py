"""What every command that reaches a stack's environments shares: its console, the targets it
chose, one executor each, and the control of the VMs and containers on their host."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from hostbench.console import table_console
from hostbench.errors import HostbenchError
from hostbench.reach.executors import Executor
from hostbench.reach.ssh import StackAccess
from hostbench.run.neighbours import Control
from hostbench.stack.host import Host
from hostbench.stack.keys import known_hosts_file
from hostbench.stack.targets import Target, Targets

console = table_console()

Connect = Callable[[Target, StackAccess], Executor]
"""Makes the executor of one target (with the stack's private key); tests pass fakes."""
MakeControl = Callable[[Mapping[str, Target], Host], Control]
"""Makes the control of a stack's VMs and containers on its host; tests pass fakes."""


def environment_control(targets: Mapping[str, Target], host: Host) -> Control:
    """The stack's VMs and containers through the host's Docker engine and libvirtd; their
    client libraries are imported here, once a command controls them, not by every import."""
    from hostbench.provision.control import EnvironmentControl

    return EnvironmentControl(targets, host)


def chosen_targets(targets: Targets, names: tuple[str, ...]) -> dict[str, Target]:
    """The targets to measure, in the stack's order (all of them when none are named)."""
    ordered = [env.name for env in targets.environments]
    unknown = [n for n in names if n not in targets.targets]
    if unknown:
        raise HostbenchError(f"{targets.source}: no target for environment(s) {unknown}; "
                             f"it has: {', '.join(ordered)}")
    return {name: targets.targets[name] for name in (names or ordered)}


def access(targets: Targets) -> StackAccess:
    """The stack key, the host keys pinned for the stack's environments, and their host."""
    return StackAccess(targets.ssh_private_key, known_hosts_file(targets.stack),
                       targets.spec.machine)


def connect_all(chosen: Mapping[str, Target], targets: Targets, connect: Connect
                ) -> dict[str, Executor]:
    """One executor per chosen target, each with the stack's access."""
    return {name: connect(target, access(targets)) for name, target in chosen.items()}


def close_executors(executors: Mapping[str, Executor]) -> None:
    """Close every executor a command opened."""
    for executor in executors.values():
        executor.close()
