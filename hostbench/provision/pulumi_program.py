"""The Pulumi program: the stack's config read and checked, its resource plan declared
(``pulumi_resources``), and the components' outputs exported as the targets document, the same
one `fab up` saves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi

from hostbench.errors import ConfigError
from hostbench.image.manifest import load_manifest
from hostbench.provision.networks import check_network
from hostbench.provision.plan import ResourcePlan, resource_plan, targets_document
from hostbench.provision.pulumi_resources import (
    ContainerEnvironment,
    LibvirtShared,
    VmEnvironment,
    docker_provider,
)
from hostbench.stack.keys import ensure_stack_key
from hostbench.stack.spec import PREFIX, PROJECT, StackConfig, spec_from_mapping


def stack_config() -> dict[str, Any]:
    """This stack's `hostbench:*` config values, keys without the prefix."""
    values = {}
    for full_key in pulumi.runtime.config.CONFIG.get():
        namespace, _, key = full_key.partition(":")
        if namespace == PROJECT:
            values[key] = pulumi.runtime.config.get_config(full_key)
    for key in StackConfig.model_fields:
        value = pulumi.Config(PROJECT).get(key)
        if value is not None:
            values[key] = value
    return values


def declare_stack() -> None:
    """The whole program: validated config -> resource plan -> components -> outputs."""
    stack = pulumi.get_stack()
    spec = spec_from_mapping(stack, stack_config(), f"stacks/Pulumi.{stack}.yaml")
    try:
        image = load_manifest(Path(spec.image_manifest))
    except ConfigError as exc:
        raise ConfigError(spec.source, f"{PREFIX}image_manifest", str(exc)) from None
    plan = resource_plan(spec, image)
    if plan.vms:
        check_network(spec, plan.network)
    key = ensure_stack_key(stack)
    shared = LibvirtShared(plan) if plan.vms else None
    vms = {vm.env.name: VmEnvironment(plan, vm, shared, key.public_openssh)
           for vm in plan.vms if shared is not None}
    provider = docker_provider(plan) if plan.containers else None
    containers = {ctr.env.name: ContainerEnvironment(ctr, key.public_openssh, provider)
                  for ctr in plan.containers}
    addresses = _all({name: vm.address for name, vm in vms.items()})
    gateways = _all({name: c.gateway for name, c in containers.items()})
    targets = pulumi.Output.all(addresses, gateways).apply(
        lambda found: targets_json(plan, key.private_openssh, found[0], found[1]))
    pulumi.export("stack", stack)
    pulumi.export("spec", spec.model_dump(mode="json"))
    pulumi.export("image", plan.image_ref.model_dump(mode="json"))
    pulumi.export("targets", targets)
    pulumi.export("ssh_private_key", pulumi.Output.secret(key.private_openssh))


def _all(outputs: dict[str, pulumi.Output[str]]) -> pulumi.Output[dict[str, str]]:
    return pulumi.Output.all(**outputs) if outputs else pulumi.Output.from_input({})


def targets_json(plan: ResourcePlan, private_key: str, addresses: dict[str, str],
                 gateways: dict[str, str]) -> dict[str, Any]:
    """The `targets` output: the targets document's entries (the key is its own secret)."""
    return targets_document(plan, private_key, addresses, gateways).model_dump(
        mode="json", exclude_none=True)["targets"]
