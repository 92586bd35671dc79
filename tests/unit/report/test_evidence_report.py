"""The evidence in the report and the summary: a synthetic run whose container is slower and
raises 6x bare metal's NET_RX per 1,000 events, and a run stored before accounting existed."""

from __future__ import annotations

import csv
import re

import pytest
from rich.console import Console

from hostbench.analysis.run_analysis import analyse_run
from hostbench.report.run_report import ReportPaths, write_report
from hostbench.report.summary import print_summary
from hostbench.report.verdict_export import export_evidence
from hostbench.results.store import Store, StoredRun
from hostbench.run.run_records import Figure
from tests.unit.synthetic_runs import (
    BARE_EPS,
    CONTAINER_EPS,
    NOTE,
    accounting,
    figures_undrawn,
    make_run,
)

WITH = "20261207-091000-e101"
WITHOUT = "20261207-091000-e102"
VALUES = {("events_per_second", "bare"): BARE_EPS,
          ("events_per_second", "container"): CONTAINER_EPS}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[StoredRun, ReportPaths]]:
    """Only the stacked CPU-state bars are drawn, here alone: the overview and metric figures
    are those of any run report, drawn in test_run_report.py from runs of the same shape."""
    root = tmp_path_factory.mktemp("evidence-report")
    store = Store(root / "hostbench.sqlite")
    make_run(store, WITH, VALUES, envs=("bare", "container"), accounting=accounting)
    make_run(store, WITHOUT, VALUES, envs=("bare", "container"))
    found = {}
    with pytest.MonkeyPatch.context() as patch:
        figures_undrawn(patch, ("metric_figure", "change_figure"))
        for run_id in (WITH, WITHOUT):
            run = store.load(run_id)
            found[run_id] = (run, write_report(run, root / run_id, analyse_run(run)))
    return found


def _summary(run: StoredRun) -> str:
    console = Console(record=True, width=300)
    print_summary(run, console)
    return console.export_text()


def test_the_slower_verdict_names_the_known_difference_first(runs):
    html = runs[WITH][1].html.read_text()
    md = runs[WITH][1].markdown.read_text()
    line = re.search(r'<div class="evidence"><a href="#evidence">evidence</a> ([^<]*)</div>',
                     html)
    assert line is not None
    assert line.group(1).startswith("per 1,000 events against bare metal: NET_RX softirqs +")
    assert " x6.0" in line.group(1).split(";")[0]
    assert "; evidence per 1,000 events against bare metal: NET_RX softirqs +" in md


def test_the_evidence_section_has_the_stacked_bars_and_every_figure(runs):
    html = runs[WITH][1].html.read_text()
    section = html[html.index('<section id="evidence">'):]
    section = section[:section.index("</section>")]
    assert section.count('<figure class="cpu-split"><img src="data:image/png;base64,') == 1
    assert "cpu-sysbench: where the host CPUs&#39; time went" in section
    assert "container: figure per 1,000 events" in section
    for label in ("host CPU busy, measured cores (CPU-s)", "NET_RX softirqs",
                  "host dockerd (CPU-s)", "workload system time (CPU-s)"):
        assert f"<td>{label}</td>" in section
    assert "no ratio: a side measured 0" in section  # NET_TX in round 2, dockerd on bare metal
    assert "4 (1 dropped)" in section
    md = runs[WITH][1].markdown.read_text()
    assert "## Where the time went" in md and "(plots/cpu-cpu-sysbench.png)" in md


def test_an_incomplete_accounting_is_said_once_per_environment(runs):
    html = runs[WITH][1].html.read_text()
    assert html.count("measured trials have incomplete accounting") == 1
    assert "container: 1 of 5 measured trials have incomplete accounting" in html
    assert NOTE in html


def test_the_summary_has_one_evidence_line_per_slower_verdict(runs):
    text = _summary(runs[WITH][0])
    lines = [line for line in text.splitlines() if line.startswith("evidence, ")]
    assert lines == [line for line in lines if "cpu-sysbench on container" in line]
    assert len(lines) == 1 and "NET_RX softirqs" in lines[0]


def test_a_run_without_accounting_shows_no_evidence(runs):
    run, paths = runs[WITHOUT]
    html, md = paths.html.read_text(), paths.markdown.read_text()
    assert 'id="evidence"' not in html and 'class="evidence"' not in html
    assert "Where the time went" not in md and "evidence" not in md
    assert "evidence, " not in _summary(run)


def test_the_evidence_export_has_every_figure_per_unit_of_work(runs, tmp_path):
    run = runs[WITH][0]
    analysis = analyse_run(run)
    with export_evidence(tmp_path, analysis).open(newline="") as handle:
        rows = {row["figure"]: row for row in csv.DictReader(handle)}
    (found,) = analysis.evidence.evidence
    assert set(rows) == {r.label for r in found.rows}
    net_rx = rows["NET_RX softirqs"]
    assert (net_rx["environment"], net_rx["against"], net_rx["per"]) == (
        "container", "bare", "per 1,000 events")
    assert float(net_rx["ratio"]) == pytest.approx(6.0, rel=0.02) and net_rx["pairs"] == "5"
    assert rows["host dockerd"]["ratio"] == "" and rows["host dockerd"]["dropped"] == "1"
    with export_evidence(tmp_path / "old", analyse_run(runs[WITHOUT][0])).open() as handle:
        assert len(handle.readlines()) == 1  # the header only


def test_evidence_without_cpu_states_still_has_its_section(tmp_path, monkeypatch):
    def rusage_only(workload: str, env: str, trial: int) -> tuple[list[Figure], str]:
        seconds = 0.2 if env == "bare" else 0.6 + 0.01 * trial
        return [Figure(name="workload.system", value=seconds, unit="s")], "no accounting: gone"

    figures_undrawn(monkeypatch)  # no CPU states; the others: test_run_report.py draws them
    store = Store(tmp_path / "hostbench.sqlite")
    make_run(store, "r", VALUES, envs=("bare", "container"), accounting=rusage_only)
    html = write_report(store.load("r"), tmp_path / "out").html.read_text()
    section = html[html.index('<section id="evidence">'):]
    assert "cpu-split" not in section and "<td>workload system time (CPU-s)</td>" in section
    assert '<div class="evidence"><a href="#evidence">evidence</a> per 1,000 events against ' \
           "bare metal: workload system time +" in html
