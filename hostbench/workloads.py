"""The workload catalogue: one YAML file per benchmark, validated against the parsers.

A workload file (``workloads/<name>.yaml``) looks like::

    description: CPU, sysbench prime-number events
    category: cpu                       # cpu | memory | disk | network | kernel
    command: [sysbench, cpu, "--threads={threads}", "--time={duration}", run]
    parameters: {max_prime: 20000}      # optional defaults for {placeholders}
    durations: {quick: 5, standard: 30} # seconds per suite; in a suite iff listed
    timeout_s: 360                      # per trial; must exceed every duration
    parser: sysbench_cpu                # a name in hostbench.parsers.PARSERS
    metrics:                            # a subset of what the parser reports
      events_per_second: {unit: events/s, higher_is_better: true}
    host_server:                        # optional: a server run on the host side
      command: [iperf3, -s, -1, -B, "{server_address}", -p, "{port}"]
      port: 5201
      ready: tcp                        # wait until the port accepts connections
    scratch_mib: 256                    # optional: a scratch file of this size

Placeholders in ``command`` are plain ``{name}`` (``{{``/``}}`` for literal braces) and name a
parameter, ``{duration}`` (the suite's), ``{threads}`` (the environment's cores unless a
parameter overrides it), ``{server_address}`` and ``{port}`` (only with ``host_server``) and
``{scratch_file}`` and ``{scratch_mib}`` (only with ``scratch_mib``).
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostbench.datafiles import load_mapping
from hostbench.errors import ConfigError, HostbenchError
from hostbench.fields import FieldReader
from hostbench.parsers import METRICS, PARSERS
from hostbench.paths import WORKLOADS_DIR

CATEGORIES = ("cpu", "memory", "disk", "network", "kernel")
READY_CHECKS = ("tcp",)
BUILTIN_VALUES = ("duration", "threads")
"""Placeholders every workload command may use."""
SERVER_VALUES = ("server_address", "port")
"""Placeholders provided by the runner when the workload has a ``host_server``."""
SCRATCH_VALUES = ("scratch_file", "scratch_mib")
"""Placeholders available when the workload has ``scratch_mib``."""
_RESERVED = frozenset(("duration", *SERVER_VALUES, *SCRATCH_VALUES))
"""Names a parameter may not take (``threads`` may be overridden)."""

ParamValue = str | int | float


@dataclass(frozen=True)
class MetricSpec:
    """A metric the workload reports, as its parser produces it."""

    name: str
    unit: str
    higher_is_better: bool


@dataclass(frozen=True)
class HostServer:
    """A server run on the host side for the duration of a trial (e.g. ``iperf3 -s``)."""

    command: list[str] = field(hash=False)
    port: int
    ready: str = "tcp"

    def render(self, server_address: str, port: int | None = None) -> list[str]:
        """The server's argv for ``server_address`` and ``port`` (default: ``self.port``)."""
        values = {"server_address": server_address, "port": self.port if port is None else port}
        return [_fill(token, values) for token in self.command]


@dataclass(frozen=True)
class Workload:
    """One benchmark: an argv template, its defaults, suites, parser and reported metrics."""

    name: str
    description: str
    category: str
    command: list[str] = field(hash=False)
    parameters: dict[str, ParamValue] = field(hash=False)
    durations: dict[str, int] = field(hash=False)
    timeout_s: int
    parser: str
    metrics: tuple[MetricSpec, ...]
    host_server: HostServer | None
    scratch_mib: int | None
    source: str

    def in_suite(self, suite: str) -> bool:
        return suite in self.durations

    def duration(self, suite: str) -> int:
        """Seconds the workload runs for in ``suite``."""
        try:
            return self.durations[suite]
        except KeyError:
            raise ConfigError(self.source, "durations",
                              f"has no entry for suite {suite!r} (it has: "
                              f"{', '.join(self.durations)})") from None

    def render(self, suite: str, cores: int, extra: Mapping[str, ParamValue]) -> list[str]:
        """The command's argv for ``suite`` on ``cores`` cores, with runner-provided ``extra``
        values (``server_address``, ``port``, ``scratch_file``); one token stays one element.
        """
        if cores < 1:
            raise ValueError(f"cores must be at least 1, got {cores}")
        own = {"duration": self.duration(suite), "threads": cores, **self.parameters}
        if self.scratch_mib is not None:
            own["scratch_mib"] = self.scratch_mib
        clash = sorted(set(own) & set(extra))
        if clash:
            raise ValueError(f"{self.name}: extra values {clash} would override the workload's own")
        values = {**own, **extra}
        argv = []
        for token in self.command:
            missing = [n for n in _placeholders(token) if n not in values]
            if missing:
                raise ConfigError(self.source, "command",
                                  f"placeholder {{{missing[0]}}} in {token!r} has no value: "
                                  "the runner must provide it (have: "
                                  f"{', '.join(sorted(values))})")
            argv.append(_fill(token, values))
        return argv


# --- placeholders --------------------------------------------------------------------------

_FORMATTER = string.Formatter()


def _parse(token: str) -> list[tuple[str, str | None]]:
    """``token`` as (literal text, placeholder name or None) pairs; ValueError if malformed."""
    pieces = []
    for literal, name, spec, conversion in _FORMATTER.parse(token):
        if name is not None and (not name.isidentifier() or spec or conversion):
            raise ValueError(f"placeholder {{{name}{'!' + conversion if conversion else ''}"
                             f"{':' + spec if spec else ''}}} is not a plain {{name}}")
        pieces.append((literal, name))
    return pieces


def _placeholders(token: str) -> list[str]:
    return [name for _, name in _parse(token) if name is not None]


def _fill(token: str, values: Mapping[str, Any]) -> str:
    return "".join(literal + ("" if name is None else str(values[name]))
                   for literal, name in _parse(token))


_NEEDS = {**{name: " (only with host_server)" for name in SERVER_VALUES},
          **{name: " (only with scratch_mib)" for name in SCRATCH_VALUES}}


def _check_placeholders(r: FieldReader, key: str, command: Sequence[str],
                        allowed: Iterable[str]) -> set[str]:
    """Every placeholder in ``command`` is in ``allowed``; returns the names used."""
    allowed = set(allowed)
    used: set[str] = set()
    for index, token in enumerate(command):
        try:
            names = _placeholders(token)
        except ValueError as exc:
            raise r.fail(key, f"token {index} {token!r}: {exc} "
                              "(write {{ and }} for literal braces)") from None
        for name in names:
            if name not in allowed:
                needs = _NEEDS.get(name, "")
                raise r.fail(key, f"token {index} {token!r} uses {{{name}}}, which has no value"
                                  f"{needs}; usable here: {', '.join(sorted(allowed))}")
        used.update(names)
    return used


# --- loading -------------------------------------------------------------------------------


def _parameters(r: FieldReader) -> dict[str, ParamValue]:
    params = r.mapping("parameters", {})
    result: dict[str, ParamValue] = {}
    for key in list(params.data):
        if not isinstance(key, str) or not key.isidentifier():
            raise params.fail(str(key), "parameter names must be identifiers like max_prime")
        if key in _RESERVED:
            raise params.fail(key, "is provided by hostbench and cannot be a parameter")
        value = params.raw(key)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise params.fail(key, f"must be a string or a number, got {value!r}")
        result[key] = value
    params.done()
    return result


def _durations(r: FieldReader) -> dict[str, int]:
    durations = r.mapping("durations")
    if not durations.data:
        raise r.fail("durations", "must give the seconds for at least one suite")
    result = {}
    for suite in list(durations.data):
        if not isinstance(suite, str) or not suite.isidentifier():
            raise durations.fail(str(suite), "suite names must be identifiers like quick")
        result[suite] = durations.integer(suite, minimum=1)
    return result


def _metrics(r: FieldReader, parser: str) -> tuple[MetricSpec, ...]:
    metrics = r.mapping("metrics")
    if not metrics.data:
        raise r.fail("metrics", "must list at least one metric")
    reported = METRICS[parser]
    specs = []
    for name in list(metrics.data):
        if not isinstance(name, str) or name not in reported:
            raise metrics.fail(str(name), f"is not reported by parser {parser!r}, which reports: "
                                          f"{', '.join(reported)}")
        m = metrics.mapping(name)
        unit, better = m.string("unit"), m.boolean("higher_is_better")
        m.done()
        expected = reported[name]
        if unit != expected.unit:
            raise m.fail("unit", f"is {unit!r}, but parser {parser!r} reports {name} in "
                                 f"{expected.unit!r}")
        if better != expected.higher_is_better:
            direction = "higher" if expected.higher_is_better else "lower"
            raise m.fail("higher_is_better", f"is {str(better).lower()}, but parser {parser!r} "
                                             f"reports {name} as {direction}-is-better")
        specs.append(MetricSpec(name, unit, better))
    return tuple(specs)


def _host_server(r: FieldReader) -> HostServer | None:
    if r.raw("host_server", None) is None:
        return None
    s = r.mapping("host_server")
    server = HostServer(command=s.string_list("command"),
                        port=s.integer("port", minimum=1, maximum=65535),
                        ready=s.choice("ready", READY_CHECKS, "tcp"))
    s.done()
    _check_placeholders(s, "command", server.command, SERVER_VALUES)
    return server


def load_workload(path: Path | str) -> Workload:
    """Load and validate one workload file; errors name the file and the field."""
    path = Path(path)
    source = str(path)
    r = FieldReader(source, load_mapping(path))
    description = r.string("description")
    category = r.choice("category", CATEGORIES)
    command = r.string_list("command")
    if not command:
        raise r.fail("command", "must not be empty")
    parameters = _parameters(r)
    durations = _durations(r)
    timeout_s = r.integer("timeout_s", minimum=1)
    parser = r.string("parser")
    if parser not in PARSERS or parser not in METRICS:
        raise r.fail("parser", f"{parser!r} is not a known parser; known: "
                               f"{', '.join(sorted(PARSERS))}")
    metrics = _metrics(r, parser)
    host_server = _host_server(r)
    scratch_mib = None
    if r.raw("scratch_mib", None) is not None:
        scratch_mib = r.integer("scratch_mib", minimum=1)
    r.done()

    longest = max(durations, key=durations.__getitem__)
    if timeout_s <= durations[longest]:
        raise r.fail("timeout_s", f"must exceed the longest duration ({durations[longest]} s, "
                                  f"suite {longest!r}), got {timeout_s}")
    allowed = {*BUILTIN_VALUES, *parameters}
    if host_server is not None:
        allowed.update(SERVER_VALUES)
    if scratch_mib is not None:
        allowed.update(SCRATCH_VALUES)
    used = _check_placeholders(r, "command", command, allowed)
    unused = sorted(set(parameters) - used)
    if unused:
        raise r.fail(f"parameters.{unused[0]}", "is not used by command")

    return Workload(name=path.stem, description=description, category=category,
                    command=command, parameters=parameters, durations=durations,
                    timeout_s=timeout_s, parser=parser, metrics=metrics,
                    host_server=host_server, scratch_mib=scratch_mib, source=source)


def load_catalogue(directory: Path | str = WORKLOADS_DIR) -> dict[str, Workload]:
    """Every ``*.yaml`` workload in ``directory``, by name, in file-name order."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(str(directory), "(directory)", "does not exist")
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise ConfigError(str(directory), "(directory)", "holds no *.yaml workload files")
    return {path.stem: load_workload(path) for path in files}


def select(catalogue: Mapping[str, Workload], suite: str,
           names: Sequence[str] | None = None) -> list[Workload]:
    """The workloads of ``suite`` (catalogue order), or only ``names`` (in the order given)."""
    suites = sorted({s for w in catalogue.values() for s in w.durations})
    if suite not in suites:
        raise HostbenchError(f"no workload is in suite {suite!r}; suites: {', '.join(suites)}")
    if names is None:
        return [w for w in catalogue.values() if w.in_suite(suite)]
    unknown = [n for n in names if n not in catalogue]
    if unknown:
        raise HostbenchError(f"unknown workload {unknown[0]!r}; known workloads: "
                             f"{', '.join(sorted(catalogue))}")
    outside = [n for n in names if not catalogue[n].in_suite(suite)]
    if outside:
        in_suite = sorted(n for n, w in catalogue.items() if w.in_suite(suite))
        raise HostbenchError(f"workload {outside[0]!r} is not in suite {suite!r}; workloads in "
                             f"it: {', '.join(in_suite)}")
    return [catalogue[n] for n in dict.fromkeys(names)]
