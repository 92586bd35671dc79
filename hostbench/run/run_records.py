"""The records a benchmark produces: its options, the run, each trial and each sample.

One ``Sample`` type goes from the parser's values to the export; unit and direction come from
the parser's declaration of the metric.
"""

from __future__ import annotations

import math
import secrets
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from hostbench.margins import DEFAULT_MARGIN_PCT, margin_text
from hostbench.record_base import Record
from hostbench.run.facts import HostFacts
from hostbench.run.neighbours import Isolation
from hostbench.run.parity import ParityVerdict
from hostbench.run.schedule import PlannedTrial
from hostbench.stack.environments import Environment
from hostbench.stack.spec import StackSpec

RUN_FORMAT = 3
"""Version of the run record's shape; runs stored in format 1 are read and upgraded."""

RunStatus = Literal["running", "complete", "interrupted", "failed"]
TrialStatus = Literal["ok", "failed"]


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {value!r}")
    return value


FiniteFloat = Annotated[float, AfterValidator(_finite)]


def timestamp(now: datetime | None = None) -> str:
    """ISO 8601 timestamp with milliseconds and UTC offset (default: now, in UTC)."""
    moment = now if now is not None else datetime.now(UTC)
    return moment.isoformat(timespec="milliseconds")


def new_run_id(now: datetime | None = None) -> str:
    """A run id like ``20261126-150102-3f2a``: local date and time plus 4 random hex digits."""
    moment = now if now is not None else datetime.now().astimezone()
    return f"{moment:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


class Sample(Record):
    """One measured value: a metric of one trial of one workload in one environment."""

    workload: str
    env: str
    trial: int
    warmup: bool
    position: int
    metric: str
    value: FiniteFloat
    unit: str
    higher_is_better: bool
    timestamp: str  # when its trial started


class Figure(Record):
    """One accounting figure of a trial: where time or events went while it ran (seconds of
    a CPU state or a host process, a count of softirqs or context switches, KiB)."""

    name: str
    value: FiniteFloat
    unit: Literal["s", "count", "KiB"]


class TrialRecord(Record):
    """One trial as it ran: ok with its samples, or failed with the reason."""

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
    duration_s: float | None = None  # measured inside the environment
    error: str | None = None
    raw_path: str | None = None
    neighbours_cpu_s: float | None = None  # host CPU the other environments used meanwhile
    samples: tuple[Sample, ...] = ()
    accounting: tuple[Figure, ...] = ()  # where the time went while it ran
    accounting_note: str | None = None  # why some or all of its accounting is missing

    @property
    def key(self) -> tuple[str, str, int]:
        """``(workload, env, trial)``: what identifies a planned trial."""
        return (self.workload, self.env, self.trial)


class Margins(Record):
    """The practical margin m of every verdict of a run, per workload (its file, or --margin),
    and the host's noise floor per metric (from a `fab calibrate` run): the smallest difference
    the host can tell, which never widens m."""

    workloads: dict[str, float] = Field(default_factory=dict)
    source: Literal["workload files", "command line", "not recorded"] = "workload files"
    floors: dict[str, float] = Field(default_factory=dict)  # "workload metric" -> floor, %
    floor_run: str | None = None
    floor_stale: str = ""  # why the calibration no longer matches the host, if it does not

    def of(self, workload: str, metric: str) -> float:
        return self.workloads.get(workload, DEFAULT_MARGIN_PCT)

    def floor(self, workload: str, metric: str) -> float:
        return self.floors.get(f"{workload} {metric}", 0.0)

    def describe(self, workload: str, metric: str) -> str:
        """Where the margin of a metric comes from, for the report."""
        m = margin_text(self.of(workload, metric))
        floor = self.floor(workload, metric)
        source = ("this run recorded no margin: the default is applied"
                  if self.source == "not recorded" else f"from the {self.source}")
        if floor:
            source += (f"; the host's noise floor +-{margin_text(floor)}% from calibration run "
                       f"{self.floor_run}")
        return f"+-{m}% ({source})"


NOT_RECORDED = Margins(source="not recorded")
"""What a run stored before margins existed is judged with."""


class Stopping(Record):
    """How `--repeat auto` decided the rounds of each workload."""

    minimum: int
    maximum: int
    budget_s: float
    looks: tuple[int, ...] = ()  # the planned round counts at which the rule looked
    rounds: dict[str, int] = Field(default_factory=dict)  # workload -> measured rounds run
    reasons: dict[str, str] = Field(default_factory=dict)  # workload -> why it stopped


Purpose = Literal["benchmark", "calibration", "lifecycle"]


class DensityOutcome(Record):
    """How far `fab lifecycle --density` went with one environment, and why it stopped."""

    env: str
    instances: int  # the most that ran at once
    stopped: str


class LifecycleSettings(Record):
    """What `fab lifecycle` measured with, and what it found about the host (stored with the
    run)."""

    settle_s: float  # idle time before the footprint is read
    idle_window_s: float  # the window the idle CPU time is measured over
    poll_s: float  # how often an event is looked for: the resolution of the step times
    margin_pct: float  # of the container-against-VM verdicts
    density: bool = False
    density_max: int = 0
    density_memory_mib: int = 0
    memory_budget_mib: float = 0.0
    time_budget_s: float = 0.0
    ksm: str = ""  # whether the kernel merges identical pages (KSM), which lowers VM density cost
    density_outcomes: tuple[DensityOutcome, ...] = ()


class BenchmarkOptions(Record):
    """What `fab benchmark` (or `fab calibrate`) was asked to do (stored with the run, restored
    on --resume)."""

    stack: str = "local"
    targets_file: str | None = None
    suite: str = "quick"
    repeat: int | Literal["auto"] = 5
    min_repeat: int = 3  # with repeat auto: the rounds every workload gets
    max_repeat: int = 15  # with repeat auto: the rounds no workload goes beyond
    budget_min: float | None = None  # with repeat auto: the time budget (default: see plan)
    margin: float | None = None  # overrides every workload's margin_pct
    warmup: int = 1
    workloads: tuple[str, ...] = ()
    envs: tuple[str, ...] = ()
    dry_run: bool = False
    resume: str | None = None
    allow_mismatch: bool = False
    isolation: Isolation = "pause"
    neighbour: tuple[str, ...] = ()  # stressors run beside each measured trial, paired by round
    neighbour_cores: tuple[int, ...] = ()  # the neighbour's cores (default: the others)
    accounting: bool = True  # where each trial's time went, snapshotted around it
    purpose: Purpose = "benchmark"
    command_line: str = ""


MetricNames = dict[str, tuple[str, ...]]
"""Each workload of a catalogue with its metric names in declared order (the first is its unit
of work): what a run's analysis and report need of the workload files it was planned from."""


class RunRecord(Record):
    """One benchmark run: what was planned, where, and its context."""

    format: int = RUN_FORMAT
    id: str
    started_at: str
    finished_at: str | None = None
    status: RunStatus = "running"
    stack: str
    suite: str
    command_line: str | None = None
    git_commit: str | None = None
    image_hash: str | None = None
    environments: tuple[Environment, ...]
    plan: tuple[PlannedTrial, ...] = ()
    options: BenchmarkOptions = BenchmarkOptions()
    host: HostFacts | None = None
    spec: StackSpec | None = None
    parity: ParityVerdict | None = None
    margins: Margins | None = None
    stopping: Stopping | None = None
    lifecycle: LifecycleSettings | None = None
    catalogue: MetricNames | None = None  # None: stored before runs kept their catalogue
    workload_seconds: float | None = None
    orchestration_seconds: float | None = None
    wall_seconds: float | None = None
    orchestration: dict[str, float] | None = None  # seconds per phase (hostbench.run.phases)

    @property
    def purpose(self) -> Purpose:
        return self.options.purpose

    def environment(self, name: str) -> Environment:
        for env in self.environments:
            if env.name == name:
                return env
        raise KeyError(name)

    def label(self, name: str) -> str:
        """How reports name the environment ``name`` (a TCG VM says so)."""
        try:
            return self.environment(name).label
        except KeyError:
            return name

    @property
    def verdict_margins(self) -> Margins:
        return self.margins or NOT_RECORDED

    @property
    def vm_accels(self) -> set[str]:
        return {env.accel for env in self.environments if env.accel}
