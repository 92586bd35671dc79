"""An environment is a value: a name, a kind (bare | vm | container) and how it varies.

Bare metal is always present and is the baseline every other environment is compared with.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from hostbench.records import Record

Accel = Literal["kvm", "tcg"]
EnvName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,29}$")]
"""Lower-case letters, digits and dashes: it becomes part of container and domain names."""


class Kind(StrEnum):
    BARE = "bare"
    VM = "vm"
    CONTAINER = "container"


KIND_ORDER = tuple(Kind)


class Environment(Record):
    """One environment of a stack; ``accel`` says how a VM ran (KVM or TCG emulation)."""

    name: EnvName
    kind: Kind
    variant_of: EnvName | None = None
    accel: Accel | None = None

    @property
    def label(self) -> str:
        """The name as reports show it: a TCG VM is software emulation and says so everywhere."""
        if self.kind is Kind.VM:
            return f"{self.name} ({'TCG emulation' if self.accel == 'tcg' else 'KVM'})"
        return self.name

    @property
    def is_baseline(self) -> bool:
        return self.name == BASELINE


BASELINE = "bare"
BARE_METAL = Environment(name=BASELINE, kind=Kind.BARE)
DEFAULT_ENVIRONMENTS = (Environment(name="vm", kind=Kind.VM),
                        Environment(name="container", kind=Kind.CONTAINER))
"""What a stack builds when its config lists no environments (bare metal comes on top)."""


def by_name(envs: tuple[Environment, ...] | list[Environment]) -> dict[str, Environment]:
    return {env.name: env for env in envs}
