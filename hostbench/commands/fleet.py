"""`fab up|down|parity|benchmark|calibrate --stack a,b,...`: the same task on several stacks
(hosts) at once, one fab process per stack, one progress display. A stack that fails, or whose
host cannot be reached, costs only its own run; a fleet benchmark ends with the hosts side by
side."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from hostbench.console import untrusted
from hostbench.errors import HostbenchError
from hostbench.paths import checked_stack_name, results_dir
from hostbench.polling import wait_until
from hostbench.results.store import Store
from hostbench.run.run_records import new_run_id
from hostbench.signals import on_signal

REFRESH_S = 0.5
STOP_GRACE_S = 60
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
RUN_TASKS = ("benchmark", "calibrate")
RESULT_ENV = "HOSTBENCH_FLEET_RESULT"
"""Where a member reports what it made: the fleet names a file per member in its environment."""


def report_to_fleet(run_id: str) -> None:
    """As a fleet member, tell the fleet the run this process stores (one JSON line in the
    member's result file); outside a fleet, nothing."""
    path = os.environ.get(RESULT_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"run_id": run_id}) + "\n")


def per_stack(task: str, value: str | None, one: Callable[[], object]) -> object:
    """``one()`` for a single stack; for a comma-separated list, the fleet of them."""
    if value is None or "," not in value:
        if value is not None:
            checked_stack_name(value, "--stack")
        return one()
    return run_fleet(task, value, sys.argv[1:])


def fleet_stacks(value: str) -> list[str]:
    """The stacks of a ``--stack`` value: one, or several separated by commas."""
    stacks = [s.strip() for s in value.split(",")]
    if any(not s for s in stacks):
        raise HostbenchError(f"--stack {value!r}: an empty stack name in the list")
    if len(set(stacks)) != len(stacks):
        raise HostbenchError(f"--stack {value!r} names a stack twice")
    return [checked_stack_name(s, "--stack") for s in stacks]


def member_argv(argv: list[str], value: str, stack: str) -> list[str]:
    """The fab command line ``argv`` (without the program) for one stack of the fleet: the
    ``--stack`` value replaced, everything else as given."""
    out, replaced = [], False
    for index, arg in enumerate(argv):
        if not replaced and arg == value and index > 0 and argv[index - 1].startswith("-"):
            out.append(stack)
            replaced = True
        elif not replaced and "=" in arg and arg.startswith("-") and arg.split("=", 1)[1] == value:
            out.append(f"{arg.split('=', 1)[0]}={stack}")
            replaced = True
        else:
            out.append(arg)
    if not replaced:
        raise HostbenchError(f"cannot find --stack {value} in the command line {argv}")
    return out


@dataclass
class Member:
    """One stack of the fleet and its fab process."""

    stack: str
    argv: list[str]
    log: Path
    result: Path  # the JSON lines the member reports (report_to_fleet)
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    ended: float | None = None
    out: IO[bytes] | None = field(default=None, repr=False)

    @property
    def state(self) -> str:
        if self.proc is None:
            return "waiting"
        code = self.proc.poll()
        if code is None:
            return "running"
        return "done" if code == 0 else f"failed ({code})"

    def text(self) -> str:
        return _ANSI.sub("", self.log.read_text(errors="replace")) if self.log.exists() else ""

    def last_line(self) -> str:
        lines = [line.strip() for line in self.text().splitlines() if line.strip()]
        return lines[-1][:110] if lines else ""

    def run_id(self) -> str | None:
        """The run the member last reported storing, if any."""
        if not self.result.exists():
            return None
        reported = [json.loads(line) for line in self.result.read_text().splitlines() if line]
        return str(reported[-1]["run_id"]) if reported else None


def _table(task: str, members: list[Member]) -> Table:
    table = Table(title=f"fab {task} on {len(members)} stacks")
    for heading in ("stack", "state", "time", "latest"):
        table.add_column(heading, overflow="fold")
    now = time.monotonic()
    for m in members:
        elapsed = (m.ended or now) - m.started if m.proc else 0.0
        style = {"running": "yellow", "done": "green"}.get(m.state, "red")
        table.add_row(m.stack, Text(m.state, style), f"{elapsed:.0f}s",
                      untrusted(m.last_line()))
    return table


def run_fleet(task: str, value: str, argv: list[str], console: Console | None = None
              ) -> list[Member]:
    """Run ``fab <argv>`` once per stack of ``value`` in parallel, each logged to a file of the
    fleet's directory; returns the members once all have ended (raising if any failed, after
    the side-by-side of the runs that were stored)."""
    console = console or Console(stderr=True)
    stacks = fleet_stacks(value)
    directory = results_dir() / "fleets" / new_run_id()
    directory.mkdir(parents=True, exist_ok=True)
    members = [Member(s, [sys.executable, "-m", "fabric", *member_argv(argv, value, s)],
                      directory / f"{s}.log", directory / f"{s}.result.jsonl") for s in stacks]
    environment = {**os.environ, "COLUMNS": "160", "HOSTBENCH_FLEET_MEMBER": "1"}
    try:
        with (on_signal(lambda signum: _forward(members, signum)),
              Live(_table(task, members), console=console, refresh_per_second=4) as live):
            for m in members:
                m.out = m.log.open("wb")
                m.proc = subprocess.Popen(m.argv, stdout=m.out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL,
                                          env={**environment, RESULT_ENV: str(m.result)})
                m.started = time.monotonic()
            try:
                _wait(members, live, task)
            except KeyboardInterrupt:  # each member got the signal too
                console.print("[yellow]interrupted: waiting for each stack to store what it "
                              "measured[/]")
                _wait(members, live, task, timeout_s=STOP_GRACE_S)
                raise
    finally:
        _stop(members)
        console.print()
    _summarise(task, members, directory, console)
    return members


def _wait(members: list[Member], live: Live, task: str, timeout_s: float = math.inf) -> None:
    """Until every member has ended (or ``timeout_s`` passed), the display kept up to date."""
    def all_ended() -> bool:
        for m in members:
            if m.ended is None and m.proc and m.proc.poll() is not None:
                m.ended = time.monotonic()
        live.update(_table(task, members))
        return not any(m.proc and m.proc.poll() is None for m in members)

    if wait_until(all_ended, timeout_s, REFRESH_S, sleep=lambda _: _until_one_ends(members)):
        for m in members:
            if m.ended is None:
                m.ended = time.monotonic()
        live.update(_table(task, members))


def _until_one_ends(members: list[Member]) -> None:
    """Wait for a running member to end, at most one refresh of the display (REFRESH_S)."""
    running = next((m.proc for m in members if m.proc and m.proc.poll() is None), None)
    if running is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            running.wait(REFRESH_S)


def _forward(members: list[Member], signum: int) -> None:
    """A signal that stops the fleet stops each member, which stores what it measured."""
    for m in members:
        if m.proc and m.proc.poll() is None:
            m.proc.send_signal(signum)


def _stop(members: list[Member]) -> None:
    """No member outlives the fleet command."""
    for m in members:
        if m.proc and m.proc.poll() is None:
            m.proc.terminate()
            try:
                m.proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                m.proc.kill()
                m.proc.wait()
        if m.out is not None:
            m.out.close()


def _summarise(task: str, members: list[Member], directory: Path, console: Console) -> None:
    from hostbench.report.fleet_report import show_fleet  # reports only where runs were made

    for m in members:
        run = m.run_id()
        console.print(f"{m.stack}: {m.state}{f', run {run}' if run else ''}; log {m.log}",
                      highlight=False, soft_wrap=True)
    run_ids = [run for m in members if (run := m.run_id())]
    if task in RUN_TASKS and len(run_ids) >= 2:
        try:
            with Store.default() as store:
                runs = [store.load(run_id) for run_id in run_ids]
            show_fleet(runs)
        except HostbenchError as exc:
            console.print(untrusted(f"no side-by-side of the runs: {exc}", "yellow"),
                          soft_wrap=True)
    failed = [m for m in members if m.state != "done"]
    if failed:
        raise HostbenchError(
            f"fab {task} failed on {', '.join(m.stack for m in failed)} (the other stacks are "
            f"unaffected); see {', '.join(str(m.log) for m in failed)}")
    console.print(f"fleet logs: {directory}", soft_wrap=True)
