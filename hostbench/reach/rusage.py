"""The measured command's own resource use, as GNU time reports it from wait4's rusage of the
whole process tree (user and system time, context switches, page faults, peak memory)."""

from __future__ import annotations

import re
from dataclasses import dataclass

TIME_BINARY = "/usr/bin/time"
MARKER = "__hostbench_rusage"
FORMAT = f"{MARKER}=%U %S %w %c %R %F %M"
"""GNU time's -f format: user s, system s, voluntary and involuntary switches, minor and major
faults, peak resident set in KiB."""
_LINE = re.compile(rf"{MARKER}=([^\n]*)\n?")


@dataclass(frozen=True)
class Rusage:
    user_s: float
    system_s: float
    voluntary_switches: int
    involuntary_switches: int
    minor_faults: int
    major_faults: int
    max_rss_kib: int


def split_rusage(stderr: str) -> tuple[str, Rusage | None]:
    """``stderr`` without GNU time's line, and what it said (None when it did not run or its
    line is not seven numbers: the command may print the marker itself, and the last line
    wins)."""
    matches = list(_LINE.finditer(stderr))
    if not matches:
        return stderr, None
    last = matches[-1]
    rest = stderr[:last.start()] + stderr[last.end():]
    fields = last.group(1).split()
    try:
        user, system = float(fields[0]), float(fields[1])
        counts = [int(f) for f in fields[2:]]
    except (ValueError, IndexError):
        return rest, None
    if len(counts) != 5 or min(counts) < 0 or not 0 <= user < 1e9 or not 0 <= system < 1e9:
        return rest, None
    return rest, Rusage(user, system, *counts)
