"""`ppm-tokens bootstrap-admin`: retire the admin token a person made, leaving the only copy of
the admin token in its store.

It reads a hand-made global:admin token once (--token-file, or the environment: never the
store), and, under the apply lock, does what apply does for the spec's own admin token
(server.auth.token): creates it, proves it, stores and confirms it, and goes on with it. Then
it revokes the hand-made token at once, checks that the server refuses it, and says so.

Run again, it changes nothing: when the store already holds a live managed admin token it
refuses (the hand-made token is left alone, and the message says how to revoke it), unless
--force, which rotates the managed token first. Given the managed token itself, it has
nothing to do. A run killed before the store is confirmed leaves the hand-made token working
and no stored value: run it again; the token the killed run made is retired as an orphan.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from reconciler import cli
from reconciler.apply import apply_plan
from reconciler.commands import terminal
from reconciler.commands.apply import (
    describe_result,
    lock_context,
    sweep_stores,
    wall_clock,
)
from reconciler.commands.plan import LiveState, compute_plan, read_live
from reconciler.commands.revoke import Waiting
from reconciler.commands.runtime import (
    AdminToken,
    Clock,
    Environment,
    GlobalOptions,
    make_clock,
    open_driver,
    read_token_file,
    server_url,
    store_context,
)
from reconciler.desired import load_spec
from reconciler.desired.model import Scope, Spec, TokenSpec
from reconciler.errors import AuthError, ReconcilerError, UsageError
from reconciler.locks.held import hold
from reconciler.locks.record import new_info
from reconciler.locks.registry import open_lock
from reconciler.ownership import parse_owner
from reconciler.plan.model import Plan
from reconciler.plan.render_text import render_text
from reconciler.sanitize import for_terminal
from reconciler.secret import Secret
from reconciler.server.driver import Driver
from reconciler.server.model import LiveToken
from reconciler.stores.base import SecretStore
from reconciler.stores.registry import close_stores, open_stores
from reconciler.ui import UI


@dataclass(frozen=True)
class BootstrapOptions:
    spec_path: Path
    force: bool = False  # make a new managed admin token even when the store holds a live one
    lock_timeout: timedelta = timedelta(0)
    # PPM's page warns that a revocation can take seconds to propagate.
    check_interval: float = 2.0
    check_deadline: float = 60.0


def hand_made(options: GlobalOptions, env: Environment, spec: Spec) -> AdminToken:
    """The token to retire: from --token-file or the environment, never from the store."""
    if options.token_file is not None:
        return AdminToken(read_token_file(options.token_file), f"--token-file {options.token_file}")
    variable = spec.server.token_env or "PACKAGEMANAGER_TOKEN"
    value = env.variables.get(variable, "").strip()
    if not value:
        raise UsageError(
            f"bootstrap-admin needs the global:admin token made by hand, once: set {variable} "
            "or pass --token-file PATH (it is revoked once its successor is stored)"
        )
    return AdminToken(Secret(value), variable)


def self_token(spec: Spec) -> TokenSpec:
    declared = spec.self_token
    if declared is None:
        raise UsageError(
            f"{spec.path} declares no admin token for its runs: add a global:admin token under "
            "tokens: and name it in server.auth.token (docs/admin-token.md)"
        )
    return declared


def run(
    options: BootstrapOptions,
    global_options: GlobalOptions,
    env: Environment,
    ui: UI,
    waiting: Waiting | None = None,
) -> int:
    clock = make_clock(global_options)
    spec = load_spec(options.spec_path, now=clock())
    declared = self_token(spec)
    given = hand_made(global_options, env, spec)
    server = server_url(global_options, env, spec)
    context = lock_context(spec, server, env)
    info = new_info(context.key, "bootstrap-admin", wall_clock(), spec.lock.lease)
    driver = open_driver(global_options, env, spec, credential=given)
    stores: dict[str, SecretStore] = {}
    try:
        with hold(
            open_lock(spec.lock, context),
            info,
            timeout=options.lock_timeout.total_seconds(),
            lease=spec.lock.lease,
            now=wall_clock,
        ) as held:
            stores = open_stores(spec, store_context(spec, env, run_read_commands=True))
            sweep_stores(spec, stores, ui)
            live = _first_listing(driver, declared)
            given_token = _given(live, driver, given)
            current = _held_live(spec, declared, stores, live, clock)
            if current is not None and current.guid == given_token.guid:
                ui.out(
                    f"Nothing to do: the token given ({given.source}) is {declared.name}'s "
                    f"current managed admin token {current.guid}, held by store "
                    f"'{declared.store}' under '{declared.secret}'."
                )
                return 0
            if current is not None and not options.force:
                raise UsageError(_already(declared, current, given_token, spec))
            forced = frozenset({declared.name}) if current is not None else frozenset()
            plan = compute_plan(
                spec,
                driver,
                stores,
                now=clock(),
                server=server,
                force_rotate=forced,
                live=live,
                fingerprint=False,
            )
            plan = _only(plan, declared)
            ui.out(render_text(plan, color=ui.color))
            report = apply_plan(
                plan,
                spec=spec,
                driver=driver,
                stores=stores,
                now=clock,
                server_url=server,
                live_tokens=live.tokens,
                halt=held.lost,
            )
            for result in report.results:
                ui.err(describe_result(result))
            made = next((r for r in report.results if r.action.kind.creates), None)
            if made is None or not made.ok or driver.self_guid() != made.new_guid:
                raise ReconcilerError(
                    f"no new admin token was stored for {declared.name}, so the token given "
                    f"({given_token.guid}) is NOT revoked; fix what the lines above say and "
                    "run bootstrap-admin again"
                )
            ui.out(
                f"Stored {made.new_guid} in store '{declared.store}' under '{declared.secret}' "
                "and confirmed it; this run goes on with it."
            )
            return _retire_given(
                given_token, given.value, spec, driver, ui, options=options, waiting=waiting
            )
    finally:
        close_stores(stores)
        driver.close()


def _first_listing(driver: Driver, declared: TokenSpec) -> LiveState:
    try:
        return read_live(driver)
    except AuthError as exc:
        raise AuthError(
            f"{exc}. If bootstrap-admin ran with this token before, it revoked it: the admin "
            f"token is now the one in store '{declared.store}' under '{declared.secret}', "
            "which every command reads from there"
        ) from None


def _given(live: LiveState, driver: Driver, given: AdminToken) -> LiveToken:
    guid = driver.self_guid()
    found = next((t for t in live.tokens if guid is not None and t.guid == guid), None)
    if found is None:
        raise UsageError(
            f"the server does not list the token given ({given.source}): its value is not a "
            "PPM token whose jti is a listed GUID, so it could not be revoked afterwards"
        )
    if found.scope != Scope.GLOBAL_ADMIN.value:
        raise UsageError(
            f"the token given ({given.source}) has scope {found.scope}, not global:admin"
        )
    return found


def _held_live(
    spec: Spec,
    declared: TokenSpec,
    stores: dict[str, SecretStore],
    live: LiveState,
    clock: Clock,
) -> LiveToken | None:
    """The managed admin token the store holds, when it is active on the server."""
    meta = stores[declared.store].read_meta(declared.secret)
    if meta is None:
        return None
    now = clock()
    for token in live.tokens:
        owner = parse_owner(token.description)
        if (
            token.guid == meta.token_guid
            and token.is_active(now)
            and owner is not None
            and (owner.namespace, owner.name) == (spec.namespace, declared.name)
        ):
            return token
    return None


def _already(declared: TokenSpec, current: LiveToken, given: LiveToken, spec: Spec) -> str:
    return (
        f"store '{declared.store}' already holds {declared.name}'s managed admin token "
        f"{current.guid}, which is active: bootstrap-admin was run before. The token given "
        f"({given.guid}) is left as it is; to revoke it, run `ppm-tokens revoke {given.guid} "
        f"-f {spec.path} --yes` (which authenticates with the stored token), or pass --force "
        "to make a new managed admin token now (the stored one retires after its grace) and "
        "revoke the token given"
    )


def _only(plan: Plan, declared: TokenSpec) -> Plan:
    """The admin token's actions alone; an error of its own stops the bootstrap."""
    errors = [e for e in plan.errors if not e.token_only or e.name == declared.name]
    if errors:
        raise UsageError(f"cannot bootstrap {declared.name}: {errors[0].message}")
    changes = tuple(a for a in plan.changes if a.name == declared.name)
    if not any(a.kind.creates for a in changes):
        raise UsageError(
            f"the plan makes no new token for {declared.name}; run `ppm-tokens plan` to see why"
        )
    return dataclasses.replace(plan, actions=changes)


def _retire_given(
    given: LiveToken,
    value: Secret,
    spec: Spec,
    driver: Driver,
    ui: UI,
    *,
    options: BootstrapOptions,
    waiting: Waiting | None,
) -> int:
    """Revoke the hand-made token, now that the run authenticates with the stored one, and
    check that the server refuses it."""
    owner = parse_owner(given.description)
    if given.guid in spec.policy.protect:
        ui.out(f"Not revoked: {given.guid} is listed in policy.protect; remove it there first.")
        return 1
    if owner is not None:
        whose = f"{owner.namespace}/{owner.name}"
        ui.out(
            f"Not revoked: the token given ({given.guid}) is managed ({for_terminal(whose)}); "
            "the apply of its spec retires it."
        )
        return 0
    driver.revoke_token(given.guid)
    refused = _refused(given, value, driver, options, waiting or Waiting())
    if not refused:
        ui.out(
            f"Revoked the hand-made admin token {given.guid}, but the server still accepted it "
            f"{options.check_deadline:g}s later: check it with `ppm-tokens list`."
        )
        return 1
    ui.out(
        f"Revoked the hand-made admin token {given.guid}: the server refuses it. From now on the "
        "only copy of the admin token is the one in the store, which apply rotates."
    )
    return 0


def _refused(
    given: LiveToken, value: Secret, driver: Driver, options: BootstrapOptions, waiting: Waiting
) -> bool:
    start = waiting.monotonic()
    while True:
        try:
            if not driver.check_token(value, given):
                return True
        except ReconcilerError:
            pass  # the server may be busy: try again until the deadline
        if waiting.monotonic() - start >= options.check_deadline:
            return False
        waiting.sleep(options.check_interval)


@click.command("bootstrap-admin")
@cli.spec_option(cli.DEFAULT_SPEC)
@click.option(
    "--force",
    is_flag=True,
    help="Make a new managed admin token even when the store holds a live one.",
)
@cli.lock_timeout_option
@cli.global_options
def command(**kwargs: Any) -> int:
    """Replace a hand-made admin token with the spec's managed one (server.auth.token): store
    it, then revoke the hand-made one (given by --token-file or PACKAGEMANAGER_TOKEN)."""
    options = cli.make_global(kwargs, spec_programs=True)
    bootstrap_options = BootstrapOptions(
        spec_path=kwargs["spec_path"],
        force=kwargs["force"],
        lock_timeout=kwargs["lock_timeout"],
    )
    return terminal.run_command(run, bootstrap_options, options)
