"""Idle neighbours: every environment of a stack shares the pinned cores, so while one is
measured the others are paused (or, without isolation, only watched), and the host CPU time
they use meanwhile is recorded with the trial."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from hostbench.errors import HostbenchError

if TYPE_CHECKING:  # importing control loads the Docker and libvirt clients, which records need not
    from hostbench.provision.metering import CpuTimeFile

Isolation = Literal["pause", "none"]


class Control(Protocol):
    """What the host can do with a stack's VMs and containers (hostbench.provision.control)."""

    def names(self) -> list[str]: ...

    def paused_now(self) -> set[str]: ...

    def pause(self, name: str) -> None: ...

    def resume(self, name: str) -> None: ...

    def cpu_seconds(self, name: str) -> float: ...

    def cpu_quota(self, name: str) -> str: ...

    def main_pid(self, name: str) -> int:
        """The host PID of the environment's QEMU process or container's first process."""
        ...

    def cpu_file(self, name: str) -> CpuTimeFile: ...


@dataclass
class Usage:
    """Host CPU seconds the neighbours used during one trial; None when one could not be read."""

    cpu_s: float | None = None


@dataclass
class Neighbours:
    control: Control
    isolation: Isolation
    problems: set[str] = field(default_factory=set)  # what could not be paused or read
    paused: set[str] = field(default_factory=set)  # paused by this run and not resumed since
    ready_for: str | None = None  # made ready for this trial's environment, until it is metered

    def ready(self, env: str) -> None:
        """Before anything runs in ``env``: the others paused (with isolation; those paused for
        an earlier trial stay so), then ``env`` resumed if this run paused it."""
        if self.isolation == "pause":
            self._forget_resumed()
            for name in self.control.names():
                if name != env and name not in self.paused:
                    try:
                        self.control.pause(name)
                        self.paused.add(name)
                    except HostbenchError as exc:
                        self.problems.add(str(exc))
        if env in self.paused:
            try:
                self.control.resume(env)
            except HostbenchError as exc:
                raise HostbenchError(f"{env} is paused and cannot be resumed ({exc}); resume "
                                     "the run once its engine is back") from None
            self.paused.discard(env)
        self.ready_for = env

    @contextmanager
    def around(self, env: str) -> Iterator[Usage]:
        """While the body measures ``env``: the others paused (with isolation, see ``ready``)
        and metered; they stay paused for the next trial, until ``resume_all``."""
        if self.ready_for != env:
            self.ready(env)
        usage = Usage()
        others = [n for n in self.control.names() if n != env]
        before = {n: self._cpu(n) for n in others}
        try:
            yield usage
        finally:
            self.ready_for = None  # the next trial asks the engines again
            after = {n: self._cpu(n) for n in others}
            used = [a - b for n in others
                    if (a := after[n]) is not None and (b := before[n]) is not None]
            if len(used) == len(others):
                usage.cpu_s = max(sum(used), 0.0)

    def resume_all(self) -> None:
        """Every environment of the stack running, whoever paused it: at the start of a run (a
        killed one may have left some paused) and at its end, however it ends."""
        for name in self.control.names():
            try:
                self.control.resume(name)
                self.paused.discard(name)
            except HostbenchError as exc:
                self.problems.add(str(exc))

    def _forget_resumed(self) -> None:
        """What this run paused and something else resumed since (an engine's restart brings
        its containers back running) is paused again: one question to the engines a trial."""
        try:
            self.paused &= self.control.paused_now()
        except HostbenchError as exc:
            self.problems.add(str(exc))

    def _cpu(self, name: str) -> float | None:
        try:
            return self.control.cpu_seconds(name)
        except HostbenchError as exc:
            self.problems.add(str(exc))
            return None
