"""The answer first: a few plain sentences per environment drawn from its verdicts, and which
rule drew them, before any table."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

from hostbench.analysis.overheads import MetricResult
from hostbench.analysis.rule import ALPHA, RULE_NAME
from hostbench.run.run_records import RunRecord

RULE_SINCE = 3
"""The first run format whose runs were judged by RULE_NAME when they ran."""


def _effect(r: MetricResult) -> str:
    o = r.overhead
    assert o is not None
    rate = f", {o.change_pct.value:+.1f}% {r.unit}" if o.higher_is_better else ""
    return f"{r.workload} {r.metric} x{o.factor.value:.3g}{rate}"


def answer_lines(results: Sequence[MetricResult]) -> list[str]:
    """Per environment: what is equivalent, what is slower or faster and by how much, and how
    many stayed open and mostly why."""
    by_env: dict[str, list[MetricResult]] = defaultdict(list)
    for r in results:
        if r.overhead is not None:
            by_env[r.env.label].append(r)
    lines = []
    for label, mine in by_env.items():
        verdicts = Counter(r.overhead.verdict for r in mine if r.overhead)
        parts = [f"{label}: {len(mine)} metrics;"]
        if verdicts["equivalent"]:
            parts.append(f"equivalent to bare metal on {verdicts['equivalent']};")
        for kind in ("slower", "faster"):
            hits = [_effect(r) for r in mine if r.overhead and r.overhead.verdict == kind]
            if hits:
                parts.append(f"{kind} on {len(hits)} ({'; '.join(hits)});")
        open_hints = Counter(_why(r.overhead.hint) for r in mine
                             if r.overhead and r.overhead.verdict == "inconclusive")
        if open_hints:
            why, _ = open_hints.most_common(1)[0]
            parts.append(f"open on {sum(open_hints.values())} (mostly: {why})")
        lines.append(" ".join(parts).rstrip(";"))
    return lines


def _why(hint: str) -> str:
    """A hint without its numbers, so that hints of one kind count together."""
    return hint.split(":")[0] if hint else "no hint"


def rule_note(record: RunRecord) -> str:
    """Which rule judged the verdicts shown, and at which level."""
    looks = len(record.stopping.looks) if record.stopping else 0
    alpha = ALPHA / looks if looks > 1 else ALPHA
    level = f"{ALPHA}" if looks <= 1 else f"{ALPHA}/{looks} (one share per planned look)"
    note = f"verdicts: {RULE_NAME} at level {level}; intervals at {100 * (1 - alpha):g}%"
    if record.format < RULE_SINCE:
        note += (f" (this run was stored by format {record.format}, judged then by bootstrap "
                 "medians and Mann-Whitney: re-judged here)")
    return note
