"""The Debian mirror this host's apt already uses (never a hard-coded host)."""

from __future__ import annotations

import re
from pathlib import Path

from hostbench.errors import HostbenchError

APT_DIR = Path("/etc/apt")


def _one_line_entries(text: str) -> list[tuple[str, str]]:
    """(uri, suite) pairs of `deb [opts] URI SUITE COMPONENTS...` lines."""
    entries = []
    for line in text.splitlines():
        words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
        if len(words) >= 3 and words[0] == "deb":
            entries.append((words[1], words[2]))
    return entries


def _deb822_entries(text: str) -> list[tuple[str, str]]:
    """(uri, suite) pairs of deb822 `.sources` stanzas of type deb."""
    entries: list[tuple[str, str]] = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line:
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        for uri in fields.get("uris", "").split():
            entries.extend((uri, suite) for suite in fields.get("suites", "").split())
    return entries


def apt_entries(apt_dir: Path = APT_DIR) -> list[tuple[str, str]]:
    entries: list[tuple[str, str]] = []
    main_list = apt_dir / "sources.list"
    if main_list.is_file():
        entries += _one_line_entries(main_list.read_text())
    parts = apt_dir / "sources.list.d"
    for path in sorted(parts.glob("*")) if parts.is_dir() else []:
        if path.suffix == ".list":
            entries += _one_line_entries(path.read_text())
        elif path.suffix == ".sources":
            entries += _deb822_entries(path.read_text())
    return entries


def debian_mirror(suite: str, apt_dir: Path = APT_DIR) -> str:
    """The URI of the host's apt source that serves `suite` itself (not -updates/-security)."""
    for uri, entry_suite in apt_entries(apt_dir):
        if entry_suite == suite and uri.startswith(("http://", "https://", "file:/")):
            return uri
    raise HostbenchError(
        f"no apt source for Debian suite {suite!r} in {apt_dir}/sources.list(.d); "
        f"add one (e.g. 'deb <your mirror> {suite} main') so the image can be built"
    )
