"""A fleet side by side: each workload's overhead against bare metal per host, as console tables
and a report (HTML, Markdown); `fab compare --hosts` and every fleet benchmark write it."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from hostbench.analysis.fleet import FleetRow, HostColumn, side_by_side
from hostbench.console import table_console, untrusted
from hostbench.paths import results_dir
from hostbench.report.render import render, slug
from hostbench.report.run_report import TCG_BANNER
from hostbench.report.tables import add_metric_section, verdict_markup
from hostbench.report.text import overhead_text, verdict_text
from hostbench.results.store import StoredRun


def hosts_table(columns: list[HostColumn]) -> Table:
    table = Table(title="hosts")
    for heading in ("run", "stack", "reached", "hostname", "CPU model", "kernel", "VM accel",
                    "status"):
        table.add_column(heading, overflow="fold")
    for c in columns:
        table.add_row(c.run_id, c.stack, *map(untrusted, (c.host, c.hostname, c.cpu_model,
                                                          c.kernel, c.accel, c.status)))
    return table


def cell(row: FleetRow, index: int) -> str:
    """One host's overhead with its CI and verdict (text, for the console and reports)."""
    o = row.overheads[index]
    if o is None:
        return "not measured"
    return f"{overhead_text(o.overhead_pct)} {verdict_text(o.verdict, o.margin_pct)}"


def fleet_table(columns: list[HostColumn], rows: list[FleetRow]) -> Table:
    table = Table(title="overhead against each host's own bare metal, host by host",
                  caption="+ is worse than bare metal, whichever way the metric is better; "
                          "[95% CI, paired by round] and verdict per host")
    table.add_column("workload / metric\n  environment", overflow="fold")
    for c in columns:
        table.add_column(f"{c.stack}\n{c.host}", no_wrap=True)
    previous = None
    for row in rows:
        if (row.workload, row.metric) != previous:
            previous = (row.workload, row.metric)
            add_metric_section(table, row.workload, row.metric, row.unit, row.higher_is_better,
                               1)
        table.add_row(untrusted(f"  {row.label}"), *(verdict_markup(cell(row, i))
                                          for i in range(len(columns))))
    return table


def write_fleet_report(runs: list[StoredRun], out_dir: Path | None = None) -> Path:
    """Write fleet-<runs>.html and .md; return the HTML path."""
    columns, rows = side_by_side(runs)
    out = Path(out_dir) if out_dir is not None else results_dir() / "comparisons"
    out.mkdir(parents=True, exist_ok=True)
    name = slug("fleet", *(c.run_id for c in columns))
    cells = [[cell(row, i) for i in range(len(columns))] for row in rows]
    context = {"columns": columns, "rows": list(zip(rows, cells, strict=True)),
               "tcg": any("tcg" in c.accel for c in columns), "tcg_banner": TCG_BANNER}
    html = out / f"{name}.html"
    html.write_text(render("fleet.html.j2", **context), encoding="utf-8")
    (out / f"{name}.md").write_text(render("fleet.md.j2", **context), encoding="utf-8")
    return html


def show_fleet(runs: list[StoredRun]) -> Path:
    """Print the hosts and their overheads side by side, write the report, print its path."""
    console = table_console(highlight=False, soft_wrap=True)
    columns, rows = side_by_side(runs)
    console.print(hosts_table(columns))
    console.print(fleet_table(columns, rows))
    html = write_fleet_report(runs)
    console.print(f"fleet report: {html}")
    console.print(f"              {html.with_suffix('.md')}")
    return html
