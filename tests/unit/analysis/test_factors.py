"""Factor effects: each variant against the environment it varies, on known-truth samples."""

from __future__ import annotations

import math

import pytest

from hostbench.analysis.factors import factor_effects
from hostbench.run.run_records import Sample
from hostbench.stack.environments import Environment, Kind
from tests.unit.synthetic_runs import environment

ENVS = tuple(environment(n) for n in ("bare", "vm", "container", "container-hostnet"))


def _samples(env: str, values: list[float], metric: str = "throughput_gbps",
             higher: bool = True) -> list[Sample]:
    return [Sample(workload="net-iperf3", env=env, trial=i, warmup=False, position=0,
                   metric=metric, value=v, unit="Gbit/s", higher_is_better=higher,
                   timestamp="2026-11-27T00:00:00+00:00") for i, v in enumerate(values)]


def test_the_cost_of_a_factor_is_the_variant_against_its_base():
    nat = [16.0, 16.2, 15.9, 16.1, 16.0]
    host = [22.0, 22.3, 21.9, 22.1, 22.2]
    measured = (_samples("bare", [22.5] * 5) + _samples("container", nat)
                + _samples("container-hostnet", host))
    (effect,) = factor_effects(measured, ENVS)
    assert (effect.variant.name, effect.base.name, effect.factor) == (
        "container-hostnet", "container", "network: host")
    # the host network gives ~38% more throughput, round by round: the variant is faster
    ratio = math.exp(sum(math.log(h / n) for h, n in zip(host, nat, strict=True)) / 5)
    assert effect.change.ratio.value == pytest.approx(ratio)
    assert effect.change.change_pct.value == pytest.approx((ratio - 1) * 100)
    assert effect.change.overhead_pct.value == pytest.approx((1 / ratio - 1) * 100)
    assert effect.change.paired
    assert effect.change.verdict == "faster" and effect.change.median_reference == 16.0


def test_an_equal_variant_shows_no_difference_and_a_missing_base_no_effect():
    same = [1.0, 1.1, 0.9, 1.05, 0.95]
    effects = factor_effects(_samples("container", same) + _samples("container-hostnet", same),
                             ENVS)
    # noisy from round to round, but the same in each round: no difference in any pair
    assert [e.change.verdict for e in effects] == ["equivalent"]
    shifted = same[1:] + same[:1]  # the same values in other rounds: noise, no pairing to help
    effects = factor_effects(_samples("container", same) + _samples("container-hostnet", shifted),
                             ENVS)
    assert [e.change.verdict for e in effects] == ["inconclusive"]
    assert factor_effects(_samples("container-hostnet", same), ENVS) == []
    assert factor_effects(_samples("vm", same) + _samples("container", same), ENVS) == []


def test_a_container_inside_a_vm_is_set_beside_the_vm_and_the_container():
    nested = Environment(name="container-in-vm", kind=Kind.VM, accel="tcg", variant_of="vm",
                         options={"workloads": "container"})
    envs = (*ENVS, nested)
    vm, ctr, inside = [10.0] * 5, [5.0] * 5, [12.0, 12.1, 11.9, 12.0, 12.05]
    measured = (_samples("vm", vm, "seconds", higher=False)
                + _samples("container", ctr, "seconds", higher=False)
                + _samples("container-hostnet", ctr, "seconds", higher=False)
                + _samples("container-in-vm", inside, "seconds", higher=False))
    effects = {e.base.name: e for e in factor_effects(measured, envs)
               if e.variant.name == "container-in-vm"}
    # the container layer inside a VM, and the VM layer around a container: against the
    # container that runs as the inner one does, on the host's network
    assert effects["vm"].factor == "workloads: container"
    assert effects["container-hostnet"].factor == "a VM around the container"
    assert set(effects) == {"vm", "container-hostnet"}
    assert effects["vm"].change.ratio.value == pytest.approx(1.2, rel=0.01)
    assert effects["container-hostnet"].change.ratio.value == pytest.approx(2.4, rel=0.01)
    assert effects["container-hostnet"].change.verdict == "slower"
    # without a host-network container, the one of Docker's defaults
    without = [e for e in envs if e.name != "container-hostnet"]
    assert {e.base.name for e in factor_effects(measured, without)
            if e.variant.name == "container-in-vm"} == {"vm", "container"}
