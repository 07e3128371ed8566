"""The spec's own admin token (server.auth.token): rotated like any other token, but the run
authenticates with it, so two things differ.

- Its actions run first and alone, before any other action of the run: once its successor is
  proven, stored and confirmed, every other action is sent with the successor.
- Right after the store is confirmed, the driver switches to the successor for the rest of the
  run. The predecessor is never revoked by this run (the planner protects the token a run
  authenticates with); it retires after its grace, by a later run that authenticates with the
  successor the store now hands out.

A run killed at any point leaves the store holding the predecessor (nothing confirmed yet) or
the successor (confirmed): the next run reads whichever it holds and converges from there like
any other rotation, retiring the token nobody stored.
"""

from __future__ import annotations

import logging

from reconciler.desired.model import Spec, TokenSpec
from reconciler.plan.model import Action
from reconciler.secret import Secret
from reconciler.server.credential import HoldsCredential
from reconciler.server.driver import Driver

_log = logging.getLogger(__name__)


def first_and_rest(
    groups: list[list[int]], changes: tuple[Action, ...], spec: Spec
) -> tuple[list[int], list[list[int]]]:
    """The group of the self token's actions (empty when it has none), and the other groups."""
    name = spec.server.auth.token
    for position, group in enumerate(groups):
        if name is not None and changes[group[0]].name == name:
            return group, groups[:position] + groups[position + 1 :]
    return [], groups


def switch_to_successor(
    driver: Driver, spec: Spec, token: TokenSpec, value: Secret, guid: str
) -> None:
    """After the store confirmed `value` for `token`: when it is the self token, every request
    from now on authenticates with it."""
    if token.name != spec.server.auth.token or not isinstance(driver, HoldsCredential):
        return
    source = (
        f"the admin token in store '{token.store}' under '{token.secret}' "
        f"(made by this run, {guid})"
    )
    driver.credential.switch(value, source)
    _log.info("%s: the run goes on with the new admin token %s", token.name, guid)
