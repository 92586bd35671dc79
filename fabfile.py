"""Fabric tasks (thin): provisioning without Pulumi, and benchmarking. Logic lives in hostbench/."""

import shlex
import sys

from fabric import task

from hostbench.commands.benchmark import benchmark as run_benchmark
from hostbench.commands.benchmark import calibrate as run_calibrate
from hostbench.commands.benchmark import options_from_cli
from hostbench.commands.fleet import per_stack
from hostbench.commands.lifecycle import lifecycle as run_lifecycle
from hostbench.commands.lifecycle import lifecycle_options
from hostbench.commands.parity import run_parity
from hostbench.commands.provision import deliver_to_host
from hostbench.commands.provision import down as direct_down
from hostbench.commands.provision import up as direct_up
from hostbench.commands.report import run_compare, run_report
from hostbench.console import run_cli
from hostbench.stack.spec import load_stack_file

DEFAULT_STACK = "local"
FLEET = " (several, comma-separated: a fleet, run in parallel)"
TARGETS = {"stack": f"stack whose targets to use (default {DEFAULT_STACK}){FLEET}",
           "targets_file": "JSON as printed by `pulumi stack output --json --show-secrets`"}
TRIALS = {
    "suite": "quick | standard | felter (default quick)",
    "repeat": "measured rounds per workload (default 5), or auto: more rounds at planned looks "
              "while a verdict is open (see --min-repeat, --max-repeat, --budget-min)",
    "min_repeat": "with --repeat auto: the rounds every workload gets, its first look "
                  "(default 3)",
    "max_repeat": "with --repeat auto: the most rounds a workload gets (default 15)",
    "budget_min": "with --repeat auto: the time budget in minutes (default: twice the minimum)",
    "warmup": "warm-up rounds, not counted (default 1)",
    "workload": "only these workloads (comma-separated)",
    "dry_run": "print the plan and its estimated duration, run nothing",
    "isolation": "pause: the other environments are paused during each trial (default); "
                 "none: they stay up (their host CPU is recorded either way)",
}


def _options(**flags):
    return options_from_cli(**flags, command_line=shlex.join(sys.argv))


@task(help={"stack": f"stack config stacks/Pulumi.<stack>.yaml (default {DEFAULT_STACK})"
                    f"{FLEET}"})
def up(c, stack=DEFAULT_STACK):
    """Create the stack's environments directly (libvirt + Docker APIs), no Pulumi CLI."""
    run_cli(lambda: per_stack("up", stack, lambda: direct_up(load_stack_file(stack))))


@task(help={"stack": f"stack whose host gets the image (default {DEFAULT_STACK}){FLEET}"})
def deliver(c, stack=DEFAULT_STACK):
    """Send the image to the stack's remote host where it lacks it (before `pulumi up`)."""
    run_cli(lambda: per_stack("deliver", stack, lambda: deliver_to_host(load_stack_file(stack))))


@task(help={"stack": f"stack to remove (default {DEFAULT_STACK}){FLEET}",
            "purge_image": "on a remote host, also remove the image's copy there (the next "
                           "`fab up` sends it again)"})
def down(c, stack=DEFAULT_STACK, purge_image=False):
    """Remove everything `fab up` created for the stack."""
    run_cli(lambda: per_stack("down", stack,
                              lambda: direct_down(load_stack_file(stack), purge_image)))


@task(help={
    **TARGETS, **TRIALS,
    "env": "only these environments (comma-separated, e.g. bare,vm,container)",
    "margin": "the margin m in percent for every workload (default: each workload's own)",
    "resume": "finish the missing trials of run RUN, with the options it was started with",
    "allow_mismatch": "run even when the parity check fails (recorded with the run)",
    "neighbour": "stressors (stressors/*.yaml, comma-separated): each round measures every "
                 "environment quiet and beside a neighbour of its kind running each stressor",
    "neighbour_cores": "with --neighbour: the neighbour's cores (default: those the measured "
                       "environment does not use)",
    "accounting": "record where each trial's time went: host CPU states, softirqs, the "
                  "environment's host processes, the command's rusage (default on; "
                  "--no-accounting leaves the snapshots out)",
})
def benchmark(c, stack=None, targets_file=None, suite=None, repeat=None, min_repeat=None,
              max_repeat=None, budget_min=None, warmup=None, workload=None, env=None,
              margin=None, dry_run=False, resume=None, allow_mismatch=False, isolation=None,
              neighbour=None, neighbour_cores=None, accounting=True):
    """Parity check, then every workload in every environment of the stack, interleaved."""
    run_cli(lambda: per_stack("benchmark", stack, lambda: run_benchmark(_options(
        stack=stack, targets_file=targets_file, suite=suite, repeat=repeat,
        min_repeat=min_repeat, max_repeat=max_repeat, budget_min=budget_min, warmup=warmup,
        workload=workload, env=env, margin=margin, dry_run=dry_run, resume=resume,
        allow_mismatch=allow_mismatch, isolation=isolation, neighbour=neighbour,
        neighbour_cores=neighbour_cores, accounting=None if accounting else False))))


@task(help={**TARGETS, **TRIALS})
def calibrate(c, stack=None, targets_file=None, suite=None, repeat=None, min_repeat=None,
              max_repeat=None, budget_min=None, warmup=None, workload=None, dry_run=False,
              isolation=None):
    """Bare metal against bare metal: this host's noise floor, below which no margin goes."""
    run_cli(lambda: per_stack("calibrate", stack, lambda: run_calibrate(_options(
        stack=stack, targets_file=targets_file, suite=suite, repeat=repeat,
        min_repeat=min_repeat, max_repeat=max_repeat, budget_min=budget_min, warmup=warmup,
        workload=workload, dry_run=dry_run, isolation=isolation))))


@task(auto_shortflags=False, help={
    "stack": f"stack config stacks/Pulumi.<stack>.yaml (default {DEFAULT_STACK}); it must be down",
    "repeat": "create-to-ready cycles per environment, rotated (default 5)",
    "env": "only these VMs and containers (comma-separated)",
    "settle": "idle seconds before the footprint is read (default 20)",
    "idle_window": "seconds the idle CPU time is measured over (default 10)",
    "margin": "margin in percent of the VM-against-container verdicts (default 10)",
    "density": "also start instances in steps of 1, 2, 4, ... until a budget",
    "density_max": "with --density: the most instances of each environment (default 16)",
    "density_memory": "with --density: MiB of memory per instance (default 256)",
    "memory_budget": "with --density: host MiB all instances may take (default half the "
                     "available memory, never more than available)",
    "time_budget_min": "with --density: minutes per environment (default 20)",
})
def lifecycle(c, stack=DEFAULT_STACK, repeat=None, env=None, settle=None, idle_window=None,
              margin=None, density=False, density_max=None, density_memory=None,
              memory_budget=None, time_budget_min=None):
    """Time to ready, idle footprint and (--density) density of the stack's VMs and containers."""
    run_cli(lambda: run_lifecycle(lifecycle_options(
        stack=stack, repeat=repeat, env=env, settle=settle, idle_window=idle_window,
        margin=margin, density=density, density_max=density_max,
        density_memory=density_memory, memory_budget=memory_budget,
        time_budget_min=time_budget_min, command_line=shlex.join(sys.argv))))


@task(help=TARGETS)
def parity(c, stack=DEFAULT_STACK, targets_file=None):
    """Read facts inside each environment and check that they are alike."""
    run_cli(lambda: per_stack("parity", stack, lambda: run_parity(stack, targets_file)))


@task(help={"run": "the run to report on (default: the latest run)"})
def report(c, run=None):
    """Write a run's report (HTML, Markdown) and sample exports (JSONL, CSV); print their paths."""
    run_cli(lambda: run_report(run))


@task(auto_shortflags=False, help={
    "run_a": "the run to compare against (A)", "run_b": "the run compared (B)",
    "hosts": "the runs are of different hosts (with --hosts, A and B may each list several, "
             "comma-separated): each host's overheads side by side"})
def compare(c, run_a, run_b, hosts=False):
    """Change of run B against run A per workload metric and environment (+ = B is worse);
    with --hosts, each host's overhead against its own bare metal, side by side."""
    run_cli(lambda: run_compare(run_a, run_b, hosts))
