"""Identity federation, the client's side: read an OpenID Connect identity token and exchange it
at the PPM server for a short-lived PPM token (RFC 8693 at POST /__api__/token, as PPM's CLI does
with PACKAGEMANAGER_IDENTITY_TOKEN_FILE). Both tokens stay in memory, as Secrets; no message
quotes either.

The server decides the scope and lifetime of what it gives (its [IdentityFederation]
configuration); `Exchanged` says what the token carries, read from its own claims.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from reconciler import jwtinfo
from reconciler.bounded_http import event_hooks, with_deadline
from reconciler.deadline import SERVER_HTTP_SECONDS, Deadline
from reconciler.desired.model import IdentitySource, IdentityToken
from reconciler.errors import AuthError, ServerError, ServerTimeout, UsageError
from reconciler.inputs import Unreadable, parse_json
from reconciler.sanitize import for_terminal
from reconciler.secret import Secret
from reconciler.server import endpoints
from reconciler.server.retry import (
    MAX_RETRY_AFTER,
    NOT_SENT,
    backoff_delay,
    retry_after_seconds,
)
from reconciler.server.tls import tls_failure

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
ACTIONS_URL = "ACTIONS_ID_TOKEN_REQUEST_URL"
ACTIONS_TOKEN = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
TIMEOUT = 10.0
ATTEMPTS = 3

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Exchanged:
    value: Secret
    scope: str | None  # the scope the token carries (its `scopes` claim, else the answer's)
    expires: datetime | None
    guid: str | None  # its jti


def describe(source: IdentityToken) -> str:
    """Where the identity token comes from, as people name it (never the token)."""
    if source.source is IdentitySource.FILE:
        return f"the identity token file {source.value}"
    if source.source is IdentitySource.ENV:
        return f"the identity token file that {source.value} names"
    audience = f" for audience {source.value}" if source.value else ""
    return f"the GitHub Actions OIDC token{audience}"


def check_available(source: IdentityToken, env: Mapping[str, str]) -> None:
    """Raises UsageError when the identity token cannot be had here; sends nothing."""
    if source.source is IdentitySource.ENV and not env.get(str(source.value), "").strip():
        raise UsageError(
            f"server.auth is identity-federation, but {source.value} is not set: set it to the "
            "path of a file holding an OpenID Connect identity token the server trusts (or "
            "name the token with server.auth.identity_token)"
        )
    if source.source is IdentitySource.GITHUB_ACTIONS and not (
        env.get(ACTIONS_URL) and env.get(ACTIONS_TOKEN)
    ):
        raise UsageError(
            f"server.auth takes {describe(source)}, but {ACTIONS_URL} is not set: run in a "
            "GitHub Actions job with `permissions: id-token: write`"
        )


def _read_file(path: Path, what: str) -> Secret:
    try:
        return Secret(jwtinfo.read_identity_token(path))
    except OSError as exc:
        raise UsageError(f"cannot read {what} ({path}): {exc.strerror or exc}") from None
    except Unreadable as exc:
        raise UsageError(f"cannot use {what} ({path}): {exc.reason}") from None


def identity_token(
    source: IdentityToken,
    env: Mapping[str, str],
    base_dir: Path,
    client: Callable[[], httpx.Client] = lambda: httpx.Client(
        timeout=TIMEOUT, event_hooks=event_hooks()
    ),
    deadline: Deadline | None = None,
) -> Secret:
    """The identity token to exchange. A relative file is taken from `base_dir` (the spec's
    directory), as the file store's path is. Asking GitHub Actions for it is one call with its
    own overall deadline (`deadline`, else server.timeout's default), as the exchange is."""
    check_available(source, env)
    if source.source is IdentitySource.FILE:
        path = Path(str(source.value)).expanduser()
        return _read_file(path if path.is_absolute() else base_dir / path, describe(source))
    if source.source is IdentitySource.ENV:
        named = Path(env[str(source.value)].strip()).expanduser()
        return _read_file(named, describe(source))
    deadline = deadline or Deadline.start(SERVER_HTTP_SECONDS, "server.timeout")
    return _actions_token(source.value, env, client, deadline)


def _actions_token(
    audience: str | None,
    env: Mapping[str, str],
    client: Callable[[], httpx.Client],
    deadline: Deadline,
) -> Secret:
    """The job's OIDC token; GitHub's URL already has a query, `audience` is added to it."""
    params = {"audience": audience} if audience else None
    bearer = {"Authorization": f"Bearer {env[ACTIONS_TOKEN]}"}
    try:
        with client() as http:
            response = http.get(
                env[ACTIONS_URL],
                params=params,
                headers=bearer,
                timeout=deadline.httpx_timeout(http.timeout),
                extensions=with_deadline(deadline),
            )
    except httpx.TimeoutException:
        # A token service that answers a byte at a time is stopped at the deadline too.
        raise ServerTimeout(deadline.message("the GitHub Actions OIDC token request")) from None
    except httpx.HTTPError as exc:
        raise AuthError(
            f"the GitHub Actions OIDC token request failed ({type(exc).__name__})"
        ) from None
    value = None
    if response.status_code == 200:
        try:
            body = parse_json(response.content)
        except ValueError:
            body = None
        value = body.get("value") if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        raise AuthError(
            f"the GitHub Actions OIDC token request answered {response.status_code} without a "
            "token: does the job have `permissions: id-token: write`?"
        )
    return Secret(value)


def _refusal(response: httpx.Response, identity: Secret) -> str:
    """RFC 6749's error and error_description, fit to show."""
    try:
        body = parse_json(response.content)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        text = str(body["error"])
        if isinstance(body.get("error_description"), str):
            text += f": {body['error_description']}"
    else:
        text = response.text.strip()
    return for_terminal(text.replace(identity.reveal(), "(sensitive value)")[:300])


def exchange(
    client: httpx.Client,
    base_url: str,
    identity: Secret,
    *,
    now: datetime,
    deadline: Deadline | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> Exchanged:
    """The PPM token the server gives for `identity`. Retried only where nothing was made (no
    connection) or the server asked (429, 5xx): a lost answer's token expires unused. A request
    to the server: its attempts and waits fit in one deadline (server.timeout, by default
    SERVER_HTTP_SECONDS), as the driver's requests do."""
    url = base_url.rstrip("/") + endpoints.TOKEN_EXCHANGE
    where = f"POST {url}"
    deadline = deadline or Deadline.start(SERVER_HTTP_SECONDS, "server.timeout")
    form = {
        "grant_type": GRANT_TYPE,
        "subject_token": identity.reveal(),
        "subject_token_type": ID_TOKEN_TYPE,
    }
    rng = rng or random.Random()
    for attempt in range(1, ATTEMPTS + 1):
        wait: float | None = None
        try:
            response = client.post(
                url,
                data=form,
                timeout=deadline.httpx_timeout(client.timeout),
                extensions=with_deadline(deadline),
            )
        except httpx.HTTPError as exc:
            tls = tls_failure(exc)
            if tls is not None:
                raise ServerError(f"{where}: {tls}") from None
            if isinstance(exc, httpx.TimeoutException) and deadline.passed():
                raise ServerTimeout(
                    deadline.message(f"{where}: the identity token exchange")
                ) from None
            failure = f"the identity token exchange failed ({type(exc).__name__})"
            if not isinstance(exc, NOT_SENT) or attempt == ATTEMPTS:
                raise ServerError(f"{where}: {failure}") from None
        else:
            status = response.status_code
            if status == 200:
                return _exchanged(response, now, where)
            if status != 429 and status < 500:
                raise AuthError(
                    f"{where}: the server refused to exchange the identity token ({status}: "
                    f"{_refusal(response, identity)}); check that its [IdentityFederation] "
                    "configuration trusts this issuer, audience and subject"
                )
            failure = f"the server answered {status}: {_refusal(response, identity)}"
            if attempt == ATTEMPTS:
                raise ServerError(f"{where}: {failure}")
            wait = retry_after_seconds(response.headers.get("retry-after"), now)
        _log.debug("%s: attempt %d failed, trying again", where, attempt)
        backoff = backoff_delay(rng, attempt, 0.5, 5.0)
        pause = min(wait, MAX_RETRY_AFTER) if wait is not None else backoff
        if not deadline.allows(pause):
            raise ServerTimeout(deadline.gave_up(f"{where}: {failure}", attempt))
        sleep(pause)
    raise AssertionError("unreachable")  # pragma: no cover


def _exchanged(response: httpx.Response, now: datetime, where: str) -> Exchanged:
    try:
        body = parse_json(response.content)
    except ValueError:
        body = None
    value = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(value, str) or not value:
        raise ServerError(f"{where}: the answer holds no access_token")
    claims = jwtinfo.unverified_claims(value) or {}
    scope = _claimed_scope(claims)
    if scope is None and isinstance(body.get("scope"), str):
        scope = str(body["scope"])
    exp, lifetime = claims.get("exp"), body.get("expires_in")
    expires = None
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        expires = datetime.fromtimestamp(exp, now.tzinfo)
    elif isinstance(lifetime, int | float) and not isinstance(lifetime, bool):
        expires = now + timedelta(seconds=lifetime)
    return Exchanged(Secret(value), scope, expires, jwtinfo.token_guid(value))


def _claimed_scope(claims: Mapping[str, object]) -> str | None:
    """PPM tokens carry `scopes: [{"scope": ..., "resources": [...]}]`."""
    scopes = claims.get("scopes")
    if isinstance(scopes, list) and scopes and isinstance(scopes[0], dict):
        scope = scopes[0].get("scope")
        return scope if isinstance(scope, str) else None
    return None
