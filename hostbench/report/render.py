"""Shared by the run and comparison reports: Jinja templates, plot files and small formatters."""

from __future__ import annotations

import base64
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from hostbench.report.text import interval, number, overhead_text, percent

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
PLOTS_DIRNAME = "plots"


@dataclass(frozen=True)
class Plot:
    """A figure written as a PNG file (``file`` is relative to the Markdown) and inlined."""

    title: str
    file: str
    data_uri: str


def md_cell(value: Any) -> str:
    """Text safe inside a Markdown table cell: no pipes or line breaks."""
    return str(value).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def md_code(value: Any) -> str:
    """Text safe inside a fenced Markdown code block."""
    return str(value).replace("```", "'''")


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",),
                                            default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(cell=md_cell, code=md_code, num=number, when=when, percent=percent,
                       interval=interval, overhead=overhead_text)
    return env


def render(template: str, **context: Any) -> str:
    """Render one of hostbench/templates with ``context``."""
    return _environment().get_template(template).render(**context)


def slug(*parts: str) -> str:
    """A file-name-safe name made of ``parts``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(parts)).strip("_") or "plot"


def save_plot(out_dir: Path, name: str, title: str, data: bytes) -> Plot:
    """Write PNG ``data`` to ``out_dir/plots/<name>.png``; return it with its data: URI."""
    folder = out_dir / PLOTS_DIRNAME
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.png").write_bytes(data)
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return Plot(title, f"{PLOTS_DIRNAME}/{name}.png", uri)


def when(ts: str | None) -> str:
    """An ISO timestamp shortened for reading: ``2026-11-26 15:08:50+00:00``."""
    if not ts:
        return "-"
    return re.sub(r"\.\d+", "", ts.replace("T", " "))


def duration(seconds: float | None) -> str:
    """``285.9`` -> ``4 min 46 s``."""
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"
