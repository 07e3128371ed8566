"""Different names run in parallel; one name's actions run one after the other, in plan order."""

from __future__ import annotations

import threading

import pytest

from reconciler.apply import ApplyOptions
from reconciler.plan.model import Action, ActionKind

from .conftest import World
from .fakes import make_plan, token_spec


def test_names_progress_in_parallel_and_one_name_in_plan_order(world: World) -> None:
    names = ("a", "b", "c")
    tokens = tuple(token_spec(n) for n in names)
    current = {n: world.driver.seed(n).guid for n in names}
    older = world.driver.seed("a").guid
    # Every put waits until all three names are writing at once: run one by one, it would break.
    barrier = threading.Barrier(len(names), timeout=10)

    def wait_for_the_others(_key: str) -> None:
        barrier.wait()

    world.store.before_put = wait_for_the_others
    plan = make_plan(
        *(
            Action(ActionKind.REPLACE, n, "scope", t, current[n], True)
            for n, t in zip(names, tokens, strict=True)
        ),
        Action(ActionKind.RETIRE, "a", "grace passed", guid=older),
    )

    report = world.apply(plan, world.spec(*tokens), ApplyOptions(concurrency=4))

    assert report.ok, [r.error for r in report.results]
    assert [r.action for r in report.results] == list(plan.actions)
    assert len(world.progress) == 4
    # "a"'s retire waited for "a"'s replace to finish although a worker was free.
    new_a = report.results[0].new_guid or ""
    assert world.log.index("revoke", current["a"]) < world.log.index("revoke", older)
    assert world.log.index("check", new_a, "ok") < world.log.index("revoke", older)


def test_concurrency_one_runs_everything_in_plan_order(world: World) -> None:
    tokens = tuple(token_spec(n) for n in ("a", "b", "c"))
    plan = make_plan(*(Action(ActionKind.CREATE, t.name, "new", t) for t in tokens))

    report = world.apply(plan, world.spec(*tokens), ApplyOptions(concurrency=1))

    assert report.ok and report.created == 3
    puts = [e[1] for e in world.log.events if e[0] == "put"]
    assert puts == ["ppm/a", "ppm/b", "ppm/c"]


def test_an_interrupt_lets_the_action_in_flight_finish_and_starts_nothing_new(
    world: World,
) -> None:
    tokens = tuple(token_spec(n) for n in ("a", "b", "c"))
    plan = make_plan(*(Action(ActionKind.CREATE, t.name, "new", t) for t in tokens))

    def interrupt(_result: object) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        world.apply(plan, world.spec(*tokens), ApplyOptions(concurrency=1), on_progress=interrupt)

    # The first action completed its whole sequence; the other two never started.
    assert world.log.count("create") == 1
    (guid,) = world.driver.guids_for("a")
    assert world.log.events[-1] == ("commit", "ppm/a", guid)
    assert world.files.read_meta("ppm/a") is not None
