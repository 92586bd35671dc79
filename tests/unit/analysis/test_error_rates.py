"""The error rates of the verdict rule, proven by simulation at its hard cases.

Every scenario is seeded and simulated REPS times through the rule's own vectorised code
(``rule.verdict_codes``, which ``stats.overhead`` calls for one effect): identical environments
(A/A), a true effect exactly at the margin, a slowdown under drift between rounds, the fewest
rounds. Each rate is compared with a fixed-n rule in the same test, and a claimed bound gets
three standard errors of Monte Carlo slack (0.8 points at 2.5% and 4,000 replicates).
Log-scale noise: 3% drift from round to round, shared by both sides of a round, and 1% noise
within it (this host's run of 2026-12-02 had most of its noise within rounds).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from hostbench.analysis import rule
from hostbench.analysis.adaptive import decide, look_alpha, looks
from hostbench.analysis.effects import log_margin
from hostbench.analysis.overheads import MetricResult
from hostbench.analysis.stats import overhead, summarize
from tests.unit.synthetic_runs import environment

REPS = 4000
DRIFT, NOISE = 0.03, 0.01
MARGIN = 3.0  # percent


def _slack(rate: float) -> float:
    return 3 * math.sqrt(rate * (1 - rate) / REPS)


Noise = Callable[[np.random.Generator, tuple[int, int]], np.ndarray]


def _normal(gen: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    return gen.normal(0.0, NOISE, shape)


def _heavy(gen: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Student's t with 2 degrees of freedom: no finite variance."""
    return NOISE * gen.standard_t(2, shape)


def _spiky(gen: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """One trial in ten hit by an interruption that only ever slows it."""
    return gen.normal(0.0, NOISE, shape) + (gen.random(shape) < 0.1) * gen.exponential(0.05, shape)


def _rounds(gen: np.random.Generator, effect_pct: float, n: int, noise: Noise = _normal
            ) -> tuple[np.ndarray, np.ndarray]:
    """REPS runs of n rounds: log costs of bare metal and the other side, round drift shared."""
    drift = gen.normal(0.0, DRIFT, (REPS, n))
    bare = drift + noise(gen, (REPS, n))
    other = drift + noise(gen, (REPS, n)) + math.log1p(effect_pct / 100)
    return bare, other


def _paired_codes(bare: np.ndarray, other: np.ndarray, alpha: float = rule.ALPHA,
                  margin_pct: float = MARGIN) -> np.ndarray:
    diffs = other - bare
    n = diffs.shape[1]
    se = diffs.std(axis=1, ddof=1) / math.sqrt(n)
    return rule.verdict_codes(diffs.mean(axis=1), se, n - 1, n, log_margin(margin_pct), 0.0,
                              alpha)


def _unpaired_codes(bare: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The same rule on Welch's t of the two groups' log values: the pairing thrown away."""
    n = bare.shape[1]
    va, vb = bare.var(axis=1, ddof=1) / n, other.var(axis=1, ddof=1) / n
    df = (va + vb) ** 2 / ((va ** 2 + vb ** 2) / (n - 1))
    return rule.verdict_codes(other.mean(axis=1) - bare.mean(axis=1), np.sqrt(va + vb), df, n,
                              log_margin(MARGIN))


def _adaptive_codes(bare: np.ndarray, other: np.ndarray, minimum: int, maximum: int,
                    alpha: float, margin_pct: float = MARGIN) -> tuple[np.ndarray, np.ndarray]:
    """Verdict and rounds of the adaptive rule on each run: judged at every planned look at
    ``alpha``, stopped at the first look with a verdict (as `fab benchmark --repeat auto`)."""
    final = np.full(REPS, rule.INCONCLUSIVE)
    rounds = np.full(REPS, maximum)
    going = np.ones(REPS, dtype=bool)
    for n in looks(minimum, maximum):
        codes = _paired_codes(bare[:, :n], other[:, :n], alpha, margin_pct)
        now = going & (codes != rule.INCONCLUSIVE)
        final[now], rounds[now] = codes[now], n
        going &= ~now
    return final, rounds


def _rate(codes: np.ndarray, code: int) -> float:
    return float(np.mean(codes == code))


@pytest.mark.parametrize("noise", [_normal, _heavy, _spiky])
def test_identical_environments_read_slower_or_faster_at_most_2_5_percent(noise):
    """A/A with no margin at all (the hardest case: every claim is false), fixed at 2, 3 and 5
    rounds and adaptive from 3 to 15; judging each look at the full level instead (peeking, as
    the previous rule did at every round) claims a difference three times as often."""
    gen = np.random.default_rng(11)
    bare, other = _rounds(gen, 0.0, 15, noise)
    bound = 0.025 + _slack(0.025)
    for n in (2, 3, 5):
        codes = _paired_codes(bare[:, :n], other[:, :n], margin_pct=0.0)
        assert _rate(codes, rule.SLOWER) <= bound and _rate(codes, rule.FASTER) <= bound
    adaptive, _ = _adaptive_codes(bare, other, 3, 15, look_alpha(3, 15), 0.0)
    assert _rate(adaptive, rule.SLOWER) <= bound and _rate(adaptive, rule.FASTER) <= bound
    if noise is _normal:
        peeking, _ = _adaptive_codes(bare, other, 3, 15, rule.ALPHA, 0.0)
        assert _rate(peeking, rule.SLOWER) + _rate(peeking, rule.FASTER) > 4 * bound


@pytest.mark.parametrize(("effect", "claim"), [(MARGIN, rule.SLOWER), (-MARGIN, rule.FASTER)])
def test_a_true_effect_exactly_at_the_margin_reads_neither_equivalent_nor_beyond(effect, claim):
    """At +-m exactly, 'equivalent' and 'slower' (or 'faster') are both false claims: each at
    most 3%, for the fixed rule at its minimum (2 and 3 rounds) and the adaptive rule."""
    gen = np.random.default_rng(12)
    bare, other = _rounds(gen, (math.exp(math.copysign(log_margin(MARGIN), effect)) - 1) * 100,
                          15)
    adaptive, _ = _adaptive_codes(bare, other, 3, 15, look_alpha(3, 15))
    for codes in (_paired_codes(bare[:, :2], other[:, :2]),
                  _paired_codes(bare[:, :3], other[:, :3]), adaptive):
        assert _rate(codes, rule.EQUIVALENT) <= 0.03
        assert _rate(codes, claim) <= 0.03


def test_an_8_percent_slowdown_under_3_percent_drift_reads_slower_with_5_rounds():
    """Paired by round, the drift cancels; Welch's t on the same data, which cannot pair,
    tells it far less often."""
    gen = np.random.default_rng(13)
    bare, other = _rounds(gen, 8.0, 5)
    paired = _rate(_paired_codes(bare, other), rule.SLOWER)
    unpaired = _rate(_unpaired_codes(bare, other), rule.SLOWER)
    assert paired >= 0.90
    assert unpaired < paired - 0.3


def test_the_adaptive_rule_decides_a_clear_effect_at_its_first_look_and_a_close_one_later():
    gen = np.random.default_rng(14)
    bare, other = _rounds(gen, 20.0, 15)
    codes, rounds = _adaptive_codes(bare, other, 3, 15, look_alpha(3, 15))
    assert _rate(codes, rule.SLOWER) >= 0.95 and np.median(rounds) == 3
    bare, other = _rounds(gen, 4.5, 15)  # 1.5 points beyond the margin: needs more rounds
    codes, rounds = _adaptive_codes(bare, other, 3, 15, look_alpha(3, 15))
    fixed = _rate(_paired_codes(bare[:, :3], other[:, :3]), rule.SLOWER)
    assert _rate(codes, rule.SLOWER) > fixed + 0.3 and np.median(rounds) > 3


def test_the_noise_floor_does_not_shrink_with_more_calibration_rounds():
    """The floor is the spread of one round's A/A log ratio: its median over calibrations of 5
    and of 30 rounds differs by well under 25% (the bound of an A/A interval would halve)."""
    gen = np.random.default_rng(15)
    medians = {}
    for n in (5, 30):
        bare, other = _rounds(gen, 0.0, n)
        floors = [overhead(np.exp(b), np.exp(o), False, bare_rounds=range(n),
                           other_rounds=range(n)).round_sd for b, o in zip(bare[:2000],
                                                                        other[:2000],
                                                                        strict=True)]
        medians[n] = float(np.median(floors))
    assert abs(medians[5] / medians[30] - 1) < 0.25
    assert medians[30] == pytest.approx(math.sqrt(2) * NOISE, rel=0.05)


def test_the_session_rule_stops_where_the_simulated_one_does():
    """The vectorised simulation above is the rule `fab benchmark --repeat auto` runs: on 200
    runs, stats.overhead and adaptive.decide stop at the same look with the same verdict."""
    gen = np.random.default_rng(16)
    bare, other = _rounds(gen, 4.0, 15)
    expected, expected_rounds = _adaptive_codes(bare, other, 3, 15, look_alpha(3, 15))
    container = environment("container")
    for i in range(200):
        for n in looks(3, 15):
            o = overhead(np.exp(bare[i, :n]), np.exp(other[i, :n]), False, MARGIN,
                         alpha=look_alpha(3, 15), bare_rounds=range(n), other_rounds=range(n))
            result = MetricResult("w", "t", "s", False, container, [], summarize([1.0]), [], o)
            if not decide([result], n, 15, 0.0, 1e9).more:
                break
        assert (rule.NAMES[expected[i]], int(expected_rounds[i])) == (o.verdict, n)
