"""The base of every typed record (pydantic), and validation whose errors name the source and field.

Records cross the pipeline's boundaries (stack -> provision -> run -> results -> report) and the
results database; each is validated when it is built or read back, so a wrong value is reported
where it enters, not as a KeyError three stages later.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, get_args

import pydantic
from pydantic import BaseModel, BeforeValidator, ConfigDict

from hostbench.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def _not_a_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"must be a number, not {str(value).lower()}")
    return value


NotBool = BeforeValidator(_not_a_boolean)
"""For ``Annotated[int, Field(ge=...), NotBool]``: YAML's true/false are not numbers. Put last, so
the constraints before it stay visible in the JSON Schema."""


class Record(BaseModel):
    """Immutable, and strict about names: a misspelt field is an error, not silently dropped."""

    model_config = ConfigDict(frozen=True, extra="forbid")


SECRET_FIELDS = frozenset({"ssh_private_key"})
"""Fields whose values an error never quotes: a malformed key is still key material."""


def _is_tag(part: int | str) -> bool:
    """Parts of a location pydantic adds for itself: ``[key]``, a union member's type."""
    return isinstance(part, str) and ("[" in part or "(" in part)


def field_path(loc: tuple[int | str, ...], prefix: str = "") -> str:
    """A pydantic error location as people write it: ``targets.vm.port``, ``metrics[2]``."""
    text = ""
    for part in loc:
        if _is_tag(part):
            continue
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    if not text:
        return prefix.rstrip(".:") or "(top level)"
    return prefix + text


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model an annotation names, also inside ``X | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next(filter(None, map(_model_in, get_args(annotation))), None)


def _known_fields(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The fields of the model that ``loc`` (minus its last part) points into, when that is one."""
    current: type[BaseModel] | None = model
    for part in loc[:-1]:
        if current is None or part not in current.model_fields:
            return []
        current = _model_in(current.model_fields[part].annotation)
    return sorted(current.model_fields) if current else []


def _problem(model: type[BaseModel], error: Mapping[str, Any]) -> str:
    kind, loc = error["type"], tuple(error["loc"])
    if kind == "missing":
        return "is required but missing"
    if kind == "extra_forbidden":
        known = _known_fields(model, loc)
        return "is not a known field" + (f" (known: {', '.join(known)})" if known else "")
    message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    message = message[:1].lower() + message[1:]
    if ("input" in error and kind not in ("value_error", "assertion_error")
            and not SECRET_FIELDS & set(map(str, loc))):
        message += f", got {error['input']!r}"
    return message


def validated(model: type[M], data: Any, source: str, prefix: str = "") -> M:
    """``data`` as a ``model``; the first problem is raised as a ConfigError naming ``source`` and
    the field (``prefix`` is put before field names, e.g. ``hostbench:``)."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        raise ConfigError(source, field_path(tuple(error["loc"]), prefix),
                          _problem(model, error)) from None
