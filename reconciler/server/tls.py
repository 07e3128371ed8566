"""Which certificates the server's TLS certificate is checked against, and what a failed check
says.

The CA bundle comes from, in order: `--ca-cert FILE`, `SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`
(what Python's `requests`, and so many CI images, already set), `SSL_CERT_DIR`, else the
certifi bundle httpx ships with. A certificate that does not verify is a configuration
problem, not a transient one: the request is not retried and the message says what to pass.
Programs run against the same server (PPM's CLI) are told to trust the same CAs through their
environment.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import certifi

from reconciler.errors import UsageError

CA_FILE_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
CA_DIR_VARIABLE = "SSL_CERT_DIR"
FIX = "pass --ca-cert FILE or set SSL_CERT_FILE"


@dataclass(frozen=True)
class TrustSource:
    """Where the CA certificates come from: a file or a directory, and who said so."""

    path: Path | None  # None: the certifi bundle
    origin: str  # "--ca-cert", "SSL_CERT_FILE", ... for messages
    directory: bool = False


def trust_source(ca_cert: Path | None, env: Mapping[str, str]) -> TrustSource:
    if ca_cert is not None:
        return TrustSource(ca_cert, "--ca-cert")
    for name in CA_FILE_VARIABLES:
        if env.get(name):
            return TrustSource(Path(env[name]), name)
    if env.get(CA_DIR_VARIABLE):
        return TrustSource(Path(env[CA_DIR_VARIABLE]), CA_DIR_VARIABLE, directory=True)
    return TrustSource(None, "the certifi bundle")


def trusting_environment(source: TrustSource, env: Mapping[str, str]) -> dict[str, str]:
    """`env` for another program (PPM's CLI, a Go program; or anything built on OpenSSL) that
    makes it trust what `source` trusts: a file as SSL_CERT_FILE, a directory as SSL_CERT_DIR,
    which both read, and not the other one, which would add CAs this process does not trust.
    With nothing given (the certifi bundle), `env` as it is: the program keeps its default,
    the system's CAs."""
    if source.path is None:
        return dict(env)
    out = {k: v for k, v in env.items() if k not in ("SSL_CERT_FILE", CA_DIR_VARIABLE)}
    # Absolute: the program (or a wrapper script in front of it) may run elsewhere.
    out[CA_DIR_VARIABLE if source.directory else "SSL_CERT_FILE"] = str(source.path.absolute())
    return out


def ssl_context(source: TrustSource) -> ssl.SSLContext:
    """A verifying client context that trusts `source`; UsageError when it cannot be read."""
    try:
        if source.path is None:
            return ssl.create_default_context(cafile=certifi.where())
        if source.directory:
            if not source.path.is_dir():
                raise FileNotFoundError(2, "not a directory")
            return ssl.create_default_context(capath=str(source.path))
        return ssl.create_default_context(cafile=str(source.path))
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        raise UsageError(
            f"{source.origin} {source.path}: cannot load CA certificates from it ({reason}); "
            "give a PEM file with the certificate of the CA that signed the server's certificate"
        ) from None


def tls_failure(exc: BaseException) -> str | None:
    """What went wrong with TLS, if that is why `exc` (an httpx error) happened."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            detail = current.verify_message or current.reason or "the certificate is not trusted"
            return f"certificate verify failed: {detail}; {FIX}"
        if isinstance(current, ssl.SSLError):
            reason = current.reason or str(current)
            return (
                f"TLS handshake failed ({reason}): is the server's address right, "
                "with https:// only where it serves TLS?"
            )
        current = current.__cause__ or current.__context__
    return None
