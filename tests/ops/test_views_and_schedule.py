"""Owner, generation and schedule of each live token, and what a target word names."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reconciler.errors import UsageError
from reconciler.ops import schedule
from reconciler.ops.lookup import find
from reconciler.ops.view import Generation, build_views
from reconciler.ownership import stored_description
from reconciler.stores.base import SecretMeta
from tests.ops.helpers import NOW, live, spec_from

SPEC = spec_from(
    """\
    - name: reader
      user: someone@example.com
      description: Reads
      scope: repos:read
      resources: [pypi]
    - name: dated
      user: someone@example.com
      description: Expires on a date
      scope: repos:read
      resources: [pypi]
      expires: 2027-05-01
      rotation: {after: none, before_expiry: 14d, grace: 0s}
    - name: adopter
      user: someone@example.com
      description: Adopts
      scope: repos:read
      resources: [pypi]
      adopt: 0000000a-0000-0000-0000-000000000000
    """
)
CURRENT = live("cur", stored_description("Reads", "team", "reader"), age=timedelta(days=10))
OLDER = live("old", stored_description("Reads", "team", "reader"), age=timedelta(days=70))
ADOPTED = live("0000000a-0000-0000-0000-000000000000", "hand made", age=timedelta(days=5))
UNDECLARED = live("gone", stored_description("Gone", "team", "gone"))
FOREIGN = live("theirs", stored_description("Theirs", "other", "reader"))
UNMANAGED = live("mine", "Hand made token")
ALL = [CURRENT, OLDER, ADOPTED, UNDECLARED, FOREIGN, UNMANAGED]


def test_generations_and_owners() -> None:
    views = {v.guid: v for v in build_views(ALL, [SPEC], NOW, self_guid="mine")}
    assert views["cur"].generation is Generation.CURRENT
    assert views["old"].generation is Generation.RETIRING
    assert views["0000000a-0000-0000-0000-000000000000"].generation is Generation.CURRENT
    assert views["0000000a-0000-0000-0000-000000000000"].adopted
    assert views["0000000a-0000-0000-0000-000000000000"].managed_by == "team/adopter"
    assert views["gone"].generation is Generation.UNDECLARED
    assert views["theirs"].generation is Generation.FOREIGN
    assert views["mine"].generation is Generation.UNMANAGED and views["mine"].authenticating
    assert views["cur"].name == "reader" and views["mine"].name == "Hand made token"
    assert views["cur"].description == "Reads"
    # rotation.after 60d from creation; its successor's grace (3d) ends after that.
    assert views["cur"].rotation_due == CURRENT.created + timedelta(days=60)
    assert views["cur"].retires == CURRENT.created + timedelta(days=63)
    assert views["old"].retires == CURRENT.created + timedelta(days=3)


def test_the_generation_the_store_holds_is_current_as_the_planner_reads_it() -> None:
    """A run died after creating `cur` and before storing it: the store still holds `old`, so
    `old` is current (consumers hold it) and `cur` goes with the next apply."""
    meta = SecretMeta("old", "reader", "team", OLDER.created, OLDER.expires, "repos:read")
    views = {v.guid: v for v in build_views(ALL, [SPEC], NOW, stored={("team", "reader"): meta})}
    assert views["old"].generation is Generation.CURRENT
    assert views["cur"].generation is Generation.RETIRING
    assert views["cur"].retires == CURRENT.created
    match = find(list(views.values()), "reader", loaded=frozenset({"team"}))
    assert [v.guid for v in match.views] == ["old", "cur"]


def test_schedule_rules() -> None:
    dated = SPEC.token("dated")
    assert dated is not None
    token = live("d", age=timedelta(days=1), lifetime=timedelta(days=30))
    # An expiry on a fixed date: a successor expires no later, so no rotation for nearness.
    assert schedule.rotation_due(dated, token) is None
    assert schedule.current_retires(dated, token) == token.expires
    reader = SPEC.token("reader")
    assert reader is not None
    short = live("s", age=timedelta(days=1), lifetime=timedelta(days=20))
    assert schedule.rotation_due(reader, short) == short.expires - timedelta(days=14)


def test_a_promised_grace_wins_over_the_spec() -> None:
    reader = SPEC.token("reader")
    assert reader is not None
    promised = NOW + timedelta(days=6)
    assert schedule.older_retires(reader, CURRENT, OLDER, promised) == promised
    assert schedule.older_retires(reader, CURRENT, OLDER, None) == CURRENT.created + timedelta(
        days=3
    )


def test_find_by_guid_prefix_name_and_description() -> None:
    views = build_views(ALL, [SPEC], NOW)
    loaded = frozenset({"team"})
    assert find(views, "0000000a", loaded=loaded).views[0].guid.startswith("0000000a")
    match = find(views, "reader", loaded=loaded)  # team/reader wins over other/reader
    assert match.owner is not None and match.owner.namespace == "team"
    assert [v.guid for v in match.views] == ["cur", "old"]
    assert find(views, "other/reader", loaded=loaded).views[0].guid == "theirs"
    assert find(views, "HAND MADE TOKEN", loaded=loaded).views[0].guid == "mine"
    with pytest.raises(UsageError, match="several namespaces"):
        find(views, "reader", loaded=frozenset())
    with pytest.raises(UsageError, match="no token has"):
        find(views, "nothing", loaded=loaded)


def test_find_by_the_description_of_a_managed_or_adopted_token() -> None:
    """The description is what people see on PPM's page: it finds a token whoever owns it."""
    views = build_views(ALL, [SPEC], NOW)
    loaded = frozenset({"team"})
    adopted = find(views, "hand made", loaded=loaded)
    assert [v.guid for v in adopted.views] == [ADOPTED.guid]
    assert adopted.owner is not None and adopted.owner.name == "adopter"
    # Both generations of team/reader carry "Reads": the name's generations, newest first.
    generations = find(views, "reads", loaded=loaded)
    assert generations.owner is not None
    assert (generations.owner.namespace, generations.owner.name) == ("team", "reader")
    assert [v.guid for v in generations.views] == ["cur", "old"]
    # An unmanaged token with the same description still wins: it is what the page calls it.
    twin = build_views([*ALL, live("twin", "Reads")], [SPEC], NOW)
    assert [v.guid for v in find(twin, "Reads", loaded=loaded).views] == ["twin"]


def test_a_short_guid_prefix_says_how_long_it_must_be() -> None:
    views = build_views(ALL, [SPEC], NOW)
    with pytest.raises(UsageError, match="at least 8 characters"):
        find(views, "0000", loaded=frozenset({"team"}))


def test_an_ambiguous_guid_prefix_lists_the_candidates() -> None:
    twins = [
        live("6f1c2a9e-0000-4000-8000-000000000001", "one"),
        live("6f1c2a9e-0000-4000-8000-000000000002", "two"),
    ]
    views = build_views(twins, [], NOW)
    with pytest.raises(UsageError, match="start of several GUIDs") as raised:
        find(views, "6F1C2A9E", loaded=frozenset())
    assert all(t.guid in str(raised.value) for t in twins)
    assert find(views, "6f1c2a9e-0000-4000-8000-000000000002", loaded=frozenset()).views[0].guid
