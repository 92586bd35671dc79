"""One measuring session of `fab benchmark` or `fab calibrate`: parity, the run stored, every
trial (a fixed count, or rounds decided as it goes with `--repeat auto`), and whatever happens,
the run finished, summarised and reported."""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from hostbench.analysis.adaptive import decide, look_alpha, looks
from hostbench.analysis.calibration import noise_floors, stale_reason
from hostbench.analysis.overheads import analyse
from hostbench.analysis.run_analysis import RunAnalysis, analyse_run
from hostbench.commands.connections import Connect, close_executors, connect_all, console
from hostbench.commands.fleet import report_to_fleet
from hostbench.commands.parity import parity
from hostbench.console import untrusted
from hostbench.errors import HostbenchError
from hostbench.image.manifest import load_manifest
from hostbench.paths import run_dir
from hostbench.report.run_report import publish
from hostbench.report.summary import print_summary
from hostbench.results.store import Store, StoredRun
from hostbench.run import facts as facts_mod
from hostbench.run.accounting import Accountant, machinery_finder
from hostbench.run.facts import HostFacts
from hostbench.run.firewall import remove_tagged_rules, rule_tag
from hostbench.run.neighbours import Control, Neighbours
from hostbench.run.phases import Phases, with_other
from hostbench.run.run_records import (
    BenchmarkOptions,
    Margins,
    RunRecord,
    RunStatus,
    Sample,
    Stopping,
    TrialRecord,
    new_run_id,
    timestamp,
)
from hostbench.run.runner import (
    RunContext,
    TrialProgress,
    cleanup_scratch,
    run_plan,
    trial_progress,
)
from hostbench.run.schedule import PlannedTrial, rotation
from hostbench.run.stressor_neighbours import Stressing, VmNeighbours, stressings
from hostbench.run.stressors import chosen, load_stressors
from hostbench.run.workloads import Workload, metric_names
from hostbench.signals import cleanup
from hostbench.stack.environments import Kind
from hostbench.stack.targets import Target, Targets

PER_TRIAL_OVERHEAD_S = 1.5
"""A trial's time beyond its duration, for plans: the tool's own start and finish (sockperf's
warm-up, fio's files, a TCG VM's slower start: 0.1 to 2.9 s on a 5-s trial here) and
hostbench's orchestration (0.17 s a trial on the quick suite)."""


@dataclass
class Session:
    store: Store
    opts: BenchmarkOptions
    targets: Targets
    chosen: dict[str, Target]
    catalogue: Mapping[str, Workload]
    trials: list[PlannedTrial]  # all of them, or with --repeat auto the minimum rounds
    previous: RunRecord | None  # the run being resumed
    connect: Connect
    control: Control  # every VM and container of the stack, for pausing and metering
    budget_s: float = 0.0  # with --repeat auto
    measured: list[Sample] = field(default_factory=list)

    def trial_estimate_s(self) -> dict[str, float]:
        return {w: self.catalogue[w].duration(self.opts.suite) + PER_TRIAL_OVERHEAD_S
                for w in {p.workload for p in self.trials}}

    def margins(self, host: HostFacts) -> Margins:
        """Per workload its file's margin (or --margin), and the noise floor that calibrating
        this stack on this host measured (named stale where the host or image changed)."""
        names = dict.fromkeys(p.workload for p in self.trials)
        if self.opts.margin is not None:
            margins = Margins(workloads={w: self.opts.margin for w in names},
                              source="command line")
        else:
            margins = Margins(workloads={w: self.catalogue[w].margin_pct for w in names})
        if self.opts.purpose == "calibration":
            return margins
        calibration = self.store.latest_calibration(self.targets.stack, host.hostname)
        if calibration is None:
            return margins
        floors = {f.key: f.floor_pct for f in noise_floors(calibration)}
        stale = stale_reason(calibration.record, host, self.targets.image.hash,
                             datetime.now().astimezone())
        return margins.model_copy(update={"floors": floors, "floor_run": calibration.id,
                                          "floor_stale": stale})


def measure(session: Session) -> str:
    """Parity, then every trial; the run is finished and reported whatever happens."""
    store, opts, previous = session.store, session.opts, session.previous
    neighbours = Neighbours(session.control, opts.isolation)
    neighbours.resume_all()  # a run killed while others were paused left them so
    tag = rule_tag(session.targets.stack)
    machine = session.targets.spec.machine
    remove_tagged_rules(tag, machine)  # and its host servers' firewall rules
    executors = connect_all(session.chosen, session.targets, session.connect)
    vms = _neighbour_vms(session)
    wall_start = time.monotonic()
    ctx: RunContext | None = None
    run_id = previous.id if previous else None
    status: RunStatus = "failed"
    try:
        phases = Phases()
        with ThreadPoolExecutor(max_workers=1) as pool:
            # a new run's host facts and commit are read while parity waits on the environments
            made = pool.submit(_provenance, session) if run_id is None else None
            with phases.timed("parity"):
                found, parity_verdict = parity(session.targets, session.chosen, executors,
                                               opts.allow_mismatch, session.control)
            if run_id is None:
                assert made is not None  # submitted for every new run
                run_id = _new_run(session, *made.result()).id
            else:
                store.reopen_run(run_id)
        store.set_parity(run_id, parity_verdict)
        for name, env_facts in found.items():
            store.put_env_facts(run_id, name, env_facts)
        console.print(f"run [bold]{run_id}[/] -> {store.path}")
        report_to_fleet(run_id)
        ctx = RunContext(run_id, opts.suite, session.chosen, session.catalogue, executors,
                         lambda trial: _save(session, trial), run_dir(run_id) / "raw", console,
                         host_tree=_host_tree(session.targets), firewall_tag=tag,
                         neighbours=neighbours, host=machine, stressors=_stressings(session, vms),
                         accountant=_accountant(session) if opts.accounting else None,
                         phases=phases)
        note = ""
        if opts.repeat == "auto" and previous is None:
            note = (f"  (auto: {opts.min_repeat}-{opts.max_repeat} rounds a workload, "
                    f"budget {session.budget_s / 60:.0f} min)")
        with trial_progress(console, session.trial_estimate_s(), note) as shown:
            if note:
                store.set_stopping(run_id, _adaptive(session, ctx, shown, wall_start))
            else:
                run_plan(ctx, session.trials, shown)
        status = "complete" if store.load(run_id).missing() == [] else "failed"
    except KeyboardInterrupt:
        status = "interrupted"
        console.print(f"[yellow]interrupted: completed trials are kept; finish with "
                      f"`fab benchmark --resume {run_id}`[/]")
        raise
    finally:
        with cleanup():
            neighbours.resume_all()
            for problem in vms.remove() if vms is not None else []:
                console.print(untrusted(f"not removed: {problem}", "red"), soft_wrap=True)
            if ctx is not None:
                cleanup_scratch(ctx)
            close_executors(executors)
            for problem in sorted(neighbours.problems):
                console.print(untrusted(f"idle neighbours: {problem}", "yellow"), soft_wrap=True)
            if run_id is not None:
                _finish(store, run_id, status, previous, ctx, time.monotonic() - wall_start)
                if status == "interrupted":
                    write_outputs(store.load(run_id))
    run = store.load(run_id)
    analysis = analyse_run(run)
    print_summary(run, console, analysis)
    write_outputs(run, analysis)
    missing = run.missing()
    if missing:
        raise HostbenchError(f"run {run_id}: {len(missing)} trial(s) failed or did not run; after "
                             f"fixing the cause, `fab benchmark --resume {run_id}` runs them")
    return run_id


def _neighbour_vms(session: Session) -> VmNeighbours | None:
    """Where the run's neighbour VMs are booted and removed, in a run beside stressors
    (libvirt's client is imported only then; nothing is booted until a VM needs one)."""
    if not session.opts.neighbour:
        return None
    from hostbench.run.vm_neighbour import NeighbourVms

    return NeighbourVms(session.targets, console.print)


def _stressings(session: Session, vms: VmNeighbours | None) -> dict[str, Stressing]:
    """What starts each planned neighbour, its stressor's binary one the image hashes (a VM's
    neighbour VM booted now, in ``vms``)."""
    opts = session.opts
    if vms is None:
        return {}
    binaries = load_manifest(Path(session.targets.image.manifest)).binaries
    stressors = chosen(load_stressors(), opts.neighbour, binaries)
    limit_s = 2.0 * max(session.catalogue[p.workload].timeout_s for p in session.trials)
    return stressings(stressors, session.chosen, session.targets, session.targets.spec.machine,
                      opts.neighbour_cores, limit_s, vms)


def _accountant(session: Session) -> Accountant:
    """Snapshots of the stack's host around each measured command of the chosen environments."""
    machine = session.targets.spec.machine
    return Accountant(machine, {n: set(t.cores) for n, t in session.chosen.items()},
                      machinery_finder(machine, session.control,
                                       {n: t.kind for n, t in session.chosen.items()}))


def _save(session: Session, trial: TrialRecord) -> None:
    session.store.add_trial(trial)
    if trial.status == "ok" and not trial.warmup:
        session.measured.extend(trial.samples)


def _host_tree(targets: Targets) -> str | None:
    trees = [t.rootfs for t in targets.targets.values() if t.kind is Kind.BARE]
    return trees[0] if trees else None


def _provenance(session: Session) -> tuple[HostFacts, str]:
    """Where a new run is made: its host's facts, and hostbench's commit."""
    return facts_mod.host_facts(session.targets.spec.machine), facts_mod.git_commit()


def _new_run(session: Session, host: HostFacts, commit: str) -> RunRecord:
    targets, opts = session.targets, session.opts
    run = RunRecord(
        id=new_run_id(), started_at=timestamp(), stack=targets.stack, suite=opts.suite,
        command_line=opts.command_line, git_commit=commit,
        image_hash=targets.image.hash,
        environments=tuple(t.environment for t in session.chosen.values()),
        plan=tuple(session.trials), options=opts, host=host, spec=targets.spec,
        margins=session.margins(host), catalogue=metric_names(session.catalogue))
    session.store.create_run(run)
    return run


def _adaptive(session: Session, ctx: RunContext, shown: TrialProgress, started: float
              ) -> Stopping:
    """Each workload's minimum rounds, then, look by look, more rounds for bare metal and the
    environments still open (``hostbench.analysis.adaptive``)."""
    opts, run_id = session.opts, ctx.run_id
    record = session.store.get_run(run_id)
    planned = looks(opts.min_repeat, opts.max_repeat)
    alpha = look_alpha(opts.min_repeat, opts.max_repeat)
    stopping = Stopping(minimum=opts.min_repeat, maximum=opts.max_repeat,
                        budget_s=session.budget_s, looks=planned)
    baseline = [name for name, t in session.chosen.items() if t.environment.is_baseline]
    workloads = list(dict.fromkeys(p.workload for p in session.trials))
    for index, workload in enumerate(workloads):
        # the budget is shared out: a workload may use what the ones before it left, no more
        until_s = session.budget_s * (index + 1) / len(workloads)
        run_plan(ctx, [p for p in session.trials if p.workload == workload], shown)
        rounds = opts.min_repeat
        while True:
            with ctx.phases.timed("analysis"):
                mine = [s for s in session.measured if s.workload == workload]
                results = analyse(mine, record.environments, record.verdict_margins, alpha)
                decision = decide(results, rounds, opts.max_repeat, time.monotonic() - started,
                                  until_s)
            if not decision.more:
                break
            following = next(n for n in planned if n > rounds)
            envs = [*baseline, *decision.open_envs]
            more = [PlannedTrial(workload=workload, trial=opts.warmup + r, warmup=False, env=env,
                                 position=position)
                    for r in range(rounds, following)
                    for position, env in enumerate(rotation(envs, opts.warmup + r))]
            session.store.extend_plan(run_id, more)
            console.print(f"  {workload}: {decision.reason}; rounds {rounds + 1}-{following} "
                          f"for {', '.join(envs)}", highlight=False, soft_wrap=True)
            run_plan(ctx, more, shown)
            rounds = following
        console.print(f"  {workload}: {rounds} measured rounds ({decision.reason})",
                      highlight=False, soft_wrap=True)
        stopping = stopping.model_copy(update={
            "rounds": {**stopping.rounds, workload: rounds},
            "reasons": {**stopping.reasons, workload: decision.reason}})
    return stopping


def write_outputs(run: StoredRun, analysis: RunAnalysis | None = None) -> None:
    """Write the run's report and exports and print where; a failure only warns: the trials are
    already stored, and `fab report --run ID` can try again."""
    try:
        paths, _exports = publish(run, analysis=analysis)
    except Exception as exc:
        console.print(untrusted(f"warning: could not write the report of run {run.id}: "
                                f"{type(exc).__name__}: {exc}; retry with "
                                f"`fab report --run {run.id}`", "yellow"), soft_wrap=True)
        return
    console.print(f"report: {paths.html}", soft_wrap=True)


def _finish(store: Store, run_id: str, status: RunStatus, previous: RunRecord | None,
            ctx: RunContext | None, wall: float) -> None:
    """Record status and the split of wall time (added to earlier sessions of a resumed run)."""
    workload = (previous.workload_seconds or 0.0 if previous else 0.0) + (
        ctx.workload_seconds if ctx else 0.0)
    total = (previous.wall_seconds or 0.0 if previous else 0.0) + wall
    orchestration = max(total - workload, 0.0)
    phases = dict(previous.orchestration or {}) if previous else {}
    for name, seconds in (ctx.phases.seconds if ctx else {}).items():
        phases[name] = phases.get(name, 0.0) + seconds
    store.finish_run(run_id, status, workload_seconds=workload,
                     orchestration_seconds=orchestration, wall_seconds=total,
                     orchestration=with_other(phases, orchestration))


