"""The report of one run: a self-contained HTML page, and Markdown with its PNG plots beside it."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hostbench.analysis.evidence import CORES, Evidence, EvidenceRow, RunEvidence
from hostbench.analysis.factors import FactorEffect
from hostbench.analysis.isolation import losses, neighbour_note
from hostbench.analysis.isolation import table as isolation_table
from hostbench.analysis.overheads import MetricResult
from hostbench.analysis.references import ReferenceComparison, compare, load_references
from hostbench.analysis.rule import MIN_PAIRS
from hostbench.analysis.run_analysis import RunAnalysis, analyse_run
from hostbench.analysis.stats import VERDICTS, underpowered
from hostbench.paths import run_dir
from hostbench.report import plots
from hostbench.report.answer import answer_lines, rule_note
from hostbench.report.lifecycle_report import write_lifecycle_report
from hostbench.report.render import Plot, duration, render, save_plot, slug, when
from hostbench.report.tables import result_verdict
from hostbench.report.text import (
    better_text,
    evidence_text,
    interval,
    number,
    percent,
    verdict_text,
)
from hostbench.report.verdict_export import export_evidence, export_verdicts
from hostbench.results.export import export_accounting, export_run
from hostbench.results.store import StoredRun
from hostbench.run.facts import SHOWN_FACTS
from hostbench.run.parity import ParityVerdict
from hostbench.run.phases import PHASES, breakdown
from hostbench.run.run_records import Margins, RunRecord, Sample
from hostbench.stack.environments import BASELINE

HTML_NAME = "report.html"
MARKDOWN_NAME = "report.md"
RSD_LIMIT = 10.0  # percent; above it a metric is flagged as noisy
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

    label: str
    n: int
    median: str
    median_ci: str
    rsd: str
    overhead: str
    overhead_ci: str
    p: str
    verdict: str  # as shown: "equivalent (±3%)"
    kind: str  # slower, faster, equivalent, inconclusive, baseline or none
    hint: str  # what would resolve an inconclusive verdict
    underpowered: bool  # too few trials for the test to ever reject "no difference"
    evidence: str = ""  # beside a slower verdict: the accounting figures that differ most


@dataclass(frozen=True)
class MetricGroup:
    workload: str
    metric: str
    unit: str
    better: str
    margin: str  # the margin and where it comes from
    rows: list[HeadlineRow]


@dataclass(frozen=True)
class FactorRow:
    """One factor effect, formatted: a variant against the environment it varies."""

    workload: str
    metric: str
    unit: str
    better: str
    variant: str
    base: str
    factor: str
    median_base: str
    median_variant: str
    change: str
    change_ci: str
    p: str
    verdict: str
    kind: str


@dataclass(frozen=True)
class ReferenceRow:
    """A published overhead beside ours, formatted."""

    experiment: str
    environment: str
    published: str
    published_kind: str  # slower, faster or equivalent (within our margin)
    ours: str
    ours_ci: str
    ours_kind: str
    agreement: str
    note: str


@dataclass(frozen=True)
class ReferenceSection:
    """One publication: what it ran on, and its rows."""

    title: str
    authors: str
    published: str
    repository: str
    hardware: str
    software: str
    rows: list[ReferenceRow]


def _reference_sections(comparisons: Sequence[ReferenceComparison]) -> list[ReferenceSection]:
    sections: dict[str, ReferenceSection] = {}
    for c in comparisons:
        ref, ours = c.reference, c.ours.overhead
        assert ours is not None  # compare() keeps only environments with an overhead
        section = sections.setdefault(ref.source, ReferenceSection(
            ref.title, ref.authors, ref.published, ref.repository, ref.hardware, ref.software,
            []))
        section.rows.append(ReferenceRow(
            experiment=c.figure.experiment, environment=c.ours.env.label,
            published=percent(c.published_pct), published_kind=c.published,
            ours=percent(ours.overhead_pct.value), ours_ci=interval(ours.overhead_pct),
            ours_kind=ours.verdict, agreement=c.agreement,
            note="; ".join(n for n in (c.figure.note, f"raw data: {c.figure.raw_data}") if n)))
    return list(sections.values())


@dataclass(frozen=True)
class FigureRow:
    """One accounting figure per unit of work, bare metal's beside an environment's."""

    label: str
    bare: str
    other: str
    ratio: str
    pairs: str


@dataclass(frozen=True)
class EvidenceTable:
    env: str
    rows: list[FigureRow]


@dataclass(frozen=True)
class EvidenceSection:
    """One workload: where its CPUs' time went per environment, and its figures per unit of
    work against bare metal."""

    workload: str
    work: str
    cpu: Plot | None
    tables: list[EvidenceTable]


def _ratio_text(row: EvidenceRow) -> str:
    r = row.ratio
    if r is None:
        return "no ratio: a side measured 0"
    if not (r.low > 0 and math.isfinite(r.high)):
        return f"x{r.value:.3g} (no interval)"
    return f"x{r.value:.3g} [x{r.low:.3g}, x{r.high:.3g}]"


def _evidence_table(e: Evidence) -> EvidenceTable:
    return EvidenceTable(e.env.label, [FigureRow(
        label=f"{row.label}" + (f" ({row.unit})" if row.unit else ""), bare=number(row.bare),
        other=number(row.other), ratio=_ratio_text(row),
        pairs=f"{row.pairs}" + (f" ({row.dropped} dropped)" if row.dropped else ""))
        for row in e.rows])


def _evidence_sections(out_dir: Path, evidence: RunEvidence) -> list[EvidenceSection]:
    """Per workload with accounting: the stacked CPU-state bars and the evidence tables."""
    sections = []
    for workload in dict.fromkeys([*(s.workload for s in evidence.cpu),
                                   *(e.workload for e in evidence.evidence)]):
        bars = {f"{s.env.label} · {where}": s.states[key] for s in evidence.cpu
                if s.workload == workload for key, where in CORES.items()}
        title = f"{workload}: where the host CPUs' time went"
        cpu = save_plot(out_dir, slug("cpu", workload), title,
                        plots.cpu_split_figure(title, bars)) if bars else None
        mine = [e for e in evidence.evidence if e.workload == workload]
        sections.append(EvidenceSection(workload, mine[0].work.label if mine else "", cpu,
                                        [_evidence_table(e) for e in mine]))
    return sections


@dataclass(frozen=True)
class EnvironmentRow:
    name: str
    kind: str
    varies: str
    options: str
    neighbours: str  # the host CPU the others used during its measured trials


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


def _by_metric(results: Sequence[MetricResult]) -> dict[MetricKey, list[MetricResult]]:
    groups: dict[MetricKey, list[MetricResult]] = {}
    for r in results:
        groups.setdefault(r.key, []).append(r)
    return groups


def _evidence_beside(r: MetricResult, evidence: RunEvidence) -> str:
    """The evidence line of a slower verdict ("" for any other, or without accounting)."""
    found = evidence.of(r.workload, r.env.name)
    return evidence_text(found) if found and r.overhead and r.overhead.verdict == "slower" \
        else ""


def _headline(results: Sequence[MetricResult], margins: Margins, evidence: RunEvidence
              ) -> list[MetricGroup]:
    groups = []
    for (workload, metric), mine in _by_metric(results).items():
        rows = []
        for r in mine:
            s, o = r.summary, r.overhead
            rows.append(HeadlineRow(
                label=r.env.label, n=s.n, median=number(s.median),
                median_ci=f"{number(s.ci_low)} - {number(s.ci_high)}", rsd=f"{s.rsd:.1f}%",
                overhead=percent(o.overhead_pct.value) if o else "",
                overhead_ci=interval(o.overhead_pct) if o else "",
                p=f"{o.p_value:.3f}" if o else "", verdict=result_verdict(r),
                kind=o.verdict if o else ("baseline" if r.env.is_baseline else "none"),
                hint=o.hint if o else "", underpowered=bool(o and underpowered(o)),
                evidence=_evidence_beside(r, evidence)))
        groups.append(MetricGroup(workload, metric, mine[0].unit,
                                  better_text(mine[0].higher_is_better),
                                  margins.describe(workload, metric), rows))
    return groups


def _factor_rows(effects: Sequence[FactorEffect]) -> list[FactorRow]:
    return [FactorRow(
        workload=e.workload, metric=e.metric, unit=e.unit, better=better_text(e.higher_is_better),
        variant=e.variant.label, base=e.base.label, factor=e.factor,
        median_base=number(e.change.median_reference), median_variant=number(e.change.median_other),
        change=percent(e.change.overhead_pct.value), change_ci=interval(e.change.overhead_pct),
        p=f"{e.change.p_value:.3f}", verdict=verdict_text(e.change.verdict, e.change.margin_pct),
        kind=e.change.verdict) for e in effects]


def _factor_figure(out_dir: Path, effects: Sequence[FactorEffect]) -> Plot | None:
    if not effects:
        return None
    bars = [plots.ChangeBar(f"{e.workload} {e.metric} · {e.variant.name} vs {e.base.name}",
                            e.change.overhead_pct.value, e.change.overhead_pct.low,
                            e.change.overhead_pct.high, e.change.verdict, e.change.margin_pct)
            for e in effects]
    return save_plot(out_dir, "factor-effects", "factor effects",
                     plots.change_figure(bars, "each variant against the environment it varies"))


def _level(alpha: float) -> str:
    """The confidence of a run's intervals as the report writes it: ``95%``, ``99%``."""
    return f"{100 * (1 - alpha):g}%"


def _overview_figure(out_dir: Path, results: Sequence[MetricResult], level: str
                     ) -> Plot | None:
    """The picture first: every overhead against bare metal, with its CI, margin and verdict."""
    bars = [plots.ChangeBar(f"{r.workload} {r.metric} · {r.env.label}",
                            r.overhead.overhead_pct.value, r.overhead.overhead_pct.low,
                            r.overhead.overhead_pct.high, r.overhead.verdict,
                            r.overhead.margin_pct)
            for r in results if r.overhead is not None]
    if not bars:
        return None
    return save_plot(out_dir, "overview", "overhead against bare metal",
                     plots.change_figure(bars, "overhead against bare metal, every metric",
                                         f"overhead in % (+ is worse), {level} CI"))


def _environment_rows(run: StoredRun) -> list[EnvironmentRow]:
    """Each environment: its kind and options, and what its neighbours used while it ran."""
    rows = []
    for env in run.record.environments:
        used = sorted(t.neighbours_cpu_s for t in run.trials
                      if t.env == env.name and t.status == "ok" and not t.warmup
                      and t.neighbours_cpu_s is not None)
        rows.append(EnvironmentRow(
            name=env.label, kind=env.kind.value, varies=env.variant_of or "",
            options=", ".join(f"{k}: {v}" for k, v in env.changed_options().items()) or "defaults",
            neighbours=(f"median {used[len(used) // 2] * 1000:.1f} ms, max "
                        f"{used[-1] * 1000:.1f} ms per trial" if used else "not measured")))
    return rows


def _verdict_counts(results: Sequence[MetricResult]) -> list[str]:
    """One line per compared environment: how many metrics got each verdict."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for r in results:
        if r.overhead:
            counts[r.env.label][r.overhead.verdict] += 1
    return [f"{label}: " + ", ".join(f"{v} on {c[v]}" for v in VERDICTS)
            + f" of {sum(c.values())} metrics" for label, c in counts.items()]


def _parity_notices(parity: ParityVerdict | None) -> list[Notice]:
    if parity is None:
        return [Notice("parity", "no parity verdict is recorded with this run")]
    bad = parity.failures
    if not bad and parity.ok:
        return []
    lines = "\n".join(c.describe() for c in bad)
    if parity.overridden:
        return [Notice("parity override", f"the parity check failed on {len(bad)} check(s) and "
                       "the run went ahead with --allow-mismatch: the environments were not "
                       "alike, so part of any difference may come from that", lines)]
    return [Notice("parity", f"the parity check failed on {len(bad)} check(s)", lines)]


def _time_to_tell(run: StoredRun, r: MetricResult) -> str:
    """The rounds still missing for a verdict, and what they would cost at this run's pace
    (bare metal and the environment, one trial each per round)."""
    o = r.overhead
    if o is None or not o.rounds_needed or o.rounds_needed <= o.n_pairs:
        return ""
    walls = [t.wall_s for t in run.trials if t.workload == r.workload and not t.warmup
             and t.status == "ok" and t.wall_s and t.env in (r.env.name, BASELINE)]
    more = o.rounds_needed - o.n_pairs
    if not walls:
        return f" ({more} more rounds)"
    minutes = more * 2 * sum(walls) / len(walls) / 60
    return f" ({more} more rounds, about {minutes:.1f} min with bare metal's)"


def _notices(run: StoredRun, analysis: RunAnalysis) -> list[Notice]:
    record, results, notices = run.record, analysis.results, []
    if analysis.catalogue_note:
        notices.append(Notice("catalogue", analysis.catalogue_note))
    if record.status != "complete":
        missing = f"{len(run.missing())} of {len(record.plan)} planned trials have no ok result"
        notices.append(Notice("incomplete", (
            f"run status is running (still going, or its process was killed): {missing} yet; "
            "this report is partial") if record.status == "running" else (
            f"run status is {record.status}: {missing}; finish it with "
            f"`fab benchmark --resume {record.id}`")))
    notices += _parity_notices(record.parity)
    done = run.completed_keys()
    for t in run.failed_trials():
        retried = " (retried ok later)" if t.key in done else ""
        kind = "warm-up" if t.warmup else "trial"
        raw = f"; raw output: {t.raw_path}" if t.raw_path else ""
        notices.append(Notice("failed trial", f"{t.workload} on {record.label(t.env)}, "
                              f"{kind} {t.trial}{retried}{raw}",
                              (t.error or "(no error text recorded)")[:ERROR_CHARS]))
    for r in results:
        where = f"{r.workload} {r.metric} on {r.env.label}"
        if r.summary.rsd > RSD_LIMIT:
            notices.append(Notice("noisy", f"{where}: RSD {r.summary.rsd:.1f}% over "
                                  f"{r.summary.n} measured trials (above {RSD_LIMIT:.0f}%)"))
        if r.no_overhead:
            notices.append(Notice("no baseline", f"{where}: {r.no_overhead}, so there is no "
                                  "overhead"))
        if r.overhead is not None and r.overhead.verdict == "inconclusive":
            notices.append(Notice("inconclusive", f"{where}: {r.overhead.hint}"
                                  f"{_time_to_tell(run, r)}"))
        for sample, flagged in zip(r.samples, r.outliers, strict=True):
            if flagged:
                notices.append(Notice("outlier", f"{where}: trial {sample.trial} = "
                                      f"{number(sample.value)} is an outlier (modified z-score "
                                      "above 3.5 among its environment's measured trials)"))
    for note in analysis.evidence.notes:
        notices.append(Notice("accounting", f"{note.env.label}: {note.trials} of {note.of} "
                              "measured trials have incomplete accounting; what they lack is "
                              "left out of the evidence", note.example[:ERROR_CHARS]))
    weak = sorted({(r.overhead.n_reference, r.overhead.n_other) for r in results
                   if r.overhead and underpowered(r.overhead)})
    if weak:
        sizes = ", ".join(f"{a} vs {b}" for a, b in weak)
        notices.append(Notice("too few trials", f"with {sizes} measured trials no verdict is "
                              f"given (fewer than {MIN_PAIRS} paired rounds), whatever the "
                              "medians say; run with --repeat 5 or more"))
    return notices


def _parity_table(parity: ParityVerdict | None) -> tuple[list[str], list[ParityRow]]:
    """Checks pivoted to one row per fact and one column per environment."""
    checks = parity.checks if parity else []
    envs = list(dict.fromkeys(c.env for c in checks))
    facts: dict[str, dict[str, Any]] = defaultdict(dict)
    for c in sorted(checks, key=lambda c: c.fact.startswith("sha256 ")):
        facts[c.fact][c.env] = c
    rows = []
    for fact, by_env in facts.items():
        cells = [None if (check := by_env.get(env)) is None
                 else ParityCell(check.actual, check.expected, check.ok) for env in envs]
        rule = next(iter(by_env.values())).rule
        rows.append(ParityRow(fact, rule, cells, all(c.ok for c in by_env.values())))
    return envs, rows


def _env_fact_table(run: StoredRun) -> tuple[list[str], list[list[str]]]:
    """Environments (in the run's order) and one row per fact: its name, then each value."""
    envs = [e.name for e in run.record.environments if e.name in run.env_facts]
    envs += sorted(set(run.env_facts) - set(envs))
    rows = [[key, *("-" if (v := getattr(run.env_facts[e], key)) is None else str(v)
                    for e in envs)]
            for key in SHOWN_FACTS]
    return envs, rows


def _host(run: RunRecord) -> list[tuple[str, str]]:
    h, spec, opts = run.host, run.spec, run.options
    cores = list(spec.cores) if spec else []
    vms = [e for e in run.environments if e.accel]
    accel = ", ".join(f"{e.name}: " + ("TCG (software emulation, not KVM)" if e.accel == "tcg"
                                       else "KVM") for e in vms) or "no VM"
    kvm = "yes" if h and h.kvm_usable else "no"
    host_cpus = h.host_cpus if h else "?"
    phases = f": {breakdown(run.orchestration, len(PHASES))}" if run.orchestration else ""
    return [
        ("CPU model", h.cpu_model if h else "unknown"),
        ("cores used", f"{len(cores)} pinned (host core {', '.join(map(str, cores))}) of "
                       f"{host_cpus} host CPUs" if cores else "not recorded"),
        ("memory per environment", f"{spec.memory_mib if spec else '?'} MiB (host: "
                                   f"{(h.memory_kib if h else 0) / 1048576:.1f} GiB)"),
        ("kernel", h.kernel if h else "?"),
        ('"bare metal" is itself a VM', "yes: the host has the hypervisor CPU flag, so bare "
         "metal here already runs under a hypervisor" if h and h.host_is_vm else "no"),
        ("idle neighbours", {"pause": "paused during every trial",
                             "none": "left running during every trial"}[run.options.isolation]),
        ("VM acceleration", f"{accel}; KVM usable on this host: {kvm}"),
        ("CPU frequency governor", h.governor if h else "?"),
        ("counters and VM exits", (h.counters if h else "") or "not recorded"),
        ("container runtimes", ", ".join(f"{name} {args}".strip() for name, args in
                                         sorted(h.container_runtimes.items())) if h else "?"),
        ("hostname", h.hostname if h else "?"),
        ("image hash", run.image_hash or "?"),
        ("git commit", run.git_commit or "?"),
        ("suite / trials", f"{run.suite}; {opts.repeat} measured + {opts.warmup} warm-up "
                           "round(s)"),
        ("started / finished", f"{when(run.started_at)} / {when(run.finished_at)}"),
        ("wall time", f"{duration(run.wall_seconds)} (workloads {duration(run.workload_seconds)}"
                      f", orchestration {duration(run.orchestration_seconds)}{phases})"),
    ]


def stack_yaml(run: RunRecord) -> str:
    """The run's stack config as a stacks/Pulumi.<stack>.yaml file."""
    header = f"# stacks/Pulumi.{run.stack}.yaml as recorded with run {run.id}\n"
    if run.spec is None:
        return header + "# (no stack config was recorded)\n"
    config = run.spec.model_dump(mode="json", exclude={"stack", "source", "environments"},
                                 exclude_unset=True)
    text = yaml.safe_dump({"config": {f"hostbench:{k}": v for k, v in config.items()}},
                          sort_keys=False, default_flow_style=None)
    if run.spec.source:
        header += f"# (read from {run.spec.source}; accel is the value it resolved to)\n"
    return header + text


def reproduce_commands(run: RunRecord) -> list[tuple[str, str]]:
    """(command, comment) pairs that rebuild the environments and rerun the benchmark."""
    opts = run.options
    command = run.command_line or (f".venv/bin/fab benchmark --stack {run.stack} --suite "
                                   f"{run.suite} --repeat {opts.repeat} --warmup {opts.warmup}")
    image = (run.image_hash or "?")[:16]
    return [
        ("scripts/build-image", f"the image; its content hash must be {image}"),
        (f".venv/bin/fab up --stack {run.stack}", f"or: pulumi up --stack {run.stack}"),
        (command, "the command line recorded with the run"),
        (f".venv/bin/fab down --stack {run.stack}", f"or: pulumi destroy --stack {run.stack}"),
    ]


def _figures(out_dir: Path, results: Sequence[MetricResult], samples: Sequence[Sample]
             ) -> list[Plot]:
    figures = []
    for (workload, metric), mine in _by_metric(results).items():
        points = [s for s in samples if (s.workload, s.metric) == (workload, metric)]
        title = f"{workload}: {metric}"
        ylabel = f"{mine[0].unit} ({better_text(mine[0].higher_is_better)})"
        data = plots.metric_figure(title, ylabel, mine, points)
        figures.append(save_plot(out_dir, slug(workload, metric), title, data))
    return figures


def _isolation(run: StoredRun) -> dict[str, Any] | None:
    """The isolation table of a run with neighbours (None without): kinds, rows, placement."""
    found = losses(run.measured(), run.record.environments, run.record.verdict_margins)
    if not found:
        return None
    kinds, rows = isolation_table(found)
    return {"kinds": kinds, "rows": rows,
            "note": neighbour_note(run.record.options.neighbour_cores)}


def report_context(run: StoredRun, out_dir: Path, analysis: RunAnalysis) -> dict[str, Any]:
    """Everything the templates show (plots are written to ``out_dir/plots`` on the way)."""
    record = run.record
    results, effects = analysis.results, analysis.effects
    parity_envs, parity_rows = _parity_table(record.parity)
    groups = _headline(results, record.verdict_margins, analysis.evidence)
    commands = reproduce_commands(record)
    return {
        "run": record, "labels": {e.name: e.label for e in record.environments},
        "groups": groups, "factors": _factor_rows(effects),
        "answer": answer_lines(results),
        "rule_note": rule_note(record),
        "overview": _overview_figure(out_dir, results, _level(analysis.alpha)),
        "level": _level(analysis.alpha),
        "margins": record.verdict_margins,
        "factor_figure": _factor_figure(out_dir, effects),
        "isolation": _isolation(run),
        "references": _reference_sections(compare(results, load_references(analysis.catalogue))),
        "environments": _environment_rows(run),
        "underpowered": any(row.underpowered for g in groups for row in g.rows),
        "verdict_counts": _verdict_counts(results),
        "tcg": "tcg" in record.vm_accels, "tcg_banner": TCG_BANNER,
        "host_is_vm": bool(record.host and record.host.host_is_vm),
        "overridden": bool(record.parity and record.parity.overridden),
        "notices": _notices(run, analysis),
        "evidence": _evidence_sections(out_dir, analysis.evidence),
        "host": _host(record),
        "versions": sorted(record.host.versions.items()) if record.host else [],
        "env_facts": _env_fact_table(run),
        "parity": record.parity, "parity_envs": parity_envs, "parity_rows": parity_rows,
        "figures": _figures(out_dir, results, run.samples()),
        "commands": commands, "command_width": max(len(c) for c, _ in commands),
        "stack_yaml": stack_yaml(record),
        "rsd_limit": RSD_LIMIT,
    }


def write_report(run: StoredRun, out_dir: Path | None = None,
                 analysis: RunAnalysis | None = None) -> ReportPaths:
    """Write report.html (self-contained) and report.md (+ plots/*.png) for a run."""
    out = Path(out_dir) if out_dir is not None else run_dir(run.id)
    if run.record.purpose == "lifecycle":
        return ReportPaths(*write_lifecycle_report(run, out))
    out.mkdir(parents=True, exist_ok=True)
    context = report_context(run, out, analysis or analyse_run(run))
    paths = ReportPaths(out / HTML_NAME, out / MARKDOWN_NAME)
    paths.html.write_text(render("report.html.j2", **context), encoding="utf-8")
    paths.markdown.write_text(render("report.md.j2", **context), encoding="utf-8")
    return paths


def publish(run: StoredRun, out_dir: Path | None = None, analysis: RunAnalysis | None = None
            ) -> tuple[ReportPaths, tuple[Path, ...]]:
    """The report, the sample exports (JSONL, CSV), the trials' accounting (CSV), the verdicts
    and the evidence (CSV) of a run (a lifecycle run has no verdicts against bare metal)."""
    out = Path(out_dir) if out_dir is not None else run_dir(run.id)
    if run.record.purpose == "lifecycle":
        return write_report(run, out), export_run(run, out)
    analysis = analysis or analyse_run(run)
    return write_report(run, out, analysis), (*export_run(run, out),
                                              export_accounting(run, out),
                                              export_verdicts(out, analysis),
                                              export_evidence(out, analysis))
