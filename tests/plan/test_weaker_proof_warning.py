"""A scope the spec proves by the token list only (server.proof: listed) is said in every plan
that declares a token of it, never silently."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from reconciler.desired.model import ProofMethod, Scope
from reconciler.plan.model import ActionKind, WarningCode

from .conftest import make_spec, run_plan, token_spec


def test_each_token_of_a_weakly_proven_scope_is_warned_about() -> None:
    reader = replace(token_spec("blocklist"), scope=Scope.BLOCKLIST_READ, resources=())
    spec = make_spec(token_spec("ds-read"), reader)
    declared = MappingProxyType(
        {Scope.BLOCKLIST_READ: ProofMethod.LISTED, Scope.REPOS_READ: ProofMethod.REQUEST}
    )
    spec = replace(spec, server=replace(spec.server, proof=declared))
    result = run_plan(spec, [], {})
    assert [a.kind for a in result.actions] == [ActionKind.CREATE] * 2
    assert [(w.code, w.name, w.message) for w in result.warnings] == [
        (
            WarningCode.WEAKER_PROOF,
            "blocklist",
            "token blocklist: a new blocklist:read token is proven by the token list only "
            "(server.proof), not by a request its value makes",
        )
    ]
    assert run_plan(make_spec(token_spec("ds-read"), reader), [], {}).warnings == ()
