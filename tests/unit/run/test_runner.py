"""The trial runner with fake executors: order, warm-ups, samples and every way a trial fails."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from rich.console import Console

from hostbench.errors import HostbenchError
from hostbench.reach.ssh import StackAccess, TargetUnreachable
from hostbench.run.run_records import TrialRecord
from hostbench.run.runner import (
    RunContext,
    cleanup_scratch,
    load_generator,
    run_plan,
    trial_progress,
)
from hostbench.run.schedule import plan
from hostbench.run.workloads import load_catalogue
from hostbench.stack.host import cpu_list
from tests.unit.fakes import (
    INSIDE_S,
    SYSBENCH_EPS,
    FakeHost,
    fake_targets,
    fill,
    load,
    timing_out,
)
from tests.unit.fakes import unreachable as unreachable_at

ENVS = ["bare", "vm", "container"]


@pytest.fixture
def targets(tmp_path: Path):
    return load(fake_targets(tmp_path)).targets


def _run(tmp_path: Path, targets, host: FakeHost, workloads: list[str], warmup: int = 1,
         repeat: int = 2) -> tuple[list[TrialRecord], RunContext]:
    saved: list[TrialRecord] = []
    catalogue = load_catalogue()
    # a second CPU workload under another name, for what happens when the next one begins
    catalogue["cpu-sysbench-again"] = catalogue["cpu-sysbench"].model_copy(
        update={"name": "cpu-sysbench-again"})
    ctx = RunContext("run-1", "quick", targets, catalogue,
                     {name: host.connect(t, StackAccess("key", tmp_path / "known_hosts"))
                      for name, t in targets.items()},
                     saved.append, tmp_path / "raw", Console(file=io.StringIO()),
                     host_tree="/tree")
    trials = plan(workloads, ENVS, warmup, repeat)
    with trial_progress(ctx.console, {w: 5.0 for w in workloads}) as shown:
        run_plan(ctx, trials, shown)
    return saved, ctx


def test_trials_run_in_plan_order_and_each_is_handed_over_with_its_samples(tmp_path, targets):
    saved, ctx = _run(tmp_path, targets, FakeHost(slowdown={"vm": 4.0}), ["cpu-sysbench"])
    expected = plan(["cpu-sysbench"], ENVS, 1, 2)
    assert [(t.env, t.trial, t.warmup, t.position) for t in saved] == [
        (p.env, p.trial, p.warmup, p.position) for p in expected]
    assert all(t.status == "ok" for t in saved) and ctx.completed == {p.key for p in expected}
    vm = next(t for t in saved if t.env == "vm" and not t.warmup)
    eps, latency = vm.samples
    assert (eps.metric, eps.unit, eps.higher_is_better) == ("events_per_second", "events/s", True)
    assert eps.value == pytest.approx(SYSBENCH_EPS / 4, abs=0.01)
    assert (latency.metric, latency.unit, latency.higher_is_better) == ("latency_avg_ms", "ms",
                                                                       False)
    assert eps.timestamp == vm.started_at and eps.trial == vm.trial and eps.env == "vm"
    assert ctx.workload_seconds == pytest.approx(len(saved) * INSIDE_S)
    raw = Path(vm.raw_path).read_text()
    assert raw.startswith("$ sysbench cpu --threads=1") and "events per second" in raw


def test_raw_output_on_a_full_disk_stops_the_run_naming_the_file_and_how_to_resume(
        tmp_path, targets, tiny_disk):
    fill(tiny_disk)
    with pytest.raises(HostbenchError) as err:
        _run(tiny_disk, targets, FakeHost(), ["cpu-sysbench"], warmup=0, repeat=1)
    message = str(err.value)
    assert f"{tiny_disk}/raw/cpu-sysbench/000-bare.txt" in message
    assert "No space left on device" in message and "--resume run-1" in message


def test_a_target_that_stops_answering_fails_its_trials_and_the_others_go_on(tmp_path, targets):
    host = FakeHost(fail={"container": unreachable_at(2)})
    saved, ctx = _run(tmp_path, targets, host, ["cpu-sysbench"], warmup=0, repeat=3)
    container = [t for t in saved if t.env == "container"]
    assert [t.status for t in container] == ["ok", "failed", "failed"]
    assert "target unreachable: connection reset by peer" in container[1].error
    assert container[2].error.startswith("skipped: target stopped answering")
    assert host.made["container"].workload_calls == 2  # nothing sent to a dead target
    assert all(t.status == "ok" for t in saved if t.env != "container")
    assert not container[1].samples and "container" in ctx.dead


def test_a_target_that_stopped_answering_is_tried_again_when_the_next_workload_begins(
        tmp_path, targets):
    """Busy for a while (a TCG VM on a loaded host): its next workload is measured; a target
    that stays silent costs one attempt per workload."""
    host = FakeHost(fail={"container": lambda n: TargetUnreachable("timeout") if n == 2 else None,
                          "vm": unreachable_at(1)})
    saved, ctx = _run(tmp_path, targets, host, ["cpu-sysbench", "cpu-sysbench-again"],
                      warmup=0, repeat=3)
    status = {(t.workload, t.env): [] for t in saved}
    for t in saved:
        status[(t.workload, t.env)].append(t.status)
    assert status[("cpu-sysbench", "container")] == ["ok", "failed", "failed"]
    assert status[("cpu-sysbench-again", "container")] == ["ok", "ok", "ok"]
    assert status[("cpu-sysbench-again", "vm")] == ["failed"] * 3
    assert host.made["vm"].workload_calls == 2  # once per workload, then skipped
    skipped = next(t for t in saved if t.env == "vm" and t.error.startswith("skipped"))
    assert "tried again when the next one begins" in skipped.error
    assert set(ctx.dead) == {"vm"}


def test_a_timeout_fails_one_trial_only(tmp_path, targets):
    saved, ctx = _run(tmp_path, targets, FakeHost(fail={"vm": timing_out(1)}),
                      ["cpu-sysbench"], warmup=0, repeat=2)
    vm = [t for t in saved if t.env == "vm"]
    assert [t.status for t in vm] == ["failed", "ok"]
    assert vm[0].error == "TrialTimeout: no result after 360s" and ctx.dead == {}


def test_a_failing_command_and_unreadable_output_fail_their_trial(tmp_path, targets):
    host = FakeHost(fail={"bare": lambda n: 137 if n == 1 else None,
                          "vm": lambda n: 0 if n == 1 else None})  # 0: no output at all
    saved, _ = _run(tmp_path, targets, host, ["cpu-sysbench"], warmup=0, repeat=2)
    bare = [t for t in saved if t.env == "bare"]
    assert bare[0].status == "failed" and bare[0].error == (
        "exit code 137: sysbench: fatal: out of memory")
    vm = [t for t in saved if t.env == "vm"]  # exit status 0 with no output: a parse error
    assert vm[0].status == "failed" and "ParseError: sysbench_cpu: output is empty" in vm[0].error
    assert vm[1].status == "ok"


def test_scratch_directories_are_made_once_and_files_removed_at_the_end(tmp_path, targets):
    host = FakeHost()
    _, ctx = _run(tmp_path, targets, host, ["disk-fio-randread"], warmup=0, repeat=1)
    cleanup_scratch(ctx)
    for name in ENVS:
        calls = [c[0] for c in host.made[name].calls]
        assert calls.count("mkdir") == 1 and calls[-1] == "rm"
        assert host.made[name].calls[-1] == ["rm", "-rf",
                                             "/scratch/hostbench-disk-fio-randread.dat"]


@pytest.mark.skipif(os.geteuid() != 0 or len(os.sched_getaffinity(0)) < 2,
                    reason="the bare-metal executor needs root, and a core to spare")
def test_the_load_generator_runs_from_the_image_tree_on_cores_no_environment_uses(targets):
    ctx = RunContext("run-1", "quick", targets, load_catalogue(), {}, lambda _t: None,
                     Path("/tmp"), Console(file=io.StringIO()), host_tree="/")
    measured = {core for t in targets.values() for core in t.cores}
    for env in ENVS:
        client = load_generator(ctx, env)
        assert client.rootfs == "/"
        result = client.run(["grep", "Cpus_allowed_list", "/proc/self/status"], 30)
        allowed = cpu_list(result.stdout.split(":", 1)[1].strip())
        assert allowed and not allowed & measured, (allowed, measured)


def test_a_service_trial_with_no_core_left_for_its_load_generator_cannot_run(tmp_path, targets):
    every = tuple(sorted(os.sched_getaffinity(0)))
    greedy = {name: t.model_copy(update={"cores": every}) for name, t in targets.items()}
    ctx = RunContext("run-1", "quick", greedy, load_catalogue(), {}, lambda _t: None,
                     tmp_path, Console(file=io.StringIO()), host_tree="/")
    with pytest.raises(HostbenchError, match="no host core is left for the load generator"):
        load_generator(ctx, "vm")


def _run_beside(tmp_path, targets, host, stressors, trials) -> list:
    """Run ``trials`` with the stressors named by environment; the trials as saved."""
    saved: list = []
    ctx = RunContext("run-1", "quick", targets, load_catalogue(),
                     {name: host.connect(t, "key") for name, t in targets.items()},
                     saved.append, tmp_path / "raw", Console(file=io.StringIO()),
                     stressors=stressors)
    with trial_progress(ctx.console, {"cpu-sysbench": 5.0}) as shown:
        run_plan(ctx, trials, shown)
    return saved

def test_a_trial_beside_a_neighbour_runs_in_its_environment_inside_the_stressors_lifetime(
        tmp_path, targets):
    events: list[str] = []

    @contextmanager
    def stressing() -> Iterator[None]:
        events.append("start")
        yield
        events.append(f"stop after {host.made['container'].workload_calls} workload calls")

    host = FakeHost()
    trials = plan(["cpu-sysbench"], ["container", "container@cpu"], 0, 2)
    saved = _run_beside(tmp_path, targets, host, {"container@cpu": stressing}, trials)
    assert [(t.env, t.status) for t in saved] == [(p.env, "ok") for p in trials]
    assert {s.env for t in saved for s in t.samples} == {"container", "container@cpu"}
    calls = [p.env for p in trials]
    assert events == [e for i, env in enumerate(calls) if env == "container@cpu"
                      for e in ("start", f"stop after {i + 1} workload calls")]
    assert all(Path(t.raw_path).name.endswith(f"-{t.env}.txt") for t in saved)


def test_a_neighbour_that_dies_during_the_trial_fails_that_trial(tmp_path, targets):
    @contextmanager
    def dying() -> Iterator[None]:
        yield
        raise HostbenchError("stressor cpu stopped before the trial ended (exit code 1)")

    saved = _run_beside(tmp_path, targets, FakeHost(), {"bare@cpu": dying},
                        plan(["cpu-sysbench"], ["bare", "bare@cpu"], 0, 1))
    assert [(t.env, t.status) for t in saved] == [("bare", "ok"), ("bare@cpu", "failed")]
    assert "stressor cpu stopped before the trial ended" in (saved[1].error or "")
