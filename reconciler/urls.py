"""One identity for a URL: the PPM server's, a Vault address, an API endpoint.

`HTTPS://PPM.example.com:443/`, `https://ppm.example.com` and `https://ppm.example.com/` are one
server. Whatever compares or keys a server (the apply lock, the namespace check between specs,
the admin token per server, a saved plan's server) compares `canonical_url` of it, never the
text as typed: two spellings compared as text are two locks, and two applies of one namespace
then run at once and revoke each other's tokens.

The canonical form: scheme and host in lower case, a percent-encoded host decoded, a host's
trailing dot (`ppm.example.com.`, the same name written absolute) dropped, a non-ASCII host in
IDNA (punycode, as the HTTP client sends it), an IPv4 address in dotted-quad form whatever way
it was written (`127.1`, `0x7f.0.0.1`, `2130706433`, as the C resolver reads them) and an IPv6
address in its short form, the scheme's default port (80 for http, 443 for https) dropped,
trailing slashes dropped. The path is kept as written (paths are
case-sensitive, and a PPM behind a path prefix is another server than the one at the root). A
user name or password, a query and a fragment are refused: none of them belongs in a server's
address, and a password in it would end up in logs and lock records.

Pure: no I/O, no DNS.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from urllib.parse import unquote, urlsplit

import idna

DEFAULT_PORTS = {"http": 80, "https": 443}


class UrlError(ValueError):
    """Why a text is not a usable http(s) address; the message is a fragment ("has a query
    ..."), for the caller to prefix with what the URL is and where it came from."""


@functools.lru_cache(maxsize=1024)  # asked once per token of a large spec, for a few URLs
def canonical_url(text: str) -> str:
    """The canonical form of an http(s) URL (see the module docstring); UrlError if it is not
    one. Idempotent: the canonical form of a canonical URL is itself."""
    written = text.strip()
    try:
        parts = urlsplit(written)
        port = parts.port
    except ValueError:  # "http://[::1" or a port that is not a number
        raise UrlError("is not an http:// or https:// address") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise UrlError("is not an http:// or https:// address")
    if "@" in parts.netloc:
        raise UrlError(
            "carries a user name or password: give the address alone (the admin token comes "
            "from PACKAGEMANAGER_TOKEN or --token-file, a store's credentials from its own "
            "settings)"
        )
    # A path cannot hold a raw '?' or '#': either one starts a query or a fragment, even empty.
    if "?" in written or "#" in written:
        raise UrlError("has a query or a fragment ('?' or '#'): give the address alone")
    if port == 0:
        raise UrlError("has port 0, which no server listens on")
    host = _host(parts.hostname)
    netloc = host if port is None or port == DEFAULT_PORTS[scheme] else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def without_credentials(text: str) -> str:
    """`text` to quote in a message: a user name and password in it replaced by `***`, so that
    refusing such a URL does not print the password into a CI log."""
    scheme, separator, rest = text.partition("://")
    if not separator:
        return text
    authority, slash, path = rest.partition("/")
    if "@" not in authority:
        return text
    return f"{scheme}://***@{authority.rpartition('@')[2]}{slash}{path}"


def server_identity(url: str) -> str:
    """`canonical_url(url)`, or, for a text that is not a usable URL (read from an old file or
    a lock record written by anyone), the text without surrounding spaces and trailing
    slashes: comparing must not fail where refusing is another part's job."""
    try:
        return canonical_url(url)
    except UrlError:
        return url.strip().rstrip("/")


# A last label that is a number makes the whole host an IPv4 address, as in the C resolver's
# inet_aton and the WHATWG URL standard: `127.1` is 127.0.0.1 and never a name.
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)", re.IGNORECASE)


def _host(hostname: str) -> str:
    """`hostname` as urlsplit gives it (lower case, IPv6 without brackets) in canonical form."""
    try:
        address = ipaddress.ip_address(hostname)
    except ValueError:
        pass
    else:
        return f"[{address.compressed}]" if address.version == 6 else address.compressed
    if "%" in hostname:
        try:
            hostname = unquote(hostname, errors="strict").lower()
        except UnicodeDecodeError:
            raise UrlError("has a percent-encoded host name that is not UTF-8") from None
    hostname = hostname[:-1] if hostname.endswith(".") else hostname
    if (
        not hostname
        or hostname.startswith(".")
        or ".." in hostname
        or any(c in hostname for c in "%/\\@:[]")
        or not hostname.isprintable()
        or " " in hostname
    ):
        raise UrlError("has a host name that is not a valid name or address")
    if _NUMERIC_LABEL.fullmatch(hostname.rpartition(".")[2]):
        try:
            return socket.inet_ntoa(socket.inet_aton(hostname))
        except OSError:
            raise UrlError("has a host that is neither a name nor an IPv4 address") from None
    if hostname.isascii():
        return hostname
    try:
        # UTS 46 mapping first, as browsers do; then IDNA 2008, as httpx encodes a host.
        return idna.encode(hostname, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise UrlError(f"has a host name that is not a valid international name ({exc})") from None
