"""Asking until something holds or time runs out: the one poll loop every wait uses."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T | None], timeout_s: float, interval_s: float, *,
               max_interval_s: float | None = None, clock: Callable[[], float] = time.monotonic,
               sleep: Callable[[float], None] = time.sleep) -> T | None:
    """The first truthy result of ``check`` (which may raise to give up early), asked
    ``interval_s`` apart, doubling up to ``max_interval_s`` when given; None past ``timeout_s``."""
    deadline = clock() + timeout_s
    pause = interval_s
    while True:
        found = check()
        if found:
            return found
        if clock() > deadline:
            return None
        sleep(pause)
        if max_interval_s is not None:
            pause = min(pause * 2, max_interval_s)
