"""A run whose apply lock could not be renewed starts no new action: another run may hold the
lock by then."""

from __future__ import annotations

import time

from reconciler.apply import ApplyOptions
from reconciler.locks.held import hold
from reconciler.locks.record import new_info
from reconciler.plan.model import Action, ActionKind
from tests.locks.test_held import LEASE, NOW, RecordingLock

from .conftest import World
from .fakes import make_plan, token_spec


def test_a_failed_renewal_stops_actions_not_yet_started(world: World) -> None:
    lock = RecordingLock(fail_after=0)
    tokens = tuple(token_spec(n) for n in ("a", "b"))
    plan = make_plan(*(Action(ActionKind.CREATE, t.name, "new", t) for t in tokens))
    info = new_info("k", "apply", NOW, LEASE)
    with hold(lock, info, timeout=0, lease=LEASE, now=lambda: NOW, renew_every=0.001) as held:
        assert lock.failed.wait(10)
        deadline = time.monotonic() + 10
        while held.lost() is None and time.monotonic() < deadline:
            time.sleep(0.001)  # the renewal thread records the failure right after it
        report = world.apply(plan, world.spec(*tokens), ApplyOptions(concurrency=1), halt=held.lost)

    assert report.failed == 2 and world.log.count("create") == 0
    assert all(
        (r.error or "").endswith(
            "not started: the apply lock could not be renewed: the record is gone"
        )
        for r in report.results
    )
