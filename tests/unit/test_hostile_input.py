"""Property tests: whatever a loader or parser is given, only hostbench's own errors escape,
each naming its source; never a traceback."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import string
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostbench.commands.benchmark import options_from_cli
from hostbench.console import run_cli
from hostbench.errors import HostbenchError
from hostbench.image.manifest import load_manifest
from hostbench.results.store import JSON_COLUMNS, Store
from hostbench.run.parsers import PARSERS, ParseError, parse
from hostbench.run.workloads import load_workload
from hostbench.stack.spec import load_stack_file, spec_from_mapping
from hostbench.stack.targets import load_targets_file, parse_targets
from tests.unit.results.test_store import RUN
from tests.unit.results.test_store import _run as stored_run
from tests.unit.stack.test_targets import document

OUTPUTS = Path(__file__).resolve().parent.parent / "data" / "outputs"
HOST = {"host_cpus": {0, 1}, "kvm_ok": False, "host_memory_mib": 8192, "host_disk_gib": 100}
settings.register_profile("dev", max_examples=20, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", settings.get_profile("dev"), max_examples=100)
SETTINGS = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
"""Each property is tried on 20 new inputs in a quick run, and on 100 in the whole suite
(``scripts/test`` sets HYPOTHESIS_PROFILE=ci), as Hypothesis suggests for a CI profile."""


@pytest.fixture(scope="module", autouse=True)
def examples_beside_the_tests_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Each example's files go where the tests' own do (in memory, in the quick suite): a store
    syncs every write, seconds of waiting on a busy disk."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tempfile, "tempdir", str(tmp_path_factory.mktemp("examples")))
        yield

scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats()
           | st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)
keys = st.sampled_from(["cores", "memory_mib", "disk_gib", "accel", "ssh_port", "network_cidr",
                        "image_manifest", "environments", "colour"])


def _named(exc: HostbenchError, source: str) -> None:
    """The message names ``source``, and prints as the one error line whatever it quotes."""
    assert source in str(exc), f"the message does not name {source}: {exc}"

    def fail() -> None:
        raise exc

    shown = io.StringIO()
    with contextlib.redirect_stderr(shown), contextlib.suppress(SystemExit):
        run_cli(fail)
    assert shown.getvalue().startswith("error: ") and "\x1b" not in shown.getvalue()


MARKUP = ["[/x]", "[bold]", "[/]", "[link=http://evil.invalid]", "\x1b[2J", "\x1b]8;;x\x07",
          "\r", "\x00"]
markup_text = st.lists(st.sampled_from(MARKUP) | st.text(max_size=5), max_size=6).map("".join)
"""Text that looks like rich markup or carries terminal escape sequences."""
deep = st.tuples(st.integers(101, 60_000), st.sampled_from("[{")).map(
    lambda nc: nc[1] * nc[0] + {"[": "]", "{": "}"}[nc[1]] * nc[0])
"""Brackets nested past hostbench's limit, up to where libyaml's parser overflows its stack."""
hostile_bytes = (st.binary(max_size=200) | markup_text.map(str.encode) | deep.map(str.encode)
                 | st.text(max_size=100).map(lambda t: t.encode() + b"\xff\xfe"))
"""File contents: any bytes, non-UTF-8 ones, markup-looking text and deep nesting."""


@SETTINGS
@given(st.dictionaries(keys, values, max_size=6))
def test_stack_config_values(config):
    try:
        spec_from_mapping("lab", config, "stacks/Pulumi.lab.yaml", **HOST)
    except HostbenchError as exc:
        _named(exc, "stacks/Pulumi.lab.yaml")


@SETTINGS
@given(st.text(max_size=300) | values.map(lambda v: yaml.safe_dump({"config": v})))
def test_stack_files(text):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "Pulumi.lab.yaml"
        path.write_text(text)
        try:
            load_stack_file("lab", path, **HOST)
        except HostbenchError as exc:
            _named(exc, str(path))


def _with(document: dict, path: tuple[str, ...], value: object) -> dict:
    """``document`` with the value at ``path`` replaced (or added)."""
    changed = json.loads(json.dumps(document))
    where = changed
    for key in path[:-1]:
        where = where.setdefault(key, {}) if isinstance(where, dict) else where
    if isinstance(where, dict):
        where[path[-1]] = value
    return changed


TARGET_KEYS = ("kind", "cores", "memory_mib", "host_address", "host", "port", "user", "accel",
               "rootfs", "scratch", "options", "variant_of")
targets_like = st.tuples(
    st.sampled_from([("stack",), ("spec",), ("image",), ("ssh_private_key",), ("targets",),
]
                    + [("targets", env, key) for env in ("bare", "vm", "container")
                       for key in TARGET_KEYS]),
    values).map(lambda change: _with(document(), *change))


@SETTINGS
@given(values | targets_like)
def test_targets_documents(data):
    try:
        parse_targets(data, "targets.json")
    except HostbenchError as exc:
        _named(exc, "targets.json")


@SETTINGS
@given(st.text(max_size=300) | values.map(yaml.safe_dump))
def test_workload_files(text):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "w.yaml"
        path.write_text(text)
        try:
            load_workload(path)
        except HostbenchError as exc:
            _named(exc, str(path))


def _mutated(sample: str) -> st.SearchStrategy:
    """A captured output cut, spliced or with a character changed."""
    cut = st.integers(0, len(sample))
    return (st.tuples(cut, cut).map(lambda ab: sample[min(ab):max(ab)])
            | st.tuples(cut, st.text(string.printable, max_size=8))
            .map(lambda at: sample[:at[0]] + at[1] + sample[at[0]:]))


SAMPLES = {name: (OUTPUTS / f).read_text() for name, f in {
    "sysbench_cpu": "sysbench-cpu.txt", "sysbench_memory": "sysbench-memory.txt",
    "fio_json": "fio-randread.json", "fio_json_write": "fio-randwrite.json",
    "fio_json_rw": "fio-randrw.json", "iperf3_json": "iperf3-tcp.json",
    "sockperf_pingpong": "sockperf-pingpong.txt",
    "stress_ng_switch": "stress-ng-switch.yaml", "hpcc": "hpcc-openblas.txt",
    "redis_benchmark_csv": "redis-benchmark-c50.csv",
    "sysbench_oltp": "sysbench-oltp-read-write.txt",
    "wrk_latency": "wrk-latency.txt"}.items()}


@SETTINGS
@given(st.sampled_from(sorted(PARSERS)).flatmap(
    lambda name: st.tuples(st.just(name), _mutated(SAMPLES[name]) | st.text(max_size=200))))
def test_tool_outputs(case):
    name, text = case
    try:
        values_ = parse(name, text)
    except ParseError as exc:
        assert str(exc).startswith(f"{name}: ")
    else:
        assert all(isinstance(v, float) and v >= 0 for v in values_.values())


flags = st.text(max_size=8) | st.integers(-5, 100).map(str) | st.none()


@SETTINGS
@given(st.fixed_dictionaries({}, optional={
    "repeat": flags, "warmup": flags, "min_repeat": flags, "max_repeat": flags,
    "margin": flags, "budget_min": flags, "suite": flags, "isolation": flags,
    "workload": flags, "env": flags, "stack": flags}))
def test_command_line_options(flags_given):
    try:
        options_from_cli(**flags_given, command_line="fab benchmark")
    except HostbenchError as exc:
        assert str(exc).startswith("--") or "command line" in str(exc), str(exc)


def _load_bytes(load, name: str, data: bytes) -> None:
    """``load`` of a file ``name`` holding ``data`` gives a value or a HostbenchError naming it."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / name
        path.write_bytes(data)
        try:
            load(path)
        except HostbenchError as exc:
            _named(exc, str(path))


@SETTINGS
@given(hostile_bytes)
def test_stack_files_of_any_bytes(data):
    _load_bytes(lambda p: load_stack_file("lab", p, **HOST), "Pulumi.lab.yaml", data)


@SETTINGS
@given(hostile_bytes)
def test_workload_files_of_any_bytes(data):
    _load_bytes(load_workload, "w.yaml", data)


@SETTINGS
@given(hostile_bytes | markup_text.map(lambda t: json.dumps({**document(), "stack": t}).encode()))
def test_targets_files_of_any_bytes(data):
    _load_bytes(load_targets_file, "targets.json", data)


@SETTINGS
@given(hostile_bytes | markup_text.map(lambda t: json.dumps({"hash": t}).encode()))
def test_manifests_of_any_bytes(data):
    _load_bytes(load_manifest, "manifest.json", data)


@SETTINGS
@given(st.sampled_from(sorted(JSON_COLUMNS)),
       markup_text | deep | st.text(max_size=50).map(lambda t: json.dumps({"x": t})))
def test_stored_records_of_any_text(column, text):
    with tempfile.TemporaryDirectory() as directory:
        db = Path(directory) / "hostbench.sqlite"
        with Store(db) as store:
            store.create_run(stored_run())
        with sqlite3.connect(db) as conn:
            conn.execute(f"UPDATE runs SET {column} = ?", (text,))
        try:
            with Store(db) as store:
                store.get_run(RUN)
        except HostbenchError as exc:
            _named(exc, str(db))


@SETTINGS
@given(st.sampled_from(sorted(PARSERS)).flatmap(
    lambda name: st.tuples(st.just(name), st.tuples(_mutated(SAMPLES[name]), markup_text | deep)
                           .map("".join))))
def test_tool_outputs_with_markup_and_deep_nesting(case):
    name, text = case
    try:
        values_ = parse(name, text)
    except ParseError as exc:
        _named(exc, f"{name}: ")
    else:
        assert all(isinstance(v, float) and v >= 0 for v in values_.values())
