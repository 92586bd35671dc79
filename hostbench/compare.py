"""Run B against run A: how each workload metric changed, per environment present in both."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from hostbench import plots, stats
from hostbench.cli import table_console
from hostbench.errors import HostbenchError
from hostbench.paths import results_dir
from hostbench.render import render, save_plot, slug
from hostbench.report import ALPHA, TCG_BANNER, measured, min_p_value
from hostbench.schedule import ENVIRONMENTS
from hostbench.store import RunRecord, Store
from hostbench.summary import (
    add_metric_section,
    env_label,
    metric_table,
    number,
    verdict_markup,
)

Key = tuple[str, str, str]  # (workload, metric, env)


@dataclass(frozen=True)
class Comparison:
    """One workload metric in one environment: B against A (``change.overhead_pct`` + is worse).

    ``change`` is ``stats.overhead(a_values, b_values, higher_is_better)``: its ``ratio`` is
    median(B) / median(A), ``median_bare`` is A's median and ``median_other`` B's.
    """

    workload: str
    metric: str
    unit: str
    higher_is_better: bool
    env: str
    change: stats.Overhead


def _env_order(env: str) -> int:
    return ENVIRONMENTS.index(env) if env in ENVIRONMENTS else len(ENVIRONMENTS)


def _values(store: Store, run_id: str) -> tuple[dict[Key, list[float]],
                                                dict[tuple[str, str], tuple[str, bool]]]:
    store.get_run(run_id)  # a clear error for an unknown run id
    values: dict[Key, list[float]] = defaultdict(list)
    meta: dict[tuple[str, str], tuple[str, bool]] = {}
    for row in measured(store.samples(run_id)):
        values[(row.workload, row.metric, row.env)].append(row.value)
        meta[(row.workload, row.metric)] = (row.unit, row.higher_is_better)
    return values, meta


def _compare(store: Store, run_a: str, run_b: str) -> tuple[list[Comparison], list[str]]:
    """The comparisons, and one note per metric/environment that could not be compared."""
    a_values, a_meta = _values(store, run_a)
    b_values, b_meta = _values(store, run_b)
    common = sorted(set(a_values) & set(b_values), key=lambda k: (k[0], k[1], _env_order(k[2])))
    if not common:
        def listing(values: dict[Key, list[float]]) -> str:
            if not values:
                return "no measured samples"
            envs = sorted({k[2] for k in values}, key=_env_order)
            return f"{', '.join(sorted({k[0] for k in values}))} in {', '.join(envs)}"
        raise HostbenchError(f"runs {run_a} and {run_b} have no workload metric measured in the "
                             f"same environment: {run_a} has {listing(a_values)}; {run_b} has "
                             f"{listing(b_values)}")
    results, notes = [], []
    for key in common:
        workload, metric, env = key
        unit, higher = a_meta[(workload, metric)]
        if b_meta[(workload, metric)] != (unit, higher):
            notes.append(f"{workload} {metric}: unit or direction differs between the runs "
                         f"({unit} vs {b_meta[(workload, metric)][0]}); not compared")
        elif min(a_values[key]) <= 0:
            notes.append(f"{workload} {metric} on {env}: run {run_a} has a value <= 0, so no "
                         "ratio can be formed; not compared")
        else:
            results.append(Comparison(workload, metric, unit, higher, env, stats.overhead(
                a_values[key], b_values[key], higher_is_better=higher)))
    for run_id, mine, other in ((run_a, a_values, b_values), (run_b, b_values, a_values)):
        only = sorted(set(mine) - set(other), key=lambda k: (k[0], k[1], _env_order(k[2])))
        if only:
            notes.append(f"only in {run_id}: " + ", ".join(f"{w} {m} on {e}" for w, m, e in only))
    return results, notes


def compare_runs(store: Store, run_a: str, run_b: str) -> list[Comparison]:
    """Every workload metric and environment measured in both runs, B against A."""
    return _compare(store, run_a, run_b)[0]


def vm_label(a: RunRecord, b: RunRecord) -> str:
    """How to name the VM when it is compared across two runs (its accel may differ)."""
    accel_a = (a.host_facts or {}).get("vm_accel", "")
    accel_b = (b.host_facts or {}).get("vm_accel", "")
    if accel_a == accel_b:
        return env_label("vm", accel_a)
    return f"vm ({accel_a or '?'} in A, {accel_b or '?'} in B)"


def _labels(a: RunRecord, b: RunRecord) -> dict[str, str]:
    return {env: vm_label(a, b) if env == "vm" else env for env in ENVIRONMENTS}


def change_text(c: Comparison) -> str:
    pct = c.change.overhead_pct
    return f"{pct.value:+.1f}% [{pct.low:+.1f}, {pct.high:+.1f}]"


def comparison_table(comparisons: list[Comparison], run_a: str, run_b: str,
                     labels: dict[str, str] | None = None) -> Table:
    """The console table: per metric and environment, medians of A and B and the change."""
    labels = labels or {}
    table = metric_table(f"run {run_b} (B) against run {run_a} (A)",
                         "change: + means B is worse than A, whichever way the metric is "
                         "better; [95% bootstrap CI]; p: Mann-Whitney U",
                         ("n A", "median A", "n B", "median B", "change B vs A [95% CI]", "p"))
    previous = None
    for c in comparisons:
        if (c.workload, c.metric) != previous:
            previous = (c.workload, c.metric)
            add_metric_section(table, c.workload, c.metric, c.unit, c.higher_is_better, 5)
        o = c.change
        table.add_row(f"  {labels.get(c.env, c.env)}", str(o.n_bare), number(o.median_bare),
                      str(o.n_other), number(o.median_other), change_text(c), f"{o.p_value:.3f}",
                      verdict_markup(o.verdict))
    return table


def _context_rows(a: RunRecord, b: RunRecord) -> list[tuple[str, str, str, bool]]:
    """(what, A, B, same?) for what would make the two runs measure different things."""
    def facts(run: RunRecord) -> dict[str, Any]:
        h, spec, opts = run.host_facts or {}, run.stack_config or {}, run.options or {}
        return {"suite": run.suite, "stack": run.stack, "status": run.status,
                "CPU model": h.get("cpu_model"), "host CPUs": h.get("host_cpus"),
                "kernel": h.get("kernel"), "host is a VM": h.get("host_is_vm"),
                "VM acceleration": h.get("vm_accel"), "cores": spec.get("cores"),
                "memory MiB": spec.get("memory_mib"), "image hash": (run.image_hash or "")[:16],
                "git commit": run.git_commit, "measured rounds": opts.get("repeat"),
                "warm-up rounds": opts.get("warmup"), "started": run.started_at}
    fa, fb = facts(a), facts(b)
    return [(k, str(fa[k]), str(fb[k]), fa[k] == fb[k]) for k in fa]


def comparison_context(store: Store, run_a: str, run_b: str, out_dir: Path,
                       name: str) -> dict[str, Any]:
    """What the comparison templates show (the forest plot is written on the way)."""
    a, b = store.get_run(run_a), store.get_run(run_b)
    comparisons, notes = _compare(store, run_a, run_b)
    labels = _labels(a, b)
    context = _context_rows(a, b)
    differs = [k for k, _, _, same in context if not same and k not in ("status", "started")]
    if differs:
        notes.insert(0, f"the runs differ in {', '.join(differs)}: a change may come from that, "
                        "not only from what you meant to compare")
    weak = sorted({(c.change.n_bare, c.change.n_other) for c in comparisons
                   if min_p_value(c.change.n_bare, c.change.n_other) >= ALPHA})
    if weak:
        notes.append(f"with {', '.join(f'{x} vs {y}' for x, y in weak)} measured trials the "
                     f"Mann-Whitney test can never reach p < {ALPHA}: those verdicts are 'no "
                     "measurable difference' whatever the medians say")
    bars = [plots.ChangeBar(f"{c.workload} {c.metric} · {labels.get(c.env, c.env)}",
                            c.change.overhead_pct.value, c.change.overhead_pct.low,
                            c.change.overhead_pct.high, c.change.verdict) for c in comparisons]
    plot = save_plot(out_dir, name, f"change of {run_b} against {run_a}",
                     plots.change_figure(bars, f"B = {run_b} against A = {run_a}"))
    accels = {(r.host_facts or {}).get("vm_accel") for r in (a, b)}
    return {"a": a, "b": b, "comparisons": comparisons, "labels": labels, "notes": notes,
            "context": context, "plot": plot, "tcg": "tcg" in accels, "tcg_banner": TCG_BANNER,
            "accel_differs": len(accels) > 1 and any(c.env == "vm" for c in comparisons),
            "change_text": change_text}


def write_comparison_report(store: Store, run_a: str, run_b: str,
                            out_dir: Path | None = None) -> Path:
    """Write compare-A-vs-B.html (self-contained) and .md (+ its PNG); return the HTML path."""
    out = Path(out_dir) if out_dir is not None else results_dir() / "comparisons"
    out.mkdir(parents=True, exist_ok=True)
    name = slug("compare", run_a, "vs", run_b)
    context = comparison_context(store, run_a, run_b, out, name)
    html = out / f"{name}.html"
    html.write_text(render("compare.html.j2", **context), encoding="utf-8")
    (out / f"{name}.md").write_text(render("compare.md.j2", **context), encoding="utf-8")
    return html


def run_compare(run_a: str, run_b: str) -> Path:
    """`fab compare A B`: print the comparison table, write the report and print its path."""
    console = table_console(highlight=False, soft_wrap=True)
    with Store.default() as store:
        comparisons = compare_runs(store, run_a, run_b)
        labels = _labels(store.get_run(run_a), store.get_run(run_b))
        console.print(comparison_table(comparisons, run_a, run_b, labels))
        html = write_comparison_report(store, run_a, run_b)
    console.print(f"comparison report: {html}")
    console.print(f"                   {html.with_suffix('.md')}")
    return html
