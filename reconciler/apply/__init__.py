"""Execute a Plan against a server driver and secret stores (the imperative shell).

For every create-like action, in this order and never otherwise: create the token, prove that
its value works, store it (with retries), confirm the store reads it back, commit, and only then
revoke what it replaces (see `steps`). The lock that keeps two runs apart is in `lock` and
`locks/`; the checks on a whole plan in `guards`.
"""

from reconciler.apply.engine import apply_plan
from reconciler.apply.model import ActionResult, ApplyOptions, ApplyReport

__all__ = ["ActionResult", "ApplyOptions", "ApplyReport", "apply_plan"]
