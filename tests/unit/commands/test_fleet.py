"""Fleets: one fab process per stack, in parallel; one failing costs only its own run."""

from __future__ import annotations

import io
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from hostbench.commands.fleet import (
    RESULT_ENV,
    fleet_stacks,
    member_argv,
    per_stack,
    report_to_fleet,
    run_fleet,
)
from hostbench.errors import HostbenchError
from hostbench.paths import PROJECT_ROOT
from hostbench.polling import wait_until
from hostbench.signals import Stopped, stop_on_signals


def test_each_member_gets_its_own_stack_and_every_other_option():
    argv = ["benchmark", "--stack", "lab1,lab2", "--repeat", "3", "--workload", "lab1,lab2"]
    assert member_argv(argv, "lab1,lab2", "lab2") == [
        "benchmark", "--stack", "lab2", "--repeat", "3", "--workload", "lab1,lab2"]
    assert member_argv(["up", "--stack=a,b"], "a,b", "a") == ["up", "--stack=a"]
    assert member_argv(["up", "-s", "a,b"], "a,b", "b") == ["up", "-s", "b"]
    with pytest.raises(HostbenchError, match="cannot find --stack"):
        member_argv(["up"], "a,b", "a")


@pytest.mark.parametrize(("value", "words"), [
    ("a,,b", "empty stack name"), ("a,b,a", "names a stack twice"),
    ("../../../../tmp/x,local", r"--stack: stack name '../../../../tmp/x' must be")])
def test_malformed_fleets_are_named(value, words):
    with pytest.raises(HostbenchError, match=words):
        fleet_stacks(value)


def _member_fabfile(tmp_path: Path, monkeypatch, text: str) -> None:
    """A fabfile the fleet's members run, in a working directory of its own with its own
    results directory (members that import hostbench find it on PYTHONPATH)."""
    monkeypatch.setenv("HOSTBENCH_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT))
    (tmp_path / "fabfile.py").write_text(text)
    monkeypatch.chdir(tmp_path)


def test_members_run_in_parallel_and_a_failure_is_only_its_own(tmp_path: Path, monkeypatch):
    """Real fab processes: the good member finishes only once it sees the other member started
    (one after the other, it would wait in vain), and that one fails alone."""
    _member_fabfile(tmp_path, monkeypatch,
        "import sys\nfrom pathlib import Path\nfrom fabric import task\n"
        "from hostbench.polling import wait_until\n\n"
        "@task\ndef parity(c, stack='x'):\n"
        "    Path(f'started-{stack}').touch()\n"
        "    if stack == 'broken':\n        raise SystemExit('no targets for stack broken')\n"
        "    if not wait_until(Path('started-broken').exists, 20, 0.02):\n"
        "        sys.exit('alone')\n"
        "    print(f'parity ok on {stack}')\n")
    with pytest.raises(HostbenchError, match=r"failed on broken \(the other stacks are "
                                             r"unaffected\)") as err:
        run_fleet("parity", "good,broken", ["parity", "--stack", "good,broken"])
    logs = {p.stem: p.read_text() for p in (tmp_path / "results/fleets").glob("*/*.log")}
    assert "parity ok on good" in logs["good"]
    assert "no targets for stack broken" in logs["broken"]
    assert "broken.log" in str(err.value)


def test_each_members_run_is_the_one_it_reports_not_a_line_of_its_log(tmp_path: Path,
                                                                      monkeypatch):
    """A workload's output may look like the run's announcement: the fleet reads the result
    file each member writes, not its console."""
    _member_fabfile(tmp_path, monkeypatch,
        "from fabric import task\nfrom hostbench.commands.fleet import report_to_fleet\n\n"
        "@task\ndef benchmark(c, stack='x'):\n"
        "    report_to_fleet({'a': '20261207-100000-aaaa', 'b': '20261207-100000-bbbb'}[stack])\n"
        "    print('run 20990101-000000-dead -> a line a workload printed')\n")
    shown = io.StringIO()
    members = run_fleet("benchmark", "a,b", ["benchmark", "--stack", "a,b"],
                        Console(file=shown, width=200))
    assert [m.run_id() for m in members] == ["20261207-100000-aaaa", "20261207-100000-bbbb"]
    summary = [line for line in shown.getvalue().splitlines() if line.startswith(("a:", "b:"))]
    assert [line.split(";")[0] for line in summary] == ["a: done, run 20261207-100000-aaaa",
                                                         "b: done, run 20261207-100000-bbbb"]


def test_outside_a_fleet_nothing_is_reported(tmp_path: Path, monkeypatch):
    monkeypatch.delenv(RESULT_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    report_to_fleet("20261207-100000-aaaa")
    assert list(tmp_path.iterdir()) == []


def test_a_single_stack_name_is_checked_before_anything_reads_it():
    called = []
    with pytest.raises(HostbenchError, match=r"--stack: stack name '\.\./\.\./x' must be"):
        per_stack("up", "../../x", lambda: called.append(1))
    assert not called
    assert per_stack("up", "lab-1", lambda: "ran") == "ran"
def test_a_signal_to_the_fleet_reaches_every_member_which_cleans_up(tmp_path: Path, monkeypatch):
    """SIGHUP to the fleet alone (as `kill -HUP` sends it): each member gets it, stops as its
    own entry point does, runs its cleanup; the fleet then stops too."""
    _member_fabfile(tmp_path, monkeypatch,
        "import time\nfrom pathlib import Path\nfrom fabric import task\n"
        "from hostbench.console import run_cli\n\n"
        "def wait(stack):\n    Path(f'started-{stack}').touch()\n    try:\n"
        "        time.sleep(30)\n"
        "    finally:\n        print(f'cleaned up {stack}', flush=True)\n\n"
        "@task\ndef parity(c, stack='x'):\n    run_cli(lambda: wait(stack))\n")

    sent = []
    # as from a terminal, even where the tests run ignoring SIGHUP (under nohup): hostbench
    # leaves an ignored signal ignored, and the fleet would then run on to its end
    previous = signal.signal(signal.SIGHUP, signal.SIG_DFL)

    def hang_up_once_both_started() -> None:
        if wait_until(lambda: all((tmp_path / f"started-{s}").exists() for s in ("a", "b")),
                      30, 0.05):
            os.kill(os.getpid(), signal.SIGHUP)
            sent.append(time.monotonic())

    threading.Thread(target=hang_up_once_both_started, daemon=True).start()
    started = time.monotonic()
    try:
        with stop_on_signals():
            run_fleet("parity", "a,b", ["parity", "--stack", "a,b"])
        pytest.fail(f"the fleet ended after {time.monotonic() - started:.1f} s without "
                    f"stopping; SIGHUP sent after "
                    f"{[round(t - started, 1) for t in sent] or 'never'} s")
    except Stopped:
        pass
    finally:
        signal.signal(signal.SIGHUP, previous)
    logs = {p.stem: p.read_text() for p in (tmp_path / "results/fleets").glob("*/*.log")}
    assert set(logs) == {"a", "b"}
    for stack, log in logs.items():
        assert f"cleaned up {stack}" in log and "stopped by SIGHUP" in log, log
