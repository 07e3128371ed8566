"""JWT-shaped strings built at run time: the tests need values that look like PPM tokens, and
the repository must never contain one."""

from __future__ import annotations

import base64
import json


def _part(data: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def jwt_shaped(jti: str, signature: str = "not-a-real-signature") -> str:
    """Header and claims decode like a JWT's (`jti` included); the signature is not real."""
    return ".".join([_part({"alg": "HS256"}), _part({"jti": jti}), _part({"sig": signature})])
