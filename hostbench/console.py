"""Consoles for tables and progress, and turning HostbenchErrors and stopping signals into one
clear line and an exit code for every entry point."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.text import Text

from hostbench.errors import HostbenchError
from hostbench.signals import Stopped, stop_on_signals

Show = Callable[[str], None]
"""Where a step tells what it did, one line at a time (the console's print, or a test's list)."""

LOG_WIDTH = 132
"""Columns of result tables written to a log file (rich's default of 80 squeezes them)."""


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def untrusted(text: str, style: str = "") -> Text:
    """Text from a tool, a host or an error, never read as markup; its control characters
    (escape sequences included) are shown as ``\\xNN``, tabs and newlines kept."""
    return Text(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text), style=style)


def table_console(**options: Any) -> Console:
    """stdout console for result tables: the terminal's width, or COLUMNS, or LOG_WIDTH."""
    wide = sys.stdout.isatty() or "COLUMNS" in os.environ
    return Console(width=None if wide else LOG_WIDTH, **options)


def run_cli(action: Callable[[], Any]) -> None:
    """Run an entry point's action: a HostbenchError is one red line and exit status 1; SIGINT,
    SIGTERM and SIGHUP stop it cleanly, with status 128 + the signal's number."""
    try:
        with stop_on_signals():
            action()
    except HostbenchError as exc:
        Console(stderr=True).print(Text("error: ", "bold red"), untrusted(str(exc)), sep="",
                                   highlight=False)
        sys.exit(1)
    except Stopped as stopped:
        Console(stderr=True).print(f"[yellow]interrupted: stopped by {stopped}[/]")
        sys.exit(128 + stopped.signum)
    except KeyboardInterrupt:
        Console(stderr=True).print("[yellow]interrupted[/]")
        sys.exit(130)
