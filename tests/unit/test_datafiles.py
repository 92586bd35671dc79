"""The YAML and JSON loaders: any file gives a mapping or a ConfigError naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostbench.datafiles import MAX_NESTING, load_json_object, load_mapping
from hostbench.errors import ConfigError

LOADERS = [load_mapping, load_json_object]
DEEP = "{a: " * 1 + "[" * 60_000 + "]" * 60_000 + "}"
"""Near the depth where libyaml's parser overflows its stack (and the process dies)."""


def _error(load, path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(info.value).startswith(f"{path}: ")
    return str(info.value)


@pytest.mark.parametrize("load", LOADERS)
def test_bytes_that_are_not_utf8_are_named(tmp_path: Path, load):
    path = tmp_path / "f"
    path.write_bytes(b'{"a": "\xff\xfe"}\n')
    assert "is not UTF-8 text (byte 0xff at offset 7)" in _error(load, path)


@pytest.mark.parametrize("load", LOADERS)
def test_a_directory_where_a_file_is_expected_is_named(tmp_path: Path, load):
    assert "is a directory, not a file" in _error(load, tmp_path)


@pytest.mark.parametrize("load", LOADERS)
@pytest.mark.parametrize("text", [DEEP, '{"a": ' + "[" * 60_000 + "]" * 60_000 + "}",
                                  '{"a": ' + "{" * 5_000 + "}" * 5_000 + "}"])
def test_deep_nesting_is_refused_before_it_is_parsed(tmp_path: Path, load, text):
    path = tmp_path / "f"
    path.write_text(text)
    assert f"nested more than {MAX_NESTING} levels deep" in _error(load, path)
