"""`ppm-tokens apply` over several specs, or a saved plan of several.

From specs: every spec is checked before anything is sent, then each is applied in turn by
`reconciler.commands.apply`, exactly as one spec is: its own lock, plan, guards and report. A
spec that fails does not stop the next; the run exits 1 if any failed.

From a saved plan of several specs: the whole file is checked before anything changes. Every
spec's lock is taken (in one order, so two such runs cannot wait on each other), every part is
re-derived from its spec and the live state and compared with what was saved, and the guards
run; only then are the parts applied, in turn, under the locks still held. One stale or
tampered part refuses the whole file (exit 4).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from reconciler.apply.guards import mass_revoke_refusal
from reconciler.commands import apply as single
from reconciler.commands.clocks import refuse_other_now
from reconciler.commands.plan import LiveState, read_live
from reconciler.commands.runtime import (
    Clock,
    Environment,
    GlobalOptions,
    make_clock,
    open_driver,
    store_context,
    with_admin_variables,
)
from reconciler.commands.specs import Target, expand, load_all, resolve
from reconciler.desired.model import Spec, TokenState
from reconciler.errors import ReconcilerError, SpecError, StalePlanError, UsageError
from reconciler.locks.held import HeldLock, hold
from reconciler.locks.record import new_info
from reconciler.locks.registry import open_lock
from reconciler.logs import redact
from reconciler.plan.model import Plan
from reconciler.plan.render_json import is_plan_set, plan_set_parts
from reconciler.plan.render_text import render_text
from reconciler.problems import Problem
from reconciler.sanitize import for_terminal
from reconciler.server.driver import Driver
from reconciler.stores.base import SecretStore
from reconciler.stores.registry import open_stores
from reconciler.ui import UI


@dataclass(frozen=True)
class ApplyTargets:
    files: tuple[Path, ...]  # -f as given: spec files and directories
    plan_file: Path | None = None  # the PLAN.json argument


@dataclass(frozen=True)
class Outcome:
    target: Target
    code: int


def run(
    targets: ApplyTargets,
    options: single.ApplyCommandOptions,
    global_options: GlobalOptions,
    env: Environment,
    ui: UI,
) -> int:
    """`options` as for one spec; its target and spec_override are set here."""
    if targets.plan_file is not None:
        return _from_plan_file(
            targets.plan_file,
            targets.files,
            options=options,
            global_options=global_options,
            env=env,
            ui=ui,
        )
    found = expand(targets.files)
    for note in found.notes:
        ui.err(note)
    if len(found.paths) == 1:
        (path,) = found.paths
        if single.is_saved_plan(path):  # `apply -f PLAN.json`, as one spec's plan allows
            data = single.read_saved_plan(path)
            if is_plan_set(data):
                return apply_saved_set(
                    path, data, options=options, global_options=global_options, env=env, ui=ui
                )
        only = dataclasses.replace(options, target=path, spec_override=None)
        return single.run(only, global_options, env, ui)
    saved = [str(path) for path in found.paths if single.is_saved_plan(path)]
    if saved:
        raise UsageError(
            f"{', '.join(saved)} is a saved plan: apply one saved plan alone "
            "(ppm-tokens apply PLAN.json), or spec files and directories with -f"
        )
    return apply_specs(found.paths, options, global_options, env, ui)


def _from_plan_file(
    plan_file: Path,
    files: Sequence[Path],
    *,
    options: single.ApplyCommandOptions,
    global_options: GlobalOptions,
    env: Environment,
    ui: UI,
) -> int:
    if len(files) > 1:
        raise UsageError(
            "with a saved plan, -f names the one spec it was made from; a plan of several "
            "specs records each spec's path"
        )
    override = files[0] if files else None
    if single.is_saved_plan(plan_file):
        data = single.read_saved_plan(plan_file)
        if is_plan_set(data):
            if override is not None:
                raise UsageError(
                    f"{plan_file} is a plan of several specs and records each spec's path: "
                    "drop -f, and run apply from the directory where plan ran"
                )
            return apply_saved_set(
                plan_file, data, options=options, global_options=global_options, env=env, ui=ui
            )
    one = dataclasses.replace(options, target=plan_file, spec_override=override)
    return single.run(one, global_options, env, ui)


def _check_options(options: single.ApplyCommandOptions) -> None:
    if options.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")


def _declared(spec: Spec) -> frozenset[str]:
    return frozenset(t.name for t in spec.tokens if t.state is TokenState.PRESENT)


def check_rotate(specs: Sequence[Spec], names: frozenset[str]) -> None:
    """--rotate NAME must name a token some spec declares; each spec rotates its own."""
    declared = set().union(*(_declared(spec) for spec in specs))
    single.refuse_undeclared(names, declared, f"none of the {len(specs)} specs declares a")


def apply_specs(
    paths: Sequence[Path],
    options: single.ApplyCommandOptions,
    global_options: GlobalOptions,
    env: Environment,
    ui: UI,
) -> int:
    _check_options(options)
    clock = make_clock(global_options)
    specs = load_all(paths, now=clock())
    targets = resolve(specs, global_options, env)
    env = with_admin_variables(env, specs)
    check_rotate(specs, options.rotate)
    if not options.auto_approve and not ui.interactive:
        # Said once, before any request, rather than once per spec after each plan.
        raise UsageError(
            f"refusing to apply {len(targets)} specs without confirmation: stdin is not a "
            "terminal. Review the plan (ppm-tokens plan) and pass --auto-approve, or apply a "
            "saved plan file."
        )
    outcomes = []
    for index, target in enumerate(targets, 1):
        ui.out(_header(index, len(targets), target))
        one = dataclasses.replace(
            options,
            target=Path(target.spec.path),
            spec_override=None,
            rotate=options.rotate & _declared(target.spec),
        )
        code = _attempt(functools.partial(single.run, one, global_options, env, ui), ui)
        outcomes.append(Outcome(target, code))
    return report(outcomes, ui)


@dataclass(frozen=True)
class _Part:
    """One spec of a saved plan, re-derived and checked, ready to apply."""

    target: Target
    plan: Plan
    driver: Driver
    stores: Mapping[str, SecretStore]
    live: LiveState
    held: HeldLock


def apply_saved_set(
    path: Path,
    data: Mapping[str, object],
    *,
    options: single.ApplyCommandOptions,
    global_options: GlobalOptions,
    env: Environment,
    ui: UI,
) -> int:
    if options.rotate:
        raise UsageError(
            "--rotate cannot change a saved plan, which is applied as it was reviewed: "
            "run plan again, or apply the specs with --rotate"
        )
    _check_options(options)
    clock = make_clock(global_options)
    saved = _load_parts(path, data, clock)
    targets = resolve([spec for _, spec in saved], global_options, env)
    env = with_admin_variables(env, [spec for _, spec in saved])
    with ExitStack() as stack:
        held = _take_locks(stack, targets, options, env)
        parts = []
        for (plan, spec), target in zip(saved, targets, strict=True):
            driver = open_driver(global_options, env, spec)
            stack.callback(driver.close)
            stores = open_stores(spec, store_context(spec, env, run_read_commands=True))
            single.sweep_stores(spec, stores, ui)
            live = read_live(driver, spec)
            refuse_other_now(global_options, clock, driver, "apply")
            derived = single.rederive_saved_plan(
                plan, spec, driver, stores, live=live, server=target.server, now=clock()
            )
            parts.append(_Part(target, derived, driver, stores, live, held[target.spec.path]))
        now = clock()
        refusals = [
            f"{part.target.spec.path}: {refusal}"
            for part in parts
            if (refusal := mass_revoke_refusal(part.plan, part.live.tokens, part.target.spec, now))
        ]
        if refusals and not options.allow_mass_revoke:
            raise UsageError("; ".join(refusals))
        outcomes = []
        for index, part in enumerate(parts, 1):
            ui.out(_header(index, len(parts), part.target))
            ui.out(render_text(part.plan, color=ui.color))
            code = _attempt(functools.partial(_execute, part, options, ui), ui)
            outcomes.append(Outcome(part.target, code))
        return report(outcomes, ui)


def _load_parts(path: Path, data: Mapping[str, object], clock: Clock) -> list[tuple[Plan, Spec]]:
    """Every part read and checked against its spec offline; every invalid spec reported."""
    loaded: list[tuple[Plan, Spec]] = []
    problems: list[Problem] = []
    for part in plan_set_parts(data):
        try:
            loaded.append(single.saved_plan_part(part, path, None, clock))
        except SpecError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SpecError(problems)
    seen: set[Path] = set()
    for _, spec in loaded:
        where = Path(spec.path).resolve()
        if where in seen:
            raise StalePlanError(
                f"the saved plan {path} holds two plans of the spec {spec.path}: the file was "
                "edited; run `ppm-tokens plan --out` again and review it"
            )
        seen.add(where)
    return loaded


def _take_locks(
    stack: ExitStack,
    targets: Sequence[Target],
    options: single.ApplyCommandOptions,
    env: Environment,
) -> dict[str, HeldLock]:
    contexts = {t.spec.path: single.lock_context(t.spec, t.server, env) for t in targets}
    held: dict[str, HeldLock] = {}
    for target in sorted(targets, key=lambda t: contexts[t.spec.path].key):
        context = contexts[target.spec.path]
        lease = target.spec.lock.lease
        info = new_info(context.key, "apply", single.wall_clock(), lease)
        held[target.spec.path] = stack.enter_context(
            hold(
                open_lock(target.spec.lock, context),
                info,
                timeout=options.lock_timeout.total_seconds(),
                lease=lease,
                now=single.wall_clock,
            )
        )
    return held


def _execute(part: _Part, options: single.ApplyCommandOptions, ui: UI) -> int:
    if part.plan.errors:
        return 1
    if not part.plan.has_changes:
        return 0
    return single.execute(
        part.plan,
        part.target.spec,
        part.driver,
        part.stores,
        concurrency=options.concurrency,
        server=part.target.server,
        ui=ui,
        live=part.live,
        halt=part.held.lost,
    )


def _header(index: int, total: int, target: Target) -> str:
    return for_terminal(
        f"[{index}/{total}] {target.spec.path}: namespace {target.spec.namespace} "
        f"on {target.server}"
    )


def _attempt(step: Callable[[], int], ui: UI) -> int:
    """One spec's apply; its failure is reported and the run goes on to the next."""
    try:
        return step()
    except SpecError as exc:
        for problem in exc.problems:
            ui.err(problem.render())
        return exc.exit_code
    except ReconcilerError as exc:
        ui.err(f"Error: {redact(str(exc))}")
        return exc.exit_code


def report(outcomes: Sequence[Outcome], ui: UI) -> int:
    """One line per spec, then one for the run; exit 1 when any spec failed."""
    failed = [o for o in outcomes if o.code != 0]
    ui.err(f"{len(outcomes)} specs:")
    for outcome in outcomes:
        status = "ok    " if outcome.code == 0 else "failed"
        detail = "" if outcome.code == 0 else f": exit {outcome.code}"
        ui.err(
            f"  {status} {outcome.target.spec.path} (namespace {outcome.target.spec.namespace} "
            f"on {outcome.target.server}){detail}"
        )
    verdict = (
        f"Apply complete for {len(outcomes)} specs: {len(outcomes) - len(failed)} succeeded, "
        f"{len(failed)} failed."
    )
    if failed:
        verdict += " A failure in one spec did not stop the others."
    ui.err(verdict)
    return 1 if failed else 0
