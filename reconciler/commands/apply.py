"""`ppm-tokens apply` and `ppm-tokens rotate`: take the lock, plan (or load a saved plan),
check the guards, confirm, execute, release the lock.

Everything that reads the live state or writes happens under the lock, so a second run waits
(or fails, naming the holder) instead of planning the same creates.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import click

from reconciler import cli
from reconciler.apply import ActionResult, ApplyOptions, ApplyReport, apply_plan
from reconciler.apply.guards import mass_revoke_refusal
from reconciler.commands import terminal
from reconciler.commands.clocks import refuse_other_now, server_clock
from reconciler.commands.plan import LiveState, compute_plan, read_live
from reconciler.commands.runtime import (
    Clock,
    Environment,
    GlobalOptions,
    check_admin_source,
    make_clock,
    open_driver,
    server_url,
    store_context,
)
from reconciler.commands.specs import refuse_secret_clashes
from reconciler.desired import load_spec
from reconciler.desired.model import Spec, TokenState
from reconciler.errors import MalformedPlanError, ReconcilerError, StalePlanError, UsageError
from reconciler.inputs import Unreadable, read_bounded
from reconciler.locks.base import LockContext
from reconciler.locks.held import hold
from reconciler.locks.record import new_info
from reconciler.locks.registry import open_lock
from reconciler.plan.model import Plan
from reconciler.plan.render_json import plan_from_json
from reconciler.plan.render_text import render_text
from reconciler.plan.saved import check_moment, check_saved
from reconciler.sanitize import PATH_EXCERPT, cut, excerpt, quoted
from reconciler.server.driver import Driver
from reconciler.stores.base import SecretStore
from reconciler.stores.registry import close_stores, open_stores
from reconciler.ui import UI

# A saved plan is at most this large: one of 10,000 tokens takes 3 to 10 MiB.
MAX_PLAN_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ApplyCommandOptions:
    target: Path  # a spec (YAML) or a saved plan (JSON)
    spec_override: Path | None = None  # -f with a saved plan: the spec it was made from
    auto_approve: bool = False
    rotate: frozenset[str] = frozenset()
    concurrency: int = 4
    grace: timedelta | None = None  # `rotate --grace`
    only: frozenset[str] | None = None  # `rotate NAME`: act on these names only
    lock_timeout: timedelta = timedelta(0)  # how long to wait for another run's lock
    allow_mass_revoke: bool = False


def wall_clock() -> datetime:
    """Leases are real time, whatever --now pretends."""
    return datetime.now(UTC)


def lock_context(spec: Spec, server: str, env: Environment) -> LockContext:
    return LockContext(
        server_url=server,
        namespace=spec.namespace,
        stores=spec.stores,
        spec_dir=Path(spec.path).resolve().parent,
        env=env.variables,
        now=wall_clock,
    )


def sweep_stores(spec: Spec, stores: Mapping[str, SecretStore], ui: UI) -> None:
    """What killed runs left in the stores for the secrets `spec` declares (temporary files that
    may hold a value, copies kept for a restore), removed before any write of this run."""
    for name, store in stores.items():
        keys = [token.secret for token in spec.tokens if token.store == name]
        try:
            removed = store.sweep(keys)
        except ReconcilerError as exc:
            ui.err(f"Warning: cleaning up store '{store.name}' failed: {exc}")
            continue
        for line in removed:
            ui.err(f"Cleaned up: {line}")


def is_saved_plan(path: Path) -> bool:
    if path.suffix == ".json":
        return True
    try:
        # Without blocking: a FIFO with no writer reads as empty, and is then refused as a spec.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        return os.read(fd, 64).lstrip().startswith(b"{")
    except OSError:
        return False
    finally:
        os.close(fd)


def load_saved_plan(path: Path, spec_override: Path | None, clock: Clock) -> tuple[Plan, Spec]:
    return saved_plan_part(read_saved_plan(path), path, spec_override, clock)


def read_saved_plan(path: Path) -> dict[str, object]:
    try:
        text = read_bounded(path, MAX_PLAN_BYTES)
    except OSError as exc:
        raise UsageError(f"cannot read saved plan {path}: {exc.strerror}") from None
    except Unreadable as exc:
        # Not a file `plan --out` wrote: /dev/zero, a FIFO, something of no plan's size.
        raise MalformedPlanError(
            f"malformed plan file: {path} was not read: {exc.reason}; nothing was applied: "
            "run plan again and apply the file it writes"
        ) from None
    try:
        data = json.loads(text.decode("utf-8"), object_pairs_hook=_each_key_once)
    except _RepeatedKey as exc:
        raise MalformedPlanError(
            f"malformed plan file: {path} holds the key {quoted(exc.key)} twice in one object, "
            "which plan never writes (JSON keeps the last, a reader may see the first); nothing "
            "was applied: run plan again and apply the file it writes, unedited"
        ) from None
    except (ValueError, RecursionError) as exc:
        # Cut short (a kill during `plan --out`, a partial upload), edited, or nested deeper
        # than any plan (the parser gives up): refused as any other saved plan that is not
        # what plan wrote. The parser's words quote no more than a position.
        reason = "nested too deeply" if isinstance(exc, RecursionError) else cut(str(exc))
        raise MalformedPlanError(
            f"malformed plan file: {path} is not whole JSON ({reason}); nothing was applied: "
            "run plan again and apply the file it writes, unedited"
        ) from None
    if not isinstance(data, dict):
        raise MalformedPlanError(
            f"malformed plan file: {path} is not a saved plan (made by `ppm-tokens plan --out`)"
        )
    return data


class _RepeatedKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _each_key_once(pairs: list[tuple[str, object]]) -> dict[str, object]:
    found: dict[str, object] = {}
    for key, value in pairs:
        if key in found:
            raise _RepeatedKey(key)
        found[key] = value
    return found


def saved_plan_part(
    data: Mapping[str, object], path: Path, spec_override: Path | None, clock: Clock
) -> tuple[Plan, Spec]:
    """One spec's saved plan (the whole file, or one part of a file of several), read and
    checked against its spec offline."""
    if not isinstance(data.get("spec_path"), str):
        raise UsageError(f"{path} is not a saved plan (made by `ppm-tokens plan --out`)")
    spec_path = spec_override or Path(str(data["spec_path"]))
    if spec_override is None and not _exists(spec_path):
        # The plan records the spec path as `plan` was given it: relative to where it ran.
        raise UsageError(
            f"the plan {path} was made from the spec {excerpt(str(spec_path), PATH_EXCERPT)}, "
            f"which is not at {excerpt(str(spec_path.absolute()), PATH_EXCERPT)}: run apply "
            "from the directory where plan ran, "
            "or pass -f PATH to that spec"
        )
    spec = load_spec(spec_path, now=clock())
    if spec.sha256 != data.get("spec_sha256"):
        raise StalePlanError(
            f"the spec {spec.path} changed since the plan {path} was made; run plan again"
        )
    plan = plan_from_json(data, spec)
    if data.get("summary") != plan.summary():
        raise StalePlanError(
            f"the summary in {path} does not count the actions it lists: the file was edited; "
            "run plan again and review it"
        )
    return plan, spec


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long, or with a NUL: no such file
        return False


def rederive_saved_plan(
    saved: Plan,
    spec: Spec,
    driver: Driver,
    stores: Mapping[str, SecretStore],
    *,
    live: LiveState,
    server: str,
    now: datetime,
) -> Plan:
    """I8 and more: plan again at the saved plan's moment, from the same spec and this run's
    reading of the live state, and return that plan if the saved one is exactly it. Only the
    plan made here is applied; nothing is changed before this returns."""
    check_moment(saved, now)
    derived = compute_plan(spec, driver, stores, now=saved.generated_at, server=server, live=live)
    check_saved(saved, derived)
    return derived


def check_declared(spec: Spec, names: frozenset[str]) -> None:
    """Names given to `rotate`/`--rotate` must be declared; said before any request, rather
    than as a plan error next to "No changes"."""
    declared = [t.name for t in spec.tokens if t.state is TokenState.PRESENT]
    refuse_undeclared(names, declared, f"{spec.path} declares no")


def refuse_undeclared(names: frozenset[str], declared: Iterable[str], who: str) -> None:
    """A UsageError for the first of `names` not declared, with the closest declared name."""
    known = sorted(set(declared))
    for name in sorted(names - set(known)):
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UsageError(
            f"cannot rotate {name!r}: {who} present token of that name; "
            f"{hint}declared: {', '.join(known) or 'none'}"
        )


def restrict(plan: Plan, names: frozenset[str] | None) -> Plan:
    """`rotate NAME`: the actions of NAME, and no error that holds only another token."""
    if names is None:
        return plan
    return dataclasses.replace(
        plan,
        actions=tuple(a for a in plan.actions if a.name in names),
        errors=tuple(e for e in plan.errors if not e.token_only or e.name in names),
    )


def describe_result(result: ActionResult) -> str:
    action = result.action
    subject = action.name or action.guid or "?"
    if not result.ok:
        return f"failed  {action.kind.value} {subject}: {result.error}"
    detail = f" -> {result.new_guid}" if result.new_guid else ""
    return f"done    {action.kind.value} {subject}{detail}"


def summary_line(report: ApplyReport) -> str:
    count = report.rolled_back
    rolled_back = (
        f" ({count} new token{'s' if count != 1 else ''} this run made "
        f"{'were' if count != 1 else 'was'} revoked again)"
        if count
        else ""
    )
    return (
        f"Apply complete: {report.created} created, {report.rotated} rotated, "
        f"{report.replaced} replaced, {report.repaired} repaired, {report.revoked} revoked, "
        f"{report.failed} failed"
        + (f", {report.recorded} metadata recorded" if report.recorded else "")
        + f"{rolled_back}."
    )


def tokens_kept(plan: Plan, ui: UI) -> int:
    """1 when errors of single tokens (a rule of the date they now fail) kept those tokens as
    they are while the rest was applied: the run fails so that someone fixes the spec."""
    if not plan.errors:
        return 0
    ui.err(
        f"{len(plan.errors)} error(s) in the plan above: the tokens they name were left as "
        "they are; fix the spec (ppm-tokens validate) and apply again"
    )
    return 1


def execute(
    plan: Plan,
    spec: Spec,
    driver: Driver,
    stores: Mapping[str, SecretStore],
    *,
    concurrency: int,
    server: str,
    ui: UI,
    live: LiveState | None = None,
    halt: Callable[[], str | None] = lambda: None,
) -> int:
    changes = plan.changes
    with ui.progress(len(changes), "Applying") as advance:
        report = apply_plan(
            dataclasses.replace(plan, actions=changes),
            spec=spec,
            driver=driver,
            stores=stores,
            now=server_clock(driver),  # what the steps promise counts from when they run
            options=ApplyOptions(concurrency=concurrency),
            on_progress=lambda result: advance(describe_result(result)),
            server_url=server,
            live_tokens=live.tokens if live is not None else None,
            halt=halt,
        )
    failures = [r for r in report.results if not r.ok]
    if not ui.progress_prints_lines:  # a bar showed no lines: say what failed once, here
        for result in failures:
            ui.err(describe_result(result))
    ui.err(summary_line(report))
    return 0 if not failures else 1


def run(
    options: ApplyCommandOptions, global_options: GlobalOptions, env: Environment, ui: UI
) -> int:
    if options.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    clock = make_clock(global_options)
    saved = is_saved_plan(options.target)
    if saved:
        if options.rotate:
            raise UsageError(
                "--rotate cannot change a saved plan, which is applied as it was reviewed: "
                "run plan again, or apply the spec with --rotate"
            )
        plan, spec = load_saved_plan(options.target, options.spec_override, clock)
    else:
        spec = load_spec(options.target, now=clock())
        check_declared(spec, options.rotate)
    refuse_secret_clashes(spec, env)
    server = server_url(global_options, env, spec)
    context = lock_context(spec, server, env)
    lock = open_lock(spec.lock, context)
    operation = "rotate" if options.only is not None else "apply"
    info = new_info(context.key, operation, wall_clock(), spec.lock.lease)
    check_admin_source(global_options, env, spec)  # before waiting for the lock
    driver: Driver | None = None
    stores: dict[str, SecretStore] = {}
    try:
        with hold(
            lock,
            info,
            timeout=options.lock_timeout.total_seconds(),
            lease=spec.lock.lease,
            now=wall_clock,
        ) as held:
            # Under the lock: the run that held it may have rotated the admin token in its store.
            driver = open_driver(global_options, env, spec)
            stores = open_stores(spec, store_context(spec, env, run_read_commands=True))
            sweep_stores(spec, stores, ui)
            live = read_live(driver, spec)
            refuse_other_now(global_options, clock, driver, operation)
            if saved:
                plan = rederive_saved_plan(
                    plan, spec, driver, stores, live=live, server=server, now=clock()
                )
            else:
                plan = compute_plan(
                    spec,
                    driver,
                    stores,
                    now=clock(),
                    server=server,
                    force_rotate=options.rotate,
                    grace_override=options.grace,
                    live=live,
                    fingerprint=False,  # shown as text and applied here, never saved
                )
            plan = restrict(plan, options.only)
            ui.out(render_text(plan, color=ui.color))
            if plan.blocking_errors:
                return 1
            if not plan.has_changes:
                return tokens_kept(plan, ui)
            refusal = mass_revoke_refusal(plan, live.tokens, spec, clock())
            if refusal and not options.allow_mass_revoke:
                raise UsageError(refusal)
            if not (saved or options.auto_approve or options.only is not None):
                if not ui.interactive:
                    raise UsageError(
                        "refusing to apply without confirmation: stdin is not a terminal. "
                        "Review the plan and pass --auto-approve, or apply a saved plan file."
                    )
                if not ui.confirm("Apply these changes?"):
                    ui.err("Apply cancelled; nothing was changed.")
                    return 1
            code = execute(
                plan,
                spec,
                driver,
                stores,
                concurrency=options.concurrency,
                server=server,
                ui=ui,
                live=live,
                halt=held.lost,
            )
            return tokens_kept(plan, ui) or code
    finally:
        close_stores(stores)
        if driver is not None:
            driver.close()


@click.command("apply")
@click.argument("plan_file", required=False, type=click.Path(path_type=Path, dir_okay=False))
@cli.spec_files_option
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option("--rotate", multiple=True, metavar="NAME", help="Force a rotation of NAME.")
@click.option("--concurrency", type=int, default=4, show_default=True)
@cli.lock_timeout_option
@click.option(
    "--allow-mass-revoke",
    is_flag=True,
    help="Apply even when more than policy.max_revokes (or half the namespace) would be revoked.",
)
@cli.global_options
def command(**kwargs: Any) -> int:
    """Create, rotate and revoke tokens; store new values."""
    from reconciler.commands import apply_many  # it imports this module: loaded when run

    options = cli.make_global(kwargs, spec_programs=True)
    plan_file: Path | None = kwargs["plan_file"]
    files: tuple[Path, ...] = kwargs["files"]
    targets = apply_many.ApplyTargets(
        files=files or (() if plan_file else (cli.DEFAULT_SPEC,)), plan_file=plan_file
    )
    apply_options = ApplyCommandOptions(
        target=plan_file or cli.DEFAULT_SPEC,
        auto_approve=kwargs["auto_approve"],
        rotate=frozenset(kwargs["rotate"]),
        concurrency=kwargs["concurrency"],
        lock_timeout=kwargs["lock_timeout"],
        allow_mass_revoke=kwargs["allow_mass_revoke"],
    )
    return terminal.run_command(partial(apply_many.run, targets), apply_options, options)
