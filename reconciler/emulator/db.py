"""The emulator's SQLite state: signing key, clock, repositories and sources, tokens, the
values issued (for leak scans) and the request log. One connection behind a lock, WAL mode."""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from reconciler.emulator.clock import ClockState, iso, parse_iso

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS resources (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, type TEXT NOT NULL,
    description TEXT NOT NULL, created TEXT NOT NULL, hidden INTEGER NOT NULL DEFAULT 0,
    current INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX IF NOT EXISTS resources_current_name ON resources (name) WHERE current = 1;
CREATE TABLE IF NOT EXISTS tokens (
    guid TEXT PRIMARY KEY, description TEXT NOT NULL, user TEXT NOT NULL, email TEXT,
    scope TEXT NOT NULL, resources TEXT NOT NULL, resource_ids TEXT NOT NULL,
    created TEXT NOT NULL, expires TEXT, revoked TEXT, listed INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS tokens_created ON tokens (created, guid);
CREATE TABLE IF NOT EXISTS issued (guid TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, entry TEXT NOT NULL
);
"""

SEED_REPOS = (
    ("cran", "r", "CRAN packages"),
    ("pypi", "python", "PyPI packages"),
    ("bioconductor", "bioconductor", "Bioconductor packages"),
    ("internal", "python", "Internal Python packages"),
)
SEED_SOURCES = (
    ("internal-src", "local-python", "Local source for internal packages"),
    ("pypi-src", "pypi", "PyPI mirror source"),
    ("cran-src", "cran", "CRAN mirror source"),
    ("git-builder", "git", "Packages built from Git"),
)

_LISTED_PAGE = "SELECT * FROM tokens WHERE listed = 1 ORDER BY created, guid LIMIT ? OFFSET ?"


@dataclass(frozen=True)
class ResourceRow:
    id: str
    name: str
    kind: str  # "repo" or "source"
    type: str
    description: str
    created: datetime
    hidden: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "description": self.description,
            "created": iso(self.created),
            "hidden": self.hidden,
        }


@dataclass(frozen=True)
class TokenRow:
    guid: str
    description: str
    user: str
    email: str | None
    scope: str
    resources: tuple[str, ...]
    resource_ids: tuple[str, ...]
    created: datetime
    expires: datetime | None
    revoked: datetime | None = None
    # False for a token given in exchange for an identity token when the emulator is told to
    # keep those out of the list (whether PPM lists them is not documented).
    listed: bool = True

    def active(self, now: datetime) -> bool:
        return self.revoked is None and (self.expires is None or self.expires > now)

    def to_json(self) -> dict[str, object]:
        return {
            "guid": self.guid,
            "description": self.description,
            "user": self.user,
            "email": self.email,
            "scope": self.scope,
            "resources": list(self.resources),
            "resource_ids": list(self.resource_ids),
            "created": iso(self.created),
            "expires": iso(self.expires) if self.expires else None,
            "revoked": iso(self.revoked) if self.revoked else None,
        }


def new_guid() -> str:
    return str(uuid.uuid4())


def _token(row: sqlite3.Row) -> TokenRow:
    return TokenRow(
        guid=row["guid"],
        description=row["description"],
        user=row["user"],
        email=row["email"],
        scope=row["scope"],
        resources=tuple(json.loads(row["resources"])),
        resource_ids=tuple(json.loads(row["resource_ids"])),
        created=parse_iso(row["created"]),
        expires=parse_iso(row["expires"]) if row["expires"] else None,
        revoked=parse_iso(row["revoked"]) if row["revoked"] else None,
        listed=bool(row["listed"]),
    )


def _resource(row: sqlite3.Row) -> ResourceRow:
    return ResourceRow(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        type=row["type"],
        description=row["description"],
        created=parse_iso(row["created"]),
        hidden=bool(row["hidden"]),
    )


class Database:
    """Thread-safe: every call takes the lock, so the server thread and a test may share it."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # The database holds every issued token value (for the leak-scanning test control):
        # private to its owner from the first byte.
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        self.path = path
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        columns = {r["name"] for r in self._conn.execute("PRAGMA table_info(tokens)")}
        if "listed" not in columns:  # a database made before tokens could be unlisted
            self._conn.execute("ALTER TABLE tokens ADD COLUMN listed INTEGER NOT NULL DEFAULT 1")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _meta(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def _set_meta(self, conn: sqlite3.Connection, key: str, value: str) -> None:
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def seed(self, now: datetime) -> bool:
        """A new db gets its signing key and the standard repositories and sources, once.
        True when this call seeded it."""
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM meta WHERE key = 'signing_key'").fetchone():
                return False
            self._set_meta(conn, "signing_key", secrets.token_hex(32))
            for kind, rows in (("repo", SEED_REPOS), ("source", SEED_SOURCES)):
                for name, rtype, description in rows:
                    conn.execute(
                        "INSERT INTO resources (id, name, kind, type, description, created)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (new_guid(), name, kind, rtype, description, iso(now)),
                    )
        return True

    def signing_key(self) -> bytes:
        key = self._meta("signing_key")
        if key is None:
            raise RuntimeError("the emulator database was not seeded")
        return bytes.fromhex(key)

    def clock(self) -> ClockState:
        raw = self._meta("clock")
        return ClockState.from_json(json.loads(raw)) if raw else ClockState()

    def set_clock(self, state: ClockState) -> None:
        with self._tx() as conn:
            self._set_meta(conn, "clock", json.dumps(state.to_json()))

    def federation(self) -> str | None:
        """The trusted issuers (JSON, see emulator.federation), kept with the database."""
        return self._meta("federation")

    def set_federation(self, text: str) -> None:
        with self._tx() as conn:
            self._set_meta(conn, "federation", text)

    # Resources ---------------------------------------------------------------------------------

    def resources(self, kind: str | None = None) -> list[ResourceRow]:
        query = "SELECT * FROM resources WHERE current = 1"
        args: tuple[str, ...] = ()
        if kind is not None:
            query += " AND kind = ?"
            args = (kind,)
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY rowid", args).fetchall()
        return [_resource(r) for r in rows]

    def resource(self, name: str) -> ResourceRow | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT * FROM resources WHERE current = 1 AND name = ?", (name,)
            ).fetchone()
        return None if row is None else _resource(row)

    def recreate_resource(self, name: str, now: datetime) -> ResourceRow | None:
        """Same name, new GUID: what deleting and recreating a repository does on PPM."""
        with self._tx() as conn:
            row = conn.execute(
                "SELECT * FROM resources WHERE current = 1 AND name = ?", (name,)
            ).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE resources SET current = 0 WHERE id = ?", (row["id"],))
            fresh = ResourceRow(new_guid(), name, row["kind"], row["type"], row["description"], now)
            conn.execute(
                "INSERT INTO resources (id, name, kind, type, description, created, hidden)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    fresh.id,
                    name,
                    fresh.kind,
                    fresh.type,
                    fresh.description,
                    iso(now),
                    int(row["hidden"]),
                ),
            )
        return fresh

    # Tokens ------------------------------------------------------------------------------------

    def insert_tokens(self, rows: Sequence[tuple[TokenRow, str]]) -> None:
        """Store tokens with their values (kept only for the leak-scanning test control)."""
        with self._tx() as conn:
            conn.executemany(
                "INSERT INTO tokens (guid, description, user, email, scope, resources,"
                " resource_ids, created, expires, revoked, listed)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        t.guid,
                        t.description,
                        t.user,
                        t.email,
                        t.scope,
                        json.dumps(list(t.resources)),
                        json.dumps(list(t.resource_ids)),
                        iso(t.created),
                        iso(t.expires) if t.expires else None,
                        iso(t.revoked) if t.revoked else None,
                        int(t.listed),
                    )
                    for t, _ in rows
                ],
            )
            conn.executemany(
                "INSERT INTO issued (guid, value) VALUES (?, ?)",
                [(t.guid, value) for t, value in rows],
            )

    def token(self, guid: str) -> TokenRow | None:
        with self._lock:
            row = self._conn.execute("SELECT * FROM tokens WHERE guid = ?", (guid,)).fetchone()
        return None if row is None else _token(row)

    def tokens(self, limit: int, offset: int) -> list[TokenRow]:
        with self._lock:
            rows = self._conn.execute(_LISTED_PAGE, (limit, offset)).fetchall()
        return [_token(r) for r in rows]

    def token_count(self) -> int:
        with self._lock:
            count = self._conn.execute("SELECT COUNT(*) FROM tokens WHERE listed = 1")
            return int(count.fetchone()[0])

    def token_page_json(self, limit: int, offset: int) -> list[dict[str, object]]:
        """One page as API objects, straight from the stored text: times are stored in the
        API's own format, so the hot listing path skips parsing and re-formatting them."""
        with self._lock:
            rows = self._conn.execute(_LISTED_PAGE, (limit, offset)).fetchall()
        return [
            {
                "guid": r["guid"],
                "description": r["description"],
                "user": r["user"],
                "email": r["email"],
                "scope": r["scope"],
                "resources": json.loads(r["resources"]),
                "resource_ids": json.loads(r["resource_ids"]),
                "created": r["created"],
                "expires": r["expires"],
                "revoked": r["revoked"],
            }
            for r in rows
        ]

    def revoke(self, guid: str, now: datetime) -> TokenRow | None:
        """Revoke once; a second revoke keeps the first time. None for an unknown GUID."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE tokens SET revoked = ? WHERE guid = ? AND revoked IS NULL",
                (iso(now), guid),
            )
            row = conn.execute("SELECT * FROM tokens WHERE guid = ?", (guid,)).fetchone()
        return None if row is None else _token(row)

    def issued_values(self) -> list[str]:
        with self._lock:
            rows = self._conn.execute("SELECT value FROM issued ORDER BY rowid").fetchall()
        return [str(r["value"]) for r in rows]

    # Request log -------------------------------------------------------------------------------

    def append_log(self, entry: dict[str, object]) -> None:
        with self._lock:
            self._conn.execute("INSERT INTO log (entry) VALUES (?)", (json.dumps(entry),))

    def request_log(self) -> list[dict[str, object]]:
        with self._lock:
            rows = self._conn.execute("SELECT seq, entry FROM log ORDER BY seq").fetchall()
        return [{"seq": r["seq"], **json.loads(r["entry"])} for r in rows]

    def clear_log(self) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM log")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
