"""The console tables: summary, comparison, plan, environment facts, parity mismatches and
isolation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.table import Table
from rich.text import Text

from hostbench.analysis.compare import Comparison
from hostbench.analysis.factors import FactorEffect
from hostbench.analysis.isolation import Loss
from hostbench.analysis.isolation import table as isolation_rows
from hostbench.analysis.overheads import MetricResult
from hostbench.analysis.rule import ALPHA
from hostbench.console import untrusted
from hostbench.report.text import (
    VERDICT_STYLES,
    better_text,
    effect_text,
    number,
    overhead_text,
    verdict_text,
)
from hostbench.run.facts import SHOWN_FACTS, EnvFacts
from hostbench.run.parity import ParityCheck
from hostbench.run.schedule import PlannedTrial
from hostbench.stack.environments import Environment

CI_NOTE = "[95% CI, paired by round where both sides ran]; p: of a difference beyond the margin"


def add_metric_section(table: Table, workload: str, metric: str, unit: str,
                       higher_is_better: bool, note_column: int) -> None:
    """A new section headed by the workload and metric (one line each, so long names never
    squeeze the numbers), with the unit and direction in `note_column`."""
    table.add_section()
    table.add_row(Text.assemble(untrusted(workload, "bold"), "\n", untrusted(metric)),
                  *[""] * (note_column - 1),
                  untrusted(f"{unit}, {better_text(higher_is_better)}", "dim"))


def metric_table(title: str, caption: str, columns: tuple[str, ...]) -> Table:
    """Rows of environments grouped by workload metric, numeric `columns`, then a verdict."""
    table = Table(title=title, caption=caption)
    table.add_column("workload / metric\n  environment", overflow="fold")
    for column in columns:
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    return table


def verdict_markup(verdict: str) -> Text:
    """The verdict in its colour, as text."""
    return untrusted(verdict, VERDICT_STYLES.get(verdict.split(" ")[0], ""))


def result_verdict(r: MetricResult) -> str:
    if r.env.is_baseline:
        return "baseline"
    if r.overhead is None:
        return r.no_overhead
    return verdict_text(r.overhead.verdict, r.overhead.margin_pct)


def summary_table(results: Sequence[MetricResult], title: str, alpha: float = ALPHA) -> Table:
    table = metric_table(title, "overhead: + is worse than bare metal, whichever way the metric "
                                f"is better; {CI_NOTE.replace('95%', f'{100 * (1 - alpha):g}%')}",
                         ("n", "median", "RSD",
                          f"overhead vs bare [{100 * (1 - alpha):g}% CI]", "p"))
    previous = None
    for r in results:
        if r.key != previous:
            previous = r.key
            add_metric_section(table, r.workload, r.metric, r.unit, r.higher_is_better, 4)
        o = r.overhead
        table.add_row(untrusted(f"  {r.env.label}"), str(r.summary.n), number(r.summary.median),
                      f"{r.summary.rsd:.1f}%", effect_text(o) if o else "",
                      f"{o.p_value:.3f}" if o else "", verdict_markup(result_verdict(r)))
    return table


def comparison_table(comparisons: Sequence[Comparison], run_a: str, run_b: str,
                     labels: Mapping[str, str]) -> Table:
    """Per metric and environment: medians of A and B and the change."""
    table = metric_table(f"run {run_b} (B) against run {run_a} (A)",
                         "change: + means B is worse than A, whichever way the metric is "
                         f"better; {CI_NOTE}",
                         ("n A", "median A", "n B", "median B", "change B vs A [95% CI]", "p"))
    previous = None
    for c in comparisons:
        if (c.workload, c.metric) != previous:
            previous = (c.workload, c.metric)
            add_metric_section(table, c.workload, c.metric, c.unit, c.higher_is_better, 5)
        o = c.change
        table.add_row(untrusted(f"  {labels.get(c.env, c.env)}"), str(o.n_reference),
                      number(o.median_reference), str(o.n_other), number(o.median_other),
                      overhead_text(o.overhead_pct),
                      f"{o.p_value:.3f}", verdict_markup(verdict_text(o.verdict, o.margin_pct)))
    return table


def factor_table(effects: Sequence[FactorEffect], title: str) -> Table:
    """Per metric, each variant against the environment it varies: what its factor costs."""
    table = metric_table(title, "change: + means the variant is worse than the environment it "
                                f"varies; {CI_NOTE}",
                         ("median base", "median variant", "change [95% CI]", "p"))
    previous = None
    for e in effects:
        if (e.workload, e.metric) != previous:
            previous = (e.workload, e.metric)
            add_metric_section(table, e.workload, e.metric, e.unit, e.higher_is_better, 3)
        o = e.change
        table.add_row(untrusted(f"  {e.variant.name} vs {e.base.name}\n    {e.factor}"),
                      number(o.median_reference), number(o.median_other),
                      overhead_text(o.overhead_pct), f"{o.p_value:.3f}",
                      verdict_markup(verdict_text(o.verdict, o.margin_pct)))
    return table


def plan_table(trials: Sequence[PlannedTrial], durations: Mapping[str, int], suite: str,
               environments: Mapping[str, Environment]) -> Table:
    """Per workload: trial duration, rounds, and the order of environments in the first rounds."""
    table = Table(title=f"plan: {len(trials)} trials, suite {suite}")
    for column in ("workload", "duration", "rounds", "order of environments per round"):
        table.add_column(column)
    for name in dict.fromkeys(p.workload for p in trials):
        rounds: dict[int, list[str]] = {}
        for p in trials:
            if p.workload == name:
                label = environments[p.env].label if p.env in environments else p.env
                rounds.setdefault(p.trial, []).append(label + ("*" if p.warmup else ""))
        table.add_row(name, f"{durations[name]}s", str(len(rounds)),
                      "; ".join(", ".join(r) for r in list(rounds.values())[:3])
                      + (" ..." if len(rounds) > 3 else ""))
    return table


def facts_table(facts: Mapping[str, EnvFacts], labels: Mapping[str, str]) -> Table:
    """What each environment reported, side by side."""
    table = Table(title="environment facts")
    table.add_column("fact")
    for env in facts:
        table.add_column(labels.get(env, env))
    for key in SHOWN_FACTS:
        table.add_row(key, *(untrusted(str(getattr(f, key))) for f in facts.values()))
    return table


def failures_table(bad: Sequence[ParityCheck]) -> Table:
    table = Table(title="parity mismatches", style="red")
    for column in ("environment", "fact", "expected", "found", "rule"):
        table.add_column(column)
    for c in bad:
        table.add_row(c.env, c.fact, untrusted(c.expected), untrusted(c.actual), c.rule)
    return table


def isolation_table(found: Sequence[Loss], title: str) -> Table:
    """Rows stressors, columns environment kinds: each victim's loss beside the stressor
    against itself quiet in the same rounds (positive = worse)."""
    kinds, rows = isolation_rows(found)
    table = Table(title=title, caption="loss beside the stressor, 95% CI, verdict")
    table.add_column("stressor")
    for kind in kinds:
        table.add_column(kind, overflow="fold")
    for stressor, cells in rows:
        table.add_row(Text(stressor), *(Text("\n".join(c)) for c in cells))
    return table
