"""`ppm-tokens show GUID|NAME`: every field of one token, its generations, store and schedule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from reconciler import cli
from reconciler.commands import terminal
from reconciler.commands.inventory import (
    Snapshot,
    StoreReading,
    connected,
    load_specs,
)
from reconciler.commands.runtime import Environment, GlobalOptions, make_clock
from reconciler.ops.details import StoreState, render_details
from reconciler.ops.lookup import find
from reconciler.ops.view import Generation, TokenView, generations_of
from reconciler.plan.model import Action, ActionKind
from reconciler.plan.planner import plan as make_plan
from reconciler.server.driver import Driver
from reconciler.stores.base import KeyState
from reconciler.ui import UI


@dataclass(frozen=True)
class ShowOptions:
    target: str
    spec_paths: Sequence[Path] = ()
    store_commands: bool = False  # run a command store's read_command


def store_state(view: TokenView, snapshot: Snapshot) -> tuple[StoreState | None, KeyState | None]:
    """What the declared token's store holds, from the snapshot's read of the stores; (None,
    None) for a token no spec declares."""
    spec, declared = view.spec, view.declared
    if spec is None or declared is None or view.generation is Generation.INACTIVE:
        return None, None
    config = spec.stores.get(declared.store)
    kind = config.type if config else "?"
    key = (spec.namespace, declared.name)
    if key not in snapshot.stored:
        note = next(
            (
                p.message
                for p in snapshot.store_problems
                if (p.namespace, p.store) == (spec.namespace, declared.store)
            ),
            "not opened",
        )
        return StoreState(declared.store, kind, declared.secret, read=False, note=note), None
    held = snapshot.stored[key]
    state = StoreState(
        declared.store,
        kind,
        declared.secret,
        read=True,
        holds=held.held_guid,
        recorded=held.meta is not None and held.meta.token_guid == held.held_guid,
        unsure=held.unsure,
    )
    return state, held


def next_action(
    view: TokenView, snapshot: Snapshot, driver: Driver, held: KeyState | None
) -> Action | None:
    """What the next apply does to this token, from the planner itself."""
    spec, owner = view.spec, view.owner
    if spec is None or owner is None or view.generation is Generation.INACTIVE:
        return None
    resources = snapshot.resources if snapshot.resources is not None else driver.list_resources()
    plan = make_plan(
        spec,
        snapshot.tokens,
        resources,
        {owner.name: held},
        snapshot.now,
        server=snapshot.server,
        self_guid=snapshot.self_guid,
    )
    mine = [a for a in plan.actions if a.name == owner.name]
    exact = next((a for a in mine if a.guid == view.guid), None)
    if exact is not None:
        return exact
    if view.generation is Generation.RETIRING:
        return Action(ActionKind.NOOP, owner.name, "retiring; its grace has not ended")
    return None


def run(options: ShowOptions, global_options: GlobalOptions, env: Environment, ui: UI) -> int:
    now = make_clock(global_options)()
    specs = load_specs(options.spec_paths, env, now)
    reading = StoreReading.ALL if options.store_commands else StoreReading.SAFE
    # The stores are read for the views too: which generation is current depends on them.
    with connected(specs, global_options, env, now=now, reading=reading) as (snapshot, driver):
        match = find(snapshot.views, options.target, loaded=snapshot.namespaces)
        view = match.views[0]
        state, held = store_state(view, snapshot)
        action = None
        if state is not None and state.read:
            action = next_action(view, snapshot, driver, held)
    generations = generations_of(snapshot.views, view.owner) if view.owner else (view,)
    ui.out(render_details(view, generations, now=now, store=state, next_action=action))
    return 0


@click.command("show")
@click.argument("target", metavar="GUID|NAME")
@cli.specs_option
@click.option("--store-commands", is_flag=True, help="Run a command store's read_command.")
@cli.global_options
def command(**kwargs: Any) -> int:
    """Details of one token: fields, marker, store, generations, schedule."""
    options = cli.make_global(kwargs)
    show_options = ShowOptions(
        target=kwargs["target"],
        spec_paths=kwargs["spec_paths"],
        store_commands=kwargs["store_commands"],
    )
    return terminal.run_command(run, show_options, options)
