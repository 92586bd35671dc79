"""The console tables (summary and comparison): legible in a log file, whatever the names."""

from __future__ import annotations

import os

import numpy as np
import pytest
from rich.console import Console
from rich.table import Table

from hostbench.analysis import stats
from hostbench.analysis.compare import Comparison
from hostbench.analysis.overheads import MetricResult
from hostbench.console import LOG_WIDTH
from hostbench.report.tables import comparison_table, summary_table
from hostbench.run.workloads import load_catalogue
from tests.unit.synthetic_runs import ENVS, environment


def _samples() -> dict[str, list[float]]:
    """bare ~4000, a VM 18x slower (+1700%), a container drawn from bare's distribution."""
    rng = np.random.default_rng(7)
    bare = list(rng.normal(4000, 20, 5))
    return {"bare": bare, "vm": [v * 18 for v in bare],
            "container": list(rng.normal(4000, 20, 5))}


def _summary(names: list[tuple[str, str]]) -> Table:
    rows, samples = [], _samples()
    for workload, metric in names:
        for env in ENVS:
            overhead = (None if env == "bare" else
                        stats.overhead(samples["bare"], samples[env], higher_is_better=False))
            rows.append(MetricResult(workload, metric, "ns", False, environment(env, "tcg"), [],
                                     stats.summarize(samples[env]), [], overhead))
    return summary_table(rows, "run x (quick suite, stack local)")


def _comparison(names: list[tuple[str, str]]) -> Table:
    samples = _samples()
    rows = [Comparison(workload, metric, "ns", False, env,
                       stats.overhead(samples["bare"], samples[env], higher_is_better=False))
            for workload, metric in names for env in ("vm", "container")]
    return comparison_table(rows, "run-a", "run-b", {"vm": "vm (TCG emulation)"})


def _render(table: Table) -> list[str]:
    with open(os.devnull, "w") as sink:
        console = Console(width=LOG_WIDTH, record=True, file=sink)
        console.print(table)
    return console.export_text().splitlines()


def _check_numbers_intact(lines: list[str]) -> None:
    assert max(len(line) for line in lines) <= LOG_WIDTH
    assert not any("…" in line for line in lines)
    container = [line for line in lines if line.startswith("│   container")]
    assert container and all("equivalent (±3%)" in line or "inconclusive" in line
                             for line in container)  # the verdict is never cut
    vm = [line for line in lines if line.startswith("│   vm (TCG emulation)")]
    assert vm and all("+1700.0% [" in line and "slower" in line for line in vm)


SHIPPED = [(w.name, m) for w in load_catalogue().values() for m in w.metrics]


@pytest.mark.parametrize("make_table", [_summary, _comparison])
def test_every_shipped_workload_metric_fits_a_log_line_whole(make_table):
    lines = _render(make_table(SHIPPED))
    _check_numbers_intact(lines)
    for workload, metric in SHIPPED:
        assert any(f"│ {workload} " in line for line in lines)
        assert any(f"│ {metric} " in line for line in lines)


@pytest.mark.parametrize("make_table", [_summary, _comparison])
@pytest.mark.parametrize("workload", ["x" * 60, "a-workload-with-a-much-longer-name-than-any"])
def test_an_overlong_name_folds_and_never_squeezes_the_numbers(make_table, workload):
    lines = _render(make_table([(workload, "context_switch_ns")]))
    _check_numbers_intact(lines)
    cells = [line.split("│")[1].strip() for line in lines if line.startswith("│")]
    assert "".join(cells[:cells.index("context_switch_ns")]) == workload  # heading lines


def test_the_vm_label_says_emulation_under_tcg():
    assert environment("vm", "tcg").label == "vm (TCG emulation)"
    assert environment("vm-raw", "kvm").label == "vm-raw (KVM)"
    assert environment("container", "tcg").label == "container"


@pytest.mark.parametrize(("margin", "shown"), [(5.44152, "±5.4%"), (3.0, "±3%"),
                                               (23.8669, "±24%"), (0.25, "±0.2%")])
def test_a_margin_is_shown_as_people_read_it(margin, shown):
    from hostbench.report.text import verdict_text

    assert verdict_text("equivalent", margin) == f"equivalent ({shown})"


@pytest.mark.parametrize("make_table", [_summary, _comparison])
def test_names_read_from_a_stored_run_are_shown_as_text(make_table):
    """A stored run is data: a workload or metric name that looks like markup stays as it is."""
    lines = _render(make_table([("[/x]wl", "[bold]m\x1b[2J")]))
    text = "".join(lines)
    assert "[/x]wl" in text and "[bold]m\\x1b[2J" in text and "\x1b" not in text
