"""The audit's rules: stable ids, names and default severities. Ids never change meaning and are
never reused; a retired rule keeps its id unused. Pure data."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"

    @property
    def rank(self) -> int:
        """Higher is worse."""
        return {Severity.NOTE: 0, Severity.WARNING: 1, Severity.ERROR: 2}[self]


@dataclass(frozen=True)
class Rule:
    id: str  # PPMT001 ...
    slug: str  # never-expires ...
    severity: Severity  # the default; a finding may be milder (see its message)
    title: str  # one line
    help: str  # what to do about it


NEVER_EXPIRES = Rule(
    "PPMT001",
    "never-expires",
    Severity.WARNING,
    "Active token that never expires",
    "PPM recommends an expiry of 90 days or less. Declare the token with an expiry (or let "
    "ppm-tokens adopt and rotate it), then revoke the never-expiring one.",
)
TOO_OLD = Rule(
    "PPMT002",
    "too-old",
    Severity.WARNING,
    "Active token older than the maximum age",
    "PPM recommends rotating tokens at least quarterly. Rotate it (`ppm-tokens rotate NAME`), "
    "or set rotation.after in the spec so the scheduled apply does.",
)
ADMIN_SCOPE = Rule(
    "PPMT003",
    "global-admin",
    Severity.WARNING,
    "Active global:admin token",
    "A global:admin token can do everything, including minting tokens. Keep as few as possible; "
    "give other consumers the least scope they need.",
)
UNMANAGED = Rule(
    "PPMT004",
    "unmanaged",
    Severity.WARNING,
    "Active token without a ppm-tokens owner",
    "Nobody declares it, so nobody rotates it. Adopt it (`ppm-tokens import` writes the entry), "
    "or revoke it if it is unused.",
)
ORPHANED = Rule(
    "PPMT005",
    "orphaned",
    Severity.ERROR,
    "Token for repositories or sources that no longer exist",
    "A repository or source deleted (or deleted and recreated under the same name) gets a new "
    "id; the token no longer grants access to it. Create a new token and revoke this one.",
)
DECLARED_MISSING = Rule(
    "PPMT006",
    "declared-missing",
    Severity.ERROR,
    "Declared token has no active token on the server",
    "It was never created, or was revoked or expired out of band. Run `ppm-tokens apply`.",
)
DRIFTED = Rule(
    "PPMT007",
    "drifted",
    Severity.ERROR,
    "Live token differs from its declaration",
    "Scope, resources, user, description or expiry no longer match the spec; the next apply "
    "replaces it. Review the change and run `ppm-tokens apply`.",
)
STORE_MISSING = Rule(
    "PPMT008",
    "store-missing",
    Severity.ERROR,
    "Store holds no value for the current token",
    "Consumers reading the store get nothing usable. The next apply repairs it with a new "
    "token; for an adopted token, store its value yourself or let it rotate.",
)
STORE_MISMATCH = Rule(
    "PPMT009",
    "store-mismatch",
    Severity.ERROR,
    "Store holds another token's value",
    "The store's metadata names a different GUID than the current token. The next apply "
    "repairs it; until then consumers use a token that is not the current one.",
)
EXPIRING_SOON = Rule(
    "PPMT010",
    "expiring-soon",
    Severity.WARNING,
    "Token expires within the warning window and no rotation is scheduled before",
    "Rotate it before it expires (declare it with a rotation policy, or `ppm-tokens rotate`).",
)
ROTATION_OVERDUE = Rule(
    "PPMT011",
    "rotation-overdue",
    Severity.ERROR,
    "Rotation is overdue",
    "The token's rotation point passed more than the allowed slack ago and it was not "
    "rotated: the scheduled apply has not run or failed. Check the scheduled workflow and run "
    "`ppm-tokens apply`.",
)
RETIREMENT_OVERDUE = Rule(
    "PPMT012",
    "retirement-overdue",
    Severity.WARNING,
    "Replaced token still active after its grace",
    "An older generation should have been revoked when its grace ended: the scheduled apply "
    "has not run since. Run `ppm-tokens apply`.",
)
STORE_UNCHECKED = Rule(
    "PPMT013",
    "store-unchecked",
    Severity.WARNING,
    "Store could not be checked",
    "The audit could not read the store's metadata (see the message). For a command store "
    "with a read_command, pass --store-commands to run it.",
)
DEPRECATED_SCOPE = Rule(
    "PPMT014",
    "deprecated-scope",
    Severity.NOTE,
    "Token uses a deprecated scope",
    "PPM deprecates metadata:read and metadata:admin in favour of repos:read.",
)
UNDECLARED = Rule(
    "PPMT015",
    "undeclared",
    Severity.WARNING,
    "Managed token no longer declared",
    "It carries this namespace's marker but the spec no longer declares it (or declares it "
    "absent): the next apply revokes it. Make sure no consumer still uses it.",
)

WEAKER_PROOF = Rule(
    "PPMT016",
    "weaker-proof",
    Severity.WARNING,
    "New tokens of this scope are proven by the token list only",
    "The spec declares `server.proof: {SCOPE: listed}`: apply checks that the server lists the "
    "new token with its scope and resources, active, but never that its value authenticates. "
    "Keep it only where `ppm-tokens doctor -f SPEC` shows that no request can prove the scope "
    "on this server.",
)

ADMIN_EXPIRES_UNREPLACED = Rule(
    "PPMT017",
    "admin-expires-unreplaced",
    Severity.ERROR,
    "The admin token expires before a scheduled rotation can replace it",
    "When it expires no run can authenticate, and only a hand-made admin token can start "
    "again (`ppm-tokens bootstrap-admin`). Give it an expiry longer than rotation.after plus "
    "the runs the schedule may miss (the built-ins: 7d, rotated after 1d), and check that "
    "the scheduled workflow runs.",
)
ADMIN_UNMANAGED = Rule(
    "PPMT018",
    "admin-unmanaged",
    Severity.WARNING,
    "The admin token in use is not managed by any spec",
    "A global:admin token made by hand is known to whoever made it and lives until someone "
    "rotates it. Declare the admin token in the spec (server.auth.token) and run "
    "`ppm-tokens bootstrap-admin`, which revokes the hand-made one (docs/admin-token.md).",
)
ADMIN_STALE = Rule(
    "PPMT019",
    "admin-stale",
    Severity.ERROR,
    "The admin token in use is older than its rotation",
    "The run authenticates with an admin token that should have been replaced: the "
    "scheduled apply has not rotated it, or the job is given an old value (a "
    "PACKAGEMANAGER_TOKEN left beside the store wins over it). Check the scheduled "
    "workflow, and give the job no admin token but the store's.",
)

RULES: tuple[Rule, ...] = (
    NEVER_EXPIRES,
    TOO_OLD,
    ADMIN_SCOPE,
    UNMANAGED,
    ORPHANED,
    DECLARED_MISSING,
    DRIFTED,
    STORE_MISSING,
    STORE_MISMATCH,
    EXPIRING_SOON,
    ROTATION_OVERDUE,
    RETIREMENT_OVERDUE,
    STORE_UNCHECKED,
    DEPRECATED_SCOPE,
    UNDECLARED,
    WEAKER_PROOF,
    ADMIN_EXPIRES_UNREPLACED,
    ADMIN_UNMANAGED,
    ADMIN_STALE,
)
