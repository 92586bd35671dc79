"""The timing wrapper and timeout wrapper run for real in a local shell."""

from __future__ import annotations

import subprocess

from hostbench.reach.executors import split_elapsed, timed_argv


def run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True)


def test_elapsed_time_is_measured_inside_and_removed_from_stderr():
    proc = run(timed_argv(["sh", "-c", "echo out; echo err >&2; sleep 0.1"], timeout=30))
    stderr, elapsed = split_elapsed(proc.stderr)
    assert proc.returncode == 0 and proc.stdout == "out\n" and stderr.strip() == "err"
    assert elapsed is not None and 0.1 <= elapsed < 5


def test_exit_code_passes_through_and_arguments_stay_whole():
    proc = run(timed_argv(["sh", "-c", 'printf "%s|" "$@"; exit 3', "sh", "a b", "c;d"], 30))
    assert proc.returncode == 3 and proc.stdout == "a b|c;d|"


def test_a_command_running_past_its_timeout_is_killed():
    proc = run(timed_argv(["sleep", "30"], timeout=0.2))
    assert proc.returncode == 124
    _, elapsed = split_elapsed(proc.stderr)
    assert elapsed is not None and elapsed < 10


def test_output_without_the_marker_has_no_elapsed_time():
    assert split_elapsed("plain error\n") == ("plain error\n", None)
