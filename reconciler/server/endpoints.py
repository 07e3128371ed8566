"""Every HTTP path the `http` driver and the emulator speak, in one place.

PPM's token endpoints are not publicly documented; keeping the paths here lets the driver follow
a real server by changing this module only.
"""

from __future__ import annotations

from urllib.parse import quote

API = "/__api__/"
STATUS = "/__api__/status"
TOKENS = "/__api__/tokens"
REPOS = "/__api__/repos"
SOURCES = "/__api__/sources"

# Identity federation: an OpenID Connect identity token exchanged for a short-lived PPM token
# (RFC 8693; what PPM's CLI does with PACKAGEMANAGER_IDENTITY_TOKEN_FILE).
TOKEN_EXCHANGE = "/__api__/token"

LIMIT_PARAM = "_limit"
PAGE_PARAM = "_page"
# How many tokens there are in all, when a server says so: paging stops without an extra request.
TOTAL_HEADER = "X-Total-Count"

# Proof that a new token works, one request per scope that only a token of that scope (or
# global:admin) may make, for its resources, and that the server refuses without a token.
# repos:read reads a repository index with HTTP Basic (what pip, uv and R do); every other
# scope is proven with a Bearer GET that changes nothing.
BLOCKLIST = "/__api__/blocklist"  # blocklist:read
BLOCKLIST_SETTINGS = "/__api__/blocklist/settings"  # blocklist:admin
METADATA = "/__api__/metadata"  # metadata:read
METADATA_SETTINGS = "/__api__/metadata/settings"  # metadata:admin
TOKEN_PROOF_LIMIT = 1  # global:admin: GET TOKENS?_limit=1
SOURCE_UPLOADS = "/__api__/sources/{source}/uploads"  # sources:write, for that source
SOURCE_SETTINGS = "/__api__/sources/{source}/settings"  # sources:admin, for that source

# Repository content, authenticated with HTTP Basic `__token__`/value.
BASIC_USER = "__token__"
PYTHON_REPO_TYPES = frozenset({"python"})
R_REPO_TYPES = frozenset({"r", "bioconductor"})

# Test controls of the emulator (not part of a real server).
EMULATOR = "/__emulator__/"
EMULATOR_CLOCK = "/__emulator__/clock"
EMULATOR_FAULTS = "/__emulator__/faults"
EMULATOR_LOG = "/__emulator__/log"
EMULATOR_ISSUED = "/__emulator__/issued"
EMULATOR_FEDERATION = "/__emulator__/federation"


def _segment(text: str) -> str:
    return quote(text, safe="")


def revoke(guid: str) -> str:
    return f"{TOKENS}/{_segment(guid)}/revoke"


def python_index(repo: str) -> str:
    return f"/{_segment(repo)}/latest/simple/"


def r_packages(repo: str) -> str:
    return f"/{_segment(repo)}/latest/src/contrib/PACKAGES"


def repository_index(repo: str, repo_type: str) -> str:
    """The cheapest authenticated page of a repository, to prove a token can read it."""
    if repo_type in R_REPO_TYPES:
        return r_packages(repo)
    return python_index(repo)


def source_uploads(source: str) -> str:
    return SOURCE_UPLOADS.format(source=_segment(source))


def source_settings(source: str) -> str:
    return SOURCE_SETTINGS.format(source=_segment(source))


def emulator_recreate(name: str) -> str:
    return f"/__emulator__/repos/{_segment(name)}/recreate"
