"""What apply takes as options and gives back: plain frozen data, free of token values."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.plan.model import Action, ActionKind


@dataclass(frozen=True)
class ApplyOptions:
    concurrency: int = 4  # actions for different names run in parallel, up to this many
    store_attempts: int = 4  # tries of each store write
    store_backoff: float = 0.5  # seconds before the second try; doubles after each failure
    verify_attempts: int = 5  # tries of the proof, and of the store's read-back
    verify_backoff: float = 0.5  # a server may need a moment before a new token works
    # A create without a usable answer (5xx, 429, lost): look for what it made, then try again,
    # with the http driver's backoff for reads (full jitter, Retry-After honoured).
    create_attempts: int = 6
    create_backoff: float = 0.2
    create_backoff_cap: float = 10.0


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
    def recorded(self) -> int:
        """Metadata written for a value a store already held (a write cut short before)."""
        return self._count(ActionKind.RECORD)

    @property
    def revoked(self) -> int:
        """Tokens that existed before this run and that it revoked: retirements, revocations,
        and the tokens a replace or repair superseded."""
        return sum(len(_superseded(r)) for r in self.results)

    @property
    def rolled_back(self) -> int:
        """Tokens this run made and then revoked itself: a new token that failed its proof or
        could not be stored, and tokens whose create lost its answer (nobody holds them)."""
        return sum(len(r.revoked) - len(_superseded(r)) for r in self.results)

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
            "recorded": self.recorded,
            "revoked": self.revoked,
            "rolled_back": self.rolled_back,
            "failed": self.failed,
        }


def _superseded(result: ActionResult) -> tuple[str, ...]:
    """What `result` revoked that existed before the run. A create-like action revokes only
    the token it replaces (its `guid`) among those; anything else it revoked, it made."""
    if not result.action.kind.creates:
        return result.revoked
    return tuple(guid for guid in result.revoked if guid == result.action.guid)
