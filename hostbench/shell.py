"""Running host commands: argv lists only (no shell strings), output logged, failures explained."""

from __future__ import annotations

import collections
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from hostbench.errors import HostbenchError


class CommandError(HostbenchError):
    pass


def run_logged(argv: Sequence[str], log: Path, on_line: Callable[[str], None] | None = None,
               stdin: int | IO[bytes] | None = subprocess.DEVNULL,
               env: dict[str, str] | None = None) -> None:
    """Run `argv`, appending its output to `log` and passing each line to `on_line`."""
    tail: collections.deque[str] = collections.deque(maxlen=15)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=stdin, text=True, errors="replace", env=env)
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            tail.append(line.rstrip())
            if on_line:
                on_line(line.rstrip())
        code = proc.wait()
    if code != 0:
        raise CommandError(
            f"{argv[0]} failed with exit code {code}; last output:\n  "
            + "\n  ".join(tail) + f"\nfull log: {log}"
        )


def output(argv: Sequence[str], **kwargs) -> str:
    """Run `argv` and return its stdout; raise with its stderr on failure."""
    proc = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise CommandError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout
