"""The `github` store: GitHub Actions secrets (repository, environment or organization).

A secret is written sealed with the target's libsodium public key (PyNaCl, extra `github`), as
GitHub requires; GitHub never gives a secret back. So the metadata lives beside it in an Actions
variable `<SECRET>_PPM_TOKENS_META` (JSON, no value). Before the secret is written, the variable
takes the intent of the write (`PendingWrite`: which token, which tokens the secret may hold
before it, the promise); after it, the metadata. The metadata counts only while the secret is
no newer than it: a secret set by hand later makes the planner repair it. An intent left behind
(the secret written, the variable not: kill -9, or a token that may write secrets but not
variables, whose intent is refused before any secret is written) tells the next run which tokens
the secret may hold.

What it cannot promise: it cannot read a value back, and cannot go back to the previous value
(`restore_previous` returns False once a secret write may have landed): after an unconfirmed
write, apply keeps the new token alive and reports it.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from reconciler.backends.http_retry import json_object
from reconciler.desired import store_options
from reconciler.desired.github_rules import (
    DEFAULT_API_URL,
    key_problem,
    metadata_variable,
    payload_problem,
)
from reconciler.errors import StoreError
from reconciler.inputs import parse_json
from reconciler.secret import Secret
from reconciler.stores.base import (
    KeyState,
    PendingWrite,
    SecretMeta,
    SecretPayload,
    StoreCapabilities,
    StoredValue,
)
from reconciler.stores.before_put import BeforePuts
from reconciler.stores.github_api import (
    DEFAULT_RETRY,
    GitHubApi,
    Target,
    organization_target,
    repository_target,
)

if TYPE_CHECKING:
    from reconciler.desired.model import StoreConfig
    from reconciler.stores.registry import StoreContext

VISIBILITIES = ("all", "private", "selected")
SECRETS_PER_PAGE = 100
VARIABLES_PER_PAGE = 30  # GitHub's maximum for variables


def seal(public_key: str, payload: Secret) -> str:
    """The payload in a libsodium sealed box for `public_key` (base64), base64-encoded."""
    from nacl.public import PublicKey, SealedBox

    box = SealedBox(PublicKey(base64.b64decode(public_key)))
    return base64.b64encode(box.encrypt(payload.reveal().encode())).decode()


def _timestamp(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _strings(variable: Mapping[str, Any] | None) -> dict[str, str]:
    if variable is None:
        return {}
    try:
        data = parse_json(str(variable.get("value", "")))
        return {str(k): str(v) for k, v in dict(data).items()}
    except (ValueError, TypeError):
        return {}


def meta_of(
    variable: Mapping[str, Any] | None, secret: Mapping[str, Any] | None
) -> SecretMeta | None:
    """The metadata a variable records, if it still describes the secret."""
    if variable is None or secret is None:
        return None
    written = _timestamp(variable.get("updated_at"))
    changed = _timestamp(secret.get("updated_at"))
    if written is not None and changed is not None and changed > written:
        return None  # the secret was set again after its metadata: not ours any more
    try:
        return SecretMeta.from_strings(_strings(variable))
    except (ValueError, KeyError):
        return None


def state_of(variable: Mapping[str, Any] | None, secret: Mapping[str, Any] | None) -> KeyState:
    """What a secret and its variable say: metadata, or the intent of an unfinished write
    (where no secret exists at all, that write's value certainly never landed)."""
    pending = PendingWrite.from_strings(_strings(variable))
    if pending is None:
        return KeyState(meta=meta_of(variable, secret))
    return KeyState(pending=pending, value=StoredValue(None) if secret is None else None)


class GitHubStore:
    """See the module docstring."""

    capabilities = StoreCapabilities(readable_values=False, restorable=False, remote=True)

    def __init__(
        self,
        name: str,
        api: GitHubApi,
        target: Target,
        *,
        visibility: str | None = None,
        selected_repositories: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.api = api
        self.target = target
        self.visibility = visibility
        self.selected_repositories = tuple(selected_repositories)
        self._selected_ids: list[int] | None = None
        self._key: tuple[str, str] | None = None  # (key_id, key)
        # (key, token GUID) of every secret PUT that may have landed, until its commit: the
        # metadata variable cannot say so when its own write is what failed.
        self._sent: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        # What the metadata variable held before the intent of a put: (existed, value).
        self._before: BeforePuts[tuple[bool, str]] = BeforePuts()

    def _check_key(self, key: str) -> None:
        if problem := key_problem(key):
            raise StoreError(f"store '{self.name}': secret name {key!r} {problem}")

    def _scope_fields(self) -> dict[str, Any]:
        """Organization secrets and variables say which repositories see them."""
        if not self.target.organization:
            return {}
        fields: dict[str, Any] = {"visibility": self.visibility or "private"}
        if fields["visibility"] == "selected":
            if self._selected_ids is None:
                self._selected_ids = [self.api.repository_id(r) for r in self.selected_repositories]
            fields["selected_repository_ids"] = self._selected_ids
        return fields

    def _public_key(self, *, fresh: bool = False) -> tuple[str, str]:
        if self._key is None or fresh:
            response = self.api.request(
                "GET", f"{self.target.base}/secrets/public-key", what="public key"
            )
            if response.status_code != 200:
                raise self.api.failure(response, "reading the public key", self.target)
            body = json_object(response, f"store '{self.api.store}': reading the public key")
            if not isinstance(body.get("key_id"), str) or not isinstance(body.get("key"), str):
                raise StoreError(
                    f"store '{self.api.store}': the public key answer has no key_id and key"
                )
            self._key = (body["key_id"], body["key"])
        return self._key

    # -- reads --------------------------------------------------------------------------------

    def _get(self, kind: str, name: str) -> Mapping[str, Any] | None:
        response = self.api.request(
            "GET", f"{self.target.base}/{kind}/{name}", what=f"reading {kind[:-1]} {name}"
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self.api.failure(response, f"reading {kind[:-1]} {name}", self.target)
        return json_object(response, f"store '{self.api.store}': reading {kind[:-1]} {name}")

    def read_meta(self, key: str) -> SecretMeta | None:
        self._check_key(key)
        variable = self._get("variables", metadata_variable(key))
        if variable is None:
            return None
        return meta_of(variable, self._get("secrets", key))

    def read_meta_many(self, keys: Sequence[str]) -> Mapping[str, SecretMeta | None]:
        return {key: state.meta for key, state in self.read_states(keys).items()}

    def read_states(self, keys: Sequence[str]) -> Mapping[str, KeyState]:
        """Two listings (secrets, variables), paged, for any number of keys."""
        for key in keys:
            self._check_key(key)
        secrets = {
            str(s["name"]).upper(): s
            for s in self.api.pages(
                f"{self.target.base}/secrets",
                "secrets",
                what="listing secrets",
                target=self.target,
                per_page=SECRETS_PER_PAGE,
            )
        }
        variables = {
            str(v["name"]).upper(): v
            for v in self.api.pages(
                f"{self.target.base}/variables",
                "variables",
                what="listing variables",
                target=self.target,
                per_page=VARIABLES_PER_PAGE,
            )
        }
        return {
            key: state_of(variables.get(metadata_variable(key)), secrets.get(key)) for key in keys
        }

    def read_value_hash(self, key: str) -> str | None:
        return None  # secrets are write-only

    # -- writes -------------------------------------------------------------------------------

    def put(self, key: str, secret: SecretPayload) -> None:
        self._check_key(key)
        if problem := payload_problem(len(secret.payload.reveal().encode())):
            raise StoreError(f"store '{self.name}': the payload for {key!r} {problem}")
        meta_json = json.dumps(secret.meta.to_strings(), sort_keys=True)
        sent = (key, secret.meta.token_guid)
        with self._lock:
            sent_before = sent in self._sent
        if not sent_before:
            # Refused (a token that may write secrets but not variables): nothing is written.
            self._write_intent(key, secret.meta)
        for attempt in range(2):
            key_id, public_key = self._public_key(fresh=attempt > 0)
            body = {
                "encrypted_value": seal(public_key, secret.payload),
                "key_id": key_id,
                **self._scope_fields(),
            }
            with self._lock:
                self._sent.add(sent)  # from here on the value may be there, whatever we hear
            response = self.api.request(
                "PUT", f"{self.target.base}/secrets/{key}", what=f"writing secret {key}", json=body
            )
            if response.status_code in (201, 204):
                break
            if 400 <= response.status_code < 500 and not sent_before:
                with self._lock:
                    self._sent.discard(sent)  # refused: nothing of this put landed
            if response.status_code == 422 and attempt == 0:
                continue  # the key may have been rotated since it was read: read it again
            raise self.api.failure(response, f"writing secret {key}", self.target)
        self._write_variable(metadata_variable(key), meta_json)

    def _write_intent(self, key: str, meta: SecretMeta) -> None:
        name = metadata_variable(key)
        variable = self._get("variables", name)
        strings = _strings(variable)
        self._before.remember(
            key, meta.token_guid, (variable is not None, str((variable or {}).get("value", "")))
        )
        held = meta_of(variable, self._get("secrets", key)) if variable is not None else None
        intent = PendingWrite.superseding(meta, held, PendingWrite.from_strings(strings))
        if strings != intent.to_strings():
            self._write_variable(name, json.dumps(intent.to_strings(), sort_keys=True))

    def write_meta(self, key: str, meta: SecretMeta) -> None:
        self._check_key(key)
        self._write_variable(metadata_variable(key), json.dumps(meta.to_strings(), sort_keys=True))

    def _write_variable(self, name: str, value: str) -> None:
        body = {"name": name, "value": value, **self._scope_fields()}
        base = f"{self.target.base}/variables"
        what = f"writing variable {name}"
        response = self.api.request("PATCH", f"{base}/{name}", what=what, json=body)
        if response.status_code == 404:
            response = self.api.request("POST", base, what=what, json=body)
            if response.status_code == 409:  # made in between: update it
                response = self.api.request("PATCH", f"{base}/{name}", what=what, json=body)
        if response.status_code not in (201, 204):
            raise self.api.failure(response, what, self.target)

    def restore_previous(self, key: str, guid: str) -> bool:
        # True only when the key cannot hold that token (nothing to undo). A secret PUT of it
        # that may have landed, or metadata naming it, means it may: the previous value is
        # unknowable, and the caller keeps the new token alive.
        with self._lock:
            if (key, guid) in self._sent:
                return False
        before = self._before.take(key, guid)
        name = metadata_variable(key)
        variable = self._get("variables", name)
        pending = PendingWrite.from_strings(_strings(variable))
        if pending is not None and pending.token_guid == guid:
            if before is None:
                return False  # another process's intent: it may have sent the secret
            # This process sent no secret, but wrote the intent: put the variable back.
            existed, value = before
            if existed:
                self._write_variable(name, value)
            else:
                self._delete_variable(name)
            return True
        meta = meta_of(variable, self._get("secrets", key)) if variable is not None else None
        return meta is None or meta.token_guid != guid

    def commit(self, key: str, guid: str) -> None:
        with self._lock:
            self._sent.discard((key, guid))
        self._before.commit(key, guid)

    def delete(self, key: str) -> None:
        self._check_key(key)
        # The metadata first: a crash in between leaves a secret without metadata (repaired),
        # never metadata for a secret that is gone.
        self._delete_variable(metadata_variable(key))
        what = f"deleting secret {key}"
        response = self.api.request("DELETE", f"{self.target.base}/secrets/{key}", what=what)
        if response.status_code not in (204, 404):
            raise self.api.failure(response, what, self.target)

    def _delete_variable(self, name: str) -> None:
        what = f"deleting variable {name}"
        response = self.api.request("DELETE", f"{self.target.base}/variables/{name}", what=what)
        if response.status_code not in (204, 404):
            raise self.api.failure(response, what, self.target)

    def sweep(self, keys: Sequence[str]) -> tuple[str, ...]:
        return ()

    def close(self) -> None:
        self.api.close()


def open_github_store(config: StoreConfig, context: StoreContext) -> GitHubStore:
    try:
        import nacl.public  # noqa: F401  (fail at open, not in the middle of an apply)
    except ModuleNotFoundError:
        raise StoreError(
            f"store '{config.name}' (github) needs PyNaCl to seal secrets: install "
            "ppm-token-reconciler[github]"
        ) from None
    repository = store_options.text(config, "repository")
    organization = store_options.text(config, "organization")
    if bool(repository) == bool(organization):
        raise StoreError(
            f"store '{config.name}' (github): give exactly one of `repository` or `organization`"
        )
    if repository:
        target = repository_target(repository, store_options.text(config, "environment"))
    else:
        assert organization is not None
        target = organization_target(organization)
    visibility = store_options.text(config, "visibility")
    if visibility is not None and visibility not in VISIBILITIES:
        raise StoreError(
            f"store '{config.name}' (github): visibility must be one of {', '.join(VISIBILITIES)}"
        )
    selected = store_options.strings(config, "selected_repositories")
    if visibility == "selected" and not selected:
        raise StoreError(
            f"store '{config.name}' (github): visibility selected needs selected_repositories"
        )
    token = context.env.get("GITHUB_TOKEN") or context.env.get("GH_TOKEN")
    if not token:
        raise StoreError(
            f"store '{config.name}' (github): no token: set GITHUB_TOKEN to a token that may "
            "write Actions secrets and variables (see docs/stores.md)"
        )
    api_url = (
        store_options.text(config, "api_url")
        or context.env.get("GITHUB_API_URL")
        or DEFAULT_API_URL
    )
    api = GitHubApi(
        config.name,
        api_url,
        Secret(token.strip()),
        transport=context.http_transport,
        sleep=context.sleep,
        now=context.now,
        policy=replace(
            DEFAULT_RETRY,
            deadline=store_options.timeout(config),
            deadline_setting=store_options.timeout_setting(config),
        ),
    )
    return GitHubStore(
        config.name, api, target, visibility=visibility, selected_repositories=selected
    )
