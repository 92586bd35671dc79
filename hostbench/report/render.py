"""Shared by the run and comparison reports: Jinja templates, plot files and small formatters.

Jinja is imported on first use, when a report is written: printing tables does not need it."""

from __future__ import annotations

import base64
import functools
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import markupsafe

from hostbench.analysis.rule import METHOD, MIN_PAIRS
from hostbench.report.text import interval, number, overhead_text, percent, verdict_text

if TYPE_CHECKING:
    import jinja2

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
PLOTS_DIRNAME = "plots"


@dataclass(frozen=True)
class Plot:
    """A figure written as a PNG file (``file`` is relative to the Markdown) and inlined."""

    title: str
    file: str
    data_uri: str


MD_SPECIAL = re.compile(r"([\\`*<>|~@]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|\](?=[(\[:])"
                        r"|(?<=[A-Za-z]):(?=//)|(?<=www)\.)")
"""What Markdown would read as markup: emphasis (``_`` inside a word is none), code, raw HTML,
table cells, strikethrough, the ``]`` that makes a link of ``[text](target)`` (a CI like
``[+1.0, +2.0]`` stays as it is), and where GitHub's autolinks start: the ``:`` of ``scheme://``,
the ``.`` of ``www.`` and the ``@`` of an e-mail address."""


def md_text(value: Any) -> str:
    """Any value as literal Markdown text on one line; text a filter already made safe (a code
    block, a code span, a link target) is left as it is."""
    if isinstance(value, markupsafe.Markup):
        return value
    text = str(value).replace("\r", " ").replace("\n", " ")
    return MD_SPECIAL.sub(r"\\\1", text)


def md_code(value: Any) -> markupsafe.Markup:
    """Text safe inside a fenced Markdown code block."""
    return markupsafe.Markup(str(value).replace("```", "'''"))


def md_span(value: Any) -> markupsafe.Markup:
    """Text safe inside an inline code span (written between single backticks)."""
    return markupsafe.Markup(" ".join(str(value).replace("`", "'").splitlines()))


def md_link(value: Any) -> markupsafe.Markup:
    """A relative file path as a Markdown link target."""
    return markupsafe.Markup(urllib.parse.quote(str(value)))


def _with_filters(env: jinja2.Environment) -> jinja2.Environment:
    env.globals.update(method=METHOD, min_pairs=MIN_PAIRS)
    env.filters.update(num=number, when=when, percent=percent, interval=interval,
                       overhead=overhead_text,
                       verdict=lambda o: verdict_text(o.verdict, o.margin_pct))
    return env


@functools.cache
def _html_environment() -> jinja2.Environment:
    import jinja2

    return _with_filters(jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True))


@functools.cache
def _markdown_environment() -> jinja2.Environment:
    """Every expression is escaped as Markdown text unless ``code``, ``span`` or ``link``
    marked it, so tool output or names in a run cannot turn into markup."""
    import jinja2

    env = _with_filters(jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=False, finalize=md_text,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True))
    env.filters.update(code=md_code, span=md_span, link=md_link)
    return env


def render(template: str, **context: Any) -> str:
    """Render one of hostbench/templates with ``context`` (``*.md.j2`` as Markdown, escaped as
    such; the rest as HTML, autoescaped)."""
    env = _markdown_environment() if template.endswith(".md.j2") else _html_environment()
    return env.get_template(template).render(**context)


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
