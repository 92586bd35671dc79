"""What each factor costs: every variant against the environment it varies (container-hostnet
against container is the cost of Docker's NAT), with the same statistics as the overheads."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from hostbench.analysis import stats
from hostbench.analysis.overheads import between, grouped_samples
from hostbench.run.run_records import NOT_RECORDED, Margins, Sample
from hostbench.stack.environments import Environment


@dataclass(frozen=True)
class FactorEffect:
    """One workload metric: ``variant`` against ``base`` (``change.overhead_pct`` + means the
    variant is worse; ``median_reference`` is the base's median)."""

    workload: str
    metric: str
    unit: str
    higher_is_better: bool
    variant: Environment
    base: Environment
    change: stats.Overhead

    @property
    def factor(self) -> str:
        """What the variant changes, e.g. ``network: host``."""
        return ", ".join(f"{k}: {v}" for k, v in self.variant.changed_options().items()
                         if getattr(self.base.options, k, None) != v) or "(same options)"


def factor_effects(measured: Iterable[Sample], environments: Sequence[Environment],
                   margins: Margins = NOT_RECORDED) -> list[FactorEffect]:
    """Every variant whose base was measured too, per workload metric (sorted), in the
    environments' order."""
    groups, meta = grouped_samples(measured)
    by_name = {env.name: env for env in environments}
    effects = []
    for (workload, metric), (unit, higher) in sorted(meta.items()):
        for variant in environments:
            base = by_name.get(variant.variant_of or "")
            mine = groups.get((workload, metric, variant.name))
            theirs = groups.get((workload, metric, base.name)) if base else None
            if (base is None or not mine or not theirs
                    or min(s.value for s in theirs + mine) <= 0):
                continue
            effects.append(FactorEffect(workload, metric, unit, higher, variant, base, between(
                theirs, mine, higher, margins.of(workload, metric))))
    held = stats.with_holm([e.change for e in effects])
    return [replace(e, change=o) for e, o in zip(effects, held, strict=True) if o is not None]
