"""The workload catalogue: one YAML file per benchmark, validated against the parsers.

A workload file (``workloads/<name>.yaml``) looks like::

    description: CPU, sysbench prime-number events
    category: cpu                       # cpu | memory | disk | network | kernel | hpc | service
    command: [sysbench, cpu, "--threads={threads}", "--time={duration}", run]
    parameters: {max_prime: 20000}      # optional defaults for {placeholders}
    durations: {quick: 5, standard: 30} # seconds per suite; in a suite iff listed
    timeout_s: 360                      # per trial; must exceed every duration
    parser: sysbench_cpu                # a name in hostbench.run.parsers.PARSERS
    metrics: [events_per_second]        # a subset of what the parser reports
    host_server:                        # optional: a server run on the host side
      command: [iperf3, -s, -1, -B, "{server_address}", -p, "{port}"]
      port: 5201                        # ready when it listens there
    scratch_mib: 256                    # optional: a scratch file of this size

A service workload (category ``service``) starts a server inside the environment for each trial
and runs ``command`` as the load generator on the host, from the image tree, on cores no
environment uses; bare metal's service runs in its chroot on the measured cores::

    service:
      command: [redis-server, --bind, "{service_address}", --port, "{port}"]
      port: 6379                        # ready when the host can connect there
      setup: [sh, -c, "..."]            # optional: once per run, inside the environment
      ready_timeout_s: 60
    client_setup: [sysbench, ..., prepare]  # optional: once per run, on the host, service up

A metric's unit and direction are the parser's (declared once, in hostbench.run.parsers).
Placeholders in ``command`` are plain ``{name}`` (``{{``/``}}`` for literal braces) and name a
parameter, ``{duration}`` (the suite's), ``{threads}`` (the environment's cores unless a
parameter overrides it), ``{memory_mib}`` (the environment's memory), ``{server_address}``
and ``{port}`` (only with ``host_server``) and
``{scratch_file}`` and ``{scratch_mib}`` (only with ``scratch_mib``), and ``{service_address}``
(the environment's address as the host reaches it), ``{client_address}`` (the host's address as
the service sees its clients), ``{port}`` and ``{service_dir}`` (a directory in the environment
for the service's files, gone when the run ends; only with ``service``).
"""

from __future__ import annotations

import functools
import string
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BeforeValidator, Field, field_validator

from hostbench.datafiles import file_bytes, yaml_mapping
from hostbench.errors import ConfigError, HostbenchError
from hostbench.margins import DEFAULT_MARGIN_PCT
from hostbench.paths import WORKLOADS_DIR
from hostbench.record_base import NotBool, Record, validated
from hostbench.run.firewall import IpProtocol
from hostbench.run.parsers import PARSERS, Metric

Category = Literal["cpu", "memory", "disk", "network", "kernel", "hpc", "service"]
CATEGORIES: tuple[str, ...] = get_args(Category)
BUILTIN_VALUES = ("duration", "threads", "memory_mib")
"""Placeholders every workload command may use (``memory_mib``: the environment's memory)."""
SERVER_VALUES = ("server_address", "port")
"""Placeholders provided by the runner when the workload has a ``host_server``."""
SCRATCH_VALUES = ("scratch_file", "scratch_mib")
"""Placeholders available when the workload has ``scratch_mib``."""
SERVICE_VALUES = ("service_address", "port", "service_dir", "client_address")
"""Placeholders available when the workload has a ``service``."""
_RESERVED = frozenset(("duration", "memory_mib", *SERVER_VALUES, *SCRATCH_VALUES,
                       *SERVICE_VALUES))
"""Names a parameter may not take (``threads`` may be overridden)."""

def _param_value(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"must be a string or a number, got {value!r}")
    return value


ParamValue = Annotated[str | int | float, BeforeValidator(_param_value)]
Token = Annotated[str, Field(min_length=1)]
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class HostServerSpec(Record):
    """A server run on the host side for the duration of a trial (e.g. ``iperf3 -s``); it is
    ready when it listens on its port (TCP) or has bound it (UDP)."""

    command: Annotated[list[Token], Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535), NotBool]
    protocol: IpProtocol = "tcp"

    def render(self, server_address: str, port: int | None = None) -> list[str]:
        """The server's argv for ``server_address`` and ``port`` (default: ``self.port``)."""
        values = {"server_address": server_address, "port": self.port if port is None else port}
        return [_fill(token, values) for token in self.command]


class ServiceSpec(Record):
    """A server started inside the environment for each trial, stopped when the trial ends;
    ready when the host can connect to its TCP port."""

    command: Annotated[list[Token], Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535), NotBool]
    setup: Annotated[list[Token], Field(min_length=1)] | None = None
    ready_timeout_s: Annotated[int, Field(ge=1), NotBool] = 60


class WorkloadFile(Record):
    """The fields of a workload file."""

    description: Token
    category: Category
    command: Annotated[list[Token], Field(min_length=1)]
    parameters: dict[Identifier, ParamValue] = Field(default_factory=dict)
    durations: Annotated[dict[Identifier, Annotated[int, Field(ge=1), NotBool]],
                         Field(min_length=1)]
    timeout_s: Annotated[int, Field(ge=1), NotBool]
    parser: str
    metrics: Annotated[list[Token], Field(min_length=1)]
    host_server: HostServerSpec | None = None
    scratch_mib: Annotated[int, Field(ge=1), NotBool] | None = None
    service: ServiceSpec | None = None
    client_setup: Annotated[list[Token], Field(min_length=1)] | None = None
    margin_pct: Annotated[float, Field(gt=0, le=50), NotBool] = Field(
        DEFAULT_MARGIN_PCT, description="a difference within +-margin_pct% counts as none "
                                        "(equivalent); never below the host's noise floor")

    @field_validator("parameters")
    @classmethod
    def _not_reserved(cls, parameters: dict[str, Any]) -> dict[str, Any]:
        for key in parameters:
            if key in _RESERVED:
                raise ValueError(f"{key!r} is provided by hostbench and cannot be a parameter")
        return parameters


class Workload(WorkloadFile):
    """One benchmark: an argv template, its defaults, suites, parser and reported metrics."""

    name: str
    source: str

    @property
    def metric_specs(self) -> tuple[Metric, ...]:
        declared = PARSERS[self.parser].metrics
        return tuple(declared[name] for name in self.metrics)

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

    def values(self, suite: str, cores: int, extra: Mapping[str, str | int | float]
               ) -> dict[str, Any]:
        """Every placeholder's value for ``suite`` on ``cores`` cores, with runner-provided
        ``extra`` values (``memory_mib``, ``server_address``, ``port``, ``scratch_file``,
        ``service_address``, ``service_dir``)."""
        if cores < 1:
            raise ValueError(f"cores must be at least 1, got {cores}")
        own: dict[str, Any] = {"duration": self.duration(suite), "threads": cores,
                               **self.parameters}
        if self.scratch_mib is not None:
            own["scratch_mib"] = self.scratch_mib
        clash = sorted(set(own) & set(extra))
        if clash:
            raise ValueError(f"{self.name}: extra values {clash} would override the workload's own")
        return {**own, **extra}

    def render(self, suite: str, cores: int, extra: Mapping[str, str | int | float]
               ) -> list[str]:
        """The command's argv for ``suite`` on ``cores`` cores (see ``values``); one token
        stays one element."""
        return self.fill("command", self.command, self.values(suite, cores, extra))

    def fill(self, key: str, tokens: Sequence[str], values: Mapping[str, Any]) -> list[str]:
        """``tokens`` (the field ``key`` of the file) with ``values`` filled in."""
        argv = []
        for token in tokens:
            missing = [n for n in _placeholders(token) if n not in values]
            if missing:
                raise ConfigError(self.source, key,
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
          **{name: " (only with scratch_mib)" for name in SCRATCH_VALUES},
          **{name: " (only with service)" for name in ("service_address", "service_dir",
                                                        "client_address")}}


def _check_placeholders(source: str, key: str, command: Sequence[str],
                        allowed: Iterable[str]) -> set[str]:
    """Every placeholder in ``command`` is in ``allowed``; returns the names used."""
    allowed = set(allowed)
    used: set[str] = set()
    for index, token in enumerate(command):
        try:
            names = _placeholders(token)
        except ValueError as exc:
            raise ConfigError(source, key, f"token {index} {token!r}: {exc} "
                                           "(write {{ and }} for literal braces)") from None
        for name in names:
            if name not in allowed:
                needs = _NEEDS.get(name, "")
                raise ConfigError(source, key, f"token {index} {token!r} uses {{{name}}}, which "
                                               f"has no value{needs}; usable here: "
                                               f"{', '.join(sorted(allowed))}")
        used.update(names)
    return used


# --- loading -------------------------------------------------------------------------------


def _check_consistency(w: Workload) -> None:
    """What one field cannot say alone: a known parser and its metrics, a timeout above every
    duration, and placeholders that all have a value and parameters that are all used."""
    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(w.source, key, problem)

    if w.parser not in PARSERS:
        raise fail("parser", f"{w.parser!r} is not a known parser; known: "
                             f"{', '.join(sorted(PARSERS))}")
    reported = PARSERS[w.parser].metrics
    for index, name in enumerate(w.metrics):
        if name not in reported:
            raise fail(f"metrics[{index}]", f"{name!r} is not reported by parser {w.parser!r}, "
                                            f"which reports: {', '.join(reported)}")
    longest = max(w.durations, key=w.durations.__getitem__)
    if w.timeout_s <= w.durations[longest]:
        raise fail("timeout_s", f"must exceed the longest duration ({w.durations[longest]} s, "
                                f"suite {longest!r}), got {w.timeout_s}")
    if w.host_server is not None:
        if w.service is not None:
            raise fail("host_server", "a workload has a host_server or a service, not both")
        _check_placeholders(w.source, "host_server.command", w.host_server.command,
                            SERVER_VALUES)
    if (w.category == "service") != (w.service is not None):
        raise fail("category", "is 'service' exactly when the workload has a service")
    if w.client_setup is not None and w.service is None:
        raise fail("client_setup", "needs a service to set up")
    allowed = {*BUILTIN_VALUES, *w.parameters}
    if w.host_server is not None:
        allowed.update(SERVER_VALUES)
    if w.scratch_mib is not None:
        allowed.update(SCRATCH_VALUES)
    if w.service is not None:
        allowed.update(SERVICE_VALUES)
    used = _check_placeholders(w.source, "command", w.command, allowed)
    for key, tokens in _service_commands(w):
        used |= _check_placeholders(w.source, key, tokens, allowed)
    unused = sorted(set(w.parameters) - used)
    if unused:
        raise fail(f"parameters.{unused[0]}", "is not used by command")


def _service_commands(w: Workload) -> list[tuple[str, list[str]]]:
    """(field, argv template) of every command a service workload runs besides ``command``."""
    if w.service is None:
        return []
    found = [("service.command", w.service.command)]
    if w.service.setup is not None:
        found.append(("service.setup", w.service.setup))
    if w.client_setup is not None:
        found.append(("client_setup", w.client_setup))
    return found


def load_workload(path: Path | str) -> Workload:
    """Load and validate one workload file; errors name the file and the field. A file read
    before with the same content is not parsed again (commands, reports and the analysis each
    read the catalogue)."""
    path = Path(path)
    return _parsed_workload(path, file_bytes(path))


@functools.lru_cache(maxsize=64)
def _parsed_workload(path: Path, content: bytes) -> Workload:
    data = yaml_mapping(content, path)
    for reserved in ("name", "source"):
        if reserved in data:
            raise ConfigError(str(path), reserved, "is not a known field (the file name gives "
                                                   "the workload its name)")
    workload = validated(Workload, {**data, "name": path.stem, "source": str(path)}, str(path))
    _check_consistency(workload)
    return workload


def load_catalogue(directory: Path | str = WORKLOADS_DIR) -> dict[str, Workload]:
    """Every ``*.yaml`` workload in ``directory``, by name, in name order."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(str(directory), "(directory)", "does not exist")
    files = sorted(directory.glob("*.yaml"), key=lambda path: path.stem)
    if not files:
        raise ConfigError(str(directory), "(directory)", "holds no *.yaml workload files")
    return {path.stem: load_workload(path) for path in files}


def metric_names(catalogue: Mapping[str, Workload]) -> dict[str, tuple[str, ...]]:
    """Each workload's metric names in declared order: what a run keeps of its catalogue."""
    return {name: tuple(w.metrics) for name, w in catalogue.items()}


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

