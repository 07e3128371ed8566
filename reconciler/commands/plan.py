"""`ppm-tokens plan`: read the live state once, diff it against the spec, show or save the plan."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any

import click

from reconciler import cli
from reconciler.commands import terminal
from reconciler.commands.outputs import check_writable, write_output
from reconciler.commands.runtime import (
    Environment,
    GlobalOptions,
    make_clock,
    open_driver,
    server_url,
    store_context,
)
from reconciler.commands.specs import refuse_secret_clashes
from reconciler.desired import load_spec
from reconciler.desired.model import OnDelete, Spec, TokenSpec, TokenState
from reconciler.durations import DurationError, parse_when
from reconciler.errors import UsageError
from reconciler.plan.fingerprint import plan_reads
from reconciler.plan.model import Plan
from reconciler.plan.planner import plan as make_plan
from reconciler.plan.render_json import plan_to_json
from reconciler.plan.render_markdown import render_markdown
from reconciler.plan.render_text import render_text
from reconciler.server.driver import Driver, SelectiveListing
from reconciler.server.model import LiveToken, Resource
from reconciler.stores.base import KeyState, SecretStore
from reconciler.stores.registry import open_stores
from reconciler.ui import UI

EXIT_CHANGES = 2
# Between the parts of a long Markdown plan, one PR comment each; the plan workflow splits on it.
MARKDOWN_PART_SEPARATOR = "\n\n<!-- ppm-tokens: next part -->\n\n"


class PlanFormat(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"
    JSON = "json"


@dataclass(frozen=True)
class PlanOptions:
    spec_path: Path
    output_format: PlanFormat = PlanFormat.TEXT
    out: Path | None = None
    detailed_exitcode: bool = False
    at: str | None = None


def read_store_states(
    spec: Spec, stores: Mapping[str, SecretStore], *, workers: int = 8
) -> dict[str, KeyState]:
    """What the store of every declared token holds, with one bulk read per store
    (`read_states`: one directory scan, one list call; a value only where the metadata does not
    say which token a key holds). Remote stores are read at the same time, one thread each;
    a local store's read is a directory scan, which threads only slow down."""
    # Absent tokens too when their secret is to be deleted: a delete that failed once must be
    # seen (and retried) by the next plan.
    wanted: dict[str, list[TokenSpec]] = {}
    for token in spec.tokens:
        if token.state is TokenState.PRESENT or token.on_delete is OnDelete.DELETE:
            wanted.setdefault(token.store, []).append(token)

    def read(store: str) -> dict[str, KeyState]:
        tokens = wanted[store]
        found = stores[store].read_states([t.secret for t in tokens])
        return {t.name: found[t.secret] for t in tokens}

    remote = [name for name in wanted if stores[name].capabilities.remote]
    result: dict[str, KeyState] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(remote)))) as pool:
        reading = [pool.submit(read, name) for name in remote]
        for name in wanted:
            if name not in remote:
                result.update(read(name))
        for future in reading:
            result.update(future.result())
    return result


@dataclass(frozen=True)
class LiveState:
    """One read of the server: every token (all pages) and every resource. Plan, the saved-plan
    freshness check and apply all work from the same read instead of listing again."""

    tokens: Sequence[LiveToken]
    resources: Sequence[Resource]


def read_live(driver: Driver, spec: Spec | None = None) -> LiveState:
    """With `spec`, only the tokens its plan can read are kept (fingerprint.plan_reads): a
    server shared by many teams lists mostly other namespaces' tokens, and a driver that can
    (SelectiveListing) drops those before reading them in full."""
    if spec is None:
        return LiveState(driver.list_tokens(), driver.list_resources())
    reads = plan_reads(spec)
    if isinstance(driver, SelectiveListing):
        with driver.listing_only(reads):
            tokens = driver.list_tokens()
    else:
        tokens = [t for t in driver.list_tokens() if reads(t.guid, t.description)]
    return LiveState(tokens, driver.list_resources())


def compute_plan(
    spec: Spec,
    driver: Driver,
    stores: Mapping[str, SecretStore],
    *,
    now: datetime,
    server: str,
    force_rotate: frozenset[str] = frozenset(),
    grace_override: timedelta | None = None,
    live: LiveState | None = None,
    fingerprint: bool = True,
) -> Plan:
    """Plans from `live` (read here when not given) and what the declared tokens' stores hold;
    nothing else is read. `fingerprint` False: for a plan only shown as text (planner.plan)."""
    state = live if live is not None else read_live(driver, spec)
    stored = read_store_states(spec, stores)
    return make_plan(
        spec,
        state.tokens,
        state.resources,
        stored,
        now,
        server=server,
        self_guid=driver.self_guid(),
        force_rotate=force_rotate,
        grace_override=grace_override,
        fingerprint=fingerprint,
    )


def render(plan: Plan, output_format: PlanFormat, *, color: bool) -> str:
    if output_format is PlanFormat.JSON:
        return json.dumps(plan_to_json(plan), indent=2, sort_keys=False)
    if output_format is PlanFormat.MARKDOWN:
        return MARKDOWN_PART_SEPARATOR.join(render_markdown(plan))
    return render_text(plan, color=color)


def save_plan(plan: Plan, path: Path) -> None:
    write_output(path, json.dumps(plan_to_json(plan), indent=2) + "\n", "--out")


def plan_time(options: PlanOptions, global_options: GlobalOptions) -> datetime:
    now = make_clock(global_options)()
    if options.at is None:
        return now
    try:
        return parse_when(options.at, now)
    except DurationError as exc:
        raise UsageError(f"--at: {exc}") from None


def check_options(options: PlanOptions) -> None:
    """Before any spec or server is read."""
    if options.out is None:
        return
    if options.at is not None:
        # A saved plan is applied as it stands: a preview's early rotations would happen now.
        raise UsageError(
            "--at previews a future state and cannot be saved with --out: "
            "a saved plan must describe now; drop --at to save a plan to apply"
        )
    check_writable(options.out, "--out")


def needs_fingerprint(options: PlanOptions) -> bool:
    """Whether the plan shows or saves its live fingerprint (text does not, and hashing the
    live state is a large part of planning a large namespace)."""
    return options.out is not None or options.output_format is not PlanFormat.TEXT


def run(options: PlanOptions, global_options: GlobalOptions, env: Environment, ui: UI) -> int:
    check_options(options)
    now = plan_time(options, global_options)
    spec = load_spec(options.spec_path, now=now)
    refuse_secret_clashes(spec, env)
    driver = open_driver(global_options, env, spec)
    try:
        stores = open_stores(spec, store_context(spec, env))
        plan = compute_plan(
            spec,
            driver,
            stores,
            now=now,
            server=server_url(global_options, env, spec),
            fingerprint=needs_fingerprint(options),
        )
    finally:
        driver.close()
    ui.out(render(plan, options.output_format, color=ui.color))
    if options.out is not None and plan.errors:
        # apply would refuse it anyway: a plan with errors is not one to review and apply.
        ui.err(f"Did not save the plan to {options.out}: it has errors; fix them and plan again")
    elif options.out is not None:
        save_plan(plan, options.out)
        ui.err(f"Saved the plan to {options.out}; apply it with: ppm-tokens apply {options.out}")
    if plan.errors:
        return 1
    if options.detailed_exitcode and plan.has_changes:
        return EXIT_CHANGES
    return 0


@click.command("plan")
@cli.spec_files_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    help="text for people, markdown for PR comments, json for machines.",
)
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), help="Save the plan (JSON)."
)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes.")
@click.option("--at", metavar="WHEN", help="Preview: plan as of a date or +30d.")
@cli.global_options
def command(**kwargs: Any) -> int:
    """Show what apply would do."""
    from reconciler.commands import plan_many  # it imports this module: loaded when run

    options = cli.make_global(kwargs)
    files: tuple[Path, ...] = kwargs["files"] or (cli.DEFAULT_SPEC,)
    plan_options = PlanOptions(
        spec_path=files[0],
        output_format=PlanFormat(kwargs["output_format"]),
        out=kwargs["out"],
        detailed_exitcode=kwargs["detailed_exitcode"],
        at=kwargs["at"],
    )
    return terminal.run_command(partial(plan_many.run, files), plan_options, options)
