"""Plan -> apply loops from states a failed or interrupted apply leaves behind.

Each scenario builds such a state, then runs plan + apply (the planner and the engine, wired as
the commands wire them) until nothing create-like is left. It must take at most two runs, and
no run may revoke a token that existed before it while the store still hands that token's value
to consumers (I1: the token consumers hold is the one in the store).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta

import pytest

from reconciler.apply import ApplyOptions, ApplyReport
from reconciler.commands.plan import read_store_states
from reconciler.desired.model import OnDelete, Spec, TokenSpec, TokenState
from reconciler.errors import StoreError
from reconciler.plan.model import ActionKind, Plan
from reconciler.plan.planner import plan
from reconciler.secret import Secret
from reconciler.server.model import Resource
from reconciler.stores.base import KeyState, SecretMeta, SecretPayload, SecretStore

from .conftest import World
from .fakes import SERVER_URL, token_spec

RESOURCES = [Resource("0c1d0000-0000-4000-8000-00000000c7a1", "cran", "repo", "r")]
GRACE = timedelta(days=3)


@dataclass
class Loop:
    world: World
    spec: Spec
    violations: list[str] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)

    def plan(self) -> Plan:
        stores = {"local": self.world.store}
        made = plan(
            self.spec,
            self.world.driver.list_tokens(),
            RESOURCES,
            stored_meta(self.spec, stores),
            self.world.clock(),
            server=SERVER_URL,
            self_guid=self.world.driver.self_guid(),
        )
        self.plans.append(made)
        return made

    def run(self) -> ApplyReport:
        made = self.plan()
        assert made.errors == (), made.errors
        existing = {t.guid for t in self.world.driver.list_tokens()}
        driver = self.world.driver
        revoke = driver.revoke_token

        def guarded_revoke(guid: str) -> None:
            for token in self.spec.tokens:
                if token.state is not TokenState.PRESENT:
                    continue
                meta = self.world.files.read_meta(token.secret)
                if guid in existing and meta is not None and meta.token_guid == guid:
                    self.violations.append(f"revoked {guid}, whose value the store holds")
            revoke(guid)

        driver.revoke_token = guarded_revoke  # type: ignore[method-assign]
        try:
            return self.world.apply(made, self.spec)
        finally:
            del driver.revoke_token

    def converge(self, *, runs: int = 2) -> None:
        """At most `runs` runs to a state with nothing create-like left, each run clean."""
        for _ in range(runs):
            if not any(a.kind.creates for a in self.plan().changes):
                break
            report = self.run()
            assert report.ok, [r.error for r in report.failures]
        assert not any(a.kind.creates for a in self.plan().changes), self.plans[-1].actions
        self.assert_sound()
        # After the grace period, one more run retires what is left; then nothing changes (I4).
        self.world.clock.now += GRACE + timedelta(hours=1)
        assert self.run().ok
        assert self.plan().changes == ()
        assert self.violations == []

    def assert_sound(self) -> None:
        """I3: each present token's store names an active token whose stored value works."""
        driver, now = self.world.driver, self.world.clock()
        for token in self.spec.tokens:
            if token.state is not TokenState.PRESENT:
                continue
            meta = self.world.files.read_meta(token.secret)
            assert meta is not None, token.name
            assert driver.tokens[meta.token_guid].is_active(now)
            stored = (self.world.secrets_dir / token.secret).read_text()
            assert Secret(stored) == driver.value_of(meta.token_guid)


def store_as_apply_would(world: World, token: TokenSpec, guid: str) -> None:
    live = world.driver.tokens[guid]
    meta = SecretMeta(guid, token.name, "data-platform", live.created, live.expires, live.scope)
    world.files.put(token.secret, SecretPayload(world.driver.value_of(guid), meta))


def stored_generation(world: World, *, age: timedelta = timedelta(days=10)) -> str:
    guid = world.driver.seed("ds-read", age=age).guid
    store_as_apply_would(world, token_spec("ds-read"), guid)
    return guid


def stored_meta(spec: Spec, stores: Mapping[str, SecretStore]) -> dict[str, KeyState]:
    """What `plan` reads: what the present tokens' stores hold, and the absent tokens' whose
    secret is to be deleted, so a secret that outlived its token is still found."""
    return read_store_states(spec, stores)


Scenario = Callable[[World], None]


def rollback_after_verify_failure(world: World) -> None:
    """A rotation whose new token never authenticated: revoked before any store write."""
    stored_generation(world, age=timedelta(days=61))
    world.driver.failed_checks = 100
    loop = Loop(world, world.spec(token_spec("ds-read")))
    assert not loop.run().ok
    world.driver.failed_checks = 0


def crash_before_the_value_was_stored(world: World) -> None:
    """A new generation created, the process killed before the store write; days pass."""
    stored_generation(world, age=timedelta(days=70))
    world.driver.seed("ds-read", age=timedelta(days=5))


def crash_between_value_and_metadata(world: World) -> None:
    held = stored_generation(world, age=timedelta(days=70))
    new = world.driver.seed("ds-read", age=timedelta(days=5)).guid
    (world.secrets_dir / "ppm" / "ds-read").write_text(world.driver.value_of(new).reveal())
    assert world.files.read_meta("ppm/ds-read").token_guid == held  # type: ignore[union-attr]


def lost_create_response(world: World) -> None:
    """Every create's answer lost: each attempt's token is found and revoked, then it gives up."""
    stored_generation(world, age=timedelta(days=61))
    world.driver.lost_create_responses = ApplyOptions().create_attempts
    assert not Loop(world, world.spec(token_spec("ds-read"))).run().ok
    assert world.driver.lost_create_responses == 0


def confirm_failed_and_the_store_went_back(world: World) -> None:
    """The store took the rotation's value but read back someone else's: it was restored."""
    stored_generation(world, age=timedelta(days=61))
    world.store.meta_guid_override = "someone-else"
    assert not Loop(world, world.spec(token_spec("ds-read"))).run().ok
    world.store.meta_guid_override = None


def revoke_failed_after_the_successor_was_stored(world: World) -> None:
    old = stored_generation(world)
    spec = world.spec(replace(token_spec("ds-read"), description="Changed"))
    world.driver.revoke_fails_for = {old}
    assert not Loop(world, spec).run().ok
    world.driver.revoke_fails_for = set()


def store_holds_a_revoked_token(world: World) -> None:
    gone = stored_generation(world)
    world.driver.revoke_token(gone)


def store_holds_an_expired_token(world: World) -> None:
    stored_generation(world, age=timedelta(days=91))


def store_holds_a_revoked_token_beside_a_live_one(world: World) -> None:
    gone = stored_generation(world, age=timedelta(days=2))
    world.driver.seed("ds-read", age=timedelta(days=20))
    world.driver.revoke_token(gone)


SCENARIOS: dict[str, Scenario] = {
    "rollback-after-verify-failure": rollback_after_verify_failure,
    "crash-before-the-value-was-stored": crash_before_the_value_was_stored,
    "crash-between-value-and-metadata": crash_between_value_and_metadata,
    "lost-create-response": lost_create_response,
    "confirm-failed-and-the-store-went-back": confirm_failed_and_the_store_went_back,
    "revoke-failed-half-way": revoke_failed_after_the_successor_was_stored,
    "store-holds-a-revoked-token": store_holds_a_revoked_token,
    "store-holds-an-expired-token": store_holds_an_expired_token,
    "store-holds-a-revoked-token-beside-a-live-one": store_holds_a_revoked_token_beside_a_live_one,
}


@pytest.mark.parametrize("scenario", [pytest.param(s, id=i) for i, s in SCENARIOS.items()])
def test_converges_in_two_runs_without_revoking_what_consumers_hold(
    world: World, scenario: Scenario
) -> None:
    scenario(world)
    spec = world.spec(token_spec("ds-read"))
    if scenario is revoke_failed_after_the_successor_was_stored:
        spec = world.spec(replace(token_spec("ds-read"), description="Changed"))
    loop = Loop(world, spec)
    loop.converge()


def test_the_store_held_generation_survives_a_failed_repair(world: World) -> None:
    """The current token's value was never stored and the older one's grace has passed: the
    repair fails, and the older token, the only one consumers have, must stay."""
    held = stored_generation(world, age=timedelta(days=70))
    world.driver.seed("ds-read", age=timedelta(days=5))
    world.store.failing_puts = 100
    loop = Loop(world, world.spec(token_spec("ds-read")))

    report = loop.run()

    assert not report.ok
    assert world.driver.active(held)
    assert loop.violations == []


def test_an_unproven_rotation_leaves_the_store_as_it_was(world: World) -> None:
    """The store never sees an unproven token: consumers keep the value they had, and the next
    run simply rotates again, with the grace a rotation gives."""
    held = stored_generation(world, age=timedelta(days=61))
    before = (world.secrets_dir / "ppm" / "ds-read").read_bytes()
    world.driver.failed_checks = 100
    loop = Loop(world, world.spec(token_spec("ds-read")))

    assert not loop.run().ok

    assert (world.secrets_dir / "ppm" / "ds-read").read_bytes() == before
    assert world.files.read_meta("ppm/ds-read").token_guid == held  # type: ignore[union-attr]
    assert world.log.count("put") == 0
    world.driver.failed_checks = 0
    assert loop.run().ok
    (rotate,) = [a for a in loop.plans[-1].changes if a.kind is ActionKind.ROTATE]
    assert rotate.guid == held and world.driver.active(held)
    world.clock.now += GRACE + timedelta(hours=1)
    assert loop.run().ok and not world.driver.active(held)
    assert loop.violations == []


def test_adopted_token_hands_over_after_grace(world: World) -> None:
    legacy = world.driver.seed("unused", age=timedelta(days=65))
    world.driver.tokens[legacy.guid] = replace(legacy, description="hand-made token")
    spec = world.spec(replace(token_spec("ds-read"), adopt=legacy.guid))
    loop = Loop(world, spec)

    loop.converge()

    assert not world.driver.active(legacy.guid)


def test_absent_token_goes_with_its_secret_even_when_the_delete_fails_once(world: World) -> None:
    stored_generation(world)
    absent = replace(token_spec("ds-read"), state=TokenState.ABSENT, on_delete=OnDelete.DELETE)
    loop = Loop(world, world.spec(absent))
    deletes = world.store.inner.delete
    failures = [StoreError("store 'local' is unavailable")]

    def flaky_delete(key: str) -> None:
        if failures:
            raise failures.pop()
        deletes(key)

    world.store.inner.delete = flaky_delete  # type: ignore[method-assign]
    assert not loop.run().ok
    assert loop.run().ok

    assert world.driver.guids_for("ds-read") and not any(
        world.driver.active(g) for g in world.driver.guids_for("ds-read")
    )
    assert world.files.read_meta("ppm/ds-read") is None
    assert not (world.secrets_dir / "ppm" / "ds-read").exists()
    assert loop.plan().changes == ()
