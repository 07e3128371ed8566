"""Seeding an emulator with tokens of known ages, owners and texts, through its real API."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from reconciler.desired.model import Scope
from reconciler.emulator import tokens
from reconciler.emulator.control import EmulatorControl
from reconciler.emulator.server import RunningEmulator
from reconciler.server.http import HttpDriver
from reconciler.server.model import LiveToken, TokenRequest

# A GUID a server should never send: it ends a terminal's title and clears the screen.
HOSTILE_GUID = "deadbeef-\x1b]0;pwned\x07\x1b[2J-0000"
# Text that must never reach a terminal, a Markdown table or a page as itself.
HOSTILE = "evil\x1b[2J\x1b]0;pwned\x07 line\r\nforged \u202etxt.exe <script>alert(1)</script> |x|"


@dataclass(frozen=True)
class Seed:
    label: str  # how the test refers to it
    description: str
    user: str = "someone@example.com"
    scope: str = "repos:read"
    resources: tuple[str, ...] = ("pypi",)
    age: timedelta = timedelta(days=1)  # created this long before now
    lifetime: timedelta | None = timedelta(days=90)  # None: never expires
    revoke: bool = False


def seed(
    control: EmulatorControl, driver: HttpDriver, seeds: Sequence[Seed], *, now: datetime
) -> dict[str, LiveToken]:
    """Create each token at `now - age` on the emulator's clock, then let the clock run from
    `now` again. Returns the live tokens by label (as listed after any revocation)."""
    created: dict[str, str] = {}
    try:
        for item in seeds:
            control.set_now(now - item.age, frozen=True)
            moment = now - item.age
            request = TokenRequest(
                description=item.description,
                user=item.user,
                scope=item.scope,
                resources=item.resources,
                expires=moment + item.lifetime if item.lifetime is not None else None,
            )
            made = driver.create_token(request)
            created[item.label] = made.token.guid
            if item.revoke:
                driver.revoke_token(made.token.guid)
    finally:
        control.set_now(now)
    listed = {t.guid: t for t in driver.list_tokens()}
    return {label: listed[guid] for label, guid in created.items()}


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def insert_with_guid(emulator: RunningEmulator, guid: str, description: str) -> None:
    """An active repos:read token whose GUID the server chose oddly; the API never makes one, so
    it goes straight into the emulator's database."""
    db = emulator.app.db
    repo = db.resource("pypi")
    assert repo is not None
    now = emulator.app.now()
    new = tokens.NewToken(
        description=description,
        user="odd@example.com",
        email=None,
        scope=Scope.REPOS_READ,
        resources=(repo,),
        all_resources=False,
        expires=now + timedelta(days=30),
    )
    row, value = tokens.mint(new, now, db.signing_key())
    db.insert_tokens([(dataclasses.replace(row, guid=guid), value)])
