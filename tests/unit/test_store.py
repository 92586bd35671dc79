"""Unit tests of hostbench.store on real SQLite files under tmp_path."""

import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import pytest

from hostbench.errors import HostbenchError
from hostbench.paths import PROJECT_ROOT
from hostbench.store import (
    RunRecord,
    SampleRecord,
    Store,
    TrialRecord,
    new_run_id,
    timestamp,
)

PLAN = [
    {"workload": w, "env": e, "trial": t, "warmup": False}
    for w in ("sysbench-cpu", "fio-randread")
    for e in ("bare", "vm")
    for t in (1, 2)
]


def _run(run_id: str = "20261126-150102-3f2a", **overrides) -> RunRecord:
    values = {
        "id": run_id,
        "started_at": "2026-11-26T15:01:02.000+00:00",
        "stack": "lab",
        "suite": "quick",
        "command_line": "hostbench run --stack lab --suite quick",
        "git_commit": "abc123",
        "image_hash": "sha256:feed",
        "plan": PLAN,
        "options": {"repeat": 2, "warmup": 0, "filters": ["cpu", "io"], "allow_mismatch": False},
        "host_facts": {"cpu": {"model": "EPYC", "cores": 16}, "kernel": "6.8.0"},
        "stack_config": {"vm": {"vcpus": 4, "memory_mib": 8192}},
        "tool_versions": {"fio": "3.36", "sysbench": "1.0.20"},
        "parity": {"result": "mismatch", "override": "allow_mismatch", "diffs": [1, 2.5, None]},
    }
    values.update(overrides)
    return RunRecord(**values)


def _trial(run_id: str, workload: str, env: str, trial: int, status: str = "ok", **kw):
    values = {
        "run_id": run_id,
        "workload": workload,
        "env": env,
        "trial": trial,
        "warmup": False,
        "position": 0,
        "status": status,
        "command": f"run {workload}",
        "started_at": timestamp(),
        "wall_s": 1.5,
        "duration_s": 1.25,
        "error": None if status == "ok" else "exit status 1",
    }
    values.update(kw)
    return TrialRecord(**values)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "results" / "nested" / "hostbench.sqlite"


def test_new_run_id_format():
    run_id = new_run_id(datetime(2026, 11, 26, 15, 1, 2))
    date, time, suffix = run_id.split("-")
    assert (date, time) == ("20261126", "150102")
    assert len(suffix) == 4
    int(suffix, 16)


def test_open_creates_parents_wal_foreign_keys(db: Path):
    with Store(db) as store:
        assert store.path == db
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.is_file()
    # Reopening an existing database works and keeps its contents.
    with Store(db) as store:
        assert store.list_runs() == []
        assert store.latest_run_id() is None


def test_default_uses_results_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HOSTBENCH_RESULTS_DIR", str(tmp_path / "res"))
    with Store.default() as store:
        assert store.path == tmp_path / "res" / "hostbench.sqlite"
    assert (tmp_path / "res" / "hostbench.sqlite").is_file()


def test_run_round_trip_with_json_fields(db: Path):
    run = _run()
    with Store(db) as store:
        store.create_run(run)
    with Store(db) as store:
        got = store.get_run(run.id)
    assert got == run
    assert got.status == "running"
    assert got.finished_at is None
    assert got.plan[0] == {"workload": "sysbench-cpu", "env": "bare", "trial": 1, "warmup": False}
    assert got.parity["diffs"] == [1, 2.5, None]


def test_create_run_twice_is_an_error(db: Path):
    with Store(db) as store:
        store.create_run(_run())
        with pytest.raises(HostbenchError, match="already exists"):
            store.create_run(_run())


def test_list_runs_and_latest(db: Path):
    with Store(db) as store:
        for i in range(3):
            store.create_run(_run(f"2026112{i}-000000-000{i}"))
        assert store.latest_run_id() == "20261122-000000-0002"
        assert [r.id for r in store.list_runs(limit=2)] == [
            "20261122-000000-0002",
            "20261121-000000-0001",
        ]


def test_update_and_finish_run(db: Path):
    with Store(db) as store:
        store.create_run(_run())
        store.update_run(
            "20261126-150102-3f2a",
            parity={"result": "ok"},
            image_hash="sha256:beef",
            host_facts=None,
        )
        store.finish_run("20261126-150102-3f2a", "interrupted", 12.5, 3.25, 16.0)
        run = store.get_run("20261126-150102-3f2a")
    assert run.parity == {"result": "ok"}
    assert run.image_hash == "sha256:beef"
    assert run.host_facts is None
    assert run.status == "interrupted"
    assert run.finished_at is not None
    assert (run.workload_seconds, run.orchestration_seconds, run.wall_seconds) == (12.5, 3.25, 16.0)


def test_update_run_rejects_unknown_columns(db: Path):
    with Store(db) as store:
        store.create_run(_run())
        with pytest.raises(ValueError, match="bogus"):
            store.update_run("20261126-150102-3f2a", status="complete", bogus=1)
        with pytest.raises(ValueError, match="id"):
            store.update_run("20261126-150102-3f2a", id="other")
        with pytest.raises(ValueError, match="status"):
            store.update_run("20261126-150102-3f2a", status="done")
        # Nothing was changed by the rejected calls.
        assert store.get_run("20261126-150102-3f2a").status == "running"


def test_update_unknown_run_names_it(db: Path):
    with Store(db) as store, pytest.raises(HostbenchError, match="no run nope"):
        store.update_run("nope", status="failed")


def test_get_run_unknown_names_id_file_and_known_runs(db: Path):
    with Store(db) as store:
        with pytest.raises(HostbenchError) as info:
            store.get_run("20990101-000000-dead")
        assert "known runs: (none)" in str(info.value)
        store.create_run(_run())
        with pytest.raises(HostbenchError) as info:
            store.get_run("20990101-000000-dead")
    message = str(info.value)
    assert "20990101-000000-dead" in message
    assert str(db) in message
    assert "20261126-150102-3f2a" in message


def test_env_facts_replaced_on_resume(db: Path):
    with Store(db) as store:
        store.create_run(_run())
        store.put_env_facts("20261126-150102-3f2a", "vm", {"kernel": "6.1", "vcpus": 4})
        store.put_env_facts("20261126-150102-3f2a", "bare", {"kernel": "6.8"})
        store.put_env_facts("20261126-150102-3f2a", "vm", {"kernel": "6.2", "vcpus": 4})
        assert store.env_facts("20261126-150102-3f2a") == {
            "bare": {"kernel": "6.8"},
            "vm": {"kernel": "6.2", "vcpus": 4},
        }
        assert store.env_facts("other") == {}


def test_trials_and_samples_persisted(db: Path):
    run_id = "20261126-150102-3f2a"
    with Store(db) as store:
        store.create_run(_run())
        warm = _trial(run_id, "sysbench-cpu", "bare", 0, warmup=True, position=0)
        first = _trial(run_id, "sysbench-cpu", "bare", 1, position=1, raw_path="raw/1.json")
        id_warm = store.add_trial(warm, [SampleRecord("events_per_s", 900.0, "1/s", True)])
        id_first = store.add_trial(
            first,
            [
                SampleRecord("events_per_s", 1000.5, "1/s", True),
                SampleRecord("latency_p95", 2.5, "ms", False),
            ],
        )
        failed = _trial(run_id, "sysbench-cpu", "vm", 1, status="failed", duration_s=None)
        id_failed = store.add_trial(failed, [])
    assert first.id == id_first
    assert len({id_warm, id_first, id_failed}) == 3

    with Store(db) as store:
        trials = store.trials(run_id)
        assert [t.id for t in trials] == [id_warm, id_first, id_failed]
        assert trials[1] == first
        assert trials[0].warmup is True
        assert trials[2].status == "failed"
        assert trials[2].error == "exit status 1"
        assert trials[2].duration_s is None
        assert [t.id for t in store.trials(run_id, status="ok")] == [id_warm, id_first]
        assert [t.id for t in store.trials(run_id, status="failed")] == [id_failed]

        rows = store.samples(run_id)
    assert [(r.trial_id, r.metric) for r in rows] == [
        (id_warm, "events_per_s"),
        (id_first, "events_per_s"),
        (id_first, "latency_p95"),
    ]
    latency = rows[2]
    assert (latency.workload, latency.env, latency.trial) == ("sysbench-cpu", "bare", 1)
    assert (latency.value, latency.unit, latency.higher_is_better) == (2.5, "ms", False)
    assert latency.warmup is False
    assert latency.status == "ok"
    assert rows[0].warmup is True


def test_add_trial_is_atomic(db: Path):
    """A trial whose samples cannot be stored leaves no trial behind."""
    run_id = "20261126-150102-3f2a"
    with Store(db) as store:
        store.create_run(_run())
        duplicate = [SampleRecord("m", 1.0, "s", False), SampleRecord("m", 2.0, "s", False)]
        with pytest.raises(sqlite3.IntegrityError):
            store.add_trial(_trial(run_id, "w", "bare", 1), duplicate)
        with pytest.raises(ValueError, match="non-finite"):
            store.add_trial(
                _trial(run_id, "w", "bare", 1), [SampleRecord("m", float("nan"), "s", False)]
            )
        assert store.trials(run_id) == []
        assert store.samples(run_id) == []
        # The store is still usable after a failed transaction.
        store.add_trial(_trial(run_id, "w", "bare", 1), [SampleRecord("m", 1.0, "s", False)])
        assert len(store.trials(run_id)) == 1


def test_add_trial_for_unknown_run(db: Path):
    with Store(db) as store, pytest.raises(HostbenchError, match="no run ghost"):
        store.add_trial(_trial("ghost", "w", "bare", 1), [])


def test_reader_sees_trials_while_writer_is_open(db: Path):
    run_id = "20261126-150102-3f2a"
    with Store(db) as writer:
        writer.create_run(_run())
        with Store(db) as reader:
            assert reader.trials(run_id) == []
            writer.add_trial(_trial(run_id, "w", "bare", 1), [SampleRecord("m", 1.0, "s", False)])
            assert len(reader.trials(run_id)) == 1
            assert reader.completed_keys(run_id) == {("w", "bare", 1)}


def test_trial_survives_sigkill_of_writer(db: Path):
    run_id = "20261126-150102-3f2a"
    with Store(db) as store:
        store.create_run(_run())
    snippet = textwrap.dedent(
        f"""
        import os, signal, sys
        from pathlib import Path
        from hostbench.store import SampleRecord, Store, TrialRecord
        store = Store(Path({str(db)!r}))
        trial = TrialRecord(
            run_id={run_id!r}, workload="fio-randread", env="vm", trial=1, warmup=False,
            position=3, status="ok", command="fio job.fio", started_at="2026-11-26T15:02:00",
            wall_s=2.0, duration_s=1.75,
        )
        trial_id = store.add_trial(trial, [SampleRecord("iops", 12345.0, "1/s", True)])
        print(trial_id, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", snippet],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    trial_id = int(proc.stdout.strip())

    with Store(db) as store:
        trials = store.trials(run_id)
        rows = store.samples(run_id)
        assert store.completed_keys(run_id) == {("fio-randread", "vm", 1)}
    assert [t.id for t in trials] == [trial_id]
    assert trials[0].position == 3
    assert [(r.trial_id, r.metric, r.value) for r in rows] == [(trial_id, "iops", 12345.0)]


def test_completed_keys_and_missing(db: Path):
    run_id = "20261126-150102-3f2a"
    with Store(db) as store:
        store.create_run(_run())
        store.add_trial(_trial(run_id, "sysbench-cpu", "bare", 1), [])
        store.add_trial(_trial(run_id, "sysbench-cpu", "bare", 2, status="failed"), [])
        store.add_trial(_trial(run_id, "sysbench-cpu", "vm", 1, status="failed"), [])
        # Retried after the failure: now ok.
        store.add_trial(_trial(run_id, "sysbench-cpu", "vm", 1), [])
        store.add_trial(_trial(run_id, "fio-randread", "vm", 2), [])
        # Another run's trial does not count.
        store.create_run(_run("20261127-000000-0000"))
        store.add_trial(_trial("20261127-000000-0000", "fio-randread", "bare", 1), [])

        assert store.completed_keys(run_id) == {
            ("sysbench-cpu", "bare", 1),
            ("sysbench-cpu", "vm", 1),
            ("fio-randread", "vm", 2),
        }
        missing = store.missing(run_id)
    assert [(m["workload"], m["env"], m["trial"]) for m in missing] == [
        ("sysbench-cpu", "bare", 2),
        ("sysbench-cpu", "vm", 2),
        ("fio-randread", "bare", 1),
        ("fio-randread", "bare", 2),
        ("fio-randread", "vm", 1),
    ]
    assert missing[0] == {"workload": "sysbench-cpu", "env": "bare", "trial": 2, "warmup": False}


def test_missing_of_unknown_run(db: Path):
    with Store(db) as store, pytest.raises(HostbenchError, match="no run x"):
        store.missing("x")


def test_not_a_database_names_path(tmp_path: Path):
    bogus = tmp_path / "hostbench.sqlite"
    bogus.write_bytes(b"this is not an SQLite database, just some text\n" * 100)
    with pytest.raises(HostbenchError) as info:
        Store(bogus)
    assert str(bogus) in str(info.value)
    assert "not a database" in str(info.value)


def test_foreign_sqlite_database_is_refused(tmp_path: Path):
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE stuff (x)")
    conn.commit()
    conn.close()
    with pytest.raises(HostbenchError, match="not a hostbench results database"):
        Store(other)


def test_newer_schema_version_is_refused(db: Path):
    Store(db).close()
    conn = sqlite3.connect(db)
    conn.execute("UPDATE schema_version SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(HostbenchError, match="schema version 99"):
        Store(db)
