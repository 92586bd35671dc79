"""`fab benchmark` end to end with fake executors: parity, trials, the run in SQLite, the summary
and report, failures, interrupts and resume, and the split of wall time."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from hostbench.commands import benchmark as command
from hostbench.commands import session
from hostbench.console import run_cli
from hostbench.errors import HostbenchError
from hostbench.paths import run_dir
from hostbench.report.run_report import ReportPaths
from hostbench.results.store import Store, StoredRun
from hostbench.run.parity import ParityError
from hostbench.run.phases import seconds_text
from hostbench.run.run_records import BenchmarkOptions
from hostbench.run.workloads import load_catalogue, metric_names
from hostbench.stack.environments import DEFAULT_ENVIRONMENTS, Environment, Kind
from tests.unit.fakes import INSIDE_S, FakeHost, fake_targets, fill, unreachable
from tests.unit.synthetic_runs import HOST, figures_undrawn

ENVS = ("bare", "vm", "container")


def _results_in(directory: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOSTBENCH_RESULTS_DIR", str(directory / "results"))
    monkeypatch.setenv("COLUMNS", "160")
    return directory / "results"


@pytest.fixture(autouse=True)
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return _results_in(tmp_path, monkeypatch)


def _fixed_facts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session.facts_mod, "host_facts", lambda _host=None: HOST)
    monkeypatch.setattr(session.facts_mod, "git_commit", lambda: "0123abc")


@pytest.fixture(autouse=True)
def host_facts(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The host's facts and the checkout's commit are read for real by the first test; the
    others take fixed copies (reading them asks docker, virsh, qemu and git)."""
    if "keeps_everything" not in request.node.name:
        _fixed_facts(monkeypatch)


def _publish_recorded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    runs: list[str] = []

    def publish(run: StoredRun, analysis: object = None
                ) -> tuple[ReportPaths, tuple[Path, ...]]:
        runs.append(run.id)
        out = run_dir(run.id)
        return ReportPaths(out / "report.html", out / "report.md"), (out, out)

    monkeypatch.setattr(session, "publish", publish)
    return runs


@pytest.fixture(autouse=True)
def published(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The runs whose report and exports were written (tests/unit/report draws them)."""
    return _publish_recorded(monkeypatch)


@pytest.fixture
def targets_file(tmp_path: Path) -> Path:
    return fake_targets(tmp_path)


def _options(targets_file: Path, **changes) -> BenchmarkOptions:
    """Without accounting unless a test asks (it reads this host's process list per
    environment): the tests of it below, and the first run, have it."""
    values = {"targets_file": str(targets_file), "workloads": ("cpu-sysbench",), "repeat": 2,
              "warmup": 1, "command_line": "fab benchmark", "accounting": False}
    return BenchmarkOptions(**{**values, **changes})


def _bench(host: FakeHost, opts: BenchmarkOptions) -> str | None:
    return command.benchmark(opts, connect=host.connect, control=host.control)


def _load(run_id: str):
    with Store.default() as store:
        return store.load(run_id)


@dataclass(frozen=True)
class PlainRun:
    host: FakeHost
    run: StoredRun
    out: str  # what the command printed


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory: pytest.TempPathFactory) -> PlainRun:
    """One run with the default options on healthy fake environments, set up as every test's
    own, for the tests that only read what it did, printed and stored (each ran the same run
    of its own before)."""
    root = tmp_path_factory.mktemp("plain-run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOSTBENCH_STATE_DIR", str(root / "state"))
        _results_in(root, patch)
        _fixed_facts(patch)
        _publish_recorded(patch)
        host, out = FakeHost(), io.StringIO()
        with contextlib.redirect_stdout(out):
            run_id = _bench(host, _options(fake_targets(root)))
        assert run_id is not None
        return PlainRun(host, _load(run_id), out.getvalue())


def test_a_run_measures_every_environment_keeps_everything_and_reports(targets_file, published,
                                                                      results, capsys):
    host = FakeHost(slowdown={"vm": 2.0})
    run_id = _bench(host, _options(targets_file, accounting=True))
    run = _load(run_id)
    record = run.record
    assert record.status == "complete" and run.missing() == []
    assert [e.label for e in record.environments] == ["bare", "vm (TCG emulation)", "container"]
    assert len(run.trials) == len(record.plan) == 3 * (1 + 2)
    assert set(run.env_facts) == set(ENVS) and record.parity and record.parity.ok
    assert record.spec and record.spec.stack == "fake" and record.host and record.image_hash
    assert record.catalogue == metric_names(load_catalogue())  # reports read the run's own
    assert all(e.closed == 1 for e in host.made.values())  # every connection closed
    out = capsys.readouterr().out
    assert "parity ok" in out and "vm (TCG emulation)" in out
    assert "+100.0% [" in out  # the VM's events per second, half of bare metal's: x2 the cost
    assert published == [run_id]
    assert f"report: {results / 'runs' / run_id / 'report.html'}" in out


def test_wall_time_is_split_into_workload_and_orchestration(plain_run):
    run = plain_run.run.record
    assert run.workload_seconds == pytest.approx(len(run.plan) * INSIDE_S)
    assert run.wall_seconds == pytest.approx(run.workload_seconds + run.orchestration_seconds)
    assert 0 < run.workload_seconds < run.wall_seconds and run.orchestration_seconds > 0
    phases = run.orchestration or {}
    assert sum(phases.values()) == pytest.approx(run.orchestration_seconds)
    trials = plain_run.run.trials
    assert phases["transport"] == pytest.approx(sum(t.wall_s - t.duration_s for t in trials))
    assert {"parity", "neighbours", "set-up", "servers", "stores", "other"} <= set(phases)
    assert min(phases.values()) >= 0


def test_the_summary_says_where_the_orchestration_went(plain_run):
    out = plain_run.out
    phases = plain_run.run.record.orchestration or {}
    largest = max(phases, key=lambda name: phases[name])
    assert f"orchestration {sum(phases.values()):.0f}s (" in out
    assert f"{largest} {seconds_text(phases[largest])}" in out


def test_every_trial_is_accounted_on_the_host_unless_accounting_is_off(targets_file, plain_run):
    """The fake environments' machinery is this test's process: its host figures are real."""
    run = _load(_bench(FakeHost(), _options(targets_file, accounting=True)))
    for trial in run.trials:
        names = {f.name for f in trial.accounting}
        assert {"cpu.measured.user", "cpu.other.idle", "interrupts", "accounting.cost"} <= names
        assert trial.accounting_note is None
        if trial.env != "bare":
            assert "host.qemu" in names if trial.env == "vm" else "host.container" in names
    plain = plain_run.run  # the default: no accounting
    assert {f.name for t in plain.trials for f in t.accounting} == set()
    assert plain.record.options.accounting is False


def test_a_mismatch_stops_before_any_trial_unless_overridden(targets_file, published):
    host = FakeHost(memory_limit={"container": 512 * 2**20})
    with pytest.raises(ParityError, match="container: cgroup memory limit"):
        _bench(host, _options(targets_file))
    assert host.made["container"].workload_calls == 0
    with Store.default() as store:
        assert store.latest_run_id() is None
    run_id = _bench(host, _options(targets_file, allow_mismatch=True))
    parity = _load(run_id).record.parity
    assert parity and not parity.ok and parity.overridden
    assert published == [run_id]


def test_a_dead_target_fails_the_run_and_resume_runs_only_what_is_missing(targets_file):
    broken = FakeHost(fail={"container": unreachable(2)})
    with pytest.raises(HostbenchError, match=r"trial\(s\) failed or did not run.*--resume") as err:
        _bench(broken, _options(targets_file))
    run_id = str(err.value).split()[1].rstrip(":")
    first = _load(run_id)
    assert first.record.status == "failed"
    assert {p.env for p in first.missing()} == {"container"} and len(first.missing()) == 2
    healthy = FakeHost()
    assert _bench(healthy, _options(targets_file, resume=run_id)) == run_id
    assert {name: e.workload_calls for name, e in healthy.made.items()} == {
        "bare": 0, "vm": 0, "container": 2}
    run = _load(run_id)
    assert run.record.status == "complete" and run.missing() == []
    assert run.record.workload_seconds == pytest.approx(
        first.record.workload_seconds + 2 * INSIDE_S)  # the sessions add up


def test_an_interrupt_keeps_the_trials_marks_the_run_and_reports_it(targets_file, published):
    def interrupt(n: int) -> None:
        if n == 2:
            raise KeyboardInterrupt

    host = FakeHost(fail={"vm": interrupt})
    with pytest.raises(KeyboardInterrupt):
        _bench(host, _options(targets_file))
    assert host.host is not None and host.host.paused == set()  # nobody left paused
    with Store.default() as store:
        run = store.load(store.latest_run_id())
    assert run.record.status == "interrupted"
    assert 0 < len(run.completed_keys()) < len(run.record.plan)
    assert published == [run.id]  # what was measured is reported


def test_a_hang_up_mid_run_resumes_the_neighbours_and_marks_the_run(targets_file, published):
    """SIGHUP (the terminal closed) as the entry point gets it; reaching the test's own handler
    would mean that nothing handled it."""
    unhandled: list[int] = []
    previous = signal.signal(signal.SIGHUP, lambda signum, _frame: unhandled.append(signum))

    def hang_up(n: int) -> None:
        if n == 2:
            signal.raise_signal(signal.SIGHUP)

    host = FakeHost(fail={"vm": hang_up})
    try:
        with pytest.raises(SystemExit) as ended:
            run_cli(lambda: _bench(host, _options(targets_file)))
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert unhandled == [] and ended.value.code == 128 + signal.SIGHUP
    assert host.host is not None and host.host.paused == set()
    with Store.default() as store:
        run = store.load(store.latest_run_id())
    assert run.record.status == "interrupted" and published == [run.id]


def test_a_fourth_environment_is_planned_checked_and_summarised(tmp_path, capsys):
    """Environments are values: a stack of four needs no code that knows there were three."""
    fourth = Environment(name="container-2", kind=Kind.CONTAINER)
    targets_file = fake_targets(tmp_path, (*DEFAULT_ENVIRONMENTS, fourth))
    host = FakeHost(slowdown={"container-2": 1.25})
    run = _load(_bench(host, _options(targets_file)))
    names = [e.name for e in run.record.environments]
    assert names == [*ENVS, "container-2"]
    assert {p.env for p in run.record.plan} == set(names)
    assert sorted({p.position for p in run.record.plan}) == [0, 1, 2, 3]
    assert {c.env for c in run.record.parity.checks} == set(names)
    assert {s.env for s in run.measured()} == set(names)
    assert "container-2" in capsys.readouterr().out


def test_only_the_chosen_environments_run_and_unknown_ones_are_named(targets_file):
    host = FakeHost()
    run = _load(_bench(host, _options(targets_file, envs=("bare", "container"))))
    assert [e.name for e in run.record.environments] == ["bare", "container"]
    assert "vm" not in host.made
    with pytest.raises(HostbenchError, match=r"no target for environment\(s\) \['gvisor'\]"):
        _bench(host, _options(targets_file, envs=("gvisor",)))


def test_a_dry_run_prints_the_plan_and_runs_nothing(targets_file, capsys):
    host = FakeHost()
    assert _bench(host, _options(targets_file, dry_run=True)) is None
    out = capsys.readouterr().out
    assert "plan: 9 trials" in out and "estimated duration" in out and host.made == {}


def test_a_dry_run_refuses_an_environment_the_stack_does_not_have(targets_file):
    with pytest.raises(HostbenchError, match=r"no environment\(s\) \['nosuchenv'\]; it has: "
                                             r"bare, vm, container"):
        _bench(FakeHost(), _options(targets_file, dry_run=True, envs=("bare", "nosuchenv")))


def test_options_from_the_command_line():
    opts = command.options_from_cli(stack="s", targets_file=None, suite="quick", repeat="3",
                                    warmup="0", workload="a, b", env="bare,vm", dry_run=False,
                                    resume=None, allow_mismatch=False, command_line="fab")
    assert (opts.repeat, opts.warmup, opts.workloads, opts.envs) == (3, 0, ("a", "b"),
                                                                     ("bare", "vm"))
    with pytest.raises(HostbenchError, match="--repeat must be at least 1"):
        command.options_from_cli(stack="s", repeat=0, warmup=1)
    with pytest.raises(HostbenchError, match="--repeat must be a number, got 'many'"):
        command.options_from_cli(stack="s", repeat="many", warmup=1)
    auto = command.options_from_cli(stack="s", repeat="auto", warmup=1, min_repeat="3",
                                    max_repeat="9", margin="2.5")
    assert (auto.repeat, auto.min_repeat, auto.max_repeat, auto.margin) == ("auto", 3, 9, 2.5)
    for flags, words in (({"min_repeat": 1}, "--min-repeat"), ({"margin": 0}, "--margin"),
                         ({"min_repeat": 9, "max_repeat": 3}, "at most --max-repeat"),
                         ({"isolation": "some"}, "--isolation")):
        with pytest.raises(HostbenchError, match=words):
            command.options_from_cli(stack="s", repeat="auto", warmup=1, **flags)


def test_the_other_environments_are_paused_during_each_trial_and_metered(plain_run):
    host, run = plain_run.host, plain_run.run
    for env, seen in host.paused_while_running.items():
        assert seen and all(paused == {"vm", "container"} - {env} for paused in seen), env
    assert host.host.paused == set() and run.record.options.isolation == "pause"
    assert {t.neighbours_cpu_s for t in run.trials} == {0.0}  # paused: they used nothing


def test_neighbours_stay_paused_between_trials_two_engine_calls_a_trial_at_most(tmp_path):
    """Of five environments, three measured: the first trial pauses the other four, each later
    one resumes only the environment it measures and pauses the one measured before it (not
    2(n-1) calls a trial), after one question of which are paused; the two never measured stay
    paused, and all run again at the end."""
    extra = tuple(Environment(name=f"container-{i}", kind=Kind.CONTAINER) for i in (2, 3))
    targets_file = fake_targets(tmp_path, (*DEFAULT_ENVIRONMENTS, *extra))
    host = FakeHost()
    marks: list[int] = []  # engine calls so far, at each workload command
    host.fail = {env: lambda _n: marks.append(len(host.host.events)) for env in ENVS}
    run = _load(_bench(host, _options(targets_file, warmup=0, envs=ENVS)))
    assert run.record.status == "complete" and len(marks) == len(run.trials) == 6
    events = host.host.events
    per_trial = [events[a:b] for a, b in itertools.pairwise(marks)]
    assert sum(kind != "query" for kind, _ in events[:marks[0]]) == 4
    assert per_trial and all(sum(kind != "query" for kind, _ in calls) <= 2
                             and sum(kind == "query" for kind, _ in calls) == 1
                             for calls in per_trial), per_trial
    for env, seen in host.paused_while_running.items():
        assert all(paused == {"vm", "container", *(e.name for e in extra)} - {env}
                   for paused in seen), env
    assert host.host.paused == set()
    assert sum(kind == "resume" for kind, _ in events[marks[-1]:]) >= 2
    assert {t.neighbours_cpu_s for t in run.trials} == {0.0}  # metered every trial


def test_a_neighbour_resumed_by_something_else_is_paused_again_before_the_next_trial(
        targets_file):
    """The Docker engine restarts during bare metal's first trial and brings the container
    back running: the trials after it still find every other environment paused."""
    host = FakeHost()

    def engine_restarts(n: int) -> None:
        if n == 1:
            host.host.paused.discard("container")

    host.fail = {"bare": engine_restarts}
    run = _load(_bench(host, _options(targets_file, warmup=0)))
    assert run.record.status == "complete"
    for env, seen in host.paused_while_running.items():
        assert seen and all(paused == {"vm", "container"} - {env} for paused in seen), env


def test_without_isolation_the_neighbours_run_and_what_they_use_is_recorded(targets_file):
    host = FakeHost()
    run = _load(_bench(host, _options(targets_file, isolation="none")))
    assert all(paused == set() for seen in host.paused_while_running.values() for paused in seen)
    bare = [t.neighbours_cpu_s for t in run.trials if t.env == "bare"]
    assert bare == [pytest.approx(2 * host.host.IDLE_CPU_S)] * len(bare)  # vm and container


def test_a_neighbour_that_cannot_be_paused_is_reported_and_the_trials_go_on(targets_file,
                                                                           capsys):
    host = FakeHost(broken={"container"})
    run = _load(_bench(host, _options(targets_file)))
    assert run.record.status == "complete"
    assert "idle neighbours: cannot pause container" in capsys.readouterr().out


def test_an_environment_left_paused_is_not_measured_and_resume_measures_it_later(
        targets_file, capsys):
    """The engines stop during bare metal's first trial, with the others paused: their trials
    fail at once (no workload runs in a paused environment), bare metal goes on, and once the
    engines are back `--resume` resumes them and measures what is missing."""
    host = FakeHost()

    def engines_stop(n: int) -> None:
        if n == 1:
            host.host.engine_gone = True

    host.fail = {"bare": engines_stop}
    with pytest.raises(HostbenchError, match="--resume") as err:
        _bench(host, _options(targets_file, warmup=0))
    run_id = str(err.value).split()[1].rstrip(":")
    run = _load(run_id)
    assert [t.status for t in run.trials if t.env == "bare"] == ["ok", "ok"]
    stuck = [t for t in run.trials if t.env != "bare"]
    assert stuck and all(t.status == "failed" and "is paused and cannot be resumed" in t.error
                         for t in stuck)
    assert {n: e.workload_calls for n, e in host.made.items() if n != "bare"} == {
        "vm": 0, "container": 0}
    back = FakeHost()
    assert _bench(back, _options(targets_file, resume=run_id, warmup=0)) == run_id
    assert _load(run_id).missing() == [] and _load(run_id).record.status == "complete"


def test_repeat_auto_adds_rounds_while_a_verdict_is_open_and_records_why_it_stopped(
        targets_file, capsys):
    host = FakeHost(noise={"container": 0.06})  # +-6% around bare metal's: never decided
    opts = _options(targets_file, repeat="auto", min_repeat=3, max_repeat=6, warmup=0)
    run = _load(_bench(host, opts))
    stopping = run.record.stopping
    assert stopping is not None and (stopping.minimum, stopping.maximum) == (3, 6)
    assert stopping.looks == (3, 5, 6)
    rounds = stopping.rounds["cpu-sysbench"]
    assert rounds in (5, 6)
    # the VM (as fast as bare metal, no noise) is settled at the first look and drops out;
    # bare metal and the open container go on, every round stored
    later = [p for p in run.record.plan if p.trial >= 3]
    assert {p.env for p in later} == {"bare", "container"} and len(later) == 2 * (rounds - 3)
    assert run.missing() == [] and run.record.status == "complete"
    assert "inconclusive" in stopping.reasons["cpu-sysbench"] or "maximum" in \
        stopping.reasons["cpu-sysbench"]
    out = capsys.readouterr().out
    assert "--repeat auto: looks after 3, 5, 6 measured rounds" in out
    assert "rounds 4-5 for bare, container" in out
    assert f"cpu-sysbench: {rounds} measured rounds" in out


def test_repeat_auto_stops_at_the_minimum_when_every_verdict_is_in(targets_file):
    host = FakeHost(slowdown={"vm": 2.0})
    run = _load(_bench(host, _options(targets_file, repeat="auto", min_repeat=3, warmup=0)))
    assert run.record.stopping.rounds == {"cpu-sysbench": 3}
    assert run.record.stopping.reasons == {"cpu-sysbench": "every metric has a verdict"}


def test_calibration_is_bare_metal_against_bare_metal_and_floors_later_margins(targets_file,
                                                                                capsys):
    host = FakeHost(noise={"bare": 0.02})
    calibration = _load(command.calibrate(_options(targets_file), connect=host.connect,
                                          control=host.control))
    assert [e.name for e in calibration.record.environments] == ["bare", "bare-2"]
    assert calibration.record.purpose == "calibration" and set(host.made) == {"bare", "bare-2"}
    assert "noise floor of this host" in capsys.readouterr().out
    run = _load(_bench(FakeHost(), _options(targets_file)))
    margins = run.record.margins
    assert margins.floor_run == calibration.id and margins.source == "workload files"
    assert margins.floors["cpu-sysbench events_per_second"] > 0
    assert margins.of("cpu-sysbench", "events_per_second") >= 2.0  # the workload's own
    forced = _load(_bench(FakeHost(), _options(targets_file, margin=7.5))).record.margins
    assert forced.source == "command line" and forced.workloads == {"cpu-sysbench": 7.5}


def _failed_run(targets_file: Path, **changes) -> str:
    with pytest.raises(HostbenchError) as err:
        _bench(FakeHost(fail={"container": unreachable(2)}), _options(targets_file, **changes))
    return str(err.value).split()[1].rstrip(":")


def test_resume_restores_the_stack_and_every_option_it_was_started_with(targets_file,
                                                                        monkeypatch):
    run_id = _failed_run(targets_file, stack="lab")
    asked: list[tuple[str, str | None]] = []
    resolve = command.resolve_targets
    monkeypatch.setattr(command, "resolve_targets",
                        lambda stack, path: asked.append((stack, path)) or resolve(stack, path))
    # restating an option with the value the run had is no conflict
    resumed = BenchmarkOptions(resume=run_id, repeat=2, command_line="fab benchmark --resume")
    assert _bench(FakeHost(), resumed) == run_id
    assert asked == [("lab", str(targets_file))]
    assert _load(run_id).missing() == []


@pytest.mark.parametrize(("change", "message"), [
    ({"repeat": 3}, "--repeat 3 (the run has 2)"),
    ({"workloads": ("memory-sysbench",)}, "--workload memory-sysbench (the run has cpu-sysbench)"),
    ({"stack": "other"}, "--stack other (the run has lab)"),
    ({"isolation": "none"}, "--isolation none (the run has pause)"),
])
def test_resume_refuses_options_that_conflict_with_the_run(targets_file, change, message):
    run_id = _failed_run(targets_file, stack="lab")
    with pytest.raises(HostbenchError) as err:
        _bench(FakeHost(), BenchmarkOptions(resume=run_id, **change))
    assert f"--resume {run_id}" in str(err.value) and message in str(err.value)


def _other_targets(targets_file: Path, change: dict[str, dict[str, str]]) -> Path:
    """The targets file with the parts in ``change`` replaced (each part's keys updated)."""
    document = json.loads(targets_file.read_text())
    for part, values in change.items():
        document[part] = values if isinstance(document[part], str) else {**document[part],
                                                                          **values}
    other = targets_file.with_name("other-targets.json")
    other.write_text(json.dumps(document))
    return other


@pytest.mark.parametrize(("change", "message"), [
    ({"stack": "other", "spec": {"stack": "other"}}, "stack other; the run's is stack fake"),
    ({"spec": {"host": "lab2.example"}}, "host lab2.example; the run's is this machine"),
    ({"image": {"hash": "e" * 64}}, f"image {'e' * 12}; the run's is image {'f' * 12}"),
])
def test_resume_refuses_targets_of_another_stack_host_or_image(targets_file, change, message):
    run_id = _failed_run(targets_file)
    other = _other_targets(targets_file, change)
    host = FakeHost()
    with pytest.raises(HostbenchError) as err:
        _bench(host, BenchmarkOptions(resume=run_id, targets_file=str(other)))
    assert f"--resume {run_id}" in str(err.value) and message in str(err.value)
    assert host.made == {}  # nothing ran
    assert len(_load(run_id).missing()) == 2


def test_two_resumes_of_one_run_take_the_same_lock(targets_file):
    from hostbench.stack.lock import StackBusy, stack_lock

    run_id = _failed_run(targets_file)
    with stack_lock("fake", f"fab benchmark --resume {run_id}"), pytest.raises(StackBusy):
        _bench(FakeHost(), BenchmarkOptions(resume=run_id, targets_file=str(targets_file)))


def test_resume_names_a_workload_whose_file_is_gone(targets_file, monkeypatch):
    run_id = _failed_run(targets_file)
    catalogue = command.load_catalogue()
    monkeypatch.setattr(command, "load_catalogue",
                        lambda: {k: v for k, v in catalogue.items() if k != "cpu-sysbench"})
    with pytest.raises(HostbenchError, match=r"cpu-sysbench.*workloads/cpu-sysbench\.yaml"):
        _bench(FakeHost(), BenchmarkOptions(resume=run_id))


def test_a_benchmark_of_a_busy_stack_is_refused_before_it_starts(targets_file):
    from hostbench.stack.lock import StackBusy, stack_lock

    host = FakeHost()
    with stack_lock("fake", "fab benchmark --stack fake"), pytest.raises(StackBusy) as busy:
        _bench(host, _options(targets_file))
    assert f"PID {os.getpid()}" in str(busy.value) and host.made == {}
    with Store.default() as store:
        assert store.latest_run_id() is None


def test_a_vm_throttled_on_the_host_fails_parity(targets_file):
    host = FakeHost(host_quota={"vm": "50000 100000"})
    with pytest.raises(ParityError, match="vm: CPU bandwidth"):
        _bench(host, _options(targets_file))
    assert host.made["vm"].workload_calls == 0


def test_a_run_is_analysed_once_for_its_summary_report_and_verdicts(targets_file, monkeypatch,
                                                                   capsys):
    from hostbench.analysis import run_analysis
    from hostbench.report import run_report

    calls: list[str] = []
    real = run_analysis.analyse

    def counted(*args, **kwargs):
        calls.append("analyse")
        return real(*args, **kwargs)

    monkeypatch.setattr(run_analysis, "analyse", counted)
    monkeypatch.setattr(session, "publish", run_report.publish)  # the real report and exports
    figures_undrawn(monkeypatch)  # tests/unit/report draws them from runs of the same shape
    run_id = _bench(FakeHost(slowdown={"vm": 2.0}), _options(targets_file))
    assert run_id is not None and calls == ["analyse"]
    out = capsys.readouterr().out
    assert "could not write the report" not in out and f"{run_id}/report.html" in out

def test_a_new_runs_host_facts_are_read_while_parity_waits_on_the_environments(
        targets_file, monkeypatch):
    """Reading the host's facts (docker, virsh, qemu, perf) and the commit is not added to the
    run's wall time: it happens while parity waits on the environments (a TCG VM's seconds)."""
    reading = threading.Event()
    real_facts, real_parity = session.facts_mod.host_facts, session.parity

    def host_facts(host=None):
        reading.set()
        return real_facts(host)

    def parity(*args, **kwargs):
        assert reading.wait(10), "the host's facts were not being read during parity"
        return real_parity(*args, **kwargs)

    monkeypatch.setattr(session.facts_mod, "host_facts", host_facts)
    monkeypatch.setattr(session, "parity", parity)
    run_id = _bench(FakeHost(), _options(targets_file, warmup=0))
    assert run_id is not None and _load(run_id).record.host == HOST


def test_a_full_disk_fails_the_trial_with_the_stores_message_and_resume_completes(
        targets_file, tiny_disk, monkeypatch):
    monkeypatch.setenv("HOSTBENCH_RESULTS_DIR", str(tiny_disk))
    fillers: list[Path] = []

    def disk_fills(n: int) -> None:
        if n == 2:
            fillers.append(fill(tiny_disk))

    with pytest.raises(HostbenchError, match=r"cannot write .*Free space.*--resume") as err:
        _bench(FakeHost(fail={"vm": disk_fills}), _options(targets_file))
    assert "cannot write" in str(err.value)
    fillers[0].unlink()
    with Store.default() as store:
        run_id = store.latest_run_id()
        kept = store.load(run_id)
    assert 0 < len(kept.completed_keys()) < len(kept.record.plan)  # what was stored is kept
    assert _bench(FakeHost(), _options(targets_file, resume=run_id)) == run_id
    run = _load(run_id)
    assert run.record.status == "complete" and run.missing() == []
    assert kept.completed_keys() <= run.completed_keys()


class NeighbourVmsSeen:
    """Stands in for ``hostbench.run.vm_neighbour.NeighbourVms``: boots nothing, notes what the
    run asked of it; ``boot_fails`` makes booting fail."""

    made: ClassVar[list[NeighbourVmsSeen]] = []
    boot_fails = False

    def __init__(self, targets: object, say: object) -> None:
        self.booted: list[tuple[str, tuple[int, ...]]] = []
        self.stressed: list[str] = []
        self.removed = 0
        NeighbourVmsSeen.made.append(self)

    def booted_for(self, target, cores):
        self.booted.append((target.name, tuple(cores)))
        if self.boot_fails:
            raise HostbenchError("neighbour VM hostbench-fake-neighbour got no DHCP lease")
        return self.stressing

    @contextlib.contextmanager
    def stressing(self, stressor, _limit_s):
        self.stressed.append(stressor.name)
        yield

    def remove(self) -> list[str]:
        self.removed += 1
        return []


@pytest.fixture
def neighbour_vms(monkeypatch: pytest.MonkeyPatch) -> type[NeighbourVmsSeen]:
    from hostbench.run import vm_neighbour

    monkeypatch.setattr(NeighbourVmsSeen, "made", [])
    monkeypatch.setattr(vm_neighbour, "NeighbourVms", NeighbourVmsSeen)
    return NeighbourVmsSeen


def test_a_vm_beside_a_stressor_has_its_neighbour_vm_booted_once_and_removed(targets_file,
                                                                               neighbour_vms):
    opts = _options(targets_file, envs=("vm",), neighbour=("cpu",), warmup=0, repeat=3)
    run = _load(_bench(FakeHost(), opts))
    assert run.record.status == "complete"
    (vms,) = neighbour_vms.made
    assert vms.booted == [("vm", (0,))]  # the core the VM does not use, once for the run
    assert vms.stressed == ["cpu"] * 3 and vms.removed == 1
    assert sorted(t.env for t in run.trials) == ["vm"] * 3 + ["vm@cpu"] * 3


def _interrupt(n: int) -> None:
    if n == 2:
        raise KeyboardInterrupt


@pytest.mark.parametrize("how", ["interrupted", "boot fails"])
def test_the_neighbour_vm_is_removed_however_the_run_ends(targets_file, neighbour_vms, how,
                                                         monkeypatch):
    opts = _options(targets_file, envs=("vm",), neighbour=("cpu",), warmup=0, repeat=3)
    if how == "interrupted":
        with pytest.raises(KeyboardInterrupt):
            _bench(FakeHost(fail={"vm": _interrupt}), opts)
    else:
        monkeypatch.setattr(neighbour_vms, "boot_fails", True)
        with pytest.raises(HostbenchError, match="no DHCP lease"):
            _bench(FakeHost(), opts)
    (vms,) = neighbour_vms.made
    assert vms.booted == [("vm", (0,))] and vms.removed == 1
