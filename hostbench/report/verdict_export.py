"""Every verdict of a run as CSV, by the same rule as the summary and the report: per workload
metric and environment, the overhead against bare metal (or a variant against what it varies),
its CI, p, the margin and the verdict."""

from __future__ import annotations

import csv
from pathlib import Path

from hostbench.analysis.factors import factor_effects
from hostbench.analysis.overheads import analyse
from hostbench.analysis.rule import run_alpha
from hostbench.analysis.stats import Overhead
from hostbench.results.store import StoredRun

VERDICTS_NAME = "verdicts.csv"
COLUMNS = ("workload", "metric", "unit", "higher_is_better", "environment", "against",
           "median", "median_against", "overhead_pct", "ci_low_pct", "ci_high_pct", "p",
           "margin_pct", "verdict", "hint")


def _row(workload: str, metric: str, unit: str, higher: bool, env: str, against: str,
         o: Overhead) -> list[object]:
    pct = o.overhead_pct
    return [workload, metric, unit, str(higher).lower(), env, against, o.median_other,
            o.median_bare, round(pct.value, 4), round(pct.low, 4), round(pct.high, 4),
            round(o.p_value, 6), o.margin_pct, o.verdict, o.hint]


def export_verdicts(run: StoredRun, out_dir: Path) -> Path:
    record = run.record
    margins = record.verdict_margins
    rows = [_row(r.workload, r.metric, r.unit, r.higher_is_better, r.env.name, "bare",
                 r.overhead)
            for r in analyse(run.measured(), record.environments, margins,
                             run_alpha(record.stopping)) if r.overhead]
    rows += [_row(e.workload, e.metric, e.unit, e.higher_is_better, e.variant.name,
                  e.base.name, e.change)
             for e in factor_effects(run.measured(), record.environments, margins)]
    path = Path(out_dir) / VERDICTS_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return path
