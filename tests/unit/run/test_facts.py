"""The host facts that describe what accounting can read on the host."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
from pathlib import Path

from hostbench.run.facts import FACTS_SCRIPT, counters_fact, host_facts, parse_facts


def test_the_hosts_counters_are_named_as_perf_answered_never_as_zero():
    assert counters_fact("123456", True).startswith("hardware counters: readable")
    none = counters_fact("<not supported>", False)
    assert "cycles <not supported>" in none and "TCG" in none
    assert "perf is not installed" in counters_fact("no perf", False)
    assert "does not count exits" in counters_fact("", True)


def test_this_hosts_facts_say_what_perf_answered():
    assert host_facts().counters.startswith("hardware counters: ")


def test_the_facts_script_hashes_every_binary_found_and_names_the_missing(tmp_path):
    """Run here by sh as in an environment: one digest per file (names with spaces too), in
    the order asked or not, and "missing" for what is not there."""
    files = {tmp_path / "sysbench": b"one", tmp_path / "a b": b"two"}
    for path, data in files.items():
        path.write_bytes(data)
    asked = [str(tmp_path / "gone"), *map(str, files)]
    out = subprocess.run(["sh", "-c", FACTS_SCRIPT, "sh", *asked], capture_output=True,
                         text=True, check=True).stdout
    assert parse_facts(out).binaries == {
        str(tmp_path / "gone"): "missing",
        **{str(path): hashlib.sha256(data).hexdigest() for path, data in files.items()}}


def test_the_facts_script_starts_few_programs_and_reads_what_they_read_before(tmp_path):
    """Under TCG each program started costs about 60 ms: single-line files are read by the
    shell itself. Every program run is logged by a stand-in on PATH that then runs the real
    one; the facts are those the programs give (os-release read, not sourced)."""
    log, shims = tmp_path / "started", tmp_path / "bin"
    shims.mkdir()
    real_path = os.environ["PATH"]
    for name in ("nproc", "sed", "cat", "uname", "readlink", "systemd-detect-virt", "grep",
                 "tr", "sha256sum", "head"):
        shim = shims / name
        shim.write_text(f'#!/bin/sh\necho {name} >> "{log}"\n'
                        f'PATH="{real_path}" exec {name} "$@"\n')
        shim.chmod(0o755)
    out = subprocess.run(["/bin/sh", "-c", FACTS_SCRIPT, "sh", sys.executable],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "PATH": str(shims)}).stdout
    started = log.read_text().split()
    assert len(started) <= 5, started  # nproc, sed, readlink, systemd-detect-virt, sha256sum
    facts = parse_facts(out)
    assert facts.kernel == platform.release() and facts.nproc == len(os.sched_getaffinity(0))
    pretty = next(line.split("=", 1)[1].strip('"') for line in
                  Path("/etc/os-release").read_text().splitlines()
                  if line.startswith("PRETTY_NAME="))
    assert facts.os_release == pretty and facts.memtotal_kib > 0 and facts.clocksource
