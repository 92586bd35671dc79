"""The practical margin of a verdict: its default, and how it is written."""

from __future__ import annotations

DEFAULT_MARGIN_PCT = 3.0
"""The practical margin m of a workload's verdicts when its file gives none: a difference within
+-m% is no difference that matters."""


def margin_text(margin_pct: float) -> str:
    """A margin as people read it: ``5.4``, ``24``, ``3`` (one decimal at most)."""
    return f"{margin_pct:.1f}".rstrip("0").rstrip(".") if margin_pct < 10 else f"{margin_pct:.0f}"
