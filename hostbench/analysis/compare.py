"""Run B against run A: how each workload metric changed, per environment present in both."""

from __future__ import annotations

from dataclasses import dataclass, replace

from hostbench.analysis import stats
from hostbench.analysis.overheads import Key, grouped
from hostbench.errors import HostbenchError
from hostbench.results.store import StoredRun
from hostbench.run.run_records import NOT_RECORDED, Margins, RunRecord

SINGLE_RUNS = ("this compares two single runs, trial against trial (unpaired: rounds of "
               "different runs have nothing in common): the interval covers the noise between "
               "trials within each run, not what differs from one run to the next (a boot, a "
               "placement, the host's state); repeat both runs before trusting a small change")
"""What a comparison of two runs does not cover, said in every comparison."""


@dataclass(frozen=True)
class Comparison:
    """One workload metric in one environment: B against A (``change.overhead_pct`` + is worse).

    ``change`` is ``stats.overhead(a_values, b_values, higher_is_better)``, unpaired: its
    ``ratio`` is B / A (geometric means), ``median_reference`` is A's median and
    ``median_other`` B's.
    """

    workload: str
    metric: str
    unit: str
    higher_is_better: bool
    env: str
    change: stats.Overhead


def env_labels(a: RunRecord, b: RunRecord) -> dict[str, str]:
    """How to name each environment across two runs (a VM's accel may differ between them)."""
    labels = {}
    for name in dict.fromkeys([e.name for e in a.environments] + [e.name for e in b.environments]):
        la, lb = a.label(name), b.label(name)
        if la == lb:
            labels[name] = la
        else:
            accel_a = next((e.accel for e in a.environments if e.name == name), None)
            accel_b = next((e.accel for e in b.environments if e.name == name), None)
            labels[name] = f"{name} ({accel_a or '?'} in A, {accel_b or '?'} in B)"
    return labels


def comparison_margins(a: RunRecord, b: RunRecord) -> Margins:
    """B is judged against A within B's margins (A's when B recorded none)."""
    return b.margins or a.margins or NOT_RECORDED


def _order(a: StoredRun, b: StoredRun) -> dict[str, int]:
    names = [e.name for e in a.record.environments] + [e.name for e in b.record.environments]
    return {name: i for i, name in enumerate(dict.fromkeys(names))}


def compare_runs(a: StoredRun, b: StoredRun) -> tuple[list[Comparison], list[str]]:
    """Every workload metric and environment measured in both runs, B against A; and one note
    per metric or environment that could not be compared."""
    a_values, a_meta = grouped(a.measured())
    b_values, b_meta = grouped(b.measured())
    order = _order(a, b)

    def sort_key(k: Key) -> tuple[str, str, int]:
        return (k[0], k[1], order.get(k[2], len(order)))

    common = sorted(set(a_values) & set(b_values), key=sort_key)
    margins = comparison_margins(a.record, b.record)
    if not common:
        def listing(values: dict[Key, list[float]]) -> str:
            if not values:
                return "no measured samples"
            envs = sorted({k[2] for k in values}, key=lambda e: order.get(e, len(order)))
            return f"{', '.join(sorted({k[0] for k in values}))} in {', '.join(envs)}"
        raise HostbenchError(f"runs {a.id} and {b.id} have no workload metric measured in the "
                             f"same environment: {a.id} has {listing(a_values)}; {b.id} has "
                             f"{listing(b_values)}")
    results, notes = [], [SINGLE_RUNS]
    for key in common:
        workload, metric, env = key
        unit, higher = a_meta[(workload, metric)]
        if b_meta[(workload, metric)] != (unit, higher):
            notes.append(f"{workload} {metric}: unit or direction differs between the runs "
                         f"({unit} vs {b_meta[(workload, metric)][0]}); not compared")
        elif min(a_values[key]) <= 0:
            notes.append(f"{workload} {metric} on {env}: run {a.id} has a value <= 0, so no "
                         "ratio can be formed; not compared")
        else:
            results.append(Comparison(workload, metric, unit, higher, env, stats.overhead(
                a_values[key], b_values[key], higher_is_better=higher,
                margin_pct=margins.of(workload, metric))))
    held = stats.with_holm([c.change for c in results])
    results = [replace(c, change=o) for c, o in zip(results, held, strict=True) if o is not None]
    for run_id, mine, other in ((a.id, a_values, b_values), (b.id, b_values, a_values)):
        only = sorted(set(mine) - set(other), key=sort_key)
        if only:
            notes.append(f"only in {run_id}: " + ", ".join(f"{w} {m} on {e}" for w, m, e in only))
    return results, notes
