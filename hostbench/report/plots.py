"""Report figures as PNG bytes, drawn on matplotlib Figures with the Agg canvas.

No pyplot: the figures are never registered globally, so there is nothing to close or leak.
matplotlib is imported on first use only, so importing this module (and the fabfile) stays quick.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from hostbench.analysis.overheads import MetricResult
from hostbench.report.text import number, percent
from hostbench.run.run_records import Sample

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100
PALETTE = ("#3b6ea8", "#d9822b", "#3f9152", "#8e44ad", "#17a2b8", "#8c564b", "#e377c2",
           "#bcbd22", "#7f7f7f")
"""One colour per environment in its run's order: bare metal blue, the VM orange, the container
green, variants after them (red is kept for outliers and 'slower')."""
OTHER_COLOR = "#777777"
LOG_SPAN = 8.0  # values spanning more than this factor are plotted on a log axis
VERDICT_COLORS = {"slower": "#c0392b", "faster": "#2e8b57", "equivalent": "#1f5f99",
                  "inconclusive": "#d08a00"}
LINEAR_WITHIN = 10.0
"""Percent: the axis of a forest plot is linear within +-10% and logarithmic beyond, so a few
percent stay readable next to an emulated VM's thousands."""


@dataclass(frozen=True)
class ChangeBar:
    """One row of a forest plot: a label, a signed change in percent with its CI, a verdict,
    and the margin +-m within which a change is none."""

    label: str
    value: float
    low: float
    high: float
    verdict: str
    margin: float = 0.0


def _figure(width: float, height: float,
            layout: Literal["constrained", "compressed", "tight"] | None = None) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout=layout)


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _colors(results: Sequence[MetricResult]) -> dict[str, str]:
    names = dict.fromkeys(r.env.name for r in results)
    return {name: PALETTE[i] if i < len(PALETTE) else OTHER_COLOR
            for i, name in enumerate(names)}


def _strip(ax: Axes, results: Sequence[MetricResult]) -> None:
    """Measured trials per environment, jittered, with the median and its CI as a band."""
    colors = _colors(results)
    for x, result in enumerate(results):
        mine = result.samples
        offsets = [0.0] if len(mine) == 1 else [
            -0.18 + 0.36 * i / (len(mine) - 1) for i in range(len(mine))]
        color = colors[result.env.name]
        s = result.summary
        ax.fill_between([x - 0.3, x + 0.3], s.ci_low, s.ci_high, color=color, alpha=0.18, lw=0)
        ax.hlines(s.median, x - 0.3, x + 0.3, colors=color, lw=2.2)
        ax.scatter([x + o for o in offsets], [p.value for p in mine], s=22, color=color,
                   edgecolors=["#c0392b" if f else "white" for f in result.outliers],
                   linewidths=[1.8 if f else 0.5 for f in result.outliers], zorder=3)
    ticks = []
    for r in results:
        note = percent(r.overhead.overhead_pct.value) if r.overhead else "baseline"
        ticks.append(f"{r.env.label}\n{note}")
    ax.set_xticks(range(len(results)), ticks, fontsize=8)
    ax.set_xlim(-0.6, len(results) - 0.4)
    ax.set_title("measured trials: median (line) and 95% CI (band)", fontsize=9)


def _drift(ax: Axes, points: Sequence[Sample], results: Sequence[MetricResult]) -> None:
    """Value against trial order per environment; warm-up trials hollow on a shaded band."""
    width = max((p.position for p in points), default=0) + 1

    def x_of(p: Sample) -> float:
        return p.trial + (p.position - (width - 1) / 2) * 0.6 / max(width, 1)

    warm_rounds = [p.trial for p in points if p.warmup]
    if warm_rounds:
        ax.axvspan(min(warm_rounds) - 0.45, max(warm_rounds) + 0.45, color="#999999",
                   alpha=0.12, lw=0)
        ax.text(min(warm_rounds) - 0.4, 1.0, "warm-up", transform=ax.get_xaxis_transform(),
                va="top", fontsize=7, color="#555555")
    colors = _colors(results)
    for r in results:
        mine = sorted((p for p in points if p.env == r.env.name), key=lambda p: p.trial)
        color = colors[r.env.name]
        ax.plot([x_of(p) for p in mine], [p.value for p in mine], color=color, lw=1,
                alpha=0.6, label=r.env.label)
        for warm in (True, False):
            sel = [p for p in mine if p.warmup == warm]
            ax.scatter([x_of(p) for p in sel], [p.value for p in sel], s=22, zorder=3,
                       facecolors="none" if warm else color, edgecolors=color,
                       linewidths=1.2)
    rounds = sorted({p.trial for p in points})
    step = max(1, len(rounds) // 12)
    ax.set_xticks(rounds[::step])
    ax.set_xlabel("round (trial index; each round runs every environment once)", fontsize=8)
    ax.set_title("drift: every ok trial in the order it ran (hollow = warm-up)", fontsize=9)
    ax.legend(fontsize=7, loc="best", frameon=False)


def metric_figure(title: str, ylabel: str, results: Sequence[MetricResult],
                  points: Sequence[Sample]) -> bytes:
    """Two panels for one workload metric: the measured trials per environment (``results``),
    and drift over every ok trial (``points``, warm-ups included)."""
    from matplotlib.ticker import LogLocator

    fig = _figure(10.0, 3.4)
    fig.suptitle(title, fontsize=11, fontweight="bold")
    # Fixed margins: a layout engine would double the drawing time.
    strip_ax, drift_ax = fig.subplots(1, 2, gridspec_kw={
        "width_ratios": [1, 1.35], "left": 0.075, "right": 0.99, "bottom": 0.17, "top": 0.84,
        "wspace": 0.2})
    _strip(strip_ax, results)
    _drift(drift_ax, points, results)
    values = [p.value for p in points if p.value > 0]
    log = len(values) == len(points) and bool(values) and max(values) / min(values) > LOG_SPAN
    for ax in (strip_ax, drift_ax):
        if log:  # e.g. a TCG VM 10x slower: keep bare metal and container readable
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_minor_formatter(lambda _v, _pos: "")
        ax.set_ylabel(ylabel + (", log scale" if log else ""), fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(axis="y", alpha=0.3)
        ax.yaxis.set_major_formatter(lambda v, _pos: number(v))
    return png(fig)


def change_figure(bars: Sequence[ChangeBar], title: str,
                  xlabel: str = "change in % (+ is worse), 95% CI") -> bytes:
    """A forest plot: each row's change in percent with its 95% CI and its margin +-m shaded,
    coloured by verdict; + is worse."""
    from matplotlib.patches import Patch

    # One figure per report: a layout engine is affordable and fits the long labels.
    fig = _figure(9.0, 1.4 + 0.27 * max(len(bars), 1), layout="constrained")
    ax = fig.subplots()
    for y, bar in enumerate(reversed(bars)):
        color = VERDICT_COLORS.get(bar.verdict, OTHER_COLOR)
        if bar.margin:
            ax.fill_betweenx([y - 0.4, y + 0.4], -bar.margin, bar.margin, color="#1f5f99",
                             alpha=0.12, lw=0)
        ax.hlines(y, bar.low, bar.high, colors=color, lw=2)
        ax.plot([bar.value], [y], "o", color=color, ms=5)
    ax.axvline(0, color="#333333", lw=0.8)
    ax.set_xscale("symlog", linthresh=LINEAR_WITHIN)
    ax.set_xlim(_padded(min([-LINEAR_WITHIN, *(min(b.low, -b.margin) for b in bars)])),
                _padded(max([LINEAR_WITHIN, *(max(b.high, b.margin) for b in bars)])))
    ax.xaxis.set_major_formatter(lambda v, _pos: f"{v:+g}%" if v else "0")
    ax.set_ylim(-0.6, len(bars) - 0.4)
    ax.set_yticks(range(len(bars)), [b.label for b in reversed(bars)], fontsize=8)
    ax.set_xlabel(xlabel + f"; linear within ±{LINEAR_WITHIN:g}%, logarithmic beyond",
                  fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title, fontsize=10)
    shown = dict.fromkeys(b.verdict for b in bars)
    handles = [Patch(color=VERDICT_COLORS.get(v, OTHER_COLOR), label=v) for v in shown]
    if any(b.margin for b in bars):
        handles.append(Patch(color="#1f5f99", alpha=0.12, label="margin ±m"))
    fig.legend(handles=handles, fontsize=7, loc="outside lower center", ncol=len(handles),
               frameon=False)
    return png(fig)


def _padded(limit: float) -> float:
    """A symlog axis limit with room for the dot at its end."""
    return limit * 1.6 if abs(limit) > LINEAR_WITHIN else limit * 1.15


def _stack(ax: Axes, label: str, names: Sequence[str], values: Sequence[float],
           colors: Sequence[str]) -> float:
    """One horizontal bar of ``values`` end to end, each named for the legend; its total."""
    left = 0.0
    for name, value, color in zip(names, values, colors, strict=True):
        ax.barh([label], [value], left=left, label=name, color=color)
        left += value
    return left


def stacked_steps(steps: dict[str, list[float]], names: Sequence[str], xlabel: str,
                  totals: dict[str, float]) -> bytes:
    """Per environment one bar split into its steps (median seconds each), on its own linear
    axis: a container's second and a VM's minute both show where their time goes; ``totals``
    (the median total) is written beside each bar."""
    fig = _figure(8.0, 0.4 + 1.0 * len(steps), layout="constrained")
    axes = fig.subplots(len(steps), 1, squeeze=False)[:, 0]
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(names))]
    for ax, (label, values) in zip(axes, steps.items(), strict=True):
        left = _stack(ax, label, names, values, colors)
        ax.annotate(f" ready {number(totals[label])} s", (left, 0), va="center", fontsize=8)
        ax.set_xlim(0, left * 1.25 or 1)
    axes[-1].set_xlabel(xlabel)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="outside lower center", ncols=3)
    return png(fig)


def density_figure(series: dict[str, list[tuple[int, float, float]]]) -> bytes:
    """Per environment, against the instances running: the host memory each added instance
    cost, and the median start time."""
    fig = _figure(8.0, 3.2, layout="constrained")
    memory, start = fig.subplots(1, 2)
    for i, (label, points) in enumerate(series.items()):
        counts = [p[0] for p in points]
        color = PALETTE[(i + 1) % len(PALETTE)]
        memory.plot(counts, [p[1] for p in points], "o-", color=color, label=label)
        start.plot(counts, [p[2] for p in points], "o-", color=color, label=label)
    memory.set(xlabel="instances running", ylabel="MiB per added instance")
    for ax in (memory, start):
        ax.xaxis.get_major_locator().set_params(integer=True)
    start.set(xlabel="instances running", ylabel="start to ready, median (s)")
    start.set_yscale("log")
    memory.legend(fontsize=7)
    return png(fig)


IDLE_COLORS = {"idle": "#e4e7ea", "iowait": "#c9ced3"}
"""CPU states that are no work, in greys; the busy states take the palette."""


def cpu_split_figure(title: str, bars: Mapping[str, Mapping[str, float]]) -> bytes:
    """One stacked bar per label (an environment's measured or other cores): the seconds of
    each CPU state, on one shared axis."""
    states = [s for s in next(iter(bars.values())) if any(b[s] > 0 for b in bars.values())]
    busy = iter(PALETTE)
    colors = [IDLE_COLORS.get(s) or next(busy, OTHER_COLOR) for s in states]
    fig = _figure(9.0, 1.3 + 0.32 * len(bars), layout="constrained")
    ax = fig.subplots()
    for label, seconds in reversed(list(bars.items())):  # the first on top
        _stack(ax, label, states, [seconds[s] for s in states], colors)
    ax.set_xlabel("CPU-seconds per measured trial (mean)", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title, fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    shown = dict(zip(labels, handles, strict=True))
    fig.legend(shown.values(), shown.keys(), fontsize=7, loc="outside lower center",
               ncols=min(len(shown), 6), frameon=False)
    return png(fig)
