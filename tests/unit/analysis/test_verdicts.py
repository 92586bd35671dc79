"""The four verdicts and the adaptive rule on synthetic data with a known truth.

Each scenario is simulated REPS times with a seeded generator (so the tests are repeatable),
and the verdict must be the right one in a stated share of them. Noise is lognormal (time-like,
lower is better), so "x% slower" means the true median is x% above bare metal's.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from hostbench.analysis.adaptive import decide
from hostbench.analysis.overheads import MetricResult
from hostbench.analysis.stats import Estimate, judge, overhead, summarize
from tests.unit.synthetic_runs import environment

REPS = 100
N_BOOT = 500
CONTAINER = environment("container")


def _values(gen: np.random.Generator, slower_pct: float, noise: float, n: int) -> np.ndarray:
    return 100.0 * (1 + slower_pct / 100) * np.exp(gen.normal(0.0, noise, n))


def _share(verdict: str, slower_pct: float, noise: float, n: int, margin: float,
           seed: int) -> float:
    gen = np.random.default_rng(seed)
    hits = 0
    for _ in range(REPS):
        o = overhead(_values(gen, 0, noise, n), _values(gen, slower_pct, noise, n),
                     higher_is_better=False, margin_pct=margin, n_boot=N_BOOT, rng=gen)
        hits += o.verdict == verdict
    return hits / REPS


def test_aa_data_reads_equivalent():
    """Identical environments, 1% noise, 10 trials each, a 3% margin."""
    assert _share("equivalent", 0.0, 0.01, 10, 3.0, seed=1) >= 0.95


def test_a_10_percent_slowdown_with_2_percent_noise_reads_slower():
    assert _share("slower", 10.0, 0.02, 10, 3.0, seed=2) >= 0.95


def test_a_1_percent_difference_within_a_3_percent_margin_reads_equivalent():
    """Often significant (its CI excludes 0) and still equivalent: it is smaller than m."""
    assert _share("equivalent", 1.0, 0.01, 10, 3.0, seed=3) >= 0.95


def test_a_noisy_5_percent_difference_with_few_trials_reads_inconclusive():
    assert _share("inconclusive", 5.0, 0.10, 3, 3.0, seed=4) >= 0.90


@pytest.mark.parametrize(("pct", "p", "verdict", "words"), [
    (Estimate(8.0, 5.0, 11.0), 0.001, "slower", ""),
    (Estimate(-8.0, -11.0, -5.0), 0.001, "faster", ""),
    (Estimate(0.4, 0.1, 0.7), 0.001, "equivalent", ""),  # significant, but inside the margin
    (Estimate(8.0, 5.0, 11.0), 0.2, "inconclusive", "the test cannot confirm it"),
    (Estimate(2.0, -6.0, 10.0), 0.3, "inconclusive", "wider than the margin"),
    (Estimate(3.0, 1.0, 5.0), 0.01, "inconclusive", "crosses the margin"),
])
def test_the_rule_on_intervals_of_every_kind(pct, p, verdict, words):
    got, hint = judge(pct, p, 10, 10, 3.0)
    assert got == verdict and words in hint


def _adaptive(gen: np.random.Generator, slower_pct: float, noise: float, margin: float,
              minimum: int = 5, maximum: int = 30) -> tuple[int, str]:
    """Rounds run and the final verdict of the adaptive rule on one simulated workload: as in
    `fab benchmark --repeat auto`, the minimum rounds first, then one round at a time."""
    bare = list(_values(gen, 0, noise, minimum))
    other = list(_values(gen, slower_pct, noise, minimum))
    widths: dict[tuple[str, str], list[float]] = defaultdict(list)
    while True:
        o = overhead(bare, other, higher_is_better=False, margin_pct=margin, n_boot=N_BOOT,
                     rng=gen)
        result = MetricResult("w", "t", "s", False, CONTAINER, [], summarize(other, n_boot=10),
                              [], o)
        widths[("container", "t")].append(o.overhead_pct.high - o.overhead_pct.low)
        if not decide([result], widths, len(other), minimum, maximum, 0.0, 1e9).more:
            return len(other), o.verdict
        bare += list(_values(gen, 0, noise, 1))
        other += list(_values(gen, slower_pct, noise, 1))


def test_the_adaptive_rule_reaches_a_verdict_with_fewer_trials_than_a_fixed_large_count():
    """5% slower, 3% noise, margin 2%: mostly inconclusive at 5 trials; the rule tells most
    runs apart in a few more rounds (8.5 in the median here), where a fixed count of 30 gets
    about the same share."""
    gen = np.random.default_rng(5)
    assert _share("slower", 5.0, 0.03, 5, 2.0, seed=8) <= 0.5  # five trials are too few
    runs = [_adaptive(gen, 5.0, 0.03, 2.0) for _ in range(20)]
    rounds = [r for r, _ in runs]
    assert sum(v == "slower" for _, v in runs) >= 14
    assert np.median(rounds) <= 10 and min(rounds) >= 5  # never below the minimum
    fixed = _share("slower", 5.0, 0.03, 30, 2.0, seed=6)
    assert fixed >= 0.75  # the fixed large count tells it too, at 30 trials every time


def test_stopping_early_does_not_make_identical_environments_look_different():
    """A/A with a tight margin: the rule keeps adding rounds, yet claims slower or faster
    rarely, because a claim needs the Mann-Whitney test too and every round counts."""
    gen = np.random.default_rng(7)
    verdicts = [_adaptive(gen, 0.0, 0.02, 0.5, maximum=15)[1] for _ in range(20)]
    assert sum(v in ("slower", "faster") for v in verdicts) <= 2


def _result(verdict: str) -> MetricResult:
    o = overhead([1.0, 1.1], [1.0, 1.1], higher_is_better=False)
    return MetricResult("w", "t", "s", False, CONTAINER, [], summarize([1.0]), [],
                        o.__class__(**{**o.__dict__, "verdict": verdict}))


@pytest.mark.parametrize(("verdict", "rounds", "elapsed", "widths", "more", "words"), [
    ("slower", 3, 0, [], True, "minimum"),
    ("slower", 5, 0, [1.0], False, "every metric has a verdict"),
    ("inconclusive", 5, 0, [4.0], True, "still narrowing"),
    ("inconclusive", 15, 0, [4.0, 3.0, 2.5], False, "maximum of 15"),
    ("inconclusive", 7, 999, [4.0, 3.0, 2.5], False, "time budget"),
    ("inconclusive", 8, 0, [4.0, 3.0, 4.5, 4.2], False, "stopped shrinking"),
    ("inconclusive", 8, 0, [4.0, 3.0, 3.2, 3.1], True, "still narrowing"),
])
def test_the_stopping_rule(verdict, rounds, elapsed, widths, more, words):
    decision = decide([_result(verdict)], {("container", "t"): widths}, rounds, 5, 15,
                      elapsed, 600.0)
    assert decision.more is more and words in decision.reason
