"""Every sample of a run as JSON Lines and CSV, for other tools (warm-ups flagged, failures out)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from hostbench.results.store import StoredRun
from hostbench.run.run_records import Sample

JSONL_NAME = "samples.jsonl"
CSV_NAME = "samples.csv"
METADATA_KEYS = ("run", "environment", "workload", "trial", "warmup", "position",
                 "higher_is_better")
CSV_COLUMNS = ("metric", "value", "unit", "timestamp", *METADATA_KEYS)


def sample_record(run_id: str, s: Sample) -> dict[str, Any]:
    """One sample in the export shape: the measurement, and where it comes from as metadata."""
    return {"metric": s.metric, "value": s.value, "unit": s.unit, "timestamp": s.timestamp,
            "metadata": {"run": run_id, "environment": s.env, "workload": s.workload,
                         "trial": s.trial, "warmup": s.warmup, "position": s.position,
                         "higher_is_better": s.higher_is_better}}


def _csv_value(value: Any) -> Any:
    return str(value).lower() if isinstance(value, bool) else value


ACCOUNTING_NAME = "accounting.csv"
ACCOUNTING_COLUMNS = ("run", "environment", "workload", "trial", "warmup", "figure", "value",
                      "unit")


def export_accounting(run: StoredRun, out_dir: Path) -> Path:
    """Write ``accounting.csv``: every figure of every ok trial's accounting, one per row."""
    path = Path(out_dir) / ACCOUNTING_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(ACCOUNTING_COLUMNS)
        for t in run.trials:
            if t.status == "ok":
                writer.writerows([run.id, t.env, t.workload, t.trial, _csv_value(t.warmup),
                                  f.name, f.value, f.unit] for f in t.accounting)
    return path


def export_run(run: StoredRun, out_dir: Path) -> tuple[Path, Path]:
    """Write ``samples.jsonl`` and ``samples.csv`` (same fields, flattened) into ``out_dir``."""
    records = [sample_record(run.id, s) for s in run.samples()]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jsonl_path, csv_path = out / JSONL_NAME, out / CSV_NAME
    with jsonl_path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    with csv_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for record in records:
            flat = {**record, **record["metadata"]}
            writer.writerow([_csv_value(flat[column]) for column in CSV_COLUMNS])
    return jsonl_path, csv_path
