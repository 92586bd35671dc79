"""Facts read from inside each environment (for the parity check) and about the host (context)."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from typing import TYPE_CHECKING

from pydantic import Field

from hostbench.errors import HostbenchError
from hostbench.paths import PROJECT_ROOT
from hostbench.record_base import Record
from hostbench.stack.accel import KVM_SHELL_LINE

if TYPE_CHECKING:  # the facts are read through any executor; storing them needs none
    from hostbench.reach.executors import Executor
    from hostbench.stack.host import Host

FACTS_SCRIPT = r"""
# Files of one line are read by the shell itself, and one sed reads the lines of the two that
# have many: under TCG each process started costs about 60 ms. /proc/self/status is sed's own,
# with the same cpuset, cgroup and seccomp filter as any command run here.
echo "nproc=$(nproc)"
sed -n -e 's/^Cpus_allowed_list:[[:space:]]*/cpus_allowed=/p' \
    -e 's/^Seccomp:[[:space:]]*/seccomp=/p' \
    -e 's/^MemTotal:[[:space:]]*\([0-9]*\).*/memtotal_kib=\1/p' /proc/self/status /proc/meminfo
read -r limit 2>/dev/null </sys/fs/cgroup/memory/memory.limit_in_bytes \
  || read -r limit 2>/dev/null </sys/fs/cgroup/memory.max || limit=max
echo "cgroup_memory_limit=$limit"
read -r kernel 2>/dev/null </proc/sys/kernel/osrelease || kernel=$(uname -r)
echo "kernel=$kernel"
# os-release is read, not sourced: nothing of the environment runs as this script
pretty=
if [ -r /etc/os-release ]; then  # POSIX lets a shell end on a loop's missing input
  while IFS= read -r line; do
    case $line in PRETTY_NAME=*) pretty=${line#PRETTY_NAME=} ;; esac
  done </etc/os-release
fi
pretty=${pretty#[\"\']}
echo "os_release=${pretty%[\"\']}"
echo "blas=$(readlink -f /etc/alternatives/libblas.so.3-x86_64-linux-gnu 2>/dev/null || echo none)"
echo "virtualization=$(systemd-detect-virt 2>/dev/null || echo none)"
read -r clock 2>/dev/null </sys/devices/system/clocksource/clocksource0/current_clocksource \
  || clock=unknown
echo "clocksource=$clock"
cpu=/sys/fs/cgroup/cpu
if read -r quota 2>/dev/null <$cpu/cpu.cfs_quota_us && read -r period <$cpu/cpu.cfs_period_us
then
  echo "cpu_quota=$quota $period"
elif read -r quota 2>/dev/null </sys/fs/cgroup/cpu.max; then
  echo "cpu_quota=$quota"
fi
blkio=/sys/fs/cgroup/blkio
if [ -d $blkio ]; then
  io=
  for f in read_bps_device write_bps_device read_iops_device write_iops_device; do
    [ ! -r $blkio/blkio.throttle.$f ] || while read -r line; do io="$io$f:$line;"; done \
      <$blkio/blkio.throttle.$f
  done
  echo "io_limits=${io:-none}"
elif [ -r /sys/fs/cgroup/io.max ]; then
  io=
  while read -r line; do
    case $line in *"rbps=max wbps=max riops=max wiops=max"*) ;; *) io="$io$line;" ;; esac
  done </sys/fs/cgroup/io.max
  echo "io_limits=${io:-none}"
fi
n=$#
for b; do
  if [ -e "$b" ]; then set -- "$@" "$b"; else echo "sha256:$b=missing"; fi
done
shift "$n"
# one sha256sum for all: under TCG each process started costs tens of milliseconds
[ "$#" -eq 0 ] || sha256sum -- "$@" | while read -r hash path; do echo "sha256:$path=$hash"; done
"""
NO_LIMIT = 1 << 60  # cgroup v1 reports "no limit" as a number close to 2^63


class FactsError(HostbenchError):
    pass


class EnvFacts(Record):
    """What an environment says about itself, read from inside it."""

    nproc: int
    cpus_allowed: str = ""
    memtotal_kib: int
    cgroup_memory_limit: int | None = None  # bytes; None: no limit
    kernel: str = ""
    os_release: str = ""
    blas: str = ""  # the library behind libblas.so.3 (what HPL's speed rests on)
    virtualization: str = ""
    clocksource: str = ""
    seccomp: str = ""  # the shell's seccomp mode: 0 none, 2 a filter (Docker's default profile)
    cpu_quota: str = ""  # the cgroup's CPU bandwidth: "quota period" (-1 or max: unlimited)
    io_limits: str | None = None  # the cgroup's I/O throttles, ";"-separated, or "none"
    # (None: the environment shows no cgroup files, as under gVisor)
    binaries: dict[str, str] = Field(default_factory=dict)  # sha256 by path, or "missing"


SHOWN_FACTS = ("nproc", "cpus_allowed", "memtotal_kib", "cgroup_memory_limit", "cpu_quota",
               "io_limits", "kernel", "os_release", "blas", "virtualization", "clocksource",
               "seccomp")
"""The facts shown side by side (binary hashes appear as parity checks instead)."""


def cpu_bandwidth(quota: str) -> str:
    """A cgroup's CPU quota as people read it: ``unlimited``, ``0.5 cores``, or ``unknown``
    where the environment shows none (gVisor)."""
    parts = quota.split()
    if len(parts) != 2:
        return "unknown"
    if parts[0] in ("-1", "max"):
        return "unlimited"
    try:
        return f"{int(parts[0]) / int(parts[1]):g} cores"
    except (ValueError, ZeroDivisionError):
        return "unknown"


class HostFacts(Record):
    """The context of a run: the host the environments share."""

    hostname: str
    cpu_model: str
    host_cpus: int | None
    kernel: str
    host_is_vm: bool
    kvm_usable: bool
    governor: str
    memory_kib: int
    versions: dict[str, str]
    container_runtimes: dict[str, str] = Field(default_factory=dict)
    """The Docker engine's runtimes and their arguments (how gVisor ran: platform, network)."""
    reached: str = "this machine"
    """How hostbench reached the host: this machine, or the SSH destination."""
    libvirt_uri: str = ""
    docker: str = ""
    """The Docker engine's endpoint as hostbench used it."""
    counters: str = ""
    """Whether the host's hardware counters and VM exits can be read, and if not, why."""


def counters_fact(perf_cycles: str, kvm_usable: bool) -> str:
    """What `perf stat -e cycles` answered on the host (its first CSV field), and whether VMs
    have exits to count, as one sentence."""
    if perf_cycles.strip().isdigit():
        hardware = "hardware counters: readable on the host (perf stat counts cycles)"
    elif perf_cycles == "no perf":
        hardware = "hardware counters: not read (perf is not installed on the host)"
    else:
        hardware = (f"hardware counters: none on this host (perf stat: cycles "
                    f"{perf_cycles.strip() or 'no answer'}; a nested or emulated CPU exposes "
                    "no PMU)")
    exits = ("VM exits: KVM is usable, but hostbench does not count exits by reason yet"
             if kvm_usable else "VM exits: none to count, the VMs run under TCG emulation "
             "(no KVM, so no exits)")
    return f"{hardware}; {exits}"


def parse_facts(text: str) -> EnvFacts:
    values: dict[str, str] = {}
    binaries: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key.startswith("sha256:"):
            binaries[key.removeprefix("sha256:")] = value
        elif key in EnvFacts.model_fields:
            values[key] = value
    for key in ("nproc", "memtotal_kib"):
        if not values.get(key, "").isdigit():
            raise FactsError(f"facts: {key} missing or not a number in {text[:200]!r}")
    limit = values.pop("cgroup_memory_limit", "max")
    return EnvFacts(**values, binaries=binaries,
                    cgroup_memory_limit=(int(limit) if limit.isdigit() and int(limit) < NO_LIMIT
                                         else None))


def collect(executor: Executor, binaries: list[str], timeout: float = 120) -> EnvFacts:
    """Run the facts script inside the environment behind `executor`."""
    result = executor.run(["sh", "-c", FACTS_SCRIPT, "sh", *binaries], timeout)
    if result.exit_code != 0:
        raise FactsError(f"{executor.env}: reading facts failed ({result.exit_code}): "
                         f"{result.stderr.strip()[:300]}")
    return parse_facts(result.stdout)


_HOST_FACTS = KVM_SHELL_LINE + r"""c=/proc/cpuinfo
echo "hostname=$(uname -n)"; echo "kernel=$(uname -r)"; echo "cpus=$(getconf _NPROCESSORS_ONLN)"
echo "cpu_model=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' $c | head -n 1)"
if grep -qw hypervisor $c; then echo host_is_vm=1; else echo host_is_vm=0; fi
echo "governor=$(cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2>/dev/null || echo n/a)"
echo "memory_kib=$(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)"
v() { if command -v "$1" >/dev/null; then "$@" 2>&1 | head -n 1; else echo "not installed"; fi; }
echo "docker=$(v docker version --format '{{.Server.Version}}')"
echo "libvirt=$(v virsh --version)"; echo "qemu=$(v qemu-system-x86_64 --version)"
if command -v perf >/dev/null; then
  echo "perf_cycles=$(perf stat -x, -e cycles -- true 2>&1 >/dev/null | head -n 1 | cut -d, -f1)"
else echo "perf_cycles=no perf"; fi
"""


def host_facts(host: Host | None = None) -> HostFacts:
    """Context stored with every run and printed on every report: read on the stack's host,
    with how hostbench reached it and its daemons."""
    from hostbench.stack.host import LocalHost, RemoteHost  # not needed to read stored facts

    host = host or LocalHost()
    values = dict(line.split("=", 1) for line in host.output(["sh", "-c", _HOST_FACTS])
                  .splitlines() if "=" in line)
    versions = {pkg: importlib.metadata.version(pkg) for pkg in
                ("pulumi", "pulumi-docker", "pulumi-libvirt", "fabric", "numpy", "scipy")}
    versions.update(python=platform.python_version(),
                    **{name: values.get(name, "?") for name in ("docker", "libvirt", "qemu")})
    docker_endpoint = (f"{host.docker_host} (its socket forwarded over SSH)"
                       if isinstance(host, RemoteHost) else "unix:///var/run/docker.sock")
    return HostFacts(
        hostname=values.get("hostname", "?"), cpu_model=values.get("cpu_model") or "unknown",
        host_cpus=int(values["cpus"]) if values.get("cpus", "").isdigit() else None,
        kernel=values.get("kernel", "?"), host_is_vm=values.get("host_is_vm") == "1",
        kvm_usable=values.get("kvm") == "1", governor=values.get("governor", "n/a"),
        memory_kib=int(values.get("memory_kib") or 0), versions=versions,
        container_runtimes=container_runtimes(host), reached=host.label,
        libvirt_uri=host.libvirt_uri, docker=docker_endpoint,
        counters=counters_fact(values.get("perf_cycles", ""), values.get("kvm") == "1"))


def container_runtimes(host: Host) -> dict[str, str]:
    """Each runtime the host's Docker engine knows, with its arguments (empty when it has
    none)."""
    from hostbench.provision.docker_backend import ENGINE_ERRORS

    try:
        runtimes = host.docker().info().get("Runtimes") or {}
    except (*ENGINE_ERRORS, HostbenchError):
        return {}
    return {name: " ".join(spec.get("runtimeArgs") or []) for name, spec in runtimes.items()
            if isinstance(spec, dict)}


def git_commit() -> str:
    proc = subprocess.run(["git", "-C", str(PROJECT_ROOT), "describe", "--always", "--dirty"],
                          capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else "unknown"
