"""The stressor catalogue: one YAML file per misbehaving neighbour (``stressors/<name>.yaml``).

A stressor file looks like::

    description: CPU, stress-ng cpu workers on every neighbour core
    resource: cpu                       # cpu | memory | cache | fork | switch | disk | network
    binary: /usr/bin/stress-ng          # hashed by the image manifest: parity checks it
    command: [stress-ng, --cpu, "{workers}", --timeout, 1d]

The command runs until the neighbour is stopped. Placeholders: ``{workers}`` (the neighbour's
cores) and ``{scratch_dir}`` (a writable directory in the neighbour). Stressors are code: they
run as root on the host's cores, like workloads.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator

from hostbench.datafiles import load_mapping
from hostbench.errors import ConfigError
from hostbench.paths import STRESSORS_DIR
from hostbench.record_base import Record, validated
from hostbench.run.workloads import Token

RESOURCES = ("cpu", "memory", "cache", "fork", "switch", "disk", "network")
PLACEHOLDERS = frozenset({"workers", "scratch_dir"})

class StressorFile(Record):
    """The fields of a stressor file."""

    description: Token
    resource: Literal[RESOURCES]  # type: ignore[valid-type]
    binary: Annotated[str, Field(pattern=r"^/")]
    command: Annotated[list[Token], Field(min_length=1)]

    @field_validator("command")
    @classmethod
    def _known_placeholders(cls, command: list[str]) -> list[str]:
        for index, token in enumerate(command):
            try:
                names = {n for _, n, _, _ in string.Formatter().parse(token) if n is not None}
            except ValueError as exc:
                raise ValueError(f"command token {index} {token!r}: {exc}") from None
            if unknown := sorted(names - PLACEHOLDERS):
                raise ValueError(f"command token {index} {token!r} uses {{{unknown[0]}}}; "
                                 f"known: {', '.join(sorted(PLACEHOLDERS))}")
        return command


class Stressor(StressorFile):
    """One stressor, named by its file."""

    name: str
    source: str

    def argv(self, workers: int, scratch_dir: str) -> list[str]:
        """The command for a neighbour with ``workers`` cores and its writable directory."""
        values = {"workers": workers, "scratch_dir": scratch_dir}
        return [token.format_map(values) for token in self.command]


def load_stressor(path: Path) -> Stressor:
    data = load_mapping(path)
    for given in ("name", "source"):
        if given in data:
            raise ConfigError(str(path), given, "is not a known field (the file name gives "
                                                "the stressor's name)")
    return validated(Stressor, {**data, "name": path.stem, "source": str(path)}, str(path))


def load_stressors(directory: Path = STRESSORS_DIR) -> dict[str, Stressor]:
    """Every ``*.yaml`` stressor in ``directory``, by name."""
    if not directory.is_dir():
        raise ConfigError(str(directory), "(directory)", "does not exist")
    return {p.stem: load_stressor(p) for p in sorted(directory.glob("*.yaml"))}


def chosen(catalogue: Mapping[str, Stressor], names: tuple[str, ...],
           binaries: Mapping[str, str] | None = None) -> list[Stressor]:
    """The stressors named on the command line, each (given the image's ``binaries``) with a
    binary the image hashes, so parity checks it is the same file in every environment."""
    picked = []
    for name in names:
        if name not in catalogue:
            raise ConfigError("--neighbour", name, f"no such stressor (have: "
                                                   f"{', '.join(sorted(catalogue))})")
        stressor = catalogue[name]
        if binaries is not None and stressor.binary not in binaries:
            raise ConfigError(stressor.source, "binary",
                              f"{stressor.binary} is not hashed by the image manifest, so its "
                              "parity cannot be checked: add it to image/recipe.yaml")
        picked.append(stressor)
    return picked
