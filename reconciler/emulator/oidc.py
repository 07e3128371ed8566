"""RS256 identity tokens: read a compact JWT, check its signature against an issuer's JWKS.

What PPM does with an OpenID Connect identity token before it exchanges it: the signature with
the issuer's published keys (RS256 only: `none` and HMAC, which would let anyone who knows a
public key sign, are refused), then the claims (reconciler.emulator.federation). Messages never
contain the token.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

ALGORITHM = "RS256"


class BadIdentityToken(ValueError):
    """The identity token cannot be accepted; the message says why, without the token."""


@dataclass(frozen=True)
class IdentityJwt:
    header: Mapping[str, object]
    claims: Mapping[str, object]
    signing_input: bytes
    signature: bytes


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise BadIdentityToken("the identity token is not a JWT") from None


def _object(part: str) -> dict[str, object]:
    try:
        data = json.loads(_unb64(part))
    except ValueError:
        raise BadIdentityToken("the identity token is not a JWT") from None
    if not isinstance(data, dict):
        raise BadIdentityToken("the identity token is not a JWT")
    return data


def parse(value: str) -> IdentityJwt:
    """The parts of a compact JWT, unverified."""
    parts = value.strip().split(".")
    if len(parts) != 3:
        raise BadIdentityToken("the identity token is not a JWT")
    header = _object(parts[0])
    if header.get("alg") != ALGORITHM:
        raise BadIdentityToken(
            f"the identity token is signed with {str(header.get('alg'))[:20]!r}; only "
            f"{ALGORITHM} is accepted"
        )
    try:
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    except UnicodeEncodeError:
        raise BadIdentityToken("the identity token is not a JWT") from None
    return IdentityJwt(header, _object(parts[1]), signing_input, _unb64(parts[2]))


def _number(jwk: Mapping[str, object], name: str) -> int:
    text = jwk.get(name)
    if not isinstance(text, str) or not text:
        raise BadIdentityToken(f"a key of the issuer's JWKS has no {name!r}")
    return int.from_bytes(_unb64(text), "big")


def _candidates(jwks: Mapping[str, object], kid: object) -> list[Mapping[str, object]]:
    keys = jwks.get("keys")
    if not isinstance(keys, list):
        raise BadIdentityToken("the issuer's JWKS has no keys")
    rsa: Sequence[Mapping[str, object]] = [
        k for k in keys if isinstance(k, dict) and k.get("kty") == "RSA"
    ]
    if kid is None:
        return list(rsa)
    return [k for k in rsa if k.get("kid") == kid]


def verify_signature(token: IdentityJwt, jwks: Mapping[str, object]) -> None:
    """Raises BadIdentityToken unless one of the issuer's RSA keys (the one its `kid` names,
    when it names one) signed the token."""
    candidates = _candidates(jwks, token.header.get("kid"))
    if not candidates:
        raise BadIdentityToken("no key of the issuer's JWKS matches the identity token's kid")
    for jwk in candidates:
        key = RSAPublicNumbers(_number(jwk, "e"), _number(jwk, "n")).public_key()
        try:
            key.verify(token.signature, token.signing_input, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            continue
        return
    raise BadIdentityToken("the identity token's signature does not verify with the issuer's keys")
