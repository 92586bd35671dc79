"""One operation per stack at a time: `fab benchmark`, `fab calibrate`, `fab up` and `fab down`
of a stack hold its lock (an flock, so a holder that dies releases it with its last breath);
and one measurement per core: whatever measures holds its stack's cores on their host."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path

from hostbench.errors import HostbenchError
from hostbench.paths import private_stack_dir, state_dir

LOCK_NAME = "busy.lock"


class StackBusy(HostbenchError):
    pass


def _holder(text: str) -> str:
    try:
        held = json.loads(text)
        return (f"{held['what']} (PID {held['pid']}, started {held['since']})")
    except (ValueError, KeyError, TypeError):
        return "another hostbench process"


@contextmanager
def _held(path: Path, what: str, busy: Callable[[str], str]) -> Iterator[None]:
    """Hold the flock of ``path`` for ``what``; StackBusy with ``busy(holder)`` if taken."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held = os.pread(fd, 4096, 0).decode(errors="replace")
            raise StackBusy(busy(_holder(held))) from None
        since = datetime.now().astimezone().isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"what": what, "pid": os.getpid(), "since": since}).encode(),
                  0)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def stack_lock(stack: str, what: str) -> Iterator[None]:
    """Hold stack ``stack``'s lock while the block runs, for ``what`` (e.g. `fab benchmark`);
    a StackBusy names the holder when another process has it."""
    with _held(private_stack_dir(stack) / LOCK_NAME, what,
               lambda holder: f"stack {stack} is busy: {holder} is still running; wait for it "
                              "to finish or stop it first"):
        yield


@contextmanager
def cores_lock(host: str | None, cores: Sequence[int], what: str) -> Iterator[None]:
    """Hold ``cores`` of ``host`` (None: this one) while the block measures: stacks that share
    a core may all be up, but only one measures on it at a time."""
    where = host or "this host"
    directory = state_dir() / "cores" / hashlib.sha256(where.encode()).hexdigest()[:16]
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    def busy(core: int) -> Callable[[str], str]:
        return lambda holder: (f"core {core} of {where} is measuring for {holder}: stacks that "
                               "share a core measure one at a time; wait for it to finish")

    with ExitStack() as held:
        for core in sorted(set(cores)):
            held.enter_context(_held(directory / f"{core}.lock", what, busy(core)))
        yield
