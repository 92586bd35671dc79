"""Errors a user can act on: each names the file and field (or the target) that is wrong."""


class HostbenchError(Exception):
    """Base class: printed to the user without a traceback."""


class ConfigError(HostbenchError):
    """A YAML or JSON input is malformed; the message names the file and the field."""

    def __init__(self, source: str, field: str, problem: str) -> None:
        self.source, self.field, self.problem = source, field, problem
        super().__init__(f"{source}: {field}: {problem}")


class ControlError(HostbenchError):
    """The host could not pause, resume or meter one of a stack's VMs or containers."""


def write_refused(path: object, exc: Exception, run: str = "RUN") -> HostbenchError:
    """The error for a write the disk refused (full, read-only, I/O error), with what to do."""
    return HostbenchError(
        f"{path}: cannot write ({exc}); what was stored before is kept. Free space (or fix the "
        f"file's permissions), then `fab benchmark --resume {run}` runs what is missing")
