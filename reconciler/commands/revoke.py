"""`ppm-tokens revoke GUID|NAME`: incident response. Revoke at once after a confirmation, or with
`--replace` make the forced rotation with grace 0 first (create, prove, store, then revoke, by
the apply engine), then check that the revoked value is refused and write the incident record."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol, runtime_checkable

from reconciler.apply import apply_plan
from reconciler.apply.lock import open_lock
from reconciler.apply.locks.held import hold
from reconciler.apply.locks.record import new_info
from reconciler.commands.apply import lock_context, sweep_stores, wall_clock
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
from reconciler.errors import ReconcilerError, UsageError
from reconciler.ops.incident import (
    CheckMethod,
    Incident,
    Replacement,
    RevocationCheck,
    render_incident,
)
from reconciler.ops.lookup import find
from reconciler.ops.view import Generation, TokenView
from reconciler.plan.model import Plan
from reconciler.sanitize import for_terminal
from reconciler.secret import Secret
from reconciler.server.driver import Driver
from reconciler.spec.model import Spec, TokenState
from reconciler.stores.formats import token_from_payload
from reconciler.stores.registry import open_stores
from reconciler.ui import UI


@runtime_checkable
class PayloadReader(Protocol):
    """A store that can hand back what it holds (the file store). Beyond the SecretStore
    contract: used only to prove a revoked value is refused."""

    def read_payload(self, key: str) -> Secret | None: ...


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


def confirm(view: TokenView, options: RevokeOptions, ui: UI) -> bool:
    token = view.token
    ui.err(
        f"Revoke {token.guid} ({for_terminal(view.name)}; user {for_terminal(token.user)}, "
        f"scope {for_terminal(token.scope)})"
        + (", after creating, proving and storing its replacement" if options.replace else "")
        + ". Revocation is immediate and permanent."
    )
    if options.yes:
        return True
    if not ui.interactive:
        raise UsageError(
            "refusing to revoke without confirmation: stdin is not a terminal; pass --yes"
        )
    return ui.confirm("Revoke it now?")


def replace_token(
    view: TokenView,
    snapshot: Snapshot,
    driver: Driver,
    env: Environment,
    *,
    clock: Clock,
    ui: UI,
) -> str:
    """The forced rotation with grace 0, through the apply engine and under the apply lock (no
    other run may write this name's store entry meanwhile); the new token's GUID."""
    spec, declared = view.spec, view.declared
    assert spec is not None and declared is not None
    context = lock_context(spec, snapshot.server, env)
    lock = open_lock(spec.lock, context)
    info = new_info(context.key, "revoke", wall_clock(), spec.lock.lease)
    with hold(lock, info, timeout=0, lease=spec.lock.lease, now=wall_clock) as held:
        stores = open_stores(spec, store_context(spec, env, run_read_commands=True))
        sweep_stores(stores, ui)
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
        if plan.errors:
            raise UsageError(f"cannot replace {view.guid}: {plan.errors[0].message}")
        action = next((a for a in plan.changes if a.name == declared.name and a.kind.creates), None)
        if action is None or action.guid != view.guid or not action.revoke_replaced:
            raise UsageError(f"cannot replace {view.guid}: the plan does not replace it at once")
        only: Plan = dataclasses.replace(plan, actions=(action,))
        report = apply_plan(
            only,
            spec=spec,
            driver=driver,
            stores=stores,
            now=clock,
            server_url=snapshot.server,
            live_tokens=live.tokens,
            halt=held.lost,
        )
    result = report.results[0]
    if not result.ok or result.new_guid is None:
        raise ReconcilerError(
            f"the replacement failed, so {view.guid} is NOT revoked: {result.error}. To cut "
            f"access at once anyway, run `ppm-tokens revoke {view.guid}` without --replace"
        )
    return result.new_guid


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


def next_apply(view: TokenView, replaced: bool) -> str:
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
        return f"recreates {view.managed_by} if its spec still declares it (no spec was given)"
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
        view = choose(snapshot, options.target)
        shown_guid = for_terminal(view.guid)  # stdout is not escaped for us; the server chose it
        if not view.active:
            ui.out(f"{shown_guid} is already {view.status.value}; nothing to revoke.")
            return 0
        refuse(view, snapshot.specs, options.replace)
        value, source = read_value(view, env)
        if not confirm(view, options, ui):
            ui.err("Cancelled; nothing was revoked.")
            return 1
        replacement = None
        if options.replace:
            new_guid = replace_token(view, snapshot, driver, env, clock=clock, ui=ui)
            assert view.declared is not None
            replacement = Replacement(new_guid, view.declared.store, view.declared.secret)
            ui.out(f"Created, proved and stored {for_terminal(new_guid)}; revoked {shown_guid}.")
        else:
            driver.revoke_token(view.guid)
            ui.out(f"Revoked {shown_guid}.")
        check = check_revoked(
            view, driver, value=value, source=source, options=options, waiting=waiting
        )
    verdict = "Checked" if check.confirmed else "NOT confirmed"
    ui.out(f"{verdict}: {check.describe()}.")
    plan_note = next_apply(view, replacement is not None)
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
        )
        try:
            write_output(options.record, render_incident(incident), "--record")
        except UsageError as exc:
            raise ReconcilerError(f"{view.guid} is revoked, but {exc}") from None
        ui.err(f"Wrote the incident record to {options.record}")
    return 0 if check.confirmed else 1
