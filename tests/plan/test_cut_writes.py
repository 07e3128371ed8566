"""A store write cut between its value and its metadata: the planner keeps whoever holds the
value working. What the store reads back (`KeyState`: the intent written before the value, what
the value itself names) decides the current generation, through plan.standing, for the planner
and the day-2 views alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from reconciler.desired.model import SecretFormat
from reconciler.ops.view import Generation, build_views
from reconciler.plan.model import ActionKind, Plan
from reconciler.plan.planner import plan
from reconciler.plan.standing import Holds, standing
from reconciler.server.model import LiveToken
from reconciler.stores.base import KeyState, PendingWrite, SecretMeta, StoredValue

from .conftest import DAY, NOW, RESOURCES, SERVER, live_token, make_spec, meta_for, token_spec

T = token_spec("ds-read")  # grace 3d
OLD = live_token(T, "old", age=61 * DAY)  # what consumers held before the rotation
NEW = live_token(T, "new", age=DAY // 24)  # the rotation's token, created an hour ago
PROMISE = NEW.created + 3 * DAY  # what the rotation promised OLD
INTENT = PendingWrite(NEW.guid, (OLD.guid,), PROMISE, "raw")


def plan_at(
    stored: KeyState | SecretMeta | None,
    *,
    now: datetime = NOW,
    live: Sequence[LiveToken] = (NEW, OLD),
    fmt: SecretFormat = SecretFormat.RAW,
) -> Plan:
    spec = make_spec(replace(T, format=fmt))
    return plan(spec, live, RESOURCES, {"ds-read": stored}, now, server=SERVER)


def kinds(result: Plan) -> list[tuple[ActionKind, str | None]]:
    return [(a.kind, a.guid) for a in result.actions]


def value_of(token: LiveToken) -> StoredValue:
    return StoredValue(token.guid, "raw", "0" * 64)


def test_a_value_without_metadata_is_recorded_and_the_old_token_keeps_its_grace() -> None:
    result = plan_at(KeyState(pending=INTENT, value=value_of(NEW)))

    assert kinds(result) == [(ActionKind.RECORD, NEW.guid)]
    (record,) = result.actions
    assert record.retire_after == PROMISE and record.token == T
    (kept,) = result.still_active
    assert (kept.guid, kept.retire_after) == (OLD.guid, PROMISE)
    # Once the promise has passed (and the metadata carries it), the old token is retired.
    later = plan_at(KeyState(meta=meta_for_promise(NEW, PROMISE)), now=PROMISE + DAY)
    assert (ActionKind.RETIRE, OLD.guid) in kinds(later)


def meta_for_promise(token: LiveToken, promise: datetime) -> SecretMeta:
    return replace(meta_for(token, "ds-read"), retire_previous_after=promise)


def test_a_value_found_without_metadata_or_intent_keeps_the_spec_grace() -> None:
    """Metadata lost some other way: the value still names its token; no promise is known, so
    the older generation keeps the spec's grace from the current token's creation."""
    result = plan_at(KeyState(value=value_of(NEW)))

    assert kinds(result) == [(ActionKind.RECORD, NEW.guid)]
    assert result.actions[0].retire_after is None
    assert [g.retire_after for g in result.still_active] == [NEW.created + 3 * DAY]


def test_the_value_still_names_the_old_token_so_the_new_one_is_an_orphan() -> None:
    """Cut after the intent, before the value: nobody holds the new token, which is retired;
    the rotation it was made for is simply due again."""
    result = plan_at(KeyState(pending=INTENT, value=value_of(OLD)))

    assert kinds(result) == [(ActionKind.RETIRE, NEW.guid), (ActionKind.ROTATE, OLD.guid)]
    # A younger token whose rotation is not due gets its metadata back instead.
    young = live_token(T, "old", age=10 * DAY)
    again = plan_at(KeyState(pending=INTENT, value=value_of(young)), live=(NEW, young))
    assert kinds(again) == [(ActionKind.RETIRE, NEW.guid), (ActionKind.RECORD, young.guid)]


def test_a_store_that_cannot_read_values_keeps_every_candidate_and_writes_a_new_token() -> None:
    result = plan_at(KeyState(pending=INTENT))

    (repair,) = result.actions
    assert (repair.kind, repair.guid, repair.revoke_replaced) == (
        ActionKind.REPAIR,
        NEW.guid,
        False,
    )
    assert repair.grace == 3 * DAY  # the grace, counted from this write when apply stores it
    assert [(g.guid, g.retire_after) for g in result.still_active] == [(OLD.guid, NOW + 3 * DAY)]
    assert NEW.guid in repair.reason and OLD.guid in repair.reason


def test_a_metadata_only_repair_gives_way_to_a_rotation_that_is_due() -> None:
    """The format changed since the cut write: the record would describe a payload the spec
    no longer wants, so a rotation writes a new one, and the promise still holds for OLD."""
    result = plan_at(KeyState(pending=INTENT, value=value_of(NEW)), fmt=SecretFormat.NETRC)

    (rotate,) = result.actions
    assert rotate.kind is ActionKind.ROTATE and rotate.guid == NEW.guid
    assert rotate.reason.startswith("format changed raw -> netrc")


def test_main_read_only_the_metadata_and_repaired_revoking_the_held_token() -> None:
    """What the metadata alone says after the cut (nothing): a repair that revokes the token the
    store hands out. Only the key state says otherwise; this pins the difference."""
    only_meta = plan_at(None)
    (repair,) = [a for a in only_meta.actions if a.kind.creates]
    assert repair.kind is ActionKind.REPAIR and repair.revoke_replaced

    held = plan_at(KeyState(pending=INTENT, value=value_of(NEW)))
    assert not any(a.kind.creates or a.kind is ActionKind.RETIRE for a in held.actions)


def test_one_function_decides_current_for_the_planner_and_the_views() -> None:
    """After a run killed between create and store (a newer token nobody holds), and after a
    write cut between value and metadata, the views place every generation as the planner
    does."""
    spec = make_spec(T)
    cases = {
        "killed before the store": (KeyState(meta=meta_for(OLD, "ds-read")), OLD, [NEW]),
        "cut before the metadata": (KeyState(pending=INTENT, value=value_of(NEW)), NEW, []),
        "cut, value unreadable": (KeyState(pending=INTENT), NEW, []),
    }
    for label, (state, current, orphans) in cases.items():
        stand = standing((NEW, OLD), state)
        assert stand.current == current and list(stand.orphans) == orphans, label
        result = plan_at(state)
        retired = [a.guid for a in result.actions if a.kind is ActionKind.RETIRE]
        assert retired == [o.guid for o in orphans], label
        views = {
            v.guid: v
            for v in build_views(
                [NEW, OLD], [spec], NOW, stored={("data-platform", "ds-read"): state}
            )
        }
        assert views[current.guid].generation is Generation.CURRENT, label
        assert all(views[o.guid].generation is Generation.RETIRING for o in orphans), label
    assert standing((NEW, OLD), KeyState(pending=INTENT)).holds is Holds.UNKNOWN
    assert standing((NEW, OLD), None).holds is Holds.UNREAD
