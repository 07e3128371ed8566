"""`ppm-tokens revoke GUID|NAME`: incident response. Revoke at once after a confirmation, or with
`--replace` make the forced rotation with grace 0 first (create, prove, store, then revoke, by
the apply engine), then check that the revoked value is refused and write the incident record.

With `--replace` every active generation of the name is revoked once the replacement is stored
(an attacker may hold an older value as well as the current one). Whatever of the name still
works afterwards (protected, a revoke that failed, or, without `--replace`, the generations
besides the one named) is named in the output and the record with the command that revokes it."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click

from reconciler import cli
from reconciler.apply import apply_plan
from reconciler.commands import terminal
from reconciler.commands.apply import lock_context, sweep_stores, wall_clock
from reconciler.commands.clocks import refuse_other_now, server_clock
from reconciler.commands.inventory import (
    Snapshot,
    StoreReading,
    connected,
    load_specs,
    open_spec_stores,
)
from reconciler.commands.outputs import check_writable, write_output
from reconciler.commands.plan import compute_plan, read_live
from reconciler.commands.runtime import Clock, Environment, GlobalOptions, make_clock, store_context
from reconciler.desired.model import Spec, TokenState
from reconciler.errors import ReconcilerError, UsageError
from reconciler.locks.held import hold
from reconciler.locks.record import new_info
from reconciler.locks.registry import open_lock
from reconciler.ops.incident import (
    CheckMethod,
    Incident,
    Replacement,
    RevocationCheck,
    render_incident,
    survivors,
)
from reconciler.ops.lookup import find
from reconciler.ops.view import Generation, TokenView, generations_of
from reconciler.plan.model import Plan
from reconciler.sanitize import for_terminal
from reconciler.secret import Secret
from reconciler.server.driver import Driver
from reconciler.stores.base import PayloadReader
from reconciler.stores.formats import token_from_payload
from reconciler.stores.registry import open_stores
from reconciler.ui import UI


@dataclass(frozen=True)
class RevokeOptions:
    target: str
    spec_paths: Sequence[Path] = ()
    yes: bool = False
    replace: bool = False
    record: Path | None = None
    # PPM's page warns that a revocation can take seconds to propagate.
    check_interval: float = 2.0
    check_deadline: float = 60.0


@dataclass(frozen=True)
class Waiting:
    """The I/O edges of the post-revoke check, passed in so tests do not wait."""

    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic


def choose(snapshot: Snapshot, target: str) -> TokenView:
    # By name: the current generation, the one whose value consumers read from the store.
    return find(snapshot.views, target, loaded=snapshot.namespaces).views[0]


def refuse(view: TokenView, specs: Sequence[Spec], replace: bool) -> None:
    if view.authenticating:
        raise UsageError(
            f"refusing to revoke {view.guid}: it is the token this command authenticates with; "
            "revoke it with another global:admin token"
        )
    # Any loaded spec's list counts: a protected break-glass token is usually unmanaged, so it
    # has no spec of its own.
    guarding = next((spec for spec in specs if view.guid in spec.policy.protect), None)
    if guarding is not None:
        raise UsageError(
            f"refusing to revoke {view.guid}: {guarding.path} lists it in policy.protect; "
            "remove it from there first"
        )
    if not replace:
        return
    if view.declared is None or view.declared.state is not TokenState.PRESENT:
        if specs:
            read = ", ".join(for_terminal(str(spec.path)) for spec in specs)
            owner = f"it belongs to {view.managed_by}; " if view.owner is not None else ""
            raise UsageError(
                f"--replace needs a spec that declares {view.guid}, and none of the specs given "
                f"({read}) does: {owner}pass the spec that declares it with -f, or revoke it "
                "without --replace and create the replacement by hand"
            )
        raise UsageError(
            f"--replace needs a spec that declares {view.guid} (pass -f FILE); without one, "
            "revoke it and create the replacement by hand"
        )
    if view.generation is not Generation.CURRENT:
        raise UsageError(
            f"{view.guid} is an older generation of {view.managed_by}: its successor already "
            "exists; revoke it without --replace"
        )


def read_value(view: TokenView, env: Environment) -> tuple[Secret | None, str | None]:
    """The token's value from its store, when the store holds this token and can read it."""
    spec, declared = view.spec, view.declared
    if spec is None or declared is None:
        return None, None
    stores, _ = open_spec_stores(spec, env, StoreReading.SAFE)
    store = stores.get(declared.store)
    reader: object = store
    if store is None or not isinstance(reader, PayloadReader):
        return None, None
    try:
        meta = store.read_meta(declared.secret)
        if meta is None or meta.token_guid != view.guid:
            return None, None
        payload = reader.read_payload(declared.secret)
    except ReconcilerError:
        return None, None
    value = token_from_payload(payload, meta.format) if payload is not None else None
    return value, f"store '{declared.store}', secret '{declared.secret}'"


def also_active(view: TokenView, snapshot: Snapshot) -> tuple[TokenView, ...]:
    """The other active tokens of the target's managed name, current first."""
    if view.owner is None:
        return ()
    return tuple(
        other
        for other in generations_of(snapshot.views, view.owner)
        if other.active and other.guid != view.guid
    )


def confirm(view: TokenView, others: Sequence[TokenView], options: RevokeOptions, ui: UI) -> bool:
    token = view.token
    # Incident response revokes whatever token a person names, whoever manages it; when no
    # spec given declares it, say whose it is, since that team's next apply recreates it.
    foreign = (
        f"; managed by {for_terminal(view.managed_by or '')}, which no spec given declares"
        if view.owner is not None and view.spec is None
        else ""
    )
    older = ""
    if options.replace and others:
        older = f", then its older generation(s) still active: {', '.join(o.guid for o in others)}"
    ui.err(
        f"Revoke {token.guid} ({for_terminal(view.name)}; user {for_terminal(token.user)}, "
        f"scope {for_terminal(token.scope)}{foreign})"
        + (", after creating, proving and storing its replacement" if options.replace else "")
        + for_terminal(older)
        + ". Revocation is immediate and permanent."
    )
    if options.yes:
        return True
    if not ui.interactive:
        raise UsageError(
            "refusing to revoke without confirmation: stdin is not a terminal; pass --yes"
        )
    return ui.confirm("Revoke it now?")


@dataclass(frozen=True)
class Replaced:
    guid: str  # the replacement
    retired: tuple[str, ...]  # older generations revoked once it was stored
    failed: dict[str, str]  # older generations whose revoke failed: GUID -> why


def replace_token(
    view: TokenView,
    snapshot: Snapshot,
    driver: Driver,
    env: Environment,
    *,
    clock: Clock,
    ui: UI,
) -> Replaced:
    """The forced rotation with grace 0, through the apply engine and under the apply lock (no
    other run may write this name's store entry meanwhile). Grace 0 makes the plan retire every
    older generation of the name too; the engine runs those after the replacement is stored,
    and not at all if it fails."""
    spec, declared = view.spec, view.declared
    assert spec is not None and declared is not None
    context = lock_context(spec, snapshot.server, env)
    lock = open_lock(spec.lock, context)
    info = new_info(context.key, "revoke", wall_clock(), spec.lock.lease)
    with hold(lock, info, timeout=0, lease=spec.lock.lease, now=wall_clock) as held:
        stores = open_stores(spec, store_context(spec, env, run_read_commands=True))
        sweep_stores(spec, stores, ui)
        # Listed again under the lock: the snapshot may predate another run's changes.
        live = read_live(driver)
        plan = compute_plan(
            spec,
            driver,
            stores,
            now=clock(),
            server=snapshot.server,
            force_rotate=frozenset({declared.name}),
            grace_override=timedelta(0),
            live=live,
        )
        # Another token's error of the date holds only that token: it does not stop this one.
        errors = [e for e in plan.errors if not e.token_only or e.name == declared.name]
        if errors:
            raise UsageError(
                f"cannot replace {view.guid}: {errors[0].message}; to cut access at once "
                f"anyway, run `ppm-tokens revoke {view.guid}` without --replace"
            )
        changes = tuple(a for a in plan.changes if a.name == declared.name)
        action = next((a for a in changes if a.kind.creates), None)
        if action is None or action.guid != view.guid or not action.revoke_replaced:
            raise UsageError(f"cannot replace {view.guid}: the plan does not replace it at once")
        only: Plan = dataclasses.replace(plan, actions=changes)
        report = apply_plan(
            only,
            spec=spec,
            driver=driver,
            stores=stores,
            now=server_clock(driver),
            server_url=snapshot.server,
            live_tokens=live.tokens,
            halt=held.lost,
        )
    result = next(r for r in report.results if r.action.kind.creates)
    if not result.ok or result.new_guid is None:
        raise ReconcilerError(
            f"the replacement failed, so {view.guid} is NOT revoked: {result.error}. To cut "
            f"access at once anyway, run `ppm-tokens revoke {view.guid}` without --replace"
        )
    others = [r for r in report.results if not r.action.kind.creates and r.action.guid]
    return Replaced(
        result.new_guid,
        retired=tuple(str(r.action.guid) for r in others if r.ok),
        failed={str(r.action.guid): r.error or "failed" for r in others if not r.ok},
    )


def still_working(others: Sequence[TokenView], driver: Driver, now: datetime) -> set[str]:
    """Which of `others` the server lists as active now (one listing, only when there are any)."""
    if not others:
        return set()
    wanted = {other.guid for other in others}
    return {t.guid for t in driver.list_tokens() if t.guid in wanted and t.is_active(now)}


def check_revoked(
    view: TokenView,
    driver: Driver,
    *,
    value: Secret | None,
    source: str | None,
    options: RevokeOptions,
    waiting: Waiting,
) -> RevocationCheck:
    """Poll until the server refuses the value (or lists the GUID revoked), up to the deadline."""
    method = CheckMethod.VALUE if value is not None else CheckMethod.LISTING
    start = waiting.monotonic()

    def refused() -> bool:
        try:
            if value is not None:
                return not driver.check_token(value, view.token)
            listed = next((t for t in driver.list_tokens() if t.guid == view.guid), None)
            return listed is not None and listed.revoked is not None
        except ReconcilerError:
            return False  # the server may be busy: try again until the deadline

    while True:
        done = refused()
        waited = waiting.monotonic() - start
        if done or waited >= options.check_deadline:
            return RevocationCheck(method, done, waited, source)
        waiting.sleep(options.check_interval)


def next_apply(view: TokenView, replaced: bool, *, specs_given: bool) -> str:
    if replaced:
        return "nothing to do for it: the replacement is current"
    if view.generation is Generation.CURRENT and view.declared is not None:
        return (
            f"recreates {view.managed_by} (the spec still declares it) and writes the new "
            f"value to store '{view.declared.store}'"
        )
    if view.generation is Generation.RETIRING:
        return f"nothing: it was an older generation; the current token of {view.managed_by} stays"
    if view.owner is not None and view.spec is None:
        why = "no spec given declares it" if specs_given else "no spec was given"
        return f"recreates {view.managed_by} if its spec still declares it ({why})"
    return "nothing: no spec declares it"


def run(
    options: RevokeOptions,
    global_options: GlobalOptions,
    env: Environment,
    ui: UI,
    waiting: Waiting | None = None,
) -> int:
    waiting = waiting or Waiting()
    if options.record is not None:
        # Found out after the revocation, the incident would go unrecorded.
        check_writable(options.record, "--record")
    clock = make_clock(global_options)
    now: datetime = clock()
    specs = load_specs(options.spec_paths, env, now)
    # The stores are read for the views: after a run died between a create and its store
    # write, the current generation (the one consumers hold) is not the newest.
    reading = StoreReading.SAFE
    with connected(specs, global_options, env, now=now, reading=reading) as (snapshot, driver):
        refuse_other_now(global_options, clock, driver, "revoke")
        view = choose(snapshot, options.target)
        shown_guid = for_terminal(view.guid)  # stdout is not escaped for us; the server chose it
        if not view.active:
            ui.out(f"{shown_guid} is already {view.status.value}; nothing to revoke.")
            return 0
        refuse(view, snapshot.specs, options.replace)
        others = also_active(view, snapshot)
        value, source = read_value(view, env)
        if not confirm(view, others, options, ui):
            ui.err("Cancelled; nothing was revoked.")
            return 1
        replacement, replaced = None, None
        if options.replace:
            replaced = replace_token(view, snapshot, driver, env, clock=clock, ui=ui)
            assert view.declared is not None
            replacement = Replacement(replaced.guid, view.declared.store, view.declared.secret)
            ui.out(
                f"Created, proved and stored {for_terminal(replaced.guid)}; revoked {shown_guid}."
            )
            if replaced.retired:
                ui.out(
                    "Also revoked the older generation(s) still active: "
                    f"{for_terminal(', '.join(replaced.retired))}."
                )
        else:
            driver.revoke_token(view.guid)
            ui.out(f"Revoked {shown_guid}.")
        check = check_revoked(
            view, driver, value=value, source=source, options=options, waiting=waiting
        )
        left = survivors(
            others,
            still_working(others, driver, clock()),
            snapshot.specs,
            failed=replaced.failed if replaced is not None else {},
        )
    verdict = "Checked" if check.confirmed else "NOT confirmed"
    ui.out(f"{verdict}: {check.describe()}.")
    for survivor in left:
        ui.out(
            for_terminal(
                f"Still active: {survivor.guid}, {survivor.why}; revoke it with: {survivor.command}"
            )
        )
    plan_note = next_apply(view, replacement is not None, specs_given=bool(snapshot.specs))
    ui.out(f"Next apply: {plan_note}.")
    if options.record is not None:
        incident = Incident(
            revoked=view,
            at=clock(),
            server=snapshot.server,
            check=check,
            replacement=replacement,
            next_apply=plan_note,
            spec_path=view.spec.path if view.spec else None,
            also_revoked=replaced.retired if replaced is not None else (),
            survivors=left,
        )
        try:
            write_output(options.record, render_incident(incident), "--record")
        except UsageError as exc:
            raise ReconcilerError(f"{view.guid} is revoked, but {exc}") from None
        ui.err(f"Wrote the incident record to {options.record}")
    # A generation --replace meant to revoke still works: the incident is not contained.
    unfinished = replaced is not None and any(s.guid in replaced.failed for s in left)
    return 0 if check.confirmed and not unfinished else 1


@click.command("revoke")
@click.argument("target", metavar="GUID|NAME")
@cli.specs_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (needed off a terminal).")
@click.option(
    "--replace",
    is_flag=True,
    help="First create, prove and store a replacement (forced rotation, grace 0).",
)
@click.option(
    "--record",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write a Markdown incident record to FILE.",
)
@cli.global_options
def command(**kwargs: Any) -> int:
    """Incident response: revoke a token now, check the revocation took."""
    options = cli.make_global(kwargs, spec_programs=True)
    revoke_options = RevokeOptions(
        target=kwargs["target"],
        spec_paths=kwargs["spec_paths"],
        yes=kwargs["yes"],
        replace=kwargs["replace"],
        record=kwargs["record"],
    )
    return terminal.run_command(run, revoke_options, options)
