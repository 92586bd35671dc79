"""scripts/setup's Pulumi installer runs from a private directory that is gone afterwards."""

from __future__ import annotations

import ast
import os
import subprocess
from pathlib import Path

SETUP = Path(__file__).resolve().parents[2] / "scripts" / "setup"
FAKE_CURL = """#!/bin/sh
# writes, as the "installer", a script that reports the directory it runs from and its mode
while [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done
printf '%s\\n' 'd=$(dirname "$0"); echo "$d $(stat -c %a "$d")" > "$REPORT"' > "$out"
"""


def test_the_pulumi_installer_runs_from_a_private_directory_removed_afterwards(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "curl").write_text(FAKE_CURL)
    (bin_dir / "curl").chmod(0o755)
    report = tmp_path / "report"
    function = subprocess.run(["sed", "-n", "/^install_pulumi() (/,/^)/p", str(SETUP)],
                              capture_output=True, text=True, check=True).stdout
    assert function, "scripts/setup defines install_pulumi"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "REPORT": str(report)}
    subprocess.run(["bash", "-euc", function + "\ninstall_pulumi"], env=env, check=True)
    directory, mode = report.read_text().split()
    assert mode == "700" and not Path(directory).exists()


def _sent_to_a_remote_host() -> set[str]:
    """The modules scripts/setup sends with the daemon starter (its ``tar -c`` list)."""
    text = SETUP.read_text()
    listing = text[text.index("tar -c "):text.index("| ", text.index("tar -c "))]
    return {word for word in listing.split() if word.endswith(".py")}


def _imported(path: Path) -> set[str]:
    """The hostbench modules ``path`` imports, as files."""
    tree = ast.parse(path.read_text())
    names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    return {f"{name.replace('.', '/')}.py" for name in names if name.startswith("hostbench.")}


def test_the_daemon_starter_is_sent_with_every_module_it_imports():
    root, sent = SETUP.parents[1], _sent_to_a_remote_host()
    assert "hostbench/provision/daemons.py" in sent
    for module in sorted(sent):
        assert _imported(root / module) <= sent, module
