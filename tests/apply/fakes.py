"""An in-memory PPM server for engine tests, and a store wrapper that records and misbehaves.

The fake driver behaves like the server where apply depends on it: every create returns a fresh
value, revocation is permanent, and check_token accepts only the value of an active token.
Every call that matters lands in one ordered event log shared with the stores.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from reconciler.desired.model import (
    Policy,
    Rotation,
    Scope,
    SecretFormat,
    ServerConfig,
    Spec,
    StoreConfig,
    TokenSpec,
)
from reconciler.durations import Expiry
from reconciler.errors import CreateOutcomeUnknown, NotFoundError, StoreError
from reconciler.ownership import stored_description
from reconciler.plan.model import Action, Plan
from reconciler.secret import Secret
from reconciler.server.model import CreatedToken, LiveToken, Resource, TokenRequest
from reconciler.stores.base import KeyState, SecretMeta, SecretPayload, SecretStore
from tests.jwt_shapes import jwt_shaped

NAMESPACE = "data-platform"
SERVER_URL = "https://ppm.example.com:4242/"
START = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)

Event = tuple[str, ...]


class EventLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []

    def add(self, *event: str) -> None:
        with self._lock:
            self._events.append(event)

    @property
    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    def index(self, *event: str) -> int:
        return self.events.index(event)

    def count(self, kind: str) -> int:
        return sum(1 for e in self.events if e[0] == kind)


class Clock:
    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


class FakeDriver:
    def __init__(self, clock: Clock, log: EventLog, *, self_guid: str | None = None) -> None:
        self._clock = clock
        self._log = log
        self._lock = threading.Lock()
        self._self_guid = self_guid
        self.tokens: dict[str, LiveToken] = {}
        self._values: dict[Secret, str] = {}
        self._value_of: dict[str, Secret] = {}
        # Faults, set by tests.
        self.lost_create_responses = 0  # creates that commit but whose response is lost
        self.failed_checks = 0  # check_token calls that fail even for a good value
        self.revoke_fails_for: set[str] = set()

    def seed(
        self, name: str, description: str = "Read access", age: timedelta = timedelta(0)
    ) -> LiveToken:
        """An existing managed token, created `age` ago; returns it."""
        request = TokenRequest(
            description=stored_description(description, NAMESPACE, name),
            user="analyst@example.com",
            scope="repos:read",
            resources=("cran",),
            expires=self._clock() + timedelta(days=90) - age,
        )
        with self._lock:
            return self._commit(request, created=self._clock() - age).token

    def value_of(self, guid: str) -> Secret:
        return self._value_of[guid]

    @property
    def issued_values(self) -> list[str]:
        return [value.reveal() for value in self._value_of.values()]

    def _commit(self, request: TokenRequest, created: datetime) -> CreatedToken:
        guid = str(uuid.uuid4())
        # Shaped as PPM's: a JWT whose `jti` is the GUID.
        value = Secret(jwt_shaped(guid, signature=secrets.token_urlsafe(16)))
        token = LiveToken(
            guid=guid,
            description=request.description,
            user=request.user,
            scope=request.scope,
            resources=request.resources,
            resource_ids=(),
            created=created,
            expires=request.expires,
        )
        self.tokens[guid] = token
        self._values[value] = guid
        self._value_of[guid] = value
        return CreatedToken(token=token, value=value)

    def list_tokens(self) -> list[LiveToken]:
        self._log.add("list")
        with self._lock:
            return list(self.tokens.values())

    def list_resources(self) -> list[Resource]:
        return []

    def create_token(self, request: TokenRequest) -> CreatedToken:
        with self._lock:
            created = self._commit(request, created=self._clock())
            lose = self.lost_create_responses > 0
            if lose:
                self.lost_create_responses -= 1
        self._log.add("create", created.token.guid)
        if lose:
            raise CreateOutcomeUnknown(
                "the connection dropped after the create", request.description
            )
        return created

    def revoke_token(self, guid: str) -> None:
        with self._lock:
            token = self.tokens.get(guid)
            if token is None:
                raise NotFoundError(f"token {guid} not found")
            if guid in self.revoke_fails_for:
                raise NotFoundError(f"revoking {guid}: the server is unavailable")
            if token.revoked is None:
                self.tokens[guid] = LiveToken(**{**vars(token), "revoked": self._clock()})
        self._log.add("revoke", guid)

    def check_token(self, value: Secret, token: LiveToken) -> bool:
        with self._lock:
            live = self.tokens.get(token.guid)
            ok = (
                live is not None
                and self._values.get(value) == token.guid
                and live.is_active(self._clock())
            )
            if ok and self.failed_checks > 0:
                self.failed_checks -= 1
                ok = False
        self._log.add("check", token.guid, "ok" if ok else "failed")
        return ok

    def self_guid(self) -> str | None:
        return self._self_guid

    def close(self) -> None:
        return None

    def active(self, guid: str) -> bool:
        return self.tokens[guid].is_active(self._clock())

    def guids_for(self, name: str) -> list[str]:
        suffix = f"[ppm-tokens:{NAMESPACE}/{name}]"
        return [t.guid for t in self.tokens.values() if t.description.endswith(suffix)]


class RecordingStore:
    """Wraps a real store: logs successful puts, can fail puts, lie in read-back, or block."""

    def __init__(self, inner: SecretStore, log: EventLog) -> None:
        self.inner = inner
        self.name = inner.name
        self.capabilities = inner.capabilities
        self._log = log
        self._lock = threading.Lock()
        self.failing_puts = 0
        self.put_attempts = 0
        self.put_error: Callable[[SecretPayload], Exception] = lambda _payload: StoreError(
            f"store '{self.name}': connection refused"
        )
        self.meta_guid_override: str | None = None
        self.before_put: Callable[[str], None] = lambda _key: None

    def put(self, key: str, secret: SecretPayload) -> None:
        self.before_put(key)
        with self._lock:
            self.put_attempts += 1
            fail = self.failing_puts > 0
            if fail:
                self.failing_puts -= 1
        if fail:
            self._log.add("put-failed", key)
            raise self.put_error(secret)
        self.inner.put(key, secret)
        self._log.add("put", key, secret.meta.token_guid)

    def read_meta(self, key: str) -> SecretMeta | None:
        meta = self.inner.read_meta(key)
        if meta is not None and self.meta_guid_override is not None:
            return SecretMeta(**{**vars(meta), "token_guid": self.meta_guid_override})
        return meta

    def read_meta_many(self, keys: Sequence[str]) -> Mapping[str, SecretMeta | None]:
        return {key: self.read_meta(key) for key in keys}

    def read_states(self, keys: Sequence[str]) -> Mapping[str, KeyState]:
        states = dict(self.inner.read_states(keys))
        for key, state in states.items():
            if state.meta is not None and self.meta_guid_override is not None:
                states[key] = KeyState(meta=self.read_meta(key), pending=state.pending)
        return states

    def write_meta(self, key: str, meta: SecretMeta) -> None:
        self.inner.write_meta(key, meta)
        self._log.add("write-meta", key, meta.token_guid)

    def read_value_hash(self, key: str) -> str | None:
        return self.inner.read_value_hash(key)

    def restore_previous(self, key: str, guid: str) -> bool:
        restored = self.inner.restore_previous(key, guid)
        self._log.add("restore", key, guid, "done" if restored else "impossible")
        return restored

    def commit(self, key: str, guid: str) -> None:
        self.inner.commit(key, guid)
        self._log.add("commit", key, guid)

    def sweep(self, keys: Sequence[str]) -> tuple[str, ...]:
        return self.inner.sweep(keys)

    def delete(self, key: str) -> None:
        self.inner.delete(key)
        self._log.add("delete", key)


def token_spec(
    name: str,
    *,
    store: str = "local",
    fmt: SecretFormat = SecretFormat.RAW,
    description: str = "Read access",
) -> TokenSpec:
    return TokenSpec(
        name=name,
        user="analyst@example.com",
        description=description,
        scope=Scope.REPOS_READ,
        resources=("cran",),
        expires=Expiry(lifetime=timedelta(days=90)),
        rotation=Rotation(after=timedelta(days=60), grace=timedelta(days=3)),
        store=store,
        secret=f"ppm/{name}",
        format=fmt,
    )


def make_spec(
    tokens: tuple[TokenSpec, ...], *, protect: frozenset[str] = frozenset(), secrets_dir: str = ""
) -> Spec:
    stores = {"local": StoreConfig("local", "file", MappingProxyType({"path": secrets_dir}))}
    return Spec(
        path="tokens.yaml",
        sha256="0" * 64,
        version=1,
        namespace=NAMESPACE,
        server=ServerConfig(url=SERVER_URL),
        stores=MappingProxyType(stores),
        policy=Policy(protect=protect),
        tokens=tokens,
    )


def make_plan(*actions: Action) -> Plan:
    return Plan(
        namespace=NAMESPACE,
        server=SERVER_URL,
        generated_at=START,
        spec_path="tokens.yaml",
        spec_sha256="0" * 64,
        live_fingerprint="f" * 64,
        actions=actions,
    )
