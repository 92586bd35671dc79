"""Unit tests of hostbench.stats on synthetic data whose truth is known.

The simulation tests are seeded, so they are deterministic; their acceptance bands are chosen
from the binomial noise of 200 simulated datasets around the rate the method achieves (checked
once with 2000 datasets: ratio-CI coverage ~0.965 and A/A "no difference" rate ~0.965 at n=30,
n_boot=1000; the percentile bootstrap of a median is slightly conservative at n=30 because the
bootstrap distribution of a median is discrete).  At N=200 the binomial s.d. is ~0.013.
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


# --- coverage -------------------------------------------------------------------------------


def test_ratio_ci_covers_true_ratio_about_95_percent():
    # other is 1.2 x bare in scale, so the true ratio of population medians is exactly 1.2.
    gen = np.random.default_rng(101)
    true_ratio = 1.2
    covered = 0
    for _ in range(N_SETS):
        bare = _lognormal(gen, 10.0, 0.3)
        other = _lognormal(gen, 10.0 * true_ratio, 0.3)
        res = overhead(bare, other, higher_is_better=False, n_boot=N_BOOT, rng=gen)
        covered += res.ratio.low <= true_ratio <= res.ratio.high
    rate = covered / N_SETS
    # Nominal 0.95, achieved ~0.965.  Lower bound 0.90 is ~5 s.d. below that: a real
    # under-coverage (e.g. CI too narrow, or wrong ratio orientation) fails it.  Upper bound
    # 0.995 (at most 199/200) is ~2.3 s.d. above: an absurdly wide CI covers 200/200 and fails.
    assert 0.90 <= rate <= 0.995, f"coverage {rate:.3f}"


def test_median_ci_covers_true_median_about_95_percent():
    # Normal(5, 1): true median 5.  Same band and reasoning as the ratio test.
    gen = np.random.default_rng(202)
    covered = 0
    for _ in range(N_SETS):
        est = median_ci(gen.normal(5.0, 1.0, N), n_boot=N_BOOT, rng=gen)
        covered += est.low <= 5.0 <= est.high
    rate = covered / N_SETS
    assert 0.90 <= rate <= 0.995, f"coverage {rate:.3f}"


# --- known 50% slowdown / speedup -----------------------------------------------------------
# Convention: overhead% > 0 means worse than bare metal.  Lower-is-better (time): other takes
# 1.5x the time -> ratio 1.5 -> overhead (1.5 - 1) * 100 = +50%.  Higher-is-better
# (throughput): other gets half the throughput -> ratio 0.5 -> (1 - 0.5) * 100 = +50%.
# With sigma = 0.02 and n = 30 the s.d. of the estimated ratio is ~1% of it (~1.5 points of
# overhead at ratio 1.5), so a tolerance of +-5 points is > 3 s.d.


def _check(res: Overhead, pct: float, ratio: float, verdict: str) -> None:
    assert res.verdict == verdict
    assert res.overhead_pct.value == pytest.approx(pct, abs=5.0)
    assert res.ratio.value == pytest.approx(ratio, rel=0.04)
    assert res.ratio.low <= res.ratio.value <= res.ratio.high
    assert res.overhead_pct.low <= res.overhead_pct.value <= res.overhead_pct.high
    # The CI is informative: well under 10 points wide for this tight data.
    assert 0.0 < res.overhead_pct.high - res.overhead_pct.low < 10.0
    assert res.p_value < 0.01  # fully separated groups of 30: p is ~1e-11
    assert (res.n_bare, res.n_other) == (N, N)


def test_slowdown_lower_is_better_time():
    gen = np.random.default_rng(1)
    bare, other = _lognormal(gen, 10.0, 0.02), _lognormal(gen, 15.0, 0.02)
    res = overhead(bare, other, higher_is_better=False, n_boot=N_BOOT)
    _check(res, pct=50.0, ratio=1.5, verdict="slower")
    assert res.higher_is_better is False
    assert res.median_bare == pytest.approx(10.0, rel=0.02)
    assert res.median_other == pytest.approx(15.0, rel=0.02)


def test_slowdown_higher_is_better_throughput():
    gen = np.random.default_rng(2)
    bare, other = _lognormal(gen, 1000.0, 0.02), _lognormal(gen, 500.0, 0.02)
    res = overhead(bare, other, higher_is_better=True, n_boot=N_BOOT)
    _check(res, pct=50.0, ratio=0.5, verdict="slower")


def test_speedup_lower_is_better_time():
    # Other takes half the time: ratio 0.5 -> overhead (0.5 - 1) * 100 = -50%.
    gen = np.random.default_rng(3)
    bare, other = _lognormal(gen, 10.0, 0.02), _lognormal(gen, 5.0, 0.02)
    res = overhead(bare, other, higher_is_better=False, n_boot=N_BOOT)
    _check(res, pct=-50.0, ratio=0.5, verdict="faster")


def test_speedup_higher_is_better_throughput():
    # Other gets 1.5x the throughput: ratio 1.5 -> overhead (1 - 1.5) * 100 = -50%.
    gen = np.random.default_rng(4)
    bare, other = _lognormal(gen, 1000.0, 0.02), _lognormal(gen, 1500.0, 0.02)
    res = overhead(bare, other, higher_is_better=True, n_boot=N_BOOT)
    _check(res, pct=-50.0, ratio=1.5, verdict="faster")


def test_direction_flips_sign_and_verdict_not_ratio():
    gen = np.random.default_rng(5)
    bare, other = _lognormal(gen, 10.0, 0.05), _lognormal(gen, 12.0, 0.05)
    lower = overhead(bare, other, higher_is_better=False, n_boot=N_BOOT)
    higher = overhead(bare, other, higher_is_better=True, n_boot=N_BOOT)
    assert lower.ratio == higher.ratio  # same seed, same resamples
    assert lower.verdict == "slower" and higher.verdict == "faster"
    assert higher.overhead_pct.value == pytest.approx(-lower.overhead_pct.value)
    assert higher.overhead_pct.low == pytest.approx(-lower.overhead_pct.high)
    assert higher.overhead_pct.high == pytest.approx(-lower.overhead_pct.low)
    assert lower.overhead_pct.value == pytest.approx(20.0, abs=5.0)  # true +20%


# --- A/A ------------------------------------------------------------------------------------


def test_aa_same_distribution_is_no_difference_about_95_percent():
    gen = np.random.default_rng(303)
    no_diff = 0
    p_below_05 = 0
    for i in range(N_SETS):
        if i % 2:  # half lognormal (time-like), half normal (throughput-like)
            a, b = _lognormal(gen, 10.0, 0.2), _lognormal(gen, 10.0, 0.2)
        else:
            a, b = gen.normal(100.0, 10.0, N), gen.normal(100.0, 10.0, N)
        res = overhead(a, b, higher_is_better=bool(i % 4 < 2), margin_pct=0.0, n_boot=N_BOOT,
                       rng=gen)
        no_diff += res.verdict not in ("slower", "faster")  # with no margin: no claim
        p_below_05 += res.p_value < 0.05
    rate = no_diff / N_SETS
    # Expected ~0.965 (= CI coverage of the true ratio 1).  >= 0.90 is ~5 s.d. below; <= 0.995
    # rejects a CI so wide that it never calls a difference.
    assert 0.90 <= rate <= 0.995, f"A/A no-difference rate {rate:.3f}"
    # Under H0 the Mann-Whitney p-value is ~uniform: P(p < 0.05) ~ 0.05 (s.d. 0.015 at N=200);
    # accept 0.01..0.10 (about -2.6 / +3.2 s.d.).
    assert 0.01 <= p_below_05 / N_SETS <= 0.10


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
    assert res.ratio == Estimate(1.5, 1.5, 1.5)
    assert res.overhead_pct.value == pytest.approx(50.0)
    assert res.p_value == 1.0
    # One value per group gives no estimate of spread: no verdict is claimed.
    assert res.verdict == "inconclusive" and "at least 2" in res.hint


def test_identical_values_do_not_crash():
    assert median_ci([4.0] * 10) == Estimate(4.0, 4.0, 4.0)
    res = overhead([4.0] * 10, [4.0] * 12, higher_is_better=True)
    assert res.ratio == Estimate(1.0, 1.0, 1.0)
    assert res.overhead_pct.value == 0.0
    assert res.p_value == 1.0
    assert res.verdict == "equivalent"
    assert (res.n_bare, res.n_other) == (10, 12)
    # Each group constant but different: a (degenerate) certain difference.
    res2 = overhead([4.0] * 10, [5.0] * 10, higher_is_better=False)
    assert res2.ratio == Estimate(1.25, 1.25, 1.25)
    assert res2.verdict == "slower"
    assert res2.p_value < 0.001


def test_tiny_samples():
    res = overhead([1.0, 1.1], [2.0, 2.1], higher_is_better=False, n_boot=500)
    assert 0.0 <= res.p_value <= 1.0
    assert res.ratio.low <= res.ratio.value <= res.ratio.high


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


def test_two_trials_each_are_never_called_a_difference_however_far_apart():
    """With 2 vs 2 values the Mann-Whitney p is at least 1/3, so no verdict may be drawn."""
    result = overhead([10.0, 10.1], [20.0, 20.2], higher_is_better=False)
    assert result.p_value >= 1 / 3 - 1e-9
    assert result.overhead_pct.low > 0  # the bootstrap CI alone would (wrongly) claim "slower"
    assert result.verdict == "inconclusive" and "more trials" in result.hint
