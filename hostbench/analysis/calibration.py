"""The host's noise floor: an A/A experiment, bare metal against bare metal on the same cores,
says how large a difference this host's own noise makes between identical environments in one
round. A verdict's margin is never widened by it: a floor above the margin makes equivalence
impossible to tell here, and a claim of slower or faster must exceed it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from hostbench.analysis.effects import factor_pct
from hostbench.analysis.overheads import MetricResult, analyse
from hostbench.results.store import StoredRun
from hostbench.run.facts import HostFacts
from hostbench.run.run_records import Margins, RunRecord

SECOND_BASELINE = "bare-2"
"""The second bare-metal environment of a calibration run: the same tree, the same cores."""

STALE_AFTER = timedelta(days=30)
"""A calibration older than this no longer speaks for the host (kernels, firmware, load drift)."""


@dataclass(frozen=True)
class Floor:
    workload: str
    metric: str
    aa: MetricResult  # bare-2 against bare
    floor_pct: float  # one standard deviation of a round's A/A log ratio, as a percentage
    within_pct: float  # the spread of one trial about its round's level
    between_pct: float  # the spread of the rounds' levels: what pairing by round removes

    @property
    def key(self) -> str:
        return f"{self.workload} {self.metric}"


def noise_floors(calibration: StoredRun) -> list[Floor]:
    """Per metric, the A/A overhead and the floor: the spread (standard deviation) of one
    round's A/A log ratio. Unlike the bound of the A/A interval, it does not shrink as rounds
    are added: more rounds only estimate it better."""
    results = analyse(calibration.measured(), calibration.record.environments,
                      Margins(source="workload files"))
    bare = {r.key: r for r in results if r.env.is_baseline}
    floors = []
    for r in results:
        o = r.overhead
        if r.env.name == SECOND_BASELINE and o is not None and o.n_pairs > 1:
            within, between = components(bare[r.key], r)
            floors.append(Floor(r.workload, r.metric, r, factor_pct(o.round_sd),
                                factor_pct(within), factor_pct(between)))
    return floors


def components(first: MetricResult, second: MetricResult) -> tuple[float, float]:
    """Within-round and between-round standard deviations (log scale) of two identical
    environments measured in the same rounds (a one-way random-effects split)."""
    a = {s.trial: math.log(s.value) for s in first.samples}
    b = {s.trial: math.log(s.value) for s in second.samples}
    rounds = sorted(set(a) & set(b))
    diffs = np.array([b[r] - a[r] for r in rounds])
    levels = np.array([(a[r] + b[r]) / 2 for r in rounds])
    within_var = float(np.var(diffs, ddof=1)) / 2
    between_var = max(float(np.var(levels, ddof=1)) - within_var / 2, 0.0)
    return math.sqrt(within_var), math.sqrt(between_var)


def stale_reason(calibration: RunRecord, host: HostFacts | None, image_hash: str | None,
                 now: datetime) -> str:
    """Why a calibration no longer speaks for this host and image, or "" if it does."""
    reasons = []
    then = calibration.host
    if then is not None and host is not None:
        reasons += [f"{what} was {old!r}, now {new!r}" for what, old, new in (
            ("the kernel", then.kernel, host.kernel), ("the CPU", then.cpu_model, host.cpu_model),
            ("the governor", then.governor, host.governor)) if old != new]
    if calibration.image_hash and image_hash and calibration.image_hash != image_hash:
        reasons.append("the image has changed since")
    age = now - datetime.fromisoformat(calibration.started_at)
    if age > STALE_AFTER:
        reasons.append(f"it is {age.days} days old")
    return "; ".join(reasons)
