"""Trial names under a neighbour: ``env@stressor`` is ``env`` measured beside ``stressor``."""

from __future__ import annotations

SEPARATOR = "@"


def condition(env: str, stressor: str) -> str:
    """The name trials of ``env`` with ``stressor`` beside it are stored under."""
    return f"{env}{SEPARATOR}{stressor}"


def split(name: str) -> tuple[str, str | None]:
    """``(environment, stressor)`` of a trial's environment name; no stressor when quiet."""
    env, _, stressor = name.partition(SEPARATOR)
    return env, stressor or None
