"""`ppm-tokens plan` over several specs (`-f` given more than once, or a directory).

One spec goes to `reconciler.commands.plan` unchanged, so its output keeps its shape. Several:
every spec is checked first (nothing is sent anywhere if any is invalid, if two share a
namespace on one server, or if a token is missing), then each is planned against its own
server in turn, exactly as one spec is. A spec whose server or store fails is reported in its
place and the others are still planned.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from reconciler.commands import plan as single
from reconciler.commands.outputs import write_output
from reconciler.commands.runtime import (
    Environment,
    GlobalOptions,
    open_driver,
    store_context,
    with_admin_variables,
)
from reconciler.commands.specs import Target, expand, load_all, resolve
from reconciler.errors import ReconcilerError
from reconciler.logs import redact
from reconciler.plan.many import PlanSet, SpecPlan
from reconciler.plan.render_json import plans_to_json
from reconciler.plan.render_markdown import render_markdown_many
from reconciler.plan.render_text import render_text_many
from reconciler.stores.base import SecretStore
from reconciler.stores.registry import close_stores, open_stores
from reconciler.ui import UI


def run(
    files: Sequence[Path],
    options: single.PlanOptions,
    global_options: GlobalOptions,
    env: Environment,
    ui: UI,
) -> int:
    """`files` as given to -f; `options` as for one spec (its spec_path is replaced)."""
    found = expand(files)
    for note in found.notes:
        ui.err(note)
    if len(found.paths) == 1:
        only = dataclasses.replace(options, spec_path=found.paths[0])
        return single.run(only, global_options, env, ui)
    single.check_options(options)
    now = single.plan_time(options, global_options)
    specs = load_all(found.paths, now=now)
    targets = resolve(specs, global_options, env)
    env = with_admin_variables(env, specs)
    fingerprint = single.needs_fingerprint(options)
    plans = PlanSet(
        tuple(
            plan_one(target, global_options, env, now=now, fingerprint=fingerprint)
            for target in targets
        )
    )
    ui.out(render(plans, options.output_format, color=ui.color))
    if options.out is not None:
        save(plans, options.out, ui)
    if plans.has_errors:
        return 1
    if options.detailed_exitcode and plans.has_changes:
        return single.EXIT_CHANGES
    return 0


def plan_one(
    target: Target,
    global_options: GlobalOptions,
    env: Environment,
    *,
    now: datetime,
    fingerprint: bool = True,
) -> SpecPlan:
    spec = target.spec
    part = SpecPlan(spec.path, target.server, spec.namespace)
    try:
        driver = open_driver(global_options, env, spec)
        stores: Mapping[str, SecretStore] = {}
        try:
            stores = open_stores(spec, store_context(spec, env))
            plan = single.compute_plan(
                spec, driver, stores, now=now, server=target.server, fingerprint=fingerprint
            )
        finally:
            close_stores(stores)
            driver.close()
    except ReconcilerError as exc:
        return dataclasses.replace(part, error=redact(str(exc)))
    return dataclasses.replace(part, plan=plan)


def render(plans: PlanSet, output_format: single.PlanFormat, *, color: bool) -> str:
    if output_format is single.PlanFormat.JSON:
        return json.dumps(plans_to_json(plans), indent=2, sort_keys=False)
    if output_format is single.PlanFormat.MARKDOWN:
        return single.MARKDOWN_PART_SEPARATOR.join(render_markdown_many(plans))
    return render_text_many(plans, color=color)


def save(plans: PlanSet, path: Path, ui: UI) -> None:
    """All specs or none: a saved plan missing a spec would be applied as if it were whole."""
    if plans.failed:
        names = ", ".join(part.spec_path for part in plans.failed)
        ui.err(
            f"Did not save the plan to {path}: {names} could not be planned, and a saved plan "
            "must cover every spec; fix that and run plan again"
        )
        return
    if plans.has_errors:
        ui.err(f"Did not save the plan to {path}: it has errors; fix them and plan again")
        return
    write_output(path, json.dumps(plans_to_json(plans), indent=2) + "\n", "--out")
    ui.err(
        f"Saved the plan of {len(plans.parts)} specs to {path}; "
        f"apply it with: ppm-tokens apply {path}"
    )
