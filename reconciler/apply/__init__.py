"""Execute a Plan against a server driver and secret stores (the imperative shell).

For every create-like action, in this order and never otherwise: create the token, store its
value and metadata (with retries), verify (read back, authenticate), and only then revoke what
it replaces. If storing or verifying fails for good, the new token is revoked and the current
one stays untouched.
"""

from reconciler.apply.engine import apply_plan
from reconciler.apply.model import ActionResult, ApplyOptions, ApplyReport

__all__ = ["ActionResult", "ApplyOptions", "ApplyReport", "apply_plan"]
