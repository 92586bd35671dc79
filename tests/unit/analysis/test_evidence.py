"""Evidence per unit of work: synthetic runs with a known difference in their accounting."""

from __future__ import annotations

import math

import pytest

from hostbench.analysis.evidence import (
    DERIVED,
    Derived,
    Evidence,
    RunEvidence,
    compare_figure,
    per_round,
    run_evidence,
    work_of,
)
from hostbench.analysis.rule import ALPHA
from hostbench.analysis.run_analysis import analyse_run
from hostbench.results.store import Store
from hostbench.stack.environments import Environment, Kind
from tests.unit.synthetic_runs import (
    BARE_EPS,
    CATALOGUE,
    CONTAINER_EPS,
    DURATION_S,
    NET_RX,
    NOTE,
    accounting,
    make_run,
)

FIRST = {"cpu-sysbench": "events_per_second"}


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> RunEvidence:
    store = Store(tmp_path_factory.mktemp("evidence") / "hostbench.sqlite")
    make_run(store, "20261207-090000-e001", {("events_per_second", "bare"): BARE_EPS,
                                             ("events_per_second", "container"): CONTAINER_EPS},
             envs=("bare", "container"), accounting=accounting)
    run = store.load("20261207-090000-e001")
    return run_evidence(run.trials, run.record.environments, FIRST)


def _row(evidence: RunEvidence, label: str):
    found = evidence.of("cpu-sysbench", "container")
    assert found is not None
    return next(r for r in found.rows if r.label == label)


@pytest.mark.parametrize(("unit", "higher", "label", "scale"), [
    ("Gbit/s", True, "per Gbit", 1.0), ("Gbits/sec", True, "per Gbit", 1.0),
    ("MiB/s", True, "per GiB", 1024.0), ("MB/s", True, "per GB", 1000.0),
    ("requests/s", True, "per 1,000 requests", 1000.0),
    ("events/s", True, "per 1,000 events", 1000.0), ("IO/s", True, "per 1,000 IO", 1000.0),
    ("GB/s per process", True, "per GB", 1.0), ("ms", False, "per trial", 1.0),
    ("ns", False, "per trial", 1.0)])
def test_the_unit_of_work_is_the_rate_times_the_duration_or_a_trial(unit, higher, label, scale):
    work = work_of("m", unit, higher)
    assert (work.label, work.scale) == (label, scale)
    assert (work.metric is None) == (label == "per trial")


def test_per_round_values_divide_each_trial_by_its_work(evidence, tmp_path):
    # Round 1 of bare metal: 1,000 events/s for 5 s = 5 (thousand events); 1,000 NET_RX.
    store = Store(tmp_path / "hostbench.sqlite")
    make_run(store, "20261207-090000-e002", {("events_per_second", "bare"): BARE_EPS},
             envs=("bare",), accounting=accounting)
    trials = [t for t in store.load("20261207-090000-e002").trials if not t.warmup]
    net_rx = next(d for d in DERIVED if d.label == "NET_RX softirqs")
    values = per_round(trials, net_rx, work_of("events_per_second", "events/s", True))
    assert values[1] == pytest.approx(1000.0 / 5.0)
    assert values[2] == pytest.approx(1020.0 / (1010.0 * 5.0 / 1000.0))
    busy = next(d for d in DERIVED if d.label == "host CPU busy, other cores")
    assert per_round(trials, busy, work_of("x", "ms", False))[3] == pytest.approx(0.52)


def test_the_known_difference_is_the_top_evidence_with_its_ratio(evidence):
    found = evidence.of("cpu-sysbench", "container")
    assert found is not None and found.work.label == "per 1,000 events"
    top = found.top()
    assert top[0].label == "NET_RX softirqs"
    # Per 1,000 events: 3x the softirqs for half the events, round by round.
    logs = [math.log((c / (ce * DURATION_S / 1000)) / (b / (be * DURATION_S / 1000)))
            for b, c, be, ce in zip(NET_RX["bare"], NET_RX["container"], BARE_EPS,
                                    CONTAINER_EPS, strict=True)]
    assert top[0].ratio is not None
    assert top[0].ratio.value == pytest.approx(math.exp(sum(logs) / len(logs)))
    assert top[0].ratio.value == pytest.approx(6.0, rel=0.02)
    assert top[0].ratio.low > 1.0 and top[0].pairs == 5 and top[0].dropped == 0
    # The same busy seconds for half the events: x2 per unit of work, second.
    assert top[1].label == "host CPU busy, measured cores"
    assert top[1].ratio is not None and top[1].ratio.value == pytest.approx(2.0)
    assert top[1].bare == pytest.approx(sum(4.0 / (e * DURATION_S / 1000) for e in BARE_EPS)
                                        / 5)


def test_a_zero_on_either_side_gives_both_values_and_no_ratio(evidence):
    tx = _row(evidence, "NET_TX softirqs")
    assert tx.ratio is None and not tx.clear
    assert tx.pairs == 5 and tx.other < tx.bare * 2
    dockerd = _row(evidence, "host dockerd")  # bare metal ran none: 0 s, not a lack
    assert dockerd.ratio is None and dockerd.bare == 0.0 and dockerd.other > 0
    assert dockerd.pairs == 4 and dockerd.dropped == 1  # the container's noted round lacks it


def test_rounds_lacking_a_figure_are_dropped_and_counted(evidence):
    system = _row(evidence, "workload system time")
    assert (system.pairs, system.dropped) == (4, 1)
    assert not any(r.label.startswith("loadgen") for r in evidence.evidence[0].rows)


def test_the_cpu_split_and_the_notes_per_environment(evidence):
    split = {s.env.name: s for s in evidence.cpu}
    assert set(split) == {"bare", "container"}
    assert split["bare"].trials == 5
    assert split["bare"].states["measured"]["user"] == pytest.approx(4.0)
    assert split["bare"].states["other"]["idle"] == pytest.approx(DURATION_S - 0.52)
    assert sum(split["container"].states["measured"].values()) == pytest.approx(DURATION_S)
    [note] = evidence.notes
    assert (note.env.name, note.trials, note.of, note.example) == ("container", 1, 5, NOTE)


def test_a_run_stored_before_accounting_has_no_evidence(tmp_path):
    store = Store(tmp_path / "hostbench.sqlite")
    make_run(store, "20261207-090000-e003", {("events_per_second", "bare"): BARE_EPS,
                                             ("events_per_second", "vm"): CONTAINER_EPS},
             envs=("bare", "vm"))
    run = store.load("20261207-090000-e003")
    assert run_evidence(run.trials, run.record.environments, FIRST) == RunEvidence(
        (), (), ())


def test_one_pair_has_a_ratio_but_no_interval_and_no_clear_difference():
    row = compare_figure(Derived("x", "", ("x",)), {1: 1.0, 2: 1.0}, {2: 3.0, 3: 4.0}, ALPHA)
    assert row is not None and row.ratio is not None
    assert (row.pairs, row.dropped, row.ratio.value) == (1, 2, pytest.approx(3.0))
    assert not row.clear
    assert compare_figure(Derived("x", "", ("x",)), {1: 1.0}, {2: 1.0}) is None


def test_a_figure_zero_on_both_sides_in_every_round_is_left_out(evidence):
    labels = {r.label for r in evidence.evidence[0].rows}
    assert "host qemu" not in labels and "softirq on the host" not in labels
    assert compare_figure(Derived("x", "", ("x",)), {1: 0.0, 2: 0.0}, {1: 0.0, 2: 0.0}) is None


def test_the_unit_of_work_comes_from_the_first_metric_the_workload_file_declares(tmp_path):
    # The store returns a trial's samples by name: latency_p99_ms before requests_per_second.
    store = Store(tmp_path / "hostbench.sqlite")
    make_run(store, "20261207-090000-e004", {
        (metric, env): [v * factor for v in BARE_EPS]
        for metric, factor in (("requests_per_second", 50.0), ("latency_p99_ms", 0.002))
        for env in ("bare", "container")}, envs=("bare", "container"), accounting=accounting)
    run = store.load("20261207-090000-e004")
    assert run.trials[-1].samples[0].metric == "latency_p99_ms"
    found = analyse_run(run).evidence.of("service-nginx-wrk", "container")
    assert found is not None and found.work.label == "per 1,000 requests"
    assert run_evidence(run.trials, run.record.environments, {}).evidence[0].work.label == \
        "per trial"


def _nginx_run(tmp_path, catalogue):
    """The analysis of a stored nginx run, bare metal and a container, with ``catalogue``
    recorded as its workloads' metrics (None: a run stored before runs recorded it)."""
    store = Store(tmp_path / "hostbench.sqlite")
    make_run(store, "20261207-090000-e005", {
        (metric, env): [v * factor for v in BARE_EPS]
        for metric, factor in (("requests_per_second", 50.0), ("latency_p99_ms", 0.002))
        for env in ("bare", "container")}, envs=("bare", "container"), accounting=accounting,
        catalogue=catalogue)
    return analyse_run(store.load("20261207-090000-e005"))


def test_a_stored_run_keeps_the_unit_of_work_of_the_catalogue_it_recorded(tmp_path):
    """Not today's workload files: here the run's nginx declared its latency first."""
    own = {**CATALOGUE, "service-nginx-wrk": ("latency_p99_ms", "requests_per_second")}
    analysis = _nginx_run(tmp_path, own)
    found = analysis.evidence.of("service-nginx-wrk", "container")
    assert found is not None and found.work == work_of("latency_p99_ms", "ms", False)
    assert analysis.catalogue == own and analysis.catalogue_note is None


def test_a_run_stored_without_its_catalogue_reads_todays_and_says_so(tmp_path):
    analysis = _nginx_run(tmp_path, None)
    found = analysis.evidence.of("service-nginx-wrk", "container")
    assert found is not None and found.work.label == "per 1,000 requests"
    assert analysis.catalogue == CATALOGUE
    assert analysis.catalogue_note and "today's workloads/*.yaml" in analysis.catalogue_note


def test_the_environments_own_machinery_is_named_by_its_parts_largest_first():
    """QEMU's vCPU threads and main loop, which bare metal lacks, never their total."""
    def row(label: str, bare: float, other: float):
        return compare_figure(Derived(label, "CPU-s", ("x",)), {1: bare, 2: bare},
                              {1: other, 2: other})

    rows = tuple(r for r in (row("host qemu", 0, 0.5), row("host qemu.vcpu", 0, 0.4),
                             row("host qemu.main", 0, 0.05), row("host qemu.other", 0, 0.01),
                             row("host dockerd", 0, 0.2), row("NET_RX softirqs", 10, 30))
                 if r is not None)
    found = Evidence("net-iperf3", Environment(name="vm", kind=Kind.VM), PER, rows)
    assert [r.label for r in found.own()] == ["host qemu.vcpu", "host qemu.main"]
    assert [r.label for r in found.top()] == ["NET_RX softirqs"]


PER = work_of("throughput_gbps", "Gbit/s", True)
