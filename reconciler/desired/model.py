"""The typed, validated desired state. Built by `reconciler.desired.load`; never built from raw YAML
anywhere else. Defaults are already applied: every field holds its effective value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType

from reconciler.durations import Expiry
from reconciler.problems import Problem

ALL_RESOURCES = "*"


class Scope(StrEnum):
    GLOBAL_ADMIN = "global:admin"
    REPOS_READ = "repos:read"
    SOURCES_WRITE = "sources:write"
    SOURCES_ADMIN = "sources:admin"
    BLOCKLIST_READ = "blocklist:read"
    BLOCKLIST_ADMIN = "blocklist:admin"
    METADATA_READ = "metadata:read"
    METADATA_ADMIN = "metadata:admin"

    @property
    def resource_kind(self) -> str | None:
        """ "repo", "source", or None for scopes that take no resources."""
        if self is Scope.REPOS_READ:
            return "repo"
        if self in (Scope.SOURCES_WRITE, Scope.SOURCES_ADMIN):
            return "source"
        return None


class SecretFormat(StrEnum):
    """What a store holds, each for the clients that read it as it is (docs/consuming-tokens.md);
    every one is proven with those clients in tests/consumers."""

    RAW = "raw"  # the token alone: environment variables, CI secrets
    JSON = "json"  # {"token", "guid", "server", "expires", "scope", "name"}: fields to pick
    NETRC = "netrc"  # machine HOST login __token__ password VALUE: pip, uv, curl, pak, R (curl)


class OnDelete(StrEnum):
    KEEP = "keep"
    DELETE = "delete"


class TokenState(StrEnum):
    PRESENT = "present"
    # Declared gone: every generation is revoked and, with on_delete: delete, the secret deleted.
    # Removing the entry from the file revokes too, but then the store entry is unknown.
    ABSENT = "absent"


class UnmanagedPolicy(StrEnum):
    REPORT = "report"
    REVOKE = "revoke"
    IGNORE = "ignore"


class Driver(StrEnum):
    HTTP = "http"
    RSPM = "rspm"


@dataclass(frozen=True)
class Rotation:
    after: timedelta | None = None  # rotate when the current token is this old
    before_expiry: timedelta | None = None  # rotate when it expires within this
    grace: timedelta = timedelta(0)  # the replaced token stays valid this long


@dataclass(frozen=True)
class StoreConfig:
    name: str  # the key under `stores:`
    type: str  # file | command | vault | aws | github
    options: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Policy:
    max_expires: timedelta | None = None
    allow_never_expires: bool = False
    unmanaged: UnmanagedPolicy = UnmanagedPolicy.REPORT
    protect: frozenset[str] = frozenset()
    # An apply revoking more than this many tokens (or more than half of the namespace's
    # managed tokens) needs --allow-mass-revoke.
    max_revokes: int = 10


@dataclass(frozen=True)
class LockConfig:
    """`lock:` in the spec: where the apply lock lives (see reconciler.locks.base)."""

    type: str = "local"  # local | file | vault | dynamodb
    lease: timedelta = timedelta(minutes=15)  # stale after this without renewal
    options: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))


DEFAULT_RSPM = ("rspm",)
# What PPM's own CLI reads: the path of a file holding an OpenID Connect identity token.
IDENTITY_TOKEN_FILE_VARIABLE = "PACKAGEMANAGER_IDENTITY_TOKEN_FILE"


class AuthType(StrEnum):
    TOKEN = "token"  # a stored global:admin token (--token-file, token_env, PACKAGEMANAGER_TOKEN)
    IDENTITY_FEDERATION = "identity-federation"  # exchange an identity token (RFC 8693)


class IdentitySource(StrEnum):
    FILE = "file"  # a path
    ENV = "env"  # a variable holding the path of the file
    GITHUB_ACTIONS = "github_actions"  # the job's OIDC token, requested for an audience


@dataclass(frozen=True)
class IdentityToken:
    """Where the identity token to exchange comes from; `value` is the path (file), the
    variable's name (env) or the audience (github_actions, None: GitHub's default)."""

    source: IdentitySource = IdentitySource.ENV
    value: str | None = IDENTITY_TOKEN_FILE_VARIABLE


@dataclass(frozen=True)
class StoredAdminToken:
    """Where a stored admin token is read from: a store's key."""

    store: str  # a key of Spec.stores
    secret: str


@dataclass(frozen=True)
class AuthConfig:
    type: AuthType = AuthType.TOKEN
    identity_token: IdentityToken = field(default_factory=IdentityToken)
    # type token only. `token`: the declared global:admin token that is the run's own
    # credential: read from its store and rotated by apply like any other (the spec's self
    # token). `stored`: a store key to read the admin token from, kept by someone else (another
    # spec's self token). At most one of them; neither: the environment alone.
    token: str | None = None
    stored: StoredAdminToken | None = None


class ProofMethod(StrEnum):
    REQUEST = "request"  # a request only the scope may make, refused without a token
    # The weaker proof, declared per scope for servers where no request can prove it: the
    # listing shows the new GUID with its scope and resources, active, and the value's jti is
    # that GUID. The value itself is never tried; audit reports it.
    LISTED = "listed"


@dataclass(frozen=True)
class ServerConfig:
    url: str | None = None
    driver: Driver = Driver.HTTP
    # The argv prefix that runs PPM's CLI: a path, or a wrapper such as
    # ("kubectl", "exec", "deploy/ppm", "--", "rspm"). None: not set in the spec.
    rspm: tuple[str, ...] | None = None
    # The environment variable holding this server's admin token, for repositories whose specs
    # reach several servers (else PACKAGEMANAGER_TOKEN). A name, never the token.
    token_env: str | None = None
    # Seconds each request to the server, or each rspm command, may take, retries included.
    # None: the defaults in reconciler.deadline (60 s for a request, 120 s for a command).
    timeout: float | None = None
    auth: AuthConfig = field(default_factory=AuthConfig)
    # Scopes declared with a proof other than the default request (server.proof).
    proof: Mapping[Scope, ProofMethod] = field(default_factory=lambda: MappingProxyType({}))

    def proof_method(self, scope: str) -> ProofMethod:
        known = next((s for s in Scope if s.value == scope), None)
        return self.proof.get(known, ProofMethod.REQUEST) if known else ProofMethod.REQUEST

    def listed_scopes(self) -> frozenset[str]:
        """The scopes whose new tokens are proven by the listing only."""
        return frozenset(s.value for s, m in self.proof.items() if m is ProofMethod.LISTED)


@dataclass(frozen=True)
class TokenSpec:
    name: str
    user: str
    description: str  # as written, without the ownership marker
    scope: Scope
    resources: tuple[str, ...]  # sorted names, or ("*",); () for scopes without resources
    expires: Expiry
    rotation: Rotation
    store: str  # a key of Spec.stores
    secret: str  # key/name/path inside the store (defaults to the token name)
    format: SecretFormat = SecretFormat.RAW
    on_delete: OnDelete = OnDelete.KEEP
    adopt: str | None = None  # GUID of an existing unmanaged token to manage until it rotates
    state: TokenState = TokenState.PRESENT
    line: int = 0  # where the entry starts in the file, for messages


@dataclass(frozen=True)
class TimeProblem:
    """An error of a rule that reads the date (Problem.clock), as the spec stands on the day it
    was loaded. `validate` refuses the spec; plan and apply report it and keep `token` as it is
    (nothing created, rotated or repaired for it), so the passing of time stops no other token."""

    problem: Problem
    token: str | None  # the present token it concerns; None: no token takes the value


@dataclass(frozen=True)
class Spec:
    path: str
    sha256: str  # of the file's bytes: recorded in saved plans
    version: int
    namespace: str
    server: ServerConfig
    stores: Mapping[str, StoreConfig]
    policy: Policy
    tokens: tuple[TokenSpec, ...]
    lock: LockConfig = field(default_factory=LockConfig)
    time_problems: tuple[TimeProblem, ...] = ()

    def token(self, name: str) -> TokenSpec | None:
        return next((t for t in self.tokens if t.name == name), None)

    @property
    def self_token(self) -> TokenSpec | None:
        """The declared token that is the admin token this spec's runs authenticate with
        (server.auth.token), which apply rotates like any other."""
        name = self.server.auth.token
        return self.token(name) if name is not None else None

    def admin_store(self) -> StoredAdminToken | None:
        """Where the admin token is read from when neither --token-file nor the environment
        gives one: the self token's store and secret, or server.auth's store and secret."""
        auth = self.server.auth
        if auth.type is not AuthType.TOKEN:
            return None
        declared = self.self_token
        if declared is not None:
            return StoredAdminToken(declared.store, declared.secret)
        return auth.stored
