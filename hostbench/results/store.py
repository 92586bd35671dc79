"""Results database: every run, its environment facts, trials and samples, in one SQLite file.

Each trial is committed (with its samples) in its own transaction the moment it is added, so a
run that is interrupted -- even by SIGKILL -- loses nothing that was already recorded, and
`fab benchmark --resume RUN` can tell which planned trials are still missing.

Runs are written and read as typed records (hostbench.run.run_records) in this module only. The
database schema is versioned and upgraded in place; each run row carries the format of its
record, and runs stored in an older format are read back upgraded.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import pydantic

from hostbench.errors import HostbenchError, write_refused
from hostbench.paths import results_dir
from hostbench.run.facts import EnvFacts
from hostbench.run.parity import ParityVerdict
from hostbench.run.run_records import (
    Figure,
    LifecycleSettings,
    RunRecord,
    RunStatus,
    Sample,
    Stopping,
    TrialRecord,
    timestamp,
)
from hostbench.run.schedule import PlannedTrial
from hostbench.stack.environments import BARE_METAL, DEFAULT_ENVIRONMENTS, Kind

T = TypeVar("T")

DB_FILENAME = "hostbench.sqlite"

_SCHEMA_1 = """
CREATE TABLE schema_version (
    version INTEGER NOT NULL
);
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'complete', 'interrupted', 'failed')),
    stack TEXT NOT NULL,
    suite TEXT NOT NULL,
    command_line TEXT,
    git_commit TEXT,
    image_hash TEXT,
    plan TEXT,
    options TEXT,
    host_facts TEXT,
    stack_config TEXT,
    tool_versions TEXT,
    parity TEXT,
    workload_seconds REAL,
    orchestration_seconds REAL,
    wall_seconds REAL
);
CREATE TABLE env_facts (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    env TEXT NOT NULL,
    facts TEXT NOT NULL,
    collected_at TEXT NOT NULL,
    PRIMARY KEY (run_id, env)
);
CREATE TABLE trials (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    workload TEXT NOT NULL,
    env TEXT NOT NULL,
    trial INTEGER NOT NULL,
    warmup INTEGER NOT NULL CHECK (warmup IN (0, 1)),
    position INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    error TEXT,
    command TEXT NOT NULL,
    started_at TEXT NOT NULL,
    duration_s REAL,
    wall_s REAL,
    raw_path TEXT
);
CREATE INDEX trials_by_run ON trials (run_id, workload, env, trial);
CREATE TABLE samples (
    trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    metric TEXT NOT NULL,
    value REAL NOT NULL,
    unit TEXT NOT NULL,
    higher_is_better INTEGER NOT NULL CHECK (higher_is_better IN (0, 1)),
    PRIMARY KEY (trial_id, metric)
);
"""
MIGRATIONS = {
    # 1 -> 2: each run row says which record format it holds, and lists its environments;
    # tool versions live in the host facts only.
    2: """
ALTER TABLE runs ADD COLUMN format INTEGER NOT NULL DEFAULT 1;
ALTER TABLE runs ADD COLUMN environments TEXT;
ALTER TABLE runs DROP COLUMN tool_versions;
""",
    # 2 -> 3: the host CPU the idle environments used during each trial.
    3: """
ALTER TABLE trials ADD COLUMN neighbours_cpu_s REAL;
""",
    # 3 -> 4: the margins the verdicts of a run are judged with.
    4: """
ALTER TABLE runs ADD COLUMN margins TEXT;
ALTER TABLE runs ADD COLUMN stopping TEXT;
""",
    # 4 -> 5: what a `fab lifecycle` run measured with.
    5: """
ALTER TABLE runs ADD COLUMN lifecycle TEXT;
""",
    # 5 -> 6: where each trial's time went (its accounting), and why any is missing.
    6: """
ALTER TABLE trials ADD COLUMN accounting_note TEXT;
CREATE TABLE accounting (
    trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    unit TEXT NOT NULL,
    PRIMARY KEY (trial_id, name)
);
""",
    # 6 -> 7: the workload catalogue a run was planned from (each workload's metric names).
    7: """
ALTER TABLE runs ADD COLUMN catalogue TEXT;
""",
    # 7 -> 8: where the run's orchestration went, phase by phase.
    8: """
ALTER TABLE runs ADD COLUMN orchestration TEXT;
""",
}
SCHEMA_VERSION = max(MIGRATIONS)

RUN_COLUMNS = ("id", "format", "started_at", "finished_at", "status", "stack", "suite",
               "command_line", "git_commit", "image_hash", "environments", "plan", "options",
               "host_facts", "stack_config", "parity", "margins", "stopping", "lifecycle",
               "catalogue", "workload_seconds", "orchestration_seconds", "wall_seconds",
               "orchestration")
_RECORD_FIELD = {"host_facts": "host", "stack_config": "spec"}
"""Columns whose record field has another name."""
JSON_COLUMNS = frozenset({"environments", "plan", "options", "host_facts", "stack_config",
                          "parity", "margins", "stopping", "lifecycle", "catalogue",
                          "orchestration"})


def _upgrade_format_1(values: dict[str, Any]) -> dict[str, Any]:
    """A run stored before environments were values: always bare, vm and container, the VM's
    accel kept in the host facts, tool versions twice."""
    host = dict(values.get("host_facts") or {})
    accel = host.pop("vm_accel", None) or None
    environments = [BARE_METAL, *(env.model_copy(update={"accel": accel})
                                  if env.kind is Kind.VM else env
                                  for env in DEFAULT_ENVIRONMENTS)]
    spec = dict(values.get("stack_config") or {}) or None
    if spec is not None and spec.get("accel") is None:
        spec["accel"] = accel or "tcg"
    options = {**(values.get("options") or {}), "isolation": "none"}  # nothing was paused
    return {**values, "format": 2, "host_facts": host or None, "stack_config": spec,
            "options": options, "environments": [env.model_dump() for env in environments]}


def _record_values(row: sqlite3.Row) -> dict[str, Any]:
    values = {name: row[name] for name in RUN_COLUMNS}
    for name in JSON_COLUMNS:
        values[name] = None if values[name] is None else json.loads(values[name])
    if values["format"] == 1:
        values = _upgrade_format_1(values)
    values["plan"] = values["plan"] or []
    values["options"] = values["options"] or {}
    return {_RECORD_FIELD.get(k, k): v for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class StoredRun:
    """A run read once, whole: its record, facts per environment, and trials with samples."""

    record: RunRecord
    env_facts: dict[str, EnvFacts]
    trials: list[TrialRecord]

    @property
    def id(self) -> str:
        return self.record.id

    def samples(self) -> list[Sample]:
        """Every sample of the run's ok trials (warm-ups included), in the order they ran."""
        return [s for t in self.trials if t.status == "ok" for s in t.samples]

    def measured(self) -> list[Sample]:
        """The samples the statistics use: ok trials that are not warm-ups."""
        return [s for s in self.samples() if not s.warmup]

    def failed_trials(self) -> list[TrialRecord]:
        return [t for t in self.trials if t.status == "failed"]

    def completed_keys(self) -> set[tuple[str, str, int]]:
        """``(workload, env, trial)`` of every trial that finished ok."""
        return {t.key for t in self.trials if t.status == "ok"}

    def missing(self) -> list[PlannedTrial]:
        """The planned trials (in plan order) without an ok trial."""
        done = self.completed_keys()
        return [p for p in self.record.plan if p.key not in done]


class Store:
    """The results database at ``path`` (created, with its parent directories, if absent)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _refuse_emptied(self.path)
        try:
            self._conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise HostbenchError(f"cannot open results database {self.path}: {exc}") from exc
        self._conn.row_factory = sqlite3.Row
        try:
            self._setup()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise HostbenchError(f"cannot open results database {self.path}: {exc}") from exc
        except BaseException:
            self._conn.close()
            raise

    @classmethod
    def default(cls) -> Store:
        """The database under the results directory (``HOSTBENCH_RESULTS_DIR``)."""
        return cls(results_dir() / DB_FILENAME)

    def _setup(self) -> None:
        conn = self._conn
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise HostbenchError(f"{self.path}: cannot switch to WAL journal mode (got {mode})")
        # FULL: a commit survives a power cut too, not only a killed process.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        problems = [r[0] for r in conn.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise HostbenchError(
                f"{self.path} is damaged ({'; '.join(problems)}); the runs in it may be "
                "recoverable with `sqlite3 FILE .recover`: move it aside to start a new one")
        with self._tx():  # the write lock: another process may be creating or upgrading it
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "schema_version" not in tables:
                if tables:
                    raise HostbenchError(
                        f"{self.path} is an SQLite database but not a hostbench results "
                        f"database (tables: {', '.join(sorted(tables))})")
                _execute_all(conn, _SCHEMA_1)
                conn.execute("INSERT INTO schema_version VALUES (1)")
            version = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
            if version is None or version > SCHEMA_VERSION:
                raise HostbenchError(
                    f"{self.path}: results database schema version {version}, but this "
                    f"hostbench reads versions up to {SCHEMA_VERSION}; move the file aside to "
                    "start a new one, or use a newer hostbench")
            for target in range(version + 1, SCHEMA_VERSION + 1):
                _execute_all(conn, MIGRATIONS[target])
                conn.execute("UPDATE schema_version SET version = ?", (target,))

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, committed on success and rolled back on any exception; a write
        the disk refuses (full, read-only, I/O error) is named, with what to do."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise HostbenchError(f"{self.path}: another process kept the database busy "
                                     f"for 30 s ({exc}); try again when it is done") from None
            raise write_refused(self.path, exc) from None

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # --- runs --------------------------------------------------------------------------------

    def create_run(self, run: RunRecord) -> None:
        """Insert a new run; raise if its id already exists."""
        dumped = run.model_dump(mode="json")
        values = [_column_value(name, dumped[_RECORD_FIELD.get(name, name)])
                  for name in RUN_COLUMNS]
        sql = (f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) "
               f"VALUES ({', '.join('?' for _ in RUN_COLUMNS)})")
        try:
            with self._tx() as conn:
                conn.execute(sql, values)
        except sqlite3.IntegrityError as exc:
            if self._run_exists(run.id):
                raise HostbenchError(f"run {run.id} already exists in {self.path}") from exc
            raise

    def _run_exists(self, run_id: str) -> bool:
        return self._conn.execute("SELECT 1 FROM runs WHERE id = ?",
                                  (run_id,)).fetchone() is not None

    def _no_such_run(self, run_id: str) -> HostbenchError:
        known = [r[0] for r in self._conn.execute(
            "SELECT id FROM runs ORDER BY rowid DESC LIMIT 5")]
        listing = ", ".join(known) if known else "(none)"
        return HostbenchError(f"no run {run_id} in {self.path}; known runs: {listing}")

    def get_run(self, run_id: str) -> RunRecord:
        """The run's record; a HostbenchError naming the latest runs if there is none."""
        row = self._conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise self._no_such_run(run_id)
        return self._read(lambda: RunRecord.model_validate(_record_values(row)), f"run {run_id}")

    def latest_run_id(self) -> str | None:
        """The id of the most recently created run, or ``None`` if there is none."""
        row = self._conn.execute("SELECT id FROM runs ORDER BY rowid DESC LIMIT 1").fetchone()
        return None if row is None else row[0]

    def _update(self, run_id: str, **values: Any) -> None:
        names = list(values)
        assignments = ", ".join(f"{name} = ?" for name in names)
        with self._tx() as conn:
            cursor = conn.execute(f"UPDATE runs SET {assignments} WHERE id = ?",
                                  [*(_column_value(n, values[n]) for n in names), run_id])
            if cursor.rowcount == 0:
                raise self._no_such_run(run_id)

    def set_parity(self, run_id: str, parity: ParityVerdict) -> None:
        self._update(run_id, parity=parity.model_dump(mode="json"))

    def set_stopping(self, run_id: str, stopping: Stopping) -> None:
        self._update(run_id, stopping=stopping.model_dump(mode="json"))

    def set_lifecycle(self, run_id: str, settings: LifecycleSettings) -> None:
        self._update(run_id, lifecycle=settings.model_dump(mode="json"))

    def extend_plan(self, run_id: str, trials: list[PlannedTrial]) -> None:
        """Append rounds to a run's plan (``--repeat auto`` decides them as it goes); the trials
        already planned stay as stored, and nothing else of the run is read or written."""
        with self._tx() as conn:
            if not self._run_exists(run_id):
                raise self._no_such_run(run_id)
            conn.executemany("UPDATE runs SET plan = json_insert(coalesce(plan, '[]'), '$[#]', "
                             "json(?)) WHERE id = ?",
                             [(t.model_dump_json(), run_id) for t in trials])

    def latest_calibration(self, stack: str, hostname: str) -> StoredRun | None:
        """The newest complete `fab calibrate` run of this stack on this host."""
        row = self._conn.execute(
            "SELECT id FROM runs WHERE stack = ? AND status = 'complete' "
            "AND json_extract(options, '$.purpose') = 'calibration' "
            "AND json_extract(host_facts, '$.hostname') = ? ORDER BY rowid DESC LIMIT 1",
            (stack, hostname)).fetchone()
        return None if row is None else self.load(row[0])

    def reopen_run(self, run_id: str) -> None:
        """A resumed run is running again until it finishes."""
        self._update(run_id, status="running", finished_at=None)

    def finish_run(self, run_id: str, status: RunStatus, workload_seconds: float | None,
                   orchestration_seconds: float | None, wall_seconds: float | None,
                   finished_at: str | None = None,
                   orchestration: dict[str, float] | None = None) -> None:
        """Record how a run ended (complete, interrupted or failed), its time budget and where
        its orchestration went."""
        if status == "running":
            raise ValueError("finish_run: a finished run is not 'running'")
        self._update(run_id, status=status,
                     finished_at=finished_at if finished_at is not None else timestamp(),
                     workload_seconds=workload_seconds,
                     orchestration_seconds=orchestration_seconds, wall_seconds=wall_seconds,
                     orchestration=orchestration)

    # --- environment facts -------------------------------------------------------------------

    def put_env_facts(self, run_id: str, env: str, facts: EnvFacts,
                      collected_at: str | None = None) -> None:
        """Store (or replace, e.g. on resume) the facts collected in one environment."""
        if not self._run_exists(run_id):
            raise self._no_such_run(run_id)
        with self._tx() as conn:
            conn.execute("INSERT OR REPLACE INTO env_facts (run_id, env, facts, collected_at) "
                         "VALUES (?, ?, ?, ?)",
                         (run_id, env, facts.model_dump_json(), collected_at or timestamp()))

    # --- trials and samples ------------------------------------------------------------------

    def add_trial(self, trial: TrialRecord) -> int:
        """Store a trial and its samples in one transaction, committed before returning; returns
        the new trial's id."""
        if not self._run_exists(trial.run_id):
            raise self._no_such_run(trial.run_id)
        with self._tx() as conn:
            cursor = conn.execute(
                "INSERT INTO trials (run_id, workload, env, trial, warmup, position, status, "
                "error, command, started_at, duration_s, wall_s, raw_path, neighbours_cpu_s, "
                "accounting_note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (trial.run_id, trial.workload, trial.env, trial.trial, int(trial.warmup),
                 trial.position, trial.status, trial.error, trial.command, trial.started_at,
                 trial.duration_s, trial.wall_s, trial.raw_path, trial.neighbours_cpu_s,
                 trial.accounting_note))
            trial_id = cursor.lastrowid
            assert trial_id is not None
            conn.executemany(
                "INSERT INTO samples (trial_id, metric, value, unit, higher_is_better) "
                "VALUES (?, ?, ?, ?, ?)",
                [(trial_id, s.metric, s.value, s.unit, int(s.higher_is_better))
                 for s in trial.samples])
            conn.executemany(
                "INSERT INTO accounting (trial_id, name, value, unit) VALUES (?, ?, ?, ?)",
                [(trial_id, f.name, f.value, f.unit) for f in trial.accounting])
        return trial_id

    def load(self, run_id: str) -> StoredRun:
        """The whole run, read once: record, facts and every trial with its samples."""
        record = self.get_run(run_id)
        facts = {row["env"]: self._read(partial(EnvFacts.model_validate_json, row["facts"]),
                                        f"run {run_id}: facts of {row['env']}")
                 for row in self._conn.execute(
                     "SELECT env, facts FROM env_facts WHERE run_id = ? ORDER BY env", (run_id,))}
        samples: dict[int, list[sqlite3.Row]] = {}
        for row in self._conn.execute(
                "SELECT s.* FROM samples s JOIN trials t ON t.id = s.trial_id "
                "WHERE t.run_id = ? ORDER BY s.trial_id, s.metric", (run_id,)):
            samples.setdefault(row["trial_id"], []).append(row)
        figures: dict[int, list[sqlite3.Row]] = {}
        for row in self._conn.execute(
                "SELECT a.* FROM accounting a JOIN trials t ON t.id = a.trial_id "
                "WHERE t.run_id = ? ORDER BY a.trial_id, a.name", (run_id,)):
            figures.setdefault(row["trial_id"], []).append(row)
        trials = [self._read(partial(_trial, row, samples.get(row["id"], []),
                                     figures.get(row["id"], [])),
                             f"run {run_id}: trial {row['id']}")
                  for row in self._conn.execute(
                      "SELECT * FROM trials WHERE run_id = ? ORDER BY id", (run_id,))]
        return StoredRun(record, facts, trials)

    def _read(self, build: Callable[[], T], what: str) -> T:
        try:
            return build()
        except (pydantic.ValidationError, json.JSONDecodeError) as exc:
            raise HostbenchError(f"{self.path}: {what} cannot be read: {exc}") from None
        except RecursionError:
            raise HostbenchError(f"{self.path}: {what} cannot be read: its JSON is nested too "
                                 "deeply to be a record hostbench wrote") from None


def _refuse_emptied(path: Path) -> None:
    """An existing file of 0 bytes (and no write-ahead log) is what is left of a database whose
    runs are gone, not a new database: say so rather than start again over it."""
    wal = path.with_name(path.name + "-wal")
    if (path.is_file() and path.stat().st_size == 0
            and not (wal.is_file() and wal.stat().st_size > 0)):
        raise HostbenchError(f"{path} is empty (0 bytes): not a results database, and whatever "
                             "runs it held are gone; move it aside to start a new one")


def _execute_all(conn: sqlite3.Connection, script: str) -> None:
    """Each statement of ``script`` inside the current transaction (executescript would commit)."""
    for statement in filter(str.strip, script.split(";")):
        conn.execute(statement)


def _column_value(name: str, value: Any) -> Any:
    return json.dumps(value) if name in JSON_COLUMNS and value is not None else value


def _trial(row: sqlite3.Row, samples: list[sqlite3.Row], figures: list[sqlite3.Row]
           ) -> TrialRecord:
    values = {k: row[k] for k in row.keys() if k != "id"}  # noqa: SIM118 (sqlite3.Row)
    return TrialRecord(**{**values, "warmup": bool(row["warmup"]), "accounting": tuple(
        Figure(name=f["name"], value=f["value"], unit=f["unit"]) for f in figures), "samples": tuple(
        Sample(workload=row["workload"], env=row["env"], trial=row["trial"],
               warmup=bool(row["warmup"]), position=row["position"], metric=s["metric"],
               value=s["value"], unit=s["unit"], higher_is_better=bool(s["higher_is_better"]),
               timestamp=row["started_at"]) for s in samples)})
