"""Results database: every run, its environment facts, trials and samples, in one SQLite file.

Each trial is committed (with its samples) in its own transaction the moment it is added, so a
run that is interrupted -- even by SIGKILL -- loses nothing that was already recorded, and a
later ``hostbench run --resume`` can tell which planned trials are still missing.

The file is written by one process at a time; it is in WAL mode, so readers (``report``,
``status``) may read it while a run is going.
"""

from __future__ import annotations

import json
import math
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from hostbench.errors import HostbenchError
from hostbench.paths import results_dir

SCHEMA_VERSION = 1
DB_FILENAME = "hostbench.sqlite"

RunStatus = Literal["running", "complete", "interrupted", "failed"]
TrialStatus = Literal["ok", "failed"]
RUN_STATUSES: frozenset[str] = frozenset({"running", "complete", "interrupted", "failed"})
TRIAL_STATUSES: frozenset[str] = frozenset({"ok", "failed"})
FINAL_RUN_STATUSES: frozenset[str] = RUN_STATUSES - {"running"}

JSON_COLUMNS: frozenset[str] = frozenset(
    {"plan", "options", "host_facts", "stack_config", "tool_versions", "parity"}
)
"""Columns of ``runs`` stored as JSON text and handled as Python objects."""

_SCHEMA = """
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


def timestamp(now: datetime | None = None) -> str:
    """ISO 8601 timestamp with milliseconds and UTC offset (default: now, in UTC)."""
    moment = now if now is not None else datetime.now(UTC)
    return moment.isoformat(timespec="milliseconds")


def new_run_id(now: datetime | None = None) -> str:
    """A run id like ``20261126-150102-3f2a``: local date and time plus 4 random hex digits."""
    moment = now if now is not None else datetime.now().astimezone()
    return f"{moment:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


@dataclass
class RunRecord:
    """One row of ``runs``; the JSON columns are plain Python objects."""

    id: str
    started_at: str
    stack: str
    suite: str
    status: RunStatus = "running"
    finished_at: str | None = None
    command_line: str | None = None
    git_commit: str | None = None
    image_hash: str | None = None
    plan: list[dict[str, Any]] = field(default_factory=list)
    options: dict[str, Any] | None = None
    host_facts: dict[str, Any] | None = None
    stack_config: dict[str, Any] | None = None
    tool_versions: dict[str, Any] | None = None
    parity: dict[str, Any] | None = None
    workload_seconds: float | None = None
    orchestration_seconds: float | None = None
    wall_seconds: float | None = None


RUN_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(RunRecord))


@dataclass
class TrialRecord:
    """One row of ``trials``: one execution of a workload in an environment.

    ``duration_s`` is the time measured inside the environment (``None`` if the workload
    does not report one); ``wall_s`` is the time measured by the orchestrator.  ``id`` is
    ``None`` until the trial is stored.
    """

    run_id: str
    workload: str
    env: str
    trial: int
    warmup: bool
    position: int
    status: TrialStatus
    command: str
    started_at: str
    wall_s: float | None = None
    duration_s: float | None = None
    error: str | None = None
    raw_path: str | None = None
    id: int | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        """``(workload, env, trial)``: what identifies a planned trial."""
        return (self.workload, self.env, self.trial)


@dataclass
class SampleRecord:
    """One metric of one trial."""

    metric: str
    value: float
    unit: str
    higher_is_better: bool


@dataclass
class SampleRow:
    """A sample joined with the trial it belongs to (what the statistics need)."""

    trial_id: int
    workload: str
    env: str
    trial: int
    warmup: bool
    position: int
    status: TrialStatus
    metric: str
    value: float
    unit: str
    higher_is_better: bool


def _encode(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _decode(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _trial_from_row(row: sqlite3.Row) -> TrialRecord:
    return TrialRecord(**{**dict(row), "warmup": bool(row["warmup"])})


def _run_from_row(row: sqlite3.Row) -> RunRecord:
    values = {name: row[name] for name in RUN_COLUMNS}
    for name in JSON_COLUMNS:
        values[name] = _decode(values[name])
    if values["plan"] is None:
        values["plan"] = []
    return RunRecord(**values)


class Store:
    """The results database at ``path`` (created, with its parent directories, if absent)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
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
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "schema_version" not in tables:
            if tables:
                raise HostbenchError(
                    f"{self.path} is an SQLite database but not a hostbench results database "
                    f"(tables: {', '.join(sorted(tables))})"
                )
            with self._tx():
                # Re-check inside the write lock: another process may have just created it.
                if not conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE name = 'schema_version'"
                ).fetchone():
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        version = row[0] if row else None
        if version != SCHEMA_VERSION:
            raise HostbenchError(
                f"{self.path}: results database schema version {version}, but this hostbench "
                f"reads version {SCHEMA_VERSION}; move the file aside to start a new one"
            )

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, committed on success and rolled back on any exception."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- runs --------------------------------------------------------------------------------

    def create_run(self, run: RunRecord) -> None:
        """Insert a new run; raise if its id already exists."""
        if run.status not in RUN_STATUSES:
            raise ValueError(f"run status {run.status!r} is not one of {sorted(RUN_STATUSES)}")
        values = [
            _encode(getattr(run, name)) if name in JSON_COLUMNS else getattr(run, name)
            for name in RUN_COLUMNS
        ]
        sql = (
            f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in RUN_COLUMNS)})"
        )
        try:
            with self._tx() as conn:
                conn.execute(sql, values)
        except sqlite3.IntegrityError as exc:
            if self._run_exists(run.id):
                raise HostbenchError(f"run {run.id} already exists in {self.path}") from exc
            raise

    def _run_exists(self, run_id: str) -> bool:
        return (
            self._conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is not None
        )

    def _no_such_run(self, run_id: str) -> HostbenchError:
        known = [
            r[0] for r in self._conn.execute("SELECT id FROM runs ORDER BY rowid DESC LIMIT 5")
        ]
        listing = ", ".join(known) if known else "(none)"
        return HostbenchError(f"no run {run_id} in {self.path}; known runs: {listing}")

    def get_run(self, run_id: str) -> RunRecord:
        """The run with this id; a HostbenchError naming the latest runs if there is none."""
        row = self._conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise self._no_such_run(run_id)
        return _run_from_row(row)

    def list_runs(self, limit: int = 20) -> list[RunRecord]:
        """The most recently created runs, newest first."""
        rows = self._conn.execute("SELECT * FROM runs ORDER BY rowid DESC LIMIT ?", (limit,))
        return [_run_from_row(row) for row in rows]

    def latest_run_id(self) -> str | None:
        """The id of the most recently created run, or ``None`` if there is none."""
        row = self._conn.execute("SELECT id FROM runs ORDER BY rowid DESC LIMIT 1").fetchone()
        return None if row is None else row[0]

    def update_run(self, run_id: str, **values: Any) -> None:
        """Set some columns of a run (JSON columns take Python objects)."""
        unknown = sorted(name for name in values if name not in RUN_COLUMNS or name == "id")
        if unknown:
            settable = ", ".join(c for c in RUN_COLUMNS if c != "id")
            raise ValueError(
                f"update_run: unknown or read-only column(s) {', '.join(unknown)}; "
                f"settable: {settable}"
            )
        if not values:
            return
        if "status" in values and values["status"] not in RUN_STATUSES:
            raise ValueError(
                f"run status {values['status']!r} is not one of {sorted(RUN_STATUSES)}"
            )
        names = list(values)
        params = [_encode(values[n]) if n in JSON_COLUMNS else values[n] for n in names]
        assignments = ", ".join(f"{name} = ?" for name in names)
        with self._tx() as conn:
            cursor = conn.execute(f"UPDATE runs SET {assignments} WHERE id = ?", [*params, run_id])
            if cursor.rowcount == 0:
                raise self._no_such_run(run_id)

    def finish_run(
        self,
        run_id: str,
        status: RunStatus,
        workload_seconds: float | None,
        orchestration_seconds: float | None,
        wall_seconds: float | None,
        finished_at: str | None = None,
    ) -> None:
        """Record how a run ended (complete, interrupted or failed) and its time budget."""
        if status not in FINAL_RUN_STATUSES:
            raise ValueError(
                f"finish_run: status {status!r} is not one of {sorted(FINAL_RUN_STATUSES)}"
            )
        self.update_run(
            run_id,
            status=status,
            finished_at=finished_at if finished_at is not None else timestamp(),
            workload_seconds=workload_seconds,
            orchestration_seconds=orchestration_seconds,
            wall_seconds=wall_seconds,
        )

    # --- environment facts -------------------------------------------------------------------

    def put_env_facts(
        self, run_id: str, env: str, facts: dict[str, Any], collected_at: str | None = None
    ) -> None:
        """Store (or replace, e.g. on resume) the facts collected in one environment."""
        if not self._run_exists(run_id):
            raise self._no_such_run(run_id)
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO env_facts (run_id, env, facts, collected_at) "
                "VALUES (?, ?, ?, ?)",
                (run_id, env, json.dumps(facts), collected_at or timestamp()),
            )

    def env_facts(self, run_id: str) -> dict[str, dict[str, Any]]:
        """The facts of each environment of a run, by environment name."""
        rows = self._conn.execute(
            "SELECT env, facts FROM env_facts WHERE run_id = ? ORDER BY env", (run_id,)
        )
        return {row["env"]: json.loads(row["facts"]) for row in rows}

    # --- trials and samples ------------------------------------------------------------------

    def add_trial(self, trial: TrialRecord, samples: list[SampleRecord]) -> int:
        """Store a trial and its samples in one transaction, committed before returning.

        Returns the new trial id (also set on ``trial.id``).
        """
        if trial.status not in TRIAL_STATUSES:
            raise ValueError(
                f"trial status {trial.status!r} is not one of {sorted(TRIAL_STATUSES)}"
            )
        for sample in samples:
            if not math.isfinite(sample.value):
                raise ValueError(
                    f"{trial.workload}/{trial.env} trial {trial.trial}: metric {sample.metric} "
                    f"has a non-finite value {sample.value!r}"
                )
        if not self._run_exists(trial.run_id):
            raise self._no_such_run(trial.run_id)
        with self._tx() as conn:
            cursor = conn.execute(
                "INSERT INTO trials (run_id, workload, env, trial, warmup, position, status, "
                "error, command, started_at, duration_s, wall_s, raw_path) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    trial.run_id,
                    trial.workload,
                    trial.env,
                    trial.trial,
                    int(bool(trial.warmup)),
                    trial.position,
                    trial.status,
                    trial.error,
                    trial.command,
                    trial.started_at,
                    trial.duration_s,
                    trial.wall_s,
                    trial.raw_path,
                ),
            )
            trial_id = cursor.lastrowid
            assert trial_id is not None
            conn.executemany(
                "INSERT INTO samples (trial_id, metric, value, unit, higher_is_better) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (trial_id, s.metric, float(s.value), s.unit, int(bool(s.higher_is_better)))
                    for s in samples
                ],
            )
        trial.id = trial_id
        return trial_id

    def trials(self, run_id: str, status: TrialStatus | None = None) -> list[TrialRecord]:
        """A run's trials in the order they were stored, optionally only those with ``status``."""
        sql = "SELECT * FROM trials WHERE run_id = ?"
        params: list[Any] = [run_id]
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        rows = self._conn.execute(sql + " ORDER BY id", params)
        return [_trial_from_row(row) for row in rows]

    def samples(self, run_id: str) -> list[SampleRow]:
        """Every sample of a run with its trial's identity (warmups and failed trials too)."""
        rows = self._conn.execute(
            "SELECT t.id AS trial_id, t.workload, t.env, t.trial, t.warmup, t.position, "
            "t.status, s.metric, s.value, s.unit, s.higher_is_better "
            "FROM samples s JOIN trials t ON t.id = s.trial_id "
            "WHERE t.run_id = ? ORDER BY t.id, s.metric",
            (run_id,),
        )
        return [
            SampleRow(**{**dict(row), "warmup": bool(row["warmup"]),
                         "higher_is_better": bool(row["higher_is_better"])})
            for row in rows
        ]

    def completed_keys(self, run_id: str) -> set[tuple[str, str, int]]:
        """``(workload, env, trial)`` of every trial of the run that finished ok."""
        rows = self._conn.execute(
            "SELECT DISTINCT workload, env, trial FROM trials WHERE run_id = ? AND status = 'ok'",
            (run_id,),
        )
        return {(row[0], row[1], row[2]) for row in rows}

    def missing(self, run_id: str) -> list[dict[str, Any]]:
        """The planned trials (dicts from the run's plan, in plan order) without an ok trial.

        A plan entry is identified by its ``workload``, ``env`` and ``trial`` keys.
        """
        run = self.get_run(run_id)
        done = self.completed_keys(run_id)
        result = []
        for index, entry in enumerate(run.plan):
            try:
                key = (entry["workload"], entry["env"], int(entry["trial"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise HostbenchError(
                    f"{self.path}: run {run_id}: plan entry {index} ({entry!r}) lacks a "
                    f"workload, env or integer trial"
                ) from exc
            if key not in done:
                result.append(dict(entry))
        return result
