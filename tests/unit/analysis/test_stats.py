"""Unit tests of hostbench.analysis.stats on synthetic data whose truth is known.

The simulation tests are seeded, so they are deterministic; their acceptance bands allow the
binomial noise of 200 simulated datasets (s.d. ~0.015 around 0.95). The error rates of the rule
at its hard cases, with thousands of replicates, are in test_error_rates.py.
"""

import math

import numpy as np
import pytest

from hostbench.analysis.stats import (
    Estimate,
    Overhead,
    Summary,
    median_ci,
    outliers,
    overhead,
    rsd,
    summarize,
)

N_SETS = 200  # simulated datasets per coverage-type test
N = 30  # sample size of each group
N_BOOT = 1000


def _lognormal(gen: np.random.Generator, median: float, sigma: float, n: int = N) -> np.ndarray:
    """Lognormal sample whose population median is exactly ``median``."""
    return median * np.exp(gen.normal(0.0, sigma, n))


ROUNDS = list(range(N))


def _paired(bare, other, higher, **kw) -> Overhead:
    return overhead(bare, other, higher_is_better=higher, bare_rounds=ROUNDS[:len(bare)],
                    other_rounds=ROUNDS[:len(other)], **kw)


# --- coverage -------------------------------------------------------------------------------


def test_ratio_ci_covers_true_ratio_about_95_percent():
    """Paired (rounds drift) and unpaired (no drift: a shared drift only widens it): the
    t-interval of the log ratio covers the true ratio 1.2 at its nominal 95% (binomial s.d.
    1.5 points at 200 sets)."""
    gen = np.random.default_rng(101)
    true_ratio = 1.2
    for paired in (True, False):
        covered = 0
        for _ in range(N_SETS):
            drift = gen.normal(0.0, 0.3 if paired else 0.0, N)
            bare = _lognormal(gen, 10.0, 0.1) * np.exp(drift)
            other = _lognormal(gen, 10.0 * true_ratio, 0.1) * np.exp(drift)
            res = (_paired(bare, other, False) if paired else
                   overhead(bare, other, higher_is_better=False))
            covered += res.ratio.low <= true_ratio <= res.ratio.high
        assert 0.90 <= covered / N_SETS <= 0.99, f"paired={paired}: {covered / N_SETS:.3f}"


def test_pairing_narrows_the_interval_when_rounds_drift():
    gen = np.random.default_rng(102)
    drift = gen.normal(0.0, 0.05, N)
    bare = _lognormal(gen, 10.0, 0.01) * np.exp(drift)
    other = _lognormal(gen, 11.0, 0.01) * np.exp(drift)
    paired, unpaired = _paired(bare, other, False), overhead(bare, other, higher_is_better=False)
    assert paired.paired and not unpaired.paired
    width = lambda o: o.overhead_pct.high - o.overhead_pct.low  # noqa: E731
    assert width(paired) < width(unpaired) / 3


def test_median_ci_covers_true_median_about_95_percent():
    # Normal(5, 1): true median 5.
    gen = np.random.default_rng(202)
    covered = 0
    for _ in range(N_SETS):
        est = median_ci(gen.normal(5.0, 1.0, N), n_boot=N_BOOT, rng=gen)
        covered += est.low <= 5.0 <= est.high
    rate = covered / N_SETS
    assert 0.90 <= rate <= 0.995, f"coverage {rate:.3f}"


# --- one symmetric scale --------------------------------------------------------------------
# The overhead is the cost factor exp(c) as a percentage, c = log(other / bare) for a time and
# log(bare / other) for a rate: 1.5x the time and 1/1.5 of the rate both read +50%, and a
# speed-up of 1.5x reads -33.3% on both; the rate's own change is shown beside it.


def _check(res: Overhead, pct: float, factor: float, verdict: str) -> None:
    assert res.verdict == verdict
    assert res.overhead_pct.value == pytest.approx(pct, abs=2.0)
    assert res.factor.value == pytest.approx(factor, rel=0.02)
    assert res.factor.low <= res.factor.value <= res.factor.high
    assert res.overhead_pct.low <= res.overhead_pct.value <= res.overhead_pct.high
    assert 0.0 < res.overhead_pct.high - res.overhead_pct.low < 5.0
    assert res.p_value < 0.01
    assert (res.n_reference, res.n_other, res.n_pairs) == (N, N, N)


def test_slowdown_lower_is_better_time():
    gen = np.random.default_rng(1)
    bare, other = _lognormal(gen, 10.0, 0.02), _lognormal(gen, 15.0, 0.02)
    res = _paired(bare, other, False)
    _check(res, pct=50.0, factor=1.5, verdict="slower")
    assert res.change_pct.value == pytest.approx(50.0, abs=2.0)
    assert res.median_reference == pytest.approx(10.0, rel=0.02)
    assert res.median_other == pytest.approx(15.0, rel=0.02)


def test_slowdown_higher_is_better_throughput_reads_the_same_as_the_time():
    gen = np.random.default_rng(2)
    bare, other = _lognormal(gen, 1000.0, 0.02), _lognormal(gen, 1000.0 / 1.5, 0.02)
    res = _paired(bare, other, True)
    _check(res, pct=50.0, factor=1.5, verdict="slower")
    assert res.change_pct.value == pytest.approx(-33.3, abs=2.0)  # the rate fell by a third
    assert res.ratio.value == pytest.approx(1 / 1.5, rel=0.02)


def test_a_3_85x_slowdown_reads_the_same_on_a_rate_and_on_a_latency():
    rounds = [1, 2, 3, 4, 5]
    events = overhead([100, 101, 99, 100, 102], [26, 26.3, 25.7, 26, 26.5], True,
                      bare_rounds=rounds, other_rounds=rounds)
    latency = overhead([1 / 100, 1 / 101, 1 / 99, 1 / 100, 1 / 102],
                       [1 / 26, 1 / 26.3, 1 / 25.7, 1 / 26, 1 / 26.5], False,
                       bare_rounds=rounds, other_rounds=rounds)
    for end in ("value", "low", "high"):
        assert getattr(events.overhead_pct, end) == pytest.approx(getattr(latency.overhead_pct,
                                                                          end))
    assert events.overhead_pct.value == pytest.approx(284.6, abs=0.5)


def test_speedups_are_as_far_from_zero_as_slowdowns_on_the_log_scale():
    gen = np.random.default_rng(3)
    bare = _lognormal(gen, 10.0, 0.02)
    slow = _paired(bare, bare * 2.0, False)
    fast = _paired(bare, bare / 2.0, False)
    assert slow.overhead_pct.value == pytest.approx(100.0)
    assert fast.overhead_pct.value == pytest.approx(-50.0)
    assert math.log(slow.factor.value) == pytest.approx(-math.log(fast.factor.value))
    assert (slow.verdict, fast.verdict) == ("slower", "faster")
    doubled_rate = _paired(bare, bare * 2.0, True)
    assert doubled_rate.overhead_pct.value == pytest.approx(-50.0)  # never -100%
    assert doubled_rate.change_pct.value == pytest.approx(100.0)


def test_direction_flips_the_sign_and_the_verdict():
    gen = np.random.default_rng(5)
    bare, other = _lognormal(gen, 10.0, 0.05), _lognormal(gen, 12.0, 0.05)
    lower, higher = _paired(bare, other, False), _paired(bare, other, True)
    assert lower.verdict == "slower" and higher.verdict == "faster"
    assert math.log(higher.factor.value) == pytest.approx(-math.log(lower.factor.value))
    assert math.log(higher.factor.low) == pytest.approx(-math.log(lower.factor.high))


# --- A/A ------------------------------------------------------------------------------------


def test_aa_same_distribution_claims_no_difference_about_95_percent():
    gen = np.random.default_rng(303)
    claims = 0
    for i in range(N_SETS):
        a, b = _lognormal(gen, 10.0, 0.2), _lognormal(gen, 10.0, 0.2)
        res = _paired(a, b, bool(i % 2), margin_pct=0.0)
        claims += res.verdict in ("slower", "faster")  # with no margin: any claim is false
    assert 0.01 <= claims / N_SETS <= 0.10, f"A/A claims {claims / N_SETS:.3f}"


# --- rsd, outliers, summarize on hand-made data ---------------------------------------------


def test_rsd_known_values():
    # mean 3, sample variance 2.5 -> std 1.5811388 -> 52.70463 %
    assert rsd([1, 2, 3, 4, 5]) == pytest.approx(math.sqrt(2.5) / 3 * 100, rel=1e-12)
    assert rsd([1, 2, 3, 4, 5]) == pytest.approx(52.704628, abs=1e-5)
    # mean 10, sample std 1 (values 9, 10, 11) -> 10 %
    assert rsd([9.0, 10.0, 11.0]) == pytest.approx(10.0, rel=1e-12)
    assert rsd([7.0, 7.0, 7.0]) == 0.0
    assert rsd([42.0]) == 0.0


def test_outlier_flags_known_values():
    # median 4; |x - 4| = 3,2,1,0,1,2,96 -> MAD 2; z(100) = 0.6745 * 96 / 2 = 32.4 -> flagged;
    # the largest other |z| is z(1) = 0.6745 * 3 / 2 = 1.01 -> not flagged at 3.5.
    data = [1, 2, 3, 4, 5, 6, 100]
    assert outliers(data) == [False, False, False, False, False, False, True]
    # With threshold 1.0 the value 1 (|z| = 1.0118) is flagged too, 2 and 6 (|z| = 0.6745) not.
    assert outliers(data, threshold=1.0) == [True, False, False, False, False, False, True]
    # 0.6745 * 5 / 1 = 3.37 < 3.5, 0.6745 * 6 / 1 = 4.05 > 3.5: median 10, MAD 1.
    assert outliers([9, 10, 10, 11, 11, 9, 15]) == [False] * 7
    assert outliers([9, 10, 10, 11, 11, 9, 16]) == [False] * 6 + [True]
    # MAD == 0 (more than half the values equal): nothing is flagged, even 1000.
    assert outliers([5, 5, 5, 5, 1000]) == [False] * 5
    assert outliers([]) == []


def test_summarize_known_values():
    s = summarize([1, 2, 3, 4, 5, 6, 100])
    assert isinstance(s, Summary)
    assert (s.n, s.median, s.min, s.max) == (7, 4.0, 1.0, 100.0)
    assert s.ci_low <= s.median <= s.ci_high
    assert s.ci_low >= 1.0 and s.ci_high <= 6.0  # a median CI cannot reach the outlier here
    # mean 121/7, sample std by hand: sum of squares about the mean / 6
    mean = 121 / 7
    std = math.sqrt(sum((x - mean) ** 2 for x in [1, 2, 3, 4, 5, 6, 100]) / 6)
    assert s.rsd == pytest.approx(std / mean * 100, rel=1e-12)


# --- degenerate inputs ----------------------------------------------------------------------


def test_single_value_does_not_crash():
    assert median_ci([3.5]) == Estimate(3.5, 3.5, 3.5)
    s = summarize([3.5])
    assert (s.n, s.median, s.ci_low, s.ci_high, s.rsd) == (1, 3.5, 3.5, 3.5, 0.0)
    res = overhead([2.0], [3.0], higher_is_better=False)
    assert res.factor.value == pytest.approx(1.5)
    assert res.p_value == 1.0
    assert res.verdict == "inconclusive" and "at least 2" in res.hint


def test_identical_values_do_not_crash():
    assert median_ci([4.0] * 10) == Estimate(4.0, 4.0, 4.0)
    res = overhead([4.0] * 10, [4.0] * 12, higher_is_better=True)
    assert res.ratio == Estimate(1.0, 1.0, 1.0)
    assert res.overhead_pct.value == 0.0
    assert res.p_value == 1.0
    assert res.verdict == "equivalent"
    assert (res.n_reference, res.n_other) == (10, 12)
    # Each group constant but different: a (degenerate) certain difference.
    res2 = _paired([4.0] * 10, [5.0] * 10, False)
    assert res2.ratio.value == pytest.approx(1.25) and res2.ratio.low == res2.ratio.high
    assert res2.verdict == "slower"
    assert res2.p_value == 0.0


def test_rounds_measured_on_one_side_only_are_dropped_and_counted():
    res = overhead([10, 10.1, 9.9, 10, 10.2], [12, 12.1, 11.9], False,
                   bare_rounds=[1, 2, 3, 4, 5], other_rounds=[1, 3, 5])
    assert (res.n_pairs, res.dropped) == (3, 2)
    assert res.verdict == "slower"


def test_reproducible_and_rng_accepted():
    gen = np.random.default_rng(9)
    x = gen.normal(10.0, 1.0, 25)
    assert median_ci(x) == median_ci(x)  # fixed default seed
    assert median_ci(x, rng=np.random.default_rng(1)) == median_ci(x, rng=1)
    # The rng is actually used: percentile ends of a median bootstrap sit on (averages of)
    # data points, so two seeds may agree; over 10 seeds at n_boot=200 they must not all agree.
    assert len({median_ci(x, n_boot=200, rng=seed) for seed in range(10)}) > 1


def test_invalid_inputs_raise():
    with pytest.raises(ValueError):
        median_ci([])
    with pytest.raises(ValueError):
        median_ci([1.0, float("nan")])
    with pytest.raises(ValueError):
        overhead([0.0, 1.0], [1.0, 2.0], higher_is_better=False)
    with pytest.raises(ValueError):
        median_ci([1.0, 2.0], confidence=1.5)


def test_one_pair_is_never_called_a_difference_however_far_apart():
    """Below MIN_PAIRS no verdict: one pair says nothing of the spread."""
    result = _paired([10.0], [20.0], False)
    assert result.verdict == "inconclusive" and "at least 2" in result.hint
    two = _paired([10.0, 10.1], [20.0, 20.6], False)  # x2 and x2.04: far beyond any margin
    assert two.verdict == "slower" and two.n_pairs == 2
    noisy = _paired([10.0, 10.1], [20.0, 12.0], False)  # x2 and x1.19: one df, too wide
    assert noisy.verdict == "inconclusive"
