"""Hosts side by side: each one's overhead against its own bare metal."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from hostbench.analysis.fleet import side_by_side
from hostbench.errors import HostbenchError
from hostbench.report.fleet_report import fleet_table, hosts_table, write_fleet_report
from hostbench.results.store import Store
from tests.unit.synthetic_runs import make_run, two_metric_values

FAST, SLOW = "20261126-100000-aaaa", "20261126-110000-bbbb"


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "hostbench.sqlite") as s:
        yield s


def test_each_host_is_judged_against_its_own_bare_metal(store, tmp_path):
    make_run(store, FAST, two_metric_values(vm_factor=1.0))
    make_run(store, SLOW, two_metric_values(vm_factor=2.0), vm_accel="tcg",
             envs=("bare", "vm"))  # this host has no container
    columns, rows = side_by_side([store.load(FAST), store.load(SLOW)])
    assert [c.run_id for c in columns] == [FAST, SLOW]
    assert [c.accel for c in columns] == ["kvm", "tcg"]
    by = {(r.metric, r.env): r for r in rows}
    fast_vm, slow_vm = by[("events_per_second", "vm")].overheads
    assert fast_vm is not None and slow_vm is not None
    assert abs(fast_vm.overhead_pct.value) < 2 and slow_vm.overhead_pct.value == pytest.approx(100)
    assert slow_vm.verdict == "slower"
    assert by[("events_per_second", "container")].overheads[1] is None  # not on that host
    assert ("events_per_second", "bare") not in by  # the baseline has no overhead
    console = Console(record=True, width=220)
    console.print(hosts_table(columns))
    console.print(fleet_table(columns, rows))
    text = console.export_text()
    assert "+100.0%" in text and "not measured" in text and "tcg" in text
    html = write_fleet_report([store.load(FAST), store.load(SLOW)], tmp_path / "out")
    assert FAST in html.read_text() and "not measured" in html.with_suffix(".md").read_text()


def test_one_run_is_no_fleet(store):
    make_run(store, FAST, two_metric_values())
    with pytest.raises(HostbenchError, match="at least two runs"):
        side_by_side([store.load(FAST)])
