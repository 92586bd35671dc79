"""`fab report` and `fab compare`: stored runs read from the results database, their summaries
and tables printed, their reports written."""

from __future__ import annotations

from pathlib import Path

from hostbench.analysis.compare import compare_runs, env_labels
from hostbench.analysis.run_analysis import analyse_run
from hostbench.console import table_console
from hostbench.errors import HostbenchError
from hostbench.report.compare_report import write_comparison_report
from hostbench.report.fleet_report import show_fleet
from hostbench.report.run_report import ReportPaths, publish
from hostbench.report.summary import print_summary
from hostbench.report.tables import comparison_table
from hostbench.results.store import Store


def run_report(run_id: str | None = None) -> ReportPaths:
    """`fab report`: print a run's summary (default: the latest run), write its report and
    exports, and print their paths."""
    with Store.default() as store:
        run_id = run_id or store.latest_run_id()
        if run_id is None:
            raise HostbenchError(f"no runs in {store.path} yet; run `fab benchmark` first")
        run = store.load(run_id)
    analysis = analyse_run(run) if run.record.purpose != "lifecycle" else None
    print_summary(run, table_console(), analysis)
    paths, exports = publish(run, analysis=analysis)
    console = table_console(highlight=False, soft_wrap=True)
    console.print(f"report of run {run_id}:")
    for path in (paths.html, paths.markdown, *exports):
        console.print(f"  {path}")
    return paths


def run_fleet_compare(run_ids: list[str]) -> Path:
    """`fab compare --hosts RUN1,RUN2,...`."""
    with Store.default() as store:
        runs = [store.load(run_id) for run_id in run_ids]
    return show_fleet(runs)


def run_compare(run_a: str, run_b: str, hosts: bool = False) -> Path:
    """`fab compare A B`: print the comparison table, write the report and print its path;
    `fab compare A B --hosts` (A and B may list several runs): the hosts' overheads side by
    side."""
    if hosts:
        return run_fleet_compare([r.strip() for r in f"{run_a},{run_b}".split(",")
                                  if r.strip()])
    if "," in run_a or "," in run_b:
        raise HostbenchError("fab compare A B takes one run each; to see several hosts' runs "
                             "side by side, add --hosts")
    console = table_console(highlight=False, soft_wrap=True)
    with Store.default() as store:
        a, b = store.load(run_a), store.load(run_b)
    comparisons, _ = compare_runs(a, b)
    console.print(comparison_table(comparisons, a.id, b.id, env_labels(a.record, b.record)))
    html = write_comparison_report(a, b)
    console.print(f"comparison report: {html}")
    console.print(f"                   {html.with_suffix('.md')}")
    return html
