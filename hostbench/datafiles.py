"""Loading YAML and JSON files into plain mappings, with errors that name the file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from hostbench.errors import ConfigError

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it: the same documents, ten times faster."""


MAX_NESTING = 100
"""Brackets nested deeper than this are refused before parsing: no hostbench file comes near,
and libyaml's parser overflows its stack (killing the process) near 50,000."""


def file_bytes(path: Path, missing_hint: str = "") -> bytes:
    """The file's content; a file that cannot be read is a ConfigError naming it."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(path), "(file)", "does not exist" + missing_hint) from None
    except IsADirectoryError:
        raise ConfigError(str(path), "(file)", "is a directory, not a file") from None
    except OSError as exc:
        raise ConfigError(str(path), "(file)", f"cannot be read: {exc.strerror}") from None


_BRACKETS = re.compile(r"[\[\]{}]")


def nesting(text: str) -> int:
    """The deepest bracket nesting in ``text``, counting every bracket (quoted ones too); only
    the brackets are looked at in Python (a workload file is read six times faster)."""
    depth = deepest = 0
    for char in _BRACKETS.findall(text):
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif depth:
            depth -= 1
    return deepest


def _text(data: bytes, path: Path) -> str:
    """The file's content as UTF-8 text, refused when its brackets nest deeper than
    MAX_NESTING."""
    try:
        text = data.decode()
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), "(file)", f"is not UTF-8 text (byte 0x{data[exc.start]:02x}"
                                               f" at offset {exc.start})") from None
    if nesting(text) > MAX_NESTING:
        raise ConfigError(str(path), "(file)", f"is nested more than {MAX_NESTING} levels deep")
    return text


def _mapping(data: Any, path: Path, kind: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigError(str(path), "(top level)", f"must be a {kind} of keys to values")
    return data


def load_mapping(path: Path) -> dict[str, Any]:
    """A YAML file whose top level is a mapping."""
    return yaml_mapping(file_bytes(path), path)


def yaml_mapping(content: bytes, path: Path) -> dict[str, Any]:
    """``content``, read from ``path``, as YAML whose top level is a mapping."""
    try:
        data = yaml.load(_text(content, path), Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), "(file)", f"is not valid YAML: {exc}") from None
    return _mapping(data, path, "mapping")


def load_json_object(path: Path, missing_hint: str = "") -> dict[str, Any]:
    """A JSON file whose top level is an object; `missing_hint` says how to make it."""
    try:
        data = json.loads(_text(file_bytes(path, missing_hint), path))
    except json.JSONDecodeError as exc:
        raise ConfigError(str(path), "(file)", f"is not valid JSON: {exc}") from None
    return _mapping(data, path, "JSON object")
