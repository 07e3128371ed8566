"""Run a plan's changes: different names in parallel, one name's actions in plan order.

An interrupt (Ctrl-C) lets the actions in flight finish their create -> store -> verify ->
revoke sequence and starts nothing new, so no token is left half-handled by this process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime

from reconciler.apply.context import Context, KnownGuids, label
from reconciler.apply.model import ActionResult, ApplyOptions, ApplyReport
from reconciler.apply.self_token import first_and_rest
from reconciler.apply.steps import run_action
from reconciler.desired.model import Spec
from reconciler.errors import ReconcilerError, UsageError
from reconciler.plan.model import Action, Plan
from reconciler.server.driver import Driver
from reconciler.server.model import LiveToken
from reconciler.stores.base import SecretStore

DEFAULT_OPTIONS = ApplyOptions()


def _ignore(result: ActionResult) -> None:
    return None


def _never() -> str | None:
    return None


def apply_plan(
    plan: Plan,
    *,
    spec: Spec,
    driver: Driver,
    stores: Mapping[str, SecretStore],
    now: Callable[[], datetime],
    options: ApplyOptions = DEFAULT_OPTIONS,
    on_progress: Callable[[ActionResult], None] = _ignore,
    sleep: Callable[[float], None] = time.sleep,
    server_url: str,
    live_tokens: Sequence[LiveToken] | None = None,
    halt: Callable[[], str | None] = _never,
) -> ApplyReport:
    """Execute `plan`. Failures of single actions are results, not exceptions; see
    `ApplyReport.ok`. `on_progress` is called once per finished action, one call at a time.
    `live_tokens` is the listing the plan was made from, when the caller has it: without it the
    tokens are listed once here. `halt` is asked before each action starts; a reason (the run
    lost its lock) stops every action not yet started, while those in flight finish."""
    blocking = plan.blocking_errors  # the others only keep their token out of the plan
    if blocking:
        raise UsageError(
            f"the plan has {len(blocking)} error(s), e.g. {blocking[0].message}: "
            "fix them and plan again"
        )
    if plan.namespace != spec.namespace:
        raise UsageError(
            f"the plan is for namespace '{plan.namespace}', the spec for '{spec.namespace}'"
        )
    if options.concurrency < 1:
        raise UsageError(f"concurrency must be at least 1, not {options.concurrency}")
    changes = plan.changes
    # One listing: the GUIDs that exist before any create, and whose each token is.
    if not changes:
        live: dict[str, LiveToken] = {}
    else:
        listing = live_tokens if live_tokens is not None else driver.list_tokens()
        live = {t.guid: t for t in listing}
    ctx = Context(
        spec=spec,
        driver=driver,
        stores=stores,
        now=now,
        options=options,
        sleep=sleep,
        server_url=server_url,
        protected=_protected(spec, driver),
        known_guids=KnownGuids(live),
        live=live,
        declared={t.name: t for t in spec.tokens},
    )
    results: list[ActionResult | None] = [None] * len(changes)
    progress_lock = threading.Lock()
    stopping = threading.Event()

    def run_group(indexes: list[int]) -> None:
        failed: Action | None = None
        for index in indexes:
            if stopping.is_set():
                return
            action = changes[index]
            reason = halt()
            if reason is not None:
                result = _not_started(action, reason)
            elif failed is None:
                result = run_action(action, ctx)
            else:
                # After a create-like action of this name failed, what follows it in the plan
                # (the retirement of an older generation) may revoke the token consumers hold.
                result = _not_run(action, failed)
            if failed is None and action.kind.creates and not result.ok:
                failed = action
            results[index] = result
            try:
                with progress_lock:
                    on_progress(result)
            except BaseException:
                stopping.set()  # before the worker can pick up the next group
                raise

    # The admin token the run authenticates with goes first and alone: what follows is sent
    # with its successor once that is stored (apply.self_token).
    first, rest = first_and_rest(_groups(changes), changes, spec)
    if first:
        run_group(first)
    with ThreadPoolExecutor(
        max_workers=options.concurrency, thread_name_prefix="ppm-tokens-apply"
    ) as pool:
        futures = [pool.submit(run_group, indexes) for indexes in rest]
        try:
            for future in as_completed(futures):
                future.result()
        except BaseException:
            stopping.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return ApplyReport(tuple(r for r in results if r is not None))


def _not_run(action: Action, failed: Action) -> ActionResult:
    untouched = f"; {action.guid} is untouched" if action.guid else ""
    return ActionResult(
        action,
        ok=False,
        error=f"{action.kind} of {label(action)}: not run because the {failed.kind} of "
        f"{failed.name} before it failed{untouched}",
    )


def _not_started(action: Action, reason: str) -> ActionResult:
    return ActionResult(
        action, ok=False, error=f"{action.kind} of {label(action)}: not started: {reason}"
    )


def _groups(changes: tuple[Action, ...]) -> list[list[int]]:
    """Indexes of actions that must run one after the other: those sharing a token name (or,
    for unmanaged tokens, a GUID)."""
    groups: dict[str, list[int]] = {}
    for index, action in enumerate(changes):
        if action.name is not None:
            key = f"name:{action.name}"
        elif action.guid is not None:
            key = f"guid:{action.guid}"
        else:
            key = f"index:{index}"
        groups.setdefault(key, []).append(index)
    return list(groups.values())


def _protected(spec: Spec, driver: Driver) -> dict[str, str]:
    protected = dict.fromkeys(spec.policy.protect, "it is listed in policy.protect")
    try:
        self_guid = driver.self_guid()
    except ReconcilerError:
        # The planner already keeps the admin token out of the plan; this is a second guard.
        self_guid = None
    if self_guid:
        protected[self_guid] = "it is the token this run authenticates with"
    return protected
