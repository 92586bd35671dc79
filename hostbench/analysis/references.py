"""Published overheads (references/*.yaml) set beside a run's own: for each experiment that
matches one of our workload metrics, the published overhead of the container and the VM next to
ours, and whether the two point the same way."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from hostbench.analysis.overheads import MetricResult
from hostbench.datafiles import load_mapping
from hostbench.errors import ConfigError
from hostbench.paths import REFERENCES_DIR
from hostbench.record_base import Record, validated
from hostbench.run.run_records import MetricNames
from hostbench.stack.environments import Kind

Text = Annotated[str, Field(min_length=1)]
Positive = Annotated[float, Field(gt=0)]
Direction = Literal["slower", "faster", "equivalent"]
Agreement = Literal["agrees", "disagrees", "open"]
"""open: our verdict is inconclusive."""


class PublishedFigure(Record):
    """One experiment's published medians: native, and the container's and VM's if measured."""

    experiment: Text
    workload: Text
    metric: Text
    native: Positive
    container: Annotated[float, Field(ge=0)] | None = None
    vm: Annotated[float, Field(ge=0)] | None = None
    note: str = ""
    raw_data: Text


class ReferenceFile(Record):
    """The fields of a reference file: a publication whose figures hostbench compares with,
    where they come from and what they were measured on."""

    title: Text
    authors: Text
    published: Text
    repository: Text
    hardware: Text
    software: Text
    figures: Annotated[list[PublishedFigure], Field(min_length=1)]


class Reference(ReferenceFile):
    source: str


def load_reference(path: Path, catalogue: MetricNames) -> Reference:
    """Load and validate a reference file; every figure names a workload and metric we have."""
    reference = validated(Reference, {**load_mapping(path), "source": str(path)}, str(path))
    for index, figure in enumerate(reference.figures):
        where = f"figures[{index}]"
        if figure.workload not in catalogue:
            raise ConfigError(str(path), f"{where}.workload",
                              f"{figure.workload!r} is not a workload of the catalogue")
        if figure.metric not in catalogue[figure.workload]:
            raise ConfigError(str(path), f"{where}.metric",
                              f"{figure.metric!r} is not a metric of {figure.workload} (it has: "
                              f"{', '.join(catalogue[figure.workload])})")
        if figure.container is None and figure.vm is None:
            raise ConfigError(str(path), where, "gives neither a container nor a vm figure")
    return reference


def load_references(catalogue: MetricNames, directory: Path = REFERENCES_DIR
                    ) -> list[Reference]:
    return [load_reference(path, catalogue) for path in sorted(directory.glob("*.yaml"))]


def overhead_pct(native: float, other: float, higher_is_better: bool) -> float:
    """The overhead of ``other`` against ``native`` in percent, + is worse (as hostbench's)."""
    ratio = other / native
    return (1.0 - ratio) * 100.0 if higher_is_better else (ratio - 1.0) * 100.0


def direction(overhead: float, margin_pct: float) -> Direction:
    """Which way a published overhead points, read with our margin for that metric."""
    if overhead > margin_pct:
        return "slower"
    if overhead < -margin_pct:
        return "faster"
    return "equivalent"


@dataclass(frozen=True)
class ReferenceComparison:
    """One environment of one matching metric: the published overhead beside ours."""

    reference: Reference
    figure: PublishedFigure
    ours: MetricResult
    published_pct: float
    published: Direction
    agreement: Agreement


def compare(results: Iterable[MetricResult], references: Sequence[Reference]
            ) -> list[ReferenceComparison]:
    """Our container and VM (not their variants) against every matching published figure."""
    rows = []
    for result in results:
        env, ours = result.env, result.overhead
        if ours is None or env.variant_of is not None or env.kind is Kind.BARE:
            continue
        for reference in references:
            for figure in reference.figures:
                other = figure.vm if env.kind is Kind.VM else figure.container
                if (figure.workload, figure.metric) != result.key or other is None:
                    continue
                pct = overhead_pct(figure.native, other, result.higher_is_better)
                published = direction(pct, ours.margin_pct)
                agreement: Agreement = ("open" if ours.verdict == "inconclusive" else
                             "agrees" if ours.verdict == published else "disagrees")
                rows.append(ReferenceComparison(reference, figure, result, pct, published,
                                                agreement))
    return rows
