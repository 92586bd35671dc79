"""Every command ends cleanly on SIGINT, SIGTERM and SIGHUP, and a second signal while it cleans
up does not cut the cleanup short: real signals to a real process running ``run_cli``."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ENTRY = textwrap.dedent("""
    import os, signal, sys, time
    from hostbench.console import run_cli
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as at a terminal

    def command():
        try:
            os.kill(os.getpid(), int(sys.argv[1]))
            time.sleep(10)
            print("not stopped")
        finally:
            os.kill(os.getpid(), int(sys.argv[2]))  # a second signal during the cleanup
            time.sleep(0.2)
            print("cleaned up", flush=True)

    run_cli(command)
""")
SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]


@pytest.mark.parametrize("first", SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("second", SIGNALS, ids=lambda s: s.name)
def test_a_signal_stops_the_command_and_a_second_one_does_not_skip_its_cleanup(first, second):
    done = subprocess.run([sys.executable, "-c", ENTRY, str(int(first)), str(int(second))],
                          capture_output=True, text=True, timeout=30,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.stdout == "cleaned up\n", done.stderr
    assert done.returncode == 128 + first
    assert f"stopped by {first.name}" in done.stderr
    assert f"{second.name} while cleaning up" in done.stderr

