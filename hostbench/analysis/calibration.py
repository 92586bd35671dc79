"""The host's noise floor: an A/A experiment, bare metal against bare metal on the same cores,
says how large a difference this host's own noise produces between identical environments. No
verdict margin may be smaller than that."""

from __future__ import annotations

from dataclasses import dataclass

from hostbench.analysis.overheads import MetricResult, analyse
from hostbench.results.store import StoredRun
from hostbench.run.records import Margins

SECOND_BASELINE = "bare-2"
"""The second bare-metal environment of a calibration run: the same tree, the same cores."""


@dataclass(frozen=True)
class Floor:
    workload: str
    metric: str
    aa: MetricResult  # bare-2 against bare
    floor_pct: float  # the largest difference the A/A confidence interval allows

    @property
    def key(self) -> str:
        return f"{self.workload} {self.metric}"


def noise_floors(calibration: StoredRun) -> list[Floor]:
    """Per metric, the A/A overhead and the floor: max(|CI low|, |CI high|) of it."""
    results = analyse(calibration.measured(), calibration.record.environments,
                      Margins(source="workload files"))
    return [Floor(r.workload, r.metric, r, max(abs(r.overhead.overhead_pct.low),
                                                abs(r.overhead.overhead_pct.high)))
            for r in results if r.env.name == SECOND_BASELINE and r.overhead is not None]
