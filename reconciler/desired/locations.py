"""Where a declared secret lives, as a value two declarations can be compared by.

Two tokens that write one place overwrite each other on every apply, whichever store entries
they go through: `path: X` and `path: X/`; a Vault address with and without a trailing slash;
`prefix: ppm/x/` with secret `y` and `prefix: ppm/` with secret `x/y`. `secret_locations` gives,
per store type, the places a token's secret takes, from the spec's options and the environment
the store would read (VAULT_ADDR, AWS_REGION, ...); the spec rules refuse two tokens of one spec
that share one (with an empty environment: what the spec itself says), the several-spec checks
two tokens of any specs (with the run's environment).

    file     the secret's file: the store's directory resolved (~, relative to the spec's
             directory, through symbolic links) joined with the key
    vault    the address's identity (reconciler.urls), the Vault namespace, the mount, and
             prefix + key, the path the store writes
    aws      the region, the endpoint's identity (if any) and prefix + key; the account is the
             one of the run's credentials, the same for every store
    github   the API's identity, the repository (and environment) or the organization, and the
             secret's name, case-insensitive as GitHub's names are
    command  the argv with {secret} and {name} filled in (with the key beside it when the argv
             names neither: the program is told PPM_TOKENS_SECRET), and the metadata file the
             store keeps in its state_dir, a file-system place like a file store's

No network, no store opened.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.desired.command_rules import command_argv, default_state_dir
from reconciler.desired.github_rules import DEFAULT_API_URL
from reconciler.errors import StoreError
from reconciler.urls import server_identity


@dataclass(frozen=True)
class SecretLocation:
    """One place a secret takes. Equal places are one place, however the spec wrote them."""

    place: tuple[str, ...]
    shown: str = field(compare=False)  # for people: "Vault https://vault.example.com, secret/a"


@dataclass(frozen=True)
class DeclaredSecret:
    """One token's secret as the spec declares it, and what its location is read against."""

    store: str  # the store's name in the spec
    store_type: str
    options: Mapping[str, object]  # the store's options as written
    key: str  # the token's `secret` (its name by default)
    token: str  # the token's name, which a command's {name} becomes
    spec_dir: Path  # relative paths are relative to the spec's directory
    env: Mapping[str, str]  # what the store reads besides its options; empty: the spec alone

    def text(self, option: str) -> str | None:
        value = self.options.get(option)
        return value if isinstance(value, str) and value.strip() else None


LocationRule = Callable[[DeclaredSecret], tuple[SecretLocation, ...]]


def resolve_store_path(text: str, base_dir: Path) -> Path:
    """A file store's directory as the store opens it: a leading `~` or `~/` is the home
    directory, a relative path is taken from the spec's directory."""
    path = Path(text).expanduser() if text == "~" or text.startswith("~/") else Path(text)
    return path if path.is_absolute() else base_dir / path


def _file_place(directory: Path, key: str) -> Path:
    """The directory through its symbolic links, as the store opens it, joined with the key:
    the key's own components are plain names (spec rules) and the store follows no link below
    its directory, so they need no resolving."""
    return _resolved(directory.absolute()) / key  # absolute first: the cache outlives a chdir


@functools.lru_cache(maxsize=256)
def _resolved(directory: Path) -> Path:
    # Once per store directory: ten thousand tokens in one store are one resolve, not 10,000.
    with contextlib.suppress(OSError, ValueError, RuntimeError):
        return directory.resolve()
    return directory


def _file(secret: DeclaredSecret) -> tuple[SecretLocation, ...]:
    written = secret.text("path")
    if written is None:
        return _as_configured(secret)
    try:
        directory = resolve_store_path(written.strip(), secret.spec_dir)
    except RuntimeError:  # no home directory to expand ~ into: the store will say so
        return _as_configured(secret)
    path = _file_place(directory, secret.key)
    return (SecretLocation(("file", str(path)), f"the file {path}"),)


def _vault(secret: DeclaredSecret) -> tuple[SecretLocation, ...]:
    address = secret.env.get("VAULT_ADDR") or secret.text("address") or ""
    namespace = (secret.env.get("VAULT_NAMESPACE") or secret.text("namespace") or "").strip("/")
    mount = (secret.text("mount") or "").strip("/")
    path = (secret.text("prefix") or "") + secret.key
    vault = server_identity(address)
    within = f" namespace {namespace}" if namespace else ""
    return (
        SecretLocation(
            ("vault", vault, namespace, mount, path), f"Vault {vault}{within}, {mount}/{path}"
        ),
    )


def _aws(secret: DeclaredSecret) -> tuple[SecretLocation, ...]:
    env = secret.env
    region = secret.text("region") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or ""
    endpoint = (
        secret.text("endpoint_url")
        or env.get("AWS_ENDPOINT_URL_SECRETSMANAGER")
        or env.get("AWS_ENDPOINT_URL")
        or ""
    )
    endpoint = server_identity(endpoint) if endpoint else ""
    name = (secret.text("prefix") or "") + secret.key
    where = region or "the environment's region"
    at = f" at {endpoint}" if endpoint else ""
    return (
        SecretLocation(
            ("aws", region.strip().lower(), endpoint, name),
            f"AWS Secrets Manager secret {name} in {where}{at}",
        ),
    )


def _github(secret: DeclaredSecret) -> tuple[SecretLocation, ...]:
    api = server_identity(
        secret.text("api_url") or secret.env.get("GITHUB_API_URL") or DEFAULT_API_URL
    )
    repository, organization = secret.text("repository"), secret.text("organization")
    environment = secret.text("environment") or ""
    if repository:
        target: tuple[str, ...] = ("repository", repository.lower(), environment.lower())
        label = repository + (f" environment {environment}" if environment else "")
    else:
        target = ("organization", (organization or "").lower(), "")
        label = f"organization {organization}"
    # GitHub's names (owners, repositories, environments, secrets) are case-insensitive.
    name = secret.key.upper()
    return (
        SecretLocation(
            ("github", api, *target, name), f"GitHub Actions secret {name} of {label} ({api})"
        ),
    )


def _command(secret: DeclaredSecret) -> tuple[SecretLocation, ...]:
    template = secret.options.get("command")
    if not _is_argv(template):
        return _as_configured(secret)
    assert isinstance(template, list | tuple)
    argv = command_argv(template, secret=secret.key, name=secret.token)
    told = () if argv != list(template) else (f"PPM_TOKENS_SECRET={secret.key}",)
    shown = " ".join(argv + list(told))
    command = SecretLocation(("command", *argv, *told), f"the command `{shown}`")
    return (command, _state_file(secret))


def _state_file(secret: DeclaredSecret) -> SecretLocation:
    """Where the command store keeps the secret's metadata: `<state_dir>/<key>.meta.json`, a
    file-system place like a file store's. Without an environment to read, the default
    state_dir is named, not found: it is one directory per store name for every spec."""
    written = secret.text("state_dir")
    directory: Path | None = None
    with contextlib.suppress(RuntimeError, StoreError):
        if written is not None:
            directory = resolve_store_path(written.strip(), secret.spec_dir)
        elif secret.env:
            directory = default_state_dir(secret.store, secret.env)
    if directory is None:
        shown = f"the metadata of {secret.key} in the default state_dir of store {secret.store}"
        return SecretLocation(("state_dir", secret.store, secret.key), shown)
    path = _file_place(directory, secret.key)
    return SecretLocation(("file", str(path)), f"the metadata file {path}.meta.json")


def _is_argv(value: object) -> bool:
    return (
        isinstance(value, list | tuple)
        and bool(value)
        and all(isinstance(part, str) for part in value)
    )


def _as_configured(secret: DeclaredSecret) -> tuple[SecretLocation, ...]:
    """A store whose options do not say where it writes (a type without a rule, options the
    schema refuses): its type, options and key, as written."""
    options = tuple(f"{key}={value!r}" for key, value in sorted(secret.options.items()))
    return (
        SecretLocation(
            (secret.store_type, *options, secret.key),
            f"secret {secret.key} of a {secret.store_type} store with the same settings",
        ),
    )


LOCATIONS: dict[str, LocationRule] = {
    "file": _file,
    "vault": _vault,
    "aws": _aws,
    "github": _github,
    "command": _command,
}


def secret_locations(secret: DeclaredSecret) -> tuple[SecretLocation, ...]:
    """Every place `secret` takes (most store types: one)."""
    rule = LOCATIONS.get(secret.store_type, _as_configured)
    return rule(secret)
