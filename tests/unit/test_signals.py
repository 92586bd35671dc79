"""Every command ends cleanly on SIGINT, SIGTERM and SIGHUP, and a second signal while it cleans
up does not cut the cleanup short: real signals to a real process running ``run_cli``."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

from hostbench.paths import PROJECT_ROOT

ENTRY = textwrap.dedent("""
    import os, signal, sys, time
    from hostbench.console import run_cli
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as at a terminal, even where
    signal.signal(signal.SIGHUP, signal.SIG_DFL)  # the tests run ignoring some (nohup, a
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # background job)

    def command():
        try:
            os.kill(os.getpid(), int(sys.argv[1]))
            time.sleep(10)
            print("not stopped")
        finally:
            os.kill(os.getpid(), int(sys.argv[2]))  # a second signal during the cleanup
            time.sleep(0.02)  # a cleanup that takes a while: the signal came before it
            print("cleaned up", flush=True)

    run_cli(command)
""")
SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]


@pytest.mark.parametrize("first", SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("second", SIGNALS, ids=lambda s: s.name)
def test_a_signal_stops_the_command_and_a_second_one_does_not_skip_its_cleanup(first, second):
    done = subprocess.run([sys.executable, "-c", ENTRY, str(int(first)), str(int(second))],
                          capture_output=True, text=True, timeout=30,
                          cwd=PROJECT_ROOT)
    assert done.stdout == "cleaned up\n", done.stderr
    assert done.returncode == 128 + first
    assert f"stopped by {first.name}" in done.stderr
    assert f"{second.name} while cleaning up" in done.stderr



NOHUP = textwrap.dedent("""
    import os, signal, time
    from hostbench.console import run_cli
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup starts it

    def command():
        os.kill(os.getpid(), signal.SIGHUP)
        time.sleep(0.02)
        print("finished")

    run_cli(command)
""")


def test_a_command_started_with_nohup_is_not_stopped_by_a_hang_up():
    done = subprocess.run([sys.executable, "-c", NOHUP], capture_output=True, text=True,
                          timeout=30, cwd=PROJECT_ROOT)
    assert (done.returncode, done.stdout) == (0, "finished\n"), done.stderr
