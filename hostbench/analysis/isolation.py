"""The victim's loss beside each stressor: every environment measured beside a neighbour against
itself measured quiet in the same rounds, and the isolation table (stressors by kind)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hostbench.analysis import stats
from hostbench.analysis.overheads import grouped_samples
from hostbench.run.conditions import split
from hostbench.run.run_records import NOT_RECORDED, Margins, Sample
from hostbench.stack.environments import KIND_ORDER, Environment


@dataclass(frozen=True)
class Loss:
    """One workload metric of one environment beside one stressor, against itself quiet."""

    stressor: str
    env: Environment
    workload: str
    metric: str
    rounds: tuple[int, ...]  # the rounds measured both quiet and beside the stressor
    overhead: stats.Overhead | None  # None with fewer than two such rounds


def losses(measured: Iterable[Sample], environments: Sequence[Environment],
           margins: Margins = NOT_RECORDED) -> list[Loss]:
    """Per stressor, environment (in the order given) and workload metric: the loss beside the
    stressor, from the rounds that measured the environment both ways."""
    groups, meta = grouped_samples(measured)
    by_name = {env.name: env for env in environments}
    found = []
    for (workload, metric, name), loud in groups.items():
        env_name, stressor = split(name)
        if stressor is None or env_name not in by_name:
            continue
        quiet = {s.trial: s.value for s in groups.get((workload, metric, env_name), [])}
        beside = {s.trial: s.value for s in loud}
        rounds = tuple(sorted(set(quiet) & set(beside)))
        overhead = None
        if len(rounds) >= 2 and min(quiet[r] for r in rounds) > 0:
            overhead = stats.overhead([quiet[r] for r in rounds], [beside[r] for r in rounds],
                                      higher_is_better=meta[(workload, metric)][1],
                                      margin_pct=margins.of(workload, metric),
                                      bare_rounds=rounds, other_rounds=rounds)
        found.append(Loss(stressor, by_name[env_name], workload, metric, rounds, overhead))
    order = {env.name: i for i, env in enumerate(environments)}
    return sorted(found, key=lambda x: (x.stressor, order[x.env.name], x.workload, x.metric))


def cell(loss: Loss) -> str:
    """A loss as the table shows it: workload metric, loss in percent with its CI, verdict."""
    what = f"{loss.env.name}: {loss.workload} {loss.metric}"
    o = loss.overhead
    if o is None:
        return f"{what}: fewer than 2 paired rounds"
    pct = o.overhead_pct
    return (f"{what} {pct.value:+.1f}% [{pct.low:+.1f}, {pct.high:+.1f}] {o.verdict} "
            f"({len(loss.rounds)} rounds)")


def table(found: Sequence[Loss]) -> tuple[list[str], list[tuple[str, list[list[str]]]]]:
    """The isolation table: the kinds measured (columns, in the usual order) and per stressor
    (rows) the cells of each kind."""
    kinds = [k.value for k in KIND_ORDER if any(x.env.kind is k for x in found)]
    rows = []
    for stressor in dict.fromkeys(x.stressor for x in found):
        rows.append((stressor, [[cell(x) for x in found
                                 if x.stressor == stressor and x.env.kind.value == kind]
                                for kind in kinds]))
    return kinds, rows


def neighbour_note(cores: Sequence[int]) -> str:
    """Where the neighbours ran, as the summary and the report say it."""
    if cores:
        return (f"Neighbours pinned to cores {','.join(map(str, cores))} by --neighbour-cores: "
                "a deliberate placement, possibly on the measured environment's own cores")
    return ("Neighbours ran on the host's cores the measured environment does not use (on a "
            "2-core host, core 0, shared with host-side servers: network and service workloads "
            "are refused under a neighbour)")
