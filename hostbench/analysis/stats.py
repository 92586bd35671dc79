"""Statistics of benchmark samples: each sample's median with a bootstrap CI, and the overhead
of an environment against bare metal with its verdict (``hostbench.analysis.rule``).

The bootstrap's default random generator is seeded with a fixed value, so the same inputs always
give the same intervals; pass a ``numpy.random.Generator`` (or an int seed) to change that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from hostbench.analysis import effects, rule
from hostbench.analysis.rule import ALPHA
from hostbench.margins import DEFAULT_MARGIN_PCT, margin_text

DEFAULT_SEED = 20240917
"""Seed of the generator used when no ``rng`` is given: results are reproducible."""

Verdict = Literal["slower", "faster", "equivalent", "inconclusive"]
VERDICTS: tuple[Verdict, ...] = ("slower", "faster", "equivalent", "inconclusive")


@dataclass(frozen=True)
class Estimate:
    """A point estimate with the bounds of its confidence interval (low <= value <= high)."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Overhead:
    """How a target (VM, container) compares with its reference (bare metal) on one metric.

    Everything is derived from the mean log cost ratio ``c`` (``hostbench.analysis.effects``):
    ``factor`` is ``exp(c)`` (1.36 = 1.36x the cost), ``overhead_pct`` the same as a signed
    percentage (positive = worse, a slowdown and a speed-up of x times equally far from 0),
    ``change_pct`` how the metric itself moved (-26.4% requests/s), ``ratio`` other / reference
    in the metric's units. ``paired``: estimated from per-round ratios.
    """

    ratio: Estimate
    overhead_pct: Estimate
    factor: Estimate
    change_pct: Estimate
    p_value: float  # of "beyond the margin (or floor)", before Holm's correction
    n_reference: int
    n_other: int
    n_pairs: int  # pairs of rounds (paired) or the smaller group (unpaired)
    dropped: int  # rounds measured on one side only
    round_sd: float  # the spread of one round's (or one trial's) log ratio
    paired: bool
    median_reference: float
    median_other: float
    higher_is_better: bool
    margin_pct: float
    floor_pct: float
    verdict: Verdict
    hint: str = ""  # what would resolve an inconclusive verdict
    rounds_needed: int | None = None  # pairs (or trials) that would tell, at today's spread


@dataclass(frozen=True)
class Summary:
    """Descriptive statistics of one sample; ``rsd`` is in percent."""

    n: int
    median: float
    ci_low: float
    ci_high: float
    min: float
    max: float
    rsd: float


def _as_sample(values: ArrayLike, name: str = "values") -> np.ndarray:
    """Return ``values`` as a non-empty 1-D float array of finite numbers."""
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError(f"{name}: at least one value is needed")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: values must be finite (no NaN or inf)")
    return arr


def _rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A Generator: the one given, one seeded with an int, or the default-seeded one."""
    return np.random.default_rng(DEFAULT_SEED if rng is None else rng)


def _alpha(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return 1.0 - confidence


def _boot_medians(arr: np.ndarray, n_boot: int, gen: np.random.Generator) -> np.ndarray:
    """Medians of ``n_boot`` resamples (with replacement) of ``arr``, in one vectorised pass."""
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if arr.size == 1 or np.all(arr == arr[0]):
        return np.full(n_boot, arr[0])
    idx = gen.integers(0, arr.size, size=(n_boot, arr.size))
    # The median of each sorted row: a few times quicker than np.median(axis=1) on short rows.
    rows = np.sort(arr[idx], axis=1)
    half = arr.size // 2
    return rows[:, half] if arr.size % 2 else (rows[:, half - 1] + rows[:, half]) / 2.0


def _percentile_ci(boot: np.ndarray, point: float, alpha: float) -> Estimate:
    """Percentile interval of ``boot``, widened if needed so that it contains ``point``."""
    low, high = np.quantile(boot, [alpha / 2.0, 1.0 - alpha / 2.0])
    return Estimate(float(point), float(min(low, point)), float(max(high, point)))


def median_ci(
    values: ArrayLike,
    confidence: float = 0.95,
    n_boot: int = 2000,
    rng: np.random.Generator | int | None = None,
) -> Estimate:
    """Median of ``values`` with a percentile-bootstrap confidence interval.

    With one value (or all values equal) the interval collapses onto the median.
    """
    arr = _as_sample(values)
    alpha = _alpha(confidence)
    point = float(np.median(arr))
    return _percentile_ci(_boot_medians(arr, n_boot, _rng(rng)), point, alpha)


def _estimate(c: float, low: float, high: float, scale) -> Estimate:
    """An effect on the log scale mapped to another scale, bounds kept in order."""
    ends = sorted((scale(low), scale(high)))
    return Estimate(scale(c), ends[0], ends[1])


def _needed(effect: effects.Effect, margin: float, floor: float, alpha: float) -> int | None:
    """How many pairs (or trials) would bring the interval clear of the nearest bound."""
    if effect.n < rule.MIN_PAIRS:
        return None
    distance = abs(abs(effect.mean) - max(margin, floor)) if abs(effect.mean) > margin else (
        margin - abs(effect.mean))
    return rule.rounds_needed(effect.se * math.sqrt(effect.n), effect.df, distance, alpha)


def _hint(effect: effects.Effect, code: int, margin: float, floor: float,
          needed: int | None) -> str:
    """What would resolve an inconclusive verdict, in rounds where a count can be estimated."""
    if code != rule.INCONCLUSIVE:
        return ""
    if effect.n < rule.MIN_PAIRS:
        what = "paired rounds" if effect.paired else "trials per side"
        return f"{effect.n} {what}: a verdict needs at least {rule.MIN_PAIRS}"
    m, f = margin_text(effects.factor_pct(margin)), margin_text(effects.factor_pct(floor))
    more = (f": about {needed} {'rounds' if effect.paired else 'trials'} in all would tell"
            if needed else "")
    if floor > margin and abs(effect.mean) <= floor:
        return (f"this host's noise +-{f}% exceeds the margin +-{m}%: it cannot tell "
                "equivalence here (a quieter host, or a wider margin)")
    return f"the CI crosses the margin of +-{m}%{more}"


def _groups(values: ArrayLike, rounds: Sequence[int] | None, name: str, positive: bool
            ) -> tuple[np.ndarray, dict[int, float] | None]:
    arr = _as_sample(values, name)
    if np.any(arr <= 0) if positive else np.any(arr < 0):
        raise ValueError(f"{name}: values must be {'> 0' if positive else '>= 0'} to form a "
                         "ratio")
    if rounds is None:
        return arr, None
    if len(rounds) != arr.size:
        raise ValueError(f"{name}: {len(rounds)} rounds for {arr.size} values")
    return arr, dict(zip(rounds, arr.tolist(), strict=True))


def overhead(
    bare: ArrayLike,
    other: ArrayLike,
    higher_is_better: bool,
    margin_pct: float = DEFAULT_MARGIN_PCT,
    floor_pct: float = 0.0,
    alpha: float = ALPHA,
    bare_rounds: Sequence[int] | None = None,
    other_rounds: Sequence[int] | None = None,
) -> Overhead:
    """Compare ``other`` (VM or container) with ``bare`` (bare metal) on one metric.

    With the rounds of both sides given, the effect is the mean of per-round log ratios (rounds
    measured on one side only are dropped and counted); without, Welch's t on the log values.
    The verdict follows ``hostbench.analysis.rule`` at level ``alpha``.
    """
    if margin_pct < 0 or floor_pct < 0:
        raise ValueError("the margin and the floor must not be negative")
    b, b_rounds = _groups(bare, bare_rounds, "bare", positive=True)
    o, o_rounds = _groups(other, other_rounds, "other", positive=True)
    if b_rounds is not None and o_rounds is not None:
        effect = effects.paired_effect(b_rounds, o_rounds, higher_is_better)
    else:
        effect = effects.unpaired_effect(b, o, higher_is_better)
    margin, floor = effects.log_margin(margin_pct), effects.log_margin(floor_pct)
    (low,), (high,) = (np.atleast_1d(x) for x in rule.interval(effect.mean, effect.se,
                                                             effect.df, alpha))
    low, high = float(low), float(high)
    if not math.isfinite(effect.mean):
        low = high = math.nan
    code = int(rule.verdict_codes(effect.mean, effect.se, effect.df, effect.n, margin, floor,
                                  alpha))
    p = float(rule.claim_p(effect.mean, effect.se, effect.df, max(margin, floor)))
    sign = -1.0 if higher_is_better else 1.0
    needed = _needed(effect, margin, floor, alpha)
    return Overhead(
        ratio=_estimate(effect.mean, low, high, lambda c: math.exp(sign * c)),
        overhead_pct=_estimate(effect.mean, low, high, effects.factor_pct),
        factor=_estimate(effect.mean, low, high, math.exp),
        change_pct=_estimate(effect.mean, low, high,
                             lambda c: effects.change_pct(c, higher_is_better)),
        p_value=p if effect.n >= rule.MIN_PAIRS else 1.0,
        n_reference=int(b.size), n_other=int(o.size), n_pairs=effect.n, dropped=effect.dropped,
        round_sd=effect.se * math.sqrt(effect.n) if effect.paired else effect.se,
        paired=effect.paired, median_reference=float(np.median(b)),
        median_other=float(np.median(o)),
        higher_is_better=higher_is_better, margin_pct=margin_pct, floor_pct=floor_pct,
        verdict=VERDICTS[code], hint=_hint(effect, code, margin, floor, needed),
        rounds_needed=needed if code == rule.INCONCLUSIVE else None)


def underpowered(o: Overhead) -> bool:
    """Too few pairs for any verdict."""
    return o.n_pairs < rule.MIN_PAIRS


def with_holm(overheads: Sequence[Overhead | None], alpha: float = ALPHA
              ) -> list[Overhead | None]:
    """A run's overheads with Holm's correction over their slower/faster claims: a claim that
    does not survive it becomes inconclusive, saying so."""
    tested = [(i, o) for i, o in enumerate(overheads)
              if o is not None and o.n_pairs >= rule.MIN_PAIRS]
    kept = rule.holm([o.p_value for _, o in tested], alpha)
    out = list(overheads)
    for (i, o), ok in zip(tested, kept, strict=True):
        if o.verdict in ("slower", "faster") and not ok:
            out[i] = replace(o, verdict="inconclusive", hint=(
                f"{o.verdict} alone (p = {o.p_value:.2g}), not after Holm's correction over "
                f"{len(tested)} comparisons: more rounds"))
    return out


def rsd(values: ArrayLike) -> float:
    """Relative standard deviation in percent: sample std (ddof=1) / |mean| * 100; 0 if n < 2.

    Returns inf when the values vary around a mean of exactly 0.
    """
    arr = _as_sample(values)
    if arr.size < 2:
        return 0.0
    std = float(np.std(arr, ddof=1))
    if std == 0.0:
        return 0.0
    mean = abs(float(np.mean(arr)))
    return math.inf if mean == 0.0 else std / mean * 100.0


def outliers(values: ArrayLike, threshold: float = 3.5) -> list[bool]:
    """Flag outliers by modified z-score (Iglewicz-Hoaglin): |0.6745 (x - median) / MAD| > t.

    When the MAD is 0 (over half the values equal) nothing is flagged.
    """
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0:
        return []
    med = np.median(arr)
    mad = float(np.median(np.abs(arr - med)))
    if mad == 0.0:
        return [False] * int(arr.size)
    z = 0.6745 * (arr - med) / mad
    return [bool(f) for f in np.abs(z) > threshold]


def summarize(
    values: ArrayLike,
    confidence: float = 0.95,
    n_boot: int = 2000,
    rng: np.random.Generator | int | None = None,
) -> Summary:
    """Descriptive statistics of one sample: median and its bootstrap CI, range, RSD."""
    arr = _as_sample(values)
    est = median_ci(arr, confidence=confidence, n_boot=n_boot, rng=rng)
    return Summary(
        n=int(arr.size),
        median=est.value,
        ci_low=est.low,
        ci_high=est.high,
        min=float(arr.min()),
        max=float(arr.max()),
        rsd=rsd(arr),
    )
