"""One way every command ends on a signal: SIGINT, SIGTERM and SIGHUP stop it as Ctrl-C does
(cleanup runs), and a signal arriving while it cleans up is held, never cutting cleanup short."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """The command was stopped by ``signum``; everything that handles Ctrl-C handles it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class _State:
    stopping: int | None = None  # the signal that stopped the command
    held: int | None = None  # a signal that arrived inside a cleanup block
    cleanups: int = 0  # cleanup blocks running
    listeners: list[Callable[[int], None]] = field(default_factory=list)


_state = _State()


def _name(signum: int) -> str:
    return signal.Signals(signum).name


def _on_signal(signum: int, _frame: object) -> None:
    for listener in list(_state.listeners):
        listener(signum)
    if _state.stopping is not None or _state.cleanups:
        _state.held = _state.held or signum
        print(f"{_name(signum)} while cleaning up: finishing the cleanup first",
              file=sys.stderr, flush=True)
        return
    _state.stopping = signum
    raise Stopped(signum)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """For the block, INT, TERM and HUP raise :class:`Stopped` (once; later ones are held); a
    signal the process was started ignoring (``nohup``, a background job) stays ignored."""
    previous = {s: signal.signal(s, _on_signal) for s in STOPPING
                if signal.getsignal(s) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _state.stopping = _state.held = None


@contextmanager
def cleanup() -> Iterator[None]:
    """A block that runs to its end: a signal arriving inside it stops the command only after."""
    _state.cleanups += 1
    try:
        yield
    finally:
        _state.cleanups -= 1
    if not _state.cleanups and _state.held is not None and _state.stopping is None:
        _state.stopping, _state.held = _state.held, None
        raise Stopped(_state.stopping)


@contextmanager
def on_signal(listener: Callable[[int], None]) -> Iterator[None]:
    """``listener(signum)`` is called for every stopping signal while the block runs (a fleet
    passes it on to its members)."""
    _state.listeners.append(listener)
    try:
        yield
    finally:
        _state.listeners.remove(listener)
