"""Planning neighbour experiments: every round measures each environment quiet and beside each
stressor, unfit workloads are refused with the reason, a VM's neighbour VM is booted once for the
run, and the neighbour's cores are the ones the measured environment does not use unless placed
deliberately."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hostbench.commands.benchmark import options_from_cli
from hostbench.errors import HostbenchError
from hostbench.run import neighbour_plan
from hostbench.run.conditions import condition, split
from hostbench.run.schedule import plan
from hostbench.run.stressor_neighbours import neighbour_cores, stressings
from hostbench.run.stressors import Stressor, chosen, load_stressors
from hostbench.run.workloads import load_catalogue
from hostbench.stack.targets import Target
from tests.unit.fakes import fake_targets, load


class FourCores:
    """A host with cores 0-3."""

    def usable_cpus(self) -> set[int]:
        return {0, 1, 2, 3}


def test_each_round_measures_every_environment_quiet_and_beside_every_stressor():
    names = neighbour_plan.conditions(["bare", "container"], ["cpu", "fork"])
    assert names == ["bare", "bare@cpu", "bare@fork", "container", "container@cpu",
                     "container@fork"]
    trials = plan(["cpu-sysbench"], names, 1, 3)
    for round_index in range(4):
        assert sorted(p.env for p in trials if p.trial == round_index) == sorted(names)
    assert split(condition("container", "cpu")) == ("container", "cpu")
    assert split("container") == ("container", None)


@pytest.mark.parametrize("name", ["net-iperf3", "net-sockperf-latency", "service-redis-1client"])
def test_network_and_service_workloads_are_refused_under_a_neighbour_with_the_reason(name):
    catalogue = load_catalogue()
    with pytest.raises(HostbenchError, match=rf"--neighbour: .*{name}.yaml: its host-side "
                                             rf"servers .* leave out {name}"):
        neighbour_plan.check([catalogue["cpu-sysbench"], catalogue[name]])
    neighbour_plan.check([catalogue["cpu-sysbench"], catalogue["memory-sysbench"]])


@dataclass
class FakeVms:
    """Neighbour VMs that boot nothing: they note what was asked and entered."""

    booted: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    entered: list[tuple[str, float]] = field(default_factory=list)

    def booted_for(self, target: Target, cores: Sequence[int]
                   ) -> Callable[[Stressor, float], AbstractContextManager[None]]:
        self.booted.append((target.name, tuple(cores)))
        return self.stressing

    @contextmanager
    def stressing(self, stressor: Stressor, limit_s: float) -> Iterator[None]:
        self.entered.append((stressor.name, limit_s))
        yield

    def remove(self) -> list[str]:
        return []


def test_a_vm_gets_a_neighbour_vm_booted_once_on_its_neighbour_cores(tmp_path: Path):
    targets = load(fake_targets(tmp_path))
    stressors = chosen(load_stressors(), ("cpu", "fork"))
    vms = FakeVms()
    made = stressings(stressors, {"vm": targets.targets["vm"]}, targets,
                      FourCores(), (), 60.0, vms)  # type: ignore[arg-type]
    assert sorted(made) == ["vm@cpu", "vm@fork"]
    assert vms.booted == [("vm", (0, 2, 3))]  # once for the run, not per stressor or trial
    for name in ("vm@fork", "vm@cpu", "vm@fork"):
        with made[name]():
            pass
    assert vms.entered == [("fork", 60.0), ("cpu", 60.0), ("fork", 60.0)]
    assert vms.booted == [("vm", (0, 2, 3))]


def test_the_neighbour_goes_on_the_cores_the_measured_environment_does_not_use(tmp_path: Path):
    container = load(fake_targets(tmp_path)).targets["container"]
    assert container.cores == (1,)
    assert neighbour_cores(container, FourCores()) == (0, 2, 3)  # type: ignore[arg-type]
    assert neighbour_cores(container, FourCores(), (1,)) == (1,)  # type: ignore[arg-type]
    greedy = container.model_copy(update={"cores": (0, 1, 2, 3)})
    with pytest.raises(HostbenchError, match="no core is left for a neighbour"):
        neighbour_cores(greedy, FourCores())  # type: ignore[arg-type]


def test_the_command_line_takes_stressors_and_cores_as_lists_and_refuses_what_cannot_pair():
    opts = options_from_cli(neighbour="cpu,fork", neighbour_cores="0", repeat="3")
    assert (opts.neighbour, opts.neighbour_cores) == (("cpu", "fork"), (0,))
    with pytest.raises(HostbenchError, match="--neighbour runs a fixed number"):
        options_from_cli(neighbour="cpu", repeat="auto")
    with pytest.raises(HostbenchError, match="--neighbour-cores places a neighbour"):
        options_from_cli(neighbour_cores="0")

