"""What apply takes as options and gives back: plain frozen data, free of token values."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.plan.model import Action, ActionKind


@dataclass(frozen=True)
class ApplyOptions:
    concurrency: int = 4  # actions for different names run in parallel, up to this many
    store_attempts: int = 4  # tries of each store write
    store_backoff: float = 0.5  # seconds before the second try; doubles after each failure
    verify_attempts: int = 5  # tries of read-back plus authentication of a new token
    verify_backoff: float = 0.5  # a server may need a moment before a new token works


@dataclass(frozen=True)
class ActionResult:
    action: Action
    ok: bool
    new_guid: str | None = None  # the token created (create-like), even when rolled back
    revoked: tuple[str, ...] = ()  # GUIDs this action revoked (rollbacks included)
    error: str | None = None  # what failed and what to do next; never a value


@dataclass(frozen=True)
class ApplyReport:
    """One result per change of the plan (noops excluded), in plan order."""

    results: tuple[ActionResult, ...]

    def _count(self, *kinds: ActionKind) -> int:
        return sum(1 for r in self.results if r.ok and r.action.kind in kinds)

    @property
    def created(self) -> int:
        return self._count(ActionKind.CREATE, ActionKind.RECREATE)

    @property
    def rotated(self) -> int:
        return self._count(ActionKind.ROTATE)

    @property
    def replaced(self) -> int:
        return self._count(ActionKind.REPLACE)

    @property
    def repaired(self) -> int:
        return self._count(ActionKind.REPAIR)

    @property
    def revoked(self) -> int:
        """Successful retire and revoke actions (tokens revoked by replace/repair not included)."""
        return self._count(ActionKind.RETIRE, ActionKind.REVOKE)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if not r.ok)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failures(self) -> tuple[ActionResult, ...]:
        return tuple(r for r in self.results if not r.ok)

    def summary(self) -> dict[str, int]:
        return {
            "created": self.created,
            "rotated": self.rotated,
            "replaced": self.replaced,
            "repaired": self.repaired,
            "revoked": self.revoked,
            "failed": self.failed,
        }
