"""Numbers and overheads as every table, report and plot writes them."""

from __future__ import annotations

from hostbench.analysis.evidence import Evidence, EvidenceRow
from hostbench.analysis.stats import Estimate, Overhead
from hostbench.margins import margin_text

VERDICT_STYLES = {"slower": "red", "faster": "green", "equivalent": "blue",
                  "inconclusive": "yellow"}


def number(value: float) -> str:
    """Four significant digits, grouped thousands instead of exponents."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def percent(value: float) -> str:
    return f"{value:+.1f}%"


def interval(estimate: Estimate) -> str:
    return f"[{estimate.low:+.1f}, {estimate.high:+.1f}]"


def overhead_text(estimate: Estimate) -> str:
    """A signed overhead or change in percent with its CI: ``+8.9% [+7.1, +10.1]``."""
    return f"{percent(estimate.value)} {interval(estimate)}"


def effect_text(o: Overhead) -> str:
    """An overhead as a percentage, a factor and, for a rate, the rate's own change:
    ``+36.2% [+35.5, +37.0] x1.36 (rate -26.6%)``."""
    rate = f" (rate {percent(o.change_pct.value)})" if o.higher_is_better else ""
    return f"{overhead_text(o.overhead_pct)} x{o.factor.value:.3g}{rate}"


def verdict_text(verdict: str, margin_pct: float) -> str:
    """``equivalent (+-3%)``: an equivalence is only ever within a margin."""
    return f"{verdict} (±{margin_text(margin_pct)}%)" if verdict == "equivalent" else verdict


def better_text(higher_is_better: bool) -> str:
    return "higher is better" if higher_is_better else "lower is better"


def signed(value: float) -> str:
    """A difference with its sign, as ``number`` writes it: ``+2.1``, ``-1,200``."""
    return ("-" if value < 0 else "+") + number(abs(value))


def figure_text(row: EvidenceRow) -> str:
    """``NET_RX softirqs +1,200 x3.02``: a figure's difference per unit of work and its ratio."""
    unit = f" {row.unit}" if row.unit else ""
    ratio = f" x{row.ratio.value:.3g}" if row.ratio else ""
    return f"{row.label} {signed(row.difference)}{unit}{ratio}"


def evidence_text(e: Evidence) -> str:
    """The accounting figures that differ most from bare metal's, per unit of work, and the
    environment's own machinery that bare metal has none of."""
    top, own = e.top(), e.own()
    text = (f"{e.work.label} against bare metal: " + "; ".join(figure_text(r) for r in top)
            if top else f"{e.work.label}: no accounting figure differs clearly from bare metal's")
    if own:
        text += "; its own machinery: " + ", ".join(
            f"{r.label.removeprefix('host ')} {number(r.other)} {r.unit}" for r in own)
    return text
