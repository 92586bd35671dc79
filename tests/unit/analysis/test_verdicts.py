"""The four verdicts on effects of every kind, Holm's correction over a run, the noise floor's
part, and the adaptive rule's looks and decisions."""

from __future__ import annotations

import math

import pytest

from hostbench.analysis import rule
from hostbench.analysis.adaptive import decide, look_alpha, looks
from hostbench.analysis.effects import log_margin
from hostbench.analysis.overheads import MetricResult, analyse
from hostbench.analysis.stats import overhead, summarize, with_holm
from hostbench.run.run_records import Sample
from tests.unit.synthetic_runs import environment

CONTAINER = environment("container")
M = log_margin(3.0)


@pytest.mark.parametrize(("mean", "se", "floor", "verdict"), [
    (0.08, 0.005, 0.0, "slower"),
    (-0.08, 0.005, 0.0, "faster"),
    (0.004, 0.001, 0.0, "equivalent"),  # significant, and inside the margin
    (0.02, 0.03, 0.0, "inconclusive"),  # wider than the margin
    (0.03, 0.002, 0.0, "inconclusive"),  # crosses +m
    (0.004, 0.001, log_margin(5.0), "inconclusive"),  # the floor exceeds m: no equivalence
    (0.045, 0.002, log_margin(5.0), "inconclusive"),  # beyond m, not beyond the floor
    (0.08, 0.005, log_margin(5.0), "slower"),  # beyond the floor too
])
def test_the_rule_on_effects_of_every_kind(mean, se, floor, verdict):
    code = rule.verdict_codes(mean, se, 9, 10, M, floor)
    assert rule.NAMES[int(code)] == verdict


def test_a_margin_is_the_same_distance_both_ways():
    slow = rule.verdict_codes(math.log(1.031), 0.0001, 9, 10, M)
    fast = rule.verdict_codes(-math.log(1.031), 0.0001, 9, 10, M)
    assert (rule.NAMES[int(slow)], rule.NAMES[int(fast)]) == ("slower", "faster")


def test_the_floor_never_widens_equivalent_and_says_why():
    rounds = range(5)
    o = overhead([100, 101, 99, 100, 100.5], [100.2, 101.1, 99.3, 100, 100.9], False,
                 margin_pct=3.0, floor_pct=24.0, bare_rounds=rounds, other_rounds=rounds)
    assert o.verdict == "inconclusive"
    assert "noise +-24% exceeds the margin +-3%" in o.hint


def test_holm_keeps_the_strong_claims_of_a_run_and_drops_the_marginal_one():
    assert rule.holm([0.001, 0.02, 0.04]) == [True, True, True]  # 0.05/3, 0.05/2, 0.05/1
    assert rule.holm([0.001, 0.03, 0.04]) == [True, False, False]  # 0.03 > 0.05 / 2
    rounds = range(4)
    strong = overhead([10, 10.1, 9.9, 10], [15, 15.2, 14.8, 15.1], False, bare_rounds=rounds,
                      other_rounds=rounds)
    marginal = overhead([10, 10.1, 9.9, 10], [10.9, 10.5, 10.6, 10.75], False,
                        bare_rounds=rounds, other_rounds=rounds)
    assert strong.verdict == marginal.verdict == "slower" and 0.02 < marginal.p_value < 0.05
    assert [o.verdict for o in with_holm([strong, marginal])] == ["slower", "slower"]
    many = with_holm([strong] + [marginal] * 3)  # three such claims: not all can stand
    assert many[0].verdict == "slower"
    assert all(o.verdict == "inconclusive" and "Holm's correction over 4" in o.hint
               for o in many[1:])


def test_looks_grow_by_half_up_to_the_maximum():
    assert looks(3, 15) == (3, 5, 8, 12, 15)
    assert looks(5, 5) == (5,)
    assert look_alpha(3, 15) == pytest.approx(0.01)


def _result(verdict: str, env: str = "container") -> MetricResult:
    rounds = range(3)
    o = overhead([1.0, 1.1, 1.0], [1.0, 1.1, 1.0], False, bare_rounds=rounds,
                 other_rounds=rounds)
    return MetricResult("w", "t", "s", False, environment(env), [], summarize([1.0]), [],
                        o.__class__(**{**o.__dict__, "verdict": verdict}))


@pytest.mark.parametrize(("verdicts", "rounds", "elapsed", "more", "words", "still"), [
    (["slower", "equivalent"], 3, 0, False, "every metric has a verdict", ()),
    (["slower", "inconclusive"], 3, 0, True, "still inconclusive", ("vm",)),
    (["inconclusive", "inconclusive"], 15, 0, False, "maximum of 15", ("container", "vm")),
    (["inconclusive", "equivalent"], 5, 999, False, "time budget", ("container",)),
])
def test_the_stopping_rule(verdicts, rounds, elapsed, more, words, still):
    results = [_result(verdicts[0], "container"), _result(verdicts[1], "vm")]
    decision = decide(results, rounds, 15, elapsed, 600.0)
    assert decision.more is more and words in decision.reason
    assert decision.open_envs == still


def _samples(workload: str, env: str, values: list[float]) -> list[Sample]:
    return [Sample(workload=workload, env=env, trial=i, warmup=False, position=0, metric="t",
                   value=v, unit="s", higher_is_better=False,
                   timestamp="2026-12-07T00:00:00+00:00") for i, v in enumerate(values)]


def test_a_workloads_verdicts_do_not_depend_on_the_other_workloads_of_the_run():
    """Holm's family is one workload (its metrics in every environment): what `--repeat auto`
    decided at that workload's looks is what the whole run's analysis says of it."""
    envs = (environment("bare"), environment("vm"), environment("container"))
    bare = [10.0, 10.1, 9.9, 10.05]
    moderate = _samples("b", "bare", bare) + _samples("b", "container",
                                                      [10.9, 10.5, 10.6, 10.75])
    strong = [s for w in "cdefg" for s in _samples(w, "bare", bare) + _samples(
        w, "vm", [20.0, 20.3, 19.9, 20.1]) + _samples(w, "container", [10.0, 10.5, 9.5, 10.2])]
    alone = {r.env.name: r.overhead.verdict for r in analyse(moderate, envs) if r.overhead}
    together = {r.env.name: r.overhead.verdict for r in analyse(moderate + strong, envs)
                if r.overhead and r.workload == "b"}
    assert alone == together == {"container": "slower"}
