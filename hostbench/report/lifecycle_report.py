"""The summary and report of a lifecycle run: where the time to ready goes, what an idle
instance holds, the VM against the container, and density."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from hostbench.analysis.lifecycle import (
    DensityRow,
    KindComparison,
    StepResult,
    density_rows,
    step_results,
    variant_effects,
)
from hostbench.analysis.lifecycle import vm_against_container as compare_kinds
from hostbench.console import untrusted
from hostbench.report import plots
from hostbench.report.render import Plot, duration, render, save_plot
from hostbench.report.tables import factor_table, verdict_markup
from hostbench.report.text import number, verdict_text
from hostbench.results.store import StoredRun
from hostbench.run.lifecycle_metrics import (
    FOOTPRINT,
    FOOTPRINT_METRICS,
    READY,
    READY_STEPS,
    SETUP,
    STEP_TEXT,
    UNITS,
)
from hostbench.stack.environments import Environment, Kind

TCG_NOTE = ("The VM ran under TCG (software emulation, no KVM on this host): its boot is QEMU "
            "emulating every guest instruction, many times slower than a KVM boot; its times "
            "say nothing about KVM.")
FOOTPRINT_TEXT = {"memory_mib": "host memory", "pss_mib": "PSS", "rss_mib": "RSS",
                  "idle_cpu_pct": "idle CPU", "disk_mib": "disk"}
FOOTPRINT_COLUMNS = tuple(f"{FOOTPRINT_TEXT[m]} ({UNITS[m]})" for m in FOOTPRINT_METRICS)
SETUP_TEXT = {"network_s": "network", "pool_s": "storage pool",
              "image_import_s": "image import (disk, kernel, initrd uploads)"}


@dataclass(frozen=True)
class Row:
    """One environment's line of a table: its label and cells."""

    label: str
    n: int
    cells: list[str]


@dataclass(frozen=True)
class ComparisonRow:
    what: str
    unit: str
    container: str
    vm: str
    change: str
    change_ci: str
    p: str
    verdict: str
    kind: str


def _median(result: StepResult | None) -> str:
    return "-" if result is None else number(result.summary.median)


def _with_ci(result: StepResult | None) -> str:
    if result is None:
        return "-"
    s = result.summary
    return f"{number(s.median)} [{number(s.ci_low)}, {number(s.ci_high)}]"


def _lookup(results: Sequence[StepResult]) -> dict[tuple[str, str, str], StepResult]:
    return {(r.workload, r.metric, r.env.name): r for r in results}


def _measured_envs(run: StoredRun) -> list[Environment]:
    return [e for e in run.record.environments if e.kind is not Kind.BARE]


def ready_rows(run: StoredRun, results: Sequence[StepResult]) -> list[Row]:
    found = _lookup(results)
    rows = []
    for env in _measured_envs(run):
        total = found.get((READY, "ready_s", env.name))
        rows.append(Row(env.label, total.summary.n if total else 0,
                        [_median(found.get((READY, step, env.name))) for step in READY_STEPS]
                        + [_with_ci(total), _with_ci(found.get((READY, "remove_s", env.name)))]))
    return rows


def footprint_rows(run: StoredRun, results: Sequence[StepResult]) -> list[Row]:
    """Bare metal first: zero by definition, for scale."""
    found = _lookup(results)
    rows = [Row("bare (by definition)", 0, ["0"] * len(FOOTPRINT_METRICS))]
    for env in _measured_envs(run):
        first = found.get((FOOTPRINT, "memory_mib", env.name))
        rows.append(Row(env.label, first.summary.n if first else 0,
                        [_median(found.get((FOOTPRINT, m, env.name)))
                         for m in FOOTPRINT_METRICS]))
    return rows


def setup_rows(results: Sequence[StepResult]) -> list[tuple[str, str]]:
    return [(SETUP_TEXT.get(r.metric, r.metric), f"{number(r.summary.median)} s")
            for r in results if r.workload == SETUP]


def _metric_text(c: KindComparison) -> str:
    if c.workload == READY:
        return STEP_TEXT.get(c.metric, c.metric)
    return FOOTPRINT_TEXT.get(c.metric, c.metric)


def ratio_text(ratio: float) -> str:
    """The VM's median as a multiple of the container's: ``63.2x``, ``0.12x``."""
    return f"{ratio:,.0f}x" if ratio >= 1000 else f"{ratio:.3g}x"


def _held(verdict: str) -> str:
    """A footprint is not slower or faster: the VM holds more or less."""
    return {"slower": "more", "faster": "less"}.get(verdict, verdict)


def comparison_rows(comparisons: Sequence[KindComparison]) -> list[ComparisonRow]:
    rows = []
    for c in comparisons:
        o = c.overhead
        rows.append(ComparisonRow(
            _metric_text(c), c.unit, number(o.median_reference), number(o.median_other),
            ratio_text(o.ratio.value), f"[{ratio_text(o.ratio.low)}, {ratio_text(o.ratio.high)}]",
            f"{o.p_value:.3g}",
            verdict_text(_held(o.verdict) if c.workload == FOOTPRINT else o.verdict,
                         o.margin_pct), o.verdict))
    return rows


def density_table_rows(rows: Sequence[DensityRow]) -> list[list[str]]:
    return [[r.env.label, str(r.instances), f"{r.answering}/{r.instances}",
             number(r.start_median_s), number(r.start_max_s), number(r.marginal_mib),
             number(r.attributed_mib), number(r.host_memory_mib)] for r in rows]


READY_COLUMNS = (*(STEP_TEXT[s] for s in READY_STEPS), "ready [95% CI]", "remove [95% CI]")
DENSITY_COLUMNS = ("environment", "instances", "answering", "start median (s)",
                   "start max (s)", "marginal MiB per instance",
                   "attributed MiB per instance", "host memory used (MiB)")


def _table(title: str, columns: Sequence[str], rows: Sequence[Row], caption: str = "") -> Table:
    table = Table(title=title, caption=caption or None)
    table.add_column("environment", overflow="fold")
    table.add_column("n", justify="right")
    for column in columns:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(row.label, str(row.n), *row.cells)
    return table


def print_lifecycle(run: StoredRun, console: Console) -> None:
    """The lifecycle summary as `fab lifecycle` ends and `fab report` prints it."""
    record = run.record
    results = step_results(run)
    for what, value in setup_rows(results):
        console.print(f"stack set-up, once: {what} {value}", highlight=False)
    console.print(_table(f"run {record.id}: time to ready (median seconds)", READY_COLUMNS,
                         ready_rows(run, results),
                         "each step from the previous event; ready = from the create call to "
                         "the first command done"))
    console.print(_table("idle footprint (median)", FOOTPRINT_COLUMNS,
                         footprint_rows(run, results)))
    comparisons = comparison_rows(compare_kinds(run, results))
    if comparisons:
        table = Table(title="the VM against the container (above 1x: the VM takes longer or "
                            "holds more)", caption="ratio [95% t-interval on log values]; p: "
                                                   "beyond the margin")
        for column in ("metric", "container", "VM", "VM / container", "p", "verdict"):
            table.add_column(column, justify="left" if column in ("metric", "verdict")
                             else "right")
        for c in comparisons:
            table.add_row(f"{c.what} ({c.unit})", c.container, c.vm,
                          f"{c.change} {c.change_ci}", c.p, verdict_markup(c.verdict))
        console.print(table)
    effects = variant_effects(run)
    if effects:
        console.print(factor_table(effects, "variants against what they vary"))
    density = density_rows(run)
    if density:
        table = Table(title="density")
        for column in DENSITY_COLUMNS:
            table.add_column(column, justify="left" if column == "environment" else "right")
        for cells in density_table_rows(density):
            table.add_row(*cells)
        console.print(table)
    for line in _notes(run):
        console.print(untrusted(line), highlight=False, soft_wrap=True)


def _notes(run: StoredRun) -> list[str]:
    record, settings = run.record, run.record.lifecycle
    notes = []
    if settings is not None:
        notes.append(f"idle footprint after {settings.settle_s:g}s idle, CPU over "
                     f"{settings.idle_window_s:g}s; events seen within {settings.poll_s:g}s")
        if settings.density:
            notes.append(f"density: {settings.density_memory_mib} MiB per instance, budget "
                         f"{settings.memory_budget_mib:.0f} MiB and "
                         f"{duration(settings.time_budget_s)} per environment, KSM "
                         f"{settings.ksm}")
            notes += [f"density {record.label(o.env)}: {o.instances} at most, stopped: "
                      f"{o.stopped}" for o in settings.density_outcomes]
    notes += [f"failed: {t.workload} {record.label(t.env)} #{t.trial}: {t.error}"
              for t in run.failed_trials()]
    if "tcg" in record.vm_accels:
        notes.append(TCG_NOTE)
    if record.wall_seconds:
        notes.append(f"wall time {duration(record.wall_seconds)}, status {record.status}")
    return notes


def _ready_figure(out_dir: Path, run: StoredRun, results: Sequence[StepResult]) -> Plot | None:
    found = _lookup(results)
    envs = [e for e in _measured_envs(run) if (READY, "ready_s", e.name) in found]
    if not envs:
        return None
    steps = {env.label: [found[(READY, s, env.name)].summary.median for s in READY_STEPS]
             for env in envs}
    totals = {env.label: found[(READY, "ready_s", env.name)].summary.median for env in envs}
    return save_plot(out_dir, "time-to-ready", "Where the time to ready goes (median of each "
                     "step)", plots.stacked_steps(steps, [STEP_TEXT[s] for s in READY_STEPS],
                                                  "seconds", totals))


def _density_figure(out_dir: Path, run: StoredRun) -> Plot | None:
    rows = density_rows(run)
    if not rows:
        return None
    series = {env.label: [(r.instances, r.marginal_mib, r.start_median_s)
                          for r in rows if r.env.name == env.name] for env in _measured_envs(run)}
    return save_plot(out_dir, "density", "Density: host memory and start time per instance",
                     plots.density_figure({k: v for k, v in series.items() if v}))


def lifecycle_context(run: StoredRun, out_dir: Path) -> dict[str, Any]:
    record = run.record
    results = step_results(run)
    return {
        "run": record, "setup": setup_rows(results),
        "ready_columns": READY_COLUMNS, "ready": ready_rows(run, results),
        "footprint_columns": FOOTPRINT_COLUMNS,
        "footprint": footprint_rows(run, results),
        "comparisons": comparison_rows(compare_kinds(run, results)),
        "density_columns": DENSITY_COLUMNS,
        "density": density_table_rows(density_rows(run)),
        "notes": _notes(run), "tcg": "tcg" in record.vm_accels, "tcg_note": TCG_NOTE,
        "ready_figure": _ready_figure(out_dir, run, results),
        "density_figure": _density_figure(out_dir, run),
        "command": record.command_line or f"fab lifecycle --stack {record.stack}",
    }


def write_lifecycle_report(run: StoredRun, out: Path) -> tuple[Path, Path]:
    """report.html (self-contained) and report.md (+ plots/*.png) of a lifecycle run."""
    out.mkdir(parents=True, exist_ok=True)
    context = lifecycle_context(run, out)
    html, markdown = out / "report.html", out / "report.md"
    html.write_text(render("lifecycle.html.j2", **context), encoding="utf-8")
    markdown.write_text(render("lifecycle.md.j2", **context), encoding="utf-8")
    return html, markdown
