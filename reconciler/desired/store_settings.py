"""What `validate` can say offline about each store's settings, beyond the schema's shapes:
the places a store would write (a file store's directory, a vault mount or namespace), the AWS
region a client would sign for, the variables a command store's programs would get.

Each check is a pure rule of the store type's module (reconciler.desired.*_rules); this module
only finds the values in the document and reports where they are.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from reconciler.desired import aws_rules, vault_rules
from reconciler.desired.command_rules import (
    ADMIN_TOKEN_VARIABLE,
    env_name_problem,
    is_variable_name,
)
from reconciler.desired.effective import mapping
from reconciler.desired.file_rules import SUGGESTION, written_path_problem
from reconciler.problems import Problem
from reconciler.sanitize import quoted

if TYPE_CHECKING:
    from reconciler.desired.rules import Context


def store_settings(ctx: Context) -> Iterator[Problem]:
    for name, store in mapping(ctx.data.get("stores")).items():
        entry = mapping(store)
        check = _BY_TYPE.get(str(entry.get("type")))
        if check is not None:
            yield from check(ctx, name, entry)
    lock = mapping(ctx.data.get("lock"))
    region = lock.get("region")
    if lock.get("type") == "dynamodb" and isinstance(region, str):
        endpoint = isinstance(lock.get("endpoint_url"), str)
        if problem := aws_rules.region_problem(region, endpoint=endpoint):
            yield ctx.error(("lock", "region"), f"lock {problem}")


def _directory(ctx: Context, name: str, entry: Mapping[str, object], key: str) -> Iterator[Problem]:
    """A directory the store owns (writes, replaces and deletes files in) must be its own."""
    written = entry.get(key)
    if not isinstance(written, str):
        return
    base = PurePosixPath(ctx.base_dir) if ctx.base_dir.is_absolute() else None
    reason = written_path_problem(written.strip(), base)
    if reason is not None:
        yield ctx.error(
            ("stores", name, key),
            f"store {quoted(name)} {key}: {written} {reason}: {SUGGESTION}"
            + (" (or leave state_dir out for its default)" if key == "state_dir" else ""),
        )


def _file(ctx: Context, name: str, entry: Mapping[str, object]) -> Iterator[Problem]:
    yield from _directory(ctx, name, entry, "path")


def _command(ctx: Context, name: str, entry: Mapping[str, object]) -> Iterator[Problem]:
    yield from _directory(ctx, name, entry, "state_dir")
    names = entry.get("env")
    if not isinstance(names, list):
        return
    token_env = mapping(ctx.data.get("server")).get("token_env")
    withheld = {ADMIN_TOKEN_VARIABLE, *([token_env] if isinstance(token_env, str) else [])}
    for index, variable in enumerate(names):
        if not (isinstance(variable, str) and is_variable_name(variable)):
            continue  # the schema reports it
        if problem := env_name_problem(variable, withheld):
            path = ("stores", name, "env", index)
            yield ctx.error(path, f"store {quoted(name)} env: {variable} {problem}")


def _vault(ctx: Context, name: str, entry: Mapping[str, object]) -> Iterator[Problem]:
    """Where a vault store (and a vault lock beside it) would read and write: never outside
    its mount, which `..` segments would reach once the HTTP client resolves them, nor in
    Vault's own paths."""
    mount, prefix = entry.get("mount"), entry.get("prefix")
    if isinstance(mount, str) and (problem := vault_rules.mount_problem(mount)):
        fix = "" if "name the KV v2 mount" in problem else ": name the KV v2 mount, e.g. secret"
        yield ctx.error(
            ("stores", name, "mount"), f"store {quoted(name)} mount {quoted(mount)} {problem}{fix}"
        )
    if isinstance(prefix, str) and (problem := vault_rules.prefix_problem(prefix)):
        yield ctx.error(("stores", name, "prefix"), f"store {quoted(name)} {problem}")
    namespace = entry.get("namespace")
    if isinstance(namespace, str) and (problem := vault_rules.namespace_problem(namespace)):
        yield ctx.error(
            ("stores", name, "namespace"),
            f"store {quoted(name)} namespace {quoted(namespace)} {problem}: write the namespace "
            "path, e.g. admin/data-platform",
        )
    auth_mount = entry.get("auth_mount")
    if isinstance(auth_mount, str) and (problem := vault_rules.path_problem(auth_mount)):
        yield ctx.error(
            ("stores", name, "auth_mount"),
            f"store {quoted(name)} auth_mount {quoted(auth_mount)} {problem}: write the path the "
            "auth method is mounted at, below auth/, e.g. jwt",
        )


def _aws(ctx: Context, name: str, entry: Mapping[str, object]) -> Iterator[Problem]:
    region = entry.get("region")
    if not isinstance(region, str) or not region:
        return  # the schema reports it
    endpoint = isinstance(entry.get("endpoint_url"), str)
    if problem := aws_rules.region_problem(region, endpoint=endpoint):
        yield ctx.error(("stores", name, "region"), f"store {quoted(name)} {problem}")


_BY_TYPE = {"file": _file, "command": _command, "vault": _vault, "aws": _aws}
