"""Rules for `server.auth` that the schema cannot say: which settings go with which type, and
variable names that must never be tokens pasted by mistake (such values are never quoted)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Protocol

from reconciler.desired.effective import mapping
from reconciler.desired.loader import JsonPath
from reconciler.desired.model import AuthType, IdentitySource
from reconciler.problems import Problem

VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Context(Protocol):
    @property
    def data(self) -> object: ...

    def error(self, path: JsonPath, message: str, *, on_key: bool = False) -> Problem: ...


def auth_problems(ctx: _Context) -> Iterator[Problem]:
    server = mapping(mapping(ctx.data).get("server"))
    auth = mapping(server.get("auth"))
    kind = auth.get("type")
    if kind == AuthType.TOKEN and "identity_token" in auth:
        yield ctx.error(
            ("server", "auth", "identity_token"),
            "server.auth.identity_token is for type identity-federation; with type token the "
            "admin token comes from --token-file, server.token_env or PACKAGEMANAGER_TOKEN, "
            "or a store (server.auth.token, server.auth.store)",
            on_key=True,
        )
    if kind == AuthType.IDENTITY_FEDERATION and "token_env" in server:
        # Two answers to "where does the admin token come from" would leave one unused, and a
        # reader of the spec could not tell which.
        yield ctx.error(
            ("server", "token_env"),
            "server.token_env names a stored admin token, but server.auth is "
            "identity-federation: remove one of them",
            on_key=True,
        )
    variable = mapping(auth.get("identity_token")).get(IdentitySource.ENV.value)
    if isinstance(variable, str) and variable and not VARIABLE_NAME.fullmatch(variable):
        yield ctx.error(
            ("server", "auth", "identity_token", IdentitySource.ENV.value),
            "server.auth.identity_token.env must be the name of an environment variable that "
            "holds the identity token file's path (letters, digits and _, like "
            "PACKAGEMANAGER_IDENTITY_TOKEN_FILE), never a token (the value is not shown)",
        )
