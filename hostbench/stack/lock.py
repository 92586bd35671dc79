"""One operation per stack at a time: `fab benchmark`, `fab calibrate`, `fab up` and `fab down`
of a stack hold its lock (an flock, so a holder that dies releases it with its last breath)."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from hostbench.errors import HostbenchError
from hostbench.paths import private_stack_dir

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
def stack_lock(stack: str, what: str) -> Iterator[None]:
    """Hold stack ``stack``'s lock while the block runs, for ``what`` (e.g. `fab benchmark`);
    a StackBusy names the holder when another process has it."""
    path = private_stack_dir(stack) / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held = os.pread(fd, 4096, 0).decode(errors="replace")
            raise StackBusy(f"stack {stack} is busy: {_holder(held)} is still running; wait "
                            "for it to finish or stop it first") from None
        since = datetime.now().astimezone().isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"what": what, "pid": os.getpid(), "since": since}).encode(),
                  0)
        yield
    finally:
        os.close(fd)  # releases the lock
