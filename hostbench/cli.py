"""Turning HostbenchErrors into one clear line and an exit code, for every entry point."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console

from hostbench.errors import HostbenchError


def run_cli(action: Callable[[], Any]) -> None:
    try:
        action()
    except HostbenchError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        Console(stderr=True).print("[yellow]interrupted[/]")
        sys.exit(130)
