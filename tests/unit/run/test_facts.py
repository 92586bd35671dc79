"""The host facts that describe what accounting can read on the host."""

from __future__ import annotations

import hashlib
import subprocess

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
