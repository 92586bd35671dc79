"""What each factor costs: every variant against the environment it varies (container-hostnet
against container is the cost of Docker's NAT), with the same statistics as the overheads. A
container inside a VM is set beside both the VM (what the container layer costs inside a VM) and
the container (what the VM layer costs a container)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from hostbench.analysis import stats
from hostbench.analysis.overheads import between, grouped_samples
from hostbench.run.run_records import NOT_RECORDED, Margins, Sample
from hostbench.stack.environments import NESTED_AS, Environment, Kind


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
        """What the variant changes, e.g. ``network: host``; against a container, what a VM
        around it costs."""
        if self.base.kind is not self.variant.kind:
            return "a VM around the container"
        return ", ".join(f"{k}: {v}" for k, v in self.variant.changed_options().items()
                         if getattr(self.base.options, k, None) != v) or "(same options)"


def bases(variant: Environment, environments: Sequence[Environment]) -> list[Environment]:
    """What ``variant`` is compared with: the environment it varies; a VM whose workloads run
    in a container inside it, also a container of the stack: the cost of the VM layer for
    containers. That container is the one run as the inner one is (Docker's defaults on the
    host's network, ``container-hostnet``), else the one of Docker's defaults."""
    found = [env for env in environments if env.name == variant.variant_of]
    if variant.nested:
        containers = [env for env in environments if env.kind is Kind.CONTAINER]
        found += ([env for env in containers if env.changed_options() == NESTED_AS]
                  or [env for env in containers if not env.changed_options()])[:1]
    return found


def factor_effects(measured: Iterable[Sample], environments: Sequence[Environment],
                   margins: Margins = NOT_RECORDED) -> list[FactorEffect]:
    """Every variant against each of its bases measured too, per workload metric (sorted), in
    the environments' order."""
    groups, meta = grouped_samples(measured)
    pairs = [(variant, base) for variant in environments
             for base in bases(variant, environments)]
    effects = []
    for (workload, metric), (unit, higher) in sorted(meta.items()):
        for variant, base in pairs:
            mine = groups.get((workload, metric, variant.name))
            theirs = groups.get((workload, metric, base.name))
            if not mine or not theirs or min(s.value for s in theirs + mine) <= 0:
                continue
            effects.append(FactorEffect(workload, metric, unit, higher, variant, base, between(
                theirs, mine, higher, margins.of(workload, metric))))
    held = stats.with_holm([e.change for e in effects])
    return [replace(e, change=o) for e, o in zip(effects, held, strict=True) if o is not None]
