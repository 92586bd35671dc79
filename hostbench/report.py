"""The report of one run: a self-contained HTML page, and Markdown with its PNG plots beside it."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hostbench import plots
from hostbench.cli import table_console
from hostbench.errors import HostbenchError
from hostbench.export import export_run
from hostbench.parity import FACT_KEYS
from hostbench.paths import results_dir
from hostbench.render import Plot, duration, render, save_plot, slug, when
from hostbench.schedule import ENVIRONMENTS
from hostbench.stats import NO_DIFFERENCE, outliers
from hostbench.store import RunRecord, SampleRow, Store
from hostbench.summary import BASELINE, MetricResult, analyse, env_label, number

HTML_NAME = "report.html"
MARKDOWN_NAME = "report.md"
RSD_LIMIT = 10.0  # percent; above it a metric is flagged as noisy
ALPHA = 0.05  # stats.overhead's default confidence is 0.95
ERROR_CHARS = 800
TCG_BANNER = ("The VM ran under TCG: software emulation, because KVM is not usable on this host. "
              "Its numbers measure QEMU's emulator, not a KVM virtual machine; do not read them "
              "as KVM overhead.")

MetricKey = tuple[str, str]  # (workload, metric)


@dataclass(frozen=True)
class ReportPaths:
    html: Path
    markdown: Path


@dataclass(frozen=True)
class Notice:
    """One warning: what kind, one line of text, and optional verbatim detail (error text)."""

    kind: str
    text: str
    detail: str = ""


@dataclass(frozen=True)
class HeadlineRow:
    """One environment of one workload metric, formatted for the headline table."""

    env: str
    label: str
    n: int
    median: str
    median_ci: str
    rsd: str
    overhead: str
    overhead_ci: str
    p: str
    verdict: str
    underpowered: bool  # too few trials for the test to ever reject "no difference"


@dataclass(frozen=True)
class MetricGroup:
    workload: str
    metric: str
    unit: str
    better: str
    rows: list[HeadlineRow]


@dataclass(frozen=True)
class ParityCell:
    text: str
    expected: str
    ok: bool


@dataclass(frozen=True)
class ParityRow:
    fact: str
    rule: str
    cells: list[ParityCell | None]
    ok: bool


def measured(rows: list[SampleRow]) -> list[SampleRow]:
    """The samples the statistics use: ok trials that are not warm-ups."""
    return [r for r in rows if r.status == "ok" and not r.warmup]


def env_labels(run: RunRecord) -> dict[str, str]:
    vm_accel = (run.host_facts or {}).get("vm_accel", "")
    return {env: env_label(env, vm_accel) for env in ENVIRONMENTS}


def _headline(results: list[MetricResult], labels: dict[str, str]) -> list[MetricGroup]:
    groups: dict[MetricKey, MetricGroup] = {}
    for r in results:
        group = groups.setdefault((r.workload, r.metric), MetricGroup(
            r.workload, r.metric, r.unit,
            "higher is better" if r.higher_is_better else "lower is better", []))
        s, o = r.summary, r.overhead
        pct = o.overhead_pct if o else None
        verdict = "baseline" if r.env == BASELINE else o.verdict if o else "no bare-metal data"
        group.rows.append(HeadlineRow(
            env=r.env, label=labels.get(r.env, r.env), n=s.n, median=number(s.median),
            median_ci=f"{number(s.ci_low)} - {number(s.ci_high)}", rsd=f"{s.rsd:.1f}%",
            overhead=f"{pct.value:+.1f}%" if pct else "",
            overhead_ci=f"[{pct.low:+.1f}, {pct.high:+.1f}]" if pct else "",
            p=f"{o.p_value:.3f}" if o else "", verdict=verdict,
            underpowered=bool(o and min_p_value(o.n_bare, o.n_other) >= ALPHA)))
    return list(groups.values())


def _verdict_counts(results: list[MetricResult], labels: dict[str, str]) -> list[str]:
    """One line per compared environment: how many metrics are slower, faster, alike."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for r in results:
        if r.overhead:
            counts[r.env][r.overhead.verdict] += 1
    return [f"{labels.get(env, env)}: slower on {c['slower']}, faster on {c['faster']}, "
            f"no measurable difference on {c[NO_DIFFERENCE]} of {sum(c.values())} metrics"
            for env, c in counts.items()]


def _points(rows: list[SampleRow]) -> dict[MetricKey, list[plots.TrialPoint]]:
    """Every ok trial's sample per metric; measured ones flagged by stats.outliers per env."""
    groups: dict[tuple[str, str, str], list[SampleRow]] = defaultdict(list)
    for r in rows:
        if r.status == "ok":
            groups[(r.workload, r.metric, r.env)].append(r)
    result: dict[MetricKey, list[plots.TrialPoint]] = defaultdict(list)
    for (workload, metric, _env), mine in groups.items():
        kept = [r for r in mine if not r.warmup]
        flagged = {id(r) for r, f in zip(kept, outliers([r.value for r in kept]), strict=True)
                   if f}
        result[(workload, metric)].extend(
            plots.TrialPoint(r.env, r.trial, r.position, r.value, r.warmup, id(r) in flagged)
            for r in mine)
    return result


def min_p_value(n_a: int, n_b: int) -> float:
    """Smallest two-sided p-value an exact Mann-Whitney test can give for these sizes."""
    return min(1.0, 2.0 / math.comb(n_a + n_b, n_a))


def _parity_notices(parity: dict[str, Any] | None) -> list[Notice]:
    if not parity:
        return [Notice("parity", "no parity verdict is recorded with this run")]
    bad = [c for c in parity.get("checks", []) if not c.get("ok")]
    if not bad and parity.get("ok", True):
        return []
    lines = "\n".join(f"{c['env']}: {c['fact']}: expected {c['expected']}, found {c['actual']} "
                      f"({c['rule']})" for c in bad)
    if parity.get("overridden"):
        return [Notice("parity override", f"the parity check failed on {len(bad)} check(s) and "
                       "the run went ahead with --allow-mismatch: the environments were not "
                       "alike, so part of any difference may come from that", lines)]
    return [Notice("parity", f"the parity check failed on {len(bad)} check(s)", lines)]


def _notices(store: Store, run: RunRecord, rows: list[SampleRow],
             results: list[MetricResult], labels: dict[str, str]) -> list[Notice]:
    notices: list[Notice] = []
    if run.status != "complete":
        count = len(store.missing(run.id))
        missing = f"{count} of {len(run.plan)} planned trials have no ok result"
        notices.append(Notice("incomplete", (
            f"run status is running (still going, or its process was killed): {missing} yet; "
            "this report is partial") if run.status == "running" else (
            f"run status is {run.status}: {missing}; finish it with "
            f"`fab benchmark --resume {run.id}`")))
    notices += _parity_notices(run.parity)
    done = store.completed_keys(run.id)
    for t in store.trials(run.id, status="failed"):
        retried = " (retried ok later)" if t.key in done else ""
        kind = "warm-up" if t.warmup else "trial"
        raw = f"; raw output: {t.raw_path}" if t.raw_path else ""
        notices.append(Notice("failed trial", f"{t.workload} on {labels.get(t.env, t.env)}, "
                              f"{kind} {t.trial}{retried}{raw}",
                              (t.error or "(no error text recorded)")[:ERROR_CHARS]))
    for r in results:
        where = f"{r.workload} {r.metric} on {labels.get(r.env, r.env)}"
        if r.summary.rsd > RSD_LIMIT:
            notices.append(Notice("noisy", f"{where}: RSD {r.summary.rsd:.1f}% over "
                                  f"{r.summary.n} measured trials (above {RSD_LIMIT:.0f}%)"))
        if r.env != BASELINE and r.overhead is None:
            notices.append(Notice("no baseline", f"{where}: bare metal has no measured "
                                  "samples, so there is no overhead"))
    for (workload, metric), points in _points(rows).items():
        for p in points:
            if p.outlier:
                notices.append(Notice("outlier", f"{workload} {metric} on "
                                      f"{labels.get(p.env, p.env)}: trial {p.round} = "
                                      f"{number(p.value)} is an outlier (modified z-score "
                                      "above 3.5 among its environment's measured trials)"))
    weak = sorted({(r.overhead.n_bare, r.overhead.n_other) for r in results
                   if r.overhead and min_p_value(r.overhead.n_bare, r.overhead.n_other) >= ALPHA})
    if weak:
        sizes = ", ".join(f"{a} vs {b}" for a, b in weak)
        notices.append(Notice("too few trials", f"with {sizes} measured trials the Mann-Whitney "
                              f"test can never reach p < {ALPHA}, so those verdicts are 'no "
                              "measurable difference' whatever the medians say; run with "
                              "--repeat 5 or more"))
    return notices


def _parity_table(parity: dict[str, Any] | None) -> tuple[list[str], list[ParityRow]]:
    """Checks pivoted to one row per fact and one column per environment."""
    checks = (parity or {}).get("checks", [])
    envs = list(dict.fromkeys(c["env"] for c in checks))
    facts: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for c in sorted(checks, key=lambda c: c["fact"].startswith("sha256 ")):
        facts[c["fact"]][c["env"]] = c
    rows = []
    for fact, by_env in facts.items():
        cells: list[ParityCell | None] = []
        for env in envs:
            c = by_env.get(env)
            cells.append(None if c is None else
                         ParityCell(str(c["actual"]), str(c["expected"]), bool(c["ok"])))
        rule = next(iter(by_env.values()))["rule"]
        rows.append(ParityRow(fact, rule, cells, all(c["ok"] for c in by_env.values())))
    return envs, rows


def _env_fact_table(facts: dict[str, dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Environments (in the usual order) and one row per fact: its name, then each value."""
    envs = sorted(facts, key=lambda e: (ENVIRONMENTS.index(e) if e in ENVIRONMENTS else 99, e))
    rows = [[key, *("-" if facts[e].get(key) is None else str(facts[e][key]) for e in envs)]
            for key in FACT_KEYS]
    return envs, rows


def _host(run: RunRecord) -> list[tuple[str, str]]:
    h, spec, opts = run.host_facts or {}, run.stack_config or {}, run.options or {}
    cores = spec.get("cores") or []
    accel = {"tcg": "TCG (software emulation, not KVM)", "kvm": "KVM"}.get(
        h.get("vm_accel", ""), h.get("vm_accel") or "?")
    kvm = "yes" if h.get("kvm_usable") else "no"
    return [
        ("CPU model", str(h.get("cpu_model", "unknown"))),
        ("cores used", f"{len(cores)} pinned (host core {', '.join(map(str, cores))}) of "
                       f"{h.get('host_cpus', '?')} host CPUs" if cores else "not recorded"),
        ("memory per environment", f"{spec.get('memory_mib', '?')} MiB (host: "
                                   f"{h.get('memory_kib', 0) / 1048576:.1f} GiB)"),
        ("kernel", str(h.get("kernel", "?"))),
        ('"bare metal" is itself a VM', "yes: the host has the hypervisor CPU flag, so bare "
         "metal here already runs under a hypervisor" if h.get("host_is_vm") else "no"),
        ("VM acceleration", f"{accel}; KVM usable on this host: {kvm}"),
        ("CPU frequency governor", str(h.get("governor", "?"))),
        ("hostname", str(h.get("hostname", "?"))),
        ("image hash", run.image_hash or "?"),
        ("git commit", run.git_commit or "?"),
        ("suite / trials", f"{run.suite}; {opts.get('repeat', '?')} measured + "
                           f"{opts.get('warmup', '?')} warm-up round(s)"),
        ("started / finished", f"{when(run.started_at)} / {when(run.finished_at)}"),
        ("wall time", f"{duration(run.wall_seconds)} (workloads {duration(run.workload_seconds)}"
                      f", orchestration {duration(run.orchestration_seconds)})"),
    ]


def stack_yaml(run: RunRecord) -> str:
    """The run's stack config as a stacks/Pulumi.<stack>.yaml file."""
    config = dict(run.stack_config or {})
    source = config.pop("source", None)
    text = yaml.safe_dump({"config": {f"hostbench:{k}": v for k, v in config.items()}},
                          sort_keys=False, default_flow_style=None)
    header = f"# stacks/Pulumi.{run.stack}.yaml as recorded with run {run.id}\n"
    if source:
        header += f"# (read from {source}; accel is the value it resolved to)\n"
    return header + text


def reproduce_commands(run: RunRecord) -> list[tuple[str, str]]:
    """(command, comment) pairs that rebuild the environments and rerun the benchmark."""
    opts = run.options or {}
    command = run.command_line or (f".venv/bin/fab benchmark --stack {run.stack} --suite "
                                   f"{run.suite} --repeat {opts.get('repeat', 5)} --warmup "
                                   f"{opts.get('warmup', 1)}")
    image = (run.image_hash or "?")[:16]
    return [
        ("scripts/build-image", f"the image; its content hash must be {image}"),
        (f".venv/bin/fab up --stack {run.stack}", f"or: pulumi up --stack {run.stack}"),
        (command, "the command line recorded with the run"),
        (f".venv/bin/fab down --stack {run.stack}", f"or: pulumi destroy --stack {run.stack}"),
    ]


def _figures(out_dir: Path, results: list[MetricResult], points: dict[MetricKey, list[Any]],
             labels: dict[str, str]) -> list[Plot]:
    figures = []
    for key, mine in points.items():
        workload, metric = key
        own = [r for r in results if (r.workload, r.metric) == key]
        unit = own[0].unit if own else ""
        better = ("higher is better" if own[0].higher_is_better else "lower is better"
                  ) if own else ""
        title = f"{workload}: {metric}"
        data = plots.metric_figure(title, f"{unit} ({better})" if own else unit, own, mine,
                                   labels)
        figures.append(save_plot(out_dir, slug(workload, metric), title, data))
    return figures


def report_context(store: Store, run_id: str, out_dir: Path) -> dict[str, Any]:
    """Everything the templates show (plots are written to ``out_dir/plots`` on the way)."""
    run = store.get_run(run_id)
    labels = env_labels(run)
    rows = store.samples(run_id)
    results = analyse(rows, list(ENVIRONMENTS))
    env_facts = store.env_facts(run_id)
    parity_envs, parity_rows = _parity_table(run.parity)
    h = run.host_facts or {}
    groups = _headline(results, labels)
    commands = reproduce_commands(run)
    return {
        "run": run, "labels": labels, "groups": groups,
        "underpowered": any(row.underpowered for g in groups for row in g.rows),
        "verdict_counts": _verdict_counts(results, labels),
        "tcg": h.get("vm_accel") == "tcg", "tcg_banner": TCG_BANNER,
        "host_is_vm": bool(h.get("host_is_vm")),
        "overridden": bool((run.parity or {}).get("overridden")),
        "notices": _notices(store, run, rows, results, labels),
        "host": _host(run), "versions": sorted((h.get("versions") or {}).items()),
        "env_facts": _env_fact_table(env_facts),
        "parity": run.parity or {}, "parity_envs": parity_envs, "parity_rows": parity_rows,
        "figures": _figures(out_dir, results, _points(rows), labels),
        "commands": commands, "command_width": max(len(c) for c, _ in commands),
        "stack_yaml": stack_yaml(run),
        "rsd_limit": RSD_LIMIT,
    }


def write_report(store: Store, run_id: str, out_dir: Path | None = None) -> ReportPaths:
    """Write report.html (self-contained) and report.md (+ plots/*.png) for a run."""
    out = Path(out_dir) if out_dir is not None else results_dir() / "runs" / run_id
    out.mkdir(parents=True, exist_ok=True)
    context = report_context(store, run_id, out)
    paths = ReportPaths(out / HTML_NAME, out / MARKDOWN_NAME)
    paths.html.write_text(render("report.html.j2", **context), encoding="utf-8")
    paths.markdown.write_text(render("report.md.j2", **context), encoding="utf-8")
    return paths


def publish(store: Store, run_id: str, out_dir: Path | None = None
            ) -> tuple[ReportPaths, tuple[Path, Path]]:
    """The report and the sample exports (JSONL, CSV) of a run, side by side."""
    out = Path(out_dir) if out_dir is not None else results_dir() / "runs" / run_id
    return write_report(store, run_id, out), export_run(store, run_id, out)


def run_report(run_id: str | None = None) -> ReportPaths:
    """`fab report`: write the report and exports of a run (default: the latest); print paths."""
    with Store.default() as store:
        run_id = run_id or store.latest_run_id()
        if run_id is None:
            raise HostbenchError(f"no runs in {store.path} yet; run `fab benchmark` first")
        paths, exports = publish(store, run_id)
    console = table_console(highlight=False, soft_wrap=True)
    console.print(f"report of run {run_id}:")
    for path in (paths.html, paths.markdown, *exports):
        console.print(f"  {path}")
    return paths
