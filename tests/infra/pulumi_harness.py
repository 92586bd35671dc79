"""Run the real __main__.py under Pulumi's mocks and collect resources and stack outputs."""

from __future__ import annotations

import asyncio
import json
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pulumi

MAIN = Path(__file__).resolve().parents[2] / "__main__.py"
VM_ADDRESS = "192.168.150.23"


@dataclass
class Registered:
    token: str
    name: str
    inputs: dict[str, Any]
    custom: bool
    provider: str = ""  # the reference of its explicit provider ("" for the default one)
    parents: list[str] = field(default_factory=list)  # types of its parents, outermost first


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    resources: list[Registered] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        self.resources.append(Registered(args.typ, args.name, dict(args.inputs),
                                         bool(args.custom), args.provider or ""))
        state = dict(args.inputs)
        if args.typ == "libvirt:index/domain:Domain":
            nics = [dict(nic, addresses=[VM_ADDRESS]) for nic in state["networkInterfaces"]]
            state["networkInterfaces"] = nics
        if args.typ == "docker:index/container:Container":
            state["networkDatas"] = [{"gateway": "172.17.0.1", "ipAddress": "172.17.0.2"}]
        if args.typ == "docker:index/remoteImage:RemoteImage":
            state["imageId"] = "sha256:" + "ab" * 32
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs
             ) -> tuple[dict, list[tuple[str, str]] | None]:
        return {}, None

    def by_token(self, token: str) -> list[Registered]:
        return [r for r in self.resources if r.token == token]

    def add_parents(self, urns: list[str]) -> None:
        """Each resource's parent types, read from the URNs the mock monitor made
        (``urn:pulumi:STACK::PROJECT::ParentType$Type::name``)."""
        chains = {}
        for urn in urns:
            _, _, types, name = urn.split("::", 3)
            *parents, token = types.split("$")
            chains[(token, name)] = parents
        for r in self.resources:
            r.parents = chains.get((r.token, r.name), [])


def run_program(config: dict[str, Any], stack: str = "test"
                ) -> tuple[RecordingMocks, Exports]:
    """Run __main__.py with `config` (keys without the hostbench: prefix)."""
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="hostbench", stack=stack, preview=False)
    pulumi.runtime.set_all_config({
        f"hostbench:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()})
    exports: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    secret: dict[str, bool] = {}

    @pulumi.runtime.test
    def program() -> Any:
        with mock.patch("pulumi.export", lambda name, value: exports.__setitem__(name, value)):
            runpy.run_path(str(MAIN))

        async def gather() -> None:
            for name, value in exports.items():
                output = pulumi.Output.from_input(value)
                secret[name] = await output.is_secret()
                outputs[name] = await output.future()

        return asyncio.ensure_future(gather())

    program()
    monitor = pulumi.runtime.settings.get_monitor()
    assert isinstance(monitor, pulumi.runtime.mocks.MockMonitor)
    mocks.add_parents(list(monitor.resources))
    return mocks, Exports(outputs, secret)


@dataclass
class Exports:
    values: dict[str, Any]
    secret: dict[str, bool]
