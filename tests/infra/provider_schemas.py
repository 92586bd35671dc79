"""Check resource inputs (as Pulumi mocks see them) against Pulumi provider package schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TYPE_REF = "#/types/"
# Pulumi's built-in types accept any value of their kind.
BUILTIN_REFS = ("pulumi.json#/Any", "pulumi.json#/Archive", "pulumi.json#/Asset",
                "pulumi.json#/Json")


class ProviderSchemas:
    """Resource and provider input schemas of one or more Pulumi packages."""

    def __init__(self, paths: list[Path]) -> None:
        self.resources: dict[str, dict[str, Any]] = {}
        self.types: dict[str, dict[str, Any]] = {}
        for path in paths:
            package = json.loads(path.read_text())
            self.resources.update(package.get("resources", {}))
            self.types.update(package.get("types", {}))
            self.resources[f"pulumi:providers:{package['name']}"] = package.get("provider", {})

    def validate(self, token: str, inputs: dict[str, Any]) -> list[str]:
        """Problems with `inputs` of a resource of type `token`; empty when valid."""
        resource = self.resources.get(token)
        if resource is None:
            return [f"{token}: no such resource type in the provider schemas"]
        if token.startswith("pulumi:providers:"):
            inputs = {k: _provider_value(v) for k, v in inputs.items()}
        return self._check_object(inputs, resource.get("inputProperties", {}),
                                  resource.get("requiredInputs", []), token)

    def _check_object(self, value: Any, properties: dict[str, Any], required: list[str],
                      where: str) -> list[str]:
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        problems = [f"{where}.{name}: required property is missing"
                    for name in required if name not in value]
        for name, item in value.items():
            if name not in properties:
                problems.append(f"{where}.{name}: unknown property "
                                f"(known: {', '.join(sorted(properties)) or 'none'})")
            else:
                problems += self._check(item, properties[name], f"{where}.{name}")
        return problems

    def _check(self, value: Any, schema: dict[str, Any], where: str) -> list[str]:
        if value is None:
            return []
        if "$ref" in schema:
            ref = schema["$ref"]
            if ref in BUILTIN_REFS:
                return []
            if not ref.startswith(TYPE_REF) or ref[len(TYPE_REF):] not in self.types:
                return [f"{where}: schema refers to unknown type {ref}"]
            typ = self.types[ref[len(TYPE_REF):]]
            if typ.get("type") == "string" and "enum" in typ:
                allowed = [e["value"] for e in typ["enum"]]
                return [] if value in allowed else [f"{where}: {value!r} not one of {allowed}"]
            return self._check_object(value, typ.get("properties", {}), typ.get("required", []),
                                      where)
        if "oneOf" in schema:
            options = [self._check(value, option, where) for option in schema["oneOf"]]
            return [] if any(not o for o in options) else options[0]
        return self._check_typed(value, schema, where)

    def _check_typed(self, value: Any, schema: dict[str, Any], where: str) -> list[str]:
        kind = schema.get("type")
        ok = {
            "string": lambda v: isinstance(v, str),
            "boolean": lambda v: isinstance(v, bool),
            "integer": lambda v: (isinstance(v, int | float) and not isinstance(v, bool)
                                  and float(v).is_integer()),
            "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
            "array": lambda v: isinstance(v, list),
            "object": lambda v: isinstance(v, dict),
        }.get(kind) if isinstance(kind, str) else None
        if ok is None:
            return [] if kind is None else [f"{where}: schema has unsupported type {kind}"]
        if not ok(value):
            return [f"{where}: expected {kind}, got {value!r}"]
        if kind == "array":
            return [p for i, item in enumerate(value)
                    for p in self._check(item, schema.get("items", {}), f"{where}[{i}]")]
        if kind == "object" and "additionalProperties" in schema:
            return [p for k, item in value.items()
                    for p in self._check(item, schema["additionalProperties"], f"{where}.{k}")]
        return []


def _provider_value(value: Any) -> Any:
    """The engine hands a provider its non-string config as JSON text (lists, numbers)."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value
