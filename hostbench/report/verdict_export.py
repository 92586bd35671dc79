"""Every verdict of a run as CSV, by the same rule as the summary and the report: per workload
metric and environment, the overhead against bare metal (or a variant against what it varies),
its CI (and, beside it, the interval the same data give unpaired), p, the margin and the
verdict; and the evidence beside them: every accounting figure per unit of work."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

from hostbench.analysis.overheads import MetricResult
from hostbench.analysis.rule import ALPHA
from hostbench.analysis.run_analysis import RunAnalysis
from hostbench.analysis.stats import Overhead, overhead
from hostbench.stack.environments import BASELINE

VERDICTS_NAME = "verdicts.csv"
COLUMNS = ("workload", "metric", "unit", "higher_is_better", "environment", "against",
           "median", "median_against", "overhead_pct", "ci_low_pct", "ci_high_pct", "factor",
           "change_pct", "paired", "pairs", "dropped", "ci_low_unpaired_pct",
           "ci_high_unpaired_pct", "p", "alpha", "margin_pct", "floor_pct", "verdict", "hint")
EVIDENCE_NAME = "evidence.csv"
EVIDENCE_COLUMNS = ("workload", "environment", "against", "per", "figure", "unit", "mean",
                    "mean_against", "ratio", "ratio_low", "ratio_high", "pairs", "dropped",
                    "alpha")


def _row(workload: str, metric: str, unit: str, higher: bool, env: str, against: str,
         o: Overhead, unpaired: Overhead | None, alpha: float) -> list[object]:
    pct = o.overhead_pct
    apart = (round(unpaired.overhead_pct.low, 4), round(unpaired.overhead_pct.high, 4)
             ) if unpaired else ("", "")
    return [workload, metric, unit, str(higher).lower(), env, against, o.median_other,
            o.median_reference, round(pct.value, 4), round(pct.low, 4), round(pct.high, 4),
            round(o.factor.value, 6), round(o.change_pct.value, 4), str(o.paired).lower(),
            o.n_pairs, o.dropped, *apart, round(o.p_value, 6), alpha, o.margin_pct,
            o.floor_pct, o.verdict, o.hint]


def _unpaired(reference: MetricResult | None, r: MetricResult, alpha: float
              ) -> Overhead | None:
    """The same comparison with the pairing thrown away, to show what pairing bought."""
    if reference is None or r.overhead is None:
        return None
    return overhead([s.value for s in reference.samples], [s.value for s in r.samples],
                    r.higher_is_better, r.overhead.margin_pct, r.overhead.floor_pct, alpha)


def export_verdicts(out_dir: Path, analysis: RunAnalysis) -> Path:
    results, alpha = analysis.results, analysis.alpha
    bare = {r.key: r for r in results if r.env.is_baseline}
    rows = [_row(r.workload, r.metric, r.unit, r.higher_is_better, r.env.name, BASELINE,
                 r.overhead, _unpaired(bare.get(r.key), r, alpha), alpha)
            for r in results if r.overhead]
    rows += [_row(e.workload, e.metric, e.unit, e.higher_is_better, e.variant.name,
                  e.base.name, e.change, None, ALPHA)
             for e in analysis.effects]
    return _write(Path(out_dir) / VERDICTS_NAME, COLUMNS, rows)


def export_evidence(out_dir: Path, analysis: RunAnalysis) -> Path:
    """Every accounting figure per unit of work against bare metal (no ratio where a side
    measured 0: its cells are empty)."""
    rows = [[e.workload, e.env.name, BASELINE, e.work.label, row.label, row.unit or "count",
             round(row.other, 9), round(row.bare, 9),
             *((round(r.value, 6), round(r.low, 6), round(r.high, 6)) if (r := row.ratio)
               else ("", "", "")), row.pairs, row.dropped, analysis.alpha]
            for e in analysis.evidence.evidence for row in e.rows]
    return _write(Path(out_dir) / EVIDENCE_NAME, EVIDENCE_COLUMNS, rows)


def _write(path: Path, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)
    return path
