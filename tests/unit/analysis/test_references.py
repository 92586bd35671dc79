"""Published reference figures: the shipped file matches our workloads, its overheads are
computed the way ours are, and each is set beside our verdict with the direction compared."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hostbench.analysis.overheads import analyse
from hostbench.analysis.references import (
    compare,
    direction,
    load_reference,
    load_references,
    overhead_pct,
)
from hostbench.errors import ConfigError
from hostbench.paths import REFERENCES_DIR
from hostbench.results.store import Store
from hostbench.run.workloads import load_catalogue, metric_names, select
from tests.unit.synthetic_runs import make_run

CATALOGUE = metric_names(load_catalogue())


def test_the_shipped_reference_matches_workloads_of_the_felter_suite():
    (felter,) = load_references(CATALOGUE)
    assert felter.repository == "https://github.com/thewmf/kvm-docker-comparison"
    in_suite = {w.name for w in select(load_catalogue(), "felter")}
    assert {f.workload for f in felter.figures} <= in_suite
    assert all(f.raw_data.endswith("/results/") for f in felter.figures)


def test_published_overheads_are_signed_like_ours():
    (felter,) = load_references(CATALOGUE)
    figure = {(f.workload, f.metric): f for f in felter.figures}
    randread = figure[("disk-fio-randread", "read_iops")]
    assert overhead_pct(randread.native, randread.vm, True) == pytest.approx(49.38, abs=0.01)
    tcp_rr = figure[("net-sockperf-latency", "latency_avg_us")]  # lower is better
    assert overhead_pct(tcp_rr.native, tcp_rr.vm, False) == pytest.approx(80.59, abs=0.01)
    assert [direction(p, 3) for p in (49.4, -5.0, 2.9, -2.9)] == [
        "slower", "faster", "equivalent", "equivalent"]


def test_each_matching_metric_is_set_beside_ours_with_the_direction_compared(tmp_path):
    steady = [100.0, 101.0, 99.0, 100.0, 102.0, 98.0, 100.0, 101.0]
    with Store(tmp_path / "r.sqlite") as store:
        make_run(store, "run-ref", {
            ("read_iops", "bare"): steady,
            ("read_iops", "vm"): [v / 2 for v in steady],  # published: -49% (slower)
            ("read_iops", "container"): steady,  # published: equal (equivalent)
            ("read_iops", "container-hostnet"): [v / 2 for v in steady],  # a variant: not shown
            ("read_lat_p99_us", "bare"): steady,  # no published figure
        }, envs=("bare", "vm", "container", "container-hostnet"))
        run = store.load("run-ref")
    rows = compare(analyse(run.measured(), run.record.environments, run.record.verdict_margins),
                   load_references(CATALOGUE))
    assert [(r.ours.env.name, r.published, r.ours.overhead.verdict, r.agreement)
            for r in rows] == [("vm", "slower", "slower", "agrees"),
                               ("container", "equivalent", "equivalent", "agrees")]


def test_a_direction_against_ours_disagrees_and_an_open_verdict_stays_open(tmp_path):
    with Store(tmp_path / "r.sqlite") as store:
        make_run(store, "run-ref", {("read_iops", "bare"): [100.0, 101.0, 100.5],
                                    ("read_iops", "vm"): [100.2, 100.8, 100.3],
                                    ("read_iops", "container"): [60.0, 90.0, 45.0]})
        run = store.load("run-ref")
    rows = {r.ours.env.name: r for r in compare(
        analyse(run.measured(), run.record.environments), load_references(CATALOGUE))}
    # within the margin here, 49% slower there
    assert (rows["vm"].ours.overhead.verdict, rows["vm"].published) == ("equivalent", "slower")
    assert rows["vm"].agreement == "disagrees"
    # about 30% worse, but too noisy in three rounds to make it "slower": the comparison stays open
    assert rows["container"].ours.overhead.verdict == "inconclusive"
    assert (rows["container"].published, rows["container"].agreement) == ("equivalent", "open")


def _write(tmp_path: Path, change: dict) -> Path:
    data = yaml.safe_load((REFERENCES_DIR / "felter2014.yaml").read_text())
    data["figures"][0].update(change)
    path = tmp_path / "ref.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"workload": "disk-nonesuch"}, "figures[0].workload", "not a workload of the catalogue"),
    ({"metric": "gflops"}, "figures[0].metric", "not a metric of hpc-hpcc"),
    ({"vm": None, "container": None}, "figures[0]", "neither a container nor a vm figure"),
    ({"native": 0}, "figures[0].native", "greater than 0"),
    ({"colour": "red"}, "figures[0].colour", "not a known field"),
])
def test_a_malformed_reference_names_file_and_field(tmp_path, change, field, words):
    path = _write(tmp_path, change)
    with pytest.raises(ConfigError) as err:
        load_reference(path, CATALOGUE)
    assert err.value.source == str(path) and err.value.field == field, str(err.value)
    assert words in err.value.problem
