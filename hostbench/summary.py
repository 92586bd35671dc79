"""The console summary: per workload metric, median and spread per environment, and the overhead
against bare metal with a bootstrap 95% CI and a verdict."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from rich.table import Table

from hostbench import stats
from hostbench.store import SampleRow

BASELINE = "bare"
NO_DIFFERENCE = "no measurable difference"


@dataclass(frozen=True)
class MetricResult:
    workload: str
    metric: str
    unit: str
    higher_is_better: bool
    env: str
    summary: stats.Summary
    overhead: stats.Overhead | None  # None for bare metal and when bare has no samples


def env_label(env: str, vm_accel: str) -> str:
    """A TCG VM is software emulation and says so wherever its numbers appear."""
    if env == "vm":
        return "vm (TCG emulation)" if vm_accel == "tcg" else "vm (KVM)"
    return env


def analyse(rows: list[SampleRow], envs: list[str]) -> list[MetricResult]:
    """Measured samples of ok trials (warm-ups left out), grouped and compared with bare metal."""
    values: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    meta: dict[tuple[str, str], tuple[str, bool]] = {}
    for row in rows:
        if row.warmup or row.status != "ok":
            continue
        values[(row.workload, row.metric, row.env)].append(row.value)
        meta[(row.workload, row.metric)] = (row.unit, row.higher_is_better)
    results = []
    for (workload, metric), (unit, higher) in sorted(meta.items()):
        bare = values.get((workload, metric, BASELINE), [])
        for env in envs:
            sample = values.get((workload, metric, env), [])
            if not sample:
                continue
            overhead = (stats.overhead(bare, sample, higher_is_better=higher)
                        if env != BASELINE and bare else None)
            results.append(MetricResult(workload, metric, unit, higher, env,
                                        stats.summarize(sample), overhead))
    return results


def number(value: float) -> str:
    """Four significant digits, grouped thousands instead of exponents."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def overhead_text(o: stats.Overhead) -> str:
    pct = o.overhead_pct
    return f"{pct.value:+.1f}% [{pct.low:+.1f}, {pct.high:+.1f}]"


def add_metric_section(table: Table, workload: str, metric: str, unit: str,
                       higher_is_better: bool, note_column: int) -> None:
    """A new section headed by the workload and metric (one line each, so long names never
    squeeze the numbers), with the unit and direction in `note_column`."""
    better = "higher is better" if higher_is_better else "lower is better"
    table.add_section()
    table.add_row(f"[bold]{workload}[/]\n{metric}", *[""] * (note_column - 1),
                  f"[dim]{unit}, {better}[/]")


def metric_table(title: str, caption: str, columns: tuple[str, ...]) -> Table:
    """Rows of environments grouped by workload metric, numeric `columns`, then a verdict."""
    table = Table(title=title, caption=caption)
    table.add_column("workload / metric\n  environment", overflow="fold")
    for column in columns:
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    return table


def verdict_markup(verdict: str) -> str:
    style = {"slower": "red", "faster": "green"}.get(verdict)
    return f"[{style}]{verdict}[/]" if style else verdict


def summary_table(results: list[MetricResult], vm_accel: str, title: str) -> Table:
    table = metric_table(title, "overhead: + is worse than bare metal, whichever way the metric "
                                "is better; [95% bootstrap CI]; p: Mann-Whitney U",
                         ("n", "median", "RSD", "overhead vs bare [95% CI]", "p"))
    previous = None
    for r in results:
        if (r.workload, r.metric) != previous:
            previous = (r.workload, r.metric)
            add_metric_section(table, r.workload, r.metric, r.unit, r.higher_is_better, 4)
        o = r.overhead
        verdict = "baseline" if r.env == BASELINE else o.verdict if o else "no bare-metal data"
        table.add_row(f"  {env_label(r.env, vm_accel)}", str(r.summary.n),
                      number(r.summary.median), f"{r.summary.rsd:.1f}%",
                      overhead_text(o) if o else "", f"{o.p_value:.3f}" if o else "",
                      verdict_markup(verdict))
    return table
