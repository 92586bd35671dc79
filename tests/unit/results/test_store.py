"""The results store on real SQLite files under tmp_path: typed records in, the same records out."""

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import pydantic
import pytest

from hostbench.errors import HostbenchError
from hostbench.paths import PROJECT_ROOT
from hostbench.results.store import SCHEMA_VERSION, Store
from hostbench.run.facts import parse_facts
from hostbench.run.run_records import (
    RUN_FORMAT,
    Figure,
    RunRecord,
    Sample,
    TrialRecord,
    new_run_id,
    timestamp,
)
from hostbench.run.schedule import plan
from tests.conftest import LEGACY_DB
from tests.unit.synthetic_runs import HOST, environment, parity, spec

RUN = "20261126-150102-3f2a"


def _run(run_id: str = RUN, **overrides) -> RunRecord:
    values = {
        "id": run_id, "started_at": "2026-11-26T15:01:02.000+00:00", "stack": "lab",
        "suite": "quick", "command_line": "fab benchmark --stack lab", "git_commit": "abc123",
        "image_hash": "feed", "environments": (environment("bare"), environment("vm", "tcg")),
        "plan": tuple(plan(["sysbench-cpu", "fio-randread"], ["bare", "vm"], 0, 2)),
        "host": HOST, "spec": spec("tcg"), "parity": parity(envs=("bare", "vm"))}
    values.update(overrides)
    return RunRecord(**values)


def _sample(workload: str, env: str, trial: int, metric: str = "m", value: float = 1.0
            ) -> Sample:
    return Sample(workload=workload, env=env, trial=trial, warmup=False, position=0,
                  metric=metric, value=value, unit="s", higher_is_better=False,
                  timestamp="2026-11-26T15:02:00.000+00:00")


def _trial(run_id: str, workload: str, env: str, trial: int, status: str = "ok",
           samples: tuple[Sample, ...] = (), **kw) -> TrialRecord:
    values = {"run_id": run_id, "workload": workload, "env": env, "trial": trial,
              "warmup": False, "position": 0, "status": status, "command": f"run {workload}",
              "started_at": "2026-11-26T15:02:00.000+00:00", "wall_s": 1.5, "duration_s": 1.25,
              "error": None if status == "ok" else "exit status 1", "samples": samples}
    values.update(kw)
    return TrialRecord(**values)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "results" / "nested" / "hostbench.sqlite"


def test_new_run_id_format():
    assert new_run_id(datetime(2026, 11, 26, 15, 1, 2)).startswith("20261126-150102-")
    assert len(new_run_id()) == len("20261126-150102-3f2a") and new_run_id() != new_run_id()
    assert timestamp(datetime(2026, 1, 2, 3, 4, 5)).startswith("2026-01-02T03:04:05.000")


def test_open_creates_parents_wal_foreign_keys(db: Path):
    with Store(db) as store:
        assert db.is_file()
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_default_uses_results_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HOSTBENCH_RESULTS_DIR", str(tmp_path / "r"))
    with Store.default() as store:
        assert store.path == tmp_path / "r" / "hostbench.sqlite"


def test_a_run_comes_back_as_the_same_typed_record(db: Path):
    run = _run()
    with Store(db) as store:
        store.create_run(run)
        back = store.get_run(RUN)
    assert back == run and back.format == RUN_FORMAT
    assert back.label("vm") == "vm (TCG emulation)" and back.vm_accels == {"tcg"}
    assert back.parity is not None and back.parity.ok and back.host == HOST


def test_create_run_twice_is_an_error(db: Path):
    with Store(db) as store:
        store.create_run(_run())
        with pytest.raises(HostbenchError, match=f"run {RUN} already exists"):
            store.create_run(_run())


def test_latest_reopen_and_finish(db: Path):
    with Store(db) as store:
        assert store.latest_run_id() is None
        store.create_run(_run())
        store.create_run(_run("20261126-160000-aaaa"))
        assert store.latest_run_id() == "20261126-160000-aaaa"
        store.finish_run(RUN, "interrupted", 10.0, 2.0, 12.0,
                         orchestration={"parity": 1.5, "other": 0.5})
        run = store.get_run(RUN)
        assert (run.status, run.workload_seconds, run.wall_seconds) == ("interrupted", 10.0, 12.0)
        assert run.orchestration == {"parity": 1.5, "other": 0.5}
        assert run.finished_at is not None
        store.reopen_run(RUN)
        assert (store.get_run(RUN).status, store.get_run(RUN).finished_at) == ("running", None)
        with pytest.raises(ValueError, match="not 'running'"):
            store.finish_run(RUN, "running", None, None, None)


def test_unknown_run_names_id_file_and_known_runs(db: Path):
    with Store(db) as store:
        store.create_run(_run())
        for call in (store.get_run, store.load, store.reopen_run):
            with pytest.raises(HostbenchError) as info:
                call("nope")
            assert f"no run nope in {db}" in str(info.value) and RUN in str(info.value)
        with pytest.raises(HostbenchError, match="no run ghost"):
            store.add_trial(_trial("ghost", "w", "bare", 1))


def test_env_facts_are_replaced_on_resume(db: Path):
    first = parse_facts("nproc=1\nmemtotal_kib=100\ncgroup_memory_limit=max\n")
    second = parse_facts("nproc=2\nmemtotal_kib=200\ncgroup_memory_limit=1073741824\n")
    with Store(db) as store:
        store.create_run(_run())
        store.put_env_facts(RUN, "vm", first)
        store.put_env_facts(RUN, "vm", second)
        assert store.load(RUN).env_facts == {"vm": second}
        assert second.cgroup_memory_limit == 1024**3


def test_trials_and_their_samples_load_whole(db: Path):
    with Store(db) as store:
        store.create_run(_run())
        ok = _trial(RUN, "sysbench-cpu", "bare", 0, samples=(
            _sample("sysbench-cpu", "bare", 0, "a", 1.5), _sample("sysbench-cpu", "bare", 0, "b")))
        store.add_trial(ok)
        store.add_trial(_trial(RUN, "sysbench-cpu", "vm", 0, status="failed"))
        run = store.load(RUN)
    assert run.trials[0] == ok and run.trials[1].error == "exit status 1"
    assert [(s.metric, s.value) for s in run.samples()] == [("a", 1.5), ("b", 1.0)]
    assert run.samples()[0].timestamp == ok.started_at  # a sample is timed by its trial
    assert [t.env for t in run.failed_trials()] == ["vm"]


def test_a_trials_accounting_and_its_note_come_back_with_it(db: Path):
    figures = (Figure(name="cpu.measured.softirq", value=0.25, unit="s"),
               Figure(name="softirq.NET_RX", value=1200, unit="count"))
    with Store(db) as store:
        store.create_run(_run())
        accounted = _trial(RUN, "sysbench-cpu", "vm", 0, accounting=figures,
                           accounting_note="not read both times (restarted or gone): shim")
        store.add_trial(accounted)
        store.add_trial(_trial(RUN, "sysbench-cpu", "bare", 0))
        run = store.load(RUN)
    assert run.trials[0] == accounted
    assert run.trials[1].accounting == () and run.trials[1].accounting_note is None


def test_a_non_finite_figure_is_refused():
    with pytest.raises(ValueError, match="finite"):
        Figure(name="host.qemu", value=float("nan"), unit="s")


def test_add_trial_is_atomic(db: Path):
    """A trial whose samples cannot be stored leaves no trial behind."""
    with Store(db) as store:
        store.create_run(_run())
        duplicate = (_sample("w", "bare", 1), _sample("w", "bare", 1))
        with pytest.raises(sqlite3.IntegrityError):
            store.add_trial(_trial(RUN, "w", "bare", 1, samples=duplicate))
        assert store.load(RUN).trials == []
        store.add_trial(_trial(RUN, "w", "bare", 1, samples=duplicate[:1]))
        assert len(store.load(RUN).trials) == 1
    with pytest.raises(pydantic.ValidationError, match="finite"):
        _sample("w", "bare", 1, value=float("nan"))


def test_reader_sees_trials_while_writer_is_open(db: Path):
    with Store(db) as writer:
        writer.create_run(_run())
        with Store(db) as reader:
            assert reader.load(RUN).trials == []
            writer.add_trial(_trial(RUN, "w", "bare", 1))
            assert reader.load(RUN).completed_keys() == {("w", "bare", 1)}


def test_trial_survives_sigkill_of_writer(db: Path):
    with Store(db) as store:
        store.create_run(_run())
    trial = _trial(RUN, "fio-randread", "vm", 1, position=3,
                   samples=(_sample("fio-randread", "vm", 1, "iops", 12345.0),))
    # The writer gets the trial as JSON: importing this module (pytest, the conftest) would
    # double the writer's start-up.
    snippet = textwrap.dedent(f"""
        import os, signal, sys
        from pathlib import Path
        from hostbench.results.store import Store
        from hostbench.run.run_records import TrialRecord
        store = Store(Path({str(db)!r}))
        store.add_trial(TrialRecord.model_validate_json(sys.argv[1]))
        print("stored", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """)
    proc = subprocess.run([sys.executable, "-c", snippet, trial.model_dump_json()],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == -signal.SIGKILL and proc.stdout == "stored\n", proc.stderr
    with Store(db) as store:
        run = store.load(RUN)
    assert run.completed_keys() == {("fio-randread", "vm", 1)}
    assert run.trials[0].position == 3
    assert [(s.metric, s.value) for s in run.samples()] == [("iops", 12345.0)]


def test_missing_trials_in_plan_order(db: Path):
    with Store(db) as store:
        store.create_run(_run())
        store.add_trial(_trial(RUN, "sysbench-cpu", "bare", 0))
        store.add_trial(_trial(RUN, "sysbench-cpu", "bare", 1, status="failed"))
        store.add_trial(_trial(RUN, "sysbench-cpu", "vm", 0, status="failed"))
        store.add_trial(_trial(RUN, "sysbench-cpu", "vm", 0))  # retried after the failure: ok
        store.add_trial(_trial(RUN, "fio-randread", "vm", 1))
        store.create_run(_run("20261127-000000-0000"))  # another run's trial does not count
        store.add_trial(_trial("20261127-000000-0000", "fio-randread", "bare", 0))
        missing = store.load(RUN).missing()
    assert [p.key for p in missing] == [("sysbench-cpu", "vm", 1), ("sysbench-cpu", "bare", 1),
                                        ("fio-randread", "bare", 0), ("fio-randread", "vm", 0),
                                        ("fio-randread", "bare", 1)]


def test_extend_plan_appends_without_reading_the_run_back(db: Path):
    with Store(db) as store:
        store.create_run(_run())
        stored = _run().plan
        more = plan(["sysbench-cpu"], ["bare", "vm"], 0, 1)
        more = [p.model_copy(update={"trial": 2}) for p in more]
        with sqlite3.connect(db) as conn:  # a column this version cannot read
            conn.execute("UPDATE runs SET host_facts = '{\"unknown\": 1}' WHERE id = ?", (RUN,))
        store.extend_plan(RUN, more)
        with pytest.raises(HostbenchError, match="no run 20261127"):
            store.extend_plan("20261127-000000-0000", more)
    with sqlite3.connect(db) as conn:
        raw = json.loads(conn.execute("SELECT plan FROM runs WHERE id = ?", (RUN,)).fetchone()[0])
    assert raw == [p.model_dump(mode="json") for p in (*stored, *more)]


def test_not_a_database_names_path(tmp_path: Path):
    bogus = tmp_path / "hostbench.sqlite"
    bogus.write_bytes(b"this is not an SQLite database, just some text\n" * 100)
    with pytest.raises(HostbenchError) as info:
        Store(bogus)
    assert str(bogus) in str(info.value) and "not a database" in str(info.value)


def test_an_empty_file_is_not_taken_for_a_new_database(tmp_path: Path):
    emptied = tmp_path / "hostbench.sqlite"
    emptied.write_bytes(b"")  # e.g. truncated by a full disk: its runs are gone, say so
    with pytest.raises(HostbenchError, match=r"is empty \(0 bytes\)"):
        Store(emptied)
    assert emptied.stat().st_size == 0


def test_a_database_damaged_mid_file_is_named_when_opened(db: Path):
    with Store(db) as store:
        store.create_run(_run())
        for trial in range(40):
            store.add_trial(_trial(RUN, "sysbench-cpu", "bare", trial, raw_path="x" * 500,
                                   samples=(_sample("sysbench-cpu", "bare", trial),)))
    with sqlite3.connect(db) as conn:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    assert pages > 4
    with db.open("r+b") as f:
        f.seek(page * (pages - 2))
        f.write(b"\xff" * page)
    with pytest.raises(HostbenchError) as info:
        Store(db)
    assert str(db) in str(info.value) and "damaged" in str(info.value)


def test_foreign_sqlite_database_is_refused(tmp_path: Path):
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE stuff (x)")
    with pytest.raises(HostbenchError, match="not a hostbench results database"):
        Store(other)


def test_newer_schema_version_is_refused(db: Path):
    Store(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(HostbenchError, match="schema version 99"):
        Store(db)


def test_a_damaged_run_record_is_named_not_a_traceback(db: Path):
    with Store(db) as store:
        store.create_run(_run())
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE runs SET host_facts = '{\"hostname\": 3}'")
    with Store(db) as store, pytest.raises(HostbenchError, match=f"run {RUN} cannot be read"):
        store.get_run(RUN)


@pytest.mark.parametrize(("column", "value"), [
    ("host_facts", '{"hostname": ' + "[" * 100_000 + "]" * 100_000 + "}"),
    ("host_facts", '{"hostname": "\u00e9", "cpu": ' + "[" * 500 + "]" * 500 + "}"),
    ("options", "not json [/x]"),
])
def test_a_hostile_run_record_is_named_not_a_traceback(db: Path, column: str, value: str):
    with Store(db) as store:
        store.create_run(_run())
    with sqlite3.connect(db) as conn:
        conn.execute(f"UPDATE runs SET {column} = ?", (value,))
    with Store(db) as store, pytest.raises(HostbenchError, match=f"run {RUN} cannot be read"):
        store.get_run(RUN)


# --- a database written before runs had a format ------------------------------------------


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    copy = tmp_path / "hostbench.sqlite"
    shutil.copyfile(LEGACY_DB, copy)
    return copy


def _schema(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"))


def test_a_database_of_schema_1_is_upgraded_to_the_schema_of_a_new_one(legacy: Path, db: Path):
    Store(legacy).close()
    Store(db).close()
    assert _schema(legacy) == _schema(db)
    with sqlite3.connect(legacy) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [
            (SCHEMA_VERSION,)]
    Store(legacy).close()  # opening it again changes nothing
    assert _schema(legacy) == _schema(db)


def test_runs_of_format_1_read_as_environments_with_the_vm_accel(legacy: Path):
    with Store(legacy) as store:
        kvm, tcg = store.load("20261120-100000-aaaa"), store.load("20261120-110000-bbbb")
    assert [e.label for e in kvm.record.environments] == ["bare", "vm (KVM)", "container"]
    assert [e.label for e in tcg.record.environments] == ["bare", "vm (TCG emulation)",
                                                          "container"]
    assert kvm.record.spec is not None and kvm.record.spec.cores == (2, 3)
    assert tcg.record.parity is not None and tcg.record.parity.overridden
    assert tcg.record.status == "failed" and len(tcg.failed_trials()) == 1
    assert kvm.env_facts["vm"].clocksource == "kvm-clock"
    assert {s.env for s in kvm.measured()} == {"bare", "vm", "container"}
    assert kvm.missing() == []


def test_a_full_disk_is_named_and_what_was_stored_stays(db: Path):
    with Store(db) as store:
        store.create_run(_run())
        store.add_trial(_trial(RUN, "sysbench-cpu", "bare", 0))
        pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
        store._conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full from here
        with pytest.raises(HostbenchError) as full:
            for trial in range(1, 50):
                store.add_trial(_trial(RUN, "sysbench-cpu", "bare", trial, raw_path="x" * 4000))
        assert str(db) in str(full.value) and "full" in str(full.value)
        assert "--resume" in str(full.value)
    with Store(db) as store:
        assert (RUN, "sysbench-cpu", "bare", 0) in {(t.run_id, *t.key)
                                                    for t in store.load(RUN).trials}
