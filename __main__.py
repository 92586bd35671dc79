"""Pulumi entry point: the stack's config -> hostbench.provision declares the resources."""

from hostbench.provision.pulumi_program import declare_stack

declare_stack()
