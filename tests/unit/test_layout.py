"""The package layout reads like the pipeline: data flows down, and nothing imports upward."""

from __future__ import annotations

import ast
from pathlib import Path

from hostbench.paths import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "hostbench"
STAGES = ("stack", "image", "provision", "reach", "run", "results", "analysis", "report",
          "commands")
"""In pipeline order; a stage may import the stages before it and the shared base modules."""
BASE = {"errors", "paths", "records", "datafiles", "console", "shell", "margins", "signals"}


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hostbench"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("hostbench"))
    return found


def upward_imports(package: Path) -> list[str]:
    """Imports of a stage from a later stage (or of any stage from a base module)."""
    upward = []
    for path in sorted(package.rglob("*.py")):
        own = path.relative_to(package).parts[0].removesuffix(".py")
        for imported in sorted(_imports(path)):
            target = _stage(imported)
            if target in BASE or target in ("", own):
                continue
            if own in BASE or STAGES.index(target) > STAGES.index(own):
                upward.append(f"{path.relative_to(package)} imports {imported}")
    return upward


def test_every_module_belongs_to_a_stage_or_the_base():
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        assert parts[0] in STAGES or parts[0] in BASE or parts == ("__init__",), path


def test_no_stage_imports_a_later_one():
    assert upward_imports(PACKAGE) == []


def test_an_upward_import_is_found(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "runner.py").write_text("from hostbench.results.store import Store\n")
    (tmp_path / "paths.py").write_text("from hostbench.stack.spec import cpuset\n")
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "tables.py").write_text("from hostbench.run.records import Sample\n")
    assert upward_imports(tmp_path) == ["paths.py imports hostbench.stack.spec",
                                        "run/runner.py imports hostbench.results.store"]
