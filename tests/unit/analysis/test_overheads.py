"""A metric that is legitimately 0 on the baseline: no ratio, said so, and nothing crashes."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from hostbench.analysis.compare import compare_runs
from hostbench.analysis.factors import factor_effects
from hostbench.analysis.overheads import analyse
from hostbench.report.run_report import write_report
from hostbench.report.tables import summary_table
from hostbench.results.store import Store
from tests.unit.synthetic_runs import figures_undrawn, make_run, two_metric_values

RUN_A, RUN_B = "20261126-150000-aaaa", "20261126-160000-bbbb"


def _zero_bare_metal() -> dict[tuple[str, str], list[float]]:
    values = two_metric_values()
    values[("read_lat_p99_us", "bare")] = [0.0, 0.0, 0.0, 0.0, 0.0]
    return values


def test_a_zero_baseline_gives_no_ratio_and_says_why(tmp_path: Path, monkeypatch):
    with Store(tmp_path / "hostbench.sqlite") as store:
        make_run(store, RUN_A, _zero_bare_metal())
        make_run(store, RUN_B, _zero_bare_metal())
        a, b = store.load(RUN_A), store.load(RUN_B)
    results = analyse(a.measured(), a.record.environments)
    zero = [r for r in results if r.metric == "read_lat_p99_us" and not r.env.is_baseline]
    assert zero and all(r.overhead is None and "0" in r.no_overhead for r in zero)
    assert all(r.overhead is not None for r in results
               if r.metric == "events_per_second" and not r.env.is_baseline)
    console = Console(width=200, record=True)
    console.print(summary_table(results, "zero"))
    assert "bare metal measured 0" in console.export_text()
    # The metrics' figures are drawn, a zero among the values; the overview leaves out what has
    # no ratio, and is drawn from runs without zeros in tests/unit/report.
    figures_undrawn(monkeypatch, ("change_figure",))
    html = write_report(a, tmp_path / "report").html.read_text()
    assert "bare metal measured 0" in html
    changes, notes = compare_runs(a, b)
    assert {c.metric for c in changes} == {"events_per_second", "read_lat_p99_us"}
    assert any("read_lat_p99_us on bare" in n and "no ratio" in n for n in notes)


def test_a_zero_base_of_a_variant_gives_no_factor_effect():
    from tests.unit.analysis.test_factors import ENVS, _samples

    measured = (_samples("bare", [22.5] * 5) + _samples("container", [0.0] * 5)
                + _samples("container-hostnet", [1.0] * 5))
    assert factor_effects(measured, ENVS) == []
