"""Where the time went: each environment's accounting figures per unit of work beside bare
metal's, paired by round (the trial number) on the log scale of the overheads, the split of the
host CPUs' time per trial, and which trials' accounting is incomplete. Evidence, not causes."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from hostbench.analysis.effects import paired_effect
from hostbench.analysis.rule import ALPHA, MIN_PAIRS, interval
from hostbench.analysis.stats import Estimate
from hostbench.run.procfs import CPU_FIELDS
from hostbench.run.run_records import TrialRecord
from hostbench.stack.environments import Environment

WAITING = ("idle", "iowait")
"""CPU states that are no work: busy time is every other state (guest time included)."""
BUSY = tuple(s for s in CPU_FIELDS if s not in WAITING)
CORES = {"measured": "measured cores", "other": "other cores"}
MACHINERY = ("qemu", "qemu.vcpu", "qemu.main", "qemu.other", "vhost", "shim", "runsc.sentry",
             "runsc.gofer", "container", "dockerd", "containerd")
"""The host-side groups of the accounting (``host.<group>``), in the order shown."""
OWN_PARTS = frozenset(f"host {group}" for group in MACHINERY
                      if group not in ("qemu", "container", "dockerd", "containerd"))
"""The machinery an environment runs on that bare metal has none of, split into its parts
(QEMU's total and the container's cgroup hold the workload itself; the engine's daemons run
whatever is measured)."""
RUSAGE = {"system": ("system time", "CPU-s"),
          "voluntary_switches": ("voluntary context switches", ""),
          "involuntary_switches": ("involuntary context switches", "")}
WORK_QUANTITIES = {"MiB": ("GiB", 1024.0), "MB": ("GB", 1000.0), "GB": ("GB", 1.0),
                   "GiB": ("GiB", 1.0), "Gbit": ("Gbit", 1.0), "Gbits": ("Gbit", 1.0),
                   "Mbit": ("Gbit", 1000.0), "Mbits": ("Gbit", 1000.0), "GFLOP": ("GFLOP", 1.0),
                   "GUP": ("GUP", 1.0)}
"""What a rate's quantity is counted in, and how many of it make one unit of work; any other
quantity (requests, events, IO, transactions) per 1,000."""
TOP = 3  # accounting figures named per evidence line
OWN = 2  # machinery parts named per evidence line


@dataclass(frozen=True)
class Derived:
    """One evidence figure: the sum of accounting figures ``names``; where one is absent, 0 if
    ``absent_is_zero`` and the trial's accounting is complete, else the trial lacks it."""

    label: str
    unit: str  # "CPU-s", or "" for a count
    names: tuple[str, ...]
    absent_is_zero: bool = False


DERIVED: tuple[Derived, ...] = (
    *(Derived(f"host CPU busy, {where}", "CPU-s", tuple(f"cpu.{key}.{s}" for s in BUSY))
      for key, where in CORES.items()),
    Derived("softirq on the host", "CPU-s", ("cpu.measured.softirq", "cpu.other.softirq")),
    Derived("NET_RX softirqs", "", ("softirq.NET_RX",)),
    Derived("NET_TX softirqs", "", ("softirq.NET_TX",)),
    *(Derived(f"host {group}", "CPU-s", (f"host.{group}",), absent_is_zero=True)
      for group in MACHINERY),
    *(Derived(f"{prefix} {label}", unit, (f"{prefix}.{name}",))
      for prefix in ("workload", "loadgen") for name, (label, unit) in RUSAGE.items()),
)
"""The figures compared: a machinery group a trial with complete accounting lacks did not
run (0 s); the command's rusage is ``workload`` inside the environment, or for a service the
host's load generator (``loadgen``)."""


@dataclass(frozen=True)
class Work:
    """What one trial's figures are divided by: a rate times the trial's duration, or 1."""

    label: str  # "per Gbit", "per 1,000 requests", "per trial"
    metric: str | None  # the rate it comes from; None: per trial (each does fixed work)
    scale: float  # units of the rate's quantity in one unit of work

    def amount(self, trial: TrialRecord) -> float | None:
        """The work ``trial`` did, or None if its rate or duration is missing."""
        if self.metric is None:
            return 1.0
        value = next((s.value for s in trial.samples if s.metric == self.metric), None)
        if value is None or not trial.duration_s:
            return None
        return value * trial.duration_s / self.scale


PER_TRIAL = Work("per trial", None, 1.0)


def work_of(metric: str, unit: str, higher_is_better: bool) -> Work:
    """The unit of work of a workload whose first metric is ``metric``: its quantity when that
    is a rate (``Gbit/s`` -> per Gbit, ``requests/s`` -> per 1,000 requests), else per trial."""
    quantity, slash, per = unit.partition("/")
    if not (higher_is_better and slash and per.split(" ")[0] in ("s", "sec")):
        return PER_TRIAL
    quantity = quantity.strip()
    name, scale = WORK_QUANTITIES.get(quantity, (f"1,000 {quantity}", 1000.0))
    return Work(f"per {name}", metric, scale)


@dataclass(frozen=True)
class EvidenceRow:
    """One figure per unit of work, bare metal's against an environment's, over paired rounds."""

    label: str
    unit: str
    bare: float  # mean per unit of work over the paired rounds
    other: float
    pairs: int
    dropped: int  # rounds where one side lacks the figure
    ratio: Estimate | None  # other / bare, exp(mean log ratio) with its CI; None: a side was 0

    @property
    def difference(self) -> float:
        return self.other - self.bare

    @property
    def clear(self) -> bool:
        """Its interval excludes x1: the data carry a difference (not its cause)."""
        r = self.ratio
        return r is not None and self.pairs >= MIN_PAIRS and (r.low > 1.0 or r.high < 1.0)


def _distance(row: EvidenceRow) -> float:
    """How far a row's ratio is from x1, either way, on the log scale."""
    return abs(math.log(row.ratio.value)) if row.ratio else 0.0


@dataclass(frozen=True)
class Evidence:
    """One workload in one environment against bare metal: every figure per unit of work."""

    workload: str
    env: Environment
    work: Work
    rows: tuple[EvidenceRow, ...]

    def top(self, count: int = TOP) -> list[EvidenceRow]:
        """The figures that differ most from bare metal's (clearly, by the log of the ratio)."""
        return sorted((r for r in self.rows if r.clear), key=_distance, reverse=True)[:count]

    def own(self, count: int = OWN) -> list[EvidenceRow]:
        """The environment's own machinery, which bare metal does not have (its QEMU's
        threads, its shim, gVisor's sentry), the largest first: the parts, not their total."""
        parts = [r for r in self.rows if r.label in OWN_PARTS and r.bare == 0 and r.other > 0]
        return sorted(parts, key=lambda r: r.other, reverse=True)[:count]


@dataclass(frozen=True)
class CpuSplit:
    """Where the measured cores' and the other cores' time went: mean seconds per trial."""

    workload: str
    env: Environment
    trials: int
    states: dict[str, dict[str, float]]  # "measured" / "other" -> state -> seconds


@dataclass(frozen=True)
class AccountingNote:
    """An environment's measured trials whose accounting is incomplete, and one reason."""

    env: Environment
    trials: int
    of: int
    example: str


@dataclass(frozen=True)
class RunEvidence:
    evidence: tuple[Evidence, ...]
    cpu: tuple[CpuSplit, ...]
    notes: tuple[AccountingNote, ...]

    def of(self, workload: str, env: str) -> Evidence | None:
        return next((e for e in self.evidence if (e.workload, e.env.name) == (workload, env)),
                    None)


def _value(derived: Derived, figures: Mapping[str, float], complete: bool) -> float | None:
    """``derived`` of one trial's figures, or None if the trial lacks it."""
    if not figures:
        return None
    total = 0.0
    for name in derived.names:
        if name in figures:
            total += figures[name]
        elif not (derived.absent_is_zero and complete):
            return None
    return total


def per_round(trials: Iterable[TrialRecord], derived: Derived, work: Work) -> dict[int, float]:
    """``derived`` per unit of work of each trial (keyed by its round) that has both."""
    found = {}
    for t in trials:
        amount = work.amount(t)
        value = _value(derived, {f.name: f.value for f in t.accounting},
                       t.accounting_note is None)
        if value is not None and amount:
            found[t.trial] = value / amount
    return found


def compare_figure(derived: Derived, bare: Mapping[int, float], other: Mapping[int, float],
                   alpha: float = ALPHA) -> EvidenceRow | None:
    """Bare metal's and another environment's per-round values of one figure, paired; None
    when no round has it on both sides, or both sides are 0 in every round (nothing ran)."""
    rounds = sorted(set(bare) & set(other))
    mine = {r: other[r] for r in rounds}
    ref = {r: bare[r] for r in rounds}
    if not any([*mine.values(), *ref.values()]):
        return None
    ratio = None
    if min([*mine.values(), *ref.values()]) > 0:
        effect = paired_effect(ref, mine, higher_is_better=False)
        low, high = ((-math.inf, math.inf) if effect.n < MIN_PAIRS else
                     (float(x) for x in interval(effect.mean, effect.se, effect.df, alpha)))
        ratio = Estimate(math.exp(effect.mean), math.exp(low), math.exp(high))
    return EvidenceRow(derived.label, derived.unit, sum(ref.values()) / len(rounds),
                       sum(mine.values()) / len(rounds), len(rounds),
                       len(set(bare) ^ set(other)), ratio)


def _measured(trials: Iterable[TrialRecord]) -> dict[tuple[str, str], list[TrialRecord]]:
    """Ok measured trials by workload and environment, in the order they ran."""
    groups: dict[tuple[str, str], list[TrialRecord]] = defaultdict(list)
    for t in trials:
        if t.status == "ok" and not t.warmup:
            groups[(t.workload, t.env)].append(t)
    return groups


def _work(trials: Sequence[TrialRecord], first: str | None) -> Work:
    """The unit of work of a workload from its ``first`` metric (where its file is gone, the
    first one stored: the store keeps a trial's samples in the order of their names)."""
    samples = [s for t in trials for s in t.samples if first in (None, s.metric)]
    return work_of(samples[0].metric, samples[0].unit, samples[0].higher_is_better) \
        if samples else PER_TRIAL


def _cpu_split(workload: str, env: Environment, trials: Sequence[TrialRecord]
               ) -> CpuSplit | None:
    """The mean seconds per trial of each CPU state, over the trials that have them."""
    figures = [{f.name: f.value for f in t.accounting} for t in trials]
    mine = [f for f in figures if any(n.startswith("cpu.") for n in f)]
    if not mine:
        return None
    return CpuSplit(workload, env, len(mine), {
        key: {s: sum(f.get(f"cpu.{key}.{s}", 0.0) for f in mine) / len(mine) for s in CPU_FIELDS}
        for key in CORES})


def _note(env: Environment, trials: Sequence[TrialRecord]) -> AccountingNote | None:
    noted = [t.accounting_note for t in trials if t.accounting_note]
    return AccountingNote(env, len(noted), len(trials), noted[0]) if noted else None


def run_evidence(trials: Iterable[TrialRecord], environments: Sequence[Environment],
                 first_metrics: Mapping[str, str], alpha: float = ALPHA) -> RunEvidence:
    """Every workload's evidence, CPU split and accounting notes, environments in run order (a
    run stored before accounting existed has none); ``first_metrics``: each workload's first
    metric as its file declares it."""
    groups = _measured(trials)
    evidence, cpu, notes = [], [], []
    for workload in dict.fromkeys(w for w, _ in groups):
        bare_trials = next((groups[(workload, e.name)] for e in environments
                            if e.is_baseline and (workload, e.name) in groups), [])
        work = _work([t for (w, _), ts in groups.items() if w == workload for t in ts],
                     first_metrics.get(workload))
        for env in environments:
            mine = groups.get((workload, env.name), [])
            split = _cpu_split(workload, env, mine)
            if split is not None:
                cpu.append(split)
            if env.is_baseline or not mine or not bare_trials:
                continue
            rows = tuple(row for d in DERIVED if (row := compare_figure(
                d, per_round(bare_trials, d, work), per_round(mine, d, work), alpha)))
            if rows:
                evidence.append(Evidence(workload, env, work, rows))
    for env in environments:
        mine = [t for (_, e), ts in groups.items() if e == env.name for t in ts]
        if note := _note(env, mine):
            notes.append(note)
    return RunEvidence(tuple(evidence), tuple(cpu), tuple(notes))
