"""Trial schedule: rotated environment order, warm-up flags, counts and time estimate."""

from __future__ import annotations

from collections import Counter

import pytest

from hostbench.errors import HostbenchError
from hostbench.run.schedule import PlannedTrial, estimate_seconds, plan, rotation

ENVS = ["bare", "vm", "container"]


def trial(workload: str, index: int, warmup: bool, env: str, position: int) -> PlannedTrial:
    return PlannedTrial(workload=workload, trial=index, warmup=warmup, env=env,
                        position=position)


def test_rotation_order():
    assert rotation(ENVS, 0) == ["bare", "vm", "container"]
    assert rotation(ENVS, 1) == ["vm", "container", "bare"]
    assert rotation(ENVS, 2) == ["container", "bare", "vm"]
    assert rotation(ENVS, 3) == rotation(ENVS, 0)
    assert rotation(["vm", "bare"], 1) == ["bare", "vm"]
    assert rotation([], 5) == []


def test_every_env_takes_each_position_equally_often_over_three_rounds():
    trials = plan(["w"], ENVS, warmup=0, repeat=3)
    counts = Counter((t.env, t.position) for t in trials)
    assert counts == {(env, pos): 1 for env in ENVS for pos in range(3)}
    six = Counter((t.env, t.position) for t in plan(["w"], ENVS, warmup=0, repeat=6))
    assert set(six.values()) == {2}


def test_plan_runs_each_env_once_per_round_in_rotated_order():
    trials = plan(["cpu", "net"], ENVS, warmup=1, repeat=2)
    assert trials[:4] == [
        trial("cpu", 0, True, "bare", 0),
        trial("cpu", 0, True, "vm", 1),
        trial("cpu", 0, True, "container", 2),
        trial("cpu", 1, False, "vm", 0),
    ]
    # The rotation restarts for the next workload.
    net = [t for t in trials if t.workload == "net"]
    assert [t.env for t in net[:3]] == ["bare", "vm", "container"]
    for workload in ("cpu", "net"):
        for round_index in range(3):
            envs = [t.env for t in trials if t.workload == workload and t.trial == round_index]
            assert sorted(envs) == sorted(ENVS)


def test_warmup_flags_and_counts():
    trials = plan(["a", "b", "c"], ENVS, warmup=2, repeat=5)
    assert len(trials) == 3 * 3 * (2 + 5)
    assert sum(t.warmup for t in trials) == 3 * 3 * 2
    assert all(t.warmup == (t.trial < 2) for t in trials)
    assert {t.trial for t in trials} == set(range(7))
    assert len(plan(["a"], ["vm"], warmup=0, repeat=4)) == 4
    assert not any(t.warmup for t in plan(["a"], ENVS, warmup=0, repeat=2))


def test_any_number_of_environments_rotates_through_every_position():
    envs = ["bare", "vm", "container", "container-hostnet", "gvisor"]
    counts = Counter((t.env, t.position) for t in plan(["w"], envs, warmup=0, repeat=5))
    assert counts == {(env, pos): 1 for env in envs for pos in range(5)}


def test_plan_keeps_a_chosen_subset_and_order_of_envs():
    trials = plan(["a"], ["container", "bare"], warmup=0, repeat=2)
    assert [(t.trial, t.env, t.position) for t in trials] == [
        (0, "container", 0), (0, "bare", 1), (1, "bare", 0), (1, "container", 1)]


@pytest.mark.parametrize(("envs", "warmup", "repeat", "words"), [
    (["vm", "vm"], 0, 1, "twice"),
    ([], 0, 1, "no environments"),
    (ENVS, -1, 1, "warm-up"),
    (ENVS, 0, 0, "at least 1"),
])
def test_plan_rejects_bad_arguments(envs, warmup, repeat, words):
    with pytest.raises(HostbenchError, match=words):
        plan(["a"], envs, warmup, repeat)


def test_estimate_adds_durations_and_overhead():
    trials = plan(["cpu", "net"], ENVS, warmup=1, repeat=2)
    estimate = estimate_seconds(trials, {"cpu": 30, "net": 5}, per_trial_overhead_s=2.5)
    assert estimate == pytest.approx(9 * (30 + 2.5) + 9 * (5 + 2.5))
    assert estimate_seconds([], {}, 1.0) == 0.0
    with pytest.raises(ValueError, match="'net'"):
        estimate_seconds(trials, {"cpu": 30}, 0.0)
