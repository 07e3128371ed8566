"""A valid document -> the typed `Spec`, with every default applied.

Only called once the schema and the rules found no error, so the data has the right shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType

from reconciler.desired import effective
from reconciler.desired.effective import mapping
from reconciler.desired.loader import Document
from reconciler.desired.model import (
    ALL_RESOURCES,
    AuthConfig,
    AuthType,
    Driver,
    IdentitySource,
    IdentityToken,
    LockConfig,
    OnDelete,
    Policy,
    ProofMethod,
    Rotation,
    Scope,
    SecretFormat,
    ServerConfig,
    Spec,
    StoreConfig,
    StoredAdminToken,
    TokenSpec,
    TokenState,
    UnmanagedPolicy,
)
from reconciler.durations import parse_duration, parse_expiry


def build_spec(document: Document) -> Spec:
    data = mapping(document.data)
    tokens = tuple(_token(document, index) for index, _ in effective.entries(data))
    return Spec(
        path=document.file,
        sha256=document.sha256,
        version=_whole(data.get("version"), 1),
        namespace=effective.namespace(data),
        server=_server(mapping(data.get("server"))),
        stores=MappingProxyType(
            {
                name: _store(name, mapping(entry))
                for name, entry in mapping(data.get("stores")).items()
            }
        ),
        policy=_policy(mapping(data.get("policy"))),
        tokens=tokens,
        lock=_lock(mapping(data.get("lock"))),
    )


def _server(server: Mapping[str, object]) -> ServerConfig:
    url = server.get("url")
    token_env = server.get("token_env")
    timeout = server.get("timeout")
    return ServerConfig(
        url=str(url).rstrip("/") if url is not None else None,
        driver=Driver(str(server.get("driver", Driver.HTTP))),
        rspm=_argv(server.get("rspm")),
        token_env=str(token_env) if token_env is not None else None,
        auth=_auth(mapping(server.get("auth"))),
        proof=MappingProxyType(
            {Scope(k): ProofMethod(str(v)) for k, v in mapping(server.get("proof")).items()}
        ),
        timeout=float(timeout) if isinstance(timeout, int | float) else None,
    )


def _auth(auth: Mapping[str, object]) -> AuthConfig:
    if not auth:
        return AuthConfig()
    identity = mapping(auth.get("identity_token"))
    source, value = next(iter(identity.items()), (None, None))
    if source is None:
        token = IdentityToken()
    elif source == IdentitySource.GITHUB_ACTIONS:
        audience = mapping(value).get("audience")
        token = IdentityToken(IdentitySource.GITHUB_ACTIONS, str(audience) if audience else None)
    else:
        token = IdentityToken(IdentitySource(str(source)), str(value))
    named, store, secret = auth.get("token"), auth.get("store"), auth.get("secret")
    stored = StoredAdminToken(str(store), str(secret)) if store and secret else None
    return AuthConfig(
        type=AuthType(str(auth.get("type"))),
        identity_token=token,
        token=str(named) if named else None,
        stored=stored,
    )


def _store(name: str, entry: Mapping[str, object]) -> StoreConfig:
    options = {key: _frozen(value) for key, value in entry.items() if key != "type"}
    return StoreConfig(name=name, type=str(entry["type"]), options=MappingProxyType(options))


def _lock(lock: Mapping[str, object]) -> LockConfig:
    if not lock:
        return LockConfig()
    lease = lock.get("lease")
    options = {k: _frozen(v) for k, v in lock.items() if k not in ("type", "lease")}
    return LockConfig(
        type=str(lock.get("type", "local")),
        lease=parse_duration(lease) if isinstance(lease, str) else LockConfig().lease,
        options=MappingProxyType(options),
    )


def _argv(value: object) -> tuple[str, ...] | None:
    """A program as the schema allows it: one path, or a list of words (a wrapper command)."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(word) for word in value)
    return None


def _whole(value: object, default: int) -> int:
    """A number the schema types as an integer. JSON Schema counts 1.0 as the integer 1, so
    `version: 1.0` or `max_revokes: 5.0` pass it and mean 1 and 5."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return default


def _frozen(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)  # see _whole: a store's `recovery_window_days: 7.0` means 7
    if isinstance(value, list):
        return tuple(_frozen(item) for item in value)
    if isinstance(value, dict):
        return MappingProxyType({key: _frozen(item) for key, item in value.items()})
    return value


def _policy(policy: Mapping[str, object]) -> Policy:
    max_expires = policy.get("max_expires")
    protect = policy.get("protect")
    max_revokes = policy.get("max_revokes")
    return Policy(
        max_expires=parse_duration(max_expires) if isinstance(max_expires, str) else None,
        allow_never_expires=policy.get("allow_never_expires") is True,
        unmanaged=UnmanagedPolicy(str(policy.get("unmanaged", UnmanagedPolicy.REPORT))),
        protect=frozenset(str(guid).lower() for guid in protect)
        if isinstance(protect, list)
        else frozenset(),
        max_revokes=_whole(max_revokes, Policy().max_revokes),
    )


def _optional_duration(value: object) -> timedelta | None:
    return None if value in (None, "none") else parse_duration(str(value))


def _token(document: Document, index: int) -> TokenSpec:
    data = document.data
    token = effective.token(data, index)
    name = str(token["name"])
    state = TokenState(str(token.get("state", TokenState.PRESENT)))
    # An absent token may omit its scope; it is revoked whatever it could do.
    scope = Scope(
        str(token["scope"] if state is TokenState.PRESENT else token.get("scope", "repos:read"))
    )
    written = token.get("resources")
    if written == ALL_RESOURCES:
        written = [ALL_RESOURCES]  # the shorthand `resources: "*"`
    if scope.resource_kind is None:
        resources: tuple[str, ...] = ()
    elif isinstance(written, list) and written:
        names = [str(item) for item in written]
        resources = (ALL_RESOURCES,) if ALL_RESOURCES in names else tuple(sorted(names))
    else:
        # Only an absent token gets here (the rules demand resources otherwise); it is
        # revoked whatever it could read, so "all" is the honest placeholder.
        resources = (ALL_RESOURCES,)
    adopt = token.get("adopt")

    def setting(key: str) -> object:
        return effective.setting(data, index, key).value

    def rotation(key: str) -> object:
        return effective.rotation_setting(data, index, key).value

    def required(key: str) -> str:
        # Only an absent token may lack these (it is revoked, never created); a present one
        # without them would reach the server with an empty field, so that is a bug here.
        if key not in token and state is TokenState.ABSENT:
            return ""
        return str(token[key])

    return TokenSpec(
        name=name,
        user=required("user"),
        description=required("description"),
        scope=scope,
        resources=resources,
        expires=parse_expiry(setting("expires")),
        rotation=Rotation(
            after=_optional_duration(rotation("after")),
            before_expiry=_optional_duration(rotation("before_expiry")),
            grace=parse_duration(str(rotation("grace"))),
        ),
        store=str(setting("store")),
        secret=str(effective.secret_name(data, index).value),
        format=SecretFormat(str(setting("format"))),
        on_delete=OnDelete(str(setting("on_delete"))),
        adopt=str(adopt).lower() if adopt is not None else None,
        state=state,
        line=document.at(("tokens", index)).line,
    )
