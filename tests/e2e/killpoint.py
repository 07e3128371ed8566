"""Run the ppm-tokens CLI and SIGKILL it at a named step of apply: `python killpoint.py ARGS`.

PPM_TOKENS_KILL_AT="<point>:<name>" chooses the step, for the first action step of token <name>
that reaches it:

    after-create    the server made the token; its value is in memory and stored nowhere
    after-prove     the new token authenticated; still stored nowhere
    mid-store       the store wrote the new value but not yet its metadata (any store kind)
    after-store     the store write returned; nothing is confirmed or revoked yet (file store)
    before-switch   the run's own admin token: its successor is stored and confirmed, and the
                    run is about to go on with it
    after-switch    the run goes on with the successor; nothing else done yet
    before-revoke   a revoke of one of <name>'s tokens is about to be sent
    mid-revoke      the server revoked one of <name>'s tokens; the process never learns it
    cut-store       not a kill: the store becomes unreachable right after the new value is
                    written (its metadata write and every try to go back fail), and the run
                    goes on to report it

The hooks wrap the driver's, the stores' and the admin credential's methods by name
(create_token, check_token, put, the metadata write of each store kind, switch, revoke_token),
never a line of apply, so they hold whatever order apply runs its steps in.
The real code runs; only the process dies, as with kill -9.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

from reconciler.cli import main
from reconciler.errors import StoreError
from reconciler.ownership import parse_owner
from reconciler.server.credential import AdminCredential
from reconciler.server.http import HttpDriver
from reconciler.stores.file import FileStore
from reconciler.stores.metadata_files import MetadataFiles

POINTS = (
    "after-create",
    "after-prove",
    "mid-store",
    "after-store",
    "before-switch",
    "after-switch",
    "before-revoke",
    "mid-revoke",
    "cut-store",
)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install(point: str, name: str) -> None:
    if point not in POINTS:
        raise SystemExit(f"unknown kill point {point!r}; one of {', '.join(POINTS)}")
    owners: dict[str, str] = {}  # GUID -> token name, from what this process saw
    lock = threading.Lock()

    def remember(guid: str, description: str) -> None:
        owner = parse_owner(description)
        if owner is not None:
            with lock:
                owners[guid] = owner.name

    list_tokens: Callable[..., Any] = HttpDriver.list_tokens
    create_token: Callable[..., Any] = HttpDriver.create_token
    revoke_token: Callable[..., Any] = HttpDriver.revoke_token
    check_token: Callable[..., Any] = HttpDriver.check_token
    put: Callable[..., Any] = FileStore.put
    write_meta: Callable[..., Any] = MetadataFiles.write
    switch: Callable[..., Any] = AdminCredential.switch

    def listing(self: HttpDriver) -> Any:
        tokens = list_tokens(self)
        for token in tokens:
            remember(token.guid, token.description)
        return tokens

    def creating(self: HttpDriver, request: Any) -> Any:
        created = create_token(self, request)
        remember(created.token.guid, request.description)
        if point == "after-create" and owners.get(created.token.guid) == name:
            _die()
        return created

    def proving(self: HttpDriver, value: Any, token: Any) -> Any:
        works = check_token(self, value, token)
        if point == "after-prove" and works and owners.get(token.guid) == name:
            _die()
        return works

    def switching(self: AdminCredential, value: Any, source: str) -> None:
        # Only a run's own admin token is switched to: <name> is that token.
        if point == "before-switch":
            _die()
        switch(self, value, source)
        if point == "after-switch":
            _die()

    def revoking(self: HttpDriver, guid: str) -> None:
        ours = owners.get(guid) == name
        if ours and point == "before-revoke":
            _die()
        revoke_token(self, guid)
        if ours and point == "mid-revoke":
            _die()

    def storing(self: FileStore, key: str, secret: Any) -> None:
        put(self, key, secret)
        if point == "after-store" and secret.meta.name == name:
            _die()

    cut = threading.Event()

    def before_metadata(metadata: dict[str, str]) -> None:
        """Called with the strings a store is about to write as the metadata after a value."""
        if metadata.get("name") != name or "token_guid" not in metadata:
            return  # an intent, or another token's metadata
        if point == "mid-store":
            _die()
        if point == "cut-store":
            cut.set()
            raise StoreError("the store became unreachable (injected by killpoint.py)")

    def writing_meta(self: MetadataFiles, key: str, meta: Any) -> None:
        before_metadata(meta.to_strings())
        write_meta(self, key, meta)

    HttpDriver.list_tokens = listing  # type: ignore[method-assign]
    HttpDriver.create_token = creating  # type: ignore[method-assign]
    HttpDriver.revoke_token = revoking  # type: ignore[method-assign]
    HttpDriver.check_token = proving  # type: ignore[method-assign]
    AdminCredential.switch = switching  # type: ignore[method-assign]
    FileStore.put = storing  # type: ignore[method-assign]
    MetadataFiles.write = writing_meta  # type: ignore[method-assign]
    _hook_remote_stores(before_metadata, cut)


def _hook_remote_stores(before_metadata: Callable[[dict[str, str]], None], cut: Any) -> None:
    """The metadata write of each remote store kind, by the method that sends it, and going
    back, which fails too once the store is cut off."""
    from reconciler.backends.vault_kv import KvV2
    from reconciler.stores.aws import TAG_PREFIX, AwsStore
    from reconciler.stores.github import GitHubStore
    from reconciler.stores.vault import VaultStore

    write_custom: Callable[..., Any] = KvV2.write_custom_metadata
    call: Callable[..., Any] = AwsStore._call
    write_variable: Callable[..., Any] = GitHubStore._write_variable

    def custom(self: KvV2, path: str, metadata: Any) -> None:
        before_metadata(dict(metadata))
        write_custom(self, path, metadata)

    def calling(self: AwsStore, what: str, secret: str, method: str, **kwargs: Any) -> Any:
        # The aws store tags before the value: the new value is the last write, so the cut
        # between value and metadata is right after it.
        result = call(self, what, secret, method, **kwargs)
        if method in ("put_secret_value", "update_secret_version_stage"):
            state = self._describe(secret)
            tags = {k.removeprefix(TAG_PREFIX): v for k, v in (state.tags if state else {}).items()}
            before_metadata(tags)
        return result

    def variable(self: GitHubStore, variable_name: str, value: str) -> None:
        try:
            strings = {str(k): str(v) for k, v in json.loads(value).items()}
        except ValueError:
            strings = {}
        before_metadata(strings)
        write_variable(self, variable_name, value)

    KvV2.write_custom_metadata = custom  # type: ignore[method-assign]
    AwsStore._call = calling  # type: ignore[method-assign]
    GitHubStore._write_variable = variable  # type: ignore[method-assign]
    from reconciler.stores.command import CommandStore

    for store in (FileStore, CommandStore, VaultStore, AwsStore, GitHubStore):
        _unreachable_once_cut(store, cut)


def _unreachable_once_cut(store: Any, cut: Any) -> None:
    """Once cut, the store stays unreachable for the rest of the run: retries of the write
    and every try to go back fail too."""
    for method in ("put", "restore_previous"):
        _fail_once_cut(store, method, cut)


def _fail_once_cut(store: Any, method: str, cut: Any) -> None:
    real: Callable[..., Any] = getattr(store, method)

    def failing(self: Any, *args: Any) -> Any:
        if cut.is_set():
            raise StoreError("the store is still unreachable (injected by killpoint.py)")
        return real(self, *args)

    setattr(store, method, failing)


if __name__ == "__main__":
    chosen = os.environ.get("PPM_TOKENS_KILL_AT", "")
    if chosen:
        kill_point, _, token_name = chosen.partition(":")
        install(kill_point, token_name)
    main()
