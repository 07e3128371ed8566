"""The `aws` store: AWS Secrets Manager through boto3 (extra `aws`).

One secret per key, named `<prefix><key>`. The payload is the secret's SecretString; the metadata
is in the secret's tags (`ppm-tokens:token_guid`, ...), next to the spec's own `tags`. Every
version is written with ClientRequestToken `ppm-tokens-<token GUID>`, so a retried write of the
same token is a no-op and the version ID itself says which token a version holds: the metadata
counts only while the AWSCURRENT version is that token's (a value put out of band makes the
planner repair the secret).

Writing a new version of an existing secret first sets the tags to the new token's metadata,
then writes the value: until that version is current the tags describe no value and only say
what the write intends (the promise included); once it is, they are its metadata, with no
moment in between (tags take more than one call to replace, so they cannot be swapped for the
metadata after the value without such a moment). A cut in between leaves the old value and the
intent, and the next run reads the value (only then) to learn which token it is. A new secret
gets value and tags in one call.

Going back after an unconfirmed write moves AWSCURRENT back to the version it replaced (which
Secrets Manager had labelled AWSPREVIOUS) and puts the earlier tags back; a secret this run
created is deleted at once. `delete` schedules deletion with the spec's recovery window.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reconciler.backends.aws_session import (
    access_denied,
    aws_client,
    describe_error,
    error_code,
)
from reconciler.desired import store_options
from reconciler.desired.aws_rules import name_problem, recovery_window_problem, tags_problem
from reconciler.errors import StoreError
from reconciler.secret import Secret
from reconciler.stores.aws_versions import (
    CURRENT,
    TAG_PREFIX,
    Before,
    State,
    as_before,
    intent_of,
    meta_from_tags,
    our_tags,
    request_token,
)
from reconciler.stores.base import (
    KeyState,
    SecretMeta,
    SecretPayload,
    StoreCapabilities,
    StoredValue,
)
from reconciler.stores.before_put import BeforePuts
from reconciler.stores.formats import inspect_payload

if TYPE_CHECKING:
    from reconciler.desired.model import StoreConfig
    from reconciler.stores.registry import StoreContext

log = logging.getLogger(__name__)

DEFAULT_RECOVERY_DAYS = 7
# A region holds at most 500,000 secrets: 5,000 pages of 100.
MAX_LIST_PAGES = 10_000


class AwsStore:
    """See the module docstring."""

    capabilities = StoreCapabilities(
        readable_values=True, restorable=True, remote=True, tells_held=True
    )

    def __init__(
        self,
        name: str,
        client: Any,
        *,
        prefix: str = "",
        kms_key_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        recovery_window_days: int = DEFAULT_RECOVERY_DAYS,
    ) -> None:
        self.name = name
        self.client = client
        self.prefix = prefix
        self.kms_key_id = kms_key_id
        self.tags = dict(tags or {})
        self.recovery_window_days = recovery_window_days
        if problem := recovery_window_problem(recovery_window_days):
            raise StoreError(f"store '{name}' (aws): {problem}")
        if problem := tags_problem(self.tags):
            raise StoreError(f"store '{name}' (aws): tags: {problem}")
        if any(k.startswith(TAG_PREFIX) for k in self.tags):
            raise StoreError(f"store '{name}' (aws): tag keys starting {TAG_PREFIX} are reserved")
        self._before: BeforePuts[Before] = BeforePuts()

    # -- helpers ------------------------------------------------------------------------------

    def _secret_name(self, key: str) -> str:
        if problem := name_problem(self.prefix, key):
            raise StoreError(f"store '{self.name}': secret {key!r} {problem}")
        return self.prefix + key

    def _fail(self, what: str, name: str, exc: Exception) -> StoreError:
        hint = ""
        if access_denied(exc):
            hint = (
                f": the IAM policy must allow this action on the secret {name} (see the IAM "
                "policy in docs/stores.md)"
            )
        return StoreError(
            f"store '{self.name}': {what} of {name!r} failed ({describe_error(exc)}){hint}"
        )

    def _call(self, what: str, name: str, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, method)(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(what, name, exc) from None

    def _describe(self, name: str) -> State | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            found = self.client.describe_secret(SecretId=name)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise self._fail("describe", name, exc) from None
        except BotoCoreError as exc:
            raise self._fail("describe", name, exc) from None
        return State(
            stages=found.get("VersionIdsToStages") or {},
            tags={t["Key"]: t["Value"] for t in found.get("Tags") or []},
            deleted=found.get("DeletedDate") is not None,
        )

    def _set_our_tags(
        self, name: str, wanted: Mapping[str, str], present: Mapping[str, str]
    ) -> None:
        stale = [k for k in our_tags(present) if k not in wanted]
        if stale:
            self._call("untag", name, "untag_resource", SecretId=name, TagKeys=stale)
        tags = {**self.tags, **wanted}
        if not stale and all(present.get(k) == v for k, v in tags.items()):
            return  # already so: going back after a refused tag write needs no tag write
        self._call(
            "tag",
            name,
            "tag_resource",
            SecretId=name,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )

    @staticmethod
    def _tags_for(meta: SecretMeta) -> dict[str, str]:
        return {TAG_PREFIX + k: v for k, v in meta.to_strings().items()}

    # -- reads --------------------------------------------------------------------------------

    def read_meta(self, key: str) -> SecretMeta | None:
        state = self._describe(self._secret_name(key))
        if state is None or state.deleted:
            return None
        return meta_from_tags(state.tags, state.stages)

    def read_meta_many(self, keys: Sequence[str]) -> Mapping[str, SecretMeta | None]:
        return {
            key: None if entry is None else meta_from_tags(*entry)
            for key, entry in self._listed(keys).items()
        }

    def _listed(
        self, keys: Sequence[str]
    ) -> dict[str, tuple[dict[str, str], Mapping[str, Sequence[str]]] | None]:
        """(tags, version stages) of each key's secret, None when there is none: ListSecrets
        filtered by the prefix, one call per 100 secrets, tags included."""
        names = {self._secret_name(key): key for key in keys}
        result: dict[str, tuple[dict[str, str], Mapping[str, Sequence[str]]] | None]
        result = dict.fromkeys(keys)
        kwargs: dict[str, Any] = {"MaxResults": 100}
        if self.prefix:
            kwargs["Filters"] = [{"Key": "name", "Values": [self.prefix]}]
        seen: set[str] = set()
        while True:
            if len(seen) >= MAX_LIST_PAGES:
                # Whatever answers at endpoint_url could say "more" for ever.
                raise StoreError(
                    f"store '{self.name}': ListSecrets went on for more than "
                    f"{MAX_LIST_PAGES:,} pages, more than a region holds: is something other "
                    "than Secrets Manager answering?"
                )
            page = self._call("list", self.prefix or "*", "list_secrets", **kwargs)
            for entry in page.get("SecretList") or []:
                key = names.get(entry.get("Name", ""))
                if key is None or entry.get("DeletedDate") is not None:
                    continue
                tags = {t["Key"]: t["Value"] for t in entry.get("Tags") or []}
                result[key] = (tags, entry.get("SecretVersionsToStages") or {})
            token = page.get("NextToken")
            if not token:
                return result
            if token in seen:
                raise StoreError(
                    f"store '{self.name}': ListSecrets gave the same NextToken twice, which "
                    "would list for ever: is something other than Secrets Manager answering?"
                )
            seen.add(token)
            kwargs["NextToken"] = token

    def read_states(self, keys: Sequence[str]) -> Mapping[str, KeyState]:
        """The tags as read_meta_many reads them; the value only of a secret whose tags do not
        describe its current version."""
        result: dict[str, KeyState] = {}
        for key, entry in self._listed(keys).items():
            meta = None if entry is None else meta_from_tags(*entry)
            if meta is not None or entry is None:
                result[key] = KeyState(meta=meta)
                continue
            result[key] = KeyState(pending=intent_of(entry[0]), value=self._value_of(key))
        return result

    def _value_of(self, key: str) -> StoredValue:
        payload = self.read_payload(key)
        return inspect_payload(payload) if payload is not None else StoredValue(None)

    def read_value_hash(self, key: str) -> str | None:
        payload = self.read_payload(key)
        return payload.sha256() if payload is not None else None

    def read_payload(self, key: str) -> Secret | None:
        """The AWSCURRENT version's string (see stores.base.PayloadReader)."""
        from botocore.exceptions import BotoCoreError, ClientError

        name = self._secret_name(key)
        try:
            # The stage named, not left to the default: the label is what says which version is
            # current (and what moto, which keeps its own default, follows).
            found = self.client.get_secret_value(SecretId=name, VersionStage=CURRENT)
        except ClientError as exc:
            if error_code(exc) in ("ResourceNotFoundException", "InvalidRequestException"):
                return None  # missing, or scheduled for deletion
            raise self._fail("read", name, exc) from None
        except BotoCoreError as exc:
            raise self._fail("read", name, exc) from None
        value = found.get("SecretString")
        return Secret(value) if isinstance(value, str) else None

    # -- writes -------------------------------------------------------------------------------

    def put(self, key: str, secret: SecretPayload) -> None:
        from botocore.exceptions import ClientError

        name = self._secret_name(key)
        guid = secret.meta.token_guid
        token = request_token(guid)
        ours = self._tags_for(secret.meta)
        if problem := tags_problem({**self.tags, **ours}):
            raise StoreError(f"store '{self.name}': the tags of {key!r}: {problem}")
        state = self._describe(name)
        if state is None:
            self._before.remember(key, guid, as_before(None))
            create: dict[str, Any] = {
                "Name": name,
                "SecretString": secret.payload.reveal(),
                "ClientRequestToken": token,
                "Description": f"PPM token {secret.meta.name} (managed by ppm-tokens)",
                "Tags": [{"Key": k, "Value": v} for k, v in {**self.tags, **ours}.items()],
            }
            if self.kms_key_id:
                create["KmsKeyId"] = self.kms_key_id
            try:
                self.client.create_secret(**create)
                log.debug("store '%s': created %s with version %s", self.name, name, token)
                return
            except ClientError as exc:
                if error_code(exc) != "ResourceExistsException":
                    raise self._fail("create", name, exc) from None
            state = self._describe(name)  # a lost response, or another writer: look again
            if state is None:
                raise StoreError(f"store '{self.name}': {name!r} exists and then does not")
        else:
            self._before.remember(key, guid, as_before(state))
        if state.deleted:
            self._call("restore", name, "restore_secret", SecretId=name)
        if our_tags(state.tags) != ours or any(
            state.tags.get(k) != v for k, v in self.tags.items()
        ):
            # The tags go first: until the new version is current they describe no value and
            # say only what this write intends; once it is, they are its metadata. No moment
            # leaves the value without them.
            self._set_our_tags(name, ours, state.tags)
        if state.current != token:
            if token in state.stages:
                # This token's version exists but is not current (written, then rolled back).
                self._call(
                    "label",
                    name,
                    "update_secret_version_stage",
                    SecretId=name,
                    VersionStage=CURRENT,
                    MoveToVersionId=token,
                    RemoveFromVersionId=state.current,
                )
            else:
                self._call(
                    "write",
                    name,
                    "put_secret_value",
                    SecretId=name,
                    SecretString=secret.payload.reveal(),
                    ClientRequestToken=token,
                )
        log.debug("store '%s': %s now holds version %s", self.name, name, token)

    def write_meta(self, key: str, meta: SecretMeta) -> None:
        name = self._secret_name(key)
        state = self._describe(name)
        if state is None or state.deleted:
            raise StoreError(f"store '{self.name}': {name!r} holds no value to write metadata for")
        self._set_our_tags(name, self._tags_for(meta), state.tags)

    def restore_previous(self, key: str, guid: str) -> bool:
        name = self._secret_name(key)
        token = request_token(guid)
        before = self._before.take(key, guid)
        state = self._describe(name)
        if state is None:
            return True
        if before is None:
            if state.current != token:
                return True  # it does not hold that token
            before = Before(existed=True, deleted=False, version=state.previous, tags={})
        if not before.existed:
            self._call(
                "delete", name, "delete_secret", SecretId=name, ForceDeleteWithoutRecovery=True
            )
            return True
        if state.current == token and before.version and before.version != token:
            self._call(
                "label",
                name,
                "update_secret_version_stage",
                SecretId=name,
                VersionStage=CURRENT,
                MoveToVersionId=before.version,
                RemoveFromVersionId=token,
            )
        self._set_our_tags(name, before.tags, state.tags)
        if before.deleted:
            self._schedule_deletion(name)
        return True

    def commit(self, key: str, guid: str) -> None:
        self._before.commit(key, guid)

    def delete(self, key: str) -> None:
        name = self._secret_name(key)
        state = self._describe(name)
        if state is None or state.deleted:
            return
        self._schedule_deletion(name)

    def _schedule_deletion(self, name: str) -> None:
        log.debug("store '%s': scheduling deletion of %s", self.name, name)
        self._call(
            "delete",
            name,
            "delete_secret",
            SecretId=name,
            RecoveryWindowInDays=self.recovery_window_days,
        )

    def sweep(self, keys: Sequence[str]) -> tuple[str, ...]:
        # Nothing is kept outside Secrets Manager: earlier versions are its own.
        return ()


def open_aws_store(config: StoreConfig, context: StoreContext) -> AwsStore:
    owner = f"store '{config.name}' (aws)"
    client = aws_client(
        "secretsmanager",
        owner=owner,
        region=store_options.text(config, "region"),
        endpoint_url=store_options.text(config, "endpoint_url"),
        env=context.env,
        timeout=store_options.timeout(config),
        timeout_setting=store_options.timeout_setting(config),
    )
    return AwsStore(
        config.name,
        client,
        prefix=store_options.text(config, "prefix", "") or "",
        kms_key_id=store_options.text(config, "kms_key_id"),
        tags=store_options.string_map(config, "tags"),
        recovery_window_days=store_options.integer(
            config, "recovery_window_days", DEFAULT_RECOVERY_DAYS
        ),
    )
