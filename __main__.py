"""Pulumi entry point: the stack's config -> hostbench.infra declares the resources."""

from hostbench.infra.program import declare_stack

declare_stack()
