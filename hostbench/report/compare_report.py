"""Run B against run A as a report (HTML, Markdown), with the context that could explain a
change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hostbench.analysis.compare import Comparison, compare_runs, env_labels
from hostbench.analysis.rule import MIN_PAIRS
from hostbench.analysis.stats import underpowered
from hostbench.paths import results_dir
from hostbench.report import plots
from hostbench.report.render import render, save_plot, slug
from hostbench.report.run_report import TCG_BANNER
from hostbench.results.store import StoredRun
from hostbench.run.run_records import RunRecord


def _context_rows(a: RunRecord, b: RunRecord) -> list[tuple[str, str, str, bool]]:
    """(what, A, B, same?) for what would make the two runs measure different things."""
    def facts(run: RunRecord) -> dict[str, Any]:
        h, spec = run.host, run.spec
        return {"suite": run.suite, "stack": run.stack, "status": run.status,
                "CPU model": h.cpu_model if h else None, "host CPUs": h.host_cpus if h else None,
                "kernel": h.kernel if h else None, "host is a VM": h.host_is_vm if h else None,
                "environments": ", ".join(e.description for e in run.environments),
                "cores": list(spec.cores) if spec else None,
                "memory MiB": spec.memory_mib if spec else None,
                "image hash": (run.image_hash or "")[:16], "git commit": run.git_commit,
                "measured rounds": run.options.repeat, "warm-up rounds": run.options.warmup,
                "started": run.started_at}
    fa, fb = facts(a), facts(b)
    return [(k, str(fa[k]), str(fb[k]), fa[k] == fb[k]) for k in fa]


def _accel_text(run: RunRecord) -> str:
    return ", ".join(sorted(run.vm_accels)) or "?"


def comparison_context(a: StoredRun, b: StoredRun, comparisons: list[Comparison],
                       notes: list[str], out_dir: Path, name: str) -> dict[str, Any]:
    """What the comparison templates show (the forest plot is written on the way)."""
    labels = env_labels(a.record, b.record)
    context = _context_rows(a.record, b.record)
    notes = list(notes)
    differs = [k for k, _, _, same in context if not same and k not in ("status", "started")]
    if differs:
        notes.insert(0, f"the runs differ in {', '.join(differs)}: a change may come from that, "
                        "not only from what you meant to compare")
    weak = sorted({(c.change.n_reference, c.change.n_other) for c in comparisons
                   if underpowered(c.change)})
    if weak:
        notes.append(f"with {', '.join(f'{x} vs {y}' for x, y in weak)} measured trials no "
                     f"verdict is given (fewer than {MIN_PAIRS} per side)")
    bars = [plots.ChangeBar(f"{c.workload} {c.metric} · {labels.get(c.env, c.env)}",
                            c.change.overhead_pct.value, c.change.overhead_pct.low,
                            c.change.overhead_pct.high, c.change.verdict, c.change.margin_pct)
            for c in comparisons]
    plot = save_plot(out_dir, name, f"change of {b.id} against {a.id}",
                     plots.change_figure(bars, f"B = {b.id} against A = {a.id}"))
    accels = (_accel_text(a.record), _accel_text(b.record))
    vm_compared = any(c.env in {e.name for e in a.record.environments if e.accel}
                      for c in comparisons)
    return {"a": a.record, "b": b.record, "comparisons": comparisons, "labels": labels,
            "notes": notes, "context": context, "plot": plot,
            "tcg": "tcg" in a.record.vm_accels | b.record.vm_accels, "tcg_banner": TCG_BANNER,
            "accel_differs": accels[0] != accels[1] and vm_compared, "accels": accels}


def write_comparison_report(a: StoredRun, b: StoredRun, out_dir: Path | None = None) -> Path:
    """Write compare-A-vs-B.html (self-contained) and .md (+ its PNG); return the HTML path."""
    out = Path(out_dir) if out_dir is not None else results_dir() / "comparisons"
    out.mkdir(parents=True, exist_ok=True)
    name = slug("compare", a.id, "vs", b.id)
    comparisons, notes = compare_runs(a, b)
    context = comparison_context(a, b, comparisons, notes, out, name)
    html = out / f"{name}.html"
    html.write_text(render("compare.html.j2", **context), encoding="utf-8")
    (out / f"{name}.md").write_text(render("compare.md.j2", **context), encoding="utf-8")
    return html
