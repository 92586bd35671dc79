"""Sample exports (JSON Lines and CSV) of a synthetic run with warm-ups and a failed trial."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from hostbench.results.export import export_accounting, export_run
from hostbench.run.run_records import Figure, TrialRecord
from hostbench.results.store import Store, StoredRun
from tests.unit.synthetic_runs import make_run, two_metric_values

RUN = "20261126-150850-a874"
COLUMNS = ["metric", "value", "unit", "timestamp", "run", "environment", "workload", "trial",
           "warmup", "position", "higher_is_better"]
METADATA = {"run", "environment", "workload", "trial", "warmup", "position", "higher_is_better"}


@pytest.fixture
def exported(tmp_path: Path) -> tuple[StoredRun, Path, Path]:
    with Store(tmp_path / "hostbench.sqlite") as store:
        make_run(store, RUN, two_metric_values(), failed=[("cpu-sysbench", "vm")])
        run = store.load(RUN)
    jsonl, csv_path = export_run(run, tmp_path / "out")
    return run, jsonl, csv_path


def test_one_line_per_sample_of_ok_trials(exported):
    run, jsonl, _ = exported
    lines = jsonl.read_text().splitlines()
    assert run.failed_trials()  # a failed trial has no sample to export
    assert len(lines) == 2 * 3 * 6  # 2 metrics x 3 envs x (1 warm-up + 5 measured)
    records = [json.loads(line) for line in lines]
    assert sum(r["metadata"]["warmup"] for r in records) == 2 * 3


def test_fields_and_metadata(exported):
    run, jsonl, _ = exported
    started = {(t.workload, t.env, t.trial): t.started_at for t in run.trials}
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    for r in records:
        assert set(r) == {"metric", "value", "unit", "timestamp", "metadata"}
        meta = r["metadata"]
        assert set(meta) == METADATA and meta["run"] == RUN
        assert r["timestamp"] == started[(meta["workload"], meta["environment"], meta["trial"])]
        assert isinstance(r["value"], float) and isinstance(meta["warmup"], bool)
        assert meta["warmup"] == (meta["trial"] == 0)
    first = records[0]
    assert first == {
        "metric": "events_per_second", "value": 800.0, "unit": "events/s",
        "timestamp": "2026-11-26T15:08:56.000+00:00",
        "metadata": {"run": RUN, "environment": "bare", "workload": "cpu-sysbench", "trial": 0,
                     "warmup": True, "position": 0, "higher_is_better": True}}
    latency = next(r for r in records if r["metric"] == "read_lat_p99_us")
    assert latency["unit"] == "us" and latency["metadata"]["higher_is_better"] is False


def test_csv_has_the_same_rows_flattened(exported):
    _, jsonl, csv_path = exported
    with csv_path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == COLUMNS
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(rows) - 1 == len(records)
    for row, record in zip(rows[1:], records, strict=True):
        flat = dict(zip(COLUMNS, row, strict=True))
        assert float(flat["value"]) == record["value"]
        assert flat["timestamp"] == record["timestamp"]
        assert flat["warmup"] == str(record["metadata"]["warmup"]).lower()
        assert flat["environment"] == record["metadata"]["environment"]



def test_accounting_is_exported_one_figure_per_row_for_ok_trials(tmp_path):
    with Store(tmp_path / "hostbench.sqlite") as store:
        make_run(store, RUN, two_metric_values(), failed=[("cpu-sysbench", "vm")])
        store.add_trial(TrialRecord(
            run_id=RUN, workload="cpu-sysbench", env="container", trial=9, warmup=False,
            position=0, status="ok", command="sysbench", started_at="2026-11-26T15:09:00+00:00",
            accounting=(Figure(name="host.shim", value=0.01, unit="s"),
                        Figure(name="softirq.NET_RX", value=4, unit="count"))))
        run = store.load(RUN)
    path = export_accounting(run, tmp_path / "out")
    rows = list(csv.DictReader(path.open()))
    assert [(r["environment"], r["figure"], r["value"], r["unit"]) for r in rows] == [
        ("container", "host.shim", "0.01", "s"), ("container", "softirq.NET_RX", "4.0", "count")]
    assert rows[0]["run"] == RUN and rows[0]["warmup"] == "false"
