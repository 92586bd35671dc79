"""The victim's loss beside a stressor, from a stored run with known values: each environment
against itself quiet in the same rounds, and the isolation table (stressors by kind)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from rich.console import Console

from hostbench.analysis.isolation import cell, losses, table
from hostbench.report.run_report import write_report
from hostbench.report.summary import print_summary
from hostbench.results.store import Store
from tests.unit.synthetic_runs import figures_undrawn, make_run

QUIET = [1000.0, 1010.0, 990.0, 1005.0, 995.0, 1002.0]
ENVS = ("bare", "bare@cpu", "container", "container@cpu")


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    with Store(tmp_path / "hostbench.sqlite") as opened:
        yield opened


def _values(bare_factor: float, container_factor: float) -> dict[tuple[str, str], list[float]]:
    return {("events_per_second", "bare"): QUIET,
            ("events_per_second", "bare@cpu"): [v / bare_factor for v in QUIET],
            ("events_per_second", "container"): QUIET,
            ("events_per_second", "container@cpu"): [v / container_factor for v in QUIET]}


def test_a_neighbour_that_halves_bare_metal_reads_as_a_large_loss_and_a_harmless_one_none(store):
    make_run(store, "run-n", _values(2.0, 1.0), envs=ENVS, warmup=1)
    run = store.load("run-n")
    found = losses(run.measured(), run.record.environments, run.record.verdict_margins)
    assert [(x.stressor, x.env.name, x.workload, x.metric) for x in found] == [
        ("cpu", "bare", "cpu-sysbench", "events_per_second"),
        ("cpu", "container", "cpu-sysbench", "events_per_second")]
    bare, container = found
    assert bare.rounds == container.rounds == (1, 2, 3, 4, 5, 6)
    assert bare.overhead is not None and container.overhead is not None
    assert bare.overhead.overhead_pct.value == pytest.approx(100.0)  # half the rate: twice the cost
    assert bare.overhead.verdict == "slower"
    assert container.overhead.overhead_pct.value == pytest.approx(0.0)
    assert container.overhead.verdict != "slower"
    kinds, rows = table(found)
    assert kinds == ["bare", "container"]
    assert rows == [("cpu", [[cell(bare)], [cell(container)]])]
    assert cell(bare).startswith("bare: cpu-sysbench events_per_second +100.0% [")
    assert cell(bare).endswith("slower (6 rounds)")


def test_only_rounds_measured_both_ways_are_paired(store):
    make_run(store, "run-n", _values(2.0, 1.0), envs=ENVS, warmup=1)
    run = store.load("run-n")
    kept = [s for s in run.measured() if not (s.env == "bare@cpu" and s.trial in (2, 3))]
    bare = losses(kept, run.record.environments)[0]
    assert bare.rounds == (1, 4, 5, 6) and bare.overhead is not None
    assert bare.overhead.n_reference == bare.overhead.n_other == 4
    one = [s for s in run.measured() if not (s.env == "bare@cpu" and s.trial > 1)]
    lonely = losses(one, run.record.environments)[0]
    assert lonely.overhead is None and cell(lonely).endswith("fewer than 2 paired rounds")


def test_the_summary_prints_the_isolation_table_and_where_the_neighbours_ran(store):
    make_run(store, "run-n", _values(2.0, 1.0), envs=ENVS, warmup=1)
    out = io.StringIO()
    print_summary(store.load("run-n"), Console(file=out, width=200))
    text = out.getvalue()
    assert "isolation: each environment beside a stressing neighbour" in text
    assert "bare: cpu-sysbench events_per_second +100.0%" in text
    assert "Neighbours ran on the host's cores the measured environment does not use" in text


def test_a_run_without_neighbours_prints_no_isolation_table(store):
    make_run(store, "run-q", {("events_per_second", "bare"): QUIET,
                              ("events_per_second", "container"): QUIET},
             envs=("bare", "container"))
    out = io.StringIO()
    print_summary(store.load("run-q"), Console(file=out, width=200))
    assert "isolation" not in out.getvalue()


def test_the_html_and_markdown_reports_carry_the_isolation_table(store, tmp_path, monkeypatch):
    figures_undrawn(monkeypatch)  # a run report's figures, drawn in tests/unit/report
    make_run(store, "run-n", _values(2.0, 1.0), envs=ENVS, warmup=1)
    paths = write_report(store.load("run-n"), tmp_path / "report")
    html, markdown = paths.html.read_text(), paths.markdown.read_text()
    assert '<section id="isolation">' in html and "<th>bare</th><th>container</th>" in html
    assert "bare: cpu-sysbench events_per_second +100.0%" in html
    assert "## Isolation" in markdown and "| stressor | bare | container |" in markdown
    row = next(line for line in markdown.splitlines() if line.startswith("| cpu |"))
    assert "+100.0%" in row and "slower" in row and row.count("|") == 4
