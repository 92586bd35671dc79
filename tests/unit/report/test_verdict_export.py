"""The verdicts export: the same rule as summary and report, one CSV row per verdict."""

from __future__ import annotations

import csv
from pathlib import Path

from hostbench.analysis.overheads import analyse
from hostbench.analysis.run_analysis import analyse_run
from hostbench.report.verdict_export import COLUMNS, export_verdicts
from hostbench.results.store import Store
from tests.unit.synthetic_runs import ENVS, make_run, two_metric_values


def test_one_row_per_verdict_with_its_margin(tmp_path: Path):
    values = two_metric_values(vm_factor=2.0)
    values[("events_per_second", "container-hostnet")] = [1101.0] * 5
    with Store(tmp_path / "hostbench.sqlite") as store:
        make_run(store, "r", values, envs=(*ENVS, "container-hostnet"))
        run = store.load("r")
    with export_verdicts(tmp_path / "out", analyse_run(run)).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(COLUMNS)
    expected = {(r.workload, r.metric, r.env.name): r.overhead
                for r in analyse(run.measured(), run.record.environments,
                                 run.record.verdict_margins) if r.overhead}
    against_bare = [row for row in rows if row["against"] == "bare"]
    assert len(against_bare) == len(expected) == 2 + 1 + 2  # vm, container: 2; hostnet: 1
    for row in against_bare:
        o = expected[(row["workload"], row["metric"], row["environment"])]
        assert (row["verdict"], float(row["margin_pct"])) == (o.verdict, o.margin_pct)
        assert float(row["overhead_pct"]) == round(o.overhead_pct.value, 4)
        assert (row["paired"], int(row["pairs"])) == ("true", o.n_pairs)
        unpaired = float(row["ci_high_unpaired_pct"]) - float(row["ci_low_unpaired_pct"])
        assert unpaired >= 0 and row["ci_low_unpaired_pct"] != ""
    (factor,) = [row for row in rows if row["against"] == "container"]
    assert factor["environment"] == "container-hostnet" and factor["verdict"] == "faster"
