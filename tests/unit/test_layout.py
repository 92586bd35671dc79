"""The package layout reads like the pipeline: data flows down, and nothing imports upward."""

from __future__ import annotations

import ast
from pathlib import Path

from hostbench.paths import PROJECT_ROOT
from hostbench.stack.environments import BARE_METAL, DEFAULT_ENVIRONMENTS

PACKAGE = PROJECT_ROOT / "hostbench"
STAGES = ("stack", "image", "provision", "reach", "run", "results", "analysis", "report",
          "commands")
"""In pipeline order; a stage may import the stages before it and the shared base modules."""
BASE = {"errors", "paths", "record_base", "datafiles", "console", "shell", "margins", "signals",
        "polling"}


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
    (tmp_path / "report" / "tables.py").write_text("from hostbench.run.run_records import Sample\n")
    assert upward_imports(tmp_path) == ["paths.py imports hostbench.stack.spec",
                                        "run/runner.py imports hostbench.results.store"]


def opens_the_default_store(package: Path) -> list[str]:
    """Modules outside commands/ that open the results database of the machine: reading stored
    runs for a command is the command's work; the stages below take the runs they are given."""
    found = []
    for path in sorted(package.rglob("*.py")):
        where = path.relative_to(package)
        if where.parts[0] != "commands":
            found += [f"{where}:{node.lineno}" for node in ast.walk(ast.parse(path.read_text()))
                      if isinstance(node, ast.Attribute) and node.attr == "default"
                      and ast.unparse(node.value) == "Store"]
    return found


def test_only_commands_open_the_default_store():
    assert opens_the_default_store(PACKAGE) == []


def test_a_report_opening_the_default_store_is_found(tmp_path):
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "run_report.py").write_text(
        "def run_report(run_id):\n    with Store.default() as store:\n        return run_id\n")
    (tmp_path / "commands").mkdir()
    (tmp_path / "commands" / "report.py").write_text("store = Store.default()\n")
    assert opens_the_default_store(tmp_path) == ["report/run_report.py:2"]


def _type_names(path: Path) -> list[str]:
    """The classes and type aliases (CamelCase names) a module defines at its top level."""
    names = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return [n for n in names if n[0].isupper() and not n.isupper()]


def types_defined_twice(package: Path) -> list[str]:
    """A class or type alias defined in two modules: one name meaning two things (or one thing
    spelt twice), which an import of the wrong one would not show."""
    where: dict[str, list[str]] = {}
    for path in sorted(package.rglob("*.py")):
        for name in _type_names(path):
            where.setdefault(name, []).append(str(path.relative_to(package)))
    return [f"{name}: {', '.join(paths)}" for name, paths in sorted(where.items())
            if len(paths) > 1]


def test_every_class_and_type_alias_has_one_name():
    assert types_defined_twice(PACKAGE) == []


def test_a_type_defined_twice_is_found(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "lifecycle.py").write_text("class Probe:\n    pass\n")
    (tmp_path / "run" / "services.py").write_text("Probe = Callable[[str, int], bool]\n"
                                                  "TIMEOUT_S = 5\n")
    (tmp_path / "errors.py").write_text("TIMEOUT_S = 5\n")
    assert types_defined_twice(tmp_path) == ["Probe: run/lifecycle.py, run/services.py"]


PLAN_SIDE = {"plan", "domain_xslt", "pulumi_program", "networks", "control"}
"""The provision modules that may read the stack: the plan (and the stylesheet it writes), the
Pulumi program's config reading, the network check that names the config key, and the control
of running environments (from the targets). Every other one is a backend: it reads the plan."""


def _backends(package: Path) -> list[Path]:
    return [path for path in sorted((package / "provision").glob("*.py"))
            if path.stem not in PLAN_SIDE | {"__init__"}]


def backend_reaches_into_the_stack(package: Path) -> list[str]:
    """A backend's imports from stack/, and its reads of a ``spec`` (the plan has the values)."""
    found = []
    for path in _backends(package):
        where = path.relative_to(package)
        found += [f"{where} imports {module}" for module in sorted(_imports(path))
                  if _stage(module) == "stack"]
        found += [f"{where}:{node.lineno} reads .spec" for node in ast.walk(
            ast.parse(path.read_text())) if isinstance(node, ast.Attribute)
            and node.attr == "spec"]
    return found


def test_the_backends_read_the_stack_only_through_the_plan():
    assert backend_reaches_into_the_stack(PACKAGE) == []


def test_a_backend_reaching_into_the_stack_is_found(tmp_path):
    (tmp_path / "provision").mkdir()
    (tmp_path / "provision" / "plan.py").write_text("from hostbench.stack.spec import StackSpec\n")
    (tmp_path / "provision" / "docker_backend.py").write_text(
        "from hostbench.stack.targets import SCRATCH_DIR\n"
        "from hostbench.provision.plan import ResourcePlan\n\n\n"
        "def stack(plan):\n    return plan.spec.stack\n")
    assert backend_reaches_into_the_stack(tmp_path) == [
        "provision/docker_backend.py imports hostbench.stack.targets",
        "provision/docker_backend.py:6 reads .spec"]


ENVIRONMENTS_MODULE = Path("stack") / "environments.py"
ENVIRONMENT_NAMES = {BARE_METAL.name, *(env.name for env in DEFAULT_ENVIRONMENTS)}


NAMING = ("name", "env", "environment", "variant_of", "target", "baseline")
"""What code calls an environment or its name: a string compared with, or looked up in, one of
these is an environment's name (elsewhere "vm" or "container" may be a kind or a word)."""


def _names_an_environment(node: ast.expr) -> bool:
    return any(word in ast.unparse(node).lower() for word in NAMING)


def _as_a_name(tree: ast.AST) -> list[ast.Constant]:
    """String constants that code uses as an environment's name: compared with a name or an
    environment, a key looked up in targets or environments, or a ``name=`` argument."""
    used: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_names_an_environment(side) for side in sides
                   if not isinstance(side, ast.Constant | ast.Tuple | ast.List | ast.Set)):
                for side in sides:
                    used += (side.elts if isinstance(side, ast.Tuple | ast.List | ast.Set)
                             else [side])
        elif isinstance(node, ast.Subscript) and _names_an_environment(node.value):
            used.append(node.slice)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "get" and _names_an_environment(node.func.value):
            used.append(node.args[0])
        elif isinstance(node, ast.keyword) and node.arg in NAMING:
            used.append(node.value)
    return [n for n in used if isinstance(n, ast.Constant) and n.value in ENVIRONMENT_NAMES]


def spelled_environment_names(package: Path) -> list[str]:
    """Where a module other than stack/environments.py spells an environment's name."""
    found = []
    for path in sorted(package.rglob("*.py")):
        if path.relative_to(package) != ENVIRONMENTS_MODULE:
            found += [f"{path.relative_to(package)}:{node.lineno} {node.value!r}"
                      for node in _as_a_name(ast.parse(path.read_text()))]
    return found


def test_only_the_environments_module_spells_an_environments_name():
    assert spelled_environment_names(PACKAGE) == []


def test_a_spelled_environment_name_is_found(tmp_path):
    (tmp_path / "stack").mkdir()
    (tmp_path / "stack" / "environments.py").write_text('BASELINE = "bare"\n')
    (tmp_path / "stack" / "spec.py").write_text('Kinds = Literal["vm", "container"]\n')
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "runner.py").write_text(
        'def bare(targets, env, seconds):\n'
        '    if env.name in ("bare", "other"):\n'
        '        return targets["vm"], run.targets.get("container"), Environment(name="bare")\n'
        '    seconds["container"] = 1.0  # a figure of the container machinery, not a name\n'
        '    return kind == "vm"\n')
    assert sorted(spelled_environment_names(tmp_path)) == [
        "run/runner.py:2 'bare'", "run/runner.py:3 'bare'", "run/runner.py:3 'container'",
        "run/runner.py:3 'vm'"]
