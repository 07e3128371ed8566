"""Several specs' plans, made in one run: plain data and the words for the whole, shared by the
text, Markdown and JSON renderers. Each spec's own plan is unchanged; a spec that could not be
planned (its server refused, a store failed) is kept with the reason, so the others still show.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from reconciler.plan.labels import change_counts, summary_line
from reconciler.plan.model import ActionKind, Plan
from reconciler.urls import server_identity


@dataclass(frozen=True)
class SpecPlan:
    """One spec's part: its plan, or why there is none."""

    spec_path: str
    server: str
    namespace: str
    plan: Plan | None = None
    error: str | None = None  # set when plan is None

    @property
    def failed(self) -> bool:
        return self.plan is None

    @property
    def has_changes(self) -> bool:
        return self.plan is not None and self.plan.has_changes

    @property
    def has_errors(self) -> bool:
        """No plan, or a plan that cannot be applied (a resource the server does not have)."""
        return self.plan is None or bool(self.plan.errors)

    def verdict(self) -> str:
        if self.plan is None:
            return f"Could not plan: {self.error}"
        if self.plan.errors:
            return f"{summary_line(self.plan)} {_count(len(self.plan.errors), 'error')}."
        return summary_line(self.plan)


@dataclass(frozen=True)
class PlanSet:
    parts: tuple[SpecPlan, ...]

    @property
    def plans(self) -> tuple[Plan, ...]:
        return tuple(p.plan for p in self.parts if p.plan is not None)

    @property
    def failed(self) -> tuple[SpecPlan, ...]:
        return tuple(p for p in self.parts if p.failed)

    @property
    def has_changes(self) -> bool:
        return any(p.has_changes for p in self.parts)

    @property
    def has_errors(self) -> bool:
        return any(p.has_errors for p in self.parts)

    @property
    def servers(self) -> tuple[str, ...]:
        """Each server once, however its specs spell it, as its first spec spells it."""
        first: dict[str, str] = {}
        for part in self.parts:
            first.setdefault(server_identity(part.server), part.server)
        return tuple(first.values())

    def summary(self) -> dict[str, int]:
        """Actions per kind over every plan, every kind present, in ActionKind order."""
        counts: Counter[str] = Counter()
        for plan in self.plans:
            counts.update(plan.summary())
        return {kind.value: counts.get(kind.value, 0) for kind in ActionKind}


def summary_line_many(plans: PlanSet) -> str:
    """The one-line verdict for the whole run."""
    specs = _count(len(plans.parts), "spec")
    failed = len(plans.failed)
    not_planned = f" {_count(failed, 'spec')} could not be planned." if failed else ""
    if not plans.has_changes:
        if failed:
            return f"No changes in {len(plans.parts) - failed} of {specs}.{not_planned}"
        return f"No changes in {specs}. The live tokens match the specs."
    return f"Plan for {specs}: {change_counts(plans.summary())}.{not_planned}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
