"""Run-against-run comparison on synthetic runs with a known change."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from hostbench.analysis.compare import Comparison, env_labels
from hostbench.analysis.compare import compare_runs as compare_stored
from hostbench.errors import HostbenchError
from hostbench.report.compare_report import write_comparison_report
from hostbench.report.tables import comparison_table
from hostbench.results.store import Store
from tests.unit.synthetic_runs import figures_undrawn, make_run, two_metric_values

A, B, SAME = "20261126-100000-aaaa", "20261126-110000-bbbb", "20261126-120000-cccc"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "hostbench.sqlite") as s:
        yield s


def compare_runs(store: Store, a: str, b: str) -> list[Comparison]:
    return compare_stored(store.load(a), store.load(b))[0]


def _slower_vm(store: Store) -> None:
    """A: the VM 1x as slow as bare metal; B: 2x, so B's VM is twice as slow as A's."""
    make_run(store, A, two_metric_values(vm_factor=1.0))
    make_run(store, B, two_metric_values(vm_factor=2.0))


def test_a_2x_slowdown_is_detected_with_the_right_sign(store):
    _slower_vm(store)
    result = {(c.metric, c.env): c for c in compare_runs(store, A, B)}
    assert len(result) == 6  # 2 metrics x 3 environments, all in both runs
    latency, throughput = result[("read_lat_p99_us", "vm")], result[("events_per_second", "vm")]
    assert latency.change.ratio.value == pytest.approx(2.0)  # median(B) / median(A)
    assert latency.change.overhead_pct.value == pytest.approx(100.0)  # + = B is worse
    assert throughput.change.ratio.value == pytest.approx(0.5)
    assert throughput.change.overhead_pct.value == pytest.approx(100.0)  # half the rate: x2
    for c in (latency, throughput):
        assert c.change.verdict == "slower" and c.change.overhead_pct.low > 0
        assert c.change.median_reference > 0 and c.change.n_reference == c.change.n_other == 5
    for env in ("bare", "container"):  # unchanged between the runs
        assert result[("read_lat_p99_us", env)].change.verdict == "equivalent"

    # The other way round, B is the better run: same size, opposite sign.
    reverse = {(c.metric, c.env): c for c in compare_runs(store, B, A)}
    assert reverse[("read_lat_p99_us", "vm")].change.overhead_pct.value == pytest.approx(-50.0)
    assert reverse[("read_lat_p99_us", "vm")].change.verdict == "faster"


def test_identical_runs_show_no_measurable_difference(store):
    make_run(store, A, two_metric_values())
    make_run(store, SAME, two_metric_values())
    comparisons = compare_runs(store, A, SAME)
    assert len(comparisons) == 6
    for c in comparisons:
        assert c.change.verdict == "equivalent"
        assert c.change.overhead_pct.value == pytest.approx(0.0)


def test_runs_without_a_common_workload_are_an_error(store):
    make_run(store, A, {("events_per_second", env): [1.0, 1.1, 0.9] for env in ("bare", "vm")})
    make_run(store, B, {("read_lat_p99_us", env): [1.0, 1.1, 0.9] for env in ("bare", "vm")})
    with pytest.raises(HostbenchError, match=r"no workload metric measured in the same "
                                             r"environment.*cpu-sysbench.*disk-fio-randread"):
        compare_runs(store, A, B)
    with pytest.raises(HostbenchError, match="no run nope"):
        compare_runs(store, A, "nope")


def test_console_table_and_report(store, tmp_path: Path):
    _slower_vm(store)
    comparisons = compare_runs(store, A, B)
    console = Console(record=True, width=200)
    console.print(comparison_table(comparisons, A, B,
                                   env_labels(store.get_run(A), store.get_run(B))))
    text = console.export_text()
    assert "+100.0% [" in text and "slower" in text and "equivalent (±3%)" in text

    html_path = write_comparison_report(store.load(A), store.load(B), tmp_path / "cmp")
    html = html_path.read_text()
    assert html_path.name == f"compare-{A}-vs-{B}.html"
    assert html.count("<b>+100.0%</b>") >= 2  # twice the latency, half the throughput
    assert not re.search(r"https?://", html)
    assert html.count('<img src="data:image/png;base64,') == 1
    md = html_path.with_suffix(".md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(links) == 1 and (html_path.parent / links[0]).is_file()


def test_a_vm_accelerated_differently_is_named_and_bannered(store, tmp_path: Path,
                                                            monkeypatch):
    figures_undrawn(monkeypatch)  # the comparison's figure: test_console_table_and_report
    make_run(store, A, two_metric_values(), vm_accel="kvm")
    make_run(store, B, two_metric_values(), vm_accel="tcg")
    labels = env_labels(store.get_run(A), store.get_run(B))
    assert labels == {"bare": "bare", "vm": "vm (kvm in A, tcg in B)", "container": "container"}
    html = write_comparison_report(store.load(A), store.load(B), tmp_path / "cmp").read_text()
    assert "The VM was accelerated differently in the two runs" in html
    assert "A: kvm, B: tcg" in html


def test_runs_with_variants_compare_by_name_and_say_what_each_varies(store, tmp_path: Path,
                                                                     monkeypatch):
    figures_undrawn(monkeypatch)  # the comparison's figure: test_console_table_and_report
    envs = ("bare", "container", "container-hostnet")
    values = {(m, e): v for (m, e), v in two_metric_values().items() if e in ("bare", "container")}
    values |= {(m, "container-hostnet"): values[(m, "container")] for m, _ in list(values)}
    make_run(store, A, values, envs=envs)
    make_run(store, B, values, envs=envs)
    assert {c.env for c in compare_runs(store, A, B)} == set(envs)
    html = write_comparison_report(store.load(A), store.load(B), tmp_path / "cmp").read_text()
    assert "container-hostnet [network: host]" in html
