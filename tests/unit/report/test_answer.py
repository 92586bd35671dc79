"""The answer first: sentences per environment from the verdicts, and the rule that drew them,
old runs labelled."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich.console import Console

from hostbench.analysis.overheads import analyse
from hostbench.analysis.run_analysis import analyse_run
from hostbench.report.answer import answer_lines, rule_note
from hostbench.report.run_report import _notices, write_report
from hostbench.report.summary import print_summary
from hostbench.results.store import Store
from hostbench.run.run_records import Stopping
from tests.unit.synthetic_runs import figures_undrawn, make_run, two_metric_values


def test_each_environment_gets_a_sentence_with_its_slowdowns_as_factors(tmp_path: Path):
    with Store(tmp_path / "r.sqlite") as store:
        make_run(store, "r", two_metric_values(vm_factor=2.0))
        run = store.load("r")
    lines = answer_lines(analyse(run.measured(), run.record.environments))
    vm = next(line for line in lines if line.startswith("vm"))
    assert "slower on 2" in vm and "x2" in vm and "-50.0%" in vm  # the rate halved: x2
    container = next(line for line in lines if line.startswith("container"))
    assert "slower" not in container


def test_a_run_stored_before_the_rule_says_it_is_re_judged(tmp_path: Path):
    with Store(tmp_path / "r.sqlite") as store:
        make_run(store, "r", two_metric_values(vm_factor=2.0))
        run = store.load("r")
    assert "re-judged" not in rule_note(run.record)
    assert "at level 0.05; intervals at 95%" in rule_note(run.record)
    looked = run.record.model_copy(update={"stopping": Stopping(
        minimum=3, maximum=15, budget_s=60.0, looks=(3, 5, 8, 12, 15))})
    assert "at level 0.05/5 (one share per planned look); intervals at 99%" in rule_note(looked)
    old = run.record.model_copy(update={"format": 2})
    assert "judged then by bootstrap medians and Mann-Whitney" in rule_note(old)
    console = Console(record=True, width=200)
    print_summary(run, console)
    text = console.export_text()
    assert text.index("vm") < text.index("paired log-ratio t-interval") < text.index("median")


def test_an_open_verdict_says_how_many_more_rounds_and_minutes_would_tell(tmp_path: Path):
    values = two_metric_values(vm_factor=2.0)
    values[("events_per_second", "container")] = [1040.0, 960.0, 1030.0, 975.0, 1000.0]
    with Store(tmp_path / "r.sqlite") as store:
        make_run(store, "r", values)
        run = store.load("r")
    analysis = analyse_run(run)
    (open_one,) = [r for r in analysis.results
                   if r.overhead and r.overhead.verdict == "inconclusive"]
    o = open_one.overhead
    assert o is not None and o.rounds_needed and o.rounds_needed > o.n_pairs == 5
    (notice,) = [n for n in _notices(run, analysis)
                 if n.kind == "inconclusive"]
    more = o.rounds_needed - 5
    # bare metal's and the container's trial per round, 5 s each in this run
    assert f"({more} more rounds, about {more * 10 / 60:.1f} min" in notice.text


def test_an_adaptive_runs_report_gives_its_intervals_level(tmp_path: Path, monkeypatch):
    figures_undrawn(monkeypatch)  # test_run_report.py draws them from runs of the same shape
    with Store(tmp_path / "r.sqlite") as store:
        make_run(store, "r", two_metric_values(vm_factor=2.0))
        run = store.load("r")
    looked = replace(run, record=run.record.model_copy(update={"stopping": Stopping(
        minimum=3, maximum=15, budget_s=60.0, looks=(3, 5, 8, 12, 15))}))
    paths = write_report(looked, tmp_path / "out")
    html, md = paths.html.read_text(), paths.markdown.read_text()
    assert "overhead vs bare [99% CI]" in html and "overhead vs bare [99% CI]" in md
    assert "95% CI]" not in md.split("## ")[1]  # the headline section says one level
