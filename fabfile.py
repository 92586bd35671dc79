"""Fabric tasks (thin): provisioning without Pulumi, and benchmarking. Logic lives in hostbench/."""

from fabric import task

from hostbench.cli import run_cli
from hostbench.provision.direct import down as direct_down
from hostbench.provision.direct import up as direct_up
from hostbench.spec import load_stack_file

DEFAULT_STACK = "local"


@task(help={"stack": f"stack config stacks/Pulumi.<stack>.yaml (default {DEFAULT_STACK})"})
def up(c, stack=DEFAULT_STACK):
    """Create the stack's VM and container directly (libvirt + Docker APIs), no Pulumi CLI."""
    run_cli(lambda: direct_up(load_stack_file(stack)))


@task(help={"stack": f"stack to remove (default {DEFAULT_STACK})"})
def down(c, stack=DEFAULT_STACK):
    """Remove everything `fab up` created for the stack."""
    run_cli(lambda: direct_down(load_stack_file(stack)))
