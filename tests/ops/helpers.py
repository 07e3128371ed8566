"""Pure-test helpers: live tokens and specs built in memory (no server, no file)."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reconciler.desired import check_bytes
from reconciler.desired.model import Spec
from reconciler.server.model import LiveToken

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def live(
    guid: str,
    description: str = "a token",
    *,
    age: timedelta = timedelta(days=1),
    lifetime: timedelta | None = timedelta(days=90),
    scope: str = "repos:read",
    resources: tuple[str, ...] = ("pypi",),
    resource_ids: tuple[str, ...] = ("id-pypi",),
    user: str = "someone@example.com",
    revoked: bool = False,
) -> LiveToken:
    created = NOW - age
    return LiveToken(
        guid=guid,
        description=description,
        user=user,
        scope=scope,
        resources=resources,
        resource_ids=resource_ids,
        created=created,
        expires=created + lifetime if lifetime is not None else None,
        revoked=NOW - timedelta(hours=1) if revoked else None,
    )


def spec_from(tokens: str, *, namespace: str = "team", header: str = "") -> Spec:
    text = textwrap.dedent(
        f"""\
        version: 1
        namespace: {namespace}
        defaults:
          expires: 90d
          rotation: {{after: 60d, before_expiry: 14d, grace: 3d}}
          store: local
        stores:
          local: {{type: file, path: /nonexistent/ppm-tokens-tests}}
        """
    )
    text += textwrap.dedent(header)
    text += "tokens:\n" + textwrap.indent(textwrap.dedent(tokens), "  ")
    spec, problems = check_bytes(
        text.encode(), file="tokens.yaml", base_dir=Path("/"), now=NOW, git_root_of=lambda p: None
    )
    assert spec is not None, problems
    return spec
