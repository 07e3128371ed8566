"""A team's life with an admin token that rotates itself: bootstrap from a hand-made token, then
the daily scheduled apply, run in-process against the emulator with its clock moved (a year of
CLI subprocesses would take minutes), with the store of one backend (file, OpenBao, moto or the
GitHub fake). After every run the invariants are checked from outside: the server's list, and
what the backend holds, looked at as its operator would.

The emulator's own bootstrap admin token plays the server's local CLI (`rspm` on the server,
which needs no token): it makes the hand-made token and looks at the list. It is no token a
person holds in this story.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from reconciler.commands import apply as apply_command
from reconciler.commands import bootstrap_admin
from reconciler.commands.revoke import Waiting
from reconciler.commands.runtime import Environment, GlobalOptions
from reconciler.emulator.control import EmulatorControl
from reconciler.emulator.server import RunningEmulator
from reconciler.jwtinfo import token_guid
from reconciler.ownership import parse_owner
from reconciler.secret import Secret
from reconciler.server.http import HttpDriver
from reconciler.server.model import LiveToken, TokenRequest
from tests.desired.test_validate_command import RecordingUI
from tests.e2e.real_stores import Backend, Held, _token_from
from tests.tls import self_signed_certificate

ADMIN = "ppm-admin"
READER = "reader"
NAMESPACE = "ops"
GRACE = timedelta(hours=1)  # the admin token's built-in grace
NO_WAIT = Waiting(sleep=lambda _: None, monotonic=lambda: 0.0)


def file_backend(root: Path) -> Backend:
    """The file store, looked at directly: the value file and its metadata sidecar."""

    def held(key: str) -> Held | None:
        """The value, and its metadata where there is any (a write cut short has none)."""
        value, meta = root / key, root / f"{key}.meta.json"
        if not value.exists():
            return None
        recorded = json.loads(meta.read_text()) if meta.exists() else {}
        return Held(recorded, _token_from(value.read_text()))

    def delete(key: str) -> None:
        (root / key).unlink()

    return Backend("file", f"{{type: file, path: {root}}}", {}, held, delete, _no_refusal)


def _no_refusal() -> object:
    raise NotImplementedError("the file store has no credentials to narrow")


def spec_text(backend: Backend, readers: tuple[str, ...] = (READER,)) -> str:
    """The admin token with its built-ins (7d, rotated after 1d, grace 1h) next to consumers'
    tokens with the usual defaults."""
    consumers = "".join(
        f"  - name: {name}\n"
        "    user: analyst@example.com\n"
        "    description: Read access for data science\n"
        "    scope: repos:read\n"
        "    resources: [pypi]\n"
        f"    secret: {backend.secret_name(name)}\n"
        for name in readers
    )
    return (
        textwrap.dedent(
            f"""\
            version: 1
            namespace: {NAMESPACE}
            server:
              auth: {{type: token, token: {ADMIN}}}
            defaults:
              expires: 90d
              rotation: {{after: 60d, before_expiry: 14d, grace: 3d}}
              store: remote
            stores:
              remote: {backend.store}
            tokens:
              - name: {ADMIN}
                user: ppm-tokens
                description: The admin token ppm-tokens runs with
                scope: global:admin
                secret: {backend.secret_name(ADMIN)}
            """
        )
        + consumers
    )


@contextmanager
def story_of(
    emulator: RunningEmulator, backend: Backend, tmp_path: Path, **extra: Any
) -> Iterator[Story]:
    """A story on `emulator` with `backend`'s store; one HTTP client each for the emulator's
    controls and the server's own CLI, kept for the whole story."""
    workdir = tmp_path / "work"
    (workdir / "home").mkdir(parents=True)
    trust = self_signed_certificate(tmp_path / "tls").certfile
    admin = emulator.admin_token()
    with (
        httpx.Client(timeout=30) as client,
        HttpDriver(emulator.url, Secret(admin)) as harness,
    ):
        control = EmulatorControl(emulator.url, admin, client)
        story = Story(emulator, control, harness, backend, workdir, trust, **extra)
        story.write_spec()
        yield story


@dataclass
class Story:
    emulator: RunningEmulator
    control: EmulatorControl
    harness: HttpDriver  # the server's own CLI: makes the hand-made token, reads the list
    backend: Backend
    workdir: Path
    trust: Path  # a CA file of one certificate (see environment)
    # GitHub secrets cannot be read back: the job hands the secret over as PACKAGEMANAGER_TOKEN.
    job_secret: Callable[[str], str | None] | None = None
    runs: list[RecordingUI] = field(default_factory=list)
    stored_ever: set[str] = field(default_factory=set)  # GUIDs the store was seen holding

    @property
    def spec(self) -> Path:
        return self.workdir / "tokens.yaml"

    def write_spec(self, text: str | None = None) -> None:
        self.spec.write_text(text or spec_text(self.backend))

    def now(self) -> datetime:
        return self.control.now()

    def environment(self, **extra: str) -> Environment:
        variables = {
            "PACKAGEMANAGER_ADDRESS": self.emulator.url,
            "HOME": str(self.workdir / "home"),
            # The emulator speaks plain HTTP; a one-certificate bundle keeps each run from
            # loading the whole certifi bundle, a third of a run's time here.
            "SSL_CERT_FILE": str(self.trust),
            **self.backend.env,
        }
        if self.job_secret is not None:
            value = self.job_secret(self.backend.secret_name(ADMIN))
            if value:
                variables["PACKAGEMANAGER_TOKEN"] = value
        return Environment({**variables, **extra}, self.workdir)

    def hand_made(self) -> Secret:
        """A global:admin token as a person makes one on the server: no marker, no expiry."""
        request = TokenRequest(
            "made by hand to set up ppm-tokens", "alice", "global:admin", (), None
        )
        return self.harness.create_token(request).value

    def bootstrap(self, token: Secret, *, force: bool = False) -> tuple[int, RecordingUI]:
        ui = RecordingUI()
        options = bootstrap_admin.BootstrapOptions(self.spec, force=force)
        env = self.environment()
        env = Environment({**env.variables, "PACKAGEMANAGER_TOKEN": token.reveal()}, env.cwd)
        code = bootstrap_admin.run(options, self.global_options(), env, ui, NO_WAIT)
        self.runs.append(ui)
        self.observe()
        return code, ui

    def global_options(self) -> GlobalOptions:
        return GlobalOptions(now=self.now().isoformat(), spec_programs=True)

    def apply(self, *rotate: str) -> tuple[int, RecordingUI]:
        """One scheduled run: `ppm-tokens apply --auto-approve` at the emulator's time."""
        ui = RecordingUI()
        options = apply_command.ApplyCommandOptions(
            target=self.spec, auto_approve=True, rotate=frozenset(rotate)
        )
        code = apply_command.run(options, self.global_options(), self.environment(), ui)
        self.runs.append(ui)
        self.observe()
        return code, ui

    def observe(self) -> None:
        held = self.backend.held(self.backend.secret_name(ADMIN))
        guid = token_guid(held.value.reveal()) if held is not None else None
        if guid is not None:
            self.stored_ever.add(guid)

    def held_guid(self) -> str:
        """The admin token the store hands out: the one its value is (its JWT's jti)."""
        guid = token_guid(self.held_admin().value.reveal())
        assert guid is not None, "the store holds something that is no PPM token"
        return guid

    def held_admin(self) -> Held:
        held = self.backend.held(self.backend.secret_name(ADMIN))
        assert held is not None, "the store holds no admin token"
        return held

    def admin_generations(self) -> list[LiveToken]:
        """The admin token's active generations, newest first."""
        now = self.now()
        found = [
            t
            for t in self.harness.list_tokens()
            if (owner := parse_owner(t.description)) is not None
            and (owner.namespace, owner.name) == (NAMESPACE, ADMIN)
            and t.is_active(now)
        ]
        return sorted(found, key=lambda t: (t.created, t.guid), reverse=True)

    def check(self, where: str) -> None:
        """One managed admin token active outside grace, the one the store hands out, and it
        authenticates; every other active generation is owed a grace: the one the store's
        metadata promises, or, where a write cut short left none, the spec's hour from the
        current token's creation."""
        now = self.now()
        held = self.held_admin()
        generations = self.admin_generations()
        assert generations, f"{where}: no active admin token"
        current = generations[0]
        assert self.held_guid() == current.guid, f"{where}: the store hands out another token"
        assert held.meta.get("token_guid", current.guid) == current.guid, where
        assert self.harness.check_token(held.value, current), where
        promise = held.meta.get("retire_previous_after")
        owed_until = datetime.fromisoformat(promise) if promise else current.created + GRACE
        for old in generations[1:]:
            assert owed_until > now, f"{where}: {old.guid} active with no grace owed to it"
        unmanaged = [
            t
            for t in self.harness.list_tokens()
            if t.scope == "global:admin"
            and t.is_active(now)
            and parse_owner(t.description) is None
            and t.guid != self.harness.self_guid()
        ]
        assert unmanaged == [], f"{where}: a hand-made admin token still works"

    def advance(self, delta: timedelta) -> None:
        self.control.advance(delta)

    def printed(self) -> str:
        return "\n".join(line for ui in self.runs for line in (*ui.stdout, *ui.stderr))
