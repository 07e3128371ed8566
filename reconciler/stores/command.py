"""The `command` store: hand each secret to a program of your choice (1Password's `op`, `pass`,
a script), never through a shell.

Spec options:
    command:        argv run to write a secret; the payload arrives on stdin
    read_command:   optional argv that prints the stored metadata as a JSON object (the keys of
                    `SecretMeta.to_strings`) on stdout; empty output means nothing is stored.
                    It runs only when the store is opened for apply (StoreContext.
                    run_read_commands): `plan` never runs a program named in the spec.
    delete_command: optional argv run to delete a secret (needed for `on_delete: delete`)
    read_value_command: optional argv that prints the stored payload on stdout (empty output:
                    nothing stored), for a store that keeps the admin token ppm-tokens runs
                    with (server.auth); runs only where read_command may
    state_dir:      where the metadata of what this store wrote is kept (default
                    $XDG_STATE_HOME/ppm-tokens/<store>, else ~/.local/state/ppm-tokens/<store>)
    timeout:        seconds before a command counts as failed (default 60)
    env:            optional names of variables to pass to every program besides the allow-list
                    (reconciler.desired.command_rules); never one holding the run's admin token

In every argv, `{secret}` becomes the secret's key. `{name}` becomes the token's name in `command`;
read and delete know only the key, so their argv may use `{secret}` alone. Each run gets the
caller's values of the allow-listed variables and of the `env` names, nothing else (never an
admin token: see command_rules), plus PPM_TOKENS_ACTION (put | read-meta | read-value |
delete), PPM_TOKENS_SECRET and, for put, PPM_TOKENS_GUID, _NAME, _NAMESPACE, _CREATED, _EXPIRES,
_SCOPE and _SHA256 (of the payload), and when known _FORMAT and _RETIRE_PREVIOUS_AFTER, so a
single script can serve all roles by looking at PPM_TOKENS_ACTION.

Why a state directory: the planner compares stored metadata with the live tokens. A store that
cannot report metadata would look empty on every run and be repaired forever, so the store keeps
the metadata of what it wrote in sidecar files of its own (no values, written atomically like the
file store's), always: `plan`, which runs no command, reads them, and so does apply when there is
no read_command. Before the program runs, the sidecar takes the intent of the write
(`PendingWrite`: which token, which tokens the program may hold before it, the promise); after it
succeeds, the metadata. An intent left behind (kill -9, a program that did not finish) says the
program may hold any of those tokens; where read_command runs, what it reports settles which.
The value cannot be read back, so read_value_hash is always None and a write cannot be undone
(capabilities.restorable is False): when apply cannot confirm a write, it keeps the new token
alive rather than revoke a value the program may have stored.
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.backends.private_files import (
    META_SUFFIX,
    key_parts,
    oserror_text,
    sweep_leftovers,
)
from reconciler.bounded_run import OutputTooLarge, run_capped
from reconciler.desired import store_options
from reconciler.desired.command_rules import (
    ADMIN_TOKEN_VARIABLE,
    command_argv,
    default_state_dir,
    env_name_problem,
    program_environment,
)
from reconciler.desired.store_options import expand_path
from reconciler.errors import StoreError, StoreTimeout
from reconciler.inputs import parse_json
from reconciler.sanitize import for_terminal
from reconciler.secret import Secret
from reconciler.stores.base import (
    KeyState,
    PendingWrite,
    SecretMeta,
    SecretPayload,
    StoreCapabilities,
    StoredValue,
    read_meta_each,
)
from reconciler.stores.metadata_files import MetadataFiles
from reconciler.stores.store_dirs import claim, directory_problem

if TYPE_CHECKING:
    from reconciler.desired.model import StoreConfig
    from reconciler.stores.registry import StoreContext

Runner = Callable[..., subprocess.CompletedProcess[bytes]]

DEFAULT_TIMEOUT = 60.0
STDERR_LIMIT = 500
REDACTED = "(sensitive value)"
# A payload is split on these to find the token inside a JSON document or a netrc line.
_PAYLOAD_SEPARATORS = re.compile(r'[\s"{}\[\],:]+')
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def redact(text: str, payload: Secret | None) -> str:
    """`text` without the payload, any long piece of it (the token inside a JSON or netrc
    payload), or anything shaped like a PPM token."""
    if payload is not None:
        value = payload.reveal()
        pieces = {value, *(p for p in _PAYLOAD_SEPARATORS.split(value) if len(p) >= 16)}
        for piece in sorted(pieces, key=len, reverse=True):
            if piece:
                text = text.replace(piece, REDACTED)
    return _JWT.sub(REDACTED, text)


def _argv_option(config: StoreConfig, option: str, *, required: bool) -> tuple[str, ...] | None:
    raw = config.options.get(option)
    if raw is None and not required:
        return None
    if (
        not isinstance(raw, list | tuple)
        or not raw
        or not all(isinstance(part, str) for part in raw)
    ):
        raise StoreError(
            f"store '{config.name}' (type command): {option!r} must be a non-empty list of "
            'strings, like ["op", "item", "edit", "{secret}"]'
        )
    return tuple(str(part) for part in raw)


class _MaybeWritten(StoreError):
    """The program did not finish: it may or may not hold the value."""


class _RanOutOfTime(_MaybeWritten, StoreTimeout):
    """Killed at its deadline (`timeout`): not run again for the same call."""


class CommandStore:
    """See the module docstring."""

    capabilities = StoreCapabilities(readable_values=False, restorable=False, remote=False)

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        run: Runner = run_capped,
        env: Mapping[str, str] | None = None,
        passed: Sequence[str] = (),
        withheld: frozenset[str] = frozenset({ADMIN_TOKEN_VARIABLE}),
        read_command: Sequence[str] | None = None,
        delete_command: Sequence[str] | None = None,
        read_value_command: Sequence[str] | None = None,
        state_dir: Path,
        timeout: float = DEFAULT_TIMEOUT,
        run_read_commands: bool = False,
    ) -> None:
        if not argv:
            raise StoreError(f"store '{name}' (type command) needs a 'command'")
        key_only = (
            ("read_command", read_command),
            ("delete_command", delete_command),
            ("read_value_command", read_value_command),
        )
        for option, template in key_only:
            if template is not None and any("{name}" in part for part in template):
                raise StoreError(
                    f"store '{name}': {option} cannot use {{name}} (only the key is known when "
                    "reading or deleting): use {secret}"
                )
        self.name = name
        self.argv = tuple(argv)
        self.read_command = tuple(read_command) if read_command is not None else None
        self.delete_command = tuple(delete_command) if delete_command is not None else None
        self.read_value_command = (
            tuple(read_value_command) if read_value_command is not None else None
        )
        self.timeout = timeout
        self._run_process = run
        for variable in passed:
            if problem := env_name_problem(variable, withheld):
                raise StoreError(f"store '{name}': env {variable!r} {problem}")
        self._env = program_environment(env or {}, passed, withheld)
        problem = directory_problem(name, state_dir, env or {})
        if problem is not None:
            raise StoreError(f"{problem} (state_dir)")
        self.state_dir = state_dir
        self._state = MetadataFiles(name, state_dir)
        self._run_read_commands = run_read_commands
        if self._reads_by_command:
            # What read_command reports says which token the program holds.
            self.capabilities = replace(self.capabilities, tells_held=True)
        # (key, GUID) of every put whose command succeeded in this process: such a write may
        # have landed even when reading it back says otherwise, and cannot be undone.
        self._written: set[tuple[str, str]] = set()
        self._written_lock = threading.Lock()

    def put(self, key: str, secret: SecretPayload) -> None:
        key_parts(self.name, key)  # the same keys as the file store: the state dir holds them
        meta = secret.meta
        try:
            claim(self.state_dir)
        except OSError as exc:
            raise StoreError(
                f"store '{self.name}': could not create {self.state_dir}: {oserror_text(exc)}"
            ) from None
        # The state directory trades the old token's metadata for the intent of this write
        # before the program runs: if this process dies while the program may hold the new
        # value, the next run knows the program holds the old token or the new one, and keeps
        # both. Metadata of the old token kept beside a new value would make the next run
        # retire the new token as an orphan while the program hands its value out.
        previous = self._state.read_strings(key)
        unfinished = PendingWrite.from_strings(previous) if previous else None
        held = None if unfinished else self._state.read(key)
        self._state.write_strings(
            key, PendingWrite.superseding(meta, held, unfinished).to_strings()
        )
        try:
            self._put(key, secret)
        except _MaybeWritten:
            with self._written_lock:
                self._written.add((key, meta.token_guid))
            raise
        except StoreError:
            # The program said it failed: it holds what it held before.
            if previous is not None:
                self._state.write_strings(key, previous)
            else:
                self._state.delete(key)
            raise
        with self._written_lock:
            self._written.add((key, meta.token_guid))
        self.write_meta(key, meta)

    def write_meta(self, key: str, meta: SecretMeta) -> None:
        """Into the state directory; what the program keeps is the program's."""
        self._state.write(key, meta)

    def _put(self, key: str, secret: SecretPayload) -> None:
        meta = secret.meta
        self._run(
            self.argv,
            key,
            action="put",
            token_name=meta.name,
            stdin=secret.payload,
            extra_env={
                "PPM_TOKENS_GUID": meta.token_guid,
                "PPM_TOKENS_NAME": meta.name,
                "PPM_TOKENS_NAMESPACE": meta.namespace,
                "PPM_TOKENS_CREATED": meta.created.isoformat(),
                "PPM_TOKENS_EXPIRES": meta.expires.isoformat() if meta.expires else "never",
                "PPM_TOKENS_SCOPE": meta.scope,
                "PPM_TOKENS_SHA256": meta.value_sha256 or secret.payload.sha256(),
                **({"PPM_TOKENS_FORMAT": meta.format} if meta.format else {}),
                **(
                    {"PPM_TOKENS_RETIRE_PREVIOUS_AFTER": meta.retire_previous_after.isoformat()}
                    if meta.retire_previous_after
                    else {}
                ),
            },
        )

    def read_meta(self, key: str) -> SecretMeta | None:
        if not self._reads_by_command:
            return self._state.read(key)
        reported = self._reported(key)
        return None if reported is None else self._completed(key, reported)

    @property
    def _reads_by_command(self) -> bool:
        return self.read_command is not None and self._run_read_commands

    def read_states(self, keys: Sequence[str]) -> Mapping[str, KeyState]:
        """The state directory's metadata or intent; with read_command, what the program
        reports it holds is what the key hands out."""
        result: dict[str, KeyState] = {}
        for key in keys:
            channel = self._state.read_strings(key)
            pending = PendingWrite.from_strings(channel) if channel else None
            kept = None if pending else self._state.read(key)
            if not self._reads_by_command:
                result[key] = KeyState(meta=kept, pending=pending)
                continue
            reported = self._reported(key)
            if reported is None:
                result[key] = KeyState(pending=pending, value=StoredValue(None))
                continue
            value = StoredValue(reported.token_guid, reported.format, reported.value_sha256)
            # The program's own metadata settles the key, unless the state directory says
            # otherwise (an intent, another token): then it is brought in line. An empty one
            # (a fresh CI runner) has nothing to say.
            settled = channel is None or (
                kept is not None and kept.token_guid == reported.token_guid
            )
            meta = self._completed(key, reported) if settled else None
            result[key] = KeyState(meta=meta, pending=pending, value=value)
        return result

    def _reported(self, key: str) -> SecretMeta | None:
        assert self.read_command is not None
        output = self._run(self.read_command, key, action="read-meta").strip()
        if not output:
            return None
        try:
            data = parse_json(output)
            if not isinstance(data, dict):
                raise TypeError("not an object")
            reported = SecretMeta.from_strings({str(k): str(v) for k, v in data.items()})
        except (ValueError, TypeError, KeyError) as exc:
            raise StoreError(
                f"store '{self.name}': read_command printed something that is not the metadata "
                f"of {key!r} ({type(exc).__name__}: expected a JSON object with token_guid, "
                "name, namespace, created, expires and scope, or nothing)"
            ) from None
        return reported

    def _completed(self, key: str, reported: SecretMeta) -> SecretMeta:
        """What read_command reported, with the optional fields it left out (the payload format,
        the grace a rotation promised) taken from the state directory when both describe the
        same token: a script that keeps only the required keys must not make apply plan
        differently from `plan`, which reads the state directory alone."""
        kept = self._state.read(key)
        if kept is None or kept.token_guid != reported.token_guid:
            return reported
        return replace(
            reported,
            value_sha256=reported.value_sha256 or kept.value_sha256,
            format=reported.format or kept.format,
            retire_previous_after=reported.retire_previous_after or kept.retire_previous_after,
        )

    def read_meta_many(self, keys: Sequence[str]) -> Mapping[str, SecretMeta | None]:
        return read_meta_each(self, keys)

    def read_payload(self, key: str) -> Secret | None:
        """What read_value_command prints (see stores.base.PayloadReader)."""
        if self.read_value_command is None:
            raise StoreError(
                f"store '{self.name}' has no read_value_command, so the value of {key!r} cannot "
                "be read back: add one that prints the stored value"
            )
        if not self._run_read_commands:
            raise StoreError(
                f"store '{self.name}': its read_value_command is a program the spec names, and "
                "this command runs none (it may run on a pull request's spec)"
            )
        output = self._run(self.read_value_command, key, action="read-value").strip()
        return Secret(output) if output else None

    def restore_previous(self, key: str, guid: str) -> bool:
        """Nothing to undo only when no command ever wrote `guid` under `key`; otherwise the
        program may hold it and there is no way to take it back. What read_command says is not
        trusted here: reading back is what failed."""
        with self._written_lock:
            written = (key, guid) in self._written
        if written:
            return False
        meta = self._state.read(key)
        return meta is None or meta.token_guid != guid

    def commit(self, key: str, guid: str) -> None:
        return None

    def sweep(self, keys: Sequence[str]) -> tuple[str, ...]:
        try:
            removed = sweep_leftovers(
                self.name, self.state_dir, keys, own_files=lambda name: (name + META_SUFFIX,)
            )
        except OSError as exc:
            raise StoreError(
                f"store '{self.name}': could not clean up {self.state_dir}: {oserror_text(exc)}"
            ) from None
        return tuple(
            f"store '{self.name}': removed {path} from its state directory, left by an "
            "interrupted write"
            for path in removed
        )

    def read_value_hash(self, key: str) -> str | None:
        return None

    def delete(self, key: str) -> None:
        if self.delete_command is None:
            raise StoreError(
                f"store '{self.name}' has no delete_command, so {key!r} was not deleted: add a "
                "delete_command to the store or use on_delete: keep"
            )
        self._run(self.delete_command, key, action="delete")
        self._state.delete(key)

    def _run(
        self,
        template: Sequence[str],
        key: str,
        *,
        action: str,
        token_name: str = "",
        stdin: Secret | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> str:
        argv = command_argv(template, secret=key, name=token_name)
        env = {
            **self._env,
            **(extra_env or {}),
            "PPM_TOKENS_ACTION": action,
            "PPM_TOKENS_SECRET": key,
        }
        where = f"store '{self.name}': {action} of {key!r}: {argv[0]}"
        try:
            completed = self._run_process(
                argv,
                input=stdin.reveal().encode() if stdin is not None else b"",
                capture_output=True,
                env=env,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            # Killed at the deadline, perhaps after it stored the value: nobody can tell.
            raise _RanOutOfTime(
                f"{where} did not finish within {self.timeout:g} s "
                f"(deadline: stores.{self.name}.timeout)"
            ) from None
        except OutputTooLarge as exc:
            # Killed before it finished, perhaps after it stored the value, as at a deadline.
            raise _MaybeWritten(f"{where} {exc}: it was stopped") from None
        except FileNotFoundError:
            raise StoreError(f"{where} was not found: check the command and PATH") from None
        except OSError as exc:
            raise StoreError(f"{where} could not be run: {exc.strerror or exc}") from None
        if completed.returncode != 0:
            stderr = (completed.stderr or b"").decode("utf-8", errors="replace")
            # One line, escaped: a program's stderr cannot forge or hide output of ours.
            detail = for_terminal(redact(stderr, stdin).strip()[:STDERR_LIMIT])
            raise StoreError(
                f"{where} exited with status {completed.returncode}"
                + (f": {detail}" if detail else " and printed nothing on stderr")
            )
        return (completed.stdout or b"").decode("utf-8", errors="replace")


def open_command_store(config: StoreConfig, context: StoreContext) -> CommandStore:
    argv = _argv_option(config, "command", required=True)
    assert argv is not None
    read_command = _argv_option(config, "read_command", required=False)
    delete_command = _argv_option(config, "delete_command", required=False)
    read_value_command = _argv_option(config, "read_value_command", required=False)
    raw_state = config.options.get("state_dir")
    if raw_state is not None and not (isinstance(raw_state, str) and raw_state.strip()):
        raise StoreError(f"store '{config.name}': 'state_dir' must be a path")
    state_dir = (
        expand_path(raw_state.strip(), base=context.spec_dir, env=context.env)
        if isinstance(raw_state, str)
        else default_state_dir(config.name, context.env)
    )
    passed = store_options.strings(config, "env")
    raw_timeout = config.options.get("timeout", DEFAULT_TIMEOUT)
    if (
        isinstance(raw_timeout, bool)
        or not isinstance(raw_timeout, int | float)
        or raw_timeout <= 0
    ):
        raise StoreError(f"store '{config.name}': 'timeout' must be a positive number of seconds")
    return CommandStore(
        config.name,
        argv,
        run=context.run,
        env=context.env,
        passed=passed,
        withheld=context.withheld,
        read_command=read_command,
        delete_command=delete_command,
        read_value_command=read_value_command,
        state_dir=state_dir,
        timeout=float(raw_timeout),
        run_read_commands=context.run_read_commands,
    )
