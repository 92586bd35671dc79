"""Planning neighbour experiments: every round measures each environment quiet and beside each
stressor, unfit workloads and environments are refused with the reason, and the neighbour's
cores are the ones the measured environment does not use unless placed deliberately."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostbench.commands.benchmark import options_from_cli
from hostbench.errors import HostbenchError
from hostbench.run import neighbour_plan
from hostbench.run.conditions import condition, split
from hostbench.run.schedule import plan
from hostbench.run.stressor_neighbours import neighbour_cores
from hostbench.run.workloads import load_catalogue
from hostbench.stack.environments import DEFAULT_ENVIRONMENTS, Environment, Kind
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
    bare = {"bare": Environment(name="bare", kind=Kind.BARE)}
    with pytest.raises(HostbenchError, match=rf"--neighbour: .*{name}.yaml: its host-side "
                                             rf"servers .* leave out {name}"):
        neighbour_plan.check([catalogue["cpu-sysbench"], catalogue[name]], bare)
    neighbour_plan.check([catalogue["cpu-sysbench"], catalogue["memory-sysbench"]], bare)


def test_a_vm_is_refused_until_its_neighbour_exists():
    envs = {env.name: env for env in DEFAULT_ENVIRONMENTS}
    with pytest.raises(HostbenchError, match="--neighbour: vm: a VM neighbour"):
        neighbour_plan.check([load_catalogue()["cpu-sysbench"]], envs)


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

