"""How the reconciler scales: validate, plan and apply with many tokens. Prints figures.

    .venv/bin/python bench/reconcile_scale.py [--tokens 1000] [--apply-tokens 200]

- validate: a spec of N tokens, parsed and checked (`check_file`);
- plan: the pure planner for N declared tokens against 4N live tokens (N current generations,
  N older generations, 2N tokens of another namespace or unmanaged), and its three renderers;
- apply: M tokens created end to end (create, file store write, verify) against an emulator on
  loopback with the default concurrency of 4, then the idle re-plan.

Takes about 2 s at the default sizes; `--tokens 200 --apply-tokens 20` under a second.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from scenario import apply_and_replan, emulator_in, write_spec

from reconciler.desired import check_file, load_spec
from reconciler.ownership import stored_description
from reconciler.plan.planner import plan
from reconciler.plan.render_json import plan_from_json, plan_to_json
from reconciler.plan.render_markdown import render_markdown
from reconciler.plan.render_text import render_text
from reconciler.plan.saved import check_saved
from reconciler.server.model import LiveToken, Resource
from reconciler.stores.base import SecretMeta
from reconciler.stores.registry import StoreContext, open_stores

T = TypeVar("T")


def timed(label: str, func: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = func()
    print(f"  {label:<46} {time.perf_counter() - started:8.3f} s")
    return result


def bench_validate_and_plan(count: int, workdir: Path) -> None:
    now = datetime.now(UTC)
    spec_path = write_spec(workdir / "plan.yaml", count, workdir / "unused-store")
    print(f"validate and plan, {count} declared tokens")
    spec, problems = timed(
        f"check_file ({spec_path.stat().st_size / 1e6:.2f} MB)",
        lambda: check_file(spec_path, now=now),
    )
    assert spec is not None, problems
    pypi = Resource(str(uuid.uuid4()), "pypi", "repo", "python")
    live: list[LiveToken] = []
    stored: dict[str, SecretMeta | None] = {}
    for index, token in enumerate(spec.tokens):
        description = stored_description(token.description, spec.namespace, token.name)
        for age_days, keep in ((10, True), (70, False)):
            created = now - timedelta(days=age_days)
            live.append(
                LiveToken(
                    guid=str(uuid.uuid4()),
                    description=description,
                    user=token.user,
                    scope="repos:read",
                    resources=("pypi",),
                    resource_ids=(pypi.id,),
                    created=created,
                    expires=created + timedelta(days=90),
                )
            )
            if keep:
                current = live[-1]
                stored[token.name] = SecretMeta(
                    current.guid,
                    token.name,
                    spec.namespace,
                    current.created,
                    current.expires,
                    "repos:read",
                )
        for other in ("[ppm-tokens:other-team/x]", "hand-made"):
            live.append(
                LiveToken(
                    guid=str(uuid.uuid4()),
                    description=f"token {index} {other}",
                    user="someone",
                    scope="repos:read",
                    resources=("pypi",),
                    resource_ids=(pypi.id,),
                    created=now - timedelta(days=5),
                    expires=now + timedelta(days=85),
                )
            )
    result = timed(
        f"plan() against {len(live)} live tokens",
        lambda: plan(spec, live, [pypi], stored, now, server="https://ppm.example.com"),
    )
    print(f"  -> {len(result.actions)} actions, {len(result.warnings)} warnings")
    timed("render_text", lambda: render_text(result, color=False))
    parts = timed("render_markdown", lambda: render_markdown(result))
    print(f"  -> {len(parts)} Markdown part(s)")
    text = timed("plan_to_json + dumps", lambda: json.dumps(plan_to_json(result)))
    # `apply PLAN.json`: read it back, plan again at its moment, compare field by field.
    saved = timed(
        "plan_from_json (loads, re-bind to the spec)",
        lambda: plan_from_json(json.loads(text), spec),
    )
    again = timed(
        "plan() again for a saved plan",
        lambda: plan(spec, live, [pypi], stored, saved.generated_at, server=saved.server),
    )
    timed("check_saved (every field of every action)", lambda: check_saved(saved, again))


def bench_apply(count: int, workdir: Path) -> None:
    print(f"apply against the emulator, {count} new tokens, concurrency 4")
    with emulator_in(workdir) as running:
        spec_path = write_spec(workdir / "apply.yaml", count, workdir / "secrets")
        spec = load_spec(spec_path, now=datetime.now(UTC))
        stores = open_stores(spec, StoreContext(spec_dir=workdir, env={}))
        applied = apply_and_replan(spec, stores, running)
    report = applied.report
    print(f"  {'plan (list tokens, read store metadata)':<46} {applied.plan_seconds:8.3f} s")
    print(f"  {'apply_plan (create, store, verify)':<46} {applied.apply_seconds:8.3f} s")
    rate = count / applied.apply_seconds
    print(f"  -> {report.created} created, {report.failed} failed, {rate:.1f} tokens/s")
    print(f"  {'re-plan when nothing changed':<46} {applied.replan_seconds:8.3f} s")
    print(f"  -> {applied.changes_left} changes")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--apply-tokens", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ppm-tokens-bench-") as tmp:
        bench_validate_and_plan(args.tokens, Path(tmp))
        bench_apply(args.apply_tokens, Path(tmp))


if __name__ == "__main__":
    main()
