"""The cross-machine apply locks against real backends: vault on OpenBao, dynamodb on moto."""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from reconciler.desired.model import LockConfig, StoreConfig
from reconciler.errors import LockError, LockHeld
from reconciler.locks.base import ApplyLock, LockContext, LockInfo
from reconciler.locks.registry import open_lock
from reconciler.locks.remote_records import to_record
from tests.stores.moto_server import Moto, moto
from tests.stores.openbao import OpenBao, new_mount, openbao

__all__ = ["moto", "openbao"]  # fixtures

SERVER = "https://ppm.example.com"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def dynamodb_table(moto: Moto) -> str:
    name = f"ppm-locks-{secrets.token_hex(4)}"
    moto.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


@pytest.fixture(params=["vault", "dynamodb"])
def make_lock(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A factory of locks on one backend and key, as separate runs would open them."""
    clock = Clock()
    opened: list[Any] = []
    if request.param == "vault":
        server: OpenBao = request.getfixturevalue("openbao")
        mount = new_mount(server)
        stores = {
            "vault": StoreConfig(
                "vault",
                "vault",
                MappingProxyType({"address": server.url, "mount": mount, "prefix": "ppm/"}),
            )
        }
        config = LockConfig(type="vault", options=MappingProxyType({"store": "vault"}))
        env = {"VAULT_TOKEN": server.root_token}
    else:
        aws: Moto = request.getfixturevalue("moto")
        stores = {}
        config = LockConfig(
            type="dynamodb", options=MappingProxyType({"table": dynamodb_table(aws)})
        )
        env = aws.env()
    context = LockContext(SERVER, "data-platform", stores, tmp_path, env, clock)

    def make() -> Any:
        lock = open_lock(config, context)
        lock._poll = 0.02  # type: ignore[attr-defined]
        opened.append(lock)
        return lock

    make.clock = clock  # type: ignore[attr-defined]
    yield make
    for lock in opened:
        if hasattr(lock, "kv"):
            lock.kv.client.close()


def info(clock: Clock, holder: str = "ci@runner-1 pid 42", lease: int = 15) -> LockInfo:
    return LockInfo(
        id=str(uuid.uuid4()),
        key=f"{SERVER}|data-platform",
        holder=holder,
        operation="apply",
        created=clock(),
        expires=clock() + timedelta(minutes=lease),
    )


def test_a_held_lock_names_its_holder_and_how_to_break_it(make_lock: Any) -> None:
    first, second = make_lock(), make_lock()
    mine = info(make_lock.clock)
    first.acquire(mine, timeout=0)

    with pytest.raises(LockHeld) as held:
        second.acquire(info(make_lock.clock, "laptop pid 7"), timeout=0)

    message = str(held.value)
    assert "ci@runner-1 pid 42" in message and mine.id in message
    assert f"ppm-tokens force-unlock {mine.id}" in message
    assert second.current() == mine


def test_release_lets_the_next_run_in(make_lock: Any) -> None:
    first, second = make_lock(), make_lock()
    first.acquire(info(make_lock.clock), timeout=0)
    first.release()
    first.release()  # releasing twice is not an error

    theirs = info(make_lock.clock, "laptop pid 7")
    second.acquire(theirs, timeout=0)

    assert first.current() == theirs


def test_a_waiting_run_gets_the_lock_when_it_is_released(make_lock: Any) -> None:
    first, second = make_lock(), make_lock()
    first.acquire(info(make_lock.clock), timeout=0)
    releaser = threading.Timer(0.3, first.release)
    releaser.start()
    try:
        second.acquire(info(make_lock.clock, "laptop pid 7"), timeout=20)
    finally:
        releaser.join()

    assert second.current() is not None and second.current().holder == "laptop pid 7"


def test_a_stale_lock_is_taken_over_and_its_old_holder_stops(make_lock: Any) -> None:
    dead, next_run = make_lock(), make_lock()
    dead.acquire(info(make_lock.clock, lease=15), timeout=0)

    make_lock.clock.now += timedelta(minutes=16)
    taker = info(make_lock.clock, "laptop pid 7")
    next_run.acquire(taker, timeout=0)

    assert next_run.current() == taker
    with pytest.raises(LockError, match="no longer this run's"):
        dead.renew(make_lock.clock() + timedelta(minutes=15))


def test_renewal_extends_the_lease(make_lock: Any) -> None:
    lock, other = make_lock(), make_lock()
    mine = info(make_lock.clock, lease=15)
    lock.acquire(mine, timeout=0)

    make_lock.clock.now += timedelta(minutes=10)
    lock.renew(make_lock.clock() + timedelta(minutes=15))
    make_lock.clock.now += timedelta(minutes=10)  # past the first lease, inside the renewed one

    with pytest.raises(LockHeld):
        other.acquire(info(make_lock.clock, "laptop pid 7"), timeout=0)
    assert lock.current().expires == make_lock.clock() + timedelta(minutes=5)


def test_force_unlock_takes_the_id_and_nothing_else(make_lock: Any) -> None:
    holder, operator = make_lock(), make_lock()
    mine = info(make_lock.clock)
    holder.acquire(mine, timeout=0)

    with pytest.raises(LockError, match=f"no lock with ID {uuid.UUID(int=0)}"):
        operator.force_unlock(str(uuid.UUID(int=0)))
    assert operator.force_unlock(mine.id) == mine

    assert operator.current() is None
    with pytest.raises(LockError, match="no longer this run's"):
        holder.renew(make_lock.clock() + timedelta(minutes=15))
    with pytest.raises(LockError, match="no lock is held"):
        operator.force_unlock(mine.id)


def test_of_many_runs_at_once_exactly_one_gets_the_lock(make_lock: Any) -> None:
    locks: list[ApplyLock] = [make_lock() for _ in range(6)]
    outcomes: list[str] = []
    start = threading.Barrier(len(locks))

    def run(lock: ApplyLock, number: int) -> None:
        start.wait()
        try:
            lock.acquire(info(make_lock.clock, f"run {number}"), timeout=0)
            outcomes.append("held")
        except LockHeld:
            outcomes.append("refused")

    threads = [threading.Thread(target=run, args=(lock, n)) for n, lock in enumerate(locks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["held"] + ["refused"] * 5


def test_a_vault_lock_needs_a_vault_store(tmp_path: Path) -> None:
    context = LockContext(SERVER, "ns", {}, tmp_path, {}, datetime.now)
    with pytest.raises(LockError, match=r"needs `lock\.store` naming a vault store"):
        open_lock(LockConfig(type="vault"), context)


@pytest.mark.parametrize(
    ("mount", "path", "refused"),
    [
        ("{mount}", "../../{other}/data/planted", r"lock\.path '\.\./\.\./.*' has an empty"),
        ("{mount}/../{other}", "planted", r"mount '.*/\.\./.*' has a '\.' or '\.\.' segment"),
    ],
)
def test_a_vault_lock_cannot_be_pointed_outside_its_mount(
    openbao: OpenBao, tmp_path: Path, mount: str, path: str, refused: str
) -> None:
    """'..' survives quoting and the HTTP client resolves it: without the check the lock
    record lands on another mount, or any path the token may write."""
    ours, other = new_mount(openbao), new_mount(openbao)
    store = StoreConfig(
        "vault",
        "vault",
        MappingProxyType({"address": openbao.url, "mount": mount.format(mount=ours, other=other)}),
    )
    config = LockConfig(
        type="vault",
        options=MappingProxyType({"store": "vault", "path": path.format(other=other)}),
    )
    env = {"VAULT_TOKEN": openbao.root_token}
    context = LockContext(SERVER, "ns", {"vault": store}, tmp_path, env, Clock())

    with pytest.raises(LockError, match=refused):
        open_lock(config, context).acquire(info(Clock()), timeout=0)

    assert openbao.api("GET", f"{other}/data/planted").status_code == 404


def test_a_dynamodb_lock_needs_a_table(tmp_path: Path) -> None:
    context = LockContext(SERVER, "ns", {}, tmp_path, {"AWS_REGION": "eu-west-1"}, datetime.now)
    with pytest.raises(LockError, match=r"needs `lock\.table`"):
        open_lock(LockConfig(type="dynamodb"), context)


def vault_context(openbao: OpenBao, mount: str, server: str, tmp_path: Path) -> LockContext:
    store = StoreConfig(
        "vault",
        "vault",
        MappingProxyType({"address": openbao.url, "mount": mount, "prefix": "ppm/"}),
    )
    env = {"VAULT_TOKEN": openbao.root_token}
    return LockContext(server, "data-platform", {"vault": store}, tmp_path, env, Clock())


def open_vault(context: LockContext) -> Any:
    lock = open_lock(
        LockConfig(type="vault", options=MappingProxyType({"store": "vault"})), context
    )
    lock._poll = 0.02
    return lock


def test_two_servers_sharing_a_namespace_and_a_vault_do_not_wait_for_each_other(
    openbao: OpenBao, tmp_path: Path
) -> None:
    mount = new_mount(openbao)
    ours = open_vault(vault_context(openbao, mount, SERVER, tmp_path))
    eu = open_vault(vault_context(openbao, mount, "https://ppm-eu.example.com", tmp_path))
    spelled = open_vault(vault_context(openbao, mount, "HTTPS://PPM.example.com:443/", tmp_path))
    try:
        ours.acquire(info(Clock()), timeout=0)
        eu.acquire(info(Clock(), "eu pid 1"), timeout=0)
        with pytest.raises(LockHeld):  # one server, however spelled: one lock
            spelled.acquire(info(Clock(), "laptop pid 7"), timeout=0)
        assert ours.path.startswith("ppm/locks/data-platform/") and ours.path != eu.path
    finally:
        for lock in (ours, eu, spelled):
            lock.kv.client.close()


def test_a_lock_an_older_version_holds_is_waited_for_and_broken_by_its_id(
    openbao: OpenBao, tmp_path: Path
) -> None:
    """Older versions kept one entry per namespace, at <prefix>locks/<namespace>, with the URL
    as typed in the record's key. Such a record of this server is this lock; one of another
    server sharing the namespace is not."""
    mount = new_mount(openbao)
    lock = open_vault(vault_context(openbao, mount, SERVER, tmp_path))
    clock = Clock()
    older = LockInfo(
        id=str(uuid.uuid4()),
        key="https://PPM.example.com/|data-platform",
        holder="ci@old-runner pid 9",
        operation="apply",
        created=clock(),
        expires=clock() + timedelta(minutes=15),
    )
    other_server = LockInfo(**{**vars(older), "key": "https://ppm-eu.example.com|data-platform"})
    legacy = "ppm/locks/data-platform"
    try:
        lock.kv.write(legacy, {"state": "held", **to_record(other_server)}, cas=0)
        mine = info(clock)
        lock.acquire(mine, timeout=0)  # another server's record: not this lock
        lock.release()

        lock.kv.write(legacy, {"state": "held", **to_record(older)}, cas=1)
        with pytest.raises(LockHeld, match=f"ppm-tokens force-unlock {older.id}"):
            lock.acquire(info(clock), timeout=0)
        assert lock.force_unlock(older.id) == older
        lock.acquire(info(clock), timeout=0)
        assert lock.current() is not None and lock.current().holder == "ci@runner-1 pid 42"
    finally:
        lock.kv.client.close()


def test_a_vault_lock_never_writes_over_an_entry_that_is_not_a_lock_record(
    openbao: OpenBao, tmp_path: Path
) -> None:
    """lock.path pointed at a token's secret (by a spec older than the rule that refuses it, or
    a secret written there by hand) stops the run; the secret stays as it was."""
    mount = new_mount(openbao)
    context = vault_context(openbao, mount, SERVER, tmp_path)
    lock = open_lock(
        LockConfig(type="vault", options=MappingProxyType({"store": "vault", "path": "ppm/a"})),
        context,
    )
    secret = {"token": "not-a-real-token", "token_guid": str(uuid.uuid4())}
    try:
        lock.kv.write("ppm/a", secret, cas=0)
        with pytest.raises(LockError, match=r"not a lock record.*set lock\.path"):
            lock.acquire(info(Clock()), timeout=0)
        assert lock.kv.read("ppm/a")[1] == secret
    finally:
        lock.kv.client.close()
