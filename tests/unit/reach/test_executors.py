"""The timing, timeout and guard wrappers run for real in a local shell; bare-metal trials and
host servers run for real (in a chroot of /) and are killed the ways hostbench can end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hostbench.paths import PROJECT_ROOT
from hostbench.polling import wait_until
from hostbench.reach.executors import guarded_popen, split_elapsed, timed_argv, timed_command
from hostbench.reach.rusage import Rusage, split_rusage


def run(argv: list[str]) -> subprocess.CompletedProcess:
    with guarded_popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        stdout, stderr = proc.communicate()
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)


def processes(*argv: str) -> list[int]:
    """PIDs of every process whose command line is exactly ``argv``."""
    wanted = "\0".join(argv).encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes() == wanted:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_for(check, timeout: float = 10.0) -> bool:
    return bool(wait_until(check, timeout, 0.01))


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_elapsed_time_is_measured_inside_and_removed_from_stderr(shell):
    """By bash's own clock (an SSH session's login shell) or by date's (dash, the chroot's sh),
    the same way: the command's time, microseconds and leading zeros kept."""
    command = ["sh", "-c", "echo out; echo err >&2; sleep 0.1"]
    proc = run(["bash", "-c", timed_command(command, 30)] if shell == "bash"
               else timed_argv(command, timeout=30))
    stderr, elapsed = split_elapsed(proc.stderr)
    assert proc.returncode == 0 and proc.stdout == "out\n" and split_rusage(stderr)[0] == "err\n"
    assert elapsed is not None and 0.1 <= elapsed < 5


def test_exit_code_passes_through_and_arguments_stay_whole():
    proc = run(timed_argv(["sh", "-c", 'printf "%s|" "$@"; exit 3', "sh", "a b", "c;d"], 30))
    assert proc.returncode == 3 and proc.stdout == "a b|c;d|"


def test_a_command_running_past_its_timeout_is_killed():
    proc = run(timed_argv(["sleep", "30"], timeout=0.05))
    assert proc.returncode == 124
    _, elapsed = split_elapsed(proc.stderr)
    assert elapsed is not None and elapsed < 10


def test_output_without_the_marker_has_no_elapsed_time():
    assert split_elapsed("plain error\n") == ("plain error\n", None)


def test_a_command_whose_guard_closes_is_killed_with_everything_it_started():
    argv = timed_argv(["sh", "-c", "sleep 3010 & sleep 3011; wait"], timeout=60)
    with guarded_popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
        assert wait_for(lambda: processes("sleep", "3010") and processes("sleep", "3011"))
    assert wait_for(lambda: not processes("sleep", "3010") and not processes("sleep", "3011"))


CHILD = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C, even where it is ignored
from hostbench.reach.executors import ChrootExecutor
from hostbench.run.servers import HostServerProcess
from pathlib import Path
what, seconds, cpu, log = sys.argv[1:]
if what == "trial":
    ChrootExecutor("bare", "/", cpu).run(["sleep", seconds], timeout=60)
else:
    with HostServerProcess(["sleep", seconds], "127.0.0.1", 9, "/", cpu, Path(log)):
        pass
"""
ENDINGS = [("trial", signal.SIGINT), ("server", signal.SIGTERM), ("trial", signal.SIGKILL),
           ("server", signal.SIGKILL)]


@pytest.mark.skipif(os.geteuid() != 0, reason="bare-metal trials need root (chroot, mounts)")
def test_nothing_outlives_hostbench_however_it_ends(tmp_path):
    """Bare-metal trials, and host servers still starting (they never listen: port 9), each
    ended one way; all at once, each with its own command line."""
    cpu = str(min(os.sched_getaffinity(0)))
    started = {(what, how): ("sleep", str(3020 + i)) for i, (what, how) in enumerate(ENDINGS)}
    children = {ending: subprocess.Popen([sys.executable, "-c", CHILD, ending[0], argv[1], cpu,
                                          str(tmp_path / f"log{argv[1]}")],
                                         cwd=PROJECT_ROOT, stderr=subprocess.DEVNULL)
                for ending, argv in started.items()}
    try:
        for ending, argv in started.items():
            assert wait_for(lambda argv=argv: processes(*argv)), f"{ending}: never started"
        for (_, how), child in children.items():
            child.send_signal(how)
        for child in children.values():
            child.wait(timeout=15)
        for ending, argv in started.items():
            assert wait_for(lambda argv=argv: not processes(*argv), timeout=5), \
                f"{argv} outlived {ending[0]} ended by {ending[1].name}"
    finally:
        for child in children.values():
            child.kill()
        for argv in started.values():
            for pid in processes(*argv):
                os.kill(pid, signal.SIGKILL)


REMOTE_CHILD = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from hostbench.reach.executors import ChrootExecutor
from hostbench.stack.host import RemoteHost
destination, port, key, seconds, cpu = sys.argv[1:]
host = RemoteHost("lab", destination, int(port), key)
ChrootExecutor("bare", "/", cpu, host=host).run(["sleep", seconds], timeout=60)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="bare-metal trials need root (chroot, mounts)")
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_a_trial_on_a_remote_host_dies_with_hostbench(sshd, how, isolated_state):
    """Over SSH the guard is the channel's stdin: however hostbench ends, the host's sshd sees
    it close and the trial is killed there."""
    cpu = str(min(os.sched_getaffinity(0)))
    argv = ("sleep", str(3030 + how))
    child = subprocess.Popen([sys.executable, "-c", REMOTE_CHILD, sshd.destination,
                              str(sshd.port), str(sshd.client_key), argv[1], cpu],
                             cwd=PROJECT_ROOT, stderr=subprocess.DEVNULL,
                             env={**os.environ, "HOSTBENCH_STATE_DIR": str(isolated_state)})
    try:
        assert wait_for(lambda: processes(*argv)), "the remote trial never started"
        child.send_signal(how)
        child.wait(timeout=15)
        assert wait_for(lambda: not processes(*argv), timeout=10), \
            f"the remote trial outlived hostbench ended by {how.name}"
    finally:
        child.kill()
        for pid in processes(*argv):
            os.kill(pid, signal.SIGKILL)


def test_the_command_trees_resource_use_is_reported_and_removed_from_stderr():
    burn = "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 0.05 & wait; echo err >&2"
    proc = run(timed_argv(["sh", "-c", burn], timeout=30))
    stderr, _ = split_elapsed(proc.stderr)
    stderr, usage = split_rusage(stderr)
    assert stderr.strip() == "err" and usage is not None
    assert usage.user_s + usage.system_s > 0.05  # the loop, counted though a child ran it
    assert usage.voluntary_switches >= 1  # it waited for its sleeping child
    assert usage.minor_faults > 0 and usage.max_rss_kib > 0


def test_rusage_lines_that_are_not_gnu_times_are_not_read_as_usage():
    assert split_rusage("__hostbench_rusage=1 2 3\n")[1] is None
    assert split_rusage("__hostbench_rusage=0.5 nan 1 1 1 1 1\n")[1] is None
    assert split_rusage("x\n__hostbench_rusage=0.5 0.1 -1 1 1 1 1\n") == ("x\n", None)
    text, usage = split_rusage("__hostbench_rusage=9 9 9 9 9 9 9\n"
                               "__hostbench_rusage=0.50 0.25 3 4 5 6 7\n")
    assert text.strip() == "__hostbench_rusage=9 9 9 9 9 9 9"
    assert usage == Rusage(0.5, 0.25, 3, 4, 5, 6, 7)
