"""A rotation as consumers live it: `apply` writes new values, consumers that still hold the old
ones keep working through the grace period, and once it has passed and `apply` retired the old
tokens, every client is refused with an old value and works with the new one."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.consumers.conftest import CLIENT_SECRETS, Deployment, client_params
from tests.e2e.conftest import Run

GRACE = timedelta(days=3)  # the spec's rotation.grace
ROTATION_DUE = timedelta(days=61)  # past the spec's rotation.after (60d)


@pytest.fixture(scope="module")
def before(deployment: Deployment) -> Path:
    """A consumer's copy of every secret, taken before the rotation."""
    return deployment.copy_for_consumer("before-rotation")


@pytest.fixture(scope="module")
def rotated(deployment: Deployment, before: Path) -> Run:
    deployment.control.advance(ROTATION_DUE)
    run = deployment.apply()
    assert run.code == 0, run.stderr
    return run


@pytest.fixture(scope="module")
def retired(deployment: Deployment, rotated: Run) -> Run:
    deployment.control.advance(GRACE + timedelta(minutes=5))
    run = deployment.apply()
    assert run.code == 0, run.stderr
    return run


def test_rotation_stores_new_values_and_old_ones_work_during_grace(
    deployment: Deployment, before: Path, rotated: Run
) -> None:
    for key in set(CLIENT_SECRETS.values()):
        assert deployment.guid(key) != deployment.guid(key, before)
        assert (deployment.store / key).read_bytes() != (before / key).read_bytes()
    for holder in (before, deployment.store):
        for client in ("pip", "uv-raw"):
            run = deployment.consume(client, holder)
            assert run.ok, deployment.shown(run)


@pytest.mark.parametrize("client", client_params())
def test_after_grace_the_old_value_is_refused_and_the_new_one_works(
    deployment: Deployment, before: Path, retired: Run, client: str
) -> None:
    key = CLIENT_SECRETS[client]
    old_guid, new_guid = deployment.guid(key, before), deployment.guid(key)

    deployment.control.clear_log()
    old = deployment.consume(client, before)
    assert not old.ok, deployment.shown(old)
    refused = deployment.repository_requests()
    # Refused because the server no longer accepts that token, not for any other reason.
    assert (401, old_guid) in refused
    assert all(status == 401 for status, actor in refused if actor == old_guid)

    deployment.control.clear_log()
    new = deployment.consume(client)
    assert new.ok, deployment.shown(new)
    assert (200, new_guid) in deployment.repository_requests()
