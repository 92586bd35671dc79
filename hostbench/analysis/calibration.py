"""The host's noise floor: an A/A experiment, bare metal against bare metal on the same cores,
says how large a difference this host's own noise makes between identical environments in one
round. A verdict's margin is never widened by it: a floor above the margin makes equivalence
impossible to tell here, and a claim of slower or faster must exceed it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hostbench.analysis.effects import factor_pct
from hostbench.analysis.overheads import MetricResult, analyse
from hostbench.results.store import StoredRun
from hostbench.run.facts import HostFacts
from hostbench.run.records import Margins, RunRecord

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

    @property
    def key(self) -> str:
        return f"{self.workload} {self.metric}"


def noise_floors(calibration: StoredRun) -> list[Floor]:
    """Per metric, the A/A overhead and the floor: the spread (standard deviation) of one
    round's A/A log ratio. Unlike the bound of the A/A interval, it does not shrink as rounds
    are added: more rounds only estimate it better."""
    results = analyse(calibration.measured(), calibration.record.environments,
                      Margins(source="workload files"))
    floors = []
    for r in results:
        o = r.overhead
        if r.env.name == SECOND_BASELINE and o is not None and o.n_pairs > 1:
            floors.append(Floor(r.workload, r.metric, r, factor_pct(o.round_sd)))
    return floors


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
